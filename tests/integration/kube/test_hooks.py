"""The Airflow hooks on real Airflow connections (``kuberay`` and the cncf ``kubernetes`` type)."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
import yaml

from airflow_ray_k8s.exceptions import RayDashboardError
from airflow_ray_k8s.hooks.kuberay import AsyncKubeRayHook, KubeRayHook
from airflow_ray_k8s.resources import RAYJOB, SECRET
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


def _masked(line: str) -> str:
    # The processor Airflow's task-log pipeline runs on every event (the supervisor's, for tasks).
    from airflow.sdk.log import mask_logs

    return str(mask_logs(None, "info", {"event": line})["event"])


def _content_conn(monkeypatch: pytest.MonkeyPatch, kr: LocalKubeRay, conn_id: str, token: str) -> str:
    kubeconfig = kubeconfig_dict(kr.url, kr.token)
    kubeconfig["users"].append({"name": "spare", "user": {"token": token}})
    content = yaml.safe_dump(kubeconfig)
    extra = {"kube_config": content, "ray_token_secret": _secret_name(conn_id)}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "kuberay", "extra": extra})
    )
    return content


def _secret_name(conn_id: str) -> str:
    return conn_id.replace("_", "-") + "-ray-token"


def _ray_token_secret(kr: LocalKubeRay, name: str, token: str) -> None:
    data = {"auth_token": base64.b64encode(token.encode()).decode()}
    kr.call(lambda: kr.store.create(SECRET, {"metadata": {"name": name}, "data": data}, namespace="default"))


def test_kubeconfig_and_ray_token_are_masked_in_task_logs(
    kuberay_api: LocalKubeRay, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = unique("mask_sync").replace("-", "_")
    kube_token = f"kube-{uuid.uuid4().hex}"
    ray_token = f"ray-{uuid.uuid4().hex}"
    content = _content_conn(monkeypatch, kuberay_api, conn_id, kube_token)
    _ray_token_secret(kuberay_api, _secret_name(conn_id), ray_token)
    line = f"Authorization: Bearer {kube_token} x-ray-authorization: Bearer {ray_token}"
    assert _masked(line) == line  # nothing knows these yet
    hook = KubeRayHook(conn_id)
    hook.settings  # noqa: B018  -- loads the connection
    assert kube_token not in _masked(line)
    assert ray_token in _masked(line)  # not read yet
    masked = _masked(content)  # the content as a whole (another test's prefix of it may match first)
    assert "server:" not in masked
    assert kube_token not in masked
    assert kuberay_api.token not in masked
    with pytest.raises(RayDashboardError):
        hook.get_job_info("no-head", "job")  # reads the token Secret, then the proxy answers 404
    hook.close()
    assert _masked(line) == "Authorization: Bearer *** x-ray-authorization: Bearer ***"


async def test_async_hook_masks_the_same_secrets(
    kuberay_api: LocalKubeRay, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = unique("mask_async").replace("-", "_")
    kube_token = f"kube-{uuid.uuid4().hex}"
    ray_token = f"ray-{uuid.uuid4().hex}"
    _content_conn(monkeypatch, kuberay_api, conn_id, kube_token)
    _ray_token_secret(kuberay_api, _secret_name(conn_id), ray_token)
    async with AsyncKubeRayHook(conn_id) as hook:
        assert kube_token not in _masked(f"token {kube_token}")
        with pytest.raises(RayDashboardError):
            await hook.get_job_logs("no-head", "job")
    assert ray_token not in _masked(f"token {ray_token}")
