"""Pipelines: a shared cluster as setup / teardown around mapped and failing jobs, and a backfill."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.integration.airflow.conftest import assert_nothing_left, dags_module, run, task_instances, xcom

# Real Ray heads start in ~5 s on an idle 2-core machine but take a minute when it is busy; a test
# with two heads then needs more than the suite's default 300 s.
pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(600)]


@pytest.mark.backends("scripted", "ray", "real")
def test_setup_teardown_cluster_with_mapped_jobs_and_a_failing_task_leaves_nothing(kuberay: Any) -> None:
    dags = dags_module()
    dr = run(dags.ray_shared_cluster)
    tis = task_instances(dr)
    created = xcom(dr, "create_cluster")
    assert created["cluster_selector"] == {"ray.io/cluster": created["name"]}
    assert created["namespace"] == "default"
    mapped = {k: ti for k, ti in tis.items() if k[0] == "mapped"}
    assert sorted(i for _, i in mapped) == [0, 1, 2], "one task instance per parameter set"
    assert all(ti.state == "success" for ti in mapped.values())
    jobs = [xcom(dr, "mapped", map_index=i) for i in range(3)]
    assert len({j["name"] for j in jobs}) == 3, "distinct RayJob names per map index"
    assert all(j["cluster_name"] == created["name"] for j in jobs)
    assert tis[("broken", -1)].state == "failed"
    assert tis[("delete_cluster", -1)].state == "success", "the teardown ran although a task failed"
    assert dr.state == "failed"
    assert_nothing_left(kuberay, within=10)


def test_a_backfill_of_three_data_intervals_runs_three_distinct_jobs(
    kuberay: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow_ray_k8s.hooks.kuberay import KubeRayHook
    from airflow_ray_k8s.resources import RAYCLUSTER
    from airflow_ray_k8s.status import RayClusterStatus

    dags = dags_module()
    hook = KubeRayHook()
    cluster = {"metadata": {"name": "backfill-shared"}, "spec": dags.CLUSTER}
    hook.create(RAYCLUSTER, cluster, namespace="default")
    try:
        hook.wait_for(
            RAYCLUSTER,
            "backfill-shared",
            lambda o: o is not None and RayClusterStatus.from_object(o).is_ready,
            namespace="default",
            timeout=200,
        )
        days = [datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(days=d) for d in range(3)]
        outs = []
        for day in days:
            dr = run(dags.ray_backfill, day)
            assert task_instances(dr)[("daily", -1)].state == "success"
            outs.append(xcom(dr, "daily"))
        assert len({o["name"] for o in outs}) == 3, "one RayJob per data interval"
        assert len({o["job_id"] for o in outs}) == 3
        if kuberay.mode == "ray":
            text = "".join(capfd.readouterr())
            for day in days:
                assert f"ds={day:%Y-%m-%d}" in text
    finally:
        hook.delete(RAYCLUSTER, "backfill-shared", namespace="default")
    assert_nothing_left(kuberay, within=10)
