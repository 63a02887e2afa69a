"""The documentation's examples hold up: links resolve, named repository files exist, YAML blocks
parse (Kubernetes objects fit the API models), Python blocks compile, and the GCS fault-tolerance
migration shown in troubleshooting.md is what ``migrate_gcs_ft_annotation`` does."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.kube_models import check_document

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
REPO_PATH = re.compile(r"`((?:deploy|dags_examples|docs|airflow_ray_k8s)/[\w./-]+)`")


def _blocks(lang: str) -> list[tuple[str, str]]:
    return [
        (f"{path.name}#{i}", body)
        for path in DOCS
        for i, (kind, body) in enumerate(FENCE.findall(path.read_text()))
        if kind == lang
    ]


def test_docs_exist() -> None:
    names = {p.name for p in DOCS}
    assert {
        "README.md",
        "quickstart.md",
        "concepts.md",
        "connections.md",
        "rbac.md",
        "troubleshooting.md",
    } <= names


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_relative_links_and_named_files_exist(path: Path) -> None:
    text = path.read_text()
    for target in LINK.findall(text):
        if "://" not in target:
            assert (path.parent / target).exists(), f"{path.name}: broken link {target}"
    for named in REPO_PATH.findall(text):
        assert (ROOT / named.rstrip("/")).exists(), f"{path.name}: names missing file {named}"


@pytest.mark.parametrize(("where", "body"), _blocks("yaml"), ids=lambda v: v if "#" in str(v) else "")
def test_yaml_blocks_parse_and_kubernetes_objects_fit_the_api(where: str, body: str) -> None:
    for doc in yaml.safe_load_all(body):
        assert isinstance(doc, dict), where
        # Custom resources (KubeRay's, Kueue's) have no Kubernetes API model to check them against.
        if "apiVersion" in doc and not str(doc["apiVersion"]).startswith(("ray.io/", "kueue.x-k8s.io/")):
            check_document(doc)


@pytest.mark.parametrize(("where", "body"), _blocks("python"), ids=lambda v: v if "#" in str(v) else "")
def test_python_blocks_compile(where: str, body: str) -> None:
    ast.parse(body, filename=where)


def _before_after() -> tuple[dict[str, Any], dict[str, Any]]:
    text = (ROOT / "docs" / "troubleshooting.md").read_text()
    section = text[text.index("## Migrating from `ray.io/ft-enabled`") :]
    before, after = (yaml.safe_load(body) for kind, body in FENCE.findall(section)[:2])
    return before, after


def test_the_documented_migration_is_what_the_helper_does() -> None:
    from airflow_ray_k8s.specs import migrate_gcs_ft_annotation

    before, after = _before_after()
    manifest = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "c", **before["metadata"]},
    }
    manifest["spec"] = before["spec"]
    migrated = migrate_gcs_ft_annotation(manifest)
    assert migrated["spec"]["gcsFaultToleranceOptions"] == after["spec"]["gcsFaultToleranceOptions"]
    assert not migrated["metadata"].get("annotations")
    head = migrated["spec"]["headGroupSpec"]
    assert "redis-password" not in head["rayStartParams"]
    (container,) = head["template"]["spec"]["containers"]
    assert not container.get("env")


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("airflow_ray_k8s.operators.rayjob", "RayJobOperator"),
        ("airflow_ray_k8s.operators.raycluster", "RayClusterCreateOperator"),
        ("airflow_ray_k8s.operators.raycluster", "RayClusterDeleteOperator"),
        ("airflow_ray_k8s.sensors.rayjob", "RayJobSensor"),
        ("airflow_ray_k8s.sensors.raycluster", "RayClusterSensor"),
    ],
)
def test_operator_reference_documents_every_parameter(module: str, name: str) -> None:
    import importlib
    import inspect

    cls = getattr(importlib.import_module(module), name)
    text = (ROOT / "docs" / "operators.md").read_text()
    assert f"## {name}" in text or f"{name} and" in text or f"and {name}" in text
    params = [
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    assert params
    missing = [p for p in params if f"`{p}`" not in text]
    assert missing == [], f"docs/operators.md does not document {name}'s {missing}"
