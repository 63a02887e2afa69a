"""Client-side rules stricter than KubeRay v1.7 only warn: each one, on a manifest KubeRay accepts.

For every rule of :data:`airflow_ray_k8s.specs.advisories.RULES` a manifest (written for this test) that
the CRD schema and KubeRay's own validation (the local KubeRay's mirror of ``validation.go``) accept:
loading it warns with that rule's id and the field's path, raises nothing, and writes it back unchanged.
The docs list every rule with its reason.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_ray_k8s.specs import RaySpecWarning, StricterThanKubeRayWarning, load_raycluster, load_rayjob
from airflow_ray_k8s.specs.advisories import RULES
from airflow_ray_k8s.testing.emulator.validation import validate_raycluster, validate_rayjob

DOCS = Path(__file__).resolve().parents[3] / "docs" / "specs.md"


def _pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": name, "image": "rayproject/ray:2.52.0"}], **spec}}


def _cluster() -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "batch"},
        "spec": {
            "rayVersion": "2.52.0",
            "headGroupSpec": {"rayStartParams": {}, "template": _pod("ray-head")},
            "workerGroupSpecs": [
                {
                    "groupName": "cpu",
                    "replicas": 1,
                    "minReplicas": 0,
                    "maxReplicas": 4,
                    "template": _pod("w"),
                },
                {
                    "groupName": "mem",
                    "replicas": 1,
                    "minReplicas": 1,
                    "maxReplicas": 2,
                    "template": _pod("w"),
                },
            ],
        },
    }


def _job() -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "count"},
        "spec": {
            "entrypoint": "python count.py",
            "shutdownAfterJobFinishes": True,
            "rayClusterSpec": _cluster()["spec"],
        },
    }


def _workers(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    spec = manifest["spec"].get("rayClusterSpec", manifest["spec"])
    groups: list[dict[str, Any]] = spec["workerGroupSpecs"]
    return groups


Edit = Callable[[dict[str, Any]], Any]

# (rule id, kind of manifest, the edit of a clean one, the path warned about)
CASES: list[tuple[str, str, Edit, str]] = [
    ("entrypoint-empty", "RayJob", lambda m: m["spec"].update(entrypoint=""), "entrypoint"),
    ("entrypoint-empty", "RayJob", lambda m: m["spec"].pop("entrypoint"), "entrypoint"),
    (
        "submission-mode-unknown",
        "RayJob",
        lambda m: m["spec"].update(submissionMode="BatchMode"),
        "submission_mode",
    ),
    (
        "submitter-without-container",
        "RayJob",
        lambda m: m["spec"].update(submitterPodTemplate={"spec": {"containers": []}}),
        "submitter_pod_template.spec.containers",
    ),
    (
        "submitter-without-container",
        "RayJob",
        lambda m: m["spec"].update(submitterPodTemplate={"metadata": {"labels": {"team": "ml"}}}),
        "submitter_pod_template.spec.containers",
    ),
    (
        "submitter-backoff-negative",
        "RayJob",
        lambda m: m["spec"].update(submitterConfig={"backoffLimit": -1}),
        "submitter_config.backoff_limit",
    ),
    (
        "entrypoint-amount-negative",
        "RayJob",
        lambda m: m["spec"].update(entrypointNumGpus=-1),
        "entrypoint_num_gpus",
    ),
    (
        "entrypoint-resources-not-json",
        "RayJob",
        lambda m: m["spec"].update(entrypointResources="{custom: 1}"),
        "entrypoint_resources",
    ),
    (
        "entrypoint-resources-not-json",
        "RayJob",
        lambda m: m["spec"].update(entrypointResources='{"custom": "one"}'),
        "entrypoint_resources.custom",
    ),
    (
        "pod-label-invalid",
        "RayCluster",
        lambda m: m["spec"]["headGroupSpec"]["template"].update(metadata={"labels": {"team": "ML Platform"}}),
        "head_group.template.metadata.labels.team",
    ),
    (
        "pod-label-invalid",
        "RayJob",
        lambda m: m["spec"].update(
            submitterPodTemplate={"metadata": {"labels": {"bad key!": "v"}}, **_pod("s")}
        ),
        'submitter_pod_template.metadata.labels["bad key!"]',
    ),
    (
        "group-name-not-label",
        "RayCluster",
        lambda m: _workers(m)[0].update(groupName="GPU Workers"),
        "worker_groups[0].group_name",
    ),
    (
        "group-name-not-label",
        "RayCluster",
        lambda m: _workers(m)[0].update(groupName=""),
        "worker_groups[0].group_name",
    ),
    (
        "group-name-duplicate",
        "RayCluster",
        lambda m: _workers(m)[1].update(groupName="cpu"),
        "worker_groups[1].group_name",
    ),
    (
        "replicas-out-of-range",
        "RayCluster",
        lambda m: _workers(m)[0].update(replicas=9),
        "worker_groups[0].replicas",
    ),
    (
        "replicas-out-of-range",
        "RayJob",
        lambda m: _workers(m)[1].update(replicas=-1),
        "ray_cluster_spec.worker_groups[1].replicas",
    ),
    (
        "num-of-hosts-below-one",
        "RayCluster",
        lambda m: _workers(m)[0].update(numOfHosts=0),
        "worker_groups[0].num_of_hosts",
    ),
]


@pytest.mark.parametrize(
    ("rule", "kind", "edit", "path"),
    CASES,
    ids=[f"{rule}-{index}" for index, (rule, *_) in enumerate(CASES)],
)
def test_a_rule_stricter_than_kuberay_only_warns(
    crd: Any, rule: str, kind: str, edit: Edit, path: str
) -> None:
    manifest = _job() if kind == "RayJob" else _cluster()
    loader = load_rayjob if kind == "RayJob" else load_raycluster
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the clean manifest warns about nothing
        loader(copy.deepcopy(manifest))
    edit(manifest)
    crd.assert_valid(manifest)
    assert (validate_rayjob if kind == "RayJob" else validate_raycluster)(manifest) is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = loader(copy.deepcopy(manifest))
    found = [w.message for w in caught if isinstance(w.message, StricterThanKubeRayWarning)]
    assert [(w.rule, w.path) for w in found] == [(rule, path)], [str(w) for w in found]
    assert issubclass(StricterThanKubeRayWarning, RaySpecWarning)
    assert str(found[0]).startswith(f"{path}: ")
    assert "KubeRay v1.7 does not reject this" in str(found[0])
    # Kept and sent as written.
    assert json.dumps(spec.to_manifest(), sort_keys=True) == json.dumps(manifest, sort_keys=True)


def test_every_rule_has_a_case_and_every_case_a_rule() -> None:
    assert {rule for rule, *_ in CASES} == set(RULES)


def test_the_docs_list_every_rule_stricter_than_kuberay() -> None:
    text = DOCS.read_text()
    section = text[text.index("## Rules stricter than KubeRay") :]
    section = section[: section.find("\n## ", 1)] if "\n## " in section[1:] else section
    listed = set(re.findall(r"^\| `([a-z0-9-]+)` \|", section, re.MULTILINE))
    assert listed == set(RULES)
