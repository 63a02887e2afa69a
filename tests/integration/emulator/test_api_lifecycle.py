"""Status subresource, finalizers with deletionTimestamp, ownerReferences cascade, namespaces."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from airflow_ray_k8s.resources import POD, RAYCLUSTER, RAYJOB, SERVICE
from airflow_ray_k8s.testing.emulator.server import LocalKubeRay

GROUP, VERSION = "ray.io", "v1"


@pytest.fixture
def ns(kube_client: Any) -> str:
    name = f"l-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(kube_client).create_namespace({"metadata": {"name": name}})
    return name


@pytest.fixture
def custom(kube_client: Any) -> Any:
    return client.CustomObjectsApi(kube_client)


def _get(custom: Any, ns: str, plural: str, name: str) -> dict[str, Any] | None:
    try:
        obj: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return obj


def _owner(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_status_subresource_rules(custom: Any, ns: str) -> None:
    created = custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        ns,
        "rayjobs",
        {"metadata": {"name": "s"}, "spec": {"entrypoint": "echo 1"}, "status": {"ignored": True}},
    )
    assert "status" not in created  # dropped on create when status is a subresource
    updated = custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        ns,
        "rayjobs",
        "s",
        {"status": {"jobStatus": "RUNNING"}, "spec": {"entrypoint": "echo 2"}},
    )
    assert updated["status"] == {"jobStatus": "RUNNING"}
    assert updated["spec"] == created["spec"]  # the status endpoint writes status only
    assert updated["metadata"]["generation"] == 1  # status writes keep the generation
    main = custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        ns,
        "rayjobs",
        "s",
        {"status": {"jobStatus": "FAILED"}, "spec": {"entrypoint": "echo 3"}},
    )
    assert main["status"] == {"jobStatus": "RUNNING"}  # the main resource ignores status
    assert main["spec"]["entrypoint"] == "echo 3"
    assert main["metadata"]["generation"] == 2
    main["status"] = {"jobStatus": "SUCCEEDED"}
    replaced = custom.replace_namespaced_custom_object_status(GROUP, VERSION, ns, "rayjobs", "s", main)
    assert replaced["status"] == {"jobStatus": "SUCCEEDED"}
    assert replaced["metadata"]["generation"] == 2


def test_finalizer_holds_deletion_until_removed(custom: Any, ns: str, kuberay_api: LocalKubeRay) -> None:
    custom.create_namespaced_custom_object(
        GROUP, VERSION, ns, "rayjobs", {"metadata": {"name": "f", "finalizers": ["ray.io/rayjob-finalizer"]}}
    )
    pending = custom.delete_namespaced_custom_object(GROUP, VERSION, ns, "rayjobs", "f")
    assert pending["metadata"]["deletionTimestamp"]
    still = _get(custom, ns, "rayjobs", "f")
    assert still is not None
    assert still["metadata"]["deletionTimestamp"] == pending["metadata"]["deletionTimestamp"]
    # A name that is being deleted still exists; no new finalizers may be added now.
    with pytest.raises(ApiException) as exists:
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, "rayjobs", {"metadata": {"name": "f"}})
    assert exists.value.status == 409
    with pytest.raises(ApiException) as adding:
        custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            ns,
            "rayjobs",
            "f",
            {"metadata": {"finalizers": ["ray.io/rayjob-finalizer", "x/y"]}},
        )
    assert adding.value.status == 422
    # The controller removes its finalizer through the store: the object is then gone.
    kuberay_api.call(lambda: kuberay_api.store.patch(RAYJOB, ns, "f", {"metadata": {"finalizers": None}}))
    assert _get(custom, ns, "rayjobs", "f") is None


def _family(kr: LocalKubeRay, ns: str) -> None:
    """RayJob -> RayCluster -> head pod + service, linked by ownerReferences (as KubeRay does)."""

    def build() -> None:
        job = kr.store.create(RAYJOB, {"metadata": {"name": "job", "namespace": ns}})
        cluster = kr.store.create(
            RAYCLUSTER, {"metadata": {"name": "job-abcde", "namespace": ns, "ownerReferences": [_owner(job)]}}
        )
        for res, name in ((POD, "job-abcde-head"), (SERVICE, "job-abcde-head-svc")):
            kr.store.create(
                res, {"metadata": {"name": name, "namespace": ns, "ownerReferences": [_owner(cluster)]}}
            )

    kr.call(build)


def _names(kr: LocalKubeRay, ns: str) -> dict[str, list[str]]:
    return {
        res.plural: [o["metadata"]["name"] for o in kr.objects(res, ns)]
        for res in (RAYJOB, RAYCLUSTER, POD, SERVICE)
    }


def test_background_cascade(custom: Any, ns: str, kuberay_api: LocalKubeRay) -> None:
    _family(kuberay_api, ns)
    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, "rayjobs", "job")
    assert _names(kuberay_api, ns) == {"rayjobs": [], "rayclusters": [], "pods": [], "services": []}


def test_orphan_keeps_dependents_and_drops_their_owner_reference(
    custom: Any, ns: str, kuberay_api: LocalKubeRay
) -> None:
    _family(kuberay_api, ns)
    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, "rayjobs", "job", propagation_policy="Orphan")
    names = _names(kuberay_api, ns)
    assert names["rayjobs"] == []
    assert names["rayclusters"] == ["job-abcde"]
    assert names["pods"] == ["job-abcde-head"]
    cluster = _get(custom, ns, "rayclusters", "job-abcde")
    assert cluster is not None
    assert "ownerReferences" not in cluster["metadata"]


def test_foreground_waits_for_dependents_with_finalizers(
    custom: Any, ns: str, kuberay_api: LocalKubeRay
) -> None:
    _family(kuberay_api, ns)
    # A finalizer on the cluster keeps it (and so the foreground-deleted job) until released.
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, ns, "rayclusters", "job-abcde", {"metadata": {"finalizers": ["test/hold"]}}
    )
    custom.delete_namespaced_custom_object(
        GROUP, VERSION, ns, "rayjobs", "job", propagation_policy="Foreground"
    )
    job = _get(custom, ns, "rayjobs", "job")
    assert job is not None
    assert job["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in job["metadata"]["finalizers"]
    cluster = _get(custom, ns, "rayclusters", "job-abcde")
    assert cluster is not None
    assert cluster["metadata"]["deletionTimestamp"]
    assert _names(kuberay_api, ns)["pods"] == []  # the cluster's own dependents went first
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, ns, "rayclusters", "job-abcde", {"metadata": {"finalizers": []}}
    )
    assert _names(kuberay_api, ns) == {"rayjobs": [], "rayclusters": [], "pods": [], "services": []}


def test_dependent_with_another_live_owner_survives(custom: Any, ns: str, kuberay_api: LocalKubeRay) -> None:
    def build() -> None:
        a = kuberay_api.store.create(RAYJOB, {"metadata": {"name": "a", "namespace": ns}})
        b = kuberay_api.store.create(RAYJOB, {"metadata": {"name": "b", "namespace": ns}})
        kuberay_api.store.create(
            RAYCLUSTER,
            {"metadata": {"name": "shared", "namespace": ns, "ownerReferences": [_owner(a), _owner(b)]}},
        )

    kuberay_api.call(build)
    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, "rayjobs", "a")
    shared = _get(custom, ns, "rayclusters", "shared")
    assert shared is not None
    assert [r["name"] for r in shared["metadata"]["ownerReferences"]] == ["b"]
    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, "rayjobs", "b")
    assert _get(custom, ns, "rayclusters", "shared") is None


def test_namespace_deletion_removes_its_content(kube_client: Any, custom: Any, ns: str) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "rayjobs", {"metadata": {"name": "x"}})
    custom.create_namespaced_custom_object(
        GROUP, VERSION, ns, "rayjobs", {"metadata": {"name": "held", "finalizers": ["test/hold"]}}
    )
    core = client.CoreV1Api(kube_client)
    core.delete_namespace(ns)
    namespace = core.read_namespace(ns)
    assert namespace.status.phase == "Terminating"
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, "rayjobs", {"metadata": {"name": "new"}})
    assert err.value.status == 403
    assert _get(custom, ns, "rayjobs", "x") is None
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, ns, "rayjobs", "held", {"metadata": {"finalizers": []}}
    )
    with pytest.raises(ApiException) as gone:
        core.read_namespace(ns)
    assert gone.value.status == 404


def test_store_api_returns_copies(kuberay_api: LocalKubeRay, ns: str) -> None:
    def mutate() -> dict[str, Any] | None:
        created = kuberay_api.store.create(
            RAYJOB, {"metadata": {"name": "copy", "namespace": ns}, "spec": {}}
        )
        created["spec"]["entrypoint"] = "changed"
        listed = kuberay_api.store.list(RAYJOB, ns)
        listed[0]["spec"]["backoffLimit"] = 9
        return kuberay_api.store.get(RAYJOB, ns, "copy")

    spec = kuberay_api.call(mutate)["spec"]  # type: ignore[index]
    assert "entrypoint" not in spec
    assert spec["backoffLimit"] == 0  # the schema's default, untouched by the caller's copy


def test_system_namespaces_cannot_be_deleted(kube_client: Any) -> None:
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(kube_client).delete_namespace("default")
    assert err.value.status == 403


def test_propagation_policy_in_the_delete_options_body(
    custom: Any, ns: str, kuberay_api: LocalKubeRay
) -> None:
    _family(kuberay_api, ns)
    custom.delete_namespaced_custom_object(
        GROUP, VERSION, ns, "rayjobs", "job", body=client.V1DeleteOptions(propagation_policy="Orphan")
    )
    assert _names(kuberay_api, ns)["rayclusters"] == ["job-abcde"]
