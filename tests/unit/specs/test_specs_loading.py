"""Loading manifests (file, text, dict, spec) with overrides; round trips keep unknown fields."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_ray_k8s.exceptions import SpecValidationError
from airflow_ray_k8s.specs import (
    RayClusterSpec,
    RayJobSpec,
    RaySpecWarning,
    build_raycluster,
    deep_merge,
    load_raycluster,
    load_rayjob,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "manifests"
GPU_JOB = FIXTURES / "gpu-training-rayjob.yaml"
BATCH_CLUSTER = FIXTURES / "autoscaling-cpu-batch-raycluster.yaml"
FT_CLUSTER = FIXTURES / "gcs-ft-redis-raycluster.yaml"
#: A field no KubeRay version has (yet): it stands for one added after this code was written.
FUTURE = {"futureKubeRayField": {"mode": "fast", "list": [1, {"a": None}]}}


def _manifest(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def _canonical(spec: dict[str, Any]) -> dict[str, Any]:
    """A RayJob spec with its runtime env parsed (YAML text formatting is not meaningful)."""
    out = copy.deepcopy(spec)
    if "runtimeEnvYAML" in out:
        out["runtimeEnvYAML"] = yaml.safe_load(out["runtimeEnvYAML"])
    return out


@pytest.mark.parametrize("path", [GPU_JOB, BATCH_CLUSTER, FT_CLUSTER], ids=lambda p: p.stem)
def test_realistic_manifests_round_trip_without_losing_anything(path: Path) -> None:
    original = _manifest(path)
    # Sprinkle fields this code cannot know at every level, then load and save again.
    original["spec"].update(FUTURE)
    cluster = original["spec"].get("rayClusterSpec", original["spec"])
    cluster["headGroupSpec"].update(FUTURE)
    cluster["headGroupSpec"]["template"]["spec"]["containers"][0].update(FUTURE)
    cluster["workerGroupSpecs"][-1].update(FUTURE)
    loader = load_rayjob if original["kind"] == "RayJob" else load_raycluster
    spec = loader(copy.deepcopy(original))
    out = spec.to_manifest(
        original["metadata"]["name"],
        namespace=original["metadata"].get("namespace"),
    )
    assert out["metadata"] == original["metadata"]
    assert _canonical(out["spec"]) == _canonical(original["spec"])


def test_gpu_training_template_with_overrides() -> None:
    """The platform team's template; the DAG author changes a few fields in Python terms."""
    spec = load_rayjob(
        GPU_JOB,
        overrides={
            "entrypoint": "python -m trainer.finetune --model llama-3-70b --epochs 1",
            "runtime_env": {"env_vars": {"WANDB_PROJECT": "llm-70b"}},
            "ray_cluster_spec": {
                # merged into the existing group by name; the new group is appended
                "worker_groups": [
                    {"group_name": "gpu-a100", "replicas": 4, "max_replicas": 4, "min_replicas": 4},
                    {
                        "groupName": "cpu-preprocess",
                        "replicas": 2,
                        "minReplicas": 2,
                        "maxReplicas": 2,
                        "template": {
                            "spec": {"containers": [{"name": "ray-worker", "image": "rayproject/ray:2.52.0"}]}
                        },
                    },
                ]
            },
            "backoffLimit": None,  # removes the key
            **FUTURE,
        },
    )
    out = spec.to_spec_dict()
    assert out["entrypoint"].endswith("--epochs 1")
    runtime_env = yaml.safe_load(out["runtimeEnvYAML"])
    assert runtime_env["env_vars"] == {"HF_HOME": "/mnt/cache/hf", "WANDB_PROJECT": "llm-70b"}
    assert runtime_env["pip"] == ["torch==2.3.1", "transformers==4.41.2"]
    assert "backoffLimit" not in out
    assert out["futureKubeRayField"] == FUTURE["futureKubeRayField"]
    groups = out["rayClusterSpec"]["workerGroupSpecs"]
    assert [g["groupName"] for g in groups] == ["gpu-a100", "cpu-preprocess"]
    assert groups[0]["replicas"] == 4
    # Everything else of the merged group is intact, including fields the model does not type.
    template = groups[0]["template"]["spec"]
    assert template["affinity"]["podAntiAffinity"]
    assert template["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1] == "ray stop"
    assert spec.labels == {"team": "ml-platform", "cost-center": "4711"}


def test_autoscaling_template_with_overrides() -> None:
    spec = load_raycluster(
        BATCH_CLUSTER,
        overrides={
            "autoscalerOptions": {"idleTimeoutSeconds": 30},
            "workerGroupSpecs": [{"groupName": "large-mem", "maxReplicas": 1}],
            "headGroupSpec": {
                "template": {"spec": {"containers": [{"name": "ray-head", "image": "my/ray:2.52.0"}]}}
            },
        },
    )
    out = spec.to_spec_dict()
    assert out["autoscalerOptions"]["idleTimeoutSeconds"] == 30
    assert out["autoscalerOptions"]["version"] == "v2"
    assert out["workerGroupSpecs"][1]["maxReplicas"] == 1
    head = out["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert head["image"] == "my/ray:2.52.0"
    assert head["readinessProbe"]["periodSeconds"] == 5  # merged container kept its probe
    assert head["env"][0]["name"] == "RAY_GRAFANA_HOST"


def test_gcs_ft_template_with_overrides_keeps_unmodelled_options() -> None:
    spec = load_raycluster(
        FT_CLUSTER, overrides={"gcsFaultToleranceOptions": {"redisAddress": "redis-2:6379"}}
    )
    out = spec.to_spec_dict()
    options = out["gcsFaultToleranceOptions"]
    assert options["redisAddress"] == "redis-2:6379"
    assert options["redisPassword"]["valueFrom"]["secretKeyRef"]["name"] == "redis-password-secret"
    assert out["tlsOptions"] == {"enabled": False}


def test_overrides_that_break_a_rule_are_rejected_with_the_path() -> None:
    with pytest.raises(SpecValidationError, match=r"worker_groups\[0\]\.min_replicas: must be <= max_"):
        load_raycluster(
            FT_CLUSTER, overrides={"worker_groups": [{"group_name": "workers", "min_replicas": 50}]}
        )


@pytest.mark.parametrize("form", ["path", "str-path", "text", "dict", "spec-only", "model"])
def test_every_source_form_loads_the_same_spec(tmp_path: Path, form: str) -> None:
    manifest = _manifest(BATCH_CLUSTER)
    if form == "path":
        source: Any = BATCH_CLUSTER
    elif form == "str-path":
        source = str(BATCH_CLUSTER)
    elif form == "text":
        source = BATCH_CLUSTER.read_text()
    elif form == "dict":
        source = manifest
    elif form == "spec-only":
        spec_file = tmp_path / "spec.yaml"
        spec_file.write_text(yaml.safe_dump(manifest["spec"]))
        source = spec_file
    else:
        source = load_raycluster(BATCH_CLUSTER)
    spec = load_raycluster(source)
    assert spec.to_spec_dict() == manifest["spec"]
    if form != "spec-only":
        assert spec.labels == manifest["metadata"]["labels"]


def test_loading_does_not_modify_its_inputs() -> None:
    manifest = _manifest(GPU_JOB)
    overrides = {"rayClusterSpec": {"workerGroupSpecs": [{"groupName": "gpu-a100", "replicas": 2}]}}
    before = (copy.deepcopy(manifest), copy.deepcopy(overrides))
    load_rayjob(manifest, overrides=overrides)
    assert (manifest, overrides) == before


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (Path("/nonexistent/cluster.yaml"), "cannot be read (FileNotFoundError)"),
        ("key: [unclosed\nother: 1\n", "is not valid YAML at line"),
        ("a: 1\n---\nb: 2\n", "holds 2 YAML documents and none is a RayCluster"),
        ("# nothing here\n---\n", "holds no YAML document"),
        ("- a\n- b\n", "must be a mapping, not list"),
        ({"apiVersion": "ray.io/v1", "kind": "RayJob", "spec": {}}, "kind: must be RayCluster"),
        (
            {"apiVersion": "ray.io/v1alpha1", "kind": "RayCluster", "spec": {}},
            "apiVersion: must be ray.io/v1",
        ),
        ({"apiVersion": "ray.io/v1", "kind": "RayCluster"}, "spec: is required"),
        (42, "must be a path, YAML text or a dict"),
    ],
)
def test_bad_sources_raise_spec_validation_errors(source: Any, expected: str) -> None:
    with pytest.raises(SpecValidationError) as caught:
        load_raycluster(source)
    assert expected in str(caught.value)


