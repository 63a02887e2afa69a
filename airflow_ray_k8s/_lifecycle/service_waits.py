"""The wait for a RayService, written once (async) for its trigger and the non-deferrable path.

Like the RayJob and RayCluster waits it subscribes to the triggerer's shared watch (one stream
per connection, namespace and kind), here of RayServices; see
:class:`~airflow_ray_k8s.triggers.rayservice.RayServiceTrigger` for the events it fires.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_ray_k8s._lifecycle.object_wait import OneObjectWait

if TYPE_CHECKING:
    from airflow_ray_k8s._lifecycle.kube import KubeSession

#: What a RayService wait waits for.
WAIT_DEPLOYED = "deployed"
WAIT_HEALTHY = "healthy"
WAIT_DELETED = "deleted"
WAIT_TARGETS = (WAIT_DEPLOYED, WAIT_HEALTHY, WAIT_DELETED)


@dataclass
class RayServiceWait(OneObjectWait):
    """Wait for one RayService; see :class:`~airflow_ray_k8s.triggers.rayservice.RayServiceTrigger`."""

    conn_id: str
    namespace: str
    name: str
    wait_for: str = WAIT_DEPLOYED
    generation: int | None = None
    applications: list[str] = field(default_factory=list)
    deadline: float | None = None
    watch_kind: ClassVar[str] = "rayservice"

    def check(self, obj: dict[str, Any] | None) -> dict[str, Any] | None:
        """The event for this state of the object, or ``None`` to keep waiting."""
        from airflow_ray_k8s.service_status import RayServiceStatus

        if obj is None:
            if self.wait_for == WAIT_HEALTHY:
                return None  # a sensor may wait for a service someone else has yet to deploy
            return self._base("deleted" if self.wait_for == WAIT_DELETED else "missing")
        if self.wait_for == WAIT_DELETED:
            return None
        status = RayServiceStatus.from_object(obj)
        if self.wait_for == WAIT_HEALTHY:
            return self._base("healthy", service=status.to_json()) if self._healthy(status) else None
        if self.generation is not None and (status.observed_generation or 0) < self.generation:
            return None  # KubeRay has not seen the spec this task wrote yet
        reason = status.final_failure
        if reason:
            return self._base("failed", service=status.to_json(), message=reason)
        failed = status.failed_applications
        if failed:
            where = "the new (pending) cluster" if status.pending.cluster_name else "the cluster"
            apps = "; ".join(a.describe() for a in failed)
            return self._base(
                "failed", service=status.to_json(), message=f"Serve applications on {where}: {apps}"
            )
        if status.is_ready and self._healthy(status):
            return self._base("deployed", service=status.to_json())
        return None

    def _healthy(self, status: Any) -> bool:
        """The wanted applications (all, if none is named) run healthy on the active cluster."""
        apps = status.active.applications
        if not status.active.cluster_name or not apps:
            return False
        wanted = self.applications or [a.name for a in apps]
        found = {a.name: a for a in apps}
        return all(name in found and found[name].is_healthy for name in wanted)

    async def timed_out(self, kube: KubeSession, obj: dict[str, Any] | None) -> dict[str, Any]:
        """The timeout event, with the last status seen (the stall's evidence)."""
        from airflow_ray_k8s.service_status import RayServiceStatus

        service = RayServiceStatus.from_object(obj).to_json() if obj is not None else None
        return self._base("timeout", service=service)
