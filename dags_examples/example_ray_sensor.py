"""Wait for a RayJob that something outside Airflow submitted, then carry on.

Another team's pipeline, a CI job or ``kubectl apply -f dags_examples/external_rayjob.yaml``
creates the RayJob; this DAG waits for it in the triggerer (no worker slot held), succeeds when the
Ray job SUCCEEDED and fails with KubeRay's reason and message otherwise. The RayJob's name is a
DAG param, ``external-sum-of-squares`` by default (the name in ``external_rayjob.yaml``).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_ray_k8s.sensors.rayjob import RayJobSensor

with DAG(
    dag_id="example_ray_sensor",
    schedule=None,
    start_date=datetime(2026, 11, 1),
    params={"rayjob_name": "external-sum-of-squares"},
    tags=["ray", "example"],
) as dag:
    wait = RayJobSensor(
        task_id="wait_for_rayjob",
        rayjob_name="{{ params.rayjob_name }}",
        deferrable=True,
        poke_interval=10,
        timeout=3600,
    )

    @task
    def report(**context: object) -> str:
        """Stand-in for the downstream work that needed the job's output."""
        return f"RayJob {context['params']['rayjob_name']} finished"  # type: ignore[index]

    wait >> report()
