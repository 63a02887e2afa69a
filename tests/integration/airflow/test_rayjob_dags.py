"""RayJobOperator in real DAG runs against the local KubeRay (real Ray where the job must run)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.airflow.conftest import assert_nothing_left, dags_module, run, task_instances, xcom

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.mark.ray
def test_ephemeral_cluster_success_not_deferrable_then_deferrable(
    local_kuberay: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    dags = dags_module()
    dr = run(dags.ray_success)
    tis = task_instances(dr)
    assert dr.state == "success", tis
    for task_id in ("sync", "deferred"):
        assert tis[(task_id, -1)].state == "success"
        out = xcom(dr, task_id)
        assert out["job_status"] == "SUCCEEDED"
        assert out["deployment_status"] == "Complete"
        assert out["namespace"] == "default"
        assert out["job_id"]
        assert out["cluster_name"].startswith(out["name"])
        assert out["start_time"]
        assert out["end_time"]
    logs = capfd.readouterr()
    text = logs.out + logs.err
    # The driver log reached the task log, with the data interval rendered into the runtime env.
    assert "ds=2026-01-01" in text
    assert text.count("driver-done") >= 2
    # Deleted on finish (the default): nothing waits for a TTL.
    assert_nothing_left(local_kuberay, within=5)
