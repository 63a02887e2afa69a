"""The emulated operator's validation rules as pure functions; messages follow KubeRay's
``validation.go``. The table of invalid RayJobs (invalid_rayjobs.py) also drives the end-to-end
ValidationFailed test in test_controller_scripted.py."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from airflow_ray_k8s.testing.emulator.validation import validate_raycluster, validate_rayjob
from tests.integration.emulator.invalid_rayjobs import (
    AUTOSCALING,
    INVALID_RAYJOBS,
    rayjob_spec,
    selector_spec,
)

CONTAINER = {"name": "ray-head", "image": "rayproject/ray:2.60.0"}
CLUSTER = {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [CONTAINER]}}}}


def rayjob(name: str = "job", annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"entrypoint": "python x.py", "rayClusterSpec": copy.deepcopy(CLUSTER)}
    body.update(spec)
    return {"metadata": {"name": name, "annotations": annotations or {}}, "spec": body}


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


# Rules the API server enforces before KubeRay sees the object: only reachable as pure functions.
API_SERVER_REJECTS = [pytest.param(rayjob(name="Bad_Name"), "valid DNS1035 label", id="Bad_Name")]


@pytest.mark.parametrize(
    ("job", "expected"),
    [pytest.param(case.body(), case.expected, id=case.name[:40]) for case in INVALID_RAYJOBS]
    + API_SERVER_REJECTS,
)
def test_invalid_rayjobs_name_the_rule(job: dict[str, Any], expected: str) -> None:
    """The table shared with the through-the-client test in test_controller_scripted.py."""
    message = validate_rayjob(job)
    assert message is not None
    assert expected in message


def test_the_tables_base_specs_are_valid() -> None:
    """Each case of INVALID_RAYJOBS is one change away from one of these."""
    for spec in (rayjob_spec(), selector_spec(), rayjob_spec(rayClusterSpec=AUTOSCALING)):
        assert validate_rayjob({"metadata": {"name": "base"}, "spec": spec}) is None


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
