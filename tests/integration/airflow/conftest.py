"""Real Airflow runs (``dag.test()``) of ``tests/integration/dags`` against the local KubeRay.

The metadata DB is created once per session (``initdb`` on SQLite in the session's AIRFLOW_HOME,
~3 s); ``dag.test()`` runs every task in this process, so the KubeRay connection the emulator
fixtures put in the environment reaches the operators and the triggers.

After each test, :func:`assert_nothing_left` checks that the emulator holds no RayJob or RayCluster
the test created (beyond what a TTL still allows) and the emulator fixture checks that no Ray
process survived.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.airflow_env import airflow_db_with_dags

DAGS = Path(__file__).resolve().parents[1] / "dags"


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """An initialised metadata DB and the test DAG folder, once per session."""
    with airflow_db_with_dags(DAGS):
        # Import the async Kubernetes client once here: its first import takes seconds, which a
        # trigger would otherwise spend while a 2-second TTL deletes the cluster it must read logs from.
        import kubernetes_asyncio.client  # noqa: F401

        yield


BACKENDS = {
    "scripted": pytest.param("scripted"),
    "ray": pytest.param("ray", marks=pytest.mark.ray),
    # The real kube-apiserver, etcd and KubeRay operator (``make real-kuberay``), whose node agent
    # runs the pods' Ray processes for real.
    "real": pytest.param("real", marks=[pytest.mark.ray, pytest.mark.realkube]),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``kuberay`` runs a test on each backend: scripted and ray by default; a test marked
    ``@pytest.mark.backends("ray", "real")`` names its own (``real`` only for the DAG tests that
    prove the provider against the real control plane: each costs a real cluster start)."""
    if "kuberay" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    names = marker.args if marker is not None else ("scripted", "ray")
    metafunc.parametrize("kuberay", [BACKENDS[name] for name in names], indirect=True)


