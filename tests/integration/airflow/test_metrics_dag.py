"""The provider's metrics (:mod:`airflow_ray_k8s.metrics`) in a real DAG run, received by a StatsD
server on loopback through Airflow's own StatsD client, configured as a deployment configures it."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.airflow.conftest import assert_nothing_left, run, task_instances, xcom
from tests.statsd_listener import Sample, StatsdListener

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture
def statsd(monkeypatch: pytest.MonkeyPatch) -> Iterator[StatsdListener]:
    """A StatsD server on 127.0.0.1 and Airflow's metrics pointed at it, with InfluxDB-style tags.

    ``stats.initialize`` is what Airflow's task runner calls when a task process starts; ``dag.test()``
    runs tasks in this process, so the test calls it after setting the configuration.
    """
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    with StatsdListener() as listener:
        for key, value in listener.airflow_env().items():
            monkeypatch.setenv(key, value)
        stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)
        try:
            yield listener
        finally:
            monkeypatch.undo()
            stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)


def _one(samples: list[Sample], name: str, task_id: str) -> Sample:
    found = [s for s in samples if s.name == name and s.tags.get("task_id") == task_id]
    assert len(found) == 1, (name, task_id, samples)
    return found[0]


def test_a_dag_run_sends_startup_run_resources_and_outcomes_to_statsd(
    local_kuberay_scripted: Any, statsd: StatsdListener
) -> None:
    kr = local_kuberay_scripted
    module = importlib.import_module("ray_fleet")
    dr = run(module.ray_fleet_metrics)
    tis = task_instances(dr)
    assert tis[("train", -1)].state == "success"
    assert tis[("boom", -1)].state == "failed"
    assert tis[("delete_cluster", -1)].state == "success"
    ours = statsd.named("airflow.ray_k8s.")
    tags = {"dag_id": "ray_fleet_metrics", "namespace": "default", "queue": "none"}

    # The training job: its run time is the scripted 1.5 s, read from KubeRay's rayJobInfo times.
    run_ms = _one(ours, "airflow.ray_k8s.rayjob.run", "train")
    assert run_ms.kind == "ms"
    assert run_ms.tags == {**tags, "task_id": "train"}
    assert module.METRICS_RUN_SECONDS * 1000 <= run_ms.value < module.METRICS_RUN_SECONDS * 1000 + 500
    startup_ms = _one(ours, "airflow.ray_k8s.rayjob.startup", "train")
    # From the RayJob's creationTimestamp (whole seconds) to the driver's start: a scripted cluster
    # is ready in 0.2 s, so this is under the second of truncation plus the controller's passes.
    assert 0 < startup_ms.value < 5000
    out = xcom(dr, "train")
    assert out["job_status"] == "SUCCEEDED"
    # Held from creation to the job's end, times KubeRay's desired resources (3 CPU, 5 GiB, 1 GPU).
    held = (startup_ms.value + run_ms.value) / 1000
    counters = {
        s.name.rsplit(".", 1)[1]: s.value
        for s in ours
        if s.tags.get("task_id") == "train" and s.kind == "c" and "outcome" not in s.name
    }
    assert counters == {
        "cpu_seconds": round(3 * held),
        "memory_mib_seconds": round(5 * 1024 * held),
        "gpu_seconds": round(1 * held),
    }
    ok = _one(ours, "airflow.ray_k8s.rayjob.outcome.succeeded.none", "train")
    assert ok.kind == "c"
    assert ok.value == 1
    assert ok.tags["outcome"] == "succeeded"
    assert "airflow.ray_k8s.rayjob.queue_wait" not in {s.name for s in ours}  # not on a queue

    # The failing job: counted with KubeRay's reason, its run time measured too.
    failed = _one(ours, "airflow.ray_k8s.rayjob.outcome.failed.AppFailed", "boom")
    assert failed.value == 1
    assert failed.tags["reason"] == "AppFailed"
    assert 200 <= _one(ours, "airflow.ray_k8s.rayjob.run", "boom").value < 700

    # The shared cluster: its start-up (creation to ready) and, when deleted, its lifetime's resources.
    assert 0 < _one(ours, "airflow.ray_k8s.raycluster.startup", "create_cluster").value < 5000
    assert _one(ours, "airflow.ray_k8s.raycluster.outcome.ready.none", "create_cluster").value == 1
    lifetime_cpu = _one(ours, "airflow.ray_k8s.raycluster.cpu_seconds", "delete_cluster")
    assert lifetime_cpu.value >= 1  # 1 CPU for at least the run's duration
    names = {s.name for s in ours}
    assert not any("boom" in n or "train" in n for n in names)  # task ids are tags, never names
    assert_nothing_left(kr, within=10)
