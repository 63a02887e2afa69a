"""A ready-made maintenance DAG that runs the orphan sweep on a schedule."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def orphan_sweep_dag(
    dag_id: str = "airflow_ray_k8s_orphan_sweep",
    *,
    schedule: str | timedelta = "@hourly",
    kuberay_conn_id: str = "kuberay_default",
    namespaces: list[str] | None = None,
    dry_run: bool = False,
    **dag_kwargs: Any,
) -> Any:
    """A DAG with one :class:`~airflow_ray_k8s.operators.sweep.RayOrphanSweepOperator` task.

    Put ``dag = orphan_sweep_dag()`` in a DAG file. No catch-up, one run at a time (a sweep
    covers everything, missed runs add nothing), a 10-minute timeout.

    :param dag_id: the DAG's id.
    :param schedule: how often to sweep.
    :param kuberay_conn_id: Airflow connection of type ``kuberay``.
    :param namespaces: namespaces to sweep (default: the connection's allowed namespaces).
    :param dry_run: only log what would be deleted.
    :param dag_kwargs: more ``DAG`` arguments (tags, default_args...).
    """
    from airflow.sdk import DAG

    from airflow_ray_k8s.operators.sweep import RayOrphanSweepOperator

    dag_kwargs.setdefault("start_date", datetime(2024, 1, 1))
    dag_kwargs.setdefault("tags", ["maintenance", "ray"])
    with DAG(
        dag_id,
        schedule=schedule,
        catchup=False,
        max_active_runs=1,
        doc_md="Deletes RayJobs / RayClusters whose Airflow task is gone (airflow-ray-k8s orphan sweep).",
        **dag_kwargs,
    ) as dag:
        RayOrphanSweepOperator(
            task_id="sweep",
            kuberay_conn_id=kuberay_conn_id,
            namespaces=namespaces,
            dry_run=dry_run,
            execution_timeout=timedelta(minutes=10),
            retries=0,
        )
    return dag
