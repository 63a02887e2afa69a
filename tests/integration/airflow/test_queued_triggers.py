"""The triggers' Kueue path against the scripted local KubeRay's LocalQueues: a RayJob preempted
(suspended again) and re-admitted, and a queued RayCluster, each waiting past the deadline it had
at creation without timing out, because the start-up timeout counts from the latest admission."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_ray_k8s._lifecycle.waits import first_event
from airflow_ray_k8s.hooks.kuberay import KubeRayHook
from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB
from airflow_ray_k8s.triggers.raycluster import RayClusterTrigger
from tests.integration.airflow.test_triggers import HEAD_ONLY, SCRIPTED, Recorder, _trigger, _until

QUEUE = {"kueue.x-k8s.io/queue-name": "q"}


def _set_slots(kr: Any, slots: int) -> None:
    """Change the LocalQueue's size now and run an admission pass (as a quota change does)."""

    def change() -> None:
        kr.controller.kueue.slots["q"] = slots
        kr.controller.kueue.admit()

    kr.call(change)


def _deployment(name: str) -> str:
    obj = KubeRayHook().get_or_none(RAYJOB, name, namespace="default") or {}
    return str((obj.get("status") or {}).get("jobDeploymentStatus") or "")


@pytest.mark.local_kuberay(local_queues={"q": 1})
async def test_a_preempted_job_queues_again_and_its_start_up_time_restarts_at_readmission(
    local_kuberay_scripted: Any,
) -> None:
    kr = local_kuberay_scripted
    body = {
        "metadata": {
            "name": "preempted",
            "labels": QUEUE,
            "annotations": {SCRIPTED + "outcome": "SUCCEEDED", SCRIPTED + "duration-seconds": "5"},
        },
        "spec": {
            "entrypoint": "python -c 'print(1)'",
            "rayClusterSpec": HEAD_ONLY,
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": 30,
            "suspend": True,
        },
    }
    KubeRayHook().create(RAYJOB, body, namespace="default")
    log = Recorder()
    started = time.time()
    # A deadline 1.5 s after creation: it passes while the job is preempted and queued again.
    trigger = _trigger("preempted", log, startup_deadline=started + 1.5, startup_timeout=5.0)
    task = asyncio.create_task(first_event(trigger))
    # The trigger saw the first admission (its first look may take seconds: client imports).
    await _until(lambda: any("was admitted" in line for line in log.lines))
    await _until(lambda: _deployment("preempted") == "Running")
    # Kueue takes the admission back: the queue shrinks to 0 and the job is suspended again.
    _set_slots(kr, 0)
    KubeRayHook().patch(RAYJOB, "preempted", {"spec": {"suspend": True}}, namespace="default")
    await _until(lambda: any("suspended again" in line for line in log.lines))
    await _until(lambda: _deployment("preempted") == "Suspended")
    await asyncio.sleep(2.0)  # past the creation-time deadline, still queued
    _set_slots(kr, 1)
    readmitted = time.time()
    payload = await asyncio.wait_for(task, timeout=30)

    assert payload["status"] == "terminal", payload
    assert payload["job"]["job_status"] == "SUCCEEDED"
    timings = payload["timings"]
    assert set(timings) == {"queued_since", "admitted_at", "running_at", "ended_at"}
    # The latest admission is the one after the preemption.
    assert timings["admitted_at"] >= readmitted - 0.5
    assert timings["queued_since"] <= timings["admitted_at"] <= timings["ended_at"]
    admitted_lines = [line for line in log.lines if "was admitted by Kueue LocalQueue 'q'" in line]
    queued_lines = [line for line in log.lines if "is queued in Kueue LocalQueue 'q'" in line]
    assert len(admitted_lines) == 2, log.lines
    # Queued again after the preemption (the first queueing may pass before the trigger looks).
    again = log.lines.index("RayJob preempted was suspended again by Kueue LocalQueue 'q' (preempted)")
    assert any(line in queued_lines for line in log.lines[again:]), log.lines
    KubeRayHook().delete(RAYJOB, "preempted", namespace="default")


@pytest.mark.local_kuberay(local_queues={"q": 0})
async def test_a_queued_raycluster_waits_past_its_deadline_until_admitted(
    local_kuberay_scripted: Any,
) -> None:
    kr = local_kuberay_scripted
    body = {"metadata": {"name": "queued-rc", "labels": QUEUE}, "spec": {**HEAD_ONLY, "suspend": True}}
    KubeRayHook().create(RAYCLUSTER, body, namespace="default")
    log = Recorder()
    trigger = RayClusterTrigger(
        name="queued-rc", namespace="default", deadline=time.time() + 0.5, startup_timeout=10.0
    )
    trigger._log = log  # type: ignore[assignment]
    task = asyncio.create_task(first_event(trigger))
    await _until(lambda: any("is queued in Kueue LocalQueue 'q'" in line for line in log.lines))
    await asyncio.sleep(1.5)  # past the creation-time deadline
    assert not task.done()
    _set_slots(kr, 1)
    payload = await asyncio.wait_for(task, timeout=30)
    assert payload["status"] == "ready", payload
    assert any("RayCluster queued-rc was admitted by Kueue LocalQueue 'q' at " in line for line in log.lines)
    KubeRayHook().delete(RAYCLUSTER, "queued-rc", namespace="default")
