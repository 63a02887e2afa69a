"""DAGs run by ``tests/integration/airflow`` (``dag.test()``) against the local KubeRay.

One DAG per scenario of the operators' issue. Kept small and fast: short TTLs, head-only clusters,
jobs that take about a second. The same DAGs run on real Ray heads and on the emulator's no-Ray
(scripted) mode: the ``emulator.airflow-ray-k8s.io/*`` annotations script the outcome the real
entrypoint produces, and the real controller ignores them.
"""

from __future__ import annotations

from datetime import timedelta

from dag_common import (  # re-exported: the tests read them from this module
    CLUSTER,
    FAILURES,
    FAST,
    SCRIPTED,
    TTL,
    _dag,
    _record_failure,
    scripted,
)

from airflow_ray_k8s.operators.raycluster import RayClusterCreateOperator, RayClusterDeleteOperator
from airflow_ray_k8s.operators.rayjob import RayJobOperator
from airflow_ray_k8s.sensors.raycluster import RayClusterSensor
from airflow_ray_k8s.sensors.rayjob import RayJobSensor

__all__ = ["CLUSTER", "FAILURES", "FAST", "SCRIPTED", "TTL", "scripted"]

PRINT_DS = "python -c \"import os; print('ds=' + os.environ['DAY']); print('driver-done')\""

# --- ephemeral cluster success, not deferrable then deferrable ----------------------------------------
with _dag("ray_success") as ray_success:
    sync_job = RayJobOperator(
        task_id="sync",
        entrypoint=PRINT_DS,
        runtime_env={"env_vars": {"DAY": "{{ ds }}"}},
        ray_cluster_spec=CLUSTER,
        deferrable=False,
        **FAST,
    )
    deferred_job = RayJobOperator(
        task_id="deferred",
        entrypoint=PRINT_DS,
        runtime_env={"env_vars": {"DAY": "{{ ds }}"}},
        ray_cluster_spec=CLUSTER,
        deferrable=True,
        **FAST,
    )
    sync_job >> deferred_job

# --- failure with reason and log tail -----------------------------------------------------------------
with _dag("ray_failure") as ray_failure:
    RayJobOperator(
        task_id="boom",
        entrypoint="python -c \"print('before-the-crash'); raise SystemExit('exit-marker-42')\"",
        ray_cluster_spec=CLUSTER,
        job_annotations=scripted("FAILED"),
        deferrable=True,
        on_failure_callback=_record_failure,
        **FAST,
    )

# --- a spec KubeRay rejects: no retry, nothing submitted -----------------------------------------------
with _dag("ray_invalid") as ray_invalid:
    RayJobOperator(
        task_id="invalid",
        entrypoint="python -c 'print(1)'",
        ray_cluster_spec=CLUSTER,
        shutdown_after_job_finishes=False,
        ttl_seconds_after_finished=30,  # KubeRay: needs shutdownAfterJobFinishes -> ValidationFailed
        retries=2,
        retry_delay=timedelta(seconds=0),
        on_failure_callback=_record_failure,
    )

# --- a sensor on a RayJob someone else submitted and KubeRay rejected ------------------------------------
with _dag("ray_sensor_validation_failed") as ray_sensor_validation_failed:
    RayJobSensor(
        task_id="watch",
        rayjob_name="external-invalid",
        deferrable=True,
        retries=2,
        retry_delay=timedelta(seconds=0),
        timeout=60,
        on_failure_callback=_record_failure,
    )

# --- a cluster that never starts ------------------------------------------------------------------------
with _dag("ray_stall") as ray_stall:
    RayJobOperator(
        task_id="stall",
        entrypoint="python -c 'print(1)'",
        ray_cluster_spec=CLUSTER,
        job_annotations={SCRIPTED + "head-fault": "ImagePullBackOff"},
        deferrable=True,
        startup_timeout=4,
        ttl_seconds_after_finished=TTL,
        on_failure_callback=_record_failure,
    )

# The same stall for real: the real control plane's node has Ray images only, so an image of a private
# registry fails to pull (ErrImagePull, then ImagePullBackOff) as it would on a node without access.
UNPULLABLE = {
    **CLUSTER,
    "headGroupSpec": {
        "rayStartParams": {},
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "ray-head",
                        "image": "registry.example.invalid/ml-team/ray-custom:2.52.0",
                        "resources": {"limits": {"cpu": "1", "memory": "2Gi"}},
                    }
                ]
            }
        },
    },
}
with _dag("ray_stall_unpullable") as ray_stall_unpullable:
    RayJobOperator(
        task_id="stall",
        entrypoint="python -c 'print(1)'",
        ray_cluster_spec=UNPULLABLE,
        deferrable=True,
        startup_timeout=4,
        ttl_seconds_after_finished=TTL,
        on_failure_callback=_record_failure,
    )

# --- retry cases -------------------------------------------------------------------------------------
# (a) and (d): the first try runs in a subprocess that the test kills; the second re-attaches/adopts.
with _dag("ray_worker_dies") as ray_worker_dies:
    RayJobOperator(
        task_id="long",
        # Long enough that the retry (a) finds it still running.
        entrypoint="python -c \"import time; print('started'); time.sleep(15); print('slept')\"",
        ray_cluster_spec=CLUSTER,
        job_annotations=scripted(seconds=15),
        deferrable=False,
        retries=1,
        retry_delay=timedelta(seconds=0),
        **FAST,
    )

