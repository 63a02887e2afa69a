"""RayService DAGs (``dags/ray_serving.py``) on the local KubeRay in scripted mode: deploy, upgrade
with requests flowing, failed and stalled upgrades that leave the old version serving, idempotent
re-runs, bad input refused before any write, and nothing left after the teardown."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Any

import pytest

from tests.integration.airflow.conftest import assert_switched_once, request_loop, task_instances, xcom

pytestmark = pytest.mark.usefixtures("airflow_db")

SERVICE = "churn-model"
_COUNT = iter(range(1, 1000))


@pytest.fixture(autouse=True)
def _own_service_name() -> None:
    """A service name per test: the process keeps one shared watch per connection and kind, and
    its cache must not answer for an object of the same name in an earlier test's emulator."""
    global SERVICE
    SERVICE = f"churn-model-{next(_COUNT)}"


def _dags() -> Any:
    import importlib

    return importlib.import_module("ray_serving")


def _run(dag: Any, day: int, **conf: Any) -> Any:
    when = datetime(2026, 2, day, tzinfo=timezone.utc)
    # Every param, every time: a run's conf must not carry over from an earlier run in this process.
    full = {"model_uri": "file:///models/v1", "image": "", "outcome": "RUNNING", **conf}
    if dag.dag_id == "rayservice_teardown":
        full = {}
    return dag.test(logical_date=when, run_after=when, run_conf={"service": SERVICE, **full})


def _bad_name() -> None:
    global SERVICE
    SERVICE = "Churn_Model"


def _states(dr: Any) -> dict[str, str]:
    return {task_id: str(ti.state) for (task_id, _), ti in task_instances(dr).items()}


