"""What the example DAGs share: where the Ray programs are, and the cluster specs they run on.

Plain dicts, not the provider's spec models: DAG files are parsed constantly and must stay cheap
to import (the operators validate the specs when a task runs).

Where the programs live differs per environment, so two environment variables say it:

- ``RAY_PROGRAMS_DIR``: the folder as the Ray head sees it. Default: ``ray_programs/`` next to this
  file, right for the local KubeRay, whose Ray heads run on the Airflow machine.
- ``RAY_PROGRAMS_HOSTPATH``: if set, a node folder mounted at ``RAY_PROGRAMS_DIR`` in every Ray pod
  (docker-compose's k3s node has ``./dags_examples/ray_programs`` there). On a real cluster, bake the
  programs into the Ray image instead, or mount them from a ConfigMap.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PROGRAMS_DIR = os.environ.get("RAY_PROGRAMS_DIR") or str(Path(__file__).resolve().parent / "ray_programs")
PROGRAMS_HOSTPATH = os.environ.get("RAY_PROGRAMS_HOSTPATH", "")
RAY_VERSION = "2.60.0"
RAY_IMAGE = f"rayproject/ray:{RAY_VERSION}-py311"
RAY_GPU_IMAGE = f"rayproject/ray:{RAY_VERSION}-py311-gpu"
LEARNING_RATES = (0.01, 0.1, 0.5)
#: The RayService ``example_ray_train_and_serve`` deploys and ``example_ray_serve_retire`` deletes.
SERVE_SERVICE = "linear-model"
#: Runtime env of the ``@task.ray`` examples: their functions import the shared code of
#: ``ray_programs/`` (``pipeline.py``), which the Ray head and workers see at ``PROGRAMS_DIR``.
PROGRAMS_ENV = {"env_vars": {"PYTHONPATH": PROGRAMS_DIR}}


def program(command: str) -> str:
    """The RayJob entrypoint running ``command`` (a program of ``ray_programs/`` and its arguments)."""
    return f"python {PROGRAMS_DIR}/{command}"


def _container(name: str, image: str, cpu: str, memory: str, gpu: int = 0) -> dict[str, Any]:
    limits: dict[str, Any] = {"cpu": cpu, "memory": memory}
    if gpu:
        limits["nvidia.com/gpu"] = gpu
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": limits},
    }
    if PROGRAMS_HOSTPATH:
        container["volumeMounts"] = [{"name": "ray-programs", "mountPath": PROGRAMS_DIR, "readOnly": True}]
    return container


def _pod(container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [container], **spec}
    if PROGRAMS_HOSTPATH:
        pod["volumes"] = [
            {"name": "ray-programs", "hostPath": {"path": PROGRAMS_HOSTPATH, "type": "Directory"}}
        ]
    return {"spec": pod}


def cpu_cluster(workers: int = 1) -> dict[str, Any]:
    """A RayCluster spec small enough for a laptop's k3s: a head that also runs tasks (2 logical
    CPUs on 1 CPU: the example programs are tiny) and ``workers`` 1-CPU workers."""
    return {
        "rayVersion": RAY_VERSION,
        "headGroupSpec": {
            "rayStartParams": {"num-cpus": "2"},
            "template": _pod(_container("ray-head", RAY_IMAGE, "1", "3Gi")),
        },
        "workerGroupSpecs": [
            {
                "groupName": "cpu",
                "replicas": workers,
                "minReplicas": workers,
                "maxReplicas": workers,
                "rayStartParams": {},
                "template": _pod(_container("ray-worker", RAY_IMAGE, "1", "3Gi")),
            }
        ],
    }


def gpu_cluster(gpus_per_worker: int = 1, workers: int = 1) -> dict[str, Any]:
    """A RayCluster spec with a CPU-only head and a GPU worker group pinned to GPU nodes."""
    gpu_nodes = {
        "nodeSelector": {"nvidia.com/gpu.present": "true"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }
    return {
        "rayVersion": RAY_VERSION,
        "headGroupSpec": {
            # No tasks on the head: the GPU workers do the work.
            "rayStartParams": {"num-cpus": "0"},
            "template": _pod(_container("ray-head", RAY_IMAGE, "2", "8Gi")),
        },
        "workerGroupSpecs": [
            {
                "groupName": "gpu",
                "replicas": workers,
                "minReplicas": workers,
                "maxReplicas": workers,
                "rayStartParams": {},
                "template": _pod(
                    _container("ray-worker", RAY_GPU_IMAGE, "8", "32Gi", gpu=gpus_per_worker), **gpu_nodes
                ),
            }
        ],
    }
