"""CRUD of RayJob / RayCluster through the real clients against the emulated API (sync and async)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_ray_k8s import naming
from airflow_ray_k8s.exceptions import (
    CRDNotInstalledError,
    KubeConflictError,
    KubeInvalidError,
    KubeNotFoundError,
)
from airflow_ray_k8s.kube.client import KubeClient
from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB
from airflow_ray_k8s.status import RayJobStatus
from airflow_ray_k8s.testing.emulator.server import LocalKubeRay

from .kube_it import Api, settings_for, unique

HEAD = {
    "rayStartParams": {},
    "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.52.0"}]}},
}


def rayjob(
    name: str, entrypoint: str = "python -c 'print(1)'", task_key: str = "tk", **labels: str
) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {
            "name": name,
            "labels": {
                naming.LABEL_MANAGED_BY: naming.MANAGED_BY_VALUE,
                naming.LABEL_TASK_KEY: task_key,
                **labels,
            },
        },
        "spec": {
            "entrypoint": entrypoint,
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": 60,
            "rayClusterSpec": {"headGroupSpec": HEAD},
        },
    }


def raycluster(name: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {naming.LABEL_MANAGED_BY: naming.MANAGED_BY_VALUE, **labels}},
        "spec": {"headGroupSpec": HEAD},
    }


async def test_lifecycle(api: Api, kuberay_api: LocalKubeRay) -> None:
    name = unique("job")
    created = await api("create", RAYJOB, rayjob(name), namespace="default")
    assert created.created
    assert created.spec_matches
    meta = created.object["metadata"]
    assert meta["namespace"] == "default"
    assert meta["uid"]
    assert meta["resourceVersion"]
    assert meta["annotations"][naming.ANNOTATION_SPEC_HASH] == naming.spec_hash(rayjob(name)["spec"])

    got = await api("get", RAYJOB, name)
    assert got["metadata"]["uid"] == meta["uid"]
    status = await api("get_rayjob_status", name)
    assert isinstance(status, RayJobStatus)
    assert not status.is_terminal

    patched = await api("patch", RAYJOB, name, {"metadata": {"labels": {"stage": "two"}}})
    assert patched["metadata"]["labels"]["stage"] == "two"
    assert patched["metadata"]["labels"][naming.LABEL_MANAGED_BY] == naming.MANAGED_BY_VALUE

    assert await api("delete", RAYJOB, name, propagation_policy="Foreground") is True
    await api("wait_for_deletion", RAYJOB, name, timeout=10)
    assert await api("get_or_none", RAYJOB, name) is None
    with pytest.raises(KubeNotFoundError) as info:
        await api("get", RAYJOB, name)
    assert not isinstance(info.value, CRDNotInstalledError)
    # 404 on delete: already gone, not an error.
    assert await api("delete", RAYJOB, name) is False


async def test_409_re_attaches_and_compares_the_spec(api: Api) -> None:
    name = unique("job")
    first = await api("create", RAYJOB, rayjob(name))
    again = await api("create", RAYJOB, rayjob(name))
    assert first.created
    assert not again.created
    assert again.spec_matches
    assert again.object["metadata"]["uid"] == first.object["metadata"]["uid"]
    changed = await api("create", RAYJOB, rayjob(name, entrypoint="python other.py"))
    assert not changed.created
    assert not changed.spec_matches
    # Another task's object with the same name is a conflict, never a re-attach.
    with pytest.raises(KubeConflictError, match="not created by this task"):
        await api("create", RAYJOB, rayjob(name, task_key="another-task"))
    await api("delete", RAYJOB, name)


async def test_label_selectors(api: Api) -> None:
    run = unique("run")
    names = [unique("rc") for _ in range(3)]
    for i, name in enumerate(names):
        await api("create", RAYCLUSTER, raycluster(name, run=run, idx=str(i % 2)))
    both = await api("list_objects", RAYCLUSTER, label_selector=f"run={run}")
    assert sorted(o["metadata"]["name"] for o in both.items) == sorted(names)
    assert both.resource_version
    odd = await api("list_objects", RAYCLUSTER, label_selector=f"run={run},idx=1")
    assert [o["metadata"]["name"] for o in odd.items] == [names[1]]
    assert (await api("list_objects", RAYCLUSTER, label_selector=f"run={run},idx notin (0,1)")).items == []
    for name in names:
        await api("delete", RAYCLUSTER, name)


async def test_dry_run_stores_nothing(api: Api) -> None:
    name = unique("job")
    echoed = await api("dry_run_create", RAYJOB, rayjob(name))
    assert echoed["metadata"]["name"] == name
    assert await api("get_or_none", RAYJOB, name) is None


async def test_invalid_object_is_rejected(api: Api) -> None:
    bad = rayjob("Not_A_DNS_Name")
    with pytest.raises(KubeInvalidError, match="HTTP 422"):
        await api("create", RAYJOB, bad)


def test_crds_not_installed(tmp_path: Any) -> None:
    with (
        LocalKubeRay(mode="api", workdir=tmp_path, install_crds=False) as kr,
        KubeClient(settings_for(kr)) as c,
    ):
        with pytest.raises(CRDNotInstalledError, match="CRDs installed"):
            c.list_objects(RAYJOB)
        with pytest.raises(CRDNotInstalledError):
            c.create(RAYJOB, rayjob("job-a"))
        report = c.check_connection()
    assert not report.ok
    assert report.missing_crds == ["rayclusters.ray.io", "rayjobs.ray.io"]
