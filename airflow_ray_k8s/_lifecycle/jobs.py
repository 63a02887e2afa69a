"""The sync steps the operators take through :class:`~airflow_ray_k8s.hooks.kuberay.KubeRayHook`.

Small named steps (list the history, create, mark consumed, delete what the task made) so the
operators read as the lifecycle they implement. Imported inside ``execute`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_ray_k8s._lifecycle.attach import ANNOTATION_CONSUMED
from airflow_ray_k8s.naming import ANNOTATION_EXPIRES_AT, LABEL_TASK_KEY
from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB, Resource
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


def unfinished_rayjobs(hook: Any, namespace: str, selector: str) -> list[str]:
    """Names of the RayJobs matching a label selector that are not terminal yet."""
    return [
        RayJobStatus.from_object(obj).name
        for obj in list_rayjobs(hook, namespace, selector)
        if not RayJobStatus.from_object(obj).is_terminal
    ]


def is_owned_by(obj: Mapping[str, Any], task_key: str) -> bool:
    """Whether the object was created by the task instance whose ``task-key`` label is ``task_key``."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return bool(task_key) and labels.get(LABEL_TASK_KEY) == task_key


def extend_expiry(
    hook: Any, namespace: str, obj: Mapping[str, Any], body: Mapping[str, Any], resource: Resource = RAYJOB
) -> None:
    """Move ``obj``'s expiry annotation to ``body``'s when that is later (a new try waits for it now).

    One PATCH when a try re-attaches or adopts, never while it waits. RFC 3339 UTC times in the
    same format compare as text.
    """
    new = ((body.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_EXPIRES_AT)
    meta = obj.get("metadata") or {}
    old = (meta.get("annotations") or {}).get(ANNOTATION_EXPIRES_AT)
    if not new or (old and str(old) >= str(new)):
        return
    patch = {"metadata": {"annotations": {ANNOTATION_EXPIRES_AT: new}}}
    hook.patch(resource, str(meta.get("name")), patch, namespace=namespace)


#: How long ``execute`` waits for KubeRay to name a new RayJob's cluster before deferring.
CLUSTER_NAME_WAIT = 3.0


def wait_for_cluster_name(hook: Any, namespace: str, obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The RayJob once KubeRay has named its cluster (``status.rayClusterName``), or ``obj`` as is.

    KubeRay names an ephemeral cluster on its first reconcile, a moment after the create: waiting
    that long (by watch, at most :data:`CLUSTER_NAME_WAIT` s) lets the task record the dashboard
    link before it defers, so the link works while the task is deferred.
    """
    from airflow_ray_k8s.exceptions import RayK8sError

    if RayJobStatus.from_object(obj).ray_cluster_name:
        return obj
    name = str((obj.get("metadata") or {}).get("name"))

    def named(current: Mapping[str, Any] | None) -> bool:
        return current is None or bool(RayJobStatus.from_object(current).ray_cluster_name)

    try:
        found = hook.wait_for(RAYJOB, name, named, namespace=namespace, timeout=CLUSTER_NAME_WAIT)
    except RayK8sError:  # not named yet (or the watch failed): the link comes with the outcome
        return obj
    return found if found is not None else obj


def creation_time(obj: Mapping[str, Any]) -> float | None:
    """``metadata.creationTimestamp`` as a UNIX time."""
    return parse_time((obj.get("metadata") or {}).get("creationTimestamp"))


def parse_time(raw: Any) -> float | None:
    """An RFC 3339 time (Kubernetes' timestamps) as a UNIX time; ``None`` if empty or unreadable."""
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


def try_delete_rayjob_and_cluster(hook: Any, namespace: str, name: str, *, log: Any) -> bool:
    """:func:`delete_rayjob_and_cluster` on a path whose own outcome matters more (a failure being
    reported, a success recorded): an API error is logged, not raised. True if it succeeded.

    What stays is still bounded by KubeRay's TTL and the expiry annotation.
    """
    from airflow_ray_k8s.exceptions import RayK8sError

    try:
        delete_rayjob_and_cluster(hook, namespace, name, log=log)
    except RayK8sError as exc:
        log.warning("Could not delete RayJob %s/%s: %s", namespace, name, exc)
        return False
    return True


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
    with ``kubectl proxy`` or the API server's credentials); never with credentials in it.
    """
    from airflow_ray_k8s.kube.dashboard import link_for_people

    try:
        host = str(hook.transport.api_client.configuration.host or "")
    except Exception:  # no usable configuration: no link, never a failed task
        host = ""
    return link_for_people(hook.settings, namespace, cluster, host)
