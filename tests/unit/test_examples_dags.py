"""The example DAGs import cleanly and cheaply, and what they would submit is valid.

Running them against the local KubeRay is the integration tests' and ``make demo``'s job; here
every DAG is built, its templated entrypoints rendered, and its RayJobs / RayClusters built with
the operators' own ``build_*`` methods (KubeRay v1.7's rules applied client-side). The GPU DAG is
only validated: there is no GPU to run it on.
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "dags_examples"
DAG_FILES = sorted(p for p in EXAMPLES.glob("example_*.py"))
EXPECTED = {
    "example_ray_daily_train",
    "example_ray_shared_cluster",
    "example_ray_sensor",
    "example_ray_gpu_train",
    "example_ray_taskflow_train",
    "example_ray_queued_backfill",
    "example_ray_train_and_serve",
    "example_ray_serve_retire",
}


@pytest.fixture
def examples_on_path() -> Iterator[None]:
    sys.path.insert(0, str(EXAMPLES))
    try:
        yield
    finally:
        sys.path.remove(str(EXAMPLES))
        for name in [m for m in sys.modules if m.startswith(("example_ray_", "ray_examples_common"))]:
            del sys.modules[name]


def _load(name: str) -> ModuleType:
    return importlib.import_module(name)


def _context(
    dag_id: str, task_id: str, run_id: str = "scheduled__2026-11-03T00:00:00+00:00"
) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=-1, try_number=1)
    return {"ti": ti}


def test_every_example_file_defines_one_expected_dag(examples_on_path: None) -> None:
    found = {}
    for path in DAG_FILES:
        module = _load(path.stem)
        found[module.dag.dag_id] = path.stem
        assert module.dag.dag_id == path.stem
    assert set(found) == EXPECTED


def test_the_dag_processor_parses_the_folder_without_errors() -> None:
    """A DagBag of the folder as Airflow parses it (with ``.airflowignore``), in a fresh process."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from airflow.dag_processing.dagbag import DagBag;"
        "bag = DagBag(dag_folder=sys.argv[1]);"
        "errors = {k: str(v)[:500] for k, v in bag.import_errors.items()};"
        "print(json.dumps({'dags': sorted(bag.dag_ids), 'errors': errors}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(EXAMPLES)],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
        env={**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert set(result["dags"]) == EXPECTED


def test_dag_files_import_nothing_heavy() -> None:
    """DAG files are parsed constantly: no Ray, no Kubernetes client, no pydantic spec models."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLES), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-m", "tests.import_probe", *(p.stem for p in DAG_FILES)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []


def test_daily_train_templates_the_day_and_each_run_gets_its_own_rayjob(examples_on_path: None) -> None:
    module = _load("example_ray_daily_train")
    dag = module.dag
    assert dag.catchup is True
    op = dag.get_task("train")
    rendered = op.render_template(op.entrypoint, {"ds": "2026-11-03", "params": dag.params.dump()})
    assert rendered.endswith("pipeline.py train --ds 2026-11-03 --lr 0.1 --epochs 100")
    program = rendered.split()[1]
    assert Path(program).is_file()
    names = set()
    for day in ("2026-11-03", "2026-11-04"):
        body = op.build_rayjob(_context(dag.dag_id, "train", f"scheduled__{day}T00:00:00+00:00"), "ray-jobs")
        names.add(body["metadata"]["name"])
        spec = body["spec"]
        assert spec["shutdownAfterJobFinishes"] is True
        assert spec["ttlSecondsAfterFinished"] == 120
        assert spec["rayClusterSpec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "2"
    assert len(names) == 2


def test_shared_cluster_pipeline_is_setup_jobs_and_teardown(examples_on_path: None) -> None:
    module = _load("example_ray_shared_cluster")
    dag = module.dag
    create, delete = dag.get_task("create_cluster"), dag.get_task("delete_cluster")
    assert delete.is_teardown
    assert create.is_setup
    assert delete.upstream_task_ids >= {"create_cluster", "evaluate"}
    order = ["create_cluster", "preprocess", "train", "evaluate"]
    for before, after in itertools.pairwise(order):
        assert before in dag.get_task(after).upstream_task_ids
    train = dag.get_task("train")
    entrypoints = train.expand_input.value["entrypoint"]
    assert [e.split("--lr ")[1] for e in entrypoints] == ["0.01", "0.1", "0.5"]
    assert all("--ds {{ ds }}" in e for e in entrypoints)
    cluster = create.build_raycluster(_context(dag.dag_id, "create_cluster"), "ray-jobs")
    assert cluster["kind"] == "RayCluster"
    assert cluster["spec"]["workerGroupSpecs"][0]["replicas"] == 2
    job = dag.get_task("preprocess")
    rendered = job.render_template(
        job.cluster_name, {"ti": SimpleNamespace(xcom_pull=lambda task_ids: {"name": "c-1"})}
    )
    assert rendered == "c-1"
    job.cluster_name = cluster["metadata"]["name"]  # what the template renders at run time
    body = job.build_rayjob(_context(dag.dag_id, "preprocess"), "ray-jobs")
    assert body["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    assert "rayClusterSpec" not in body["spec"]


def test_taskflow_pipeline_ships_each_function_alone_with_its_json_arguments(examples_on_path: None) -> None:
    from airflow_ray_k8s._taskflow.entrypoint import decode
    from airflow_ray_k8s.decorators.ray_task import RayDecoratedOperator

    module = _load("example_ray_taskflow_train")
    dag = module.dag
    create, delete = dag.get_task("create_cluster"), dag.get_task("delete_cluster")
    assert create.is_setup
    assert delete.is_teardown
    for before, after in itertools.pairwise(["create_cluster", "prepare", "train", "evaluate"]):
        assert before in dag.get_task(after).upstream_task_ids
    train = dag.get_task("train")
    assert train.operator_class is RayDecoratedOperator
    assert train.op_kwargs_expand_input.value == {"lr": [0.01, 0.1, 0.5]}
    context = {
        **_context(dag.dag_id, "prepare"),
        "ds": "2026-11-03",
        "params": dag.params.dump(),
    }
    for task_id in ("prepare", "evaluate"):
        op = dag.get_task(task_id)
        assert op.runtime_env == {"env_vars": {"PYTHONPATH": module.PROGRAMS_ENV["env_vars"]["PYTHONPATH"]}}
        op.op_args = [[{"lr": 0.1, "w": 2.0, "b": 0.5}]] if task_id == "evaluate" else []
        op.cluster_name = "c-1"  # what the template renders at run time
        # The function's own source runs alone (no name of the DAG file), its arguments are JSON.
        op.entrypoint = op.build_entrypoint(context)
        body = op.build_rayjob(context, "ray-jobs")
        assert body["spec"]["clusterSelector"] == {"ray.io/cluster": "c-1"}
        bundle = decode(body["spec"]["entrypoint"])
        assert bundle["function"]["name"] == task_id
        assert bundle["arguments"]["data"][1]["ds"] == "2026-11-03"
        assert bundle["arguments"]["data"][1]["params"] == {"epochs": 100, "rows": 1000, "max_val_mse": 0.01}


def test_gpu_training_spec_is_valid_and_asks_for_gpus_on_gpu_nodes(examples_on_path: None) -> None:
    module = _load("example_ray_gpu_train")
    op = module.dag.get_task("train_on_gpu")
    body = op.build_rayjob(_context(module.dag.dag_id, "train_on_gpu"), "ray-jobs")
    spec = body["spec"]
    assert spec["entrypointNumGpus"] == 1
    cluster = spec["rayClusterSpec"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    (group,) = cluster["workerGroupSpecs"]
    pod = group["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["image"].endswith("-gpu")
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in head["resources"]["limits"]


def test_sensor_dag_waits_for_the_external_rayjob_manifest(examples_on_path: None) -> None:
    module = _load("example_ray_sensor")
    sensor = module.dag.get_task("wait_for_rayjob")
    manifest = yaml.safe_load((EXAMPLES / "external_rayjob.yaml").read_text())
    name = sensor.render_template(sensor.rayjob_name, {"params": module.dag.params.dump()})
    assert name == manifest["metadata"]["name"]
    assert sensor.deferrable is True

    from airflow_ray_k8s.specs import load_rayjob

    spec = load_rayjob(manifest)
    assert spec.to_spec_dict()["shutdownAfterJobFinishes"] is True
    compile(manifest["spec"]["entrypoint"].split('"')[1], "entrypoint", "exec")


def test_programs_mount_from_a_node_folder_when_configured(
    examples_on_path: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_PROGRAMS_DIR", "/opt/ray-programs")
    monkeypatch.setenv("RAY_PROGRAMS_HOSTPATH", "/opt/ray-programs")
    common = _load("ray_examples_common")
    assert common.program("sum_of_squares.py") == "python /opt/ray-programs/sum_of_squares.py"

    from airflow_ray_k8s.specs import load_raycluster

    for spec in (common.cpu_cluster(workers=1), common.gpu_cluster()):
        load_raycluster(spec)  # still valid for KubeRay
        for template in [spec["headGroupSpec"]["template"]] + [
            g["template"] for g in spec["workerGroupSpecs"]
        ]:
            assert template["spec"]["volumes"] == [
                {"name": "ray-programs", "hostPath": {"path": "/opt/ray-programs", "type": "Directory"}}
            ]
            mounts = template["spec"]["containers"][0]["volumeMounts"]
            assert mounts == [{"name": "ray-programs", "mountPath": "/opt/ray-programs", "readOnly": True}]


def test_airflowignore_hides_the_helpers_from_the_dag_processor() -> None:
    patterns = [
        line
        for line in (EXAMPLES / ".airflowignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert "ray_programs/" in patterns
    assert any("ray_examples_common" in p for p in patterns)


def test_queued_backfill_sends_each_interval_through_the_kueue_queue(examples_on_path: None) -> None:
    module = _load("example_ray_queued_backfill")
    dag = module.dag
    assert dag.catchup is True
    assert dag.max_active_runs == 30  # the queue throttles, not Airflow
    op = dag.get_task("train")
    assert op.deferrable
    names = set()
    for day in ("2026-10-03", "2026-10-04"):
        op.job_labels = {"example.airflow-ray-k8s.io/ds": day}  # what the template renders
        body = op.build_rayjob(_context(dag.dag_id, "train", f"backfill__{day}T00:00:00+00:00"), "ray-jobs")
        names.add(body["metadata"]["name"])
        labels = body["metadata"]["labels"]
        assert labels["kueue.x-k8s.io/queue-name"] == module.QUEUE
        assert labels["kueue.x-k8s.io/priority-class"] == "backfill"
        assert labels["example.airflow-ray-k8s.io/ds"] == day
        assert body["spec"]["suspend"] is True
        assert body["spec"]["shutdownAfterJobFinishes"] is True
    assert len(names) == 2


def test_train_and_serve_templates_the_trained_weights_into_a_valid_rayservice(
    examples_on_path: None,
) -> None:
    module = _load("example_ray_train_and_serve")
    dag = module.dag
    assert dag.get_task("train").downstream_task_ids == {"deploy"}
    deploy = dag.get_task("deploy")
    model = {"weights": [1.5, -2.0], "bias": 0.25, "version": "2026-11-03", "rows": 2000}
    ti = SimpleNamespace(**_context(dag.dag_id, "deploy")["ti"].__dict__)
    ti.xcom_pull = lambda task_ids, key: model if (task_ids, key) == ("train", "results") else None
    context: Any = {"ti": ti, "params": dag.params.dump(), "ds": "2026-11-03"}
    deploy.render_template_fields(context)
    body = deploy.build_rayservice(context, "default")
    serve = yaml.safe_load(body["spec"]["serveConfigV2"])
    [app] = serve["applications"]
    # Native rendering: numbers and a list, not their text.
    assert app["args"] == {"weights": [1.5, -2.0], "bias": 0.25, "version": "2026-11-03"}
    assert app["import_path"] == "linear_serve:app"
    assert (EXAMPLES / "ray_programs" / "linear_serve.py").is_file()
    head = body["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]
    # The version in the cluster config: each model rolls out on a new cluster.
    assert head["metadata"]["annotations"]["example.airflow-ray-k8s.io/model-version"] == "2026-11-03"
    assert body["metadata"]["name"] == "linear-model"
