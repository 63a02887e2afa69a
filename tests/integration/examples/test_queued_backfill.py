"""The queued-backfill example, 30 intervals at once through a 2-slot Kueue LocalQueue.

Airflow's own backfill (``_create_backfill``, what ``airflow backfill create`` calls) makes the 30
DAG runs. Then, as a scheduler, workers and one triggerer would, but in this process:

1. each run's ``train`` task runs on a "worker" up to its deferral: it creates its RayJob
   (suspended, on the queue) and defers, so 30 task instances are DEFERRED at once;
2. the 30 triggers run together in one event loop (a triggerer), on a thread of their own;
3. as each trigger fires, the main thread resumes that task with the event (``execute_complete``),
   as the scheduler hands a fired task back to a worker, while the other triggers keep waiting.

``dag.test()`` cannot show this: it runs intervals one after another, so nothing ever queues. A
real scheduler and triggerer would also work but take minutes to start and to poll on 2 cores.

Scripted local KubeRay (no Ray processes): 30 real heads would take minutes here.
"""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_ray_k8s.naming import ANNOTATION_RUN_ID
from airflow_ray_k8s.resources import RAYCLUSTER
from tests.integration.airflow.conftest import airflow_db, assert_nothing_left, xcom
from tests.integration.examples.bundles import EXAMPLES, bundle_config_with_examples

DAG_ID = "example_ray_queued_backfill"
FIRST = datetime(2026, 10, 1, tzinfo=timezone.utc)
DAYS = 30
SLOTS = 2
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
DS_LABEL = "example.airflow-ray-k8s.io/ds"

__all__ = ["airflow_db"]  # the session fixture, re-exported so pytest finds it here

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(300)]


@pytest.fixture
def examples_bundle(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The example folder as a DAG bundle named ``examples``, synced to the metadata DB (what the
    DAG processor does), and on ``sys.path``."""
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", bundle_config_with_examples())
    sys.path.insert(0, str(EXAMPLES))
    try:
        from airflow.dag_processing.bundles.manager import DagBundlesManager
        from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

        manager = DagBundlesManager()
        manager.sync_bundles_to_db()
        bundle = manager.get_bundle("examples")
        bundle.initialize()
        bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name="examples")
        assert not bag.import_errors, bag.import_errors
        sync_bag_to_db(bag, "examples", bundle.version)
        yield "examples"
    finally:
        sys.path.remove(str(EXAMPLES))
        for name in [m for m in sys.modules if m.startswith(("example_ray_", "ray_examples_common"))]:
            del sys.modules[name]


def _scripted(dag: Any) -> None:
    """Make the example's job a scripted 1-second success (the real entrypoint does the same), with
    a 5 s start-up timeout: the last intervals wait far longer than that in the queue, so the
    timeout would fire if it counted from the RayJob's creation instead of its admission."""
    task = dag.get_task("train")
    task.startup_timeout = 5.0
    task.job_annotations = {
        "emulator.airflow-ray-k8s.io/outcome": "SUCCEEDED",
        "emulator.airflow-ray-k8s.io/duration-seconds": "1",
    }


def _backfill_runs() -> list[Any]:
    """``airflow backfill create`` for 30 days, then the runs set running as the scheduler does."""
    from airflow.models.backfill import _create_backfill
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    backfill = _create_backfill(
        dag_id=DAG_ID,
        from_date=FIRST,
        to_date=FIRST + timedelta(days=DAYS - 1),
        max_active_runs=DAYS,
        reverse=False,
        dag_run_conf=None,
        triggering_user_name="test",
    )
    with create_session() as session:
        runs = list(
            session.scalars(
                select(DagRun).where(DagRun.backfill_id == backfill.id).order_by(DagRun.logical_date)
            )
        )
        for run in runs:
            run.state = DagRunState.RUNNING
        session.commit()
        for run in runs:
            session.expunge(run)
    return runs


def _schedule(dag: Any, dr: Any) -> Any:
    """The run's ``train`` task instance, scheduled with its first try (as the scheduler would)."""
    from airflow.models.dagrun import DagRun
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    with create_session() as session:
        run = session.get(DagRun, dr.id)
        run.dag = scheduler_dag
        schedulable, _ = run.update_state(session=session)
        (ti,) = schedulable
        ti.try_number += 1
        ti.state = TaskInstanceState.SCHEDULED
        session.commit()
        session.refresh(ti)
        session.expunge(ti)
    return ti


def _run_on_worker(dag: Any, ti: Any) -> Any:
    """Run the task instance once, as a worker does (no inline triggerer); the SDK's result."""
    from airflow.sdk.definitions.dag import _run_task

    return _run_task(ti=ti, task=dag.task_dict["train"], run_triggerer=False)


def _triggerer(deferrals: list[tuple[int, Any]], fired: queue.Queue[tuple[int, Any]]) -> threading.Thread:
    """One event loop running every deferred task's trigger together, on its own thread; each
    trigger's first event goes to ``fired`` as ``(index, payload)``."""
    from airflow.sdk._shared.module_loading import import_string
    from airflow.sdk.serde import deserialize

    async def run_one(index: int, msg: Any) -> None:
        trigger = import_string(msg.classpath)(**deserialize(msg.trigger_kwargs))
        try:
            async for event in trigger.run():
                fired.put((index, event.payload))
                return
        except Exception as exc:  # reported to the test as an event it will fail on
            fired.put((index, {"status": "trigger-crashed", "message": repr(exc)}))

    async def main() -> None:
        await asyncio.gather(*(run_one(index, msg) for index, msg in deferrals))

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="triggerer", daemon=True)
    thread.start()
    return thread


