"""CRUD through the official ``kubernetes`` client: the gaps of kmock 0.8 are closed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes_asyncio import client as aclient
from kubernetes_asyncio.client.exceptions import ApiException as AsyncApiException

from airflow_ray_k8s.testing.emulator.server import LocalKubeRay
from tests.integration.conftest import kube_async_api_client

GROUP, VERSION = "ray.io", "v1"


def _name(prefix: str = "obj") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _rayjob(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name, "labels": labels},
        "spec": {"entrypoint": "python -c 'print(1)'"},
    }


def test_create_answers_201_with_server_fields(kube_client: Any, kuberay_api: LocalKubeRay) -> None:
    api = client.CustomObjectsApi(kube_client)
    name = _name()
    body, status, _ = api.create_namespaced_custom_object_with_http_info(
        GROUP, VERSION, "default", "rayjobs", _rayjob(name)
    )
    assert status == 201
    meta = body["metadata"]
    assert meta["name"] == name
    assert meta["namespace"] == "default"  # filled from the URL
    assert meta["uid"]
    assert meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1
    assert int(meta["resourceVersion"]) > 0


def test_typed_create_returns_the_object(kube_client: Any) -> None:
    # kmock's 200 made the official client return None for typed creates.
    core = client.CoreV1Api(kube_client)
    pod = core.create_namespaced_pod(
        "default", {"metadata": {"name": _name("pod")}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    )
    assert isinstance(pod, client.V1Pod)
    assert pod.metadata.uid
    assert pod.metadata.namespace == "default"


def test_create_conflict_and_not_found(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    name = _name()
    api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", _rayjob(name))
    with pytest.raises(ApiException) as exists:
        api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", _rayjob(name))
    assert exists.value.status == 409
    assert '"reason":"AlreadyExists"' in exists.value.body
    with pytest.raises(ApiException) as missing:
        api.get_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", _name("missing"))
    assert missing.value.status == 404


def test_create_in_missing_namespace_is_404(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    with pytest.raises(ApiException) as err:
        api.create_namespaced_custom_object(GROUP, VERSION, "no-such-ns", "rayjobs", _rayjob(_name()))
    assert err.value.status == 404


def test_namespace_mismatch_is_400(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    body = _rayjob(_name())
    body["metadata"]["namespace"] = "kube-system"
    with pytest.raises(ApiException) as err:
        api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", body)
    assert err.value.status == 400


def test_invalid_name_is_422(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    with pytest.raises(ApiException) as err:
        api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", _rayjob("Not_A_Name"))
    assert err.value.status == 422


def test_annotations_over_256_kib_in_all_are_422(kube_client: Any) -> None:
    """The API server's total annotation size limit (what the provider's kept results must fit in)."""
    api = client.CustomObjectsApi(kube_client)
    body = _rayjob(_name("big"))
    body["metadata"]["annotations"] = {"a.example.com/one": "x" * 200_000, "a.example.com/two": "y" * 70_000}
    with pytest.raises(ApiException) as err:
        api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", body)
    assert err.value.status == 422
    assert "must have at most 262144 bytes" in err.value.body
    body["metadata"]["annotations"].pop("a.example.com/two")
    api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", body)
    api.delete_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", body["metadata"]["name"])


def test_generate_name(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    body = _rayjob("")
    del body["metadata"]["name"]
    body["metadata"]["generateName"] = "gen-"
    created = api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", body)
    assert created["metadata"]["name"].startswith("gen-")
    assert len(created["metadata"]["name"]) == len("gen-") + 5


def test_label_selectors(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    ns = _name("ns")
    client.CoreV1Api(kube_client).create_namespace({"metadata": {"name": ns}})
    api.create_namespaced_custom_object(GROUP, VERSION, ns, "rayjobs", _rayjob("a", app="x", tier="web"))
    api.create_namespaced_custom_object(GROUP, VERSION, ns, "rayjobs", _rayjob("b", app="x", tier="db"))
    api.create_namespaced_custom_object(GROUP, VERSION, ns, "rayjobs", _rayjob("c", app="y"))

    def names(**kwargs: Any) -> list[str]:
        items = api.list_namespaced_custom_object(GROUP, VERSION, ns, "rayjobs", **kwargs)["items"]
        return [i["metadata"]["name"] for i in items]

    assert names() == ["a", "b", "c"]
    assert names(label_selector="app=x") == ["a", "b"]
    assert names(label_selector="app=x,tier!=web") == ["b"]
    assert names(label_selector="tier in (web,db)") == ["a", "b"]
    assert names(label_selector="tier notin (web)") == ["b", "c"]
    assert names(label_selector="!tier") == ["c"]
    assert names(label_selector="tier") == ["a", "b"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b") == ["a", "c"]


def test_list_is_paginated_with_limit_and_continue(kube_client: Any) -> None:
    core = client.CoreV1Api(kube_client)
    ns = _name("ns")
    core.create_namespace({"metadata": {"name": ns}})
    for i in range(5):
        core.create_namespaced_secret(ns, {"metadata": {"name": f"s{i}"}})
    first = core.list_namespaced_secret(ns, limit=2)
    assert [s.metadata.name for s in first.items] == ["s0", "s1"]
    assert first.metadata.remaining_item_count == 3
    second = core.list_namespaced_secret(ns, limit=10, _continue=first.metadata._continue)
    assert [s.metadata.name for s in second.items] == ["s2", "s3", "s4"]
    assert second.metadata._continue is None


def test_all_namespaces_list(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    ns = _name("ns")
    client.CoreV1Api(kube_client).create_namespace({"metadata": {"name": ns}})
    name = _name()
    api.create_namespaced_custom_object(GROUP, VERSION, ns, "rayjobs", _rayjob(name))
    items = api.list_cluster_custom_object(GROUP, VERSION, "rayjobs")["items"]
    assert (ns, name) in {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items}


def test_merge_patch_bumps_generation_and_resource_version(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    name = _name()
    created = api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", _rayjob(name))
    patched = api.patch_namespaced_custom_object(
        GROUP, VERSION, "default", "rayjobs", name, {"spec": {"suspend": True}}
    )
    assert patched["spec"]["suspend"] is True
    assert patched["spec"]["entrypoint"] == created["spec"]["entrypoint"]
    assert patched["metadata"]["generation"] == 2
    assert int(patched["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    # Metadata-only changes keep the generation.
    labelled = api.patch_namespaced_custom_object(
        GROUP, VERSION, "default", "rayjobs", name, {"metadata": {"labels": {"x": "y"}}}
    )
    assert labelled["metadata"]["generation"] == 2
    assert labelled["metadata"]["labels"] == {"x": "y"}
    # A no-op patch changes nothing, not even the resourceVersion.
    again = api.patch_namespaced_custom_object(
        GROUP, VERSION, "default", "rayjobs", name, {"metadata": {"labels": {"x": "y"}}}
    )
    assert again["metadata"]["resourceVersion"] == labelled["metadata"]["resourceVersion"]


def test_json_patch_and_strategic_patch_on_core(kube_client: Any) -> None:
    core = client.CoreV1Api(kube_client)
    name = _name("cm")
    core.create_namespaced_config_map("default", {"metadata": {"name": name}, "data": {"a": "1"}})
    # A dict body goes as strategic merge patch, a list as JSON patch.
    core.patch_namespaced_config_map(name, "default", {"data": {"b": "2"}})
    patched = core.patch_namespaced_config_map(name, "default", [{"op": "remove", "path": "/data/a"}])
    assert patched.data == {"b": "2"}


def test_patch_with_stale_resource_version_is_409(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    name = _name()
    created = api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", _rayjob(name))
    rv = created["metadata"]["resourceVersion"]
    api.patch_namespaced_custom_object(
        GROUP, VERSION, "default", "rayjobs", name, {"spec": {"entrypoint": "echo 0"}}
    )
    stale = {"metadata": {"resourceVersion": rv}, "spec": {"entrypoint": "echo 1"}}
    with pytest.raises(ApiException) as err:
        api.patch_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", name, stale)
    assert err.value.status == 409


def test_put_replaces_and_checks_resource_version(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    name = _name()
    created = api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", _rayjob(name))
    created["spec"] = {"entrypoint": "echo replaced"}
    replaced = api.replace_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", name, created)
    # What was sent, plus the CRD schema's defaults (as a real API server writes them).
    assert replaced["spec"] == {
        "entrypoint": "echo replaced",
        "backoffLimit": 0,
        "submissionMode": "K8sJobMode",
        "ttlSecondsAfterFinished": 0,
    }
    assert replaced["metadata"]["generation"] == 2
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]
    # The same (now stale) resourceVersion again: 409; none at all: 422.
    with pytest.raises(ApiException) as stale:
        api.replace_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", name, created)
    assert stale.value.status == 409
    del created["metadata"]["resourceVersion"]
    with pytest.raises(ApiException) as missing_rv:
        api.replace_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", name, created)
    assert missing_rv.value.status == 422
    with pytest.raises(ApiException) as missing:
        api.replace_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", _name(), created)
    assert missing.value.status == 404


def test_delete_removes(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    name = _name()
    api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", _rayjob(name))
    deleted = api.delete_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", name)
    # Removed at once (no finalizer): a real API server answers with a Success Status, not the object.
    assert (deleted["kind"], deleted["status"], deleted["details"]["name"]) == ("Status", "Success", name)
    with pytest.raises(ApiException) as err:
        api.get_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", name)
    assert err.value.status == 404
    with pytest.raises(ApiException) as again:
        api.delete_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", name)
    assert again.value.status == 404


def test_delete_preconditions(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    name = _name()
    api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", _rayjob(name))
    with pytest.raises(ApiException) as err:
        api.delete_namespaced_custom_object(
            GROUP, VERSION, "default", "rayjobs", name, body={"preconditions": {"uid": "not-the-uid"}}
        )
    assert err.value.status == 409


def test_dry_run_stores_nothing(kube_client: Any, kuberay_api: LocalKubeRay) -> None:
    api = client.CustomObjectsApi(kube_client)
    name = _name()
    created = api.create_namespaced_custom_object(
        GROUP, VERSION, "default", "rayjobs", _rayjob(name), dry_run="All"
    )
    assert created["metadata"]["uid"]
    assert not [o for o in kuberay_api.objects("rayjobs", "default") if o["metadata"]["name"] == name]
    with pytest.raises(ApiException) as invalid:
        api.create_namespaced_custom_object(
            GROUP, VERSION, "default", "rayjobs", _rayjob("BAD"), dry_run="All"
        )
    assert invalid.value.status == 422
    api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", _rayjob(name))
    api.patch_namespaced_custom_object(
        GROUP, VERSION, "default", "rayjobs", name, {"spec": {"suspend": True}}, dry_run="All"
    )
    api.delete_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", name, dry_run="All")
    stored = api.get_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", name)
    assert "suspend" not in stored["spec"]


def test_token_is_required(kuberay_api: LocalKubeRay) -> None:
    configuration = client.Configuration()
    configuration.host = kuberay_api.url
    with client.ApiClient(configuration) as anonymous, pytest.raises(ApiException) as err:
        client.CoreV1Api(anonymous).list_namespace()
    assert err.value.status == 401
    configuration.api_key = {"authorization": "wrong"}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    with client.ApiClient(configuration) as wrong, pytest.raises(ApiException) as err:
        client.CoreV1Api(wrong).list_namespace()
    assert err.value.status == 401


def test_request_log_has_no_headers(kube_client: Any, kuberay_api: LocalKubeRay) -> None:
    client.CoreV1Api(kube_client).list_namespace()
    logged = kuberay_api.requests.filter(method="GET", path="^/api/v1/namespaces$")
    assert len(logged) == 1
    assert kuberay_api.token not in repr(logged) + repr(kuberay_api)


def test_events_by_involved_object(kube_client: Any) -> None:
    core = client.CoreV1Api(kube_client)
    pod = _name("pod")
    for obj_name, reason in ((pod, "Failed"), (_name("other"), "Scheduled")):
        core.create_namespaced_event(
            "default",
            {
                "metadata": {"generateName": f"{obj_name}."},
                "involvedObject": {"kind": "Pod", "name": obj_name, "namespace": "default"},
                "reason": reason,
                "type": "Warning",
                "message": "ImagePullBackOff",
            },
        )
    events = core.list_namespaced_event("default", field_selector=f"involvedObject.name={pod}")
    assert [e.reason for e in events.items] == ["Failed"]


def test_delete_collection_by_label(kube_client: Any) -> None:
    core = client.CoreV1Api(kube_client)
    ns = _name("ns")
    core.create_namespace({"metadata": {"name": ns}})
    for i, app in enumerate(("x", "x", "y")):
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"cm{i}", "labels": {"app": app}}})
    core.delete_collection_namespaced_config_map(ns, label_selector="app=x")
    assert [c.metadata.name for c in core.list_namespaced_config_map(ns).items] == ["cm2"]


def test_service_names_are_dns_labels(kube_client: Any) -> None:
    core = client.CoreV1Api(kube_client)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service(
            "default", {"metadata": {"name": "a.b"}, "spec": {"ports": [{"port": 80}]}}
        )
    assert err.value.status == 422
    svc = core.create_namespaced_service(
        "default", {"metadata": {"name": _name("svc")}, "spec": {"ports": [{"port": 80}]}}
    )
    assert svc.spec.ports[0].port == 80


def test_pod_and_service_defaults(kube_client: Any) -> None:
    core = client.CoreV1Api(kube_client)
    pod = core.create_namespaced_pod(
        "default", {"metadata": {"name": "defaults"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    )
    assert pod.status.phase == "Pending"
    svc = core.create_namespaced_service(
        "default", {"metadata": {"name": "defaults"}, "spec": {"ports": [{"port": 1}]}}
    )
    assert svc.spec.type == "ClusterIP"
    assert svc.spec.cluster_ip.startswith("10.96.")
    headless = core.create_namespaced_service(
        "default", {"metadata": {"name": "headless"}, "spec": {"clusterIP": "None", "ports": [{"port": 1}]}}
    )
    assert headless.spec.cluster_ip == "None"


def test_patch_body_errors(kube_client: Any) -> None:
    api = client.CustomObjectsApi(kube_client)
    name = _name()
    api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", _rayjob(name))
    with pytest.raises(ApiException) as not_applicable:
        api.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            "default",
            "rayjobs",
            name,
            [{"op": "remove", "path": "/spec/missing"}],
            _content_type="application/json-patch+json",
        )
    assert not_applicable.value.status == 422
    with pytest.raises(ApiException) as apply:
        api.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            "default",
            "rayjobs",
            name,
            {"spec": {}},
            _content_type="application/apply-patch+yaml",
        )
    assert apply.value.status == 415


async def test_dict_sent_as_json_patch_is_400(kuberay_api: LocalKubeRay) -> None:
    # kubernetes_asyncio labels a dict body for a custom object as a JSON patch unless told otherwise;
    # a real API server refuses that, so the emulator does too (the sync client relabels it itself).
    api_client = await kube_async_api_client(kuberay_api)
    try:
        api = aclient.CustomObjectsApi(api_client)
        name = _name()
        await api.create_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", _rayjob(name))
        with pytest.raises(AsyncApiException) as err:
            await api.patch_namespaced_custom_object(GROUP, VERSION, "default", "rayjobs", name, {"spec": {}})
        assert err.value.status == 400
        patched = await api.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            "default",
            "rayjobs",
            name,
            {"spec": {"entrypoint": "echo 1"}},
            _content_type="application/merge-patch+json",
        )
        assert patched["spec"]["entrypoint"] == "echo 1"
    finally:
        await api_client.close()
