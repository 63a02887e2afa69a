"""The async Kubernetes calls of the waits, through one async hook and the shared watch hub.

One place that knows the hook's async API, so the waits read as logic. A :class:`KubeSession`
holds one :class:`~airflow_ray_k8s.hooks.kuberay.AsyncKubeRayHook` for a whole wait (opening one
costs a kubeconfig load and a new HTTP session, ~0.2 s, too slow to repeat per log fetch when a
1-second TTL races the final log read); the watch itself is the hub's (one stream per connection,
namespace and kind in the event loop, however many waits subscribe).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB, RAYSERVICE, Resource
from airflow_ray_k8s.status import RayJobStatus

_KINDS: dict[str, Resource] = {"rayjob": RAYJOB, "raycluster": RAYCLUSTER, "rayservice": RAYSERVICE}


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


class KubeSession:
    """The calls one wait makes, over one async hook (close it, or use ``async with``).

    :param conn_id: the Airflow connection.
    """

    def __init__(self, conn_id: str) -> None:
        from airflow_ray_k8s.hooks.kuberay import AsyncKubeRayHook

        self.hook = AsyncKubeRayHook(kuberay_conn_id=conn_id)

    async def __aenter__(self) -> KubeSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hook.close()

    @contextlib.asynccontextmanager
    async def watch_one(self, kind: str, namespace: str, name: str) -> AsyncIterator[Updates]:
        """Subscribe to one object through the connection's shared watch hub."""
        hub = await self.hook.watch_hub()
        async with hub.subscribe(_KINDS[kind], namespace, name) as sub:
            yield Updates(sub)

    async def job_logs(self, namespace: str, status: RayJobStatus) -> str:
        """The driver log so far, through the dashboard's job API."""
        text = await self.hook.get_job_logs(status.ray_cluster_name, status.job_id, namespace=namespace)
        return str(text or "")

    async def cluster_problems(self, namespace: str, cluster: str) -> list[str]:
        """One line per pod problem and warning event of a cluster that does not start."""
        if not cluster:
            return ["KubeRay has not created a RayCluster for the job yet"]
        try:
            diagnosis = await self.hook.diagnose_cluster(cluster, namespace=namespace)
        except Exception as exc:
            return [f"could not read the pods and events of {cluster}: {exc}"]
        problems = [str(p) for p in diagnosis.problems]
        return problems or [diagnosis.summary()]

    async def patch_annotations(
        self, kind: str, namespace: str, name: str, annotations: Mapping[str, str]
    ) -> None:
        """Merge-patch annotations onto an object."""
        patch = {"metadata": {"annotations": dict(annotations)}}
        await self.hook.patch(_KINDS[kind], name, patch, namespace=namespace)

    async def delete(self, kind: str, namespace: str, name: str) -> bool:
        """Delete an object; ``False`` if it was gone already."""
        return bool(await self.hook.delete(_KINDS[kind], name, namespace=namespace))

    async def delete_rayjob_and_cluster(self, namespace: str, name: str, *, log: Any = None) -> None:
        """Async twin of :func:`airflow_ray_k8s._lifecycle.jobs.delete_rayjob_and_cluster`."""
        from airflow_ray_k8s._lifecycle.jobs import owned_cluster

        obj = await self.hook.get_or_none(RAYJOB, name, namespace=namespace)
        if obj is None:
            return
        cluster = owned_cluster(obj)
        await self.hook.delete(RAYJOB, name, namespace=namespace)
        if cluster:
            await self.hook.delete(RAYCLUSTER, cluster, namespace=namespace)
        if log is not None:
            suffix = f" and RayCluster {cluster}" if cluster else ""
            log.info("Deleted RayJob %s/%s%s", namespace, name, suffix)
