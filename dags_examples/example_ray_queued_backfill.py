"""A daily RayJob pipeline whose backfills go through a Kueue LocalQueue.

Each interval's training job asks for a whole cluster. A backfill of a year would ask for 365 at
once; here every RayJob is labelled ``kueue.x-k8s.io/queue-name: ray-backfill`` and created
suspended, and Kueue admits as many as the queue's ClusterQueue has quota for (the rest wait, with
no cluster and no Airflow worker slot: the tasks are deferred). Airflow lets up to 30 intervals be
in flight at once; the queue, not Airflow, decides how many clusters exist::

    airflow backfill create --dag-id example_ray_queued_backfill \\
        --from-date 2026-10-01 --to-date 2026-10-30 --max-active-runs 30

The start-up timeout counts from admission, so a job waiting an hour in the queue does not fail;
the task log says how long it has been queued and when it was admitted. docs/queueing.md shows the
ClusterQueue and LocalQueue to create, and the local KubeRay runs it with
``--local-queue ray-backfill=2``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG
from ray_examples_common import cpu_cluster, program

from airflow_ray_k8s.operators.rayjob import RayJobOperator

#: The Kueue LocalQueue (in the RayJobs' namespace) that admits the backfill's clusters.
QUEUE = "ray-backfill"

with DAG(
    dag_id="example_ray_queued_backfill",
    schedule="@daily",
    start_date=datetime(2026, 10, 1),
    catchup=True,
    # Kueue throttles: Airflow may hand it many intervals at once, each waiting deferred.
    max_active_runs=30,
    params={"lr": 0.1, "epochs": 100},
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    tags=["ray", "example", "kueue"],
) as dag:
    RayJobOperator(
        task_id="train",
        entrypoint=program(
            "pipeline.py train --ds {{ ds }} --lr {{ params.lr }} --epochs {{ params.epochs }}"
        ),
        ray_cluster_spec=cpu_cluster(workers=0),
        queue_name=QUEUE,
        # Backfill work yields to the day's scheduled runs (a WorkloadPriorityClass of that name).
        priority_class="backfill",
        # Says which interval the job is for, on the RayJob itself (kubectl get rayjobs -L ...).
        job_labels={"example.airflow-ray-k8s.io/ds": "{{ ds }}"},
        # Counted from Kueue's admission, not from the RayJob's creation.
        startup_timeout=600,
        ttl_seconds_after_finished=60,
        deferrable=True,
    )
