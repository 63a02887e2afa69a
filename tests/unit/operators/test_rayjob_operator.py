"""RayJobOperator without a cluster: arguments, templated fields, and the RayJob it would submit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_ray_k8s import naming
from airflow_ray_k8s.operators.rayjob import DEFAULT_TTL_SECONDS, RayJobOperator
from airflow_ray_k8s.specs import build_raycluster


@dataclass
class FakeTI:
    dag_id: str = "nightly"
    task_id: str = "train"
    run_id: str = "scheduled__2026-01-01T00:00:00+00:00"
    map_index: int = -1
    try_number: int = 1


def ctx(**ti: Any) -> dict[str, Any]:
    return {"ti": FakeTI(**ti)}


CLUSTER = build_raycluster(workers=[], head_cpu=1, head_memory="1Gi")


def op(**kwargs: Any) -> RayJobOperator:
    kwargs.setdefault("task_id", "train")
    kwargs.setdefault("entrypoint", "python -c 'print(1)'")
    if "cluster_name" not in kwargs:
        kwargs.setdefault("ray_cluster_spec", CLUSTER)
    return RayJobOperator(**kwargs)


def test_exactly_one_of_spec_or_cluster_name() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        RayJobOperator(task_id="t", entrypoint="x")
    with pytest.raises(ValueError, match="exactly one"):
        RayJobOperator(task_id="t", entrypoint="x", ray_cluster_spec=CLUSTER, cluster_name="c")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"submission_mode": "Batch"}, "submission_mode"),
        ({"startup_timeout": 0}, "startup_timeout"),
        ({"log_interval": -1}, "log_interval"),
        ({"ttl_seconds_after_finished": -1}, "ttl_seconds_after_finished"),
        ({"backoff_limit": -2}, "backoff_limit"),
    ],
)
def test_invalid_arguments_fail_at_parse_time(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        op(**kwargs)


def test_templated_fields_cover_entrypoint_runtime_env_and_cluster() -> None:
    fields = set(RayJobOperator.template_fields)
    assert {"entrypoint", "runtime_env", "cluster_name", "ray_cluster_spec", "namespace"} <= fields


def test_ephemeral_cluster_gets_shutdown_and_a_ttl_by_default() -> None:
    body = op().build_rayjob(ctx(), "ray")
    spec = body["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert spec["ttlSecondsAfterFinished"] == DEFAULT_TTL_SECONDS
    assert "rayClusterSpec" in spec
    assert "clusterSelector" not in spec


def test_existing_cluster_uses_a_selector_and_no_shutdown() -> None:
    body = op(cluster_name="shared").build_rayjob(ctx(), "ray")
    spec = body["spec"]
    assert spec["clusterSelector"] == {"ray.io/cluster": "shared"}
    assert "shutdownAfterJobFinishes" not in spec
    assert "ttlSecondsAfterFinished" not in spec


def test_deletion_strategy_replaces_shutdown() -> None:
    rules = {"deletionRules": [{"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED"}}]}
    spec = op(deletion_strategy=rules).build_rayjob(ctx(), "ray")["spec"]
    assert "shutdownAfterJobFinishes" not in spec
    assert spec["deletionStrategy"]["deletionRules"][0]["policy"] == "DeleteCluster"


def test_the_object_carries_identity_labels_and_an_expiry() -> None:
    body = op(job_labels={"team": "ml"}).build_rayjob(ctx(try_number=3), "ray")
    meta = body["metadata"]
    assert meta["namespace"] == "ray"
    assert meta["labels"]["team"] == "ml"
    assert meta["labels"][naming.LABEL_TRY] == "3"
    assert meta["labels"][naming.LABEL_MANAGED_BY] == naming.MANAGED_BY_VALUE
    assert naming.parse_expiry(meta["annotations"][naming.ANNOTATION_EXPIRES_AT]) is not None
    assert meta["annotations"][naming.ANNOTATION_RUN_ID] == FakeTI.run_id


def _expires_in(body: dict[str, Any]) -> float:
    """Seconds from now to the body's expiry annotation."""
    from datetime import datetime, timezone

    at = naming.parse_expiry(body["metadata"]["annotations"][naming.ANNOTATION_EXPIRES_AT])
    assert at is not None
    return (at - datetime.now(timezone.utc)).total_seconds()


