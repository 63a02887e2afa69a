"""What the RayJob, RayCluster and RayService sensors share: poke once, then, when deferrable and not done,
wait in the triggerer on the shared watch (cheap to import: sensor modules import it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger


class WatchingSensor(BaseSensorOperator):
    """A sensor that pokes in ``poke`` / ``reschedule`` mode, or defers to a watch-based trigger.

    Subclasses set ``deferrable`` and ``kuberay_conn_id`` / ``namespace`` and implement ``poke``
    and :meth:`deferral_trigger`.
    """

    deferrable: bool
    kuberay_conn_id: str
    namespace: str | None

    def deferral_trigger(self, namespace: str) -> BaseTrigger:
        """The trigger that fires when the sensed state is reached, in ``namespace``."""
        raise NotImplementedError

    def execute(self, context: Context) -> Any:
        """Poke once; if not done and deferrable, wait in the triggerer."""
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        from datetime import timedelta

        from airflow_ray_k8s._lifecycle.jobs import resolve_namespace
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook

        namespace = resolve_namespace(KubeRayHook(kuberay_conn_id=self.kuberay_conn_id), self.namespace)
        self.defer(
            trigger=self.deferral_trigger(namespace),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )
