"""Watches against the emulated API: resume after a dropped stream, re-list after 410 Gone, and the
shared hub delivering to many waiters over one stream."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from airflow_ray_k8s.exceptions import KubeForbiddenError, NamespaceNotAllowedError, WaitTimeoutError
from airflow_ray_k8s.kube.aio import AsyncKubeClient
from airflow_ray_k8s.kube.client import KubeClient
from airflow_ray_k8s.kube.hub import ABSENT, WatchHub
from airflow_ray_k8s.resources import RAYJOB
from airflow_ray_k8s.testing.emulator.server import LocalKubeRay

from .kube_it import FAST_RETRY, FAST_WATCH, settings_for, unique

LISTS = r"/rayjobs$"


def job(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"entrypoint": "python -c 1", "rayClusterSpec": {"headGroupSpec": {"template": {}}}},
    }


def done(obj: Mapping[str, Any] | None) -> bool:
    return obj is not None and (obj["metadata"].get("labels") or {}).get("done") == "1"


def mark_done(kr: LocalKubeRay, *names: str) -> None:
    def patch() -> None:
        for name in names:
            kr.store.patch(RAYJOB, "default", name, {"metadata": {"labels": {"done": "1"}}})

    kr.call(patch)


def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


async def auntil(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


def watches(kr: LocalKubeRay) -> list[Any]:
    return kr.requests.filter(method="GET", path=LISTS, watch=True)


def lists(kr: LocalKubeRay) -> int:
    return kr.requests.count(method="GET", path=LISTS, watch=False)


def _wait_in_thread(client: KubeClient, name: str, result: dict[str, Any]) -> threading.Thread:
    def run() -> None:
        try:
            result["obj"] = client.wait_for(RAYJOB, name, done, timeout=30)
        except BaseException as exc:  # surfaced by the test
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_sync_wait_resumes_a_dropped_stream_from_its_version(
    kuberay_api: LocalKubeRay, client: KubeClient
) -> None:
    name = unique("job")
    client.create(RAYJOB, job(name))
    kuberay_api.requests.clear()
    result: dict[str, Any] = {}
    thread = _wait_in_thread(client, name, result)
    until(lambda: len(watches(kuberay_api)) == 1)
    assert kuberay_api.faults.drop_watches("rayjobs") >= 1
    until(lambda: len(watches(kuberay_api)) == 2)
    mark_done(kuberay_api, name)
    thread.join(30)
    assert "error" not in result, result.get("error")
    assert done(result["obj"])
    first, second = watches(kuberay_api)
    assert first.query["allowWatchBookmarks"] == "true"
    assert int(second.query["resourceVersion"]) >= int(first.query["resourceVersion"])
    assert lists(kuberay_api) == 1  # resumed, not re-listed


def test_sync_wait_relists_after_410(kuberay_api: LocalKubeRay, client: KubeClient) -> None:
    name = unique("job")
    client.create(RAYJOB, job(name))
    kuberay_api.requests.clear()
    kuberay_api.faults.gone(1)
    result: dict[str, Any] = {}
    thread = _wait_in_thread(client, name, result)
    until(lambda: len(watches(kuberay_api)) == 2)
    mark_done(kuberay_api, name)
    thread.join(30)
    assert "error" not in result, result.get("error")
    assert done(result["obj"])
    assert lists(kuberay_api) == 2


def test_sync_wait_times_out(client: KubeClient) -> None:
    name = unique("job")
    client.create(RAYJOB, job(name))
    with pytest.raises(WaitTimeoutError):
        client.wait_for(RAYJOB, name, done, timeout=1.0)


@pytest.fixture
async def hub(kuberay_api: LocalKubeRay) -> WatchHub:
    return WatchHub.for_settings(settings_for(kuberay_api), retry_policy=FAST_RETRY, watch_options=FAST_WATCH)


async def test_hub_resumes_after_drop_and_relists_after_410(kuberay_api: LocalKubeRay, hub: WatchHub) -> None:
    name = unique("job")
    kuberay_api.call(lambda: kuberay_api.store.create(RAYJOB, job(name), namespace="default"))
    kuberay_api.requests.clear()
    async with hub.subscribe(RAYJOB, "default", name) as sub:
        state = await asyncio.wait_for(sub.next(), 10)
        assert state.exists
        assert state.event == "ADDED"
        await auntil(lambda: len(watches(kuberay_api)) == 1)
        kuberay_api.faults.drop_watches("rayjobs")
        await auntil(lambda: len(watches(kuberay_api)) == 2)
        mark_done(kuberay_api, name)
        state = await asyncio.wait_for(sub.next(), 10)
        assert done(state.object)
        assert lists(kuberay_api) == 1
        kuberay_api.faults.gone(1)
        kuberay_api.faults.drop_watches("rayjobs")
        await auntil(lambda: lists(kuberay_api) == 2)
        kuberay_api.call(lambda: kuberay_api.store.delete(RAYJOB, "default", name))
        state = await asyncio.wait_for(sub.next(), 10)
        assert state.object is None
        assert state.event == "DELETED"
    assert hub.active_streams == 0


async def test_hub_reports_absent_objects_and_times_out(hub: WatchHub) -> None:
    async with hub.subscribe(RAYJOB, "default", unique("nothing")) as sub:
        state = await asyncio.wait_for(sub.next(), 10)
        assert state.event == ABSENT
    with pytest.raises(WaitTimeoutError):
        await hub.wait_for(RAYJOB, "default", unique("nothing"), done, timeout=0.5)
    assert hub.active_streams == 0


async def test_hub_surfaces_errors_retrying_cannot_fix(kuberay_api: LocalKubeRay, hub: WatchHub) -> None:
    kuberay_api.faults.deny("list", "rayjobs")
    with pytest.raises(KubeForbiddenError):
        await hub.wait_for(RAYJOB, "default", unique("job"), done, timeout=10)
    assert hub.active_streams == 0


async def test_hub_refuses_namespaces_outside_the_allow_list(kuberay_api: LocalKubeRay) -> None:
    settings = settings_for(kuberay_api, allowed_namespaces=frozenset({"default"}))
    hub = WatchHub.for_settings(settings)
    kuberay_api.requests.clear()
    with pytest.raises(NamespaceNotAllowedError):
        async with hub.subscribe(RAYJOB, "kube-system", "x"):
            pass
    assert len(kuberay_api.requests) == 0
    assert hub.active_streams == 0


async def test_hub_is_shared_per_connection_and_loop(kuberay_api: LocalKubeRay) -> None:
    settings = settings_for(kuberay_api)
    assert WatchHub.for_settings(settings) is WatchHub.for_settings(settings_for(kuberay_api))
    async with AsyncKubeClient(settings) as c:
        assert await c.watch_hub() is WatchHub.for_settings(settings)


async def test_500_waiters_share_one_watch_stream(fresh_kuberay_api: LocalKubeRay) -> None:
    kr = fresh_kuberay_api
    settings = settings_for(kr)
    existing = [f"job-{i:03d}" for i in range(400)]
    later = [f"late-{i:03d}" for i in range(100)]

    def create(names: list[str]) -> None:
        for name in names:
            kr.store.create(RAYJOB, job(name), namespace="default")

    kr.call(lambda: create(existing))
    kr.requests.clear()
    async with AsyncKubeClient(settings, retry_policy=FAST_RETRY, watch_options=FAST_WATCH) as client:
        hub = await client.watch_hub()
        waiters = [
            asyncio.create_task(client.wait_for(RAYJOB, name, done, namespace="default", timeout=120))
            for name in existing + later
        ]
        await auntil(lambda: hub.subscriber_count(RAYJOB, "default") == 500 and len(watches(kr)) == 1)
        kr.call(lambda: create(later))
        mark_done(kr, *existing, *later)
        results = await asyncio.gather(*waiters)
    assert all(done(r) for r in results)
    assert sorted(r["metadata"]["name"] for r in results if r) == sorted(existing + later)
    assert len(watches(kr)) == 1  # one stream for 500 waiters, not 500
    assert lists(kr) == 1
    assert hub.active_streams == 0


async def test_bookmarks_move_the_resume_point(fresh_kuberay_api: LocalKubeRay) -> None:
    # Changes elsewhere (another namespace) never reach this watch as events; only bookmarks (every
    # 0.2 s on this API) tell it the newer resourceVersion to resume from after a drop.
    kr = fresh_kuberay_api
    hub = WatchHub.for_settings(settings_for(kr), retry_policy=FAST_RETRY, watch_options=FAST_WATCH)
    async with hub.subscribe(RAYJOB, "default", "nobody") as sub:
        await asyncio.wait_for(sub.next(), 10)
        elsewhere = kr.call(
            lambda: kr.store.create(
                RAYJOB, {**job("other"), "metadata": {"name": "other"}}, namespace="kube-system"
            )
        )
        await asyncio.sleep(1.0)
        kr.faults.drop_watches("rayjobs")
        await auntil(lambda: len(watches(kr)) == 2)
    first, second = watches(kr)
    assert int(second.query["resourceVersion"]) >= int(elsewhere["metadata"]["resourceVersion"])
    assert int(second.query["resourceVersion"]) > int(first.query["resourceVersion"])


async def test_a_slow_subscriber_gets_the_newest_state_not_a_backlog(
    kuberay_api: LocalKubeRay, hub: WatchHub
) -> None:
    name = unique("job")
    kuberay_api.call(lambda: kuberay_api.store.create(RAYJOB, job(name), namespace="default"))
    async with hub.subscribe(RAYJOB, "default", name) as sub:
        await asyncio.wait_for(sub.next(), 10)
        for step in range(5):
            patch = {"metadata": {"labels": {"step": str(step)}}}
            kuberay_api.call(lambda p=patch: kuberay_api.store.patch(RAYJOB, "default", name, p))
        await auntil(
            lambda: (
                sub.latest is not None
                and sub.latest.object is not None
                and (sub.latest.object["metadata"].get("labels") or {}).get("step") == "4"
            )
        )
        state = await asyncio.wait_for(sub.next(), 10)
        assert state.object is not None
        assert state.object["metadata"]["labels"]["step"] == "4"
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(sub.next(), 0.3)
