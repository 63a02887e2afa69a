"""The re-attach / adopt / create decision behind the four retry cases (pure)."""

from __future__ import annotations

from typing import Any

from airflow_ray_k8s._lifecycle.attach import ANNOTATION_CONSUMED, decide
from airflow_ray_k8s.naming import LABEL_TRY


def rayjob(
    name: str,
    try_number: int,
    deployment: str = "",
    job: str = "",
    *,
    consumed: bool = False,
    deleting: bool = False,
    created: str = "2026-01-01T00:00:00Z",
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "ray",
        "labels": {LABEL_TRY: str(try_number)},
        "annotations": {ANNOTATION_CONSUMED: "true"} if consumed else {},
        "creationTimestamp": created,
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    return {"metadata": meta, "status": {"jobDeploymentStatus": deployment, "jobStatus": job}}


def test_no_history_creates() -> None:
    decision = decide([])
    assert decision.action == "create"
    assert decision.existing is None


def test_a_running_job_from_a_dead_worker_is_reattached() -> None:
    decision = decide([rayjob("j-t1", 1, "Running", "RUNNING")])
    assert decision.action == "attach"
    assert decision.existing is not None
    assert decision.existing["metadata"]["name"] == "j-t1"


def test_an_initializing_job_is_reattached() -> None:
    assert decide([rayjob("j-t1", 1, "Initializing")]).action == "attach"


def test_b_a_failed_job_gets_a_fresh_one() -> None:
    decision = decide([rayjob("j-t1", 1, "Failed", "FAILED")])
    assert decision.action == "create"
    assert "Failed/FAILED" in decision.why


def test_c_a_recorded_success_runs_anew() -> None:
    assert decide([rayjob("j-t1", 1, "Complete", "SUCCEEDED", consumed=True)]).action == "create"


def test_d_an_unrecorded_success_is_adopted() -> None:
    decision = decide([rayjob("j-t1", 1, "Complete", "SUCCEEDED")])
    assert decision.action == "adopt"


def test_only_the_newest_try_counts() -> None:
    history = [
        rayjob("j-t2", 2, "Running", "RUNNING"),
        rayjob("j-t1", 1, "Complete", "SUCCEEDED"),  # an old unrecorded success must not be adopted
    ]
    decision = decide(history)
    assert decision.action == "attach"
    assert decision.existing is not None
    assert decision.existing["metadata"]["name"] == "j-t2"


def test_try_numbers_order_numerically_not_as_text() -> None:
    history = [rayjob("j-t10", 10, "Running", "RUNNING"), rayjob("j-t9", 9, "Failed", "FAILED")]
    assert decide(history).action == "attach"


def test_a_job_being_deleted_is_ignored() -> None:
    history = [rayjob("j-t2", 2, "Running", "RUNNING", deleting=True), rayjob("j-t1", 1, "Failed", "FAILED")]
    assert decide(history).action == "create"


def test_a_stopped_job_is_not_adopted() -> None:
    assert decide([rayjob("j-t1", 1, "Complete", "STOPPED")]).action == "create"


def test_validation_failed_is_terminal_so_a_retry_creates() -> None:
    assert decide([rayjob("j-t1", 1, "ValidationFailed")]).action == "create"


def test_a_new_attempt_never_reuses_an_existing_name() -> None:
    from airflow_ray_k8s._lifecycle.attach import next_attempt

    assert next_attempt([], 1) == 1
    assert next_attempt([rayjob("j-t1", 1, "Failed", "FAILED")], 2) == 2
    # The same try number again (a DAG run deleted and re-triggered under its run id): a new name.
    assert next_attempt([rayjob("j-t1", 1, "Complete", "SUCCEEDED", consumed=True)], 1) == 2
    assert next_attempt([rayjob("j-t1", 1), rayjob("j-t4", 4)], 2) == 5
