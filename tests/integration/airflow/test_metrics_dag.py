"""The provider's metrics (:mod:`airflow_ray_k8s.metrics`) in a real DAG run, received by a StatsD
server on loopback through Airflow's own StatsD client, configured as a deployment configures it."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from tests.integration.airflow.conftest import assert_nothing_left, run, task_instances, xcom
from tests.statsd_listener import StatsdListener, one_sample

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.mark.timeout(600)
def test_a_dag_run_sends_startup_run_resources_and_outcomes_to_statsd(
    kuberay: Any, statsd: StatsdListener
) -> None:
    kr = kuberay
    module = importlib.import_module("ray_fleet")
    dr = run(module.ray_fleet_metrics)
    tis = task_instances(dr)
    assert tis[("train", -1)].state == "success"
    assert tis[("boom", -1)].state == "failed"
    assert tis[("delete_cluster", -1)].state == "success"
    ours = statsd.named("airflow.ray_k8s.")
    tags = {"dag_id": "ray_fleet_metrics", "namespace": "default", "queue": "none"}

    # The training job: its run time is the scripted 1.5 s, read from KubeRay's rayJobInfo times.
    run_ms = one_sample(ours, "airflow.ray_k8s.rayjob.run", "train")
    assert run_ms.kind == "ms"
    assert run_ms.tags == {**tags, "task_id": "train"}
    # Ray's own start and end of the job, whole seconds refined by the wait's observations (half a
    # second off at most); on real Ray it includes the job's set-up before the driver (a few s).
    slack = 1000 if kr.mode == "scripted" else 30_000
    assert module.METRICS_RUN_SECONDS * 1000 - 500 <= run_ms.value < module.METRICS_RUN_SECONDS * 1000 + slack
    startup_ms = one_sample(ours, "airflow.ray_k8s.rayjob.startup", "train")
    # From the RayJob's creationTimestamp (whole seconds) to the driver's start: a scripted cluster
    # is ready in 0.2 s, a real head in 5-60 s on this machine.
    # Both ends may fall in one KubeRay second with a late observation: 0 is then the estimate.
    assert 0 <= startup_ms.value < (5000 if kr.mode == "scripted" else 200_000)
    cluster_ms = one_sample(ours, "airflow.ray_k8s.rayjob.cluster_startup", "train")
    # Whole seconds apart (KubeRay's timestamps), and part of the start-up up to half a second.
    assert cluster_ms.value % 1000 == 0
    assert cluster_ms.value <= startup_ms.value + 500
    out = xcom(dr, "train")
    assert out["job_status"] == "SUCCEEDED"
    # Held from creation to the job's end, times KubeRay's desired resources (3 CPU, 5 GiB, 1 GPU).
    held = (startup_ms.value + run_ms.value) / 1000
    counters = {
        s.name.rsplit(".", 1)[1]: s.value
        for s in ours
        if s.tags.get("task_id") == "train" and s.kind == "c" and "outcome" not in s.name
    }
    expected = {"cpu_seconds": 3 * held, "memory_mib_seconds": 5 * 1024 * held, "gpu_seconds": held}
    assert set(counters) == set(expected)
    for key, value in expected.items():
        # Rounded to whole units from the unrounded times; the timings arrive rounded to the µs.
        assert abs(counters[key] - value) <= 0.5 + 1e-3 * value, (key, counters, expected)
    ok = one_sample(ours, "airflow.ray_k8s.rayjob.outcome.succeeded.none", "train")
    assert ok.kind == "c"
    assert ok.value == 1
    assert ok.tags["outcome"] == "succeeded"
    assert "airflow.ray_k8s.rayjob.queue_wait" not in {s.name for s in ours}  # not on a queue

    # The failing job: counted with KubeRay's reason, its run time measured too.
    failed = one_sample(ours, "airflow.ray_k8s.rayjob.outcome.failed.AppFailed", "boom")
    assert failed.value == 1
    assert failed.tags["reason"] == "AppFailed"
    assert 0 < one_sample(ours, "airflow.ray_k8s.rayjob.run", "boom").value < 200 + slack

    # The shared cluster: its start-up (creation to ready) and, when deleted, its lifetime's resources.
    limit = 5000 if kr.mode == "scripted" else 200_000
    assert 0 < one_sample(ours, "airflow.ray_k8s.raycluster.startup", "create_cluster").value < limit
    assert one_sample(ours, "airflow.ray_k8s.raycluster.outcome.ready.none", "create_cluster").value == 1
    lifetime_cpu = one_sample(ours, "airflow.ray_k8s.raycluster.cpu_seconds", "delete_cluster")
    assert lifetime_cpu.value >= 1  # 1 CPU for at least the run's duration
    names = {s.name for s in ours}
    assert not any("boom" in n or "train" in n for n in names)  # task ids are tags, never names
    assert_nothing_left(kr, within=10)
