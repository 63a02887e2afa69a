"""Every manifest the builders produce is accepted by the real KubeRay v1.7.0 CRD schema."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from airflow_ray_k8s.naming import TaskIdentity
from airflow_ray_k8s.specs import (
    RayClusterSpec,
    RayJobSpec,
    WorkerGroup,
    build_raycluster,
    build_rayjob,
    load_raycluster,
    load_rayjob,
    migrate_gcs_ft_annotation,
)

IDENTITY = TaskIdentity("nightly_training", "train.fit", "scheduled__2024-06-01T00:00:00+00:00", 3)

CLUSTER_CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "head-only": {"workers": []},
    "gpu-workers": {"worker_gpu": 2, "worker_cpu": 8, "worker_memory": "64Gi", "worker_replicas": 3},
    "fractional-cpu": {"head_cpu": 0.5, "worker_cpu": "250m", "worker_memory": "512Mi"},
    "autoscaling-v1": {"autoscaling": True, "idle_timeout_seconds": 60, "upscaling_mode": "Conservative"},
    "autoscaling-v2": {
        "autoscaling": True,
        "autoscaler_version": "v2",
        "workers": [WorkerGroup("cpu", min_replicas=1, max_replicas=10, idle_timeout_seconds=30)],
    },
    "many-groups": {
        "workers": [
            WorkerGroup("cpu", replicas=2, cpu=4, memory="16Gi"),
            WorkerGroup(
                "gpu",
                replicas=1,
                gpu=1,
                node_selector={"cloud.google.com/gke-accelerator": "nvidia-l4"},
                tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                labels={"tier": "gpu"},
                ray_start_params={"num-gpus": 1},
                object_store_memory="2Gi",
            ),
        ]
    },
    "scheduling-and-identity": {
        "node_selector": {"pool": "ray"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ray", "effect": "NoSchedule"}],
        "service_account": "ray-runner",
        "labels": IDENTITY.labels(try_number=1),
        "annotations": IDENTITY.annotations(),
        "env": {"TZ": "UTC", "RAY_LOG_TO_STDERR": 1},
        "head_ray_start_params": {"num-cpus": 0, "include-dashboard": True},
    },
    "custom-image-version": {
        "ray_version": "2.41.0",
        "image": "registry.example.com/ray-custom:2.41.0-py311",
    },
    "gcs-ft-redis": {
        "gcs_fault_tolerance": {
            "redisAddress": "redis:6379",
            "redisPassword": {"valueFrom": {"secretKeyRef": {"name": "redis", "key": "password"}}},
        }
    },
    "extra-spec": {"extra_spec": {"auth_options": {"mode": "token"}, "head_service_annotations": {"a": "b"}}},
}

JOB_CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "runtime-env": {
        "pip": ["numpy==2.0.0", "pandas"],
        "working_dir": "s3://bucket/code.zip",
        "env_vars": {"A": "1"},
    },
    "deadlines": {"active_deadline_seconds": 3600, "pre_running_deadline_seconds": 600, "backoff_limit": 2},
    "on-existing-cluster": {"cluster_name": "shared-cluster"},
    "http-mode": {"submission_mode": "HTTPMode", "job_id": "job-123", "metadata": {"team": "ml"}},
    "sidecar-mode": {"submission_mode": "SidecarMode"},
    "entrypoint-resources": {
        "entrypoint_num_cpus": 1,
        "entrypoint_num_gpus": 0.5,
        "entrypoint_resources": {"x": 1},
    },
    "deletion-rules": {
        "deletion_rules": [
            {"policy": "DeleteWorkers", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 0}},
            {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 60}},
            {"policy": "DeleteSelf", "condition": {"jobStatus": "FAILED", "ttlSeconds": 600}},
            {"policy": "DeleteCluster", "condition": {"job_deployment_status": "Failed"}},
        ]
    },
    "gpu-cluster": {"cluster": build_raycluster(worker_gpu=1, labels={"team": "ml"})},
}


@pytest.mark.parametrize("case", sorted(CLUSTER_CASES))
def test_raycluster_builder_output_is_accepted_by_the_crd(crd: Any, case: str) -> None:
    spec = build_raycluster(**CLUSTER_CASES[case])
    manifest = spec.to_manifest(IDENTITY.resource_name("raycluster"), namespace="ray")
    crd.assert_valid(manifest)


@pytest.mark.parametrize("case", sorted(JOB_CASES))
def test_rayjob_builder_output_is_accepted_by_the_crd(crd: Any, case: str) -> None:
    spec = build_rayjob("python -c 'import ray; ray.init()'", **JOB_CASES[case])
    crd.assert_valid(
        spec.to_manifest(IDENTITY.resource_name("rayjob", try_number=1), labels=IDENTITY.labels())
    )


@pytest.mark.parametrize(
    ("cluster_case", "job_case"),
    list(
        itertools.product(
            ["defaults", "autoscaling-v2", "many-groups", "gcs-ft-redis"], ["defaults", "runtime-env"]
        )
    ),
)
def test_rayjob_with_each_cluster_shape_is_accepted(crd: Any, cluster_case: str, job_case: str) -> None:
    cluster = build_raycluster(**CLUSTER_CASES[cluster_case])
    spec = build_rayjob("python job.py", cluster=cluster, **JOB_CASES[job_case])
    crd.assert_valid(spec.to_manifest("job"))


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[2].glob("fixtures/manifests/*.yaml")), ids=str)
def test_fixture_manifests_and_their_round_trips_are_accepted(crd: Any, path: Path) -> None:
    original = yaml.safe_load(path.read_text())
    crd.assert_valid(original)
    loader = load_rayjob if original["kind"] == "RayJob" else load_raycluster
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = loader(path)
    crd.assert_valid(spec.to_manifest(original["metadata"]["name"]))
    migrated = migrate_gcs_ft_annotation(original)
    crd.assert_valid(migrated)


def _set(path: str, value: Any) -> Any:
    def mutate(manifest: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = manifest
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value

    return mutate


@pytest.mark.parametrize(
    ("label", "mutate"),
    [
        ("unknown field", _set("spec/workerGroupSpecs/0/groupNme", "typo")),
        ("rayStartParams value not a string", _set("spec/headGroupSpec/rayStartParams/num-cpus", 1)),
        ("bad enum", _set("spec/autoscalerOptions", {"upscalingMode": "Fast"})),
        ("bad quantity", _set("spec/headGroupSpec/template/spec/containers/0/resources/limits/cpu", "lots")),
        ("float quantity", _set("spec/headGroupSpec/template/spec/containers/0/resources/limits/cpu", 0.5)),
        ("int32 overflow", _set("spec/workerGroupSpecs/0/maxReplicas", 2**31)),
        ("missing template", _set("spec/headGroupSpec", {"rayStartParams": {}})),
        ("bad name", _set("metadata/name", "Not_A_DNS_Name")),
    ],
)
def test_the_schema_check_itself_rejects_what_the_api_server_would(crd: Any, label: str, mutate: Any) -> None:
    """Negative control: the converted schema is not vacuous."""
    manifest = build_raycluster().to_manifest("ok")
    crd.assert_valid(manifest)
    mutate(manifest)
    assert crd.errors(manifest), f"{label}: the schema check accepted a broken manifest"


# --- hypothesis: random builder arguments ---------------------------------------------------------------

quantities_cpu = st.one_of(
    st.integers(1, 64), st.sampled_from(["100m", "500m", "1", "2.5", "16"]), st.sampled_from([0.5, 1.5, 2.0])
)
quantities_mem = st.one_of(
    st.sampled_from(["512Mi", "1Gi", "4Gi", "7.5Gi", "1G", "200M"]), st.integers(2**28, 2**36)
)
label_values = st.from_regex(r"\A[a-z0-9]([-a-z0-9_.]{0,20}[a-z0-9])?\Z")
group_names = st.from_regex(r"\A[a-z]([-a-z0-9]{0,15}[a-z0-9])?\Z")


@st.composite
def worker_groups(draw: st.DrawFn, autoscaling: bool) -> list[WorkerGroup]:
    names = draw(st.lists(group_names, min_size=0, max_size=3, unique=True))
    groups = []
    for name in names:
        low = draw(st.integers(0, 4))
        high = draw(st.integers(low, low + 8))
        replicas = draw(st.one_of(st.none(), st.integers(low, high)))
        groups.append(
            WorkerGroup(
                name,
                replicas=replicas,
                min_replicas=low if autoscaling or replicas is None else min(low, replicas),
                max_replicas=high if autoscaling or replicas is None else max(high, replicas),
                cpu=draw(st.one_of(st.none(), quantities_cpu)),
                memory=draw(st.one_of(st.none(), quantities_mem)),
                gpu=draw(st.integers(0, 8)),
                env=draw(
                    st.dictionaries(
                        st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,10}\Z"), st.text(max_size=20), max_size=3
                    )
                ),
                labels=draw(
                    st.dictionaries(
                        st.sampled_from(["tier", "app.example.com/role"]), label_values, max_size=2
                    )
                ),
                ray_start_params=draw(
                    st.dictionaries(
                        st.sampled_from(["num-cpus", "object-store-memory"]),
                        st.integers(0, 10**9),
                        max_size=2,
                    )
                ),
                object_store_memory=draw(st.one_of(st.none(), st.sampled_from(["1Gi", "200Mi", 2**30]))),
            )
        )
    return groups


@st.composite
def cluster_kwargs(draw: st.DrawFn) -> dict[str, Any]:
    autoscaling = draw(st.booleans())
    kwargs: dict[str, Any] = {
        "ray_version": draw(st.sampled_from(["2.38.0", "2.52.0", "2.55.1"])),
        "head_cpu": draw(quantities_cpu),
        "head_memory": draw(quantities_mem),
        "head_gpu": draw(st.integers(0, 2)),
        "workers": draw(worker_groups(autoscaling)),
        "autoscaling": autoscaling,
        "service_account": draw(st.one_of(st.none(), group_names)),
        "labels": draw(
            st.dictionaries(st.sampled_from(["team", "example.com/owner"]), label_values, max_size=2)
        ),
        "node_selector": draw(st.dictionaries(st.sampled_from(["pool", "zone"]), label_values, max_size=2)),
    }
    if autoscaling:
        kwargs["autoscaler_version"] = draw(st.sampled_from([None, "v1", "v2"]))
        kwargs["idle_timeout_seconds"] = draw(st.one_of(st.none(), st.integers(0, 3600)))
    return kwargs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kwargs=cluster_kwargs())
def test_any_built_raycluster_is_accepted_by_the_crd(crd: Any, kwargs: dict[str, Any]) -> None:
    crd.assert_valid(build_raycluster(**kwargs).to_manifest("c"))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kwargs=cluster_kwargs(),
    pip=st.lists(st.sampled_from(["numpy", "torch==2.3.1", "pandas>=2"]), max_size=3),
    env_vars=st.dictionaries(st.from_regex(r"\A[A-Z]{1,8}\Z"), st.text(max_size=30), max_size=3),
    ttl=st.one_of(st.none(), st.integers(0, 86400)),
    deadline=st.one_of(st.none(), st.integers(1, 86400)),
    mode=st.sampled_from(["K8sJobMode", "HTTPMode", "SidecarMode"]),
)
def test_any_built_rayjob_is_accepted_by_the_crd(
    crd: Any,
    kwargs: dict[str, Any],
    pip: list[str],
    env_vars: dict[str, str],
    ttl: int | None,
    deadline: int | None,
    mode: Any,
) -> None:
    spec = build_rayjob(
        "python main.py",
        cluster=build_raycluster(**kwargs),
        pip=pip,
        env_vars=env_vars,
        ttl_seconds_after_finished=ttl,
        active_deadline_seconds=deadline,
        submission_mode=mode,
    )
    manifest = spec.to_manifest("j")
    crd.assert_valid(manifest)
    assert yaml.safe_load(manifest["spec"].get("runtimeEnvYAML", "{}")).get("env_vars", {}) == env_vars


# --- the models' wire names are the CRD's ---------------------------------------------------------------


def _model_fields_vs_schema(model: type[BaseModel], schema: dict[str, Any], where: str) -> list[str]:
    """Every field alias of ``model`` (and of the models it holds) that the schema does not have."""
    from airflow_ray_k8s.specs.loading import _model_in

    missing = []
    properties = schema.get("properties", {})
    for name, field in model.model_fields.items():
        alias = field.alias or name
        if alias not in properties:
            missing.append(f"{where}.{alias} ({model.__name__}.{name})")
            continue
        sub_model = _model_in(field.annotation)
        if sub_model is None:
            continue
        sub_schema = properties[alias]
        if sub_schema.get("type") == "array":
            sub_schema = sub_schema["items"]
        missing.extend(_model_fields_vs_schema(sub_model, sub_schema, f"{where}.{alias}"))
    return missing


@pytest.mark.parametrize(("model", "kind"), [(RayClusterSpec, "RayCluster"), (RayJobSpec, "RayJob")])
def test_every_model_field_is_named_as_in_the_crd(crd: Any, model: type[BaseModel], kind: str) -> None:
    assert _model_fields_vs_schema(model, crd.spec_schema(kind), "spec") == []
