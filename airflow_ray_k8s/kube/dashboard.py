"""The Ray dashboard's job REST API, reached through the API server's service proxy (no ``ray`` import).

Default route: ``/api/v1/namespaces/{ns}/services/{cluster}-head-svc:dashboard/proxy/api/jobs/...``
on the API server, with the connection's Kubernetes credentials (RBAC ``services/proxy``). With a
``dashboard_url`` in the connection the request goes there directly, without Kubernetes credentials.
A cluster with token auth gets ``x-ray-authorization: Bearer <token>``, the token read from the
Secret the connection names (key ``auth_token``). See FACTS.md, "Ray job REST API".
"""

from __future__ import annotations

import base64
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from airflow_ray_k8s.exceptions import (
    KubeApiError,
    KubeInvalidResponseError,
    KubeNotFoundError,
    RayDashboardError,
)
from airflow_ray_k8s.kube import request as rq
from airflow_ray_k8s.kube.config import ConnectionSettings
from airflow_ray_k8s.kube.effects import Op, RegisterSecret
from airflow_ray_k8s.kube.errors import error_for_dashboard
from airflow_ray_k8s.naming import HEAD_SERVICE_SUFFIX
from airflow_ray_k8s.resources import SECRET, SERVICE

TOKEN_HEADER = "x-ray-authorization"  # noqa: S105  -- a header name
TOKEN_SECRET_KEY = "auth_token"  # noqa: S105  -- a Secret key name
DASHBOARD_PORT_NAME = "dashboard"

#: Terminal statuses of a Ray job (``ray.job_submission.JobStatus``).
TERMINAL_JOB_STATUSES = frozenset({"STOPPED", "SUCCEEDED", "FAILED"})


@dataclass(frozen=True)
class JobInfo:
    """What ``GET /api/jobs/{id}`` says about one Ray job (times in ms since the epoch)."""

    job_id: str
    submission_id: str
    status: str
    message: str
    start_time: int | None
    end_time: int | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def is_terminal(self) -> bool:
        """The job has ended."""
        return self.status in TERMINAL_JOB_STATUSES

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobInfo:
        """Read the dashboard's JSON; unknown fields stay in ``raw``."""

        def num(key: str) -> int | None:
            value = data.get(key)
            return value if isinstance(value, int) else None

        return cls(
            job_id=str(data.get("job_id") or ""),
            submission_id=str(data.get("submission_id") or ""),
            status=str(data.get("status") or ""),
            message=str(data.get("message") or ""),
            start_time=num("start_time"),
            end_time=num("end_time"),
            raw=data,
        )


def head_service(cluster: str) -> str:
    """The head service KubeRay creates for a RayCluster."""
    return f"{cluster}{HEAD_SERVICE_SUFFIX}"


def build(
    settings: ConnectionSettings,
    namespace: str,
    cluster: str,
    method: str,
    api_path: str,
    *,
    token: str | None = None,
    body: Any = None,
) -> rq.KubeRequest:
    """A request to the dashboard of ``cluster`` (``api_path`` like ``/api/jobs/<id>``)."""
    headers: tuple[tuple[str, str], ...] = ((TOKEN_HEADER, f"Bearer {token}"),) if token else ()
    what = f"Ray dashboard {method} {api_path} of {namespace}/{cluster}"
    if settings.dashboard_url:
        base = direct_url(settings.dashboard_url, namespace, cluster)
        return rq.KubeRequest(
            method, api_path, body=body, headers=headers, namespace=namespace, base_url=base, what=what
        )
    return rq.KubeRequest(
        method,
        proxy_path(namespace, cluster) + api_path,
        body=body,
        headers=headers,
        namespace=namespace,
        what=what,
    )


def direct_url(template: str, namespace: str, cluster: str) -> str:
    """The connection's ``dashboard_url`` for one cluster (``{namespace}`` / ``{cluster}`` filled in).

    Plain replacement, not ``str.format``: a URL may hold other braces.
    """
    return template.replace("{namespace}", namespace).replace("{cluster}", cluster)


def proxy_path(namespace: str, cluster: str) -> str:
    """The API server's service-proxy path to the cluster's dashboard (no trailing slash)."""
    svc = f"{head_service(cluster)}:{DASHBOARD_PORT_NAME}"
    return SERVICE.object_path(svc, namespace, "proxy")


