"""The example DAGs of ``dags_examples/`` run for real on the local KubeRay with real Ray heads.

Each test runs a DAG with ``dag.test()`` and checks the Ray programs' own output (the ``RESULT``
lines their drivers print, streamed into the task log) against values computed here, not just the
task states; then that nothing the run created is left (TTL and teardown) and no Ray process
outlives it. The README's ``make demo`` runs the first two of these DAGs the same way through
``airflow dags test``.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from tests.integration.airflow.conftest import (
    airflow_db,
    assert_nothing_left,
    assert_switched_once,
    request_loop,
    task_instances,
    xcom,
)
from tests.integration.examples.bundles import EXAMPLES, bundle_config_with_examples

DAY = datetime(2026, 11, 3, tzinfo=timezone.utc)

__all__ = ["airflow_db"]  # the session fixture, re-exported so pytest finds it here

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(600)]


@pytest.fixture
def examples(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The example DAG folder as a DAG bundle (``dag.test()`` serializes the DAG from its bundle)
    and on ``sys.path``, as the DAG processor puts it."""
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", bundle_config_with_examples())
    sys.path.insert(0, str(EXAMPLES))
    try:
        yield
    finally:
        sys.path.remove(str(EXAMPLES))
        for name in [m for m in sys.modules if m.startswith(("example_ray_", "ray_examples_common"))]:
            del sys.modules[name]


def _dag(module: str) -> Any:
    import importlib

    return importlib.import_module(module).dag


def _results(text: str, program: str) -> list[dict[str, str]]:
    """The ``RESULT program=<program> k=v ...`` lines in ``text``, parsed (each distinct line once)."""
    lines = dict.fromkeys(re.findall(rf"RESULT program={program}(?: \w+=[^\s\[]+)*", text))
    return [dict(kv.split("=", 1) for kv in line.split()[1:]) for line in lines]


def _all_succeeded(dr: Any, first_step: str) -> None:
    """Every task of a shared-cluster pipeline succeeded: setup, the first step, three mapped
    training jobs, the evaluation, teardown."""
    tasks = [("create_cluster", -1), (first_step, -1), *(("train", i) for i in range(3))]
    tasks += [("evaluate", -1), ("delete_cluster", -1)]
    assert {k: ti.state for k, ti in task_instances(dr).items()} == dict.fromkeys(tasks, "success")


def test_daily_train_on_an_ephemeral_cluster(
    local_kuberay: Any, examples: None, capfd: pytest.CaptureFixture[str]
) -> None:
    dr = _dag("example_ray_daily_train").test(logical_date=DAY, run_after=DAY)
    assert task_instances(dr)[("train", -1)].state == "success"
    out = xcom(dr, "train")
    assert out["job_status"] == "SUCCEEDED"
    assert out["cluster_name"].startswith(out["name"]), "the RayJob brought its own cluster"
    [result] = _results("".join(capfd.readouterr()), "train")
    assert result["ds"] == "2026-11-03", "the data interval reached the entrypoint"
    assert result["lr"] == "0.1"
    # Gradient descent on the day's generated line y = w*x + b + noise recovers w and b.
    from ray_programs.pipeline import BIAS, day_params

    _, slope = day_params("2026-11-03")
    assert abs(float(result["w"]) - slope) < 0.05
    assert abs(float(result["b"]) - BIAS) < 0.05
    assert float(result["train_mse"]) < 0.01
    assert_nothing_left(local_kuberay, within=150)


def test_shared_cluster_pipeline_with_mapped_training(
    local_kuberay: Any, examples: None, capfd: pytest.CaptureFixture[str]
) -> None:
    dr = _dag("example_ray_shared_cluster").test(logical_date=DAY, run_after=DAY)
    _all_succeeded(dr, "preprocess")
    cluster = xcom(dr, "create_cluster", key="name")
    jobs = [xcom(dr, "train", map_index=i) for i in range(3)]
    assert {j["cluster_name"] for j in jobs} == {cluster}, "every job ran on the shared cluster"
    assert len({j["name"] for j in jobs}) == 3

    text = "".join(capfd.readouterr())
    [pre] = _results(text, "preprocess")
    assert (pre["rows"], pre["train_rows"], pre["val_rows"]) == ("1000", "800", "200")
    trained = {r["lr"]: float(r["train_mse"]) for r in _results(text, "train")}
    assert set(trained) == {"0.01", "0.1", "0.5"}, "one training job per mapped learning rate"
    [evaluation] = _results(text, "evaluate")
    # The evaluation picks the learning rate with the lowest error; 0.01 is far from converged.
    assert evaluation["best_lr"] != "0.01"
    assert trained["0.01"] > 10 * min(trained.values())
    assert_nothing_left(local_kuberay, within=60)


