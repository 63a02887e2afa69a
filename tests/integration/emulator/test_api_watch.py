"""Watches through the official clients: timeouts, asyncio's ``watch=True``, resume, 410, bookmarks."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from kubernetes_asyncio import client as aclient
from kubernetes_asyncio import watch as awatch

from airflow_ray_k8s.resources import RAYJOB
from airflow_ray_k8s.testing.emulator.server import LocalKubeRay
from tests.integration.conftest import kube_api_client, kube_async_api_client

GROUP, VERSION = "ray.io", "v1"
MERGE_PATCH = "application/merge-patch+json"


def _rayjob(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "spec": {"entrypoint": "true"}}


@pytest.fixture
def namespace(kube_client: Any) -> str:
    """A namespace of this test alone, so module-shared objects do not show up in its watches."""
    name = f"w-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(kube_client).create_namespace({"metadata": {"name": name}})
    return name


def _later(delay: float, fn: Any) -> threading.Timer:
    timer = threading.Timer(delay, fn)
    timer.start()
    return timer


def test_watch_honours_timeout_seconds(kube_client: Any, namespace: str) -> None:
    api = client.CustomObjectsApi(kube_client)
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, "rayjobs", _rayjob("a"))
    started = time.monotonic()
    events = list(
        watch.Watch().stream(
            api.list_namespaced_custom_object, GROUP, VERSION, namespace, "rayjobs", timeout_seconds=1
        )
    )
    elapsed = time.monotonic() - started
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]
    assert 0.9 <= elapsed < 10  # ended by the server's timeout, not by the client


def test_watch_sees_changes_from_clients_and_from_the_store(
    kube_client: Any, kuberay_api: LocalKubeRay, namespace: str
) -> None:
    api = client.CustomObjectsApi(kube_client)

    def changes() -> None:
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, "rayjobs", _rayjob("b"))
        # The controller writes through the store on the emulator loop; watchers must see it too.
        kuberay_api.call(
            lambda: kuberay_api.store.patch(RAYJOB, namespace, "b", {"status": {"x": 1}}, "status")
        )
        api.delete_namespaced_custom_object(GROUP, VERSION, namespace, "rayjobs", "b")

    timer = _later(0.3, changes)
    seen = []
    w = watch.Watch()
    for event in w.stream(
        api.list_namespaced_custom_object, GROUP, VERSION, namespace, "rayjobs", timeout_seconds=5
    ):
        seen.append((event["type"], event["object"].get("status")))
        if event["type"] == "DELETED":
            w.stop()
    timer.join()
    assert seen == [("ADDED", None), ("MODIFIED", {"x": 1}), ("DELETED", {"x": 1})]
    assert kuberay_api.requests.count(watch=True) == 1


def test_all_namespaces_watch(kube_client: Any, namespace: str) -> None:
    api = client.CustomObjectsApi(kube_client)
    core = client.CoreV1Api(kube_client)
    other = f"{namespace}-b"
    core.create_namespace({"metadata": {"name": other}})
    start = api.create_namespaced_custom_object(GROUP, VERSION, namespace, "rayjobs", _rayjob("x1"))
    api.create_namespaced_custom_object(GROUP, VERSION, other, "rayjobs", _rayjob("x2"))
    events = list(
        watch.Watch().stream(
            api.list_cluster_custom_object,
            GROUP,
            VERSION,
            "rayjobs",
            resource_version=start["metadata"]["resourceVersion"],
            timeout_seconds=1,
        )
    )
    assert [(e["object"]["metadata"]["namespace"], e["object"]["metadata"]["name"]) for e in events] == [
        (other, "x2")
    ]


def test_typed_watch_and_watch_true_from_the_sync_client(kube_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cm"}})
    events = list(watch.Watch().stream(core.list_namespaced_config_map, namespace, timeout_seconds=1))
    assert len(events) == 1
    assert isinstance(events[0]["object"], client.V1ConfigMap)


def test_resume_from_resource_version(kube_client: Any, namespace: str) -> None:
    api = client.CustomObjectsApi(kube_client)
    first = api.create_namespaced_custom_object(GROUP, VERSION, namespace, "rayjobs", _rayjob("c1"))
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, "rayjobs", _rayjob("c2"))
    api.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "rayjobs", "c1", {"spec": {"entrypoint": "echo 1"}}
    )
    events = list(
        watch.Watch().stream(
            api.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "rayjobs",
            resource_version=first["metadata"]["resourceVersion"],
            timeout_seconds=1,
        )
    )
    # Only what happened after that version, in order, with no synthetic ADDED for c1.
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "c2"),
        ("MODIFIED", "c1"),
    ]


def test_label_selector_watch_sees_objects_leave_and_enter(kube_client: Any, namespace: str) -> None:
    api = client.CustomObjectsApi(kube_client)
    created = api.create_namespaced_custom_object(GROUP, VERSION, namespace, "rayjobs", _rayjob("d", app="x"))
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, "rayjobs", _rayjob("other", app="y"))
    api.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "rayjobs", "d", {"metadata": {"labels": {"app": "z"}}}
    )
    api.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "rayjobs", "d", {"metadata": {"labels": {"app": "x"}}}
    )
    events = list(
        watch.Watch().stream(
            api.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "rayjobs",
            label_selector="app=x",
            resource_version=created["metadata"]["resourceVersion"],
            timeout_seconds=1,
        )
    )
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("DELETED", "d"),
        ("ADDED", "d"),
    ]


def test_field_selector_watches_one_object(kube_client: Any, namespace: str) -> None:
    api = client.CustomObjectsApi(kube_client)
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, "rayjobs", _rayjob("e1"))
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, "rayjobs", _rayjob("e2"))
    events = list(
        watch.Watch().stream(
            api.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "rayjobs",
            field_selector="metadata.name=e2",
            timeout_seconds=1,
        )
    )
    assert [e["object"]["metadata"]["name"] for e in events] == ["e2"]


def test_too_old_resource_version_is_410(tmp_path: Any) -> None:
    with LocalKubeRay(workdir=tmp_path, history_size=3) as kr:
        api_client = kube_api_client(kr)
        try:
            api = client.CustomObjectsApi(api_client)
            first = api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", _rayjob("f"))
            for i in range(5):
                api.patch_namespaced_custom_object(
                    GROUP, VERSION, "default", "rayjobs", "f", {"spec": {"entrypoint": f"echo {i}"}}
                )
            stream = watch.Watch().stream(
                api.list_namespaced_custom_object,
                GROUP,
                VERSION,
                "default",
                "rayjobs",
                resource_version=first["metadata"]["resourceVersion"],
            )
            # The client retries once after a 410 ERROR event, then raises it.
            with pytest.raises(ApiException) as err:
                next(iter(stream))
            assert err.value.status == 410
            # The newest versions are still in the history.
            latest = api.get_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", "f")
            events = list(
                watch.Watch().stream(
                    api.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    "default",
                    "rayjobs",
                    resource_version=latest["metadata"]["resourceVersion"],
                    timeout_seconds=1,
                )
            )
            assert events == []
        finally:
            api_client.close()


@pytest.fixture
def fresh_client(fresh_kuberay_api: LocalKubeRay) -> Iterator[Any]:
    api = kube_api_client(fresh_kuberay_api)
    try:
        yield api
    finally:
        api.close()


def test_bookmarks(fresh_kuberay_api: LocalKubeRay, fresh_client: Any) -> None:
    api = client.CustomObjectsApi(fresh_client)
    api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", _rayjob("g"))
    w = watch.Watch()
    types = []
    for event in w.stream(
        api.list_namespaced_custom_object,
        GROUP,
        VERSION,
        "default",
        "rayjobs",
        allow_watch_bookmarks=True,
        timeout_seconds=2,
    ):
        types.append(event["type"])
        if event["type"] == "BOOKMARK":
            bookmark_rv = event["object"]["metadata"]["resourceVersion"]
            w.stop()
    assert types == ["ADDED", "BOOKMARK"]
    assert int(bookmark_rv) == fresh_kuberay_api.store.resource_version
    # Without allowWatchBookmarks there are none.
    plain = list(
        watch.Watch().stream(
            api.list_namespaced_custom_object, GROUP, VERSION, "default", "rayjobs", timeout_seconds=1
        )
    )
    assert [e["type"] for e in plain] == ["ADDED"]


def test_send_initial_events_ends_with_a_bookmark(fresh_client: Any) -> None:
    api = client.CustomObjectsApi(fresh_client)
    api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", _rayjob("h"))
    response = api.api_client.call_api(
        "/apis/ray.io/v1/namespaces/default/rayjobs",
        "GET",
        query_params=[
            ("watch", "true"),
            ("sendInitialEvents", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersionMatch", "NotOlderThan"),
            ("timeoutSeconds", "1"),
        ],
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    lines = [line for line in response.data.decode().splitlines() if line]
    assert '"type":"ADDED"' in lines[0]
    assert '"type":"BOOKMARK"' in lines[1]
    assert "k8s.io/initial-events-end" in lines[1]


async def test_asyncio_watch_true_streams(kuberay_api: LocalKubeRay, namespace: str) -> None:
    # kubernetes_asyncio sends ?watch=True (capital T); kmock 0.8 answered it as a list.
    api_client = await kube_async_api_client(kuberay_api)
    try:
        api = aclient.CustomObjectsApi(api_client)
        await api.create_namespaced_custom_object(GROUP, VERSION, namespace, "rayjobs", _rayjob("i"))
        seen = []
        w = awatch.Watch()

        async def change() -> None:
            await asyncio.sleep(0.2)
            # kubernetes_asyncio would label a dict body as a JSON patch, which a real API server rejects.
            await api.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                "rayjobs",
                "i",
                {"spec": {"entrypoint": "echo 1"}},
                _content_type=MERGE_PATCH,
            )

        task = asyncio.create_task(change())
        async with w.stream(
            api.list_namespaced_custom_object, GROUP, VERSION, namespace, "rayjobs", timeout_seconds=5
        ) as stream:
            async for event in stream:
                seen.append(event["type"])
                if event["type"] == "MODIFIED":
                    w.stop()
        await task
        assert seen == ["ADDED", "MODIFIED"]
        watches = kuberay_api.requests.filter(watch=True)
        assert len(watches) == 1
        assert watches[0].query["watch"] == "True"
    finally:
        await api_client.close()


async def test_asyncio_watch_timeout(kuberay_api: LocalKubeRay, namespace: str) -> None:
    api_client = await kube_async_api_client(kuberay_api)
    try:
        api = aclient.CoreV1Api(api_client)
        started = time.monotonic()
        events = []
        async with awatch.Watch().stream(api.list_namespaced_pod, namespace, timeout_seconds=1) as stream:
            async for event in stream:
                events.append(event)
        assert events == []
        assert 0.9 <= time.monotonic() - started < 10
    finally:
        await api_client.close()
