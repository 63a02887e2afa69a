"""What the delete operators share: delete one object by name (idempotent), then wait, inline or
deferred, until it is gone.

Cheap to import (operator modules import it at module level): the hook, the resources and the
triggers are imported when a task runs.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_ray_k8s._lifecycle.context import default_deferrable

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from airflow_ray_k8s.resources import Resource

DEFAULT_DELETE_TIMEOUT = 300.0


class DeleteAndWaitOperator(BaseOperator):
    """Delete one KubeRay object and wait until it is gone; an object that does not exist counts
    as deleted. Subclasses name the kind, the attribute holding the object's name, the resource
    and the trigger that waits for ``deleted``.

    :param namespace: Kubernetes namespace; default: the connection's. (templated)
    :param kuberay_conn_id: Airflow connection of type ``kuberay``.
    :param wait_for_deletion: wait until the object is gone.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param deletion_timeout: seconds the deletion may take.
    """

    #: The object's kind, for messages (``RayCluster``).
    kind: ClassVar[str] = ""
    #: The attribute holding the object's name (a template field of the subclass).
    name_attr: ClassVar[str] = ""
    #: Kubernetes' propagation policy of the delete.
    propagation_policy: ClassVar[str] = "Background"
    ui_color = "#fde8e8"

    def __init__(
        self,
        *,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        wait_for_deletion: bool = True,
        deferrable: bool | None = None,
        deletion_timeout: float = DEFAULT_DELETE_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if deletion_timeout is None or deletion_timeout <= 0:
            raise ValueError(f"{self.task_id}: deletion_timeout must be > 0")
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.wait_for_deletion = wait_for_deletion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.deletion_timeout = float(deletion_timeout)

    def resource(self) -> Resource:
        """The API resource of the object (imported lazily by the subclass)."""
        raise NotImplementedError

    def deletion_trigger(self, **kwargs: Any) -> BaseTrigger:
        """The trigger waiting for ``deleted`` with these arguments."""
        raise NotImplementedError

    def deleting(self, context: Context, namespace: str, obj: dict[str, Any]) -> None:
        """Called once this try's delete was accepted, with the object as it was (default: nothing)."""

    def execute(self, context: Context) -> None:
        """Delete the object (idempotent) and wait until it is gone."""
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_ray_k8s._lifecycle import jobs
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook

        name = str(getattr(self, self.name_attr) or "").strip()
        if not name:
            raise AirflowFailException(f"{self.task_id}: {self.name_attr} rendered empty")
        hook = KubeRayHook(kuberay_conn_id=self.kuberay_conn_id)
        namespace = jobs.resolve_namespace(hook, self.namespace)
        resource = self.resource()
        # Read first: a subclass may report on what this try's delete removes (metrics).
        existing = hook.get_or_none(resource, name, namespace=namespace)
        if hook.delete(resource, name, namespace=namespace, propagation_policy=self.propagation_policy):
            self.log.info("Deleting %s %s/%s", self.kind, namespace, name)
            if existing is not None:
                self.deleting(context, namespace, dict(existing))
        else:
            self.log.info("%s %s/%s does not exist (deleted already)", self.kind, namespace, name)
        if not self.wait_for_deletion or hook.get_or_none(resource, name, namespace=namespace) is None:
            return
        trigger = self.deletion_trigger(
            name=name,
            namespace=namespace,
            kuberay_conn_id=self.kuberay_conn_id,
            wait_for="deleted",
            deadline=time.time() + self.deletion_timeout,
        )
        if self.deferrable:
            self.defer(trigger=trigger, method_name="execute_complete")
        from airflow_ray_k8s._lifecycle.waits import run_inline

        self.execute_complete(context, run_inline(trigger))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        """Succeed when the object is gone."""
        from airflow_ray_k8s.exceptions import RayK8sError, WaitTimeoutError

        kind = event.get("status")
        where = f"{self.kind} {event.get('namespace')}/{event.get('name')}"
        if kind == "deleted":
            self.log.info("%s is gone", where)
            return
        if kind == "timeout":
            raise WaitTimeoutError(f"{where} still exists after {self.deletion_timeout:g} s")
        raise RayK8sError(f"Waiting for the deletion of {where} failed: {event.get('message')}")
