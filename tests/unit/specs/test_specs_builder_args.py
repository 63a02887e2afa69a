"""The builders' arguments: list-or-one, the object store, and errors that name the argument."""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_ray_k8s.exceptions import SpecValidationError
from airflow_ray_k8s.specs import RayClusterSpec, WorkerGroup, build_raycluster, build_rayjob

TOLERATION = {"key": "dedicated", "operator": "Equal", "value": "ray", "effect": "NoSchedule"}
RULE = {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 60}}


def _groups(spec: RayClusterSpec) -> list[dict[str, Any]]:
    out = spec.to_spec_dict()
    return [out["headGroupSpec"], *out["workerGroupSpecs"]]


def _shm(group: dict[str, Any]) -> str:
    [volume] = group["template"]["spec"]["volumes"]
    size: str = volume["emptyDir"]["sizeLimit"]
    return size


# --- a single item where a list is expected ------------------------------------------------------------


def test_a_single_pip_package_is_one_package_not_its_letters() -> None:
    assert build_rayjob("python main.py", pip="numpy").runtime_env == {"pip": ["numpy"]}
    assert build_rayjob("python main.py", pip=("numpy", "torch==2.3.1")).runtime_env == {
        "pip": ["numpy", "torch==2.3.1"]
    }


def test_single_items_of_other_list_arguments_are_lists_of_one() -> None:
    """The same rule for every list argument: one item stands for a list of one."""
    one = build_raycluster(tolerations=TOLERATION, workers=WorkerGroup("only")).to_spec_dict()
    assert [g["groupName"] for g in one["workerGroupSpecs"]] == ["only"]
    assert one["headGroupSpec"]["template"]["spec"]["tolerations"] == [TOLERATION]
    job = build_rayjob("python main.py", deletion_rules=RULE).to_spec_dict()
    assert job["deletionStrategy"] == {"deletionRules": [RULE]}


def test_numbers_in_string_maps_become_text_as_the_models_do() -> None:
    spec = build_raycluster(
        env={"N": 3, "FLAG": True},
        node_selector={"gpus": 8},
        workers=[WorkerGroup(ray_start_params={"num-gpus": 1})],
    ).to_spec_dict()
    head = spec["headGroupSpec"]["template"]["spec"]
    assert head["containers"][0]["env"] == [{"name": "N", "value": "3"}, {"name": "FLAG", "value": "true"}]
    assert head["nodeSelector"] == {"gpus": "8"}
    assert spec["workerGroupSpecs"][0]["rayStartParams"] == {"num-gpus": "1"}


# --- object_store_memory is the object store's size ----------------------------------------------------


def test_object_store_memory_sets_the_ray_start_param_and_sizes_dev_shm() -> None:
    spec = build_raycluster(workers=[WorkerGroup(memory="8Gi", object_store_memory="2Gi")])
    head, worker = _groups(spec)
    assert worker["rayStartParams"] == {"object-store-memory": str(2 * 2**30)}
    assert _shm(worker) == "2Gi"
    # Unset: Ray's own default (30% of the memory), /dev/shm sized to match; no start param.
    assert "object-store-memory" not in head["rayStartParams"]
    assert _shm(head) == "1228Mi"


def test_an_explicit_object_store_start_param_is_kept_and_sizes_dev_shm() -> None:
    spec = build_raycluster(
        head_ray_start_params={"object-store-memory": 2**30},
        workers=[
            WorkerGroup("a", ray_start_params={"object-store-memory": "1000000000"}),
            WorkerGroup("b", ray_start_params={"object-store-memory": 2**31}, object_store_memory="2Gi"),
        ],
    )
    head, first, second = _groups(spec)
    assert head["rayStartParams"]["object-store-memory"] == str(2**30)
    assert _shm(head) == "1Gi"
    assert first["rayStartParams"] == {"object-store-memory": "1000000000"}
    assert _shm(first) == "953Mi"
    assert second["rayStartParams"] == {"object-store-memory": str(2**31)}
    assert _shm(second) == "2Gi"