def test_a_directory_or_binary_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(SpecValidationError, match="cannot be read"):
        load_raycluster(tmp_path)
    binary = tmp_path / "x.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SpecValidationError, match="cannot be read"):
        load_raycluster(binary)


def test_an_exported_objects_server_side_metadata_is_not_copied() -> None:
    manifest = _manifest(FT_CLUSTER)
    manifest["metadata"].update(
        uid="0b6c",
        resourceVersion="42",
        annotations={"kubectl.kubernetes.io/last-applied-configuration": "{}", "a": "b"},
    )
    manifest["status"] = {"state": "ready"}
    spec = load_raycluster(manifest)
    assert spec.annotations == {"a": "b"}
    assert "status" not in spec.to_manifest("copy")


def test_metadata_label_rules_apply_to_loaded_manifests() -> None:
    manifest = _manifest(FT_CLUSTER)
    manifest["metadata"]["labels"] = {"run-id": "manual__2024-01-01T00:00:00+00:00"}
    with pytest.raises(SpecValidationError, match=r'metadata\.labels\["run-id"\]: value must'):
        load_raycluster(manifest)


def test_deep_merge_rules() -> None:
    base = {
        "a": {"b": 1, "c": [1, 2]},
        "groups": [{"groupName": "x", "n": 1, "keep": True}, {"groupName": "y", "n": 2}],
        "env": [{"name": "A", "value": "1"}],
        "plain": [{"k": 1}],
        "gone": 1,
    }
    override = {
        "a": {"c": [3]},
        "groups": [{"groupName": "y", "n": 20}, {"groupName": "z", "n": 3}],
        "env": [{"name": "A", "value": None}, {"name": "B", "value": "2"}],
        "plain": [{"k": 2}],
        "gone": None,
        "new": {"x": 1},
    }
    merged = deep_merge(base, override)
    assert merged == {
        "a": {"b": 1, "c": [3]},
        "groups": [
            {"groupName": "x", "n": 1, "keep": True},
            {"groupName": "y", "n": 20},
            {"groupName": "z", "n": 3},
        ],
        "env": [{"name": "A"}, {"name": "B", "value": "2"}],
        "plain": [{"k": 2}],
        "new": {"x": 1},
    }
    assert base["groups"][1]["n"] == 2  # inputs untouched


