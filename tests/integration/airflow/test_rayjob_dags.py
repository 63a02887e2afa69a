"""RayJobOperator in real DAG runs, on the scripted local KubeRay and on real Ray heads."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.airflow.conftest import assert_nothing_left, dags_module, run, task_instances, xcom

# Real Ray heads start in ~5 s on an idle 2-core machine but take a minute when it is busy; a test
# with two heads then needs more than the suite's default 300 s.
pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(600)]


@pytest.mark.backends("scripted", "ray", "real")
def test_ephemeral_cluster_success_not_deferrable_then_deferrable(
    kuberay: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    dags = dags_module()
    dr = run(dags.ray_success)
    tis = task_instances(dr)
    assert dr.state == "success", tis
    names = set()
    for task_id in ("sync", "deferred"):
        assert tis[(task_id, -1)].state == "success"
        out = xcom(dr, task_id)
        names.add(out["name"])
        assert out["job_status"] == "SUCCEEDED"
        assert out["deployment_status"] == "Complete"
        assert out["namespace"] == "default"
        assert out["job_id"]
        assert out["cluster_name"].startswith(out["name"])
        assert out["start_time"]
        assert out["end_time"]
        # The dashboard link's XCom: the API server's service proxy to the head service.
        url = xcom(dr, task_id, key="ray_dashboard_url")
        assert url.endswith(f"/services/{out['cluster_name']}-head-svc:dashboard/proxy/")
    assert len(names) == 2
    captured = capfd.readouterr()
    text = captured.out + captured.err
    # The driver log reached the task log (from the worker, then from the trigger).
    if kuberay.mode != "scripted":
        assert "ds=2026-01-01" in text  # {{ ds }} rendered into the runtime env
        assert text.count("driver-done") >= 2
    else:
        assert text.count("scripted success (emulator outcome SUCCEEDED)") >= 2
    # Deleted on finish (the default): nothing waits for a TTL.
    assert_nothing_left(kuberay, within=5)


@pytest.mark.backends("scripted", "ray", "real")
def test_failure_says_why_with_the_driver_log_tail(kuberay: Any) -> None:
    dags = dags_module()
    dags.FAILURES.clear()
    dr = run(dags.ray_failure)
    assert task_instances(dr)[("boom", -1)].state == "failed"
    (message,) = dags.FAILURES
    assert "jobDeploymentStatus=Failed" in message
    assert "jobStatus=FAILED" in message
    assert "lines of the driver log" in message
    if kuberay.mode != "scripted":
        assert "reason=AppFailed" in message
        assert "before-the-crash" in message
        assert "exit-marker-42" in message
    else:
        assert "scripted failure" in message
    assert_nothing_left(kuberay, within=5)
