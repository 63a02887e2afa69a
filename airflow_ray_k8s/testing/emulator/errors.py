"""API errors of the emulated Kubernetes API, rendered as ``v1.Status`` like the real API server."""

from __future__ import annotations

from typing import Any

from airflow_ray_k8s.resources import Resource

# HTTP status -> the ``Status.reason`` the real API server sends with it.
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """An error answered as a ``v1.Status`` object.

    :param code: HTTP status.
    :param message: human-readable message (never holds secrets).
    :param reason: ``Status.reason``; derived from ``code`` when omitted.
    :param details: ``Status.details`` (``name``, ``group``, ``kind``, ``causes``).
    :param retry_after: seconds for a ``Retry-After`` header (429/503).
    """

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASONS.get(code, "Unknown")
        self.details = details
        self.retry_after = retry_after

    def to_status(self) -> dict[str, Any]:
        """The ``v1.Status`` body."""
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            status["details"] = self.details
        if self.retry_after is not None:
            status.setdefault("details", {})["retryAfterSeconds"] = int(self.retry_after)
        return status


def _qualified(res: Resource) -> str:
    # The API server names resources as "rayjobs.ray.io" (or "pods" for the core group).
    return f"{res.plural}.{res.group}" if res.group else res.plural


def _details(res: Resource, name: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {"group": res.group, "kind": res.plural}
    if name is not None:
        details["name"] = name
    return details


def not_found(res: Resource, name: str) -> ApiError:
    """404 for one object, worded as the API server does."""
    return ApiError(404, f'{_qualified(res)} "{name}" not found', details=_details(res, name))


def already_exists(res: Resource, name: str) -> ApiError:
    """409 AlreadyExists on create of a name that exists (also while it is being deleted)."""
    return ApiError(
        409,
        f'{_qualified(res)} "{name}" already exists',
        reason="AlreadyExists",
        details=_details(res, name),
    )


def conflict(res: Resource, name: str, why: str) -> ApiError:
    """409 Conflict on a stale ``resourceVersion`` or a failed precondition."""
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {_qualified(res)} "{name}": {why}',
        details=_details(res, name),
    )


def invalid(res: Resource, name: str | None, causes: list[tuple[str, str]]) -> ApiError:
    """422 Invalid with one ``(field, message)`` cause per problem."""
    text = "; ".join(f"{field}: {msg}" for field, msg in causes)
    # Unlike NotFound/AlreadyExists (which name the resource), Invalid names the kind: the real API
    # server builds it from the object's GroupKind.
    details = {**_details(res, name), "kind": res.kind}
    details["causes"] = [{"field": f, "message": m, "reason": "FieldValueInvalid"} for f, m in causes]
    kind = res.kind
    return ApiError(422, f'{kind} "{name or ""}" is invalid: {text}', details=details)


def bad_request(message: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, message)


def gone(message: str) -> ApiError:
    """410 Expired: a ``resourceVersion`` older than the kept history."""
    return ApiError(410, message, reason="Expired")


def forbidden(message: str) -> ApiError:
    """403 Forbidden."""
    return ApiError(403, message)


def unsupported_patch(custom_resource: bool = False) -> ApiError:
    """415 for a PATCH body type the API does not apply (server-side apply, CBOR; strategic merge
    on a custom resource)."""
    accepted = "application/json-patch+json, application/merge-patch+json"
    if not custom_resource:
        accepted += ", application/strategic-merge-patch+json"
    return ApiError(
        415, f"the body of the request was in an unknown format - accepted media types include: {accepted}"
    )