def test_with_overrides_keeps_object_metadata() -> None:
    spec = build_raycluster(labels={"team": "a"}, annotations={"note": "x"})
    with pytest.warns(RaySpecWarning, match="ray_version is 2.55.0 but rayproject/ray:2.52.0"):
        changed = spec.with_overrides({"rayVersion": "2.55.0"})
    assert changed.ray_version == "2.55.0"
    assert spec.ray_version == "2.52.0"
    assert changed.labels == {"team": "a"}
    assert changed.annotations == {"note": "x"}
    assert isinstance(changed, RayClusterSpec)


def test_to_manifest_checks_the_name_and_merges_metadata() -> None:
    job = load_rayjob(GPU_JOB)
    manifest = job.to_manifest("llm-finetune-2", namespace="ml", labels={"extra": "1"})
    assert manifest["apiVersion"] == "ray.io/v1"
    assert manifest["kind"] == "RayJob"
    assert manifest["metadata"]["labels"] == {"team": "ml-platform", "cost-center": "4711", "extra": "1"}
    json.dumps(manifest)  # JSON-serializable as is
    with pytest.raises(SpecValidationError, match=r"name: must be no more than 47 characters"):
        job.to_manifest("j" * 48)
    with pytest.raises(SpecValidationError, match="start with a letter"):
        job.to_manifest("1-job")
    assert (
        len(
            RayClusterSpec.model_validate(job.to_spec_dict()["rayClusterSpec"]).to_manifest("c" * 53)[
                "metadata"
            ]["name"]
        )
        == 53
    )


def test_legacy_ft_manifest_loads_with_a_warning() -> None:
    with pytest.warns(Warning, match="gcsFaultToleranceOptions"):
        load_raycluster(FIXTURES / "legacy-ft-annotation-raycluster.yaml")


def test_loaded_models_expose_typed_fields() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        job = load_rayjob(GPU_JOB)
    assert isinstance(job, RayJobSpec)
    assert job.runtime_env is not None
    assert job.runtime_env["working_dir"].startswith("s3://")
    assert job.ray_cluster_spec is not None
    assert job.ray_cluster_spec.worker_groups is not None
    group = job.ray_cluster_spec.worker_groups[0]
    container = group.template.ray_container
    assert container is not None
    assert container.resources is not None
    assert container.resources.limits == {"cpu": "16", "memory": "120Gi", "nvidia.com/gpu": 4}


def test_unknown_fields_set_to_null_are_left_out_like_known_ones() -> None:
    """In a create body null means absent, so an explicit null is written as absence (by design)."""
    spec = build_raycluster().to_spec_dict()
    spec["futureKubeRayField"] = None
    spec["futureKubeRayOptions"] = {"mode": None, "keep": "me"}
    spec["suspend"] = None
    out = RayClusterSpec.model_validate(spec).to_spec_dict()
    assert "futureKubeRayField" not in out
    assert "suspend" not in out
    # Inside an unknown field the value is kept exactly as written.
    assert out["futureKubeRayOptions"] == {"mode": None, "keep": "me"}
    # An override's null removes the key, known or not, before the model sees it.
    loaded = load_raycluster(spec, overrides={"futureKubeRayOptions": None})
    assert "futureKubeRayOptions" not in loaded.to_spec_dict()


@pytest.mark.parametrize(
    "value",
    [object(), {1, 2}, b"\xff", float("nan"), {1: "a"}],
    # Ids that name the value without its address: the same in every pytest worker.
    ids=["object", "set", "bytes", "nan", "int-key"],
)
def test_unknown_fields_must_be_data_a_manifest_can_carry(value: Any) -> None:
    """Unknown fields are kept as given, so a value JSON cannot carry is refused when loaded,
    not found later when the manifest is serialized."""
    spec = build_raycluster().to_spec_dict()
    spec["headGroupSpec"]["futureKubeRayField"] = value
    with pytest.raises(SpecValidationError, match=r"headGroupSpec\.futureKubeRayField"):
        RayClusterSpec.model_validate(spec)
    with pytest.raises(SpecValidationError, match="futureKubeRayField"):
        load_raycluster(build_raycluster().to_spec_dict(), overrides={"futureKubeRayField": [value]})
