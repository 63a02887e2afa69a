"""Wait for a RayCluster condition: :class:`RayClusterSensor` (cheap to import)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_ray_k8s._lifecycle.context import default_deferrable
from airflow_ray_k8s._lifecycle.sensing import WatchingSensor

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger


class RayClusterSensor(WatchingSensor):
    """Wait until a condition of a RayCluster becomes true (e.g. ``HeadPodReady``).

    A cluster that does not exist yet is waited for. Works in ``poke`` and ``reschedule`` mode, or
    deferrable (a watch in the triggerer).

    :param cluster_name: the RayCluster. (templated)
    :param namespace: its namespace; default: the connection's. (templated)
    :param kuberay_conn_id: Airflow connection of type ``kuberay``.
    :param condition_type: ``RayClusterProvisioned`` (default), ``HeadPodReady``, ``ReplicaFailure``,
        ``RayClusterSuspended``...
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = ("cluster_name", "namespace", "condition_type")
    ui_color = "#e8f1fd"

    def __init__(
        self,
        *,
        cluster_name: str,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        condition_type: str = "RayClusterProvisioned",
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not condition_type:
            raise ValueError(f"{self.task_id}: condition_type must not be empty")
        self.cluster_name = cluster_name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.condition_type = condition_type
        self.deferrable = default_deferrable() if deferrable is None else deferrable

    def poke(self, context: Context) -> bool:
        """Read the cluster's conditions once."""
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook
        from airflow_ray_k8s.resources import RAYCLUSTER
        from airflow_ray_k8s.status import RayClusterStatus

        hook = KubeRayHook(kuberay_conn_id=self.kuberay_conn_id)
        obj = hook.get_or_none(RAYCLUSTER, self.cluster_name, namespace=self.namespace)
        if obj is None:
            self.log.info("RayCluster %s does not exist (yet)", self.cluster_name)
            return False
        cond = RayClusterStatus.from_object(obj).condition(self.condition_type)
        state = "unset" if cond is None else f"{cond.status} ({cond.reason})"
        self.log.info("RayCluster %s: %s is %s", self.cluster_name, self.condition_type, state)
        return cond is not None and cond.is_true

    def deferral_trigger(self, namespace: str) -> BaseTrigger:
        """A :class:`~airflow_ray_k8s.triggers.raycluster.RayClusterTrigger` for the condition."""
        from airflow_ray_k8s.triggers.raycluster import RayClusterTrigger

        return RayClusterTrigger(
            name=self.cluster_name,
            namespace=namespace,
            kuberay_conn_id=self.kuberay_conn_id,
            wait_for="condition",
            condition_type=self.condition_type,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        """Succeed when the trigger saw the condition true."""
        from airflow_ray_k8s.exceptions import RayK8sError

        if event.get("status") == "condition":
            return
        where = f"{event.get('namespace')}/{event.get('name')}"
        raise RayK8sError(
            f"Waiting for {self.condition_type} on RayCluster {where} failed: {event.get('message')}"
        )
