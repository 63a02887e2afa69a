"""The one place that maps HTTP answers and transport failures onto the project's exceptions.

Both transports (``kubernetes`` / urllib3 and ``kubernetes_asyncio`` / aiohttp) hand their failures
here; nothing above this module sees a transport exception type. Messages name the call, the HTTP
status and the server's ``Status.message``, truncated and scrubbed of anything that looks like a
credential.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import re
import socket
import ssl
import sys
import time
from collections.abc import Mapping
from typing import Any

from airflow_ray_k8s.exceptions import (
    CRDNotInstalledError,
    KubeApiError,
    KubeConflictError,
    KubeForbiddenError,
    KubeGoneError,
    KubeInvalidError,
    KubeInvalidResponseError,
    KubeNotFoundError,
    KubeTimeoutError,
    KubeTransientError,
    RayDashboardError,
    RayDashboardForbiddenError,
    RayDashboardJobNotFoundError,
    RayDashboardUnavailableError,
)
from airflow_ray_k8s.kube.request import KubeRequest, KubeResponse, headers_lower

#: Longest server text quoted in a message; payloads can be whole objects.
MAX_PAYLOAD_CHARS = 300

_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)((?:token|password|client-key-data|client-certificate-data)\W{1,3})[^\s,;\"']+"),
    # JWTs (service-account tokens) wherever they appear.
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
)

_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


def scrub(text: str, limit: int = MAX_PAYLOAD_CHARS) -> str:
    """Remove anything that looks like a credential and truncate to ``limit`` characters."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: f"{m.group(1)} <redacted>" if m.groups() else "<redacted>", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more chars)"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), if valid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _status_body(response: KubeResponse) -> Mapping[str, Any]:
    try:
        data = json.loads(response.body or b"null")
    except ValueError:
        return {}
    return data if isinstance(data, Mapping) else {}


def _is_crd_missing(request: KubeRequest, status: Mapping[str, Any]) -> bool:
    # An unknown resource answers 404 with empty details; a missing object names itself in
    # details.name. Only the ray.io group can be "not installed" from this provider's view.
    if "/apis/ray.io/" not in request.path or request.base_url or "/proxy/" in request.path:
        return False
    details = status.get("details")
    return not (isinstance(details, Mapping) and details.get("name"))


def error_for_response(request: KubeRequest, response: KubeResponse) -> KubeApiError:
    """The exception for a non-2xx answer to ``request``."""
    code = response.status
    status = _status_body(response)
    reason = status.get("reason") if isinstance(status.get("reason"), str) else None
    server_text = status.get("message") if isinstance(status.get("message"), str) else None
    if server_text is None:
        server_text = response.body.decode("utf-8", "replace")
    message = f"{request.describe()}: HTTP {code}"
    if reason:
        message += f" {reason}"
    if server_text:
        message += f": {scrub(server_text)}"
    kwargs: dict[str, Any] = {"status": code, "reason": reason}
    if code == 404:
        if _is_crd_missing(request, status):
            return CRDNotInstalledError(
                f"{message} (are the KubeRay ray.io CRDs installed in this cluster?)", **kwargs
            )
        return KubeNotFoundError(message, **kwargs)
    if code == 409:
        return KubeConflictError(message, **kwargs)
    if code in (401, 403):
        return KubeForbiddenError(message, **kwargs)
    if code in (400, 422):
        return KubeInvalidError(message, **kwargs)
    if code == 410:
        return KubeGoneError(message, **kwargs)
    if code in _TRANSIENT_STATUSES:
        retry_after = parse_retry_after(response.header("retry-after"))
        return KubeTransientError(message, retry_after=retry_after, **kwargs)
    return KubeApiError(message, **kwargs)


def error_for_watch_status(request: KubeRequest, status: Mapping[str, Any]) -> KubeApiError:
    """The exception for a watch stream's ``ERROR`` event (a ``Status`` object)."""
    code = status.get("code")
    code = code if isinstance(code, int) else 500
    body = json.dumps(status).encode()
    return error_for_response(request, KubeResponse(status=code, headers={}, body=body))


def error_for_body(response: KubeResponse, expected: str = "a JSON object") -> KubeInvalidResponseError:
    """The exception for a 2xx answer whose body is not ``expected`` (the body is not quoted: it
    may be anything, a Secret included)."""
    content_type = response.header("content-type") or "no content type"
    return KubeInvalidResponseError(
        f"{response.what or 'API call'}: expected {expected} in the answer, got {len(response.body)} "
        f"bytes of {scrub(content_type, 60)} (HTTP {response.status})",
        status=response.status,
    )


