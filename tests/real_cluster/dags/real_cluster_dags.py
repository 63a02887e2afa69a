"""DAGs of the real-cluster tests (``dag.test()`` runs DAGs of the bundle folder only).

Small clusters: a 1 CPU / 2Gi head that also runs the tasks, no workers. ``REAL_CLUSTER_RAY_IMAGE``
(set by the tests from ``--real-cluster-image``) picks the Ray image.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG

from airflow_ray_k8s.operators.raycluster import RayClusterCreateOperator, RayClusterDeleteOperator
from airflow_ray_k8s.operators.rayjob import RayJobOperator

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
ENTRYPOINT = (
    "python -c \"import ray; ray.init(); print('RESULT sum_of_squares=%d' % "
    'sum(ray.get([ray.remote(lambda x: x * x).remote(i) for i in range(10)])))"'
)


def small_cluster() -> dict[str, Any]:
    """A head-only cluster spec as a plain dict: DAG files stay cheap to parse (the operator validates
    it when the task runs; the builders are checked against the API server by the dry-run test)."""
    image = os.environ.get("REAL_CLUSTER_RAY_IMAGE") or "rayproject/ray:2.52.0"
    resources = {"cpu": "1", "memory": "2Gi"}
    head = {"name": "ray-head", "image": image, "resources": {"requests": resources, "limits": resources}}
    return {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [head]}}}}


with DAG("real_cluster_rayjob", schedule=None, start_date=START, catchup=False) as rayjob_dag:
    RayJobOperator(
        task_id="sum",
        entrypoint=ENTRYPOINT,
        ray_cluster_spec=small_cluster(),
        ttl_seconds_after_finished=30,
        deferrable=True,
        startup_timeout=900,
    )

with DAG("real_cluster_shared", schedule=None, start_date=START, catchup=False) as shared_dag:
    create = RayClusterCreateOperator(
        task_id="create", ray_cluster_spec=small_cluster(), deferrable=True, startup_timeout=900
    )
    cluster = "{{ ti.xcom_pull(task_ids='create')['name'] }}"
    job = RayJobOperator(task_id="sum", entrypoint=ENTRYPOINT, cluster_name=cluster, deferrable=True)
    delete = RayClusterDeleteOperator(task_id="delete", cluster_name=cluster)
    create >> job >> delete.as_teardown(setups=create)
