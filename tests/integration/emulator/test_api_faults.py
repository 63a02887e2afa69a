"""Fault injection (``kr.faults``) and the request log (``kr.requests``) through the official clients."""

from __future__ import annotations

import threading
import time
from typing import Any

import aiohttp
import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from kubernetes_asyncio import client as aclient
from kubernetes_asyncio.client.exceptions import ApiException as AsyncApiException

from airflow_ray_k8s.testing.emulator.server import LocalKubeRay
from tests.integration.conftest import kube_async_api_client


async def test_429_with_retry_after(kuberay_api: LocalKubeRay) -> None:
    rule = kuberay_api.faults.error(429, retry_after=3, path="/namespaces$")
    api_client = await kube_async_api_client(kuberay_api)
    try:
        core = aclient.CoreV1Api(api_client)
        with pytest.raises(AsyncApiException) as err:
            await core.list_namespace()
        assert err.value.status == 429
        assert err.value.headers["Retry-After"] == "3"
        assert rule.hits == 1
        assert (await core.list_namespace()).items  # count=1: spent
    finally:
        await api_client.close()


def test_sync_client_honours_retry_after(kube_client: Any, kuberay_api: LocalKubeRay) -> None:
    # urllib3 (under the sync client) retries a 429 that carries Retry-After on its own.
    kuberay_api.faults.error(429, retry_after=1, path="/namespaces$")
    started = time.monotonic()
    assert client.CoreV1Api(kube_client).list_namespace().items
    assert time.monotonic() - started >= 0.9
    assert kuberay_api.requests.count(path="/namespaces$") == 2


def test_error_count_and_method_filter(kube_client: Any, kuberay_api: LocalKubeRay) -> None:
    kuberay_api.faults.error(503, count=2, method="POST")
    core = client.CoreV1Api(kube_client)
    core.list_namespace()  # GETs are not affected
    for _ in range(2):
        with pytest.raises(ApiException) as err:
            core.create_namespaced_config_map("default", {"metadata": {"name": "cm-faults"}})
        assert err.value.status == 503
    core.create_namespaced_config_map("default", {"metadata": {"name": "cm-faults"}})
    assert kuberay_api.requests.count(method="POST") == 3


def test_error_rate_is_seeded_and_partial(kube_client: Any, kuberay_api: LocalKubeRay) -> None:
    rule = kuberay_api.faults.error(500, count=None, rate=0.5, path="/configmaps$")
    core = client.CoreV1Api(kube_client)
    statuses = []
    for _ in range(40):
        try:
            core.list_namespaced_config_map("default")
            statuses.append(200)
        except ApiException as exc:
            statuses.append(exc.status)
    failures = statuses.count(500)
    assert failures + statuses.count(200) == 40
    assert failures == rule.hits
    assert 5 < failures < 35


async def test_dropped_connection(kuberay_api: LocalKubeRay) -> None:
    kuberay_api.faults.drop_connections(count=1, method="POST")
    api_client = await kube_async_api_client(kuberay_api)
    try:
        core = aclient.CoreV1Api(api_client)
        body = {"metadata": {"name": "cm-dropped"}}
        with pytest.raises(aiohttp.ClientError):
            await core.create_namespaced_config_map("default", body)
        assert await core.create_namespaced_config_map("default", body)
        # aiohttp itself retries an idempotent request once when the server hangs up.
        kuberay_api.faults.drop_connections(count=1, method="GET")
        kuberay_api.requests.clear()
        assert (await core.list_namespace()).items
        assert kuberay_api.requests.count(method="GET") == 2
    finally:
        await api_client.close()