def error_for_dashboard(request: KubeRequest, exc: KubeApiError, *, job_id: str = "") -> RayDashboardError:
    """The dashboard error for a failed call to the Ray job API, keeping its kind (the caller chains ``exc``).

    A 404 that is not a Kubernetes ``Status`` is the dashboard's own (unknown job id); one with a
    ``Status`` comes from the API server (no such service: the cluster or its head is gone).
    """
    status = exc.status
    if isinstance(exc, KubeNotFoundError) and job_id and "/api/jobs/" in request.path and exc.reason is None:
        return RayDashboardJobNotFoundError(
            f"Ray job {job_id!r} not found ({request.describe()})", status=404
        )
    message = str(exc) if request.describe() in str(exc) else f"{request.describe()}: {exc}"
    if isinstance(exc, KubeForbiddenError):
        return RayDashboardForbiddenError(
            f"{message} (RBAC services/proxy, or the Ray token of the connection)", status=status
        )
    if isinstance(exc, KubeTransientError | KubeTimeoutError):
        return RayDashboardUnavailableError(message, status=status)
    return RayDashboardError(message, status=status)


def _is_instance(exc: BaseException, module: str, names: tuple[str, ...]) -> bool:
    # Check transport types only when that transport is loaded: this module must not import
    # urllib3 or aiohttp (the sync hook would pay for aiohttp, and the reverse).
    mod = sys.modules.get(module)
    if mod is None:
        return False
    types = tuple(t for t in (getattr(mod, n, None) for n in names) if isinstance(t, type))
    return bool(types) and isinstance(exc, types)


def _response_of(exc: BaseException) -> KubeResponse | None:
    # The sync ``kubernetes`` REST client raises ApiException for a non-2xx answer even when
    # the body is not preloaded; it carries the answer, which is mapped like any other.
    if not (
        _is_instance(exc, "kubernetes.client.exceptions", ("ApiException",))
        or _is_instance(exc, "kubernetes_asyncio.client.exceptions", ("ApiException",))
    ):
        return None
    status = getattr(exc, "status", 0)
    if not isinstance(status, int) or status <= 0:
        return None
    body = getattr(exc, "body", None) or b""
    if isinstance(body, str):
        body = body.encode("utf-8", "replace")
    headers = getattr(exc, "headers", None) or {}
    return KubeResponse(status=status, headers=headers_lower(dict(headers)), body=bytes(body))


def error_for_exception(request: KubeRequest, exc: BaseException) -> KubeApiError:
    """Map a transport exception (no HTTP answer) onto the hierarchy; the caller chains ``exc``."""
    what = request.describe()
    kind = type(exc).__name__
    if isinstance(exc, KubeApiError):
        return exc
    answered = _response_of(exc)
    if answered is not None:
        return error_for_response(request, answered)
    if _is_instance(exc, "urllib3.exceptions", ("NewConnectionError", "NameResolutionError")):
        # Checked first: urllib3 derives NewConnectionError from ConnectTimeoutError.
        return KubeTransientError(f"{what}: connection failed ({kind})")
    timeouts = ("TimeoutError", "ReadTimeoutError", "ConnectTimeoutError")
    if (
        isinstance(exc, TimeoutError | asyncio.TimeoutError | socket.timeout)
        or _is_instance(exc, "urllib3.exceptions", timeouts)
        or _is_instance(
            exc, "aiohttp", ("ServerTimeoutError", "ConnectionTimeoutError", "SocketTimeoutError")
        )
    ):
        return KubeTimeoutError(f"{what}: no answer within the client-side timeout ({kind})")
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        # A CA bundle or client certificate path that cannot be read: configuration, not weather.
        return KubeApiError(
            f"{what}: cannot read a local file ({kind}); check ssl_ca_cert / kube_config_path"
        )
    if isinstance(exc, ssl.SSLError) or _is_instance(exc, "urllib3.exceptions", ("SSLError",)):
        # A certificate problem does not heal by retrying.
        return KubeApiError(f"{what}: TLS error ({kind}); check ssl_ca_cert / disable_verify_ssl")
    if _is_instance(exc, "urllib3.exceptions", ("MaxRetryError",)):
        inner = getattr(exc, "reason", None)
        if isinstance(inner, BaseException) and inner is not exc:
            return error_for_exception(request, inner)
    if (
        isinstance(exc, ConnectionError | OSError | EOFError)
        or _is_instance(exc, "urllib3.exceptions", ("HTTPError",))
        or _is_instance(exc, "aiohttp", ("ClientConnectionError", "ClientPayloadError", "ClientError"))
        or _is_instance(exc, "http.client", ("HTTPException",))
    ):
        return KubeTransientError(f"{what}: connection failed ({kind})")
    return KubeApiError(f"{what}: transport failure ({kind})")
