"""The Airflow hooks on real Airflow connections (``kuberay`` and the cncf ``kubernetes`` type)."""

from __future__ import annotations

import json

import pytest
import yaml

from airflow_ray_k8s.hooks.kuberay import AsyncKubeRayHook, KubeRayHook
from airflow_ray_k8s.resources import RAYJOB
from airflow_ray_k8s.testing.emulator.kubeconfig import kubeconfig_dict
from airflow_ray_k8s.testing.emulator.server import LocalKubeRay

from .kube_it import unique


@pytest.fixture
def conn_id(kuberay_api: LocalKubeRay, monkeypatch: pytest.MonkeyPatch) -> str:
    conn_id = "kuberay_it"
    for key, value in kuberay_api.airflow_conn_env(conn_id).items():
        monkeypatch.setenv(key, value)
    return conn_id


def test_test_connection_on_a_kuberay_connection(conn_id: str, kuberay_api: LocalKubeRay) -> None:
    ok, message = KubeRayHook(conn_id).test_connection()
    assert ok, message
    assert "rayjobs.ray.io served versions v1" in message
    assert "all required permissions granted in namespace default" in message
    assert kuberay_api.requests.count(path="selfsubjectaccessreviews") >= 14


def test_test_connection_names_what_is_denied(conn_id: str, kuberay_api: LocalKubeRay) -> None:
    kuberay_api.faults.deny("delete", "rayjobs")
    kuberay_api.faults.deny("create", "services", subresource="proxy")
    ok, message = KubeRayHook(conn_id).test_connection()
    assert not ok
    assert "denied in namespace default: delete rayjobs.ray.io, create services/proxy" in message


def test_test_connection_reports_an_unreachable_server(monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = kubeconfig_dict("http://127.0.0.1:9", "t0k3n-unreachable")
    monkeypatch.setenv(
        "AIRFLOW_CONN_KUBERAY_DOWN",
        json.dumps(
            {
                "conn_type": "kuberay",
                "extra": {"kube_config": yaml.safe_dump(kubeconfig), "connect_timeout": 2},
            }
        ),
    )
    hook = KubeRayHook("kuberay_down")
    hook.retry_policy = type(hook.retry_policy)(max_attempts=1)
    ok, message = hook.test_connection()
    assert not ok
    assert "KubeTransientError" in message
    assert "t0k3n-unreachable" not in message


def test_cncf_kubernetes_connection_with_kubeconfig_content(
    kuberay_api: LocalKubeRay, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = yaml.safe_dump(kubeconfig_dict(kuberay_api.url, kuberay_api.token))
    extra = {"extra__kubernetes__kube_config": content, "extra__kubernetes__namespace": "default"}
    monkeypatch.setenv("AIRFLOW_CONN_K8S_CNCF", json.dumps({"conn_type": "kubernetes", "extra": extra}))
    hook = KubeRayHook("k8s_cncf")
    name = unique("job")
    created = hook.create(RAYJOB, {"metadata": {"name": name}, "spec": {"entrypoint": "x"}})
    assert created.created
    assert hook.get_conn() is hook
    assert hook.delete(RAYJOB, name)
    hook.close()


async def test_async_hook_waits_through_the_shared_hub(conn_id: str, kuberay_api: LocalKubeRay) -> None:
    name = unique("job")
    async with AsyncKubeRayHook(conn_id) as hook:
        await hook.create(RAYJOB, {"metadata": {"name": name}, "spec": {"entrypoint": "x"}})
        kuberay_api.call(
            lambda: kuberay_api.store.patch(RAYJOB, "default", name, {"metadata": {"labels": {"done": "1"}}})
        )
        obj = await hook.wait_for(
            RAYJOB, name, lambda o: o is not None and "done" in o["metadata"]["labels"], timeout=20
        )
        assert obj is not None
        assert (await hook.watch_hub()).active_streams == 0
        assert await hook.delete(RAYJOB, name)


def test_hook_metadata() -> None:
    assert KubeRayHook.conn_type == "kuberay"
    assert KubeRayHook.conn_name_attr == "kuberay_conn_id"
    assert KubeRayHook.default_conn_name == "kuberay_default"
    assert AsyncKubeRayHook.conn_type == "kuberay"
    assert "host" in KubeRayHook.get_ui_field_behaviour()["hidden_fields"]