def test_sensor_pipeline_waits_for_a_rayjob_submitted_outside_airflow(
    local_kuberay: Any, examples: None
) -> None:
    import yaml

    from airflow_ray_k8s.hooks.kuberay import KubeRayHook
    from airflow_ray_k8s.resources import RAYJOB

    # Another team's pipeline applies the manifest (kubectl apply); the sensor only watches it.
    manifest = yaml.safe_load((EXAMPLES / "external_rayjob.yaml").read_text())
    hook = KubeRayHook()
    hook.create(RAYJOB, manifest, namespace="default")
    name = manifest["metadata"]["name"]
    try:
        dr = _dag("example_ray_sensor").test(logical_date=DAY, run_after=DAY)
        tis = task_instances(dr)
        assert tis[("wait_for_rayjob", -1)].state == "success"
        assert tis[("report", -1)].state == "success"
        assert xcom(dr, "report") == f"RayJob {name} finished"
        status = hook.get_rayjob_status(name, namespace="default")
        assert status.job_status == "SUCCEEDED"
        # The sensor streams nothing (it is not its job): read the driver log through the dashboard
        # proxy while KubeRay keeps the cluster (TTL 300 s) and check the program's own result.
        logs = hook.get_job_logs(status.ray_cluster_name, status.job_id, namespace="default")
        assert "RESULT program=sum_of_squares n=10 sum_of_squares=285" in logs
        assert [o["metadata"]["name"] for o in local_kuberay.objects("rayjobs")] == [name], (
            "sensors delete nothing"
        )
    finally:
        hook.delete(RAYJOB, name, namespace="default")
    assert_nothing_left(local_kuberay, within=60)


def test_taskflow_pipeline_returns_the_models_and_evaluate_picks_the_best(
    local_kuberay: Any, examples: None
) -> None:
    import numpy as np

    dr = _dag("example_ray_taskflow_train").test(logical_date=DAY, run_after=DAY)
    _all_succeeded(dr, "prepare")
    cluster = xcom(dr, "create_cluster", key="name")
    for task_id, index in (("prepare", -1), ("train", 0), ("train", 1), ("train", 2), ("evaluate", -1)):
        assert xcom(dr, task_id, key="rayjob", map_index=index)["cluster_name"] == cluster

    # The return values, checked against the same day's data computed here.
    from ray_programs.pipeline import BIAS, day_arrays, day_params, featurize

    ids = np.arange(1000, dtype=np.int64)
    day = featurize({"id": ids}, "2026-11-03")
    summary = xcom(dr, "prepare")
    assert (summary["rows"], summary["val_rows"]) == (1000, 200)
    assert abs(summary["mean_y"] - float(np.mean(day["y"]))) < 1e-5
    assert abs(summary["std_y"] - float(np.std(day["y"], ddof=1))) < 1e-3

    models = [xcom(dr, "train", map_index=i) for i in range(3)]
    assert [m["lr"] for m in models] == [0.01, 0.1, 0.5], "one model per mapped learning rate"
    x, y = day_arrays("2026-11-03", 1000, validation=True)
    scores = {str(m["lr"]): float(np.mean((m["w"] * x + m["b"] - y) ** 2)) for m in models}
    best = xcom(dr, "evaluate")
    assert best["candidates"] == pytest.approx(scores, rel=1e-9)
    assert best["best_lr"] == float(min(scores, key=scores.__getitem__))
    assert best["best_lr"] != 0.01, "0.01 is far from converged after 100 epochs"
    _, slope = day_params("2026-11-03")
    assert abs(best["w"] - slope) < 0.05
    assert abs(best["b"] - BIAS) < 0.05
    assert best["val_mse"] < 0.01
    assert_nothing_left(local_kuberay, within=60)


SERVE_DAY, NEXT_DAY = DAY, datetime(2026, 11, 4, tzinfo=timezone.utc)


def _serve_run(dag: Any, day: datetime, **params: Any) -> Any:
    # Every param every time: dag.test() keeps an earlier run's conf in this process otherwise.
    conf = {"rows": 2000, "serve_import_path": "linear_serve:app", **params}
    return dag.test(logical_date=day, run_after=day, run_conf=conf)


