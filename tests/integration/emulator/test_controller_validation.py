"""The emulated operator's validation rules as pure functions (the end-to-end ValidationFailed
path is in test_controller_scripted.py); messages follow KubeRay's ``validation.go``."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from airflow_ray_k8s.testing.emulator.validation import validate_raycluster, validate_rayjob

CONTAINER = {"name": "ray-head", "image": "rayproject/ray:2.60.0"}
CLUSTER = {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [CONTAINER]}}}}


def rayjob(name: str = "job", annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"entrypoint": "python x.py", "rayClusterSpec": copy.deepcopy(CLUSTER)}
    body.update(spec)
    return {"metadata": {"name": name, "annotations": annotations or {}}, "spec": body}


def with_head(**changes: Any) -> dict[str, Any]:
    cluster = copy.deepcopy(CLUSTER)
    cluster["headGroupSpec"].update(changes)
    return cluster


def test_a_plain_rayjob_is_valid() -> None:
    assert validate_rayjob(rayjob()) is None
    assert (
        validate_rayjob(rayjob(shutdownAfterJobFinishes=True, ttlSecondsAfterFinished=60, suspend=True))
        is None
    )
    rules = [
        {"policy": "DeleteWorkers", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 0}},
        {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 10}},
        {"policy": "DeleteSelf", "condition": {"jobDeploymentStatus": "Failed", "ttlSeconds": 0}},
    ]
    assert validate_rayjob(rayjob(deletionStrategy={"deletionRules": rules})) is None


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        (rayjob(name="Bad_Name"), "valid DNS1035 label"),
        (rayjob(ttlSecondsAfterFinished=-1, shutdownAfterJobFinishes=True), "non-negative"),
        (rayjob(deletionStrategy={}), "requires either BOTH onSuccess and onFailure"),
        (rayjob(deletionStrategy={"onSuccess": {"policy": "DeleteCluster"}}), "must be set"),
        (
            rayjob(
                shutdownAfterJobFinishes=True,
                deletionStrategy={
                    "onSuccess": {"policy": "DeleteNone"},
                    "onFailure": {"policy": "DeleteCluster"},
                },
            ),
            "deletion policy is 'DeleteNone'",
        ),
        (
            rayjob(
                deletionStrategy={
                    "onSuccess": {"policy": "DeleteCluster"},
                    "onFailure": {"policy": "DeleteCluster"},
                    "deletionRules": [{"policy": "DeleteSelf", "condition": {"jobStatus": "FAILED"}}],
                }
            ),
            "Cannot use both legacy",
        ),
        (
            rayjob(
                deletionStrategy={
                    "deletionRules": [
                        {"policy": "DeleteSelf", "condition": {"jobStatus": "FAILED"}},
                        {"policy": "DeleteSelf", "condition": {"jobStatus": "FAILED", "ttlSeconds": 5}},
                    ]
                }
            ),
            "duplicate rule",
        ),
        (
            rayjob(
                deletionStrategy={"deletionRules": [{"policy": "DeleteSelf", "condition": {"ttlSeconds": 5}}]}
            ),
            "exactly one of jobStatus and jobDeploymentStatus",
        ),
        (
            {
                "metadata": {"name": "sel"},
                "spec": {
                    "entrypoint": "x",
                    "clusterSelector": {"ray.io/cluster": "c"},
                    "deletionStrategy": {
                        "deletionRules": [{"policy": "DeleteCluster", "condition": {"jobStatus": "FAILED"}}]
                    },
                },
            },
            "not supported when ClusterSelector is set",
        ),
        (rayjob(backoffLimit=-1), "backoffLimit must be a positive integer"),
        (rayjob(runtimeEnvYAML="- a list"), "RuntimeEnvYAML"),
        (
            rayjob(rayClusterSpec=with_head(rayStartParams={"num-cpus": "1"}, resources={"CPU": "1"})),
            "should not be set in both rayStartParams and Resources",
        ),
        (rayjob(rayClusterSpec=with_head(rayStartParams={"labels": "a=b"})), "rayStartParams['labels']"),
        (rayjob(rayClusterSpec=with_head(labels={"bad key!": "v"})), "invalid label key"),
        (
            rayjob(
                rayClusterSpec={**copy.deepcopy(CLUSTER), "gcsFaultToleranceOptions": {}},
                annotations={"ray.io/ft-enabled": "true"},
            ),
            "are both set",
        ),
        (
            rayjob(
                rayClusterSpec={
                    **with_head(rayStartParams={"redis-password": "x"}),
                    "gcsFaultToleranceOptions": {},
                }
            ),
            "redis-password",
        ),
        (rayjob(rayClusterSpec=with_head(rayStartParams={"redis-username": "x"})), "redis username"),
        (
            rayjob(
                rayClusterSpec={
                    **copy.deepcopy(CLUSTER),
                    "authOptions": {"mode": "token"},
                    "rayVersion": "2.50.0",
                }
            ),
            "minimum Ray version is 2.52.0",
        ),
        (
            rayjob(rayClusterSpec={**copy.deepcopy(CLUSTER), "authOptions": {"mode": "token"}}),
            "RayVersion was not specified",
        ),
    ],
)
def test_invalid_rayjobs_name_the_rule(job: dict[str, Any], expected: str) -> None:
    message = validate_rayjob(job)
    assert message is not None
    assert expected in message


def test_waiting_is_only_valid_in_interactive_mode() -> None:
    job = rayjob()
    job["status"] = {"jobDeploymentStatus": "Waiting"}
    assert "cannot be `Waiting`" in (validate_rayjob(job) or "")
    job["spec"]["submissionMode"] = "InteractiveMode"
    assert validate_rayjob(job) is None


def test_standalone_raycluster_rules() -> None:
    assert validate_raycluster({"metadata": {"name": "ok"}, "spec": copy.deepcopy(CLUSTER)}) is None
    assert "DNS1035" in (validate_raycluster({"metadata": {"name": "9x"}, "spec": CLUSTER}) or "")
    assert "53 characters" in (validate_raycluster({"metadata": {"name": "a" * 54}, "spec": CLUSTER}) or "")
    workers = {
        **copy.deepcopy(CLUSTER),
        "workerGroupSpecs": [{"groupName": "w", "template": {"spec": {"containers": []}}}],
    }
    assert "workerGroupSpec should have at least one container" in (
        validate_raycluster({"metadata": {"name": "w"}, "spec": workers}) or ""
    )
