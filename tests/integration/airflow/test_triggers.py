"""The triggers against the scripted local KubeRay: log offsets across a triggerer restart, and a
user's kill (``on_kill``) versus a restart (cancellation only)."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_ray_k8s._lifecycle.logs import ANNOTATION_LOG_OFFSET, offset_from_annotations
from airflow_ray_k8s._lifecycle.waits import first_event
from airflow_ray_k8s.hooks.kuberay import KubeRayHook
from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB
from airflow_ray_k8s.triggers.raycluster import RayClusterTrigger
from airflow_ray_k8s.triggers.rayjob import RayJobTrigger

SCRIPTED = "emulator.airflow-ray-k8s.io/"
HEAD_ONLY = {
    "headGroupSpec": {
        "rayStartParams": {},
        "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.52.0"}]}},
    }
}


class Recorder:
    """Stands in for a trigger's logger: keeps the formatted lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _add(self, msg: str, *args: Any, **_: Any) -> None:
        self.lines.append(msg % args if args else msg)

    info = warning = error = debug = exception = _add


def _submit(name: str, seconds: float) -> None:
    body = {
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/managed-by": "airflow-ray-k8s"},
            "annotations": {SCRIPTED + "outcome": "SUCCEEDED", SCRIPTED + "duration-seconds": str(seconds)},
        },
        "spec": {
            "entrypoint": "python -c 'print(1)'",
            "rayClusterSpec": HEAD_ONLY,
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": 30,
        },
    }
    KubeRayHook().create(RAYJOB, body, namespace="default")


def _trigger(name: str, recorder: Recorder, **kwargs: Any) -> RayJobTrigger:
    trigger = RayJobTrigger(name=name, namespace="default", log_interval=0.2, **kwargs)
    trigger._log = recorder  # type: ignore[assignment]
    return trigger


async def _until(predicate: Any, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 (polling the recorder the trigger writes to)
            await asyncio.sleep(0.05)


async def test_a_triggerer_restart_continues_the_log_without_repeats_and_deletes_nothing(
    local_kuberay_scripted: Any,
) -> None:
    _submit("restart-me", seconds=5)
    first = Recorder()
    # The kwargs a deferring task stored: offset 0. The restarted trigger is rebuilt from the same.
    _, kwargs = _trigger("restart-me", first).serialize()
    task = asyncio.create_task(first_event(_trigger("restart-me", first)))
    await _until(lambda: any("Running entrypoint" in line for line in first.lines))
    # The trigger emits the lines, then records their offset on the RayJob (one PATCH). The restart
    # this test means comes after that record: a restart between the two repeats those lines, by
    # design (a line is repeated rather than lost). Under load the PATCH can take a while.
    hook = KubeRayHook()

    def recorded() -> int:
        obj = hook.get(RAYJOB, "restart-me", namespace="default")
        return offset_from_annotations(obj["metadata"].get("annotations"), 1)

    async with asyncio.timeout(30):
        while not await asyncio.to_thread(recorded):  # noqa: ASYNC110 (polling the API server)
            await asyncio.sleep(0.05)
    task.cancel()  # the triggerer restarts: cancellation, no on_kill
    await asyncio.gather(task, return_exceptions=True)
    annotations = hook.get(RAYJOB, "restart-me", namespace="default")["metadata"]["annotations"]
    assert offset_from_annotations(annotations, 1) > 0, annotations.get(ANNOTATION_LOG_OFFSET)

    second = Recorder()
    rebuilt = RayJobTrigger(**kwargs)
    rebuilt._log = second  # type: ignore[assignment]
    event = await first_event(rebuilt)
    assert event["status"] == "terminal"
    assert event["job"]["job_status"] == "SUCCEEDED"
    streamed = [line for line in first.lines + second.lines if line.startswith("[restart-me] ")]
    assert len(streamed) == len(set(streamed)), f"a line was repeated: {streamed}"
    assert any("Running entrypoint" in line for line in streamed)
    assert any("scripted success" in line for line in streamed)
    assert not any("Running entrypoint" in line for line in second.lines), "repeated after the restart"
    assert event["log_tail"][-1].startswith("scripted success")


async def test_a_users_kill_deletes_the_rayjob_and_its_cluster(local_kuberay_scripted: Any) -> None:
    _submit("kill-me", seconds=60)
    recorder = Recorder()
    trigger = _trigger("kill-me", recorder, delete_on_kill=True)
    task = asyncio.create_task(first_event(trigger))
    await _until(lambda: bool(local_kuberay_scripted.objects("rayclusters")))
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await trigger.on_kill()  # Airflow >= 3.3 calls this only for a user's kill
    await _until(lambda: not local_kuberay_scripted.objects("rayjobs"))
    await _until(lambda: not local_kuberay_scripted.objects("rayclusters"))


async def test_a_sensors_wait_never_deletes_on_kill(local_kuberay_scripted: Any) -> None:
    _submit("not-mine", seconds=60)
    trigger = _trigger("not-mine", Recorder())  # delete_on_kill defaults to False
    task = asyncio.create_task(first_event(trigger))
    await asyncio.sleep(0.5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await trigger.on_kill()
    assert [o["metadata"]["name"] for o in local_kuberay_scripted.objects("rayjobs")] == ["not-mine"]
    KubeRayHook().delete(RAYJOB, "not-mine", namespace="default")


async def test_cluster_trigger_waits_for_deletion(local_kuberay_scripted: Any) -> None:
    hook = KubeRayHook()
    hook.create(RAYCLUSTER, {"metadata": {"name": "going"}, "spec": HEAD_ONLY}, namespace="default")
    ready = await first_event(RayClusterTrigger(name="going", namespace="default", wait_for="ready"))
    assert ready["status"] == "ready"
    hook.delete(RAYCLUSTER, "going", namespace="default")
    gone = await first_event(RayClusterTrigger(name="going", namespace="default", wait_for="deleted"))
    assert gone["status"] == "deleted"
