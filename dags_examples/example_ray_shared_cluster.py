"""A shared Ray cluster: set up once, used by several jobs, torn down even if a job fails.

``create_cluster`` (setup) starts one RayCluster; ``preprocess`` runs a ray.data step on it;
``train`` is mapped over learning rates, one RayJob each, all on the warm cluster; ``evaluate``
compares the learning rates on the validation split; ``delete_cluster`` is the teardown of
``create_cluster``, so it runs, and deletes the cluster, whatever happened in between.

Driver logs end with ``RESULT program=preprocess ...``, ``RESULT program=train ... lr=<lr> ...``
(one per mapped task) and ``RESULT program=evaluate ... best_lr=... val_mse=...``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG
from ray_examples_common import LEARNING_RATES, cpu_cluster, program

from airflow_ray_k8s.operators.raycluster import RayClusterCreateOperator, RayClusterDeleteOperator
from airflow_ray_k8s.operators.rayjob import RayJobOperator

with DAG(
    dag_id="example_ray_shared_cluster",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    tags=["ray", "example"],
) as dag:
    create = RayClusterCreateOperator(
        task_id="create_cluster", ray_cluster_spec=cpu_cluster(workers=2), deferrable=True
    )
    # The name create_cluster returned (derived from the DAG run, the same for every try).
    cluster = "{{ ti.xcom_pull(task_ids='create_cluster')['name'] }}"

    preprocess = RayJobOperator(
        task_id="preprocess",
        entrypoint=program("pipeline.py preprocess --ds {{ ds }}"),
        cluster_name=cluster,
        deferrable=True,
    )
    train = RayJobOperator.partial(task_id="train", cluster_name=cluster, deferrable=True).expand(
        entrypoint=[program(f"pipeline.py train --ds {{{{ ds }}}} --lr {lr}") for lr in LEARNING_RATES]
    )
    evaluate = RayJobOperator(
        task_id="evaluate",
        entrypoint=program(
            "pipeline.py evaluate --ds {{ ds }} --lrs " + ",".join(str(lr) for lr in LEARNING_RATES)
        ),
        cluster_name=cluster,
        deferrable=True,
    )
    delete = RayClusterDeleteOperator(task_id="delete_cluster", cluster_name=cluster)

    create >> preprocess >> train >> evaluate >> delete.as_teardown(setups=create)
