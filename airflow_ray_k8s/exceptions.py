"""The project's exception types, in one hierarchy.

Layers raise these and nothing else: the Kubernetes layer maps transport errors onto them in
``kube/errors.py`` (the only place that knows the transports' exception types), the spec layer
raises :class:`SpecValidationError`, the Airflow layer raises :class:`RayJobFailedError` and friends.
Messages never carry secrets (tokens, kubeconfig content, Authorization headers); response payloads
are truncated before they are put into a message.
"""

from __future__ import annotations

from typing import Any


class RayK8sError(Exception):
    """Base class of every error raised by airflow-ray-k8s."""


# --- configuration and input (raised before anything is sent to a cluster) ---------------------------


class ConfigurationError(RayK8sError, ValueError):
    """A connection or operator argument is invalid; raised before any API call."""


class NamespaceNotAllowedError(ConfigurationError):
    """The namespace asked for is not in the connection's allow-list."""


class SpecValidationError(RayK8sError, ValueError):
    """A RayCluster / RayJob spec breaks a rule KubeRay would reject it for.

    :param errors: one ``(field_path, rule)`` pair per problem, in the user's terms
        (e.g. ``("worker_groups[1].min_replicas", "must be <= max_replicas")``).
    """

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = list(errors)
        lines = "; ".join(f"{path}: {rule}" for path, rule in self.errors)
        super().__init__(f"invalid Ray spec: {lines}")


# --- the Kubernetes API ---------------------------------------------------------------------------------


class KubeApiError(RayK8sError):
    """An error answered by (or on the way to) the Kubernetes API server.

    :param message: human-readable, secret-free, payload truncated.
    :param status: HTTP status, if there was a response.
    :param reason: the Kubernetes ``Status.reason`` (e.g. ``AlreadyExists``), if any.
    """

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        #: Attempts the call made before this error (set by the clients' retry loop): an operation
        #: reads it to tell "404 at once" from "404 after an attempt whose answer was lost".
        self.attempts = 1


class KubeNotFoundError(KubeApiError):
    """404: the object (or resource) does not exist."""


class KubeConflictError(KubeApiError):
    """409: the object exists already, or a resourceVersion conflict."""


class KubeForbiddenError(KubeApiError):
    """401/403: the credentials may not do this."""


class KubeInvalidError(KubeApiError):
    """400/422: the API server rejected the object (schema or admission)."""


class KubeGoneError(KubeApiError):
    """410: a watch's resourceVersion is too old; the caller must re-list."""


class KubeTransientError(KubeApiError):
    """429, 5xx, connection reset: worth a retry.

    :param retry_after: seconds the server asked the client to wait (``Retry-After``), if any.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, reason=reason)
        self.retry_after = retry_after


class KubeTimeoutError(KubeApiError):
    """A client-side deadline passed before the API answered."""


class KubeInvalidResponseError(KubeApiError):
    """A 2xx answer whose body is not the JSON the call expects (an HTML page from a proxy in the
    way, a truncated body). Not retried: the same proxy gives the same page."""


class CRDNotInstalledError(KubeNotFoundError):
    """The ``ray.io`` CRDs (KubeRay) are not installed in the cluster."""


class WaitTimeoutError(RayK8sError, TimeoutError):
    """A wait (for a status, for a deletion) did not end within its timeout."""


# --- Ray workloads ----------------------------------------------------------------------------------------


class RayDashboardError(RayK8sError):
    """The Ray dashboard's job API answered with an error or could not be reached.

    The subclasses say which kind, so that callers can react: :class:`RayDashboardForbiddenError`
    (fix RBAC or the token), :class:`RayDashboardUnavailableError` (try again later),
    :class:`RayDashboardJobNotFoundError` (unknown job id). The Kubernetes error is chained.

    :param status: the HTTP status of the answer, if there was one.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RayDashboardJobNotFoundError(RayDashboardError):
    """The Ray dashboard does not know this job id (HTTP 404 from the job API)."""


class RayDashboardForbiddenError(RayDashboardError):
    """401/403 on the way to the dashboard: RBAC ``services/proxy``, or a missing / wrong Ray token."""


class RayDashboardUnavailableError(RayDashboardError):
    """The dashboard is not reachable right now (429, 5xx such as "no endpoints available" while the
    head starts, a connection reset, a timeout): worth trying again later."""


class RayJobFailedError(RayK8sError):
    """A RayJob ended in a status the caller did not accept.

    :param details: machine-readable facts (reason, message, job status, log tail) for XCom / tests.
    """

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class RayTaskFunctionError(RayJobFailedError):
    """A ``@task.ray`` function raised on the Ray cluster (or returned what JSON cannot hold).

    ``details["error"]`` holds the remote exception's ``type``, ``message`` and ``traceback`` lines.
    """


class RayTaskResultError(RayK8sError):
    """A ``@task.ray`` job succeeded but its return value could not be read back."""


class RayClusterStartupError(RayK8sError):
    """A RayCluster did not become ready within its startup timeout; the message names pod reasons."""


class RayServiceDeployError(RayK8sError):
    """A RayService deploy or upgrade failed or stalled; the message has KubeRay's reason and the
    Serve application statuses. The cluster that served before keeps serving.

    :param details: machine-readable facts (the event's ``status`` and the service status JSON).
    """

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}