# (b): the job fails on the first try and succeeds on the second.
with _dag("ray_retry_after_failure") as ray_retry_after_failure:
    RayJobOperator(
        task_id="flaky",
        entrypoint="python -c \"import os, sys; t = os.environ['TRY']; print('try', t); sys.exit(t != '2')\"",
        runtime_env={"env_vars": {"TRY": "{{ ti.try_number }}"}},
        job_annotations=scripted("{{ 'SUCCEEDED' if ti.try_number == 2 else 'FAILED' }}"),
        ray_cluster_spec=CLUSTER,
        deferrable=True,
        retries=1,
        retry_delay=timedelta(seconds=0),
        **FAST,
    )

# (c): cleared after success (the test runs the same DAG run twice).
with _dag("ray_cleared") as ray_cleared:
    RayJobOperator(
        task_id="again",
        entrypoint="python -c \"print('ran')\"",
        ray_cluster_spec=CLUSTER,
        deferrable=False,
        on_finish_action="keep",
        **FAST,
    )

# --- setup / teardown around a mapped job over three parameter sets and a failing task -----------------
with _dag("ray_shared_cluster") as ray_shared_cluster:
    create = RayClusterCreateOperator(
        task_id="create_cluster", ray_cluster_spec=CLUSTER, startup_timeout=200, deferrable=True
    )
    mapped = RayJobOperator.partial(
        task_id="mapped",
        cluster_name=create.output["name"],
        deferrable=True,
        log_interval=0.5,
    ).expand(entrypoint=[f"python -c \"print('param', {n})\"" for n in (1, 2, 3)])
    broken = RayJobOperator(
        task_id="broken",
        entrypoint='python -c "raise SystemExit(1)"',
        job_annotations=scripted("FAILED"),
        cluster_name=create.output["name"],
        deferrable=False,
        log_interval=0.5,
    )
    delete = RayClusterDeleteOperator(task_id="delete_cluster", cluster_name=create.output["name"])
    create >> [mapped, broken] >> delete.as_teardown(setups=create)

# --- a daily DAG run for three data intervals -----------------------------------------------------------
with _dag("ray_backfill", schedule="@daily") as ray_backfill:
    RayJobOperator(
        task_id="daily",
        entrypoint=PRINT_DS,
        runtime_env={"env_vars": {"DAY": "{{ ds }}"}},
        cluster_name="backfill-shared",  # created by the test: one Ray head for the three runs
        deferrable=True,
        log_interval=0.5,
    )

# --- sensors on objects someone else created -------------------------------------------------------------
with _dag("ray_sensors") as ray_sensors:
    RayJobSensor(
        task_id="job_done", rayjob_name="external-ok", mode="reschedule", poke_interval=1, timeout=120
    )
    RayClusterSensor(
        task_id="head_ready",
        cluster_name="external-cluster",
        condition_type="HeadPodReady",
        deferrable=True,
        timeout=120,
    )

# --- a job KubeRay fails before it ever ran (its cluster escapes KubeRay's deletion rules) ---------------
with _dag("ray_fails_before_running") as ray_fails_before_running:
    RayJobOperator(
        task_id="never_ran",
        entrypoint="python -c 'print(1)'",
        ray_cluster_spec=CLUSTER,
        job_annotations={SCRIPTED + "head-fault": "Unschedulable"},
        pre_running_deadline_seconds=2,
        startup_timeout=60,
        ttl_seconds_after_finished=TTL,
        on_finish_action="keep",  # even when the RayJob is kept, its cluster must go
        deferrable=True,
        on_failure_callback=_record_failure,
    )

# --- a setup that fails: its teardown never runs, so the create task deletes its own cluster ------------
with _dag("ray_setup_fails") as ray_setup_fails:
    failing_create = RayClusterCreateOperator(
        task_id="create_cluster",
        ray_cluster_spec=CLUSTER,
        cluster_annotations={SCRIPTED + "head-fault": "ImagePullBackOff"},
        startup_timeout=3,
        deferrable=True,
        on_failure_callback=_record_failure,
    )
    unreached = RayJobOperator(
        task_id="job", entrypoint="python -c 'print(1)'", cluster_name=failing_create.output["name"]
    )
    failing_delete = RayClusterDeleteOperator(
        task_id="delete_cluster", cluster_name=failing_create.output["name"]
    )
    failing_create >> unreached >> failing_delete.as_teardown(setups=failing_create)

# --- a deferred wait that reaches execution_timeout: what it submitted is deleted -----------------------
with _dag("ray_deferral_timeout") as ray_deferral_timeout:
    RayJobOperator(
        task_id="slow",
        # Try 1 is quick (it only makes the DAG run exist); try 2 outlives the deferral's timeout.
        entrypoint='python -c "import time; time.sleep({{ 1 if ti.try_number == 1 else 120 }})"',
        ray_cluster_spec=CLUSTER,
        job_annotations=scripted(seconds="{{ 0.5 if ti.try_number == 1 else 120 }}"),
        deferrable=True,
        execution_timeout=timedelta(seconds=90),
        **FAST,
    )

# --- a deferrable sensor on a RayJob that someone submits only later --------------------------------------
with _dag("ray_sensor_waits_for_creation") as ray_sensor_waits_for_creation:
    RayJobSensor(task_id="job_done", rayjob_name="external-later", deferrable=True, timeout=120)

# --- a RayJob KubeRay rejects for a reason the client cannot check (the operator's feature gates) --------
with _dag("ray_rejected_by_kuberay") as ray_rejected_by_kuberay:
    RayJobOperator(
        task_id="gated",
        entrypoint="python -c 'print(1)'",
        ray_cluster_spec=CLUSTER,
        deletion_strategy={
            "deletionRules": [
                {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 0}}
            ]
        },
        retries=2,
        retry_delay=timedelta(seconds=0),
        deferrable=True,
        on_failure_callback=_record_failure,
    )
