"""Retries on injected API failures (429 with Retry-After, 503, connection drops) and the namespace
allow-list, through both clients."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from airflow_ray_k8s.exceptions import (
    ConfigurationError,
    KubeForbiddenError,
    KubeTransientError,
    NamespaceNotAllowedError,
)
from airflow_ray_k8s.kube.aio import AsyncKubeClient
from airflow_ray_k8s.kube.client import KubeClient
from airflow_ray_k8s.kube.retry import RetryPolicy
from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB
from airflow_ray_k8s.testing.emulator.server import LocalKubeRay

from .kube_it import Api, settings_for, unique

OBJ = r"/rayclusters/"


def cluster(name: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "spec": {"headGroupSpec": {"template": {}}}}


async def test_429_retry_after_is_honoured(api: Api, kuberay_api: LocalKubeRay) -> None:
    name = unique("rc")
    await api("create", RAYCLUSTER, cluster(name))
    kuberay_api.requests.clear()
    kuberay_api.faults.error(429, retry_after=1, count=1, method="GET", path=OBJ)
    started = time.monotonic()
    got = await api("get", RAYCLUSTER, name)
    waited = time.monotonic() - started
    assert got["metadata"]["name"] == name
    assert kuberay_api.requests.count(method="GET", path=OBJ) == 2
    # The policy's own first back-off is 0.05 s: only the server's Retry-After explains a 1 s wait.
    assert waited >= 1.0


async def test_503_and_dropped_connections_are_retried(api: Api, kuberay_api: LocalKubeRay) -> None:
    name = unique("rc")
    kuberay_api.faults.error(503, count=2, method="POST")
    created = await api("create", RAYCLUSTER, cluster(name))
    assert created.created
    assert kuberay_api.requests.count(method="POST") == 3
    kuberay_api.requests.clear()
    kuberay_api.faults.drop_connections(count=1, method="PATCH")
    patched = await api("patch", RAYCLUSTER, name, {"metadata": {"labels": {"x": "y"}}})
    assert patched["metadata"]["labels"] == {"x": "y"}
    assert kuberay_api.requests.count(method="PATCH") == 2


async def test_create_whose_first_attempt_landed_re_attaches(api: Api, kuberay_api: LocalKubeRay) -> None:
    # The state a retried create meets when its first attempt was stored but the answer was lost:
    # the object exists, with our labels. The create answers 409 and re-attaches; never a duplicate.
    name = unique("rc")
    labels = {"app.kubernetes.io/managed-by": "airflow-ray-k8s"}
    body = {"metadata": {"name": name, "labels": labels}, "spec": {"headGroupSpec": {"template": {}}}}
    kuberay_api.call(lambda: kuberay_api.store.create(RAYCLUSTER, body, namespace="default"))
    kuberay_api.requests.clear()
    result = await api("create", RAYCLUSTER, body)
    assert not result.created
    assert [r.method for r in kuberay_api.requests] == ["POST", "GET"]
    assert [o["metadata"]["name"] for o in kuberay_api.objects(RAYCLUSTER, "default")].count(name) == 1


async def test_retries_give_up_with_a_transient_error(kuberay_api: LocalKubeRay) -> None:
    policy = RetryPolicy(max_attempts=3, backoffs=(0.01,), jitter=0.0)
    kuberay_api.faults.error(503, count=None, method="GET", path=r"/rayjobs")
    async with AsyncKubeClient(settings_for(kuberay_api), retry_policy=policy) as client:
        with pytest.raises(KubeTransientError, match="HTTP 503") as info:
            await client.list_objects(RAYJOB)
    assert info.value.status == 503
    assert kuberay_api.requests.count(method="GET", path=r"/rayjobs") == 3


def test_forbidden_is_not_retried(kuberay_api: LocalKubeRay) -> None:
    kuberay_api.faults.deny("delete", "rayjobs")
    with KubeClient(settings_for(kuberay_api)) as client, pytest.raises(KubeForbiddenError, match="HTTP 403"):
        client.delete(RAYJOB, "anything")
    assert kuberay_api.requests.count(method="DELETE") == 1


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("create", (RAYJOB, {"metadata": {"name": "x"}, "spec": {}})),
        ("get", (RAYJOB, "x")),
        ("list_objects", (RAYJOB,)),
        ("patch", (RAYJOB, "x", {"metadata": {}})),
        ("delete", (RAYJOB, "x")),
        ("wait_for_deletion", (RAYJOB, "x")),
        ("diagnose_cluster", ("x",)),
        ("get_job_logs", ("x", "job")),
        ("check_connection", ()),
    ],
)
async def test_forbidden_namespaces_are_refused_before_any_request(
    kuberay_api: LocalKubeRay, method: str, args: tuple[object, ...]
) -> None:
    settings = settings_for(kuberay_api, namespace="default", allowed_namespaces=frozenset({"default"}))
    with (
        KubeClient(settings) as sync_client,
        pytest.raises(NamespaceNotAllowedError, match="'kube-system' is not allowed"),
    ):
        getattr(sync_client, method)(*args, namespace="kube-system")
    async with AsyncKubeClient(settings) as async_client:
        with pytest.raises(NamespaceNotAllowedError):
            await getattr(async_client, method)(*args, namespace="kube-system")
    assert len(kuberay_api.requests) == 0


def test_body_namespace_outside_the_allow_list_is_refused(kuberay_api: LocalKubeRay) -> None:
    settings = settings_for(kuberay_api, allowed_namespaces=frozenset({"default"}))
    with KubeClient(settings) as client, pytest.raises(NamespaceNotAllowedError):
        client.create(RAYJOB, {"metadata": {"name": "x", "namespace": "kube-system"}, "spec": {}})
    assert len(kuberay_api.requests) == 0


async def test_unreadable_ca_bundle_is_a_configuration_error(
    kuberay_api: LocalKubeRay, tmp_path: Path
) -> None:
    settings = settings_for(kuberay_api, ssl_ca_cert=str(tmp_path / "missing-ca.pem"))
    async with AsyncKubeClient(settings) as client:
        with pytest.raises(ConfigurationError, match="cannot set up the Kubernetes client"):
            await client.list_objects(RAYJOB)
    assert len(kuberay_api.requests) == 0


async def test_delete_whose_first_attempt_landed_reports_the_deletion(
    api: Api, kuberay_api: LocalKubeRay
) -> None:
    # The wire sequence of a DELETE whose first attempt was served but whose answer was lost: the
    # connection drops, the retry finds the object gone (404). The emulator drops before serving,
    # so the object is deleted behind the client's back first, as that lost attempt would have.
    name = unique("rc")
    await api("create", RAYCLUSTER, cluster(name))
    kuberay_api.call(lambda: kuberay_api.store.delete(RAYCLUSTER, "default", name))
    kuberay_api.requests.clear()
    kuberay_api.faults.drop_connections(count=1, method="DELETE")
    assert await api("delete", RAYCLUSTER, name) is True
    assert kuberay_api.requests.count(method="DELETE") == 2
    # A 404 at the first attempt is still "already gone".
    kuberay_api.requests.clear()
    assert await api("delete", RAYCLUSTER, name) is False
    assert kuberay_api.requests.count(method="DELETE") == 1
