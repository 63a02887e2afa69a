"""RayJobStatus / RayClusterStatus: pure readers of KubeRay v1.7 status fields."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_ray_k8s.status import Condition, RayClusterStatus, RayJobStatus


def rayjob(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "job", "namespace": "ray", "resourceVersion": "42", "generation": 1},
        "status": status,
    }


@pytest.mark.parametrize(
    ("deployment", "job", "terminal", "success"),
    [
        ("", "", False, False),
        ("Initializing", "", False, False),
        ("Running", "PENDING", False, False),
        ("Running", "RUNNING", False, False),
        # A terminal jobStatus while the deployment still runs is not the end (backoffLimit retries).
        ("Running", "FAILED", False, False),
        ("Retrying", "FAILED", False, False),
        ("Complete", "SUCCEEDED", True, True),
        ("Complete", "STOPPED", True, False),
        ("Failed", "FAILED", True, False),
        ("Failed", "", True, False),
        ("ValidationFailed", "", True, False),
        ("Suspended", "", False, False),
        ("Waiting", "", False, False),
    ],
)
def test_rayjob_terminal_and_success(deployment: str, job: str, terminal: bool, success: bool) -> None:
    status = RayJobStatus.from_object(rayjob(jobDeploymentStatus=deployment, jobStatus=job))
    assert status.is_terminal is terminal
    assert status.is_success is success
    assert (status.failure_reason is not None) is (terminal and not success)


def test_rayjob_fields_and_failure_reason() -> None:
    status = RayJobStatus.from_object(
        rayjob(
            jobDeploymentStatus="Failed",
            jobStatus="FAILED",
            reason="AppFailed",
            message="exit code 1",
            jobId="job-abc",
            rayClusterName="job-x7k2p",
            dashboardURL="job-x7k2p-head-svc.ray.svc.cluster.local:8265",
            startTime="2026-01-01T00:00:00Z",
            endTime="2026-01-01T00:01:00Z",
            failed=1,
            succeeded=0,
            observedGeneration=1,
        )
    )
    assert status.name == "job"
    assert status.namespace == "ray"
    assert status.resource_version == "42"
    assert status.ray_cluster_name == "job-x7k2p"
    assert status.job_id == "job-abc"
    assert status.failed == 1
    assert (
        status.failure_reason == "jobDeploymentStatus=Failed, jobStatus=FAILED, reason=AppFailed: exit code 1"
    )
    assert status.phase == "Failed/FAILED"


def test_validation_failed_is_final_and_flagged() -> None:
    status = RayJobStatus.from_object(
        rayjob(
            jobDeploymentStatus="ValidationFailed", reason="ValidationFailed", message="ttl needs shutdown"
        )
    )
    assert status.is_terminal
    assert status.is_validation_failed
    assert not status.is_success
    assert "ttl needs shutdown" in (status.failure_reason or "")


def test_unknown_states_do_not_crash_and_are_not_terminal() -> None:
    status = RayJobStatus.from_object(rayjob(jobDeploymentStatus="Hibernating", jobStatus="DREAMING"))
    assert not status.is_known
    assert not status.is_terminal
    assert status.failure_reason is None
    assert status.phase == "Hibernating/DREAMING"


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"metadata": None, "status": None},
        {"status": "garbage"},
        {"status": {"conditions": "nope", "failed": "3", "jobStatus": 7}},
        {"status": {"conditions": [None, {"type": "Ready"}, "x"]}},
    ],
)
def test_malformed_objects_are_read_as_empty(obj: dict[str, Any]) -> None:
    job = RayJobStatus.from_object(obj)
    assert not job.is_terminal
    cluster = RayClusterStatus.from_object(obj)
    assert not cluster.is_terminal


def test_rayjob_json_round_trip() -> None:
    status = RayJobStatus.from_object(
        rayjob(
            jobDeploymentStatus="Complete",
            jobStatus="SUCCEEDED",
            conditions=[{"type": "Ready", "status": "True", "reason": "x", "lastTransitionTime": "t"}],
        )
    )
    data = json.loads(json.dumps(status.to_json()))
    assert RayJobStatus.from_json(data) == status
    # Tolerant of fields added by a newer writer.
    data["brand_new_field"] = 1
    assert RayJobStatus.from_json(data) == status


def raycluster(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "rc", "namespace": "ray"}, "status": status}


def test_raycluster_ready_by_conditions() -> None:
    provisioning = RayClusterStatus.from_object(
        raycluster(
            conditions=[
                {"type": "RayClusterProvisioned", "status": "False", "reason": "RayClusterPodsProvisioning"},
                {"type": "HeadPodReady", "status": "False", "reason": "HeadPodNotFound"},
            ]
        )
    )
    assert not provisioning.is_ready
    assert not provisioning.is_terminal
    assert provisioning.failure_reason is None
    assert provisioning.phase == "provisioning"
    ready = RayClusterStatus.from_object(
        raycluster(
            state="ready",
            conditions=[
                {"type": "RayClusterProvisioned", "status": "True"},
                {"type": "HeadPodReady", "status": "True"},
            ],
            head={"podIP": "10.0.0.1", "serviceName": "rc-head-svc", "podName": "rc-head-x"},
            endpoints={"dashboard": "8265", "client": "10001"},
            readyWorkerReplicas=2,
            desiredWorkerReplicas=2,
        )
    )
    assert ready.is_ready
    assert ready.is_terminal
    assert ready.is_success
    assert ready.head_service_name == "rc-head-svc"
    assert dict(ready.endpoints)["dashboard"] == "8265"
    assert ready.condition("HeadPodReady") == Condition(type="HeadPodReady", status="True")


def test_raycluster_state_only_operator_and_failures() -> None:
    assert RayClusterStatus.from_object(raycluster(state="ready")).is_ready
    failed = RayClusterStatus.from_object(raycluster(state="failed", reason="PodsFailed", message="boom"))
    assert failed.is_terminal
    assert not failed.is_success
    assert failed.failure_reason == "state=failed, PodsFailed boom"
    replica = RayClusterStatus.from_object(
        raycluster(
            conditions=[
                {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "quota"}
            ]
        )
    )
    # A replica failure is reported but not final: KubeRay recreates pods.
    assert not replica.is_terminal
    assert replica.failure_reason == "state=<none>, ReplicaFailure: FailedCreate quota"
    suspended = RayClusterStatus.from_object(
        raycluster(conditions=[{"type": "RayClusterSuspended", "status": "True"}])
    )
    assert suspended.is_suspended
    assert suspended.is_terminal


def test_raycluster_json_round_trip_and_unknown_state() -> None:
    status = RayClusterStatus.from_object(raycluster(state="melting", endpoints={"dashboard": "8265"}))
    assert not status.is_known
    assert not status.is_terminal
    assert RayClusterStatus.from_json(json.loads(json.dumps(status.to_json()))) == status


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from(["metadata", "status", "spec", "x"]), _json_values, max_size=4))
def test_any_json_object_reads_without_crashing(obj: dict[str, Any]) -> None:
    for cls in (RayJobStatus, RayClusterStatus):
        status = cls.from_object(obj)
        assert isinstance(status.is_terminal, bool)
        assert cls.from_json(json.loads(json.dumps(status.to_json()))) == status
