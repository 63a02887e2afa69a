"""``@task.ray`` in real Airflow runs (``dag.test()``): return values reach XCom exactly once, also
after a triggerer restart, a worker death with re-attach, an adopted success after KubeRay deleted
the cluster, and a success nobody read in time (which runs again).

Where a scenario needs a triggerer or a worker to die at a precise moment, the test does what they
would have done up to that moment, through Airflow's own code: the deferred task's trigger is
rebuilt from its stored kwargs (as a triggerer does), its event submitted with
``Trigger.submit_event``, a dead worker's try failed with ``handle_failure`` (as the scheduler does).
"""

from __future__ import annotations

import asyncio
import importlib
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_ray_k8s._lifecycle.returns import ANNOTATION_RESULTS
from tests.integration.airflow.conftest import (
    assert_nothing_left,
    clear,
    resume,
    run,
    run_task_once,
    task_instances,
    xcom,
    xcom_rows,
)
from tests.integration.airflow.test_retry_dags import (
    _first_try_killed_while_running,
    _scheduler_sees_the_worker_dead,
    _wait,
)

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(600)]

DAY = datetime(2026, 1, 1, tzinfo=timezone.utc)
ANSWER = {"question": "life", "answer": 42}


def _dags() -> Any:
    return importlib.import_module("ray_taskflow")


def _deferred_trigger(ti: Any) -> Any:
    """The deferred task's trigger, rebuilt from its stored kwargs as any triggerer would."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk.module_loading import import_string
    from airflow.utils.session import create_session

    with create_session() as session:
        trigger = session.get(TaskInstance, ti.id).trigger
        assert trigger is not None, "the task deferred"
        return import_string(trigger.classpath)(**trigger.kwargs)


def _submit_event(ti: Any, payload: dict[str, Any]) -> None:
    """What the triggerer does with a fired event: the task is scheduled to resume with it."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.triggers.base import TriggerEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        Trigger.submit_event(
            session.get(TaskInstance, ti.id).trigger_id, TriggerEvent(payload), session=session
        )


def _deferred_try(kr: Any) -> tuple[Any, Any, Any]:
    """A DAG run of ``taskflow_answer`` whose task has submitted its job and deferred (try 2: try 1
    is marked success without running, so that the run exists)."""
    dag = _dags().taskflow_answer
    dr = dag.test(logical_date=DAY, run_after=DAY, mark_success_pattern="answer")
    assert kr.requests.count("POST", r"/rayjobs$") == 0
    clear(dr, "answer")
    ti = run_task_once(dag, dr, "answer")  # no triggerer: it stays deferred
    assert ti.state == "deferred"
    assert kr.requests.count("POST", r"/rayjobs$") == 1
    return dag, dr, ti


def _trigger_until_the_end(ti: Any) -> dict[str, Any]:
    from airflow_ray_k8s._lifecycle.waits import first_event

    payload: dict[str, Any] = asyncio.run(first_event(_deferred_trigger(ti)))
    assert payload["status"] == "terminal"
    return payload


