"""Test DAGs of running the provider as a fleet: the orphan sweep as Airflow runs it."""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator

from airflow_ray_k8s.sweep.dag import orphan_sweep_dag

# The maintenance DAG as users get it, plus a task before the sweep whose state it then reads.
ray_fleet_sweep = orphan_sweep_dag("ray_fleet_sweep", schedule=None)
with ray_fleet_sweep:
    EmptyOperator(task_id="done") >> ray_fleet_sweep.task_dict["sweep"]
