"""Retire the model ``example_ray_train_and_serve`` serves: delete its RayService.

Run it by hand (no schedule). Deleting the RayService deletes what KubeRay made for it (its
RayClusters, whose Ray heads stop, and the ``<name>-serve-svc`` / ``<name>-head-svc`` Services);
the task waits until the RayService is gone.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG
from ray_examples_common import SERVE_SERVICE

from airflow_ray_k8s.operators.rayservice import RayServiceDeleteOperator

with DAG(
    dag_id="example_ray_serve_retire",
    schedule=None,
    start_date=datetime(2026, 11, 1),
    tags=["ray", "example", "serve"],
) as dag:
    RayServiceDeleteOperator(task_id="delete_service", service_name=SERVE_SERVICE, deferrable=True)
