"""Pure request building and response reading for the Kubernetes API.

Every call the provider makes is a :class:`KubeRequest` built here (method, path from a
:class:`~airflow_ray_k8s.resources.Resource`, query, body, headers); the transports in
:mod:`~airflow_ray_k8s.kube.transport` and :mod:`~airflow_ray_k8s.kube.aio` only send them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_ray_k8s.resources import CRD, SERVICE, Resource

MERGE_PATCH = "application/merge-patch+json"
JSON = "application/json"

#: Server-side watch length; the API server's default minimum is 5 minutes (1800 s max).
DEFAULT_WATCH_SECONDS = 290
#: Page size of list calls.
DEFAULT_PAGE_SIZE = 500
#: The shortest client-side timeout a call near (or past) its deadline gets: enough for a last answer
#: from a healthy API server, short enough that a wait ends within about a second of its timeout.
MIN_CALL_TIMEOUT = 0.5


@dataclass(frozen=True)
class KubeRequest:
    """One HTTP call, ready to send.

    :param method: HTTP method.
    :param path: absolute path on the API server (or on ``base_url``).
    :param query: query parameters, in order.
    :param body: a JSON-serialisable body, or ``None``.
    :param headers: extra headers. Hidden from ``repr``: they may carry a dashboard token.
    :param namespace: the namespace the call touches; checked against the allow-list before sending.
    :param stream: read the answer as a stream of lines (watch), not as one body.
    :param read_timeout: client-side read timeout overriding the connection's (watch streams).
    :param base_url: send to this URL without Kubernetes credentials (a direct dashboard URL);
        ``None`` means the API server, authenticated.
    :param what: a short description for messages (``create RayJob ns/name``).
    :param deadline: a ``time.monotonic()`` value set by an operation that must end by then (a wait):
        the call's timeouts shrink to the time left and its retries stop once the deadline passes.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: Any = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    namespace: str | None = None
    stream: bool = False
    read_timeout: float | None = None
    base_url: str | None = None
    what: str = ""
    deadline: float | None = None

    def describe(self) -> str:
        """What this call does, for messages; never includes headers, body or query values."""
        return self.what or f"{self.method} {self.path}"

    @property
    def content_type(self) -> str:
        """The body's content type."""
        return dict(self.headers).get("Content-Type", JSON)

    def time_left(self) -> float | None:
        """Seconds before :attr:`deadline` (negative once passed), or ``None`` without a deadline."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def timeouts(self, connect: float, read: float) -> tuple[float, float]:
        """The ``(connect, read)`` client-side timeouts of one attempt of this call.

        ``read`` is the connection's default, overridden by :attr:`read_timeout`; both are shortened
        to the time left before :attr:`deadline` (never below :data:`MIN_CALL_TIMEOUT`, so a last
        check right at the deadline can still be answered). Both transports use this, per attempt.
        """
        read = self.read_timeout or read
        left = self.time_left()
        if left is None:
            return connect, read
        left = max(left, MIN_CALL_TIMEOUT)
        return min(connect, left), min(read, left)


@dataclass(frozen=True)
class KubeResponse:
    """An HTTP answer, read in full.

    :param headers: header names lower-cased.
    :param what: the call it answers (:meth:`KubeRequest.describe`), for messages.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes = field(default=b"", repr=False)
    what: str = ""

    @property
    def ok(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        """A header's value, by case-insensitive name."""
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body parsed as JSON (``None`` if empty).

        :raises KubeInvalidResponseError: the body is not JSON.
        """
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            raise _body_error(self, "JSON") from None  # the cause would quote the body


@dataclass(frozen=True)
class ObjectList:
    """One page (or all pages) of a list call."""

    items: list[dict[str, Any]]
    resource_version: str
    continue_token: str = ""


def _what(verb: str, resource: Resource, namespace: str | None, name: str | None = None) -> str:
    where = "/".join(p for p in (namespace, name) if p)
    return f"{verb} {resource.kind} {where}".rstrip()


def _q(**params: Any) -> tuple[tuple[str, str], ...]:
    out = []
    for key, value in params.items():
        if value is None or value is False or value == "":
            continue
        out.append((key, "true" if value is True else str(value)))
    return tuple(out)


def _ns(resource: Resource, namespace: str | None) -> str | None:
    return namespace if resource.namespaced else None


# --- objects ----------------------------------------------------------------------------------------------


def create(
    resource: Resource, namespace: str | None, body: Mapping[str, Any], *, dry_run: bool = False
) -> KubeRequest:
    """POST an object to its collection (``dryRun=All`` for a server-side dry run)."""
    ns = _ns(resource, namespace)
    name = (body.get("metadata") or {}).get("name")
    return KubeRequest(
        "POST",
        resource.collection_path(ns),
        _q(dryRun="All" if dry_run else None),
        body=dict(body),
        namespace=ns,
        what=_what("dry-run create" if dry_run else "create", resource, ns, name),
    )


def get(resource: Resource, namespace: str | None, name: str) -> KubeRequest:
    """GET one object."""
    ns = _ns(resource, namespace)
    return KubeRequest(
        "GET", resource.object_path(name, ns), namespace=ns, what=_what("get", resource, ns, name)
    )


def list_(
    resource: Resource,
    namespace: str | None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    limit: int | None = DEFAULT_PAGE_SIZE,
    continue_token: str | None = None,
) -> KubeRequest:
    """GET a collection (one page)."""
    ns = _ns(resource, namespace)
    query = _q(
        labelSelector=label_selector,
        fieldSelector=field_selector,
        limit=limit,
        **{"continue": continue_token},
    )
    return KubeRequest(
        "GET", resource.collection_path(ns), query, namespace=ns, what=_what("list", resource, ns)
    )


def merge_patch(
    resource: Resource, namespace: str | None, name: str, patch: Mapping[str, Any]
) -> KubeRequest:
    """PATCH one object with a JSON merge patch (RFC 7386; custom resources do not support strategic)."""
    ns = _ns(resource, namespace)
    return KubeRequest(
        "PATCH",
        resource.object_path(name, ns),
        body=dict(patch),
        headers=(("Content-Type", MERGE_PATCH),),
        namespace=ns,
        what=_what("patch", resource, ns, name),
    )


def delete(
    resource: Resource,
    namespace: str | None,
    name: str,
    *,
    propagation_policy: str = "Background",
    grace_period_seconds: int | None = None,
) -> KubeRequest:
    """DELETE one object with a propagation policy (``Foreground``, ``Background``, ``Orphan``)."""
    if propagation_policy not in ("Foreground", "Background", "Orphan"):
        raise ValueError(f"unknown propagation policy {propagation_policy!r}")
    ns = _ns(resource, namespace)
    options: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "propagationPolicy": propagation_policy,
    }
    if grace_period_seconds is not None:
        options["gracePeriodSeconds"] = grace_period_seconds
    return KubeRequest(
        "DELETE",
        resource.object_path(name, ns),
        body=options,
        namespace=ns,
        what=_what("delete", resource, ns, name),
    )


def watch(
    resource: Resource,
    namespace: str | None,
    *,
    resource_version: str | None,
    timeout_seconds: int = DEFAULT_WATCH_SECONDS,
    label_selector: str | None = None,
    field_selector: str | None = None,
    read_margin: float = 30.0,
) -> KubeRequest:
    """GET a collection as a watch stream, resuming after ``resource_version``, with bookmarks.

    The server ends the stream after ``timeout_seconds``; the client read timeout is a little
    longer, so a half-open connection (no bytes, no FIN) is noticed instead of hanging forever.
    """
    ns = _ns(resource, namespace)
    timeout_seconds = max(1, int(timeout_seconds))
    query = _q(
        watch=True,
        allowWatchBookmarks=True,
        resourceVersion=resource_version,
        timeoutSeconds=timeout_seconds,
        labelSelector=label_selector,
        fieldSelector=field_selector,
    )
    return KubeRequest(
        "GET",
        resource.collection_path(ns),
        query,
        namespace=ns,
        stream=True,
        read_timeout=timeout_seconds + read_margin,
        what=_what("watch", resource, ns),
    )


# --- cluster facts ------------------------------------------------------------------------------------------


def service_proxy(
    namespace: str, service: str, port: str | int, method: str, path: str, body: Any = None
) -> KubeRequest:
    """A request to a Service's port through the API server's service proxy (RBAC ``services/proxy``)."""
    return KubeRequest(
        method,
        SERVICE.object_path(f"{service}:{port}", namespace, "proxy") + "/" + path.lstrip("/"),
        body=body,
        namespace=namespace,
        what=f"{method} /{path.lstrip('/')} on service {namespace}/{service}:{port}",
    )


def server_version() -> KubeRequest:
    """GET ``/version`` (reachability)."""
    return KubeRequest("GET", "/version", what="get server version")


def get_crd(name: str) -> KubeRequest:
    """GET one CustomResourceDefinition (``rayjobs.ray.io``)."""
    return KubeRequest("GET", CRD.object_path(name), what=f"get CRD {name}")


def self_subject_access_review(
    namespace: str, verb: str, resource: str, group: str = "", subresource: str = ""
) -> KubeRequest:
    """POST a SelfSubjectAccessReview: may these credentials do ``verb`` on ``resource``?"""
    attrs = {"namespace": namespace, "verb": verb, "resource": resource, "group": group}
    if subresource:
        attrs["subresource"] = subresource
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attrs},
    }
    return KubeRequest(
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        body=body,
        namespace=namespace,
        what=f"access review {verb} {resource}{'/' + subresource if subresource else ''} in {namespace}",
    )


# --- responses ----------------------------------------------------------------------------------------------


def _body_error(response: KubeResponse, expected: str) -> Exception:
    # Imported here: errors.py builds on this module (KubeRequest / KubeResponse).
    from airflow_ray_k8s.kube.errors import error_for_body

    return error_for_body(response, expected)


def parse_object(response: KubeResponse) -> dict[str, Any]:
    """The object of a create / get / patch / delete answer.

    :raises KubeInvalidResponseError: the body is not a JSON object.
    """
    data = response.json()
    if not isinstance(data, dict):
        raise _body_error(response, "a JSON object")
    return data


def parse_list(response: KubeResponse) -> ObjectList:
    """Items, resourceVersion and continue token of a list answer."""
    data = parse_object(response)
    meta = data.get("metadata") or {}
    items = [i for i in data.get("items") or [] if isinstance(i, dict)]
    return ObjectList(
        items=items,
        resource_version=str(meta.get("resourceVersion") or ""),
        continue_token=str(meta.get("continue") or ""),
    )


def headers_lower(pairs: Sequence[tuple[str, str]] | Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased (the transports give different multidict types)."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return {str(k).lower(): str(v) for k, v in items}
