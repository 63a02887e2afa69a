"""Failures that say why, and the ones a retry cannot fix (no Ray head needed to start)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.airflow.conftest import assert_nothing_left, dags_module, run, task_instances

pytestmark = pytest.mark.usefixtures("airflow_db")


def test_a_spec_kuberay_would_reject_fails_once_without_submitting(kuberay: Any) -> None:
    # Both modes: nothing reaches a Ray head either way.
    dags = dags_module()
    dags.FAILURES.clear()
    dr = run(dags.ray_invalid)
    ti = task_instances(dr)[("invalid", -1)]
    assert ti.state == "failed"
    assert ti.try_number == 1, "retries=2, but a spec that breaks KubeRay's rules must not be retried"
    assert any(
        "ttl_seconds_after_finished" in f and "shutdown_after_job_finishes" in f for f in dags.FAILURES
    )
    assert kuberay.objects("rayjobs") == []
    assert_nothing_left(kuberay, within=0)


@pytest.mark.backends("scripted", "ray", "real")
def test_a_validation_failed_rayjob_fails_the_sensor_without_retry(kuberay: Any) -> None:
    from airflow_ray_k8s.hooks.kuberay import KubeRayHook
    from airflow_ray_k8s.resources import RAYJOB

    # Someone else's RayJob, with a spec KubeRay rejects (ttl without shutdownAfterJobFinishes).
    body = {
        "metadata": {"name": "external-invalid"},
        "spec": {
            "entrypoint": "python -c 'print(1)'",
            "clusterSelector": {"ray.io/cluster": "nowhere"},
            "ttlSecondsAfterFinished": 30,
        },
    }
    hook = KubeRayHook()
    hook.create(RAYJOB, body, namespace="default")
    dags = dags_module()
    dags.FAILURES.clear()
    try:
        dr = run(dags.ray_sensor_validation_failed)
        ti = task_instances(dr)[("watch", -1)]
        assert ti.state == "failed"
        assert ti.try_number == 1, "ValidationFailed never recovers: no retry"
        assert any("ValidationFailed" in f for f in dags.FAILURES), dags.FAILURES
        # A sensor deletes nothing: the RayJob is someone else's.
        assert [o["metadata"]["name"] for o in kuberay.objects("rayjobs")] == ["external-invalid"]
    finally:
        hook.delete(RAYJOB, "external-invalid", namespace="default")
    assert_nothing_left(kuberay)


# The operator was started without the RayJobDeletionPolicy gate (KubeRay's binary default): it
# rejects any deletionStrategy. The client cannot know that, so the rejection comes from KubeRay.
@pytest.mark.local_kuberay(feature_gates={"RayJobDeletionPolicy": False})
def test_validation_failed_from_kuberay_fails_once_naming_the_rule(kuberay: Any) -> None:
    dags = dags_module()
    dags.FAILURES.clear()
    dr = run(dags.ray_rejected_by_kuberay)
    ti = task_instances(dr)[("gated", -1)]
    assert ti.state == "failed"
    assert ti.try_number == 1, "retries=2, but ValidationFailed never recovers"
    (message,) = dags.FAILURES
    assert "ValidationFailed" in message
    assert "RayJobDeletionPolicy feature gate must be enabled to use DeletionStrategy" in message
    assert kuberay.requests.count("POST", r"/rayjobs$") == 1, "submitted once, not once per try"
    assert_nothing_left(kuberay, within=5)


@pytest.mark.backends("ray", "real")
def test_a_cluster_that_never_starts_fails_naming_pod_reasons_and_leaves_nothing(kuberay: Any) -> None:
    dags = dags_module()
    dags.FAILURES.clear()
    # The local KubeRay scripts the pull failure; the real node agent cannot pull a private image.
    dr = run(dags.ray_stall_unpullable if kuberay.mode == "real" else dags.ray_stall)
    ti = task_instances(dr)[("stall", -1)]
    assert ti.state == "failed"
    message = "\n".join(dags.FAILURES)
    assert "did not become ready within 4 s" in message
    assert "ImagePullBackOff" in message, message
    # The job never ran: the task deleted the RayJob and its cluster (KubeRay's TTL would not).
    assert_nothing_left(kuberay, within=5)


def test_a_job_failed_before_it_ran_leaves_no_cluster_even_when_kept(
    local_kuberay_scripted: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    dags = dags_module()
    dags.FAILURES.clear()
    dr = run(dags.ray_fails_before_running)
    assert task_instances(dr)[("never_ran", -1)].state == "failed"
    (message,) = dags.FAILURES
    assert "PreRunningDeadlineExceeded" in message
    assert "No driver log: the job never started on its cluster" in message
    text = "".join(capfd.readouterr())
    assert "its job failed before it ran" in text, "the task deleted the cluster itself"
    assert local_kuberay_scripted.objects("rayclusters") == []
    (kept,) = local_kuberay_scripted.objects("rayjobs")  # on_finish_action="keep"
    assert kept["status"]["jobDeploymentStatus"] == "Failed"
    from airflow_ray_k8s.hooks.kuberay import KubeRayHook
    from airflow_ray_k8s.resources import RAYJOB

    KubeRayHook().delete(RAYJOB, kept["metadata"]["name"], namespace="default")
    assert_nothing_left(local_kuberay_scripted)
