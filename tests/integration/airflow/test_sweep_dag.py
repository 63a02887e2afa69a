"""The ready-made maintenance DAG run by Airflow (``dag.test()``): the sweep asks Airflow (through
the Task SDK) for each expired object's task instance and keeps those of a running task."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from airflow_ray_k8s.hooks.kuberay import KubeRayHook
from airflow_ray_k8s.naming import ANNOTATION_EXPIRES_AT, TaskIdentity
from airflow_ray_k8s.resources import RAYCLUSTER
from tests.integration.airflow.conftest import run, task_instances, xcom
from tests.sweep_objects import FUTURE, PAST, foreign, ours

pytestmark = pytest.mark.usefixtures("airflow_db")

RUN_ID = "manual__2026-01-01T00:00:00+00:00"  # dag.test() for conftest.run's fixed date


def _cluster(name: str, task_id: str, *, expires: Any = PAST) -> dict[str, Any]:
    return ours(
        "RayCluster",
        name,
        "default",
        expires=expires,
        identity=TaskIdentity("ray_fleet_sweep", task_id, RUN_ID),
    )


def test_the_maintenance_dag_deletes_expired_orphans_of_finished_or_unknown_tasks(
    local_kuberay_scripted: Any,
) -> None:
    kr = local_kuberay_scripted
    hook = KubeRayHook()
    for body in (
        _cluster("of-the-running-sweep", "sweep"),  # the sweep task itself runs: kept
        _cluster("of-a-finished-task", "done"),  # "done" succeeded before the sweep: deleted
        _cluster("of-no-such-task", "gone"),  # Airflow has no such task instance: deleted
        _cluster("not-expired", "done", expires=FUTURE),
        foreign(
            "RayCluster",
            "someone-elses",
            "default",
            labels={},
            annotations={ANNOTATION_EXPIRES_AT: "2020-01-01T00:00:00Z"},
        ),
    ):
        body["spec"]["rayVersion"] = "2.52.0"
        hook.create(RAYCLUSTER, body, namespace="default")
    dag = importlib.import_module("ray_fleet").ray_fleet_sweep
    dr = run(dag)
    assert dr.run_id == RUN_ID
    assert task_instances(dr)[("sweep", -1)].state == "success"
    left = {o["metadata"]["name"] for o in kr.objects("rayclusters")}
    assert left == {"of-the-running-sweep", "not-expired", "someone-elses"}
    summary = xcom(dr, "sweep")
    assert sorted(summary["deleted"]) == [
        "RayCluster/default/of-a-finished-task",
        "RayCluster/default/of-no-such-task",
    ]
    assert summary["kept"] == 2
    for name in left - {"someone-elses"}:
        hook.delete(RAYCLUSTER, name, namespace="default")