def _resume(dag: Any, ti: Any, msg: Any, payload: Any) -> Any:
    """What the triggerer and scheduler do with a fired trigger: the task is scheduled again with
    the event as its ``next_kwargs``, and a worker runs ``execute_complete``."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk.serde import serialize
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    with create_session() as session:
        row = session.get(TaskInstance, ti.id)
        row.next_method = msg.next_method
        row.next_kwargs = {"event": serialize(payload)}
        row.trigger_id = None
        row.state = TaskInstanceState.SCHEDULED
        session.commit()
        session.refresh(row)
        session.expunge(row)
    return _run_on_worker(dag, row)


@pytest.mark.local_kuberay(local_queues={"ray-backfill": SLOTS})
def test_a_30_day_backfill_through_a_2_slot_queue_runs_each_interval_once(
    local_kuberay_scripted: Any, examples_bundle: str, capfd: pytest.CaptureFixture[str]
) -> None:
    import importlib

    from airflow.sdk.execution_time.comms import DeferTask
    from airflow.utils.state import TaskInstanceState

    kr = local_kuberay_scripted
    dag = importlib.import_module(DAG_ID).dag
    _scripted(dag)
    runs = _backfill_runs()
    assert len(runs) == DAYS
    assert all(r.run_type == "backfill" for r in runs)

    # 1. Every interval's task runs up to its deferral: 30 RayJobs, created suspended on the queue.
    tis, deferrals = [], []
    for index, dr in enumerate(runs):
        ti = _schedule(dag, dr)
        result = _run_on_worker(dag, ti)
        assert result.ti.state == TaskInstanceState.DEFERRED, (dr.run_id, result.ti.state)
        assert isinstance(result.msg, DeferTask)
        tis.append(ti)
        deferrals.append((index, result.msg))
    jobs = kr.objects("rayjobs")
    assert len(jobs) == DAYS
    days = sorted(j["metadata"]["labels"][DS_LABEL] for j in jobs)
    assert days == [(FIRST + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(DAYS)]
    assert {j["metadata"]["annotations"][ANNOTATION_RUN_ID] for j in jobs} == {r.run_id for r in runs}
    assert all(j["metadata"]["labels"][QUEUE_LABEL] == "ray-backfill" for j in jobs)
    # The queue is really in use: 30 in flight, at most 2 admitted, the rest suspended.
    queued = sum(1 for j in jobs if j["spec"].get("suspend"))
    assert queued >= DAYS - SLOTS

    # 2 + 3. One triggerer waits for all 30; each fired task is resumed while the others wait.
    fired: queue.Queue[tuple[int, Any]] = queue.Queue()
    triggerer = _triggerer(deferrals, fired)
    outcomes: dict[int, Any] = {}
    while len(outcomes) < DAYS:
        index, payload = fired.get(timeout=120)
        assert payload.get("status") not in ("startup_timeout", "trigger-crashed", "error"), payload
        outcomes[index] = _resume(dag, tis[index], deferrals[index][1], payload)
    triggerer.join(timeout=30)

    states = {i: o.ti.state for i, o in outcomes.items()}
    assert states == dict.fromkeys(range(DAYS), TaskInstanceState.SUCCESS)
    names = [xcom(dr, "train")["name"] for dr in runs]
    assert len(set(names)) == DAYS
    assert sorted(names) == sorted(j["metadata"]["name"] for j in jobs)
    # Nothing submitted twice: one create per interval, each admitted by the queue exactly once.
    assert kr.requests.count("POST", r"/rayjobs$") == DAYS
    admitted = kr.call(lambda: list(kr.controller.kueue.admitted))
    assert sorted(a[3] for a in admitted) == sorted(names)
    # Never more than the queue's 2 clusters at once (the store's high-water mark).
    peak = kr.call(lambda: kr.store.peak[RAYCLUSTER])
    assert 1 <= peak <= SLOTS
    text = (captured := capfd.readouterr()).out + captured.err
    assert "did not become ready within" not in text
    assert text.count("was admitted by Kueue LocalQueue 'ray-backfill'") >= DAYS - SLOTS
    print(f"backfill: {DAYS} intervals, {queued} suspended after the deferrals, peak clusters {peak}")
    assert_nothing_left(kr)