def _ask(kr: Any) -> dict[str, Any]:
    """One request to the served model through the API server's service proxy (no retries)."""
    url = f"{kr.url}/api/v1/namespaces/default/services/{SERVICE}-serve-svc:serve/proxy/model"
    request = urllib.request.Request(  # noqa: S310 (the emulator's http URL)
        url,
        data=json.dumps({"features": [1.0]}).encode(),
        headers={"Authorization": f"Bearer {kr.token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (the emulator's http URL)
        return dict(json.loads(response.read()))


def _service(kr: Any) -> dict[str, Any]:
    found = [o for o in kr.objects("rayservices") if o["metadata"]["name"] == SERVICE]
    assert found, "the RayService does not exist"
    return dict(found[0])


def _created_clusters(kr: Any) -> list[str]:
    return [
        e["message"]
        for e in kr.objects("events")
        if e.get("reason") == "CreatedRayCluster" and e["involvedObject"].get("kind") == "RayService"
    ]


def _teardown_leaves_nothing(kr: Any) -> None:
    dr = _run(_dags().rayservice_teardown, 28)
    assert _states(dr) == {"delete": "success"}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [
            f"{plural}/{o['metadata']['name']}"
            for plural in ("rayservices", "rayclusters", "services", "pods")
            for o in kr.objects(plural)
            if o["metadata"]["name"].startswith(SERVICE)
        ]
        if not left:
            return
        time.sleep(0.2)
    raise AssertionError(f"left after the teardown: {left}")


def test_deploy_then_upgrade_without_a_failed_request(local_kuberay_scripted: Any) -> None:
    kr = local_kuberay_scripted
    dr = _run(_dags().rayservice_deploy, 1, model_uri="file:///models/v1")
    assert _states(dr) == {"deploy": "success", "smoke": "success", "healthy": "success"}
    first = xcom(dr, "deploy")
    assert first["action"] == "created"
    assert first["applications"] == {"model": "RUNNING"}
    assert first["serve_url"].endswith(f"/services/{SERVICE}-serve-svc:serve/proxy/")
    assert xcom(dr, "smoke")["args"] == {"model_uri": "file:///models/v1"}
    assert xcom(dr, "deploy", key="ray_serve_dashboard_url").endswith("/#/serve")

    # Requests keep flowing while a new image and model roll out as a new cluster.
    with request_loop(lambda: _ask(kr)["args"]["model_uri"], 0.02) as (answers, failures):
        dr = _run(_dags().rayservice_deploy, 2, model_uri="file:///models/v2", image="rayproject/ray:2.52.1")
    assert _states(dr) == {"deploy": "success", "smoke": "success", "healthy": "success"}
    second = xcom(dr, "deploy")
    assert second["action"] == "updated"
    assert second["active_cluster"] != first["active_cluster"]
    assert_switched_once(answers, failures, "file:///models/v1", "file:///models/v2")
    # The replaced cluster goes after rayClusterDeletionDelaySeconds.
    deadline = time.monotonic() + 10
    while first["active_cluster"] in {o["metadata"]["name"] for o in kr.objects("rayclusters")}:
        assert time.monotonic() < deadline, "the old cluster was not deleted"
        time.sleep(0.2)
    _teardown_leaves_nothing(kr)


def test_a_failed_upgrade_fails_with_serves_statuses_and_the_old_version_serves(
    local_kuberay_scripted: Any,
) -> None:
    from dag_common import FAILURES

    kr = local_kuberay_scripted
    assert _states(_run(_dags().rayservice_deploy, 3, model_uri="file:///models/v1"))["deploy"] == "success"
    FAILURES.clear()
    dr = _run(
        _dags().rayservice_deploy,
        4,
        model_uri="file:///models/broken",
        image="rayproject/ray:2.52.1",
        outcome="DEPLOY_FAILED",
    )
    states = _states(dr)
    assert states["deploy"] == "failed", states
    assert states["smoke"] == "upstream_failed", states
    message = next(f for f in FAILURES if f.startswith("deploy:"))
    assert "DEPLOY_FAILED" in message, message
    assert "the model could not be loaded" in message, message
    assert "keeps serving the previous version" in message, message
    status = _service(kr)["status"]
    assert status["pendingServiceStatus"]["applicationStatuses"]["model"]["status"] == "DEPLOY_FAILED"
    assert _ask(kr)["args"] == {"model_uri": "file:///models/v1"}
    _teardown_leaves_nothing(kr)


def test_a_stalled_upgrade_times_out_and_the_old_version_serves(local_kuberay_scripted: Any) -> None:
    from dag_common import FAILURES

    kr = local_kuberay_scripted
    assert _states(_run(_dags().rayservice_deploy, 5, model_uri="file:///models/v1"))["deploy"] == "success"
    FAILURES.clear()
    dr = _run(_dags().rayservice_deploy, 6, model_uri="file:///models/v2", image="x:2", outcome="DEPLOYING")
    assert _states(dr)["deploy"] == "failed"
    message = next(f for f in FAILURES if f.startswith("deploy:"))
    assert "did not finish within 8 s (stalled)" in message, message
    assert "model: DEPLOYING" in message, message
    assert "UpgradeInProgress=True (BothActivePendingClustersExist)" in message, message
    assert _ask(kr)["args"] == {"model_uri": "file:///models/v1"}
    _teardown_leaves_nothing(kr)


def test_a_rerun_of_the_same_deploy_starts_no_second_upgrade(local_kuberay_scripted: Any) -> None:
    kr = local_kuberay_scripted
    dags = _dags()
    assert _states(_run(dags.rayservice_deploy, 7))["deploy"] == "success"
    upgrade = {"model_uri": "file:///models/v2", "image": "rayproject/ray:2.52.1"}
    assert xcom(_run(dags.rayservice_deploy, 8, **upgrade), "deploy")["action"] == "updated"
    generation = _service(kr)["metadata"]["generation"]
    # The same deploy again (a retry, a re-run): nothing is written, no cluster is made.
    dr = _run(dags.rayservice_deploy, 9, **upgrade)
    assert xcom(dr, "deploy")["action"] == "unchanged"
    assert _service(kr)["metadata"]["generation"] == generation
    assert len(_created_clusters(kr)) == 2, _created_clusters(kr)
    _teardown_leaves_nothing(kr)


def test_bad_input_is_refused_before_anything_is_written(local_kuberay_scripted: Any) -> None:
    from dag_common import FAILURES

    kr = local_kuberay_scripted
    FAILURES.clear()
    _bad_name()
    dr = _run(_dags().rayservice_deploy, 10)
    assert _states(dr)["deploy"] == "failed"
    assert any(
        f.startswith("deploy: deploy: invalid Ray spec: name: must consist of lower case") for f in FAILURES
    ), FAILURES
    assert kr.objects("rayservices") == []
