"""Training on GPU workers: a CPU-only head and a worker group pinned to GPU nodes.

The worker group asks for ``nvidia.com/gpu`` in its limits, selects nodes labelled
``nvidia.com/gpu.present=true`` (set by NVIDIA's GPU operator / feature discovery) and tolerates the
usual ``nvidia.com/gpu`` taint; the driver reserves one GPU (``entrypoint_num_gpus``) so it lands on
a GPU worker. Adjust the selector to your cloud's label (GKE: ``cloud.google.com/gke-accelerator``;
EKS: ``k8s.amazonaws.com/accelerator``). Triggered by hand, not scheduled; the test suite validates
the spec against KubeRay's rules but does not run it (no GPU in CI).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG
from ray_examples_common import gpu_cluster, program

from airflow_ray_k8s.operators.rayjob import RayJobOperator

with DAG(
    dag_id="example_ray_gpu_train",
    schedule=None,
    start_date=datetime(2026, 11, 1),
    params={"lr": 0.1},
    tags=["ray", "example", "gpu"],
) as dag:
    RayJobOperator(
        task_id="train_on_gpu",
        entrypoint=program("pipeline.py train --ds {{ ds }} --lr {{ params.lr }} --workers 1"),
        ray_cluster_spec=gpu_cluster(gpus_per_worker=1, workers=1),
        entrypoint_num_gpus=1,
        startup_timeout=1800,  # GPU nodes are often scaled up on demand, and GPU images are large
        deferrable=True,
    )