@pytest.mark.parametrize(
    ("group", "path", "words"),
    [
        (
            WorkerGroup(ray_start_params={"object-store-memory": 2**30}, object_store_memory="2Gi"),
            "workers[0].object_store_memory",
            "conflicts with ray_start_params",
        ),
        (WorkerGroup(object_store_memory="10Mi"), "workers[0].object_store_memory", "at least 75Mi"),
        (
            WorkerGroup(ray_start_params={"object-store-memory": "2Gi"}),
            'workers[0].ray_start_params["object-store-memory"]',
            "whole number of bytes",
        ),
    ],
)
def test_object_store_sizes_that_ray_would_refuse(group: WorkerGroup, path: str, words: str) -> None:
    with pytest.raises(SpecValidationError) as caught:
        build_raycluster(workers=[group])
    assert any(where == path and words in rule for where, rule in caught.value.errors), caught.value.errors


# --- every bad argument is a SpecValidationError naming it ---------------------------------------------

CLUSTER_BAD: list[tuple[dict[str, Any], str]] = [
    ({"head_gpu": "1"}, "head_gpu"),
    ({"head_gpu": True}, "head_gpu"),
    ({"head_cpu": None}, "head_cpu"),
    ({"head_memory": [1]}, "head_memory"),
    ({"head_ray_start_params": ["num-cpus"]}, "head_ray_start_params"),
    ({"head_ray_start_params": {"num-cpus": None}}, 'head_ray_start_params["num-cpus"]'),
    ({"ray_version": None}, "ray_version"),
    ({"ray_version": 2.52}, "ray_version"),
    ({"ray_version": "2.52 nightly"}, "ray_version"),
    ({"image": 7}, "image"),
    ({"image": ""}, "image"),
    ({"tolerations": "x"}, "tolerations"),
    ({"tolerations": ["x"]}, "tolerations[0]"),
    ({"tolerations": [{"key": 1}]}, "tolerations[0].key"),
    ({"node_selector": ["pool", "ray"]}, "node_selector"),
    ({"node_selector": {"pool": "m l"}}, "node_selector.pool"),
    ({"node_selector": {"pool": None}}, "node_selector.pool"),
    ({"env": [1]}, "env"),
    ({"env": {"A": {"b": 1}}}, "env.A"),
    ({"env": {"A": math.nan}}, "env.A"),
    ({"labels": "team=ml"}, "labels"),
    ({"labels": {"team": "m l"}}, "labels.team"),
    ({"annotations": {"a": 1}}, "annotations.a"),
    ({"service_account": 1}, "service_account"),
    ({"service_account": "Ray_SA"}, "service_account"),
    ({"workers": "abc"}, "workers"),
    ({"workers": [WorkerGroup(), "w"]}, "workers[1]"),
    ({"worker_replicas": "2"}, "worker_replicas"),
    ({"worker_gpu": 1.0}, "worker_gpu"),
    ({"worker_memory": 8}, "worker_memory"),
    ({"worker_cpu": "x"}, "worker_cpu"),
    ({"autoscaling": "yes"}, "autoscaling"),
    ({"autoscaling": True, "autoscaler_version": "v3"}, "autoscaler_version"),
    ({"autoscaling": True, "idle_timeout_seconds": -1}, "idle_timeout_seconds"),
    ({"autoscaling": True, "upscaling_mode": "Fast"}, "upscaling_mode"),
    ({"gcs_fault_tolerance": "redis:6379"}, "gcs_fault_tolerance"),
    ({"gcs_fault_tolerance": {"redisAddress": 6379}}, "gcs_fault_tolerance.redis_address"),
    ({"extra_spec": ["suspend"]}, "extra_spec"),
    ({"extra_spec": {"futureField": object()}}, "extra_spec.futureField"),
]

GROUP_BAD: list[tuple[dict[str, Any], str]] = [
    ({"name": 1}, "name"),
    ({"name": None}, "name"),
    ({"replicas": "2"}, "replicas"),
    ({"min_replicas": 2**31}, "min_replicas"),
    ({"max_replicas": 1.5}, "max_replicas"),
    ({"cpu": {}}, "cpu"),
    ({"memory": 8}, "memory"),
    ({"gpu": None}, "gpu"),
    ({"image": ["ray"]}, "image"),
    ({"env": "A=1"}, "env"),
    ({"node_selector": [("a", "b")]}, "node_selector"),
    ({"tolerations": {"key": "a", "tolerationSeconds": "60"}}, "tolerations[0].tolerationSeconds"),
    ({"labels": {"tier": 1}}, "labels.tier"),
    ({"ray_start_params": {"num-gpus": [1]}}, 'ray_start_params["num-gpus"]'),
    ({"object_store_memory": True}, "object_store_memory"),
    ({"idle_timeout_seconds": "30"}, "idle_timeout_seconds"),
]

