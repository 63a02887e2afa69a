"""Daily training on an ephemeral Ray cluster.

Each DAG run submits one RayJob that brings its own RayCluster; KubeRay deletes the cluster after
the job (the task deletes the RayJob too once it recorded the outcome and the driver log). The
run's date is templated into the entrypoint, so a backfill of seven days runs seven distinct jobs
on seven days of data::

    airflow dags backfill example_ray_daily_train --start-date 2026-11-01 --end-date 2026-11-07

The driver log (streamed into the task log) ends with
``RESULT program=train ds=<day> lr=0.1 ... w=... b=... train_mse=...``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG
from ray_examples_common import cpu_cluster, program

from airflow_ray_k8s.operators.rayjob import RayJobOperator

with DAG(
    dag_id="example_ray_daily_train",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=True,
    max_active_runs=2,  # each run asks Kubernetes for a whole cluster
    params={"lr": 0.1, "epochs": 100},
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    tags=["ray", "example"],
) as dag:
    RayJobOperator(
        task_id="train",
        entrypoint=program(
            "pipeline.py train --ds {{ ds }} --lr {{ params.lr }} --epochs {{ params.epochs }}"
        ),
        ray_cluster_spec=cpu_cluster(workers=1),
        ttl_seconds_after_finished=120,
        deferrable=True,
    )
