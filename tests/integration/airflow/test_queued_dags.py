"""A RayJob on a Kueue LocalQueue in a real DAG run (``dag.test()``, scripted local KubeRay with a
1-slot LocalQueue): it waits deferred while the queue is full, longer than its start-up timeout,
without that timeout firing; the task log says it is queued, where, for how long, and when it was
admitted."""

from __future__ import annotations

import importlib
import re
import threading
import time
from typing import Any

import pytest

from airflow_ray_k8s.hooks.kuberay import KubeRayHook
from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB
from tests.integration.airflow.conftest import assert_nothing_left, run, task_instances, xcom
from tests.statsd_listener import one_sample

pytestmark = pytest.mark.usefixtures("airflow_db")

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
SCRIPTED = "emulator.airflow-ray-k8s.io/"
HELD_SECONDS = 3.0  # the task's job waits at least this long in the queue: > its 2 s start-up timeout


def _blocker(cluster_spec: dict[str, Any]) -> dict[str, Any]:
    """A RayJob someone else queued in "q" first (not the provider's: no task labels)."""
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {
            "name": "blocker",
            "labels": {QUEUE_LABEL: "q"},
            "annotations": {SCRIPTED + "duration-seconds": "600"},
        },
        "spec": {
            "entrypoint": "python -c 'print(0)'",
            "submissionMode": "HTTPMode",
            "rayClusterSpec": cluster_spec,
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": 0,
            "suspend": True,
        },
    }


@pytest.mark.local_kuberay(local_queues={"q": 1})
def test_a_queued_job_waits_past_its_startup_timeout_and_runs_once_admitted(
    local_kuberay_scripted: Any, capfd: pytest.CaptureFixture[str], statsd: Any
) -> None:
    kr = local_kuberay_scripted
    dags = importlib.import_module("ray_fleet")
    hook = KubeRayHook()
    hook.create(RAYJOB, _blocker(dags.CLUSTER), namespace="default")
    hook.wait_for(
        RAYJOB,
        "blocker",
        lambda o: ((o or {}).get("status") or {}).get("jobDeploymentStatus") == "Running",
        namespace="default",
        timeout=10,
    )

    # Once the task's RayJob waits suspended in "q", keep it waiting HELD_SECONDS more, then free
    # the slot by deleting the blocker (its finalizer stops its Ray job, its cluster goes with it).
    def free_the_slot_later() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            jobs = [j for j in kr.objects("rayjobs") if j["metadata"]["name"] != "blocker"]
            if any((j.get("status") or {}).get("jobDeploymentStatus") == "Suspended" for j in jobs):
                break
            time.sleep(0.1)
        time.sleep(HELD_SECONDS)
        hook.delete(RAYJOB, "blocker", namespace="default")

    releaser = threading.Thread(target=free_the_slot_later, daemon=True)
    releaser.start()
    dr = run(dags.ray_queued)
    releaser.join(timeout=30)

    tis = task_instances(dr)
    assert dr.state == "success", tis
    assert tis[("queued", -1)].state == "success"
    out = xcom(dr, "queued")
    assert out["job_status"] == "SUCCEEDED"
    text = (captured := capfd.readouterr()).out + captured.err
    name = out["name"]
    assert f"RayJob {name} is queued in Kueue LocalQueue 'q' for " in text
    admitted = re.search(
        rf"RayJob {name} was admitted by Kueue LocalQueue 'q' at "
        r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) after ([\d.]+) s queued",
        text,
    )
    assert admitted, text[-3000:]
    # It waited in the queue longer than its start-up timeout, and that timeout did not fire.
    assert float(admitted.group(2)) >= HELD_SECONDS
    assert "did not become ready within" not in text
    # Kueue admitted the blocker first, then the task's job: one slot, never two clusters.
    admissions = kr.call(lambda: list(kr.controller.kueue.admitted))
    assert [a[3] for a in admissions] == ["blocker", name]
    assert kr.call(lambda: kr.store.peak[RAYCLUSTER]) == 1
    # The metrics: the queue wait is the time held (tagged with the queue); the start-up counts
    # from the admission, so it is a scripted cluster's fraction of a second, not the queue's wait.
    ours = statsd.named("airflow.ray_k8s.rayjob.")
    wait = one_sample(ours, "airflow.ray_k8s.rayjob.queue_wait", "queued")
    assert wait.tags["queue"] == "q"
    assert HELD_SECONDS * 1000 - 500 <= wait.value <= float(admitted.group(2)) * 1000 + 1000
    assert one_sample(ours, "airflow.ray_k8s.rayjob.startup", "queued").value < 2000
    assert one_sample(ours, "airflow.ray_k8s.rayjob.outcome.succeeded.none", "queued").value == 1
    assert_nothing_left(kr)
