"""RayCluster operators and the sensors without a cluster: arguments, templated fields, judgement."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_ray_k8s.exceptions import RayJobFailedError
from airflow_ray_k8s.links import RayDashboardLink
from airflow_ray_k8s.operators.raycluster import RayClusterCreateOperator, RayClusterDeleteOperator
from airflow_ray_k8s.operators.rayjob import RayJobOperator
from airflow_ray_k8s.sensors.raycluster import RayClusterSensor
from airflow_ray_k8s.sensors.rayjob import RayJobSensor
from airflow_ray_k8s.status import RayJobStatus
from tests.unit.operators.test_rayjob_operator import CLUSTER, ctx


def test_create_operator_pushes_outputs_key_by_key_and_derives_a_stable_name() -> None:
    op = RayClusterCreateOperator(task_id="create", ray_cluster_spec=CLUSTER)
    assert op.multiple_outputs, "create.output['name'] must resolve"
    first = op.build_raycluster(ctx(try_number=1, task_id="create"), "ray")
    retry = op.build_raycluster(ctx(try_number=2, task_id="create"), "ray")
    assert first["metadata"]["name"] == retry["metadata"]["name"], "a retry adopts the same cluster"
    assert first["spec"] == retry["spec"]
    named = RayClusterCreateOperator(task_id="c", ray_cluster_spec=CLUSTER, cluster_name="shared")
    assert named.build_raycluster(ctx(), "ray")["metadata"]["name"] == "shared"


def test_create_operator_rejects_an_invalid_spec_without_retry() -> None:
    op = RayClusterCreateOperator(task_id="create", ray_cluster_spec={"headGroupSpec": {}})
    with pytest.raises(AirflowFailException):
        op.build_raycluster(ctx(), "ray")


def test_create_operator_on_a_queue_labels_the_cluster_and_creates_it_suspended() -> None:
    op = RayClusterCreateOperator(
        task_id="create", ray_cluster_spec=CLUSTER, queue_name="team-a", priority_class="high"
    )
    body = op.build_raycluster(ctx(task_id="create"), "ray")
    assert body["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert body["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] == "high"
    assert body["spec"]["suspend"] is True
    plain = RayClusterCreateOperator(task_id="create", ray_cluster_spec=CLUSTER)
    assert "suspend" not in plain.build_raycluster(ctx(task_id="create"), "ray")["spec"]
    with pytest.raises(ValueError, match="create: queue_name 'Team_A'"):
        RayClusterCreateOperator(task_id="create", ray_cluster_spec=CLUSTER, queue_name="Team_A")


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: RayClusterCreateOperator(task_id="c", ray_cluster_spec=None), "ray_cluster_spec"),
        (lambda: RayClusterCreateOperator(task_id="c", ray_cluster_spec=CLUSTER, startup_timeout=0), "start"),
        (lambda: RayClusterDeleteOperator(task_id="d", cluster_name="x", deletion_timeout=0), "deletion"),
        (lambda: RayJobSensor(task_id="s", rayjob_name="j", success_statuses=()), "success_statuses"),
        (lambda: RayClusterSensor(task_id="s", cluster_name="c", condition_type=""), "condition_type"),
        (lambda: RayJobOperator(task_id="j", entrypoint="x", cluster_name="c", on_finish_action="x"), "on_"),
    ],
)
def test_invalid_arguments_fail_at_parse_time(factory: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        factory()


def test_templated_fields_and_links() -> None:
    assert "cluster_name" in RayClusterDeleteOperator.template_fields
    assert "ray_cluster_spec" in RayClusterCreateOperator.template_fields
    assert "rayjob_name" in RayJobSensor.template_fields
    for cls in (RayJobOperator, RayClusterCreateOperator):
        assert any(isinstance(link, RayDashboardLink) for link in cls.operator_extra_links)


def _status(deployment: str, job: str, reason: str = "") -> RayJobStatus:
    return RayJobStatus(
        name="j", namespace="ray", deployment_status=deployment, job_status=job, reason=reason
    )


def test_job_sensor_judges_terminal_statuses() -> None:
    sensor = RayJobSensor(task_id="s", rayjob_name="j")
    assert sensor._judge(_status("Running", "RUNNING")) is False
    assert sensor._judge(_status("Complete", "SUCCEEDED")) is True
    with pytest.raises(RayJobFailedError, match="jobStatus=FAILED"):
        sensor._judge(_status("Failed", "FAILED", "AppFailed"))
    with pytest.raises(AirflowFailException, match="ValidationFailed"):
        sensor._judge(_status("ValidationFailed", "", "ValidationFailed"))
    lenient = RayJobSensor(task_id="s2", rayjob_name="j", success_statuses=("SUCCEEDED", "STOPPED"))
    assert lenient._judge(_status("Complete", "STOPPED")) is True
