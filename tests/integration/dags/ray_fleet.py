"""Test DAGs of running the provider as a fleet: the orphan sweep as Airflow runs it, Kueue queueing."""

from __future__ import annotations

import copy

from airflow.providers.standard.operators.empty import EmptyOperator
from dag_common import CLUSTER, FAST, _dag, scripted

from airflow_ray_k8s.operators.raycluster import RayClusterCreateOperator, RayClusterDeleteOperator
from airflow_ray_k8s.operators.rayjob import RayJobOperator
from airflow_ray_k8s.sweep.dag import orphan_sweep_dag

# The maintenance DAG as users get it, plus a task before the sweep whose state it then reads.
ray_fleet_sweep = orphan_sweep_dag("ray_fleet_sweep", schedule=None)
with ray_fleet_sweep:
    EmptyOperator(task_id="done") >> ray_fleet_sweep.task_dict["sweep"]


# --- metrics: what a finished job and a shared cluster send through Airflow's metrics -------------
# A head (2 CPU, 4 GiB) and one GPU worker (1 CPU, 1 GiB, 1 GPU): KubeRay's desired resources are
# 3 CPU, 5 GiB, 1 GPU, which the resource counters multiply by the time held.
def _with_resources(spec: dict, **limits: str) -> dict:  # type: ignore[type-arg]
    """A pod template of ``CLUSTER``'s head with other resource limits."""
    template = copy.deepcopy(spec["headGroupSpec"]["template"])
    template["spec"]["containers"][0]["resources"] = {"limits": limits}
    return template  # type: ignore[no-any-return]


METRICS_CLUSTER = {
    **CLUSTER,
    "headGroupSpec": {"rayStartParams": {}, "template": _with_resources(CLUSTER, cpu="2", memory="4Gi")},
    "workerGroupSpecs": [
        {
            "groupName": "gpu",
            "replicas": 1,
            "minReplicas": 1,
            "maxReplicas": 1,
            "rayStartParams": {},
            "template": _with_resources(CLUSTER, cpu="1", memory="1Gi", **{"nvidia.com/gpu": "1"}),
        }
    ],
}
#: How long the scripted training job runs (seconds): the run metric must say so.
METRICS_RUN_SECONDS = 1.5

with _dag("ray_fleet_metrics") as ray_fleet_metrics:
    train = RayJobOperator(
        task_id="train",
        # Sleeps as long as the scripted job lasts: the same figures on real Ray heads.
        entrypoint=f"python -c 'import time; time.sleep({METRICS_RUN_SECONDS})'",
        ray_cluster_spec=METRICS_CLUSTER,
        job_annotations=scripted("SUCCEEDED", METRICS_RUN_SECONDS),
        deferrable=True,
        **FAST,
    )
    boom = RayJobOperator(
        task_id="boom",
        entrypoint="python -c 'raise SystemExit(3)'",
        ray_cluster_spec=CLUSTER,
        job_annotations=scripted("FAILED", 0.2),
        deferrable=True,
        retries=0,
        **FAST,
    )
    shared = RayClusterCreateOperator(task_id="create_cluster", ray_cluster_spec=CLUSTER, deferrable=True)
    teardown = RayClusterDeleteOperator(
        task_id="delete_cluster", cluster_name=shared.output["name"], deferrable=False
    )
    shared >> teardown.as_teardown(setups=shared)

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