def _worker_dies(ti: Any) -> None:
    """The try ends without recording anything: its worker died (the scheduler fails the try)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    with create_session() as session:
        row = session.get(TaskInstance, ti.id)
        row.state = TaskInstanceState.RUNNING
        row.handle_failure("Task instance heartbeat timed out (worker killed by the test)", session=session)
        assert row.state == "up_for_retry"


# --- both modes -------------------------------------------------------------------------------------------


def test_a_ray_task_returns_its_value_from_its_own_cluster(kuberay: Any) -> None:
    dr = run(_dags().taskflow_answer, DAY)
    ti = task_instances(dr)[("answer", -1)]
    assert ti.state == "success"
    assert xcom_rows(dr, "answer") == [{**ANSWER, "attempt": "1"}]
    assert xcom(dr, "answer", key="answer") == 42, "multiple_outputs from the dict return annotation"
    status = xcom(dr, "answer", key="rayjob")
    assert status["job_status"] == "SUCCEEDED"
    assert status["cluster_name"].startswith(status["name"]), "an ephemeral cluster"
    assert kuberay.requests.count("POST", r"/rayjobs$") == 1
    assert_nothing_left(kuberay, within=5)


# --- scripted: the moments a triggerer or a worker dies ----------------------------------------------


def test_a_triggerer_restart_after_the_job_ended_returns_the_value_once(local_kuberay_scripted: Any) -> None:
    kr = local_kuberay_scripted
    dag, dr, ti = _deferred_try(kr)
    # Triggerer 1 sees the end, reads the whole log (the record is 3000 lines before its end) and
    # keeps the value on the RayJob, then dies before its event is recorded.
    first = _trigger_until_the_end(ti)
    assert first["results"]["value"] == {**ANSWER, "attempt": "2"}
    assert first["results"]["origin"] == "log"
    assert not any("##airflow-ray-k8s" in line for line in first["log_tail"]), "not from the tail"
    (job,) = kr.objects("rayjobs")
    assert ANNOTATION_RESULTS in job["metadata"]["annotations"]
    # KubeRay deletes the cluster, and its log, after the 2 s TTL.
    _wait(lambda: not kr.objects("rayclusters"), 30, "the TTL to delete the cluster")
    # Triggerer 2 runs the same stored trigger: the log is gone, the kept value is not.
    second = _trigger_until_the_end(ti)
    assert second["results"]["origin"] == "annotation"
    assert second["results"]["value"] == first["results"]["value"]
    _submit_event(ti, second)
    ti = run_task_once(dag, dr, "answer")
    assert ti.state == "success"
    assert xcom_rows(dr, "answer") == [{**ANSWER, "attempt": "2"}]
    assert kr.requests.count("POST", r"/rayjobs$") == 1, "nothing submitted twice"
    assert_nothing_left(kr, within=5)


def test_a_retry_adopts_a_success_whose_value_was_kept_after_the_cluster_is_gone(
    local_kuberay_scripted: Any,
) -> None:
    kr = local_kuberay_scripted
    dag, dr, ti = _deferred_try(kr)
    payload = _trigger_until_the_end(ti)  # read and kept on the RayJob
    _submit_event(ti, payload)
    _worker_dies(ti)  # the worker that resumes the task dies before it records anything
    _wait(lambda: not kr.objects("rayclusters"), 30, "the TTL to delete the cluster")
    dr = resume(dag, dr)  # try 3
    ti = task_instances(dr)[("answer", -1)]
    assert (ti.state, ti.try_number) == ("success", 3)
    # The value of the job try 2 ran (attempt "2"), adopted from the RayJob: not a rerun.
    assert xcom_rows(dr, "answer") == [{**ANSWER, "attempt": "2"}]
    assert xcom(dr, "answer", key="rayjob")["name"].endswith("-t2")
    assert kr.requests.count("POST", r"/rayjobs$") == 1
    assert_nothing_left(kr, within=5)


def test_a_success_nobody_read_before_the_ttl_runs_again_and_returns_once(
    local_kuberay_scripted: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    kr = local_kuberay_scripted
    dag, dr, ti = _deferred_try(kr)
    # No triggerer picks the trigger up; the job ends and KubeRay deletes its cluster and log.
    _wait(
        lambda: any((o.get("status") or {}).get("jobStatus") == "SUCCEEDED" for o in kr.objects("rayjobs")),
        30,
        "the job",
    )
    _wait(lambda: not kr.objects("rayclusters"), 30, "the TTL to delete the cluster")
    _worker_dies(ti)
    dr = resume(dag, dr)  # try 3: the success of try 2 cannot give its value back
    ti = task_instances(dr)[("answer", -1)]
    assert (ti.state, ti.try_number) == ("success", 3)
    assert xcom_rows(dr, "answer") == [{**ANSWER, "attempt": "3"}]
    assert xcom(dr, "answer", key="rayjob")["name"].endswith("-t3")
    posts = kr.requests.filter("POST", r"/rayjobs$")
    assert len(posts) == 2, "the lost success ran again, once"
    said = "".join(capfd.readouterr())
    assert "succeeded but no try recorded its return value, which is lost" in said
    assert "running answer() again" in said
    assert_nothing_left(kr, within=5)


# --- real Ray ------------------------------------------------------------------------------------------


@pytest.mark.ray
def test_a_worker_dies_while_the_function_runs_and_the_retry_returns_its_value(local_kuberay: Any) -> None:
    kr = local_kuberay
    name = _first_try_killed_while_running(kr, "taskflow_worker_dies", module="ray_taskflow")
    dr = _scheduler_sees_the_worker_dead("taskflow_worker_dies", "slow_answer")
    dr = resume(_dags().taskflow_worker_dies, dr)
    ti = task_instances(dr)[("slow_answer", -1)]
    assert (ti.state, ti.try_number) == ("success", 2)
    assert xcom_rows(dr, "slow_answer") == [{"slept": 15, "answer": 42}]
    assert xcom(dr, "slow_answer", key="rayjob")["name"] == name, "the retry waited for the first try's job"
    assert kr.requests.count("POST", r"/rayjobs$") == 1, "submitted once"
    assert_nothing_left(kr, within=5)


@pytest.mark.ray
def test_functions_on_a_shared_cluster_map_reduce_publish_and_fail_clearly(local_kuberay: Any) -> None:
    dags = _dags()
    dags.FAILURES.clear()
    dr = run(dags.taskflow_on_ray, DAY)
    states = {k: ti.state for k, ti in task_instances(dr).items()}
    assert states == {
        ("create_cluster", -1): "success",
        ("square", 0): "success",
        ("square", 1): "success",
        ("square", 2): "success",
        ("total", -1): "success",
        ("publisher", -1): "success",
        ("broken", -1): "failed",
        ("not_json", -1): "failed",
        ("delete_cluster", -1): "success",
    }
    cluster = xcom(dr, "create_cluster", key="name")
    for i, x in enumerate((1, 2, 3)):
        assert xcom_rows(dr, "square", map_index=i) == [{"x": x, "square": x * x, "ds": "2026-01-01"}]
        assert xcom(dr, "square", key="rayjob", map_index=i)["cluster_name"] == cluster
    # The mapped tasks' return values, as a list argument of the next function.
    assert xcom_rows(dr, "total") == [{"sum": 14, "count": 3}]
    assert (xcom(dr, "total", key="sum"), xcom(dr, "total", key="count")) == (14, 3)
    # A plain program's published results, the first 3000 lines before the end of its log.
    assert xcom(dr, "publisher", key="results") == {"rows": 10, "stage": 2}
    assert xcom(dr, "publisher")["job_status"] == "SUCCEEDED", "its return_value is still the status"

    [broken] = [f for f in dags.FAILURES if f.startswith("broken:")]
    assert "broken() raised ValueError: n must be positive, got -1" in broken
    assert "Traceback on the Ray cluster (last frames):" in broken
    assert f'File "{dags.__file__}"' in broken, "frames point at the DAG file"
    assert "in check" in broken
    assert "reason=AppFailed" in broken, "KubeRay's reason"
    [not_json] = [f for f in dags.FAILURES if f.startswith("not_json:")]
    assert "the return value of not_json()['when'] is of type datetime.date" in not_json
    assert xcom_rows(dr, "broken") == []
    assert_nothing_left(local_kuberay, within=60)