JOB_BAD: list[tuple[dict[str, Any], str]] = [
    ({"entrypoint": None}, "entrypoint"),
    ({"entrypoint": ["python", "main.py"]}, "entrypoint"),
    ({"cluster": {"headGroupSpec": {}}}, "cluster"),
    ({"cluster_name": 1}, "cluster_name"),
    ({"cluster_name": "Not A Name"}, "cluster_name"),
    ({"cluster_name": "shared", "cluster": build_raycluster()}, "cluster_name"),
    ({"runtime_env": "pip: [numpy]"}, "runtime_env"),
    ({"runtime_env": {"pip": {1, 2}}}, "runtime_env.pip"),
    ({"runtime_env": {"env_vars": ["A"]}, "env_vars": {"B": "1"}}, "runtime_env.env_vars"),
    ({"pip": 1}, "pip"),
    ({"pip": [None]}, "pip[0]"),
    ({"pip": [""]}, "pip[0]"),
    ({"working_dir": 1}, "working_dir"),
    ({"env_vars": [1]}, "env_vars"),
    ({"env_vars": {"A": None}}, "env_vars.A"),
    ({"submission_mode": "Batch"}, "submission_mode"),
    ({"shutdown_after_job_finishes": "no"}, "shutdown_after_job_finishes"),
    ({"ttl_seconds_after_finished": "300"}, "ttl_seconds_after_finished"),
    ({"ttl_seconds_after_finished": True}, "ttl_seconds_after_finished"),
    ({"active_deadline_seconds": 0}, "active_deadline_seconds"),
    ({"pre_running_deadline_seconds": 1.5}, "pre_running_deadline_seconds"),
    ({"backoff_limit": -1}, "backoff_limit"),
    ({"job_id": 7}, "job_id"),
    ({"metadata": ["team"]}, "metadata"),
    ({"entrypoint_num_cpus": "1"}, "entrypoint_num_cpus"),
    ({"entrypoint_num_gpus": math.inf}, "entrypoint_num_gpus"),
    ({"entrypoint_resources": [1]}, "entrypoint_resources"),
    ({"entrypoint_resources": {"x": math.inf}}, "entrypoint_resources.x"),
    ({"deletion_rules": "DeleteCluster"}, "deletion_rules"),
    ({"deletion_rules": [1]}, "deletion_rules[0]"),
    ({"deletion_rules": [{"policy": "Explode", "condition": {}}]}, "deletion_rules[0].policy"),
    ({"labels": [1]}, "labels"),
    ({"annotations": {"a": None}}, "annotations.a"),
    ({"extra_spec": 1}, "extra_spec"),
]


def _paths(call: Any) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(SpecValidationError) as caught:
            call()
    return [where for where, _ in caught.value.errors]


@pytest.mark.parametrize(("kwargs", "path"), CLUSTER_BAD, ids=[p for _, p in CLUSTER_BAD])
def test_bad_raycluster_arguments_name_the_argument(kwargs: dict[str, Any], path: str) -> None:
    assert path in _paths(lambda: build_raycluster(**kwargs))


@pytest.mark.parametrize(("kwargs", "field"), GROUP_BAD, ids=[p for _, p in GROUP_BAD])
def test_bad_worker_group_arguments_name_the_group_and_field(kwargs: dict[str, Any], field: str) -> None:
    groups = [WorkerGroup("ok"), WorkerGroup(**{"name": "bad", **kwargs})]
    assert f"workers[1].{field}" in _paths(lambda: build_raycluster(workers=groups))


@pytest.mark.parametrize(("kwargs", "path"), JOB_BAD, ids=[p for _, p in JOB_BAD])
def test_bad_rayjob_arguments_name_the_argument(kwargs: dict[str, Any], path: str) -> None:
    args = {"entrypoint": "python main.py", **kwargs}
    assert path in _paths(lambda: build_rayjob(**args))


@pytest.mark.parametrize(
    ("args", "kwargs", "path"),
    [
        ((None,), {}, "name"),
        ((7,), {}, "name"),
        (("Bad_Name",), {}, "name"),
        (("ok",), {"namespace": 1}, "namespace"),
        (("ok",), {"namespace": "Not A Namespace"}, "namespace"),
        (("ok",), {"labels": [("a", "b")]}, "labels"),
        (("ok",), {"labels": {"a": 1}}, "labels.a"),
        (("ok",), {"annotations": "a=b"}, "annotations"),
    ],
)
def test_bad_to_manifest_arguments_name_the_argument(
    args: tuple[Any, ...], kwargs: dict[str, Any], path: str
) -> None:
    spec = build_raycluster()
    assert path in _paths(lambda: spec.to_manifest(*args, **kwargs))
    job = build_rayjob("python main.py")
    assert path in _paths(lambda: job.to_manifest(*args, **kwargs))


