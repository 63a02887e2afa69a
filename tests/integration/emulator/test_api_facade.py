"""``LocalKubeRay``: lifecycle, kubeconfig, Airflow connection, discovery and the KubeRay CRDs."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, dynamic
from kubernetes.client.exceptions import ApiException

from airflow_ray_k8s.resources import RAYJOB
from airflow_ray_k8s.testing.emulator.server import LocalKubeRay
from tests.integration.conftest import kube_api_client


def test_kubeconfig_and_connection(kuberay_api: LocalKubeRay, tmp_path: Path) -> None:
    path = kuberay_api.write_kubeconfig(tmp_path / "nested" / "kubeconfig")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    api_client = config.new_client_from_config(config_file=str(path))
    try:
        assert client.VersionApi(api_client).get_code().major == "1"
    finally:
        api_client.close()
    env = kuberay_api.airflow_conn_env()
    assert list(env) == ["AIRFLOW_CONN_KUBERAY_DEFAULT"]
    conn = json.loads(env["AIRFLOW_CONN_KUBERAY_DEFAULT"])
    assert conn["conn_type"] == "kuberay"
    assert conn["extra"]["namespace"] == "default"
    assert Path(conn["extra"]["kube_config_path"]).is_file()
    assert kuberay_api.token not in env["AIRFLOW_CONN_KUBERAY_DEFAULT"]


def test_call_runs_functions_and_coroutines_on_the_loop(kuberay_api: LocalKubeRay) -> None:
    async def on_loop() -> str:
        return threading.current_thread().name

    assert kuberay_api.call(on_loop()) == "local-kuberay"
    assert kuberay_api.call(lambda: threading.current_thread().name) == "local-kuberay"
    assert kuberay_api.call(on_loop) == "local-kuberay"


def test_lifecycle_stop_twice_closes_watches(tmp_path: Path) -> None:
    kr = LocalKubeRay(workdir=tmp_path)
    with pytest.raises(RuntimeError):
        _ = kr.url
    kr.start()
    kr.start()  # idempotent
    api_client = kube_api_client(kr)
    core = client.CoreV1Api(api_client)
    done = threading.Event()

    def watch_forever() -> None:
        try:
            core.list_namespaced_pod("default", watch=True, _preload_content=False).read()
        finally:
            done.set()

    thread = threading.Thread(target=watch_forever, daemon=True)
    thread.start()
    deadline = 100
    while kr.call(lambda: len(kr.store.watchers())) == 0 and deadline:
        deadline -= 1
        threading.Event().wait(0.05)
    kr.stop()
    assert done.wait(10)  # the open watch ended with the emulator
    kr.stop()  # safe twice
    api_client.close()
    with pytest.raises(RuntimeError):
        kr.start()
    with pytest.raises(RuntimeError, match="not running"):
        kr.call(lambda: None)


def test_own_workdir_is_removed() -> None:
    with LocalKubeRay() as kr:
        workdir = kr.workdir
        kr.write_kubeconfig()
        assert workdir.is_dir()
    assert not workdir.exists()


def test_objects_snapshot(kuberay_api: LocalKubeRay) -> None:
    kuberay_api.call(
        lambda: kuberay_api.store.create(RAYJOB, {"metadata": {"name": "snap", "namespace": "default"}})
    )
    names = [o["metadata"]["name"] for o in kuberay_api.objects("rayjobs", "default")]
    assert "snap" in names
    assert kuberay_api.objects(RAYJOB, "kube-system") == []


def test_discovery_and_dynamic_client(kube_client: Any) -> None:
    groups = {g.name: g for g in client.ApisApi(kube_client).get_api_versions().groups}
    assert groups["ray.io"].preferred_version.version == "v1"
    resources = client.CoreV1Api(kube_client).get_api_resources()
    assert resources.group_version == "v1"
    assert {"pods", "services", "services/proxy", "events", "namespaces", "secrets"} <= {
        r.name for r in resources.resources
    }
    dyn = dynamic.DynamicClient(kube_client)
    rayjobs = dyn.resources.get(api_version="ray.io/v1", kind="RayJob")
    created = rayjobs.create(body={"metadata": {"name": "dyn"}, "spec": {}}, namespace="default")
    assert created.metadata.uid
    assert dyn.resources.get(api_version="ray.io/v1", kind="RayCluster").namespaced


def test_kuberay_crds_are_served(kube_client: Any) -> None:
    ext = client.ApiextensionsV1Api(kube_client)
    for name in ("rayclusters.ray.io", "rayjobs.ray.io"):
        crd = ext.read_custom_resource_definition(name)
        served = [v.name for v in crd.spec.versions if v.served]
        assert "v1" in served
        assert any(c.type == "Established" and c.status == "True" for c in crd.status.conditions)
        v1 = next(v for v in crd.spec.versions if v.name == "v1")
        assert v1.subresources.status is not None


def test_cluster_without_kuberay(tmp_path: Path) -> None:
    with LocalKubeRay(workdir=tmp_path, install_crds=False) as kr:
        api_client = kube_api_client(kr)
        try:
            with pytest.raises(ApiException) as err:
                client.CustomObjectsApi(api_client).list_namespaced_custom_object(
                    "ray.io", "v1", "default", "rayjobs"
                )
            assert err.value.status == 404
            with pytest.raises(ApiException) as crd:
                client.ApiextensionsV1Api(api_client).read_custom_resource_definition("rayjobs.ray.io")
            assert crd.value.status == 404
            groups = [g.name for g in client.ApisApi(api_client).get_api_versions().groups]
            assert "ray.io" not in groups
        finally:
            api_client.close()


def test_a_forked_child_does_not_stop_the_parents_emulator() -> None:
    with LocalKubeRay() as kr:  # its own temporary workdir, which stop() removes
        kubeconfig = kr.write_kubeconfig()
        pid = os.fork()
        if pid == 0:  # the child: what an Airflow task process inherits, atexit hook included
            kr.stop()
            os._exit(0 if kubeconfig.exists() else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert kubeconfig.exists()
        api_client = kube_api_client(kr)
        try:
            assert client.VersionApi(api_client).get_code().major == "1"
        finally:
            api_client.close()