def _predict(kr: Any, features: list[float]) -> dict[str, Any]:
    """One request to the served model through the API server's service proxy, no retries."""
    import json
    import urllib.request

    url = f"{kr.url}/api/v1/namespaces/default/services/linear-model-serve-svc:serve/proxy/predict"
    request = urllib.request.Request(  # noqa: S310 (the emulator's http URL)
        url,
        data=json.dumps({"features": features}).encode(),
        headers={"Authorization": f"Bearer {kr.token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the emulator's http URL)
        return dict(json.loads(response.read()))


def _expected_model(ds: str) -> tuple[list[float], float]:
    """The least-squares fit of the day's rows, computed here with numpy's own solver."""
    import numpy as np
    from ray_programs.least_squares import shard_data

    x, y = shard_data(ds, 2000, 0, 1)
    solution = np.linalg.lstsq(np.hstack([x, np.ones((len(x), 1))]), y, rcond=None)[0]
    return [float(v) for v in solution[:-1]], float(solution[-1])


def _check_model(dr: Any, ds: str) -> dict[str, Any]:
    from ray_programs.least_squares import true_model

    model = xcom(dr, "train", key="results")
    weights, bias = _expected_model(ds)
    assert model["version"] == ds
    assert all(abs(a - b) < 1e-9 for a, b in zip(model["weights"], weights, strict=True)), (model, weights)
    assert abs(model["bias"] - bias) < 1e-9
    truth, true_bias = true_model(ds)
    assert all(abs(a - b) < 0.01 for a, b in zip(model["weights"], truth, strict=True)), "not fitted"
    assert abs(model["bias"] - true_bias) < 0.01
    return dict(model)


def _retire_leaves_nothing(kr: Any) -> None:
    dr = _dag("example_ray_serve_retire").test(logical_date=NEXT_DAY, run_after=NEXT_DAY)
    assert task_instances(dr)[("delete_service", -1)].state == "success"
    deadline = time.monotonic() + 30
    while True:
        left = [
            f"{plural}/{o['metadata']['name']}"
            for plural in ("rayservices", "rayclusters", "services", "pods")
            for o in kr.objects(plural)
            if o["metadata"]["name"].startswith("linear-model")
        ]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not left, f"left after retiring the service: {left}"
    assert_nothing_left(kr, within=90)


def test_train_then_serve_then_upgrade_without_a_failed_request(local_kuberay: Any, examples: None) -> None:
    kr = local_kuberay
    dag = _dag("example_ray_train_and_serve")
    dr = _serve_run(dag, SERVE_DAY)
    states = {k: ti.state for k, ti in task_instances(dr).items()}
    assert states == dict.fromkeys([("train", -1), ("deploy", -1), ("smoke", -1)], "success"), states
    first = _check_model(dr, "2026-11-03")
    deployed = xcom(dr, "deploy")
    assert deployed["action"] == "created"
    assert deployed["applications"] == {"linear": "RUNNING"}
    # The test's own request, with features the DAG did not use: real Serve computes w . x + b.
    answer = _predict(kr, [2.0, 3.0])
    assert answer["version"] == "2026-11-03"
    expected = first["weights"][0] * 2.0 + first["weights"][1] * 3.0 + first["bias"]
    assert abs(answer["prediction"] - expected) < 1e-9

    # The next day's model rolls out as a new cluster while requests keep flowing.
    with request_loop(lambda: _predict(kr, [1.0, 1.0])["version"], 0.05) as (versions, failures):
        dr = _serve_run(dag, NEXT_DAY)
    states = {k: ti.state for k, ti in task_instances(dr).items()}
    assert states == dict.fromkeys([("train", -1), ("deploy", -1), ("smoke", -1)], "success"), states
    second = _check_model(dr, "2026-11-04")
    assert second["weights"] != first["weights"]
    upgraded = xcom(dr, "deploy")
    assert upgraded["action"] == "updated"
    assert upgraded["active_cluster"] != deployed["active_cluster"]
    assert_switched_once(versions, failures, "2026-11-03", "2026-11-04")
    assert len(versions) > 100, "the loop ran through the whole upgrade"
    # The replaced cluster goes rayClusterDeletionDelaySeconds (10 s) after the switch.
    deadline = time.monotonic() + 60
    while deployed["active_cluster"] in {o["metadata"]["name"] for o in kr.objects("rayclusters")}:
        assert time.monotonic() < deadline, "the old cluster was not deleted"
        time.sleep(0.5)
    _retire_leaves_nothing(kr)


def test_a_model_that_cannot_be_imported_fails_the_upgrade_and_the_previous_one_keeps_serving(
    local_kuberay: Any, examples: None, capfd: pytest.CaptureFixture[str]
) -> None:
    kr = local_kuberay
    dag = _dag("example_ray_train_and_serve")
    dr = _serve_run(dag, SERVE_DAY)
    assert task_instances(dr)[("smoke", -1)].state == "success"
    serving = xcom(dr, "deploy")["active_cluster"]
    capfd.readouterr()  # the first run's output

    dr = _serve_run(dag, NEXT_DAY, serve_import_path="linear_serve_missing:app")
    states = {k[0]: ti.state for k, ti in task_instances(dr).items()}
    assert states == {"train": "success", "deploy": "failed", "smoke": "upstream_failed"}, states
    text = "".join(capfd.readouterr())
    # The task's error names KubeRay's verdict, the cluster still serving and Serve's own message
    # (a traceback: several lines; its last one is kept).
    error = text[text.index("the rollout failed") :][:3000]
    assert "linear: DEPLOY_FAILED" in error, error
    assert f"the active cluster {serving} keeps serving the previous version" in error, error
    assert "No module named 'linear_serve_missing'" in error, error
    [service] = [o for o in kr.objects("rayservices") if o["metadata"]["name"] == "linear-model"]
    status = service["status"]
    pending = status["pendingServiceStatus"]["applicationStatuses"]["linear"]
    assert pending["status"] == "DEPLOY_FAILED"
    assert "No module named 'linear_serve_missing'" in pending["message"]
    assert status["activeServiceStatus"]["rayClusterName"] == serving
    assert status["activeServiceStatus"]["applicationStatuses"]["linear"]["status"] == "RUNNING"
    # The first model still answers, through the proxy, from its own cluster.
    assert _predict(kr, [1.0, 1.0])["version"] == "2026-11-03"
    _retire_leaves_nothing(kr)