def link_for_people(settings: ConnectionSettings, namespace: str, cluster: str, api_host: str) -> str:
    """A dashboard URL to show people (the extra link): the direct URL if configured, else the
    service proxy under ``api_host``; ``""`` if neither is known. Any ``user:password@`` is dropped:
    the URL goes to XCom and the UI.
    """
    from urllib.parse import urlsplit, urlunsplit

    if settings.dashboard_url:
        url = direct_url(settings.dashboard_url, namespace, cluster)
    elif api_host:
        url = f"{api_host.rstrip('/')}{proxy_path(namespace, cluster)}/"
    else:
        return ""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def read_token(
    settings: ConnectionSettings, namespace: str, cache: MutableMapping[tuple[str, str], str]
) -> Op[str | None]:
    """The dashboard token from the connection's Secret, if one is configured (cached per namespace)."""
    secret = settings.ray_token_secret
    if not secret:
        return None
    key = (namespace, secret)
    if key not in cache:
        try:
            response = yield rq.get(SECRET, namespace, secret)
        except KubeNotFoundError:
            raise RayDashboardError(
                f"the Ray token Secret {namespace}/{secret} named by connection {settings.conn_id!r} "
                "does not exist"
            ) from None
        data = (rq.parse_object(response).get("data") or {}).get(TOKEN_SECRET_KEY)
        if not data:
            raise RayDashboardError(f"Secret {namespace}/{secret} has no key {TOKEN_SECRET_KEY!r}")
        try:
            # validate=True: garbage is an error, not silently dropped characters (a wrong token).
            token = base64.b64decode(data, validate=True).decode().strip()
        except (ValueError, TypeError):  # binascii.Error and UnicodeDecodeError are ValueErrors
            raise RayDashboardError(
                f"Secret {namespace}/{secret}: key {TOKEN_SECRET_KEY!r} is not base64-encoded UTF-8 text"
            ) from None  # the cause would quote the Secret's bytes
        if not token:
            raise RayDashboardError(f"Secret {namespace}/{secret}: key {TOKEN_SECRET_KEY!r} is empty")
        # Before first use, so that Airflow redacts it from every later log line (hooks only).
        yield RegisterSecret(token)
        cache[key] = token
    return cache[key]


def _call(
    settings: ConnectionSettings,
    namespace: str,
    cluster: str,
    method: str,
    api_path: str,
    cache: MutableMapping[tuple[str, str], str],
    *,
    job_id: str = "",
    body: Any = None,
) -> Op[Any]:
    token = yield from read_token(settings, namespace, cache)
    request = build(settings, namespace, cluster, method, api_path, token=token, body=body)
    try:
        response = yield request
    except KubeApiError as exc:
        raise error_for_dashboard(request, exc, job_id=job_id) from exc
    try:
        return response.json()
    except KubeInvalidResponseError as exc:
        raise RayDashboardError(f"{request.describe()}: the answer is not JSON", status=exc.status) from None


def get_job(
    settings: ConnectionSettings,
    namespace: str,
    cluster: str,
    job_id: str,
    cache: MutableMapping[tuple[str, str], str],
) -> Op[JobInfo]:
    """``GET /api/jobs/{job_id}``."""
    data = yield from _call(
        settings, namespace, cluster, "GET", f"/api/jobs/{quote(job_id)}", cache, job_id=job_id
    )
    if not isinstance(data, dict):
        raise RayDashboardError(f"unexpected answer for Ray job {job_id!r}")
    return JobInfo.from_dict(data)


def get_job_logs(
    settings: ConnectionSettings,
    namespace: str,
    cluster: str,
    job_id: str,
    cache: MutableMapping[tuple[str, str], str],
) -> Op[str]:
    """``GET /api/jobs/{job_id}/logs``: the driver log so far."""
    data = yield from _call(
        settings, namespace, cluster, "GET", f"/api/jobs/{quote(job_id)}/logs", cache, job_id=job_id
    )
    return str((data or {}).get("logs") or "") if isinstance(data, dict) else ""


def stop_job(
    settings: ConnectionSettings,
    namespace: str,
    cluster: str,
    job_id: str,
    cache: MutableMapping[tuple[str, str], str],
) -> Op[bool]:
    """``POST /api/jobs/{job_id}/stop``; ``True`` if the dashboard stopped a running job."""
    data = yield from _call(
        settings, namespace, cluster, "POST", f"/api/jobs/{quote(job_id)}/stop", cache, job_id=job_id, body={}
    )
    return bool(data.get("stopped")) if isinstance(data, dict) else False