# --- hypothesis: arbitrary argument values -------------------------------------------------------------

#: Values of every kind a DAG file (or a rendered template) might pass by mistake.
odd_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.sampled_from(["4Gi", "500m", "2.52.0", "numpy", "ray", "v2", "Never", "SUCCEEDED", "DeleteCluster"]),
    st.builds(object),
    st.binary(max_size=4),
)
odd_values = st.recursive(
    odd_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.tuples(children),
        st.frozensets(st.integers(), max_size=2),
        st.dictionaries(
            st.one_of(st.text(max_size=6), st.integers(), st.sampled_from(["key", "value"])),
            children,
            max_size=3,
        ),
    ),
    max_leaves=8,
)

CLUSTER_ARGS = [
    "ray_version",
    "image",
    "head_cpu",
    "head_memory",
    "head_gpu",
    "head_ray_start_params",
    "worker_replicas",
    "worker_cpu",
    "worker_memory",
    "worker_gpu",
    "autoscaling",
    "autoscaler_version",
    "idle_timeout_seconds",
    "upscaling_mode",
    "env",
    "node_selector",
    "tolerations",
    "service_account",
    "labels",
    "annotations",
    "gcs_fault_tolerance",
    "extra_spec",
]
GROUP_ARGS = [
    "name",
    "replicas",
    "min_replicas",
    "max_replicas",
    "cpu",
    "memory",
    "gpu",
    "image",
    "env",
    "node_selector",
    "tolerations",
    "labels",
    "ray_start_params",
    "object_store_memory",
    "idle_timeout_seconds",
]
JOB_ARGS = [
    "entrypoint",
    "cluster_name",
    "runtime_env",
    "pip",
    "working_dir",
    "env_vars",
    "submission_mode",
    "shutdown_after_job_finishes",
    "ttl_seconds_after_finished",
    "active_deadline_seconds",
    "pre_running_deadline_seconds",
    "backoff_limit",
    "job_id",
    "metadata",
    "entrypoint_num_cpus",
    "entrypoint_num_gpus",
    "entrypoint_resources",
    "deletion_rules",
    "labels",
    "annotations",
    "extra_spec",
]


def _some_args(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(names), odd_values, max_size=4)


def _only_spec_errors(call: Any) -> Any:
    """``call()``'s result, or None if it raised a SpecValidationError naming its problems."""
    errors: list[tuple[str, str]] | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return call()
        except SpecValidationError as exc:
            errors = exc.errors
    assert errors, "a SpecValidationError must name at least one problem"
    assert all(isinstance(p, str) and p and isinstance(r, str) and r for p, r in errors)
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cluster=_some_args(CLUSTER_ARGS),
    groups=st.one_of(st.none(), st.lists(_some_args(GROUP_ARGS), max_size=2)),
    job=_some_args(JOB_ARGS),
    name=st.one_of(st.sampled_from(["ok", "job-1"]), odd_values),
    manifest_kwargs=st.dictionaries(
        st.sampled_from(["namespace", "labels", "annotations"]), odd_values, max_size=2
    ),
)
def test_arbitrary_builder_arguments_raise_only_spec_validation_errors(
    cluster: dict[str, Any],
    groups: list[dict[str, Any]] | None,
    job: dict[str, Any],
    name: Any,
    manifest_kwargs: dict[str, Any],
) -> None:
    """Whatever a DAG passes, the builders answer with a SpecValidationError or a spec that serializes."""
    if groups is not None:
        cluster["workers"] = [WorkerGroup(**group) for group in groups]
    built = _only_spec_errors(lambda: build_raycluster(**cluster))
    if built is not None:
        _only_spec_errors(lambda: built.to_manifest(name, **manifest_kwargs))
    args = {"entrypoint": "python main.py", **job}
    spec = _only_spec_errors(lambda: build_rayjob(cluster=built, **args))
    if spec is not None:
        _only_spec_errors(lambda: spec.to_manifest(name, **manifest_kwargs))
