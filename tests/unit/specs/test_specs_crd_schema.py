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
#: Names of objects (clusters, Secrets): DNS-1035 labels short enough for KubeRay's suffixes.
object_names = st.from_regex(r"\A[a-z]([-a-z0-9]{0,20}[a-z0-9])?\Z")


#: Wire or Python spelling of the same key: the builders accept both.
def either(wire: str, python: str) -> st.SearchStrategy[str]:
    return st.sampled_from([wire, python])


tolerations_one = st.fixed_dictionaries(
    {},
    optional={
        "key": st.sampled_from(["dedicated", "nvidia.com/gpu", "example.com/pool"]),
        "operator": st.sampled_from(["Equal", "Exists"]),
        "value": label_values,
        "effect": st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
        "tolerationSeconds": st.integers(0, 2**40),
    },
)
#: A single toleration stands for a list of one.
tolerations = st.one_of(st.none(), tolerations_one, st.lists(tolerations_one, max_size=3))


@st.composite
def secret_values(draw: st.DrawFn) -> dict[str, Any]:
    """A ``redisPassword`` / ``redisUsername``: literal or from a Secret / ConfigMap."""
    if draw(st.booleans()):
        return {"value": draw(st.text(max_size=12))}
    ref = draw(st.sampled_from(["secretKeyRef", "configMapKeyRef"]))
    source = {"name": draw(object_names), "key": draw(st.sampled_from(["password", "user"]))}
    return {draw(either("valueFrom", "value_from")): {ref: source}}


@st.composite
def gcs_fault_tolerance(draw: st.DrawFn) -> dict[str, Any] | None:
    """``gcsFaultToleranceOptions`` for Redis or the embedded RocksDB backend, or none."""
    backend = draw(st.sampled_from([None, "redis", "rocksdb"]))
    if backend is None:
        return None
    if backend == "rocksdb":
        storage = draw(
            st.one_of(
                st.fixed_dictionaries({"claimName": object_names}),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "size": st.sampled_from(["1Gi", "10Gi", 2**30]),
                        "storageClassName": object_names,
                        "accessModes": st.just(["ReadWriteOnce"]),
                        "deletionPolicy": st.sampled_from(["DeleteWithCluster", "Retain"]),
                    },
                ),
            )
        )
        return {"backend": "rocksdb", "storage": storage}
    options: dict[str, Any] = {
        draw(either("redisAddress", "redis_address")): draw(
            st.sampled_from(["redis:6379", "redis.ns.svc:6380"])
        )
    }
    if draw(st.booleans()):
        options["backend"] = "redis"
    if draw(st.booleans()):
        options[draw(either("redisPassword", "redis_password"))] = draw(secret_values())
    if draw(st.booleans()):
        options[draw(either("redisUsername", "redis_username"))] = draw(secret_values())
    if draw(st.booleans()):
        options[draw(either("externalStorageNamespace", "external_storage_namespace"))] = draw(label_values)
    return options


@st.composite
def auth_options(draw: st.DrawFn, ray_version: str, for_job: bool) -> dict[str, Any] | None:
    """``authOptions`` KubeRay accepts for this Ray version (Kubernetes token auth: not for a RayJob)."""
    mode = draw(st.sampled_from([None, "disabled", "token"]))
    if mode is None or (mode == "token" and ray_version < "2.52"):
        return None
    options: dict[str, Any] = {"mode": mode}
    k8s_tokens = mode == "token" and ray_version >= "2.55" and not for_job and draw(st.booleans())
    if k8s_tokens:
        options["enableK8sTokenAuth"] = True
    elif draw(st.booleans()):
        options[draw(either("secretName", "secret_name"))] = draw(object_names)
    return options


@st.composite
def worker_groups(draw: st.DrawFn, autoscaling: bool) -> list[WorkerGroup]:
    names = draw(st.lists(group_names, min_size=0, max_size=3, unique=True))
    groups = []
    for name in names:
        low = draw(st.integers(0, 4))
        high = draw(st.integers(low, low + 8))
        replicas = draw(st.one_of(st.none(), st.integers(low, high)))
        # The object store is sized either by the argument or by the ray start param (never both:
        # two different sizes are an error).
        store_param = draw(st.booleans())
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
                tolerations=draw(tolerations),
                ray_start_params=draw(
                    st.dictionaries(
                        st.sampled_from(["num-cpus", "object-store-memory"] if store_param else ["num-cpus"]),
                        st.integers(0, 10**9),
                        max_size=2,
                    )
                ),
                object_store_memory=None
                if store_param
                else draw(st.one_of(st.none(), st.sampled_from(["1Gi", "200Mi", 2**30]))),
            )
        )
    return groups


