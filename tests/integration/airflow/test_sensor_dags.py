"""The sensors in a real DAG run: reschedule mode and deferrable, on objects someone else made."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.airflow.conftest import assert_nothing_left, dags_module, run, task_instances

pytestmark = pytest.mark.usefixtures("airflow_db")


def test_job_sensor_in_reschedule_mode_and_deferrable_cluster_sensor(local_kuberay_scripted: Any) -> None:
    from airflow_ray_k8s.hooks.kuberay import KubeRayHook
    from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB

    dags = dags_module()
    hook = KubeRayHook()
    scripted = {"emulator.airflow-ray-k8s.io/duration-seconds": "3"}
    job = {
        "metadata": {"name": "external-ok", "annotations": scripted},
        "spec": {
            "entrypoint": "python -c 'print(1)'",
            "rayClusterSpec": dags.CLUSTER,
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": 1,
        },
    }
    hook.create(RAYJOB, job, namespace="default")
    cluster = {"metadata": {"name": "external-cluster"}, "spec": dags.CLUSTER}
    hook.create(RAYCLUSTER, cluster, namespace="default")
    try:
        dr = run(dags.ray_sensors)
        tis = task_instances(dr)
        assert tis[("job_done", -1)].state == "success"
        assert tis[("head_ready", -1)].state == "success"
        assert dr.state == "success"
        # Sensors delete nothing they watch.
        assert {o["metadata"]["name"] for o in local_kuberay_scripted.objects("rayjobs")} == {"external-ok"}
    finally:
        hook.delete(RAYJOB, "external-ok", namespace="default")
        hook.delete(RAYCLUSTER, "external-cluster", namespace="default")
    assert_nothing_left(local_kuberay_scripted)
