"""Operations on Kubernetes objects, written once as sans-I/O generators (see :mod:`.effects`).

Each function returns an :data:`~airflow_ray_k8s.kube.effects.Op`; the sync and async clients run
it. Nothing here sends a byte by itself.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_ray_k8s import naming
from airflow_ray_k8s.exceptions import (
    KubeApiError,
    KubeConflictError,
    KubeNotFoundError,
    WaitTimeoutError,
)
from airflow_ray_k8s.kube import request as rq
from airflow_ray_k8s.kube.effects import Op, Sleep, bounded
from airflow_ray_k8s.kube.retry import RetryPolicy
from airflow_ray_k8s.resources import Resource


@dataclass(frozen=True)
class CreateResult:
    """The outcome of a create that may have been a re-attach.

    :param object: the object as the server holds it now.
    :param created: ``True`` if this call created it; ``False`` if it existed (re-attach).
    :param spec_matches: whether the existing object's spec-hash annotation equals the submitted
        spec's (always ``True`` when ``created``).
    """

    object: dict[str, Any]
    created: bool
    spec_matches: bool

    @property
    def name(self) -> str:
        """The object's name."""
        return str(self.object.get("metadata", {}).get("name", ""))


def _name_of(body: Mapping[str, Any]) -> str:
    name = (body.get("metadata") or {}).get("name")
    if not name:
        # generateName would defeat idempotency: the deterministic name is the key.
        raise ValueError("the object to create needs metadata.name")
    return str(name)