@st.composite
def cluster_kwargs(draw: st.DrawFn, for_job: bool = False) -> dict[str, Any]:
    autoscaling = draw(st.booleans())
    ray_version = draw(st.sampled_from(["2.38.0", "2.52.0", "2.55.1"]))
    kwargs: dict[str, Any] = {
        "ray_version": ray_version,
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
        "tolerations": draw(tolerations),
        "gcs_fault_tolerance": draw(gcs_fault_tolerance()),
    }
    auth = draw(auth_options(ray_version, for_job))
    if auth is not None:
        kwargs["extra_spec"] = {draw(either("authOptions", "auth_options")): auth}
    if autoscaling:
        kwargs["autoscaler_version"] = draw(st.sampled_from([None, "v1", "v2"]))
        kwargs["idle_timeout_seconds"] = draw(st.one_of(st.none(), st.integers(0, 3600)))
    return kwargs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kwargs=cluster_kwargs())
def test_any_built_raycluster_is_accepted_by_the_crd(crd: Any, kwargs: dict[str, Any]) -> None:
    crd.assert_valid(build_raycluster(**kwargs).to_manifest("c"))


_TTL_ORDER = ("DeleteWorkers", "DeleteCluster", "DeleteSelf")


@st.composite
def deletion_rules(draw: st.DrawFn, own_cluster: bool, autoscaling: bool) -> list[dict[str, Any]]:
    """Rules KubeRay accepts: per status, TTLs that grow Workers <= Cluster <= Self."""
    policies = list(_TTL_ORDER) if own_cluster else ["DeleteSelf"]
    if autoscaling and "DeleteWorkers" in policies:
        policies.remove("DeleteWorkers")  # KubeRay refuses DeleteWorkers with autoscaling
    rules: list[dict[str, Any]] = []
    statuses: list[tuple[str, str]] = [("jobStatus", "SUCCEEDED"), ("jobStatus", "FAILED")]
    statuses.append((draw(either("jobDeploymentStatus", "job_deployment_status")), "Failed"))
    for key, status in statuses:
        chosen = [p for p in policies if draw(st.booleans())]
        ttl = 0
        for policy in chosen:
            ttl += draw(st.integers(0, 3600))
            condition: dict[str, Any] = {key: status}
            if draw(st.booleans()) or ttl:
                condition[draw(either("ttlSeconds", "ttl_seconds"))] = ttl
            rules.append({"policy": policy, "condition": condition})
    if not rules:
        rules.append({"policy": "DeleteNone", "condition": {"jobStatus": "FAILED"}})
    return rules


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    kwargs=cluster_kwargs(for_job=True),
    pip=st.one_of(
        st.sampled_from(["numpy", "torch==2.3.1"]),
        st.lists(st.sampled_from(["numpy", "torch==2.3.1", "pandas>=2"]), max_size=3),
    ),
    env_vars=st.dictionaries(st.from_regex(r"\A[A-Z]{1,8}\Z"), st.text(max_size=30), max_size=3),
    cluster_name=st.one_of(st.none(), object_names),
    use_rules=st.booleans(),
    deadline=st.one_of(st.none(), st.integers(1, 86400)),
)
def test_any_built_rayjob_is_accepted_by_the_crd(
    crd: Any,
    data: st.DataObject,
    kwargs: dict[str, Any],
    pip: str | list[str],
    env_vars: dict[str, str],
    cluster_name: str | None,
    use_rules: bool,
    deadline: int | None,
) -> None:
    """Jobs on their own cluster or an existing one, with a TTL or with deletion rules."""
    own_cluster = cluster_name is None
    modes = ["K8sJobMode", "HTTPMode", "InteractiveMode"] + (["SidecarMode"] if own_cluster else [])
    job: dict[str, Any] = {
        "pip": pip,
        "env_vars": env_vars,
        "active_deadline_seconds": deadline,
        "submission_mode": data.draw(st.sampled_from(modes)),
    }
    if own_cluster:
        job["cluster"] = build_raycluster(**kwargs)
    else:
        job["cluster_name"] = cluster_name
    if use_rules:
        job["deletion_rules"] = data.draw(deletion_rules(own_cluster, kwargs["autoscaling"]))
    elif own_cluster:
        job["ttl_seconds_after_finished"] = data.draw(st.one_of(st.none(), st.integers(0, 86400)))
    manifest = build_rayjob("python main.py", **job).to_manifest("j")
    crd.assert_valid(manifest)
    spec = manifest["spec"]
    runtime_env = yaml.safe_load(spec.get("runtimeEnvYAML", "{}"))
    assert runtime_env.get("env_vars", {}) == env_vars
    assert runtime_env.get("pip", []) == ([pip] if isinstance(pip, str) else pip)
    assert ("clusterSelector" in spec) == (not own_cluster)
    assert spec["shutdownAfterJobFinishes"] == (own_cluster and not use_rules)


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
