"""The async Kubernetes calls of the waits, through the async hook and the shared watch hub.

One place that knows the hook's async API, so the waits read as logic. Every function opens the
hook it needs and closes it; the watch itself is the hub's (one stream per connection, namespace
and kind in the event loop, however many waits subscribe).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB, Resource
from airflow_ray_k8s.status import RayJobStatus

_KINDS: dict[str, Resource] = {"rayjob": RAYJOB, "raycluster": RAYCLUSTER}


def _hook(conn_id: str) -> Any:
    from airflow_ray_k8s.hooks.kuberay import AsyncKubeRayHook

    return AsyncKubeRayHook(kuberay_conn_id=conn_id)


class Updates:
    """States of one watched object: the current one, then each change (``None`` = absent)."""

    def __init__(self, subscription: Any) -> None:
        self._sub = subscription

    async def current(self) -> dict[str, Any] | None:
        """The state once the shared watch has listed (immediately if it already had)."""
        state = await self._sub.next()
        return dict(state.object) if state.object is not None else None

    async def next(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next state, or the latest one again after ``timeout`` seconds without change."""
        try:
            state = await asyncio.wait_for(self._sub.next(), timeout)
        except asyncio.TimeoutError:
            state = self._sub.latest
        if state is None or state.object is None:
            return None
        return dict(state.object)


@contextlib.asynccontextmanager
async def watch_one(conn_id: str, kind: str, namespace: str, name: str) -> AsyncIterator[Updates]:
    """Subscribe to one object through the connection's shared watch hub."""
    hook = _hook(conn_id)
    try:
        hub = await hook.watch_hub()
        async with hub.subscribe(_KINDS[kind], namespace, name) as sub:
            yield Updates(sub)
    finally:
        await hook.close()


async def job_logs(conn_id: str, namespace: str, status: RayJobStatus) -> str:
    """The driver log so far, through the dashboard's job API."""
    hook = _hook(conn_id)
    try:
        text = await hook.get_job_logs(status.ray_cluster_name, status.job_id, namespace=namespace)
        return str(text or "")
    finally:
        await hook.close()


async def cluster_problems(conn_id: str, namespace: str, cluster: str) -> list[str]:
    """One line per pod problem and warning event of a cluster that does not start."""
    if not cluster:
        return ["KubeRay has not created a RayCluster for the job yet"]
    hook = _hook(conn_id)
    try:
        diagnosis = await hook.diagnose_cluster(cluster, namespace=namespace)
    except Exception as exc:
        return [f"could not read the pods and events of {cluster}: {exc}"]
    finally:
        await hook.close()
    problems = [str(p) for p in diagnosis.problems]
    return problems or [diagnosis.summary()]


async def patch_annotations(
    conn_id: str, kind: str, namespace: str, name: str, annotations: Mapping[str, str]
) -> None:
    """Merge-patch annotations onto an object."""
    hook = _hook(conn_id)
    try:
        await hook.patch(
            _KINDS[kind], name, {"metadata": {"annotations": dict(annotations)}}, namespace=namespace
        )
    finally:
        await hook.close()


async def delete(conn_id: str, kind: str, namespace: str, name: str) -> bool:
    """Delete an object; ``False`` if it was gone already."""
    hook = _hook(conn_id)
    try:
        return bool(await hook.delete(_KINDS[kind], name, namespace=namespace))
    finally:
        await hook.close()


async def delete_rayjob_and_cluster(conn_id: str, namespace: str, name: str, *, log: Any = None) -> None:
    """Async twin of :func:`airflow_ray_k8s._lifecycle.jobs.delete_rayjob_and_cluster`."""
    from airflow_ray_k8s._lifecycle.jobs import owned_cluster

    hook = _hook(conn_id)
    try:
        obj = await hook.get_or_none(RAYJOB, name, namespace=namespace)
        if obj is None:
            return
        cluster = owned_cluster(obj)
        await hook.delete(RAYJOB, name, namespace=namespace)
        if cluster:
            await hook.delete(RAYCLUSTER, cluster, namespace=namespace)
        if log is not None:
            log.info(
                "Deleted RayJob %s/%s%s", namespace, name, f" and RayCluster {cluster}" if cluster else ""
            )
    finally:
        await hook.close()
