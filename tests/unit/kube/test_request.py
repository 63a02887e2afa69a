"""Pure request building and response reading."""

from __future__ import annotations

import pytest

from airflow_ray_k8s.exceptions import KubeApiError, KubeInvalidResponseError
from airflow_ray_k8s.kube import request as rq
from airflow_ray_k8s.kube.config import ConnectionSettings
from airflow_ray_k8s.kube.transport import call_kwargs
from airflow_ray_k8s.resources import CRD, NAMESPACE, RAYCLUSTER, RAYJOB


def test_create_and_dry_run() -> None:
    body = {"metadata": {"name": "j"}, "spec": {}}
    req = rq.create(RAYJOB, "ray", body)
    assert (req.method, req.path, req.query) == ("POST", "/apis/ray.io/v1/namespaces/ray/rayjobs", ())
    assert req.body == body
    assert req.namespace == "ray"
    assert req.describe() == "create RayJob ray/j"
    dry = rq.create(RAYJOB, "ray", body, dry_run=True)
    assert dry.query == (("dryRun", "All"),)
    assert dry.describe().startswith("dry-run create")


def test_get_list_patch_delete() -> None:
    assert rq.get(RAYCLUSTER, "ray", "c").path == "/apis/ray.io/v1/namespaces/ray/rayclusters/c"
    listing = rq.list_(
        RAYJOB, "ray", label_selector="a=b,c", field_selector="metadata.name=x", continue_token="t"
    )
    assert dict(listing.query) == {
        "labelSelector": "a=b,c",
        "fieldSelector": "metadata.name=x",
        "limit": "500",
        "continue": "t",
    }
    patch = rq.merge_patch(RAYJOB, "ray", "j", {"spec": {"suspend": True}})
    assert patch.method == "PATCH"
    assert patch.content_type == "application/merge-patch+json"
    delete = rq.delete(RAYJOB, "ray", "j", propagation_policy="Foreground", grace_period_seconds=0)
    assert delete.body == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "propagationPolicy": "Foreground",
        "gracePeriodSeconds": 0,
    }
    with pytest.raises(ValueError, match="propagation"):
        rq.delete(RAYJOB, "ray", "j", propagation_policy="Eventually")


def test_cluster_scoped_requests_carry_no_namespace() -> None:
    assert rq.get(NAMESPACE, "ignored", "ray").path == "/api/v1/namespaces/ray"
    assert rq.get(NAMESPACE, "ignored", "ray").namespace is None
    assert rq.get_crd("rayjobs.ray.io").path == CRD.object_path("rayjobs.ray.io")
    assert rq.server_version().namespace is None


def test_watch_has_bookmarks_resume_and_a_longer_client_timeout() -> None:
    req = rq.watch(
        RAYJOB, "ray", resource_version="17", timeout_seconds=60, label_selector="x=y", read_margin=5
    )
    assert dict(req.query) == {
        "watch": "true",
        "allowWatchBookmarks": "true",
        "resourceVersion": "17",
        "timeoutSeconds": "60",
        "labelSelector": "x=y",
    }
    assert req.stream
    assert req.read_timeout == 65
    # No version: watch from now (the server replays current objects).
    assert "resourceVersion" not in dict(rq.watch(RAYJOB, "ray", resource_version=None).query)


def test_self_subject_access_review_body() -> None:
    req = rq.self_subject_access_review("ray", "get", "services", "", "proxy")
    assert req.body["spec"]["resourceAttributes"] == {
        "namespace": "ray",
        "verb": "get",
        "resource": "services",
        "group": "",
        "subresource": "proxy",
    }


def test_repr_and_describe_hide_headers_and_body() -> None:
    req = rq.KubeRequest(
        "GET", "/x", headers=(("x-ray-authorization", "Bearer s3cr3t"),), body={"p": "s3cr3t"}
    )
    assert "s3cr3t" not in repr(req)
    assert "s3cr3t" not in req.describe()


def test_call_kwargs_authenticate_only_the_api_server() -> None:
    settings = ConnectionSettings()
    api = call_kwargs(rq.get(RAYJOB, "ray", "j"), settings)
    assert api["auth_settings"] == ["BearerToken"]
    assert api["_host"] is None
    assert api["_preload_content"] is False
    direct = call_kwargs(rq.KubeRequest("GET", "/api/jobs/x", base_url="http://dash:8265/"), settings)
    assert direct["auth_settings"] == []
    assert direct["_host"] == "http://dash:8265"


def test_parse_list_and_response_helpers() -> None:
    resp = rq.KubeResponse(
        200,
        rq.headers_lower({"Content-Type": "application/json"}),
        b'{"metadata": {"resourceVersion": "9", "continue": "next"}, "items": [{"a": 1}, 3]}',
    )
    page = rq.parse_list(resp)
    assert page.items == [{"a": 1}]
    assert (page.resource_version, page.continue_token) == ("9", "next")
    assert resp.header("content-type") == "application/json"
    with pytest.raises(KubeInvalidResponseError, match="JSON object"):
        rq.parse_object(rq.KubeResponse(200, {}, b"[1]"))


def test_a_2xx_answer_that_is_not_json_is_a_project_error() -> None:
    # A proxy in front of the API server answering 200 with its login page, say.
    html = rq.KubeResponse(
        200, {"content-type": "text/html"}, b"<html>token=s3cr3t-in-page</html>", what="get RayJob ray/j"
    )
    for parse in (rq.parse_object, rq.parse_list, rq.KubeResponse.json):
        with pytest.raises(KubeInvalidResponseError) as info:
            parse(html)
        assert isinstance(info.value, KubeApiError)
        assert not isinstance(info.value, ValueError)  # no leak of the JSON decoder's error type
        assert info.value.__cause__ is None
        assert info.value.__suppress_context__
        assert "get RayJob ray/j" in str(info.value)
        assert "text/html" in str(info.value)
        assert "s3cr3t" not in str(info.value)  # the body is never quoted
    with pytest.raises(KubeInvalidResponseError):
        rq.parse_object(rq.KubeResponse(200, {}, b"\xff\xfe"))  # not even UTF-8
