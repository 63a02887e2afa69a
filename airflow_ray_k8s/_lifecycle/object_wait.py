"""The loop the waits on one object share: subscribe to the shared watch of its kind, judge every
version of the object until one settles the wait or the deadline passes.

The RayCluster and RayService waits (``waits.RayClusterWait``, ``service_waits.RayServiceWait``)
differ only in how they judge an object and what a timeout reports; both run in a trigger (the
triggerer's loop) and, through ``run_inline``, in a non-deferrable operator.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from airflow_ray_k8s._lifecycle.kube import KubeSession


class OneObjectWait:
    """Base of a wait on one named object (subclasses are dataclasses holding these fields)."""

    #: The watch hub's kind (``raycluster``, ``rayservice``).
    watch_kind: ClassVar[str] = ""
    conn_id: str
    namespace: str
    name: str
    deadline: float | None

    def _base(self, status: str, **extra: Any) -> dict[str, Any]:
        # observed_at: when the wait saw the outcome, for the start-up metric (the task may resume later).
        return {
            "status": status, "name": self.name, "namespace": self.namespace,
            "observed_at": time.time(), **extra,
        }  # fmt: skip

    def check(self, obj: dict[str, Any] | None) -> dict[str, Any] | None:
        """The event for this version of the object (``None``: gone), or ``None`` to keep waiting."""
        raise NotImplementedError

    def holds(self, obj: dict[str, Any] | None) -> bool:
        """Whether someone else holds the object back for now (Kueue keeps it suspended): the wait
        then waits for the next version without a deadline. Default: never."""
        return False

    async def timed_out(self, kube: KubeSession, obj: dict[str, Any] | None) -> dict[str, Any]:
        """The event when the deadline passes, with ``obj`` the last version seen."""
        raise NotImplementedError

    async def run(self) -> dict[str, Any]:
        """Return the event payload (``{"status": ..., ...}``); an error is an ``error`` event."""
        from airflow_ray_k8s._lifecycle.kube import KubeSession

        try:
            async with (
                KubeSession(self.conn_id) as kube,
                kube.watch_one(self.watch_kind, self.namespace, self.name) as updates,
            ):
                obj: dict[str, Any] | None = await updates.current()
                while True:
                    event = self.check(obj)
                    if event is not None:
                        return event
                    if self.holds(obj):
                        obj = await updates.next(timeout=None)
                        continue
                    if self.deadline is not None and time.time() >= self.deadline:
                        return await self.timed_out(kube, obj)
                    timeout = None if self.deadline is None else max(self.deadline - time.time(), 0.05)
                    obj = await updates.next(timeout=timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return self._base("error", message=str(exc))