def test_the_expiry_outlasts_every_wait_the_task_can_make() -> None:
    from datetime import timedelta

    hour, day = 3600.0, 86400.0
    # Nothing bounds the wait: a week (a long training job is never an orphan), plus TTL and grace.
    unbounded = _expires_in(op(ttl_seconds_after_finished=60).build_rayjob(ctx(), "ray"))
    assert 7 * day + 60 + hour - 5 <= unbounded <= 7 * day + 60 + hour + 5
    # The tightest of execution_timeout, activeDeadlineSeconds and the DAG's dagrun_timeout bounds it.
    bounded = op(execution_timeout=timedelta(hours=5), active_deadline_seconds=2 * 3600)
    assert abs(_expires_in(bounded.build_rayjob(ctx(), "ray")) - (2 * hour + 300 + hour)) < 5

    class Dag:
        dagrun_timeout = timedelta(minutes=30)

    by_dag = op(ttl_seconds_after_finished=0).build_rayjob({**ctx(), "dag": Dag()}, "ray")
    assert abs(_expires_in(by_dag) - (1800 + hour)) < 5


def test_names_are_distinct_per_run_map_index_and_try_and_stable() -> None:
    operator = op()
    names = {
        operator.build_rayjob(ctx(**ti), "ray")["metadata"]["name"]
        for ti in (
            {},
            {"run_id": "scheduled__2026-01-02T00:00:00+00:00"},
            {"map_index": 0},
            {"map_index": 1},
            {"try_number": 2},
        )
    }
    assert len(names) == 5
    assert all(len(n) <= naming.MAX_RAYJOB_NAME_LENGTH for n in names)
    assert operator.build_rayjob(ctx(), "ray")["metadata"]["name"] in names


def test_a_spec_kuberay_would_reject_fails_without_retry() -> None:
    # KubeRay: ttlSecondsAfterFinished > 0 needs shutdownAfterJobFinishes.
    bad = op(shutdown_after_job_finishes=False, ttl_seconds_after_finished=10)
    with pytest.raises(AirflowFailException, match="ttl_seconds_after_finished"):
        bad.build_rayjob(ctx(), "ray")


def test_an_empty_rendered_cluster_name_fails_without_retry() -> None:
    with pytest.raises(AirflowFailException, match="cluster_name"):
        op(cluster_name=" ").build_rayjob(ctx(), "ray")


def test_runtime_env_is_written_as_yaml() -> None:
    spec = op(runtime_env={"env_vars": {"DAY": "2026-01-01"}}).build_rayjob(ctx(), "ray")["spec"]
    assert "DAY: '2026-01-01'" in spec["runtimeEnvYAML"] or "DAY: 2026-01-01" in spec["runtimeEnvYAML"]


# --- Kueue ------------------------------------------------------------------------------------------

QUEUE_LABEL, PRIORITY_LABEL = "kueue.x-k8s.io/queue-name", "kueue.x-k8s.io/priority-class"


def test_queue_name_labels_the_rayjob_and_creates_it_suspended() -> None:
    body = op(queue_name="team-a", priority_class="batch-low").build_rayjob(ctx(), "ray")
    labels = body["metadata"]["labels"]
    assert labels[QUEUE_LABEL] == "team-a"
    assert labels[PRIORITY_LABEL] == "batch-low"
    assert body["spec"]["suspend"] is True
    assert body["spec"]["shutdownAfterJobFinishes"] is True
    # Without a queue nothing of Kueue's is there.
    plain = op().build_rayjob(ctx(), "ray")
    assert "suspend" not in plain["spec"]
    assert not {QUEUE_LABEL, PRIORITY_LABEL} & set(plain["metadata"]["labels"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"queue_name": "Team A"}, r"queue_name 'Team A'"),
        ({"queue_name": ""}, "queue_name '' must not be empty"),
        ({"queue_name": "q" * 64}, "queue_name"),
        ({"queue_name": "q", "priority_class": "-low"}, "priority_class '-low'"),
        ({"priority_class": "low"}, "priority_class needs queue_name"),
        ({"queue_name": "q", "cluster_name": "shared"}, "queue_name needs ray_cluster_spec"),
        ({"queue_name": "q", "shutdown_after_job_finishes": False}, "queue_name needs shutdown_after"),
        (
            {"queue_name": "q", "deletion_strategy": {"deletionRules": []}},
            "queue_name needs shutdown_after",
        ),
    ],
)
def test_bad_queue_arguments_fail_at_parse_time_naming_the_parameter(
    kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        op(**kwargs)


def test_ray_task_passes_the_queue_through() -> None:
    from airflow_ray_k8s.decorators.ray_task import RayDecoratedOperator

    def fn() -> int:
        return 1

    task = RayDecoratedOperator(
        task_id="t", python_callable=fn, ray_cluster_spec=CLUSTER, queue_name="team-a"
    )
    assert task.queue_name == "team-a"
    assert task.kueue_labels == {QUEUE_LABEL: "team-a"}
    with pytest.raises(ValueError, match="queue_name"):
        RayDecoratedOperator(task_id="t", python_callable=fn, ray_cluster_spec=CLUSTER, queue_name="A B")
