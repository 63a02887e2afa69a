"""The connection check: reachability, CRDs and served versions, access reviews."""

from __future__ import annotations

from typing import Any

from airflow_ray_k8s.kube.access import REQUIRED_PERMISSIONS, check_connection
from airflow_ray_k8s.kube.request import KubeRequest

from .kube_scripted import Script, ok, status


def crd(*versions: tuple[str, bool]) -> Any:
    return ok({"spec": {"versions": [{"name": n, "served": s} for n, s in versions]}})


def server(crds: Any, review: Any = None) -> Any:
    def handler(request: KubeRequest) -> Any:
        if request.path == "/version":
            return ok({"gitVersion": "v1.31.0"})
        if "customresourcedefinitions" in request.path:
            return crds(request) if callable(crds) else crds
        if "selfsubjectaccessreviews" in request.path:
            return review(request) if review else ok({"status": {"allowed": True}})
        return ok({"items": []})

    return handler


def test_all_good(script: Script) -> None:
    script.handler = server(crd(("v1", True), ("v1alpha1", False)))
    report = script.run(check_connection("ray"))
    assert report.ok
    assert report.served_versions == {"rayclusters.ray.io": ["v1"], "rayjobs.ray.io": ["v1"]}
    assert "all required permissions granted in namespace ray" in report.summary()
    reviews = [r for r in script.requests if "selfsubjectaccessreviews" in r.path]
    assert len(reviews) == len(REQUIRED_PERMISSIONS)


def test_missing_crds_and_denied_verbs(script: Script) -> None:
    def review(request: KubeRequest) -> Any:
        attrs = request.body["spec"]["resourceAttributes"]
        return ok({"status": {"allowed": attrs["verb"] != "delete"}})

    script.handler = server(status(404, "NotFound", details={"name": "x"}), review)
    report = script.run(check_connection("ray", with_token_secret=True))
    assert not report.ok
    assert report.missing_crds == ["rayclusters.ray.io", "rayjobs.ray.io"]
    assert report.denied == [
        "delete rayclusters.ray.io",
        "delete rayjobs.ray.io",
        "delete rayservices.ray.io",
    ]
    assert "KubeRay CRDs missing" in report.summary()
    assert any(
        r.body and r.body["spec"]["resourceAttributes"]["resource"] == "secrets" for r in script.requests
    )


def test_only_v1alpha1_served_is_not_ok(script: Script) -> None:
    script.handler = server(crd(("v1alpha1", True)))
    assert not script.run(check_connection("ray")).ok


def test_forbidden_crd_read_falls_back_to_probing(script: Script) -> None:
    script.handler = server(status(403, "Forbidden"))
    report = script.run(check_connection("ray"))
    assert report.ok
    assert report.served_versions == {"rayclusters.ray.io": ["v1"], "rayjobs.ray.io": ["v1"]}
    assert "cannot read CRD" in report.summary()


def test_access_review_unavailable(script: Script) -> None:
    script.handler = server(crd(("v1", True)), lambda r: status(404, "NotFound"))
    report = script.run(check_connection("ray"))
    assert not report.access_checked
    assert "permissions not checked" in report.summary()