def test_drop_watches_ends_open_streams(kube_client: Any, kuberay_api: LocalKubeRay) -> None:
    core = client.CoreV1Api(kube_client)
    ended = threading.Event()

    def watch_it() -> None:
        for _ in watch.Watch().stream(core.list_namespaced_secret, "kube-public", timeout_seconds=30):
            pass
        ended.set()

    thread = threading.Thread(target=watch_it)
    thread.start()
    deadline = time.monotonic() + 10
    while kuberay_api.call(lambda: len(kuberay_api.store.watchers())) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kuberay_api.faults.drop_watches("secrets") == 1
    assert ended.wait(10)  # long before the 30 s timeout
    thread.join()


async def test_aborted_watch_is_a_connection_error(kuberay_api: LocalKubeRay) -> None:
    api_client = await kube_async_api_client(kuberay_api)
    try:
        core = aclient.CoreV1Api(api_client)
        response = await core.list_namespaced_secret(
            "kube-public", watch=True, timeout_seconds=30, _preload_content=False
        )
        assert kuberay_api.faults.drop_watches("secrets", abort=True) == 1
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    finally:
        await api_client.close()


def test_forced_410_on_watch(kube_client: Any, kuberay_api: LocalKubeRay) -> None:
    kuberay_api.faults.gone(count=2)
    core = client.CoreV1Api(kube_client)
    stream = watch.Watch().stream(core.list_namespaced_secret, "default", resource_version="1")
    with pytest.raises(ApiException) as err:
        next(iter(stream))
    assert err.value.status == 410
    assert kuberay_api.requests.count(watch=True) == 2  # the client retried once, as it does on 410


def test_compaction_makes_old_versions_gone(kube_client: Any, kuberay_api: LocalKubeRay) -> None:
    core = client.CoreV1Api(kube_client)
    secret = core.create_namespaced_secret("default", {"metadata": {"name": "compact"}})
    core.patch_namespaced_secret("compact", "default", {"metadata": {"labels": {"changed": "yes"}}})
    kuberay_api.call(kuberay_api.store.compact)  # the change after `secret` is no longer in the history
    w = watch.Watch()
    with pytest.raises(ApiException) as err:
        next(
            iter(
                w.stream(
                    core.list_namespaced_secret, "default", resource_version=secret.metadata.resource_version
                )
            )
        )
    assert err.value.status == 410


def test_denied_verbs_and_access_reviews(kube_client: Any, kuberay_api: LocalKubeRay) -> None:
    auth = client.AuthorizationV1Api(kube_client)

    def allowed(verb: str, resource: str, subresource: str = "") -> bool:
        review = auth.create_self_subject_access_review(
            {
                "spec": {
                    "resourceAttributes": {
                        "namespace": "default",
                        "verb": verb,
                        "group": "ray.io",
                        "resource": resource,
                        "subresource": subresource,
                    }
                }
            }
        )
        return bool(review.status.allowed)

    assert allowed("delete", "rayjobs")
    kuberay_api.faults.deny("delete", "rayjobs")
    kuberay_api.faults.deny("get", "services", subresource="proxy")
    assert not allowed("delete", "rayjobs")
    assert allowed("create", "rayjobs")
    assert not allowed("get", "services", "proxy")
    custom = client.CustomObjectsApi(kube_client)
    custom.create_namespaced_custom_object(
        "ray.io", "v1", "default", "rayjobs", {"metadata": {"name": "deny"}}
    )
    with pytest.raises(ApiException) as err:
        custom.delete_namespaced_custom_object("ray.io", "v1", "default", "rayjobs", "deny")
    assert err.value.status == 403


def test_one_watch_request_is_logged_per_watch(kube_client: Any, kuberay_api: LocalKubeRay) -> None:
    core = client.CoreV1Api(kube_client)
    list(watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=1))
    core.list_namespaced_pod("default")
    watches = kuberay_api.requests.filter(watch=True)
    assert len(watches) == 1
    assert watches[0].path == "/api/v1/namespaces/default/pods"
    assert watches[0].query["timeoutSeconds"] == "1"
    assert kuberay_api.requests.count(watch=False, path="/pods$") == 1
