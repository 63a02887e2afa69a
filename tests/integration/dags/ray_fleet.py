"""Test DAGs of running the provider as a fleet: the orphan sweep as Airflow runs it, Kueue queueing."""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from dag_common import CLUSTER, FAST, _dag, scripted

from airflow_ray_k8s.operators.rayjob import RayJobOperator
from airflow_ray_k8s.sweep.dag import orphan_sweep_dag

# The maintenance DAG as users get it, plus a task before the sweep whose state it then reads.
ray_fleet_sweep = orphan_sweep_dag("ray_fleet_sweep", schedule=None)
with ray_fleet_sweep:
    EmptyOperator(task_id="done") >> ray_fleet_sweep.task_dict["sweep"]

# --- Kueue: a RayJob that waits in a LocalQueue longer than its start-up timeout ------------------------
# The test fills the 1-slot LocalQueue "q" first; the task's job is then held (suspended) until that
# one is done. Its startup_timeout (2 s) would fire if counted from the RayJob's creation.
with _dag("ray_queued") as ray_queued:
    RayJobOperator(
        task_id="queued",
        entrypoint="python -c 'print(1)'",
        ray_cluster_spec=CLUSTER,
        queue_name="q",
        priority_class="batch-low",
        deferrable=True,
        job_annotations=scripted("SUCCEEDED", 0.3),
        **{**FAST, "startup_timeout": 2, "ttl_seconds_after_finished": 0},
    )
