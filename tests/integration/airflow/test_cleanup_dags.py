"""Cleanup on the paths where no later task cleans up: a failed setup, a deferral that times out,
and a sensor that waits for a RayJob before anyone submitted it."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.integration.airflow.conftest import (
    assert_nothing_left,
    clear,
    dags_module,
    run,
    run_task_once,
    task_instances,
    time_out_the_deferral,
    xcom,
)

pytestmark = pytest.mark.usefixtures("airflow_db")


def test_a_setup_that_fails_deletes_its_own_cluster(local_kuberay_scripted: Any) -> None:
    dags = dags_module()
    dags.FAILURES.clear()
    dr = run(dags.ray_setup_fails)
    tis = task_instances(dr)
    assert tis[("create_cluster", -1)].state == "failed"
    # Airflow does not run a teardown whose setup failed: only the create task can clean up.
    assert tis[("delete_cluster", -1)].state != "success"
    assert tis[("job", -1)].state == "upstream_failed"
    assert any("ImagePullBackOff" in f for f in dags.FAILURES), dags.FAILURES
    assert local_kuberay_scripted.requests.count("POST", r"/rayclusters$") == 1
    assert_nothing_left(local_kuberay_scripted, within=0)


def test_a_setup_whose_wait_fails_deletes_its_own_cluster(local_kuberay_scripted: Any) -> None:
    kr = local_kuberay_scripted
    # The watch of the create task's wait cannot list RayClusters: the wait ends in an error.
    kr.faults.deny("list", "rayclusters")
    dr = run(dags_module().ray_shared_cluster)
    tis = task_instances(dr)
    assert tis[("create_cluster", -1)].state == "failed"
    assert tis[("delete_cluster", -1)].state != "success"
    assert kr.requests.count("POST", r"/rayclusters$") == 1
    assert kr.requests.count("DELETE", r"/rayclusters/[^/]+$") == 1, "the create task deleted its cluster"
    kr.faults.clear()
    assert_nothing_left(kr, within=0)


def test_a_deferral_that_times_out_deletes_the_rayjob_and_its_cluster(local_kuberay_scripted: Any) -> None:
    kr = local_kuberay_scripted
    dags = dags_module()
    dag = dags.ray_deferral_timeout
    dr = run(dag)  # try 1: a quick job, so that the DAG run exists
    assert task_instances(dr)[("slow", -1)].state == "success"
    clear(dr, "slow")
    ti = run_task_once(dag, dr, "slow")  # try 2 submits a 120 s job and defers
    assert ti.state == "deferred"
    assert ti.trigger_timeout is not None, "execution_timeout must bound the deferred wait"
    (job,) = kr.objects("rayjobs")
    assert job["metadata"]["name"].endswith("-t2")
    (cluster,) = kr.objects("rayclusters")
    # The dashboard link works while the task is deferred: recorded before it deferred.
    url = xcom(dr, "slow", key="ray_dashboard_url")
    assert url.endswith(f"/services/{cluster['metadata']['name']}-head-svc:dashboard/proxy/")
    time_out_the_deferral(ti)
    ti = run_task_once(dag, dr, "slow")
    assert ti.state == "failed"
    assert_nothing_left(kr, within=5)


def test_a_deferrable_job_sensor_waits_for_a_rayjob_submitted_later(local_kuberay_scripted: Any) -> None:
    from airflow_ray_k8s.hooks.kuberay import KubeRayHook
    from airflow_ray_k8s.resources import RAYJOB

    dags = dags_module()
    hook = KubeRayHook()
    body = {
        "metadata": {"name": "external-later", "annotations": dags.scripted(seconds=1)},
        "spec": {
            "entrypoint": "python -c 'print(1)'",
            "rayClusterSpec": dags.CLUSTER,
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": 1,
        },
    }

    def submit_later() -> None:
        # Well after the sensor's first poke found nothing and it deferred.
        deadline = time.monotonic() + 60
        while not local_kuberay_scripted.requests.count(watch=True) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)
        hook.create(RAYJOB, body, namespace="default")

    submitter = threading.Thread(target=submit_later, daemon=True)
    submitter.start()
    try:
        dr = run(dags.ray_sensor_waits_for_creation)
        assert task_instances(dr)[("job_done", -1)].state == "success"
    finally:
        submitter.join(70)
        hook.delete(RAYJOB, "external-later", namespace="default")
    assert_nothing_left(local_kuberay_scripted)
