"""The manifests in ``deploy/`` fit the Kubernetes API, and the RBAC Role grants exactly what the
provider's Kubernetes layer says it needs (``kube.access.REQUIRED_PERMISSIONS``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_ray_k8s.kube.access import REQUIRED_PERMISSIONS, TOKEN_PERMISSION, Permission
from tests.unit.kube_models import ManifestError, check, check_document

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MANIFESTS = sorted(p for p in DEPLOY.glob("*.yaml"))


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _by_kind(kind: str, name: str) -> dict[str, Any]:
    docs = [d for d in _docs(DEPLOY / "rbac.yaml") if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(docs) == 1, f"expected one {kind} {name} in rbac.yaml"
    return docs[0]


def _grants(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(group, resource[/subresource], verb) triples a Role grants."""
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def _needed(perms: tuple[Permission, ...]) -> set[tuple[str, str, str]]:
    return {
        (p.group, f"{p.resource}/{p.subresource}" if p.subresource else p.resource, p.verb) for p in perms
    }


def test_deploy_has_the_manifests_the_docs_name() -> None:
    assert {p.name for p in MANIFESTS} >= {"rbac.yaml", "ray-image-prepull.yaml", "orphan-sweeper.yaml"}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_document_fits_the_kubernetes_api_model(path: Path) -> None:
    docs = _docs(path)
    assert docs
    for doc in docs:
        assert doc["kind"] != "CustomResourceDefinition"  # never ship KubeRay's CRDs
        check_document(doc)
        assert doc["metadata"]["name"]


def test_the_model_check_catches_typos_and_missing_fields() -> None:
    rule = {"apiGroups": ["ray.io"], "resources": ["rayjobs"], "verbs": ["get"]}
    check(rule, "V1PolicyRule")
    with pytest.raises(ManifestError, match="unknown field"):
        check({**rule, "resourceName": ["x"]}, "V1PolicyRule")
    with pytest.raises(ManifestError, match="verbs"):
        check({"apiGroups": [""], "resources": ["pods"]}, "V1PolicyRule")
    with pytest.raises(ManifestError, match="expected a list"):
        check({**rule, "verbs": "get"}, "V1PolicyRule")


def test_role_grants_exactly_the_required_permissions() -> None:
    role = _by_kind("Role", "airflow-kuberay")
    assert _grants(role) == _needed(REQUIRED_PERMISSIONS)
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
        assert "resourceNames" not in rule


def test_token_role_reads_one_named_secret_only() -> None:
    role = _by_kind("Role", "airflow-kuberay-ray-token")
    assert _grants(role) == _needed((TOKEN_PERMISSION,))
    (rule,) = role["rules"]
    assert rule["resourceNames"] == ["ray-dashboard-token"]


def test_nothing_cluster_wide_and_bindings_point_at_the_service_account() -> None:
    docs = _docs(DEPLOY / "rbac.yaml")
    assert {d["kind"] for d in docs} == {"ServiceAccount", "Role", "RoleBinding"}
    sa = _by_kind("ServiceAccount", "airflow-kuberay")
    roles = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Role"}
    bindings = [d for d in docs if d["kind"] == "RoleBinding"]
    assert {b["roleRef"]["name"] for b in bindings} == set(roles)
    for binding in bindings:
        role = roles[binding["roleRef"]["name"]]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role["metadata"]["name"],
        }
        assert binding["metadata"]["namespace"] == role["metadata"]["namespace"]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "airflow-kuberay", "namespace": sa["metadata"]["namespace"]}
        ]


def test_prepull_daemonset_pulls_an_official_ray_image_and_holds_little() -> None:
    (ds,) = _docs(DEPLOY / "ray-image-prepull.yaml")
    spec = ds["spec"]["template"]["spec"]
    assert (
        ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
    )
    (init,) = spec["initContainers"]
    assert init["image"].startswith("rayproject/ray:")
    assert init["command"] == ["sh", "-c", "true"]
    for container in spec["containers"]:
        assert container["resources"]["limits"]["memory"].endswith("Mi")


def test_the_orphan_sweeper_role_grants_exactly_what_a_sweep_does() -> None:
    from airflow_ray_k8s.sweep.run import sweep_permissions

    docs = _docs(DEPLOY / "orphan-sweeper.yaml")
    assert {d["kind"] for d in docs} == {"ServiceAccount", "Role", "RoleBinding", "CronJob"}
    (role,) = [d for d in docs if d["kind"] == "Role"]
    assert _grants(role) == _needed(sweep_permissions())
    (binding,) = [d for d in docs if d["kind"] == "RoleBinding"]
    (sa,) = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": sa["metadata"]["namespace"]}
    ]
    (cron,) = [d for d in docs if d["kind"] == "CronJob"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    (container,) = pod["containers"]
    assert container["command"][:3] == ["python", "-m", "airflow_ray_k8s.sweep"]
    # The CLI accepts the command's arguments.
    from airflow_ray_k8s.sweep.cli import _parser

    args = _parser().parse_args(container["command"][3:])
    assert args.in_cluster
    assert args.namespace == [role["metadata"]["namespace"]]
