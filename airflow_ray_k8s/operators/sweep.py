"""Delete what dead tasks left behind: :class:`RayOrphanSweepOperator`.

Importing this module is cheap; the Kubernetes client and the sweep are imported in ``execute``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class RayOrphanSweepOperator(BaseOperator):
    """Delete the RayJobs and RayClusters the provider created whose task is gone.

    Every object the provider creates carries the ``app.kubernetes.io/managed-by=airflow-ray-k8s``
    label, the task instance's identity and an expiry annotation (the task's longest possible wait
    plus its TTL plus an hour). The sweep lists objects by that label in each namespace and deletes
    one when it is past its expiry *and* Airflow says its task instance is not running any more
    (finished, or gone with its DAG run). When Airflow cannot be asked, the annotation alone
    decides. An object the provider did not create is never deleted, whatever its labels say: its
    ``task-key`` label must be the hash of the identity its annotations name.

    Returns (XCom) a summary: ``orphans``, ``deleted``, ``kept``, ``errors``.

    :param kuberay_conn_id: Airflow connection of type ``kuberay``.
    :param namespaces: namespaces to sweep (each must pass the connection's allow-list); default:
        the connection's ``allowed_namespaces``, else its namespace. (templated)
    :param dry_run: log what would be deleted, delete nothing.
    :param ask_airflow: ask Airflow (through the Task SDK) whether each expired object's task
        instance still runs; ``False`` trusts the annotation alone.
    """

    template_fields: Sequence[str] = ("namespaces",)
    ui_color = "#f3e9e1"

    def __init__(
        self,
        *,
        kuberay_conn_id: str = "kuberay_default",
        namespaces: list[str] | None = None,
        dry_run: bool = False,
        ask_airflow: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(namespaces, str):
            raise ValueError(f"{self.task_id}: namespaces must be a list of names, not a string")
        self.kuberay_conn_id = kuberay_conn_id
        self.namespaces = namespaces
        # Not ``self.dry_run``: that is BaseOperator's method.
        self.report_only = dry_run
        self.ask_airflow = ask_airflow

    def execute(self, context: Context) -> dict[str, Any]:
        """Sweep once and log one line per object."""
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook
        from airflow_ray_k8s.sweep.run import sweep
        from airflow_ray_k8s.sweep.states import AnnotationOnly, TaskSdkStates

        states = TaskSdkStates() if self.ask_airflow else AnnotationOnly()
        hook = KubeRayHook(kuberay_conn_id=self.kuberay_conn_id)
        report = sweep(hook, namespaces=self.namespaces, states=states, dry_run=self.report_only)
        for line in report.lines():
            self.log.info("%s", line)
        return report.to_json()