@pytest.fixture
def kuberay(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The backend of this test's parameter: the local KubeRay (scripted, or with real Ray heads),
    or the real control plane, with ``kuberay_default`` pointing at it."""
    if request.param == "real":
        kr = request.getfixturevalue("real_kuberay")
        kr.requests.clear()  # the session's control plane: count this test's requests only
        for key, value in kr.airflow_conn_env().items():
            monkeypatch.setenv(key, value)
        yield kr
        return
    yield request.getfixturevalue(
        "local_kuberay_scripted" if request.param == "scripted" else "local_kuberay"
    )


def dags_module() -> Any:
    """The DAG file's module (imported from the DAG folder, as the bundle parser sees it)."""
    import importlib

    return importlib.import_module("ray_lifecycle")


def run(dag: Any, day: datetime = datetime(2026, 1, 1, tzinfo=timezone.utc)) -> Any:
    """One ``dag.test()`` run for a fixed logical date (the same run id every time for that date)."""
    return dag.test(logical_date=day, run_after=day)


def task_instances(dr: Any) -> dict[tuple[str, int], Any]:
    """The run's task instances, by (task_id, map_index), fresh from the DB."""
    from airflow.utils.session import create_session

    with create_session() as session:
        from airflow.models.dagrun import DagRun

        fresh = session.get(DagRun, dr.id)
        tis = fresh.get_task_instances(session=session)
        for ti in tis:
            session.expunge(ti)
        return {(ti.task_id, ti.map_index): ti for ti in tis}


def xcom(dr: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """An XCom value a task of the run pushed."""
    values = xcom_rows(dr, task_id, key, map_index)
    return values[0] if values else None


def xcom_rows(dr: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> list[Any]:
    """Every XCom row of a task instance under ``key`` (a value pushed exactly once is one row)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(XComModel.value).where(
                XComModel.dag_id == dr.dag_id,
                XComModel.run_id == dr.run_id,
                XComModel.task_id == task_id,
                XComModel.key == key,
                XComModel.map_index == map_index,
            )
        ).all()
    return [XComModel.deserialize_value(row) for row in rows]


def assert_nothing_left(kr: Any, *, within: float = 15.0, allow: tuple[str, ...] = ()) -> None:
    """No RayJob nor RayCluster remains (waiting at most ``within`` s for TTLs and cascades).

    :param allow: names the test created itself (outside the provider) and deletes itself.
    """
    deadline = time.monotonic() + within
    while True:
        left = [
            f"{plural}/{o['metadata']['name']}"
            for plural in ("rayjobs", "rayclusters")
            for o in kr.objects(plural)
            if o["metadata"]["name"] not in allow
        ]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not left, f"objects left behind: {left}"
    if getattr(kr, "mode", "") in ("ray", "real"):
        # No cluster left, so no Ray head may run: wait for the heads of deleted clusters to exit
        # (SIGTERM to a head takes 2-5 s, more on a busy machine).
        from airflow_ray_k8s.testing.pytest_plugin import surviving_ray_groups

        deadline = time.monotonic() + 60
        while (survivors := surviving_ray_groups(kr.workdir)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not survivors, f"Ray processes outlived their clusters: process groups {survivors}"


def resume(dag: Any, dr: Any, *, timeout: float = 280) -> Any:
    """Carry on an existing DAG run the way the scheduler does: schedule what is runnable, bumping the
    try number, and run it (as ``dag.test()`` runs tasks: in this process, triggers inline).

    ``dag.test()`` cannot do this: it deletes and re-creates the run, so every call starts at try 1.
    """
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    deadline = time.monotonic() + timeout
    with create_session() as session:
        run_ = session.get(DagRun, dr.id)
        run_.dag = scheduler_dag
        if run_.state != DagRunState.RUNNING:
            run_.state = DagRunState.RUNNING
            session.commit()
        while run_.state == DagRunState.RUNNING:
            assert time.monotonic() < deadline, "the DAG run did not finish"
            session.expire_all()
            schedulable, _ = run_.update_state(session=session)
            for ti in schedulable:
                if ti.state != TaskInstanceState.UP_FOR_RESCHEDULE:
                    ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            scheduled = [ti for ti in run_.get_task_instances(session=session) if ti.state == "scheduled"]
            for ti in scheduled:
                _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
            if not scheduled:
                time.sleep(0.5)
        run_id = run_.id
    with create_session() as session:
        finished = session.get(DagRun, run_id)
        session.expunge(finished)
    return finished


def _task_instance_rows(session: Any, dr: Any, task_id: str) -> list[Any]:
    """The DB rows of a task's instances in a DAG run (one per map index)."""
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    query = select(TaskInstance).where(
        TaskInstance.dag_id == dr.dag_id, TaskInstance.run_id == dr.run_id, TaskInstance.task_id == task_id
    )
    return list(session.scalars(query).all())


def clear(dr: Any, task_id: str) -> None:
    """What a user's "Clear" on a finished task instance does (``clear_task_instances``)."""
    from airflow.models.taskinstance import clear_task_instances
    from airflow.utils.session import create_session

    with create_session() as session:
        clear_task_instances(_task_instance_rows(session, dr, task_id), session)


def run_task_once(dag: Any, dr: Any, task_id: str, *, run_triggerer: bool = False) -> Any:
    """Run one task instance of a DAG run once, as a worker would; without the inline triggerer a
    deferring task stays DEFERRED. Returns its fresh task instance.

    The task must be runnable (e.g. cleared, or scheduled by the test); a cleared one gets its next
    try number as the scheduler gives it.
    """
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    with create_session() as session:
        (ti,) = _task_instance_rows(session, dr, task_id)
        if ti.state is None:
            ti.try_number += 1
        ti.state = TaskInstanceState.SCHEDULED
        session.commit()
        _run_task(ti=ti, task=dag.task_dict[task_id], run_triggerer=run_triggerer)
    with create_session() as session:
        fresh = session.get(TaskInstance, ti.id)
        session.expunge(fresh)
        return fresh


def time_out_the_deferral(ti: Any) -> None:
    """What the scheduler's ``check_trigger_timeouts`` does to a deferred task whose timeout passed."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    with create_session() as session:
        row = session.get(TaskInstance, ti.id)
        row.state = TaskInstanceState.SCHEDULED
        row.next_method = "__fail__"
        row.next_kwargs = {"error": "Trigger timeout"}
        row.trigger_id = None
        session.commit()


@pytest.fixture
def statsd(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A StatsD server on 127.0.0.1 and Airflow's metrics pointed at it, with InfluxDB-style tags.

    ``stats.initialize`` is what Airflow's task runner calls when a task process starts; ``dag.test()``
    runs tasks in this process, so the test calls it after setting the configuration.
    """
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    from tests.statsd_listener import StatsdListener

    with StatsdListener() as listener:
        for key, value in listener.airflow_env().items():
            monkeypatch.setenv(key, value)
        stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)
        try:
            yield listener
        finally:
            monkeypatch.undo()
            stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)


@contextlib.contextmanager
def request_loop(ask: Callable[[], Any], interval: float) -> Iterator[tuple[list[Any], list[str]]]:
    """Call ``ask`` on a thread every ``interval`` s while the block runs (a client hitting a served
    model during an upgrade); yields ``(answers, failures)``, filled in as the calls return. A
    failure is an ``OSError`` (``URLError``, ``HTTPError``: a refused or failed request) or a
    ``ValueError`` (an answer that is not JSON); ``ask`` must not retry."""
    answers: list[Any] = []
    failures: list[str] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                answers.append(ask())
            except (OSError, ValueError) as exc:
                failures.append(repr(exc))
            time.sleep(interval)

    sender = threading.Thread(target=loop, daemon=True)
    sender.start()
    try:
        yield answers, failures
    finally:
        stop.set()
        sender.join(timeout=15)


def assert_switched_once(answers: list[Any], failures: list[str], old: Any, new: Any) -> None:
    """What :func:`request_loop` saw during an upgrade: no failed request, and the answers went
    from ``old`` to ``new`` once, never back."""
    assert not failures, f"{len(failures)} of {len(answers) + len(failures)} requests failed: {failures[:3]}"
    assert answers, "no request was answered"
    assert answers[0] == old, answers[::20]
    assert answers[-1] == new, answers[::20]
    switch = answers.index(new)
    assert set(answers[:switch]) == {old}
    assert set(answers[switch:]) == {new}, "traffic went back to the old cluster"
