"""The sync steps the operators take through :class:`~airflow_ray_k8s.hooks.kuberay.KubeRayHook`.

Small named steps (list the history, create, mark consumed, delete what the task made) so the
operators read as the lifecycle they implement. Imported inside ``execute`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_ray_k8s._lifecycle.attach import ANNOTATION_CONSUMED
from airflow_ray_k8s.naming import HEAD_SERVICE_SUFFIX
from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB
from airflow_ray_k8s.status import RayJobStatus


def resolve_namespace(hook: Any, namespace: str | None) -> str:
    """The namespace the task works in (checked against the connection's allow-list)."""
    return str(hook.resolve_namespace(namespace))


def list_rayjobs(hook: Any, namespace: str, selector: str) -> list[dict[str, Any]]:
    """Every RayJob matching a label selector."""
    return list(hook.list_objects(RAYJOB, namespace=namespace, label_selector=selector).items)


def create_rayjob(hook: Any, namespace: str, body: Mapping[str, Any]) -> tuple[dict[str, Any], bool, bool]:
    """Create the RayJob or re-attach to it (409 on a name this task owns): object, created, spec matches."""
    result = hook.create(RAYJOB, body, namespace=namespace)
    return dict(result.object), bool(result.created), bool(result.spec_matches)


def creation_time(obj: Mapping[str, Any]) -> float | None:
    """``metadata.creationTimestamp`` as a UNIX time."""
    raw = (obj.get("metadata") or {}).get("creationTimestamp")
    if not raw:
        return None
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def mark_consumed(hook: Any, namespace: str, name: str) -> None:
    """Record on the RayJob that a task took its outcome (see :mod:`._lifecycle.attach`)."""
    hook.patch(
        RAYJOB, name, {"metadata": {"annotations": {ANNOTATION_CONSUMED: "true"}}}, namespace=namespace
    )


def owned_cluster(obj: Mapping[str, Any]) -> str:
    """The cluster KubeRay created for this RayJob (``""`` if it runs on an existing one or has none yet)."""
    spec = obj.get("spec") or {}
    if not spec.get("rayClusterSpec") or spec.get("clusterSelector"):
        return ""
    return RayJobStatus.from_object(obj).ray_cluster_name


def delete_rayjob_and_cluster(hook: Any, namespace: str, name: str, *, log: Any = None) -> None:
    """Delete a RayJob and the cluster KubeRay made for it; what is gone already counts as done.

    The cluster is deleted explicitly, not left to owner-reference garbage collection, so that it
    goes at once also where no garbage collector runs. (Async twin: ``kube.delete_rayjob_and_cluster``.)
    """
    obj = hook.get_or_none(RAYJOB, name, namespace=namespace)
    if obj is None:
        return
    cluster = owned_cluster(obj)
    hook.delete(RAYJOB, name, namespace=namespace)
    if cluster:
        hook.delete(RAYCLUSTER, cluster, namespace=namespace)
    if log is not None:
        log.info("Deleted RayJob %s/%s%s", namespace, name, f" and RayCluster {cluster}" if cluster else "")


def delete_cluster_if_failed_before_running(
    hook: Any, namespace: str, status: RayJobStatus, *, log: Any = None
) -> None:
    """Delete the ephemeral cluster of a RayJob whose deployment failed before the job ran.

    KubeRay's deletion rules (and ``shutdownAfterJobFinishes``) do not fire for such a job, so its
    cluster would stay until someone deletes it (upstream pain point, see kuberay/FACTS.md).
    """
    from airflow_ray_k8s._lifecycle.waits import has_started

    if has_started(status) or not status.ray_cluster_name:
        return
    if hook.delete(RAYCLUSTER, status.ray_cluster_name, namespace=namespace) and log is not None:
        log.info("Deleted RayCluster %s/%s: its job failed before it ran", namespace, status.ray_cluster_name)


def dashboard_url(hook: Any, namespace: str, cluster: str) -> str:
    """A URL of the cluster's Ray dashboard for people (the extra link), or ``""``.

    The connection's ``dashboard_url`` if set, else the API server's service proxy path (reachable
    with ``kubectl proxy`` or the API server's credentials).
    """
    settings = hook.settings
    if settings.dashboard_url:
        return str(settings.dashboard_url).format(namespace=namespace, cluster=cluster)
    try:
        host = hook.transport.api_client.configuration.host
    except Exception:  # no usable configuration: no link, never a failed task
        return ""
    if not host:
        return ""
    service = f"{cluster}{HEAD_SERVICE_SUFFIX}:dashboard"
    return f"{str(host).rstrip('/')}/api/v1/namespaces/{namespace}/services/{service}/proxy/"