def with_spec_hash(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``body`` carrying the spec-hash annotation (kept if the caller already set it)."""
    out = copy.deepcopy(dict(body))
    meta = out.setdefault("metadata", {})
    annotations = meta.setdefault("annotations", {})
    annotations.setdefault(naming.ANNOTATION_SPEC_HASH, naming.spec_hash(out.get("spec") or {}))
    return out


def is_owned_by(existing: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    """Whether an existing object was created by this provider for the same task as ``body``.

    Owned means: labelled ``app.kubernetes.io/managed-by=airflow-ray-k8s``, and, when ``body``
    carries the task-key label, the same task key.
    """
    labels = (existing.get("metadata") or {}).get("labels") or {}
    if labels.get(naming.LABEL_MANAGED_BY) != naming.MANAGED_BY_VALUE:
        return False
    wanted = ((body.get("metadata") or {}).get("labels") or {}).get(naming.LABEL_TASK_KEY)
    return wanted is None or labels.get(naming.LABEL_TASK_KEY) == wanted


def _spec_hash_of(obj: Mapping[str, Any]) -> str | None:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(naming.ANNOTATION_SPEC_HASH)
    return str(value) if value is not None else None


def create_or_attach(resource: Resource, namespace: str, body: Mapping[str, Any]) -> Op[CreateResult]:
    """Create an object; if its name exists and the provider owns it, re-attach to it.

    :raises KubeConflictError: the name is taken by an object this provider does not own, or by
        one that is being deleted.
    """
    name = _name_of(body)
    body = with_spec_hash(body)
    try:
        response = yield rq.create(resource, namespace, body)
        return CreateResult(rq.parse_object(response), created=True, spec_matches=True)
    except KubeConflictError as conflict:
        try:
            response = yield rq.get(resource, namespace, name)
        except KubeNotFoundError:
            # Deleted between our create and get (e.g. being garbage-collected): a real conflict
            # for this attempt; the caller retries.
            raise conflict from None
        existing = rq.parse_object(response)
        if not is_owned_by(existing, body):
            raise KubeConflictError(
                f"{resource.kind} {namespace}/{name} exists and was not created by this task "
                "(labels do not match); refusing to re-attach",
                status=409,
                reason="AlreadyExists",
            ) from conflict
        if (existing.get("metadata") or {}).get("deletionTimestamp"):
            # Re-attaching to an object on its way out would watch it vanish; the caller retries
            # once it is gone (KubeRay's finalizer stops the Ray job first).
            raise KubeConflictError(
                f"{resource.kind} {namespace}/{name} exists but is being deleted; retry when it is gone",
                status=409,
                reason="Terminating",
            ) from conflict
        matches = _spec_hash_of(existing) == _spec_hash_of(body)
        return CreateResult(existing, created=False, spec_matches=matches)


def dry_run_create(resource: Resource, namespace: str, body: Mapping[str, Any]) -> Op[dict[str, Any]]:
    """Server-side dry run of a create: validation and admission, nothing stored."""
    response = yield rq.create(resource, namespace, body, dry_run=True)
    return rq.parse_object(response)


def get(resource: Resource, namespace: str | None, name: str) -> Op[dict[str, Any]]:
    """One object. :raises KubeNotFoundError: it does not exist."""
    response = yield rq.get(resource, namespace, name)
    return rq.parse_object(response)


def get_or_none(resource: Resource, namespace: str | None, name: str) -> Op[dict[str, Any] | None]:
    """One object, or ``None`` if it does not exist."""
    try:
        response = yield rq.get(resource, namespace, name)
    except KubeNotFoundError:
        return None
    return rq.parse_object(response)


def list_all(
    resource: Resource,
    namespace: str | None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    page_size: int = rq.DEFAULT_PAGE_SIZE,
) -> Op[rq.ObjectList]:
    """Every object of a collection, following ``continue`` tokens; the first page's resourceVersion."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    version = ""
    while True:
        response = yield rq.list_(
            resource,
            namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            limit=page_size,
            continue_token=token,
        )
        page = rq.parse_list(response)
        items.extend(page.items)
        version = version or page.resource_version
        if not page.continue_token:
            return rq.ObjectList(items=items, resource_version=version)
        token = page.continue_token


def merge_patch(
    resource: Resource, namespace: str, name: str, patch: Mapping[str, Any]
) -> Op[dict[str, Any]]:
    """Apply a JSON merge patch; returns the patched object."""
    response = yield rq.merge_patch(resource, namespace, name, patch)
    return rq.parse_object(response)


def delete(
    resource: Resource,
    namespace: str,
    name: str,
    *,
    propagation_policy: str = "Background",
    grace_period_seconds: int | None = None,
) -> Op[bool]:
    """Delete an object; ``True`` if this call deleted it, ``False`` if it was already gone.

    A 404 is not an error here. A 404 to a *retried* DELETE counts as deleted by this call: an
    earlier attempt may have done it and lost its answer (a dropped connection, a timeout, a 5xx
    from a proxy after the API server acted), and the API cannot tell that from a deletion by
    someone else in between; "already gone" would be the less likely story.
    """
    try:
        yield rq.delete(
            resource,
            namespace,
            name,
            propagation_policy=propagation_policy,
            grace_period_seconds=grace_period_seconds,
        )
    except KubeNotFoundError as gone:
        return gone.attempts > 1
    return True


def wait_for_deletion(
    resource: Resource,
    namespace: str,
    name: str,
    *,
    timeout: float,
    poll_interval: float = 0.5,
    max_poll_interval: float = 5.0,
) -> Op[None]:
    """Poll until the object is gone (finalizers done), with a growing interval and a deadline.

    Polling rather than watching: a deletion wait is short and rare, and one GET per interval is
    cheaper than a list plus a watch. Every GET and sleep is bounded by the deadline
    (:func:`~airflow_ray_k8s.kube.effects.bounded`); a transient failure (429, 5xx, reset) that
    outlasts a GET's retries is polled through like "still there", so only the timeout ends the wait.

    :raises WaitTimeoutError: it still exists (or could not be checked) after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    return (
        yield from bounded(
            _poll_deletion(resource, namespace, name, timeout, deadline, poll_interval, max_poll_interval),
            deadline,
        )
    )


def _poll_deletion(
    resource: Resource,
    namespace: str,
    name: str,
    timeout: float,
    deadline: float,
    interval: float,
    max_interval: float,
) -> Op[None]:
    while True:
        error: KubeApiError | None = None
        try:
            yield rq.get(resource, namespace, name)
        except KubeNotFoundError:
            return None
        except KubeApiError as exc:
            if not RetryPolicy.is_retryable(exc):
                raise
            error = exc
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            what = f"{resource.kind} {namespace}/{name}"
            if error is None:
                raise WaitTimeoutError(f"{what} still exists after {timeout:g}s")
            raise WaitTimeoutError(f"{what} not confirmed gone within {timeout:g}s: {error}") from error
        yield Sleep(min(interval, remaining))
        interval = min(interval * 2, max_interval)
