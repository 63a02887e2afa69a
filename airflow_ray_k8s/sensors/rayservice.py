"""Wait until a RayService serves healthy applications: :class:`RayServiceSensor` (cheap to import)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_ray_k8s._lifecycle.context import default_deferrable
from airflow_ray_k8s._lifecycle.sensing import WatchingSensor

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger


class RayServiceSensor(WatchingSensor):
    """Wait until the Serve applications of a RayService are ``RUNNING`` with ``HEALTHY`` deployments
    on its active cluster (e.g. before a batch job calls the model).

    A RayService that does not exist yet is waited for. Works in ``poke`` and ``reschedule`` mode,
    or deferrable (a watch in the triggerer).

    :param service_name: the RayService. (templated)
    :param namespace: its namespace; default: the connection's. (templated)
    :param kuberay_conn_id: Airflow connection of type ``kuberay``.
    :param applications: the applications to check (default: every one the status lists).
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = ("service_name", "namespace")
    ui_color = "#e8fdf0"

    def __init__(
        self,
        *,
        service_name: str,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        applications: list[str] | None = None,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.service_name = service_name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.applications = list(applications or [])
        self.deferrable = default_deferrable() if deferrable is None else deferrable

    def _wait(self, namespace: str) -> Any:
        from airflow_ray_k8s._lifecycle.service_waits import RayServiceWait

        return RayServiceWait(
            conn_id=self.kuberay_conn_id,
            namespace=namespace,
            name=self.service_name,
            wait_for="healthy",
            applications=self.applications,
        )

    def poke(self, context: Context) -> bool:
        """Read the RayService's status once."""
        from airflow_ray_k8s._lifecycle.jobs import resolve_namespace
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook
        from airflow_ray_k8s.resources import RAYSERVICE
        from airflow_ray_k8s.service_status import RayServiceStatus

        hook = KubeRayHook(kuberay_conn_id=self.kuberay_conn_id)
        namespace = resolve_namespace(hook, self.namespace)
        obj = hook.get_or_none(RAYSERVICE, self.service_name, namespace=namespace)
        if obj is None:
            self.log.info("RayService %s does not exist (yet)", self.service_name)
            return False
        self.log.info("RayService %s: %s", self.service_name, RayServiceStatus.from_object(obj).describe())
        return self._wait(namespace).check(obj) is not None

    def deferral_trigger(self, namespace: str) -> BaseTrigger:
        """A :class:`~airflow_ray_k8s.triggers.rayservice.RayServiceTrigger` for healthy applications."""
        from airflow_ray_k8s.triggers.rayservice import RayServiceTrigger

        return RayServiceTrigger(
            name=self.service_name,
            namespace=namespace,
            kuberay_conn_id=self.kuberay_conn_id,
            wait_for="healthy",
            applications=self.applications,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        """Succeed when the trigger saw the applications healthy."""
        from airflow_ray_k8s.exceptions import RayK8sError

        if event.get("status") == "healthy":
            return
        where = f"{event.get('namespace')}/{event.get('name')}"
        raise RayK8sError(f"Waiting for RayService {where} to serve failed: {event.get('message')}")
