"""What the builders produce for the common case: the defaults a DAG author relies on."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import yaml

from airflow_ray_k8s.exceptions import SpecValidationError
from airflow_ray_k8s.specs import (
    DEFAULT_RAY_VERSION,
    DEFAULT_TTL_SECONDS_AFTER_FINISHED,
    GPU_RESOURCE,
    RayClusterSpec,
    RaySpecWarning,
    WorkerGroup,
    build_raycluster,
    build_rayjob,
)


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    groups = [spec["headGroupSpec"], *spec.get("workerGroupSpecs", [])]
    return [group["template"]["spec"]["containers"][0] for group in groups]


def _pods(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [group["template"] for group in [spec["headGroupSpec"], *spec.get("workerGroupSpecs", [])]]


def test_default_cluster_is_a_head_and_one_worker_of_the_default_ray_version() -> None:
    spec = build_raycluster().to_spec_dict()
    assert spec["rayVersion"] == DEFAULT_RAY_VERSION
    assert [g["groupName"] for g in spec["workerGroupSpecs"]] == ["workers"]
    group = spec["workerGroupSpecs"][0]
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (1, 1, 1)
    assert spec["headGroupSpec"]["rayStartParams"] == {"dashboard-host": "0.0.0.0"}
    assert "enableInTreeAutoscaling" not in spec
    for container in _containers(spec):
        assert container["image"] == f"rayproject/ray:{DEFAULT_RAY_VERSION}"


def test_image_tag_follows_ray_version_and_gpu_groups_get_the_cuda_image() -> None:
    spec = build_raycluster(
        ray_version="2.55.1", workers=[WorkerGroup("cpu"), WorkerGroup("gpu", gpu=2)]
    ).to_spec_dict()
    assert [c["image"] for c in _containers(spec)] == [
        "rayproject/ray:2.55.1",
        "rayproject/ray:2.55.1",
        "rayproject/ray:2.55.1-gpu",
    ]
    custom = build_raycluster(image="my/ray:1", workers=[WorkerGroup("gpu", gpu=1)]).to_spec_dict()
    assert {c["image"] for c in _containers(custom)} == {"my/ray:1"}


def test_resources_requests_equal_limits_and_gpus_use_the_nvidia_resource() -> None:
    spec = build_raycluster(
        head_cpu=2, head_memory="8Gi", worker_cpu="500m", worker_memory=2**31, worker_gpu=1
    ).to_spec_dict()
    head, worker = _containers(spec)
    assert head["resources"] == {
        "requests": {"cpu": 2, "memory": "8Gi"},
        "limits": {"cpu": 2, "memory": "8Gi"},
    }
    assert worker["resources"]["requests"] == worker["resources"]["limits"]
    assert worker["resources"]["limits"] == {"cpu": "500m", "memory": 2**31, GPU_RESOURCE: 1}


@pytest.mark.parametrize(
    ("memory", "object_store", "size"),
    [
        ("4Gi", None, "1228Mi"),
        ("10Gi", None, "3Gi"),
        ("16G", None, "4577Mi"),
        ("8Gi", "2Gi", "2Gi"),
        ("8Gi", 2**29, "512Mi"),
    ],
)
def test_dev_shm_is_memory_backed_and_sized_for_the_object_store(
    memory: str, object_store: Any, size: str
) -> None:
    spec = build_raycluster(
        workers=[WorkerGroup(memory=memory, object_store_memory=object_store)]
    ).to_spec_dict()
    pod = _pods(spec)[1]["spec"]
    assert pod["volumes"] == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": size}}]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in pod["containers"][0]["volumeMounts"]


def test_floats_become_quantities_the_crd_accepts() -> None:
    spec = build_raycluster(head_cpu=0.5, worker_cpu=2.0).to_spec_dict()
    head, worker = _containers(spec)
    assert head["resources"]["limits"]["cpu"] == "0.5"
    assert worker["resources"]["limits"]["cpu"] == 2


def test_autoscaling_defaults_and_autoscaler_v2_restart_policy() -> None:
    spec = build_raycluster(
        autoscaling=True,
        autoscaler_version="v2",
        idle_timeout_seconds=90,
        workers=[WorkerGroup("w", max_replicas=8), WorkerGroup("v", min_replicas=2, max_replicas=4)],
    ).to_spec_dict()
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["autoscalerOptions"] == {"version": "v2", "idleTimeoutSeconds": 90}
    first, second = spec["workerGroupSpecs"]
    assert (first["replicas"], first["minReplicas"], first["maxReplicas"]) == (0, 0, 8)
    assert (second["replicas"], second["minReplicas"], second["maxReplicas"]) == (2, 2, 4)
    assert {pod["spec"]["restartPolicy"] for pod in _pods(spec)} == {"Never"}


def test_pod_settings_reach_every_pod_and_the_cluster_metadata() -> None:
    toleration = {"key": "dedicated", "operator": "Equal", "value": "ray", "effect": "NoSchedule"}
    spec = build_raycluster(
        node_selector={"pool": "ray"},
        tolerations=[toleration],
        service_account="ray-sa",
        labels={"team": "ml"},
        annotations={"owner": "ml@example.com"},
        env={"TZ": "UTC", "N": 3},
        workers=[
            WorkerGroup("a"),
            WorkerGroup("b", node_selector={"pool": "big"}, labels={"tier": "b"}, env={"N": "4"}),
        ],
    )
    out = spec.to_spec_dict()
    pods = _pods(out)
    assert [p["spec"]["nodeSelector"] for p in pods] == [{"pool": "ray"}, {"pool": "ray"}, {"pool": "big"}]
    assert all(p["spec"]["tolerations"] == [toleration] for p in pods)
    assert all(p["spec"]["serviceAccountName"] == "ray-sa" for p in pods)
    assert pods[2]["metadata"]["labels"] == {"team": "ml", "tier": "b"}
    assert all(p["metadata"]["annotations"] == {"owner": "ml@example.com"} for p in pods)
    assert _containers(out)[2]["env"] == [{"name": "TZ", "value": "UTC"}, {"name": "N", "value": "4"}]
    assert _containers(out)[0]["env"] == [{"name": "TZ", "value": "UTC"}, {"name": "N", "value": "3"}]
    assert spec.labels == {"team": "ml"}
    assert spec.annotations == {"owner": "ml@example.com"}


def test_ray_start_params_are_strings() -> None:
    spec = build_raycluster(
        head_ray_start_params={"num-cpus": 0, "include-dashboard": True},
        workers=[WorkerGroup(ray_start_params={"num-gpus": 1})],
    ).to_spec_dict()
    assert spec["headGroupSpec"]["rayStartParams"] == {
        "dashboard-host": "0.0.0.0",
        "num-cpus": "0",
        "include-dashboard": "true",
    }
    assert spec["workerGroupSpecs"][0]["rayStartParams"] == {"num-gpus": "1"}


def test_head_only_cluster_and_extra_spec() -> None:
    spec = build_raycluster(workers=[], extra_spec={"auth_options": {"mode": "token"}, "suspend": False})
    out = spec.to_spec_dict()
    assert out["workerGroupSpecs"] == []
    assert out["authOptions"] == {"mode": "token"}
    assert out["suspend"] is False


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"head_memory": "lots"}, "head_memory"),
        ({"worker_memory": 8}, "worker_memory"),
        ({"head_cpu": 0}, "head_cpu"),
        ({"worker_memory": "-1Gi"}, "worker_memory"),
        ({"head_gpu": -1}, "head_gpu"),
        ({"workers": [WorkerGroup("a", replicas=-1)]}, "workers[0].replicas"),
        ({"workers": [WorkerGroup("a", cpu="x"), WorkerGroup("b", memory=0)]}, "workers[1].memory"),
        ({"workers": [WorkerGroup("a", object_store_memory="big")]}, "workers[0].object_store_memory"),
        ({"workers": [{"name": "a"}]}, "workers[0]"),
        # The spec models only warn about these two (KubeRay accepts them); a builder refuses them.
        ({"workers": [WorkerGroup("a"), WorkerGroup("a")]}, "workers[1].name"),
        ({"workers": [WorkerGroup("a", replicas=5, max_replicas=2)]}, "workers[0].replicas"),
        ({"workers": [WorkerGroup("GPU workers!")]}, "workers[0].name"),
        ({"ray_version": "2.46.0", "extra_spec": {"authOptions": {"mode": "token"}}}, "ray_version"),
    ],
)
def test_bad_builder_arguments_name_the_argument(kwargs: dict[str, Any], path: str) -> None:
    with pytest.raises(SpecValidationError) as caught:
        build_raycluster(**kwargs)
    assert path in [where for where, _ in caught.value.errors], caught.value.errors


def test_default_rayjob_owns_a_cluster_deleted_after_a_ttl() -> None:
    spec = build_rayjob("python main.py")
    out = spec.to_spec_dict()
    assert out["entrypoint"] == "python main.py"
    assert out["submissionMode"] == "K8sJobMode"
    assert out["shutdownAfterJobFinishes"] is True
    assert out["ttlSecondsAfterFinished"] == DEFAULT_TTL_SECONDS_AFTER_FINISHED
    assert out["rayClusterSpec"] == build_raycluster().to_spec_dict()
    assert "runtimeEnvYAML" not in out


def test_runtime_env_is_a_dict_rendered_to_yaml() -> None:
    spec = build_rayjob(
        "python main.py",
        runtime_env={"env_vars": {"A": "1"}, "config": {"setup_timeout_seconds": 600}},
        pip=["numpy==2.0.0"],
        working_dir="s3://bucket/code.zip",
        env_vars={"B": 2},
    )
    assert spec.runtime_env == {
        "env_vars": {"A": "1", "B": "2"},
        "config": {"setup_timeout_seconds": 600},
        "pip": ["numpy==2.0.0"],
        "working_dir": "s3://bucket/code.zip",
    }
    rendered = spec.to_spec_dict()["runtimeEnvYAML"]
    assert isinstance(rendered, str)
    assert yaml.safe_load(rendered) == spec.runtime_env


def test_rayjob_on_an_existing_cluster_deletes_nothing() -> None:
    out = build_rayjob("python main.py", cluster_name="shared").to_spec_dict()
    assert out["clusterSelector"] == {"ray.io/cluster": "shared"}
    assert "rayClusterSpec" not in out
    assert out["shutdownAfterJobFinishes"] is False
    assert "ttlSecondsAfterFinished" not in out


def test_rayjob_with_deletion_rules_turns_shutdown_off() -> None:
    out = build_rayjob(
        "python main.py",
        deletion_rules=[
            {"policy": "DeleteCluster", "condition": {"job_status": "SUCCEEDED", "ttl_seconds": 30}}
        ],
    ).to_spec_dict()
    assert out["shutdownAfterJobFinishes"] is False
    assert "ttlSecondsAfterFinished" not in out
    assert out["deletionStrategy"] == {
        "deletionRules": [
            {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 30}}
        ]
    }


def test_rayjob_optional_fields() -> None:
    out = build_rayjob(
        "python main.py",
        cluster=build_raycluster(worker_gpu=1),
        active_deadline_seconds=3600,
        pre_running_deadline_seconds=300,
        backoff_limit=2,
        job_id="nightly-2024-06-01",
        metadata={"team": "ml"},
        entrypoint_num_cpus=1,
        entrypoint_num_gpus=0.5,
        entrypoint_resources={"accelerator_type:A100": 1},
        labels={"a": "b"},
        extra_spec={"submitter_config": {"backoff_limit": 1}},
    ).to_spec_dict()
    assert out["activeDeadlineSeconds"] == 3600
    assert out["preRunningDeadlineSeconds"] == 300
    assert out["backoffLimit"] == 2
    assert out["jobId"] == "nightly-2024-06-01"
    assert out["metadata"] == {"team": "ml"}
    assert (out["entrypointNumCpus"], out["entrypointNumGpus"]) == (1, 0.5)
    # An integer stays an integer (it used to come back as 1.0).
    assert out["entrypointResources"] == '{"accelerator_type:A100": 1}'
    assert out["submitterConfig"] == {"backoffLimit": 1}


def test_rayjob_rejects_bad_arguments_with_paths() -> None:
    with pytest.raises(SpecValidationError) as caught:
        build_rayjob(
            "python main.py", submission_mode="InteractiveMode", backoff_limit=3, active_deadline_seconds=-5
        )
    assert {where for where, _ in caught.value.errors} == {"active_deadline_seconds"}
    with pytest.raises(SpecValidationError, match="backoff_limit: must be 0 in InteractiveMode"):
        build_rayjob("python main.py", submission_mode="InteractiveMode", backoff_limit=3)


def test_built_specs_are_models_with_typed_access() -> None:
    spec = build_raycluster(worker_gpu=1)
    assert isinstance(spec, RayClusterSpec)
    assert spec.worker_groups is not None
    container = spec.worker_groups[0].template.ray_container
    assert container is not None
    assert container.resources is not None
    assert container.resources.limits is not None
    assert container.resources.limits[GPU_RESOURCE] == 1


def test_an_image_of_another_ray_version_is_warned_about() -> None:
    with pytest.warns(RaySpecWarning, match=r"ray_version is 2\.52\.0 but rayproject/ray:2\.41\.0-gpu runs"):
        build_raycluster(workers=[WorkerGroup("gpu", gpu=1, image="rayproject/ray:2.41.0-gpu")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_raycluster(image="registry.example.com/team/ray-custom:7")  # not an official image: no opinion
        build_raycluster(image="mirror.example.com/rayproject/ray:2.52.0-py311-cu121")
