"""Wait for a RayJob submitted by anyone: :class:`RayJobSensor` (cheap to import)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_ray_k8s._lifecycle.context import default_deferrable
from airflow_ray_k8s._lifecycle.sensing import WatchingSensor

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger


class RayJobSensor(WatchingSensor):
    """Wait until a RayJob's deployment is terminal; succeed if its Ray job status is accepted.

    Works in ``poke`` and ``reschedule`` mode, or deferrable (a watch in the triggerer). A RayJob
    that ends in a status outside ``success_statuses`` fails the sensor with KubeRay's reason and
    message; ``ValidationFailed`` fails it without retry.

    :param rayjob_name: the RayJob to wait for. (templated)
    :param namespace: its namespace; default: the connection's. (templated)
    :param kuberay_conn_id: Airflow connection of type ``kuberay``.
    :param success_statuses: Ray job statuses (``status.jobStatus``) that count as success.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = ("rayjob_name", "namespace")
    ui_color = "#e8f1fd"

    def __init__(
        self,
        *,
        rayjob_name: str,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        success_statuses: Sequence[str] = ("SUCCEEDED",),
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not success_statuses:
            raise ValueError(f"{self.task_id}: success_statuses must not be empty")
        self.rayjob_name = rayjob_name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.success_statuses = tuple(success_statuses)
        self.deferrable = default_deferrable() if deferrable is None else deferrable

    def _judge(self, status: Any) -> bool:
        """``True`` on an accepted terminal status, ``False`` while running; raise on a rejected one."""
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_ray_k8s._lifecycle.explain import job_failure
        from airflow_ray_k8s.exceptions import RayJobFailedError

        if not status.is_terminal:
            self.log.info("RayJob %s/%s is %s", status.namespace, status.name, status.phase)
            return False
        if status.job_status in self.success_statuses and not status.is_validation_failed:
            self.log.info("RayJob %s/%s ended %s", status.namespace, status.name, status.phase)
            return True
        message = job_failure(status, [])
        if status.is_validation_failed:
            raise AirflowFailException(message)
        raise RayJobFailedError(message, {"job": status.to_json()})

    def poke(self, context: Context) -> bool:
        """Read the RayJob's status once."""
        from airflow_ray_k8s.exceptions import KubeNotFoundError
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook
        from airflow_ray_k8s.resources import RAYJOB
        from airflow_ray_k8s.status import RayJobStatus

        hook = KubeRayHook(kuberay_conn_id=self.kuberay_conn_id)
        try:
            obj = hook.get(RAYJOB, self.rayjob_name, namespace=self.namespace)
        except KubeNotFoundError:
            self.log.info("RayJob %s does not exist (yet)", self.rayjob_name)
            return False
        return self._judge(RayJobStatus.from_object(obj))

    def deferral_trigger(self, namespace: str) -> BaseTrigger:
        """A :class:`~airflow_ray_k8s.triggers.rayjob.RayJobTrigger` that waits for the RayJob to
        exist and end; a sensor never deletes what it watches, nor streams its log."""
        from airflow_ray_k8s.triggers.rayjob import RayJobTrigger

        return RayJobTrigger(
            name=self.rayjob_name,
            namespace=namespace,
            kuberay_conn_id=self.kuberay_conn_id,
            get_logs=False,
            delete_on_kill=False,
            wait_for_creation=True,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        """Judge the status the trigger reported."""
        from airflow_ray_k8s.exceptions import RayJobFailedError, RayK8sError
        from airflow_ray_k8s.status import RayJobStatus

        kind = event.get("status")
        if kind == "terminal":
            self._judge(RayJobStatus.from_json(event.get("job") or {}))
            return
        where = f"{event.get('namespace')}/{event.get('name')}"
        if kind == "deleted":
            raise RayJobFailedError(f"RayJob {where} was deleted before it finished", event)
        raise RayK8sError(f"Waiting for RayJob {where} failed: {event.get('message')}")
