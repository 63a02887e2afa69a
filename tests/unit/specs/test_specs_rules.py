"""KubeRay v1.7's validation rules, checked client-side: each invalid spec is rejected with its path."""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_ray_k8s.exceptions import SpecValidationError
from airflow_ray_k8s.specs import (
    RayClusterSpec,
    RayJobSpec,
    RaySpecWarning,
    WorkerGroup,
    WorkerGroupSpec,
    build_raycluster,
    build_rayjob,
    load_raycluster,
    load_rayjob,
)

Mutation = Callable[[dict[str, Any]], None]


def _cluster() -> dict[str, Any]:
    """A valid RayCluster spec with two worker groups (wire form)."""
    return build_raycluster(
        workers=[
            WorkerGroup("a", replicas=1),
            WorkerGroup("b", replicas=2),
        ]
    ).to_spec_dict()


def _job() -> dict[str, Any]:
    """A valid RayJob spec owning its cluster (wire form)."""
    return build_rayjob("python main.py", cluster=RayClusterSpec.model_validate(_cluster())).to_spec_dict()


def _head(spec: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    return container


def _env(spec: dict[str, Any], name: str, value: str = "x") -> None:
    _head(spec).setdefault("env", []).append({"name": name, "value": value})


def _ft(spec: dict[str, Any]) -> None:
    spec["gcsFaultToleranceOptions"] = {"redisAddress": "redis:6379"}


def _autoscale(spec: dict[str, Any], version: str | None = None) -> None:
    spec["enableInTreeAutoscaling"] = True
    if version:
        spec["autoscalerOptions"] = {"version": version}


def _rules(job: dict[str, Any], *rules: dict[str, Any]) -> None:
    job["shutdownAfterJobFinishes"] = False
    job.pop("ttlSecondsAfterFinished", None)
    job["deletionStrategy"] = {"deletionRules": list(rules)}


def _rule(policy: str, status: str = "SUCCEEDED", ttl: int = 0) -> dict[str, Any]:
    return {"policy": policy, "condition": {"jobStatus": status, "ttlSeconds": ttl}}


# (id, mutation of a valid cluster spec, annotations, expected path, words expected in the rule)
CLUSTER_CASES: list[tuple[str, Mutation, dict[str, str], str, str]] = [
    (
        "min above max",
        lambda s: s["workerGroupSpecs"][1].update(minReplicas=5, maxReplicas=3, replicas=3),
        {},
        "worker_groups[1].min_replicas",
        "<= max_replicas",
    ),
    (
        "missing group name",
        lambda s: s["workerGroupSpecs"][0].pop("groupName"),
        {},
        "worker_groups[0].group_name",
        "required",
    ),
    (
        "head without containers",
        lambda s: s["headGroupSpec"]["template"]["spec"].update(containers=[]),
        {},
        "head_group.template.spec.containers",
        "at least one container",
    ),
    (
        "worker without containers",
        lambda s: s["workerGroupSpecs"][1]["template"]["spec"].update(containers=[]),
        {},
        "worker_groups[1].template.spec.containers",
        "at least one container",
    ),
    (
        "missing head template",
        lambda s: s["headGroupSpec"].pop("template"),
        {},
        "head_group.template",
        "required",
    ),
    (
        "env value not a string",
        lambda s: _head(s).update(env=[{"name": "N", "value": 3}]),
        {},
        "head_group.template.spec.containers[0].env[0].value",
        "must be a string",
    ),
    (
        "bad quantity",
        lambda s: _head(s)["resources"]["limits"].update(memory="lots"),
        {},
        "head_group.template.spec.containers[0].resources.limits.memory",
        "quantity",
    ),
    (
        "resources and num-cpus both",
        lambda s: s["workerGroupSpecs"][0].update(resources={"CPU": "2"}, rayStartParams={"num-cpus": "2"}),
        {},
        "worker_groups[0].resources",
        "only one",
    ),
    (
        "labels in rayStartParams",
        lambda s: s["headGroupSpec"]["rayStartParams"].update(labels="a=b"),
        {},
        "head_group.ray_start_params.labels",
        "not supported",
    ),
    (
        "invalid group label",
        lambda s: s["workerGroupSpecs"][0].update(labels={"zone": "us east"}),
        {},
        "worker_groups[0].labels.zone",
        "value",
    ),
    (
        "ft annotation and struct",
        _ft,
        {"ray.io/ft-enabled": "true"},
        "gcs_fault_tolerance_options",
        "ray.io/ft-enabled",
    ),
    (
        "redis address env without ft",
        lambda s: _env(s, "RAY_REDIS_ADDRESS", "redis:6379"),
        {},
        "head_group.template.spec.containers[0].env",
        "RAY_REDIS_ADDRESS",
    ),
    (
        "redis-password param with struct",
        lambda s: (_ft(s), s["headGroupSpec"]["rayStartParams"].update({"redis-password": "p"})),
        {},
        'head_group.ray_start_params["redis-password"]',
        "redis_password",
    ),
    (
        "REDIS_PASSWORD env with struct",
        lambda s: (_ft(s), _env(s, "REDIS_PASSWORD")),
        {},
        "head_group.template.spec.containers[0].env",
        "REDIS_PASSWORD",
    ),
    (
        "RAY_REDIS_ADDRESS env with struct",
        lambda s: (_ft(s), _env(s, "RAY_REDIS_ADDRESS")),
        {},
        "head_group.template.spec.containers[0].env",
        "redis_address",
    ),
    (
        "storage namespace annotation with struct",
        _ft,
        {"ray.io/external-storage-namespace": "ns"},
        'metadata.annotations["ray.io/external-storage-namespace"]',
        "external_storage_namespace",
    ),
    (
        "redis-username param",
        lambda s: s["headGroupSpec"]["rayStartParams"].update({"redis-username": "u"}),
        {},
        'head_group.ray_start_params["redis-username"]',
        "redis_username",
    ),
    (
        "REDIS_USERNAME env",
        lambda s: _env(s, "REDIS_USERNAME"),
        {},
        "head_group.template.spec.containers[0].env",
        "REDIS_USERNAME",
    ),
    (
        "bad backend",
        lambda s: s.update(gcsFaultToleranceOptions={"backend": "etcd"}),
        {},
        "gcs_fault_tolerance_options.backend",
        "'redis' or 'rocksdb'",
    ),
    (
        "autoscaler v2 env without autoscaling",
        lambda s: _env(s, "RAY_enable_autoscaler_v2", "1"),
        {},
        "head_group.template.spec.containers[0].env",
        "enable_in_tree_autoscaling",
    ),
    (
        "suspended group with autoscaling",
        lambda s: (_autoscale(s), s["workerGroupSpecs"][0].update(suspend=True)),
        {},
        "worker_groups[0].suspend",
        "autoscaling",
    ),
    (
        "autoscaler version and env var",
        lambda s: (_autoscale(s, "v1"), _env(s, "RAY_enable_autoscaler_v2", "0")),
        {},
        "autoscaler_options.version",
        "only",
    ),
    (
        "v2 head restart policy",
        lambda s: (
            _autoscale(s, "v2"),
            s["headGroupSpec"]["template"]["spec"].update(restartPolicy="Always"),
        ),
        {},
        "head_group.template.spec.restart_policy",
        "Never",
    ),
    (
        "v2 worker restart policy",
        lambda s: (
            _autoscale(s, "v2"),
            s["workerGroupSpecs"][1]["template"]["spec"].update(restartPolicy="OnFailure"),
        ),
        {},
        "worker_groups[1].template.spec.restart_policy",
        "Never",
    ),
    (
        "token auth without version",
        lambda s: (s.pop("rayVersion"), s.update(authOptions={"mode": "token"})),
        {},
        "ray_version",
        "2.52.0",
    ),
    (
        "token auth with old ray",
        lambda s: s.update(rayVersion="2.46.0", authOptions={"mode": "token"}),
        {},
        "ray_version",
        ">= 2.52.0",
    ),
    (
        "token auth with unreadable version",
        lambda s: s.update(rayVersion="latest", authOptions={"mode": "token"}),
        {},
        "ray_version",
        "not a version",
    ),
    (
        "bad auth mode",
        lambda s: s.update(authOptions={"mode": "password"}),
        {},
        "auth_options.mode",
        "'disabled' or 'token'",
    ),
    (
        "bad upscaling mode",
        lambda s: s.update(autoscalerOptions={"upscalingMode": "Fast"}),
        {},
        "autoscaler_options.upscaling_mode",
        "Default",
    ),
    (
        "group idle timeout without autoscaler v2",
        lambda s: (_autoscale(s, "v1"), s["workerGroupSpecs"][0].update(idleTimeoutSeconds=60)),
        {},
        "worker_groups[0].idle_timeout_seconds",
        "autoscaler v2",
    ),
    (
        "group priority with old ray",
        lambda s: (_autoscale(s, "v2"), s["workerGroupSpecs"][0].update(priority=5)),
        {},
        "worker_groups[0].priority",
        ">= 2.56.0",
    ),
    (
        "group priority without autoscaler v2",
        lambda s: (s.update(rayVersion="2.57.0"), s["workerGroupSpecs"][0].update(priority=5)),
        {},
        "worker_groups[0].priority",
        "autoscaler v2",
    ),
    (
        "autoscaler start command env",
        lambda s: s.update(
            autoscalerOptions={"env": [{"name": "KUBERAY_GEN_AUTOSCALER_START_CMD", "value": "x"}]}
        ),
        {},
        "autoscaler_options.env",
        "KUBERAY_GEN_AUTOSCALER_START_CMD",
    ),
    (
        "k8s token auth without token mode",
        lambda s: s.update(authOptions={"enableK8sTokenAuth": True}),
        {},
        "auth_options.enable_k8s_token_auth",
        "mode='token'",
    ),
    (
        "k8s token auth with old ray",
        lambda s: s.update(authOptions={"mode": "token", "enableK8sTokenAuth": True}),
        {},
        "ray_version",
        ">= 2.55.0",
    ),
    (
        "k8s token auth with a secret",
        lambda s: s.update(
            rayVersion="2.55.0", authOptions={"mode": "token", "enableK8sTokenAuth": True, "secretName": "t"}
        ),
        {},
        "auth_options.enable_k8s_token_auth",
        "secret_name",
    ),
    (
        "rocksdb with redis address",
        lambda s: s.update(gcsFaultToleranceOptions={"backend": "rocksdb", "redisAddress": "r:6379"}),
        {},
        "gcs_fault_tolerance_options.redis_address",
        "rocksdb",
    ),
    (
        "rocksdb claim with size",
        lambda s: s.update(
            gcsFaultToleranceOptions={"backend": "rocksdb", "storage": {"claimName": "c", "size": "10Gi"}}
        ),
        {},
        "gcs_fault_tolerance_options.storage.claimName",
        "mutually exclusive",
    ),
    (
        "redis with storage",
        lambda s: s.update(gcsFaultToleranceOptions={"redisAddress": "r:6379", "storage": {"size": "1Gi"}}),
        {},
        "gcs_fault_tolerance_options.storage",
        "rocksdb",
    ),
    (
        "history server without collector",
        lambda s: s.update(historyServerOptions={}),
        {},
        "history_server_options.collectorOptions",
        "required",
    ),
    (
        "network policy with an unknown group",
        lambda s: s.update(networkPolicy={"workerGroups": [{"groupName": "nope"}]}),
        {},
        "network_policy.workerGroups[0].groupName",
        "matches no worker group",
    ),
    (
        "network policy ingress rules under DenyAllEgress",
        lambda s: s.update(networkPolicy={"mode": "DenyAllEgress", "head": {"ingressRules": [{}]}}),
        {},
        "network_policy.head.ingressRules",
        "DenyAllEgress",
    ),
    (
        "network policy needs DNS-1123 group names",
        lambda s: (s["workerGroupSpecs"][0].update(groupName="Upper"), s.update(networkPolicy={})),
        {},
        "worker_groups[0].group_name",
        "network_policy",
    ),
    (
        "managedBy not allowed",
        lambda s: s.update(managedBy="someone-else"),
        {},
        "managed_by",
        "kuberay-operator",
    ),
    (
        "int32 overflow",
        lambda s: s["workerGroupSpecs"][0].update(maxReplicas=2**31),
        {},
        "worker_groups[0].max_replicas",
        "<= 2147483647",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "annotations", "path", "words"),
    [pytest.param(m, a, p, w, id=i) for i, m, a, p, w in CLUSTER_CASES],
)
def test_invalid_raycluster_specs_are_rejected_with_their_path(
    mutate: Mutation, annotations: dict[str, str], path: str, words: str
) -> None:
    spec = _cluster()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RaySpecWarning)
        RayClusterSpec.from_parts(copy.deepcopy(spec), annotations=annotations)  # valid before the mutation
    mutate(spec)
    with pytest.raises(SpecValidationError) as caught:
        RayClusterSpec.from_parts(spec, annotations=annotations)
    matching = [rule for where, rule in caught.value.errors if where == path]
    assert matching, f"no error at {path}: {caught.value.errors}"
    assert any(words in rule for rule in matching), matching
    assert path in str(caught.value)


@pytest.mark.parametrize(
    ("mutate", "annotations", "path", "words"),
    [pytest.param(m, a, p, w, id=i) for i, m, a, p, w in CLUSTER_CASES if not a],
)
def test_the_same_rules_apply_to_a_rayjobs_cluster(
    mutate: Mutation, annotations: dict[str, str], path: str, words: str
) -> None:
    job = _job()
    mutate(job["rayClusterSpec"])
    with pytest.raises(SpecValidationError) as caught:
        RayJobSpec.model_validate(job)
    assert any(where == f"ray_cluster_spec.{path}" for where, _ in caught.value.errors), caught.value.errors


JOB_CASES: list[tuple[str, Mutation, str, str]] = [
    (
        "ttl without shutdown",
        lambda j: j.update(shutdownAfterJobFinishes=False, ttlSecondsAfterFinished=60),
        "ttl_seconds_after_finished",
        "shutdown_after_job_finishes",
    ),
    ("negative ttl", lambda j: j.update(ttlSecondsAfterFinished=-1), "ttl_seconds_after_finished", ">= 0"),
    (
        "suspend without shutdown",
        lambda j: j.update(shutdownAfterJobFinishes=False, ttlSecondsAfterFinished=0, suspend=True),
        "suspend",
        "shutdown_after_job_finishes",
    ),
    (
        "suspend with selector",
        lambda j: (j.pop("rayClusterSpec"), j.update(clusterSelector={"ray.io/cluster": "c"}, suspend=True)),
        "suspend",
        "cluster_selector",
    ),
    (
        "neither cluster spec nor selector",
        lambda j: j.pop("rayClusterSpec"),
        "ray_cluster_spec",
        "one of",
    ),
    (
        "selector without cluster key",
        lambda j: (j.pop("rayClusterSpec"), j.update(clusterSelector={"app": "x"})),
        'cluster_selector["ray.io/cluster"]',
        "required",
    ),
    (
        "selector in sidecar mode",
        lambda j: (
            j.pop("rayClusterSpec"),
            j.update(clusterSelector={"ray.io/cluster": "c"}, submissionMode="SidecarMode"),
        ),
        "submission_mode",
        "SidecarMode",
    ),
    (
        "selector with retries",
        lambda j: (
            j.pop("rayClusterSpec"),
            j.update(clusterSelector={"ray.io/cluster": "c"}, backoffLimit=2),
        ),
        "backoff_limit",
        "cluster_selector",
    ),
    (
        "interactive with retries",
        lambda j: j.update(submissionMode="InteractiveMode", backoffLimit=1),
        "backoff_limit",
        "InteractiveMode",
    ),
    (
        "sidecar with submitter template",
        lambda j: j.update(
            submissionMode="SidecarMode", submitterPodTemplate={"spec": {"containers": [{"name": "s"}]}}
        ),
        "submitter_pod_template",
        "SidecarMode",
    ),
    (
        "sidecar with submitter config",
        lambda j: j.update(submissionMode="SidecarMode", submitterConfig={"backoffLimit": 1}),
        "submitter_config",
        "SidecarMode",
    ),
    (
        "sidecar with head restart policy",
        lambda j: (
            j.update(submissionMode="SidecarMode"),
            j["rayClusterSpec"]["headGroupSpec"]["template"]["spec"].update(restartPolicy="Always"),
        ),
        "ray_cluster_spec.head_group.template.spec.restart_policy",
        "SidecarMode",
    ),
    (
        "k8s token auth in a rayjob",
        lambda j: j["rayClusterSpec"].update(
            rayVersion="2.55.0", authOptions={"mode": "token", "enableK8sTokenAuth": True}
        ),
        "ray_cluster_spec.auth_options.enable_k8s_token_auth",
        "RayJob",
    ),
    (
        "upgrade strategy in a rayjob's cluster",
        lambda j: j["rayClusterSpec"].update(upgradeStrategy={"type": "Recreate"}),
        "ray_cluster_spec.upgrade_strategy.type",
        "RayJob",
    ),
    (
        "runtime env not yaml",
        lambda j: j.update(runtimeEnvYAML="pip: [numpy"),
        "runtime_env",
        "not valid YAML",
    ),
    ("runtime env not a mapping", lambda j: j.update(runtimeEnvYAML="- numpy"), "runtime_env", "mapping"),
    (
        "zero active deadline",
        lambda j: j.update(activeDeadlineSeconds=0),
        "active_deadline_seconds",
        "> 0",
    ),
    (
        "zero pre-running deadline",
        lambda j: j.update(preRunningDeadlineSeconds=0),
        "pre_running_deadline_seconds",
        "> 0",
    ),
    ("negative backoff", lambda j: j.update(backoffLimit=-1), "backoff_limit", ">= 0"),
    (
        "rules with shutdown",
        lambda j: (_rules(j, _rule("DeleteCluster")), j.update(shutdownAfterJobFinishes=True)),
        "deletion_strategy.deletion_rules",
        "shutdown_after_job_finishes",
    ),
    (
        "rules with legacy",
        lambda j: (
            _rules(j, _rule("DeleteCluster")),
            j["deletionStrategy"].update(onSuccess={"policy": "DeleteCluster"}),
        ),
        "deletion_strategy",
        "cannot combine",
    ),
    ("empty rules", lambda j: _rules(j), "deletion_strategy.deletion_rules", "empty"),
    (
        "empty strategy",
        lambda j: j.update(deletionStrategy={}),
        "deletion_strategy",
        "on_success and on_failure, or deletion_rules",
    ),
    (
        "rule TTL order workers > cluster",
        lambda j: _rules(j, _rule("DeleteWorkers", ttl=100), _rule("DeleteCluster", ttl=10)),
        "deletion_strategy.deletion_rules",
        "DeleteCluster TTL (10) must be >= the DeleteWorkers TTL (100)",
    ),
    (
        "rule TTL order cluster > self",
        lambda j: _rules(j, _rule("DeleteSelf", "FAILED", 5), _rule("DeleteCluster", "FAILED", 50)),
        "deletion_strategy.deletion_rules",
        "DeleteSelf TTL (5) must be >= the DeleteCluster TTL (50)",
    ),
    (
        "duplicate rule",
        lambda j: _rules(j, _rule("DeleteCluster", ttl=1), _rule("DeleteCluster", ttl=2)),
        "deletion_strategy.deletion_rules[1]",
        "duplicate",
    ),
    (
        "rule with both statuses",
        lambda j: _rules(
            j, {"policy": "DeleteSelf", "condition": {"jobStatus": "FAILED", "jobDeploymentStatus": "Failed"}}
        ),
        "deletion_strategy.deletion_rules[0].condition",
        "exactly one",
    ),
    (
        "rule with no status",
        lambda j: _rules(j, {"policy": "DeleteSelf", "condition": {"ttlSeconds": 1}}),
        "deletion_strategy.deletion_rules[0].condition",
        "exactly one",
    ),
    (
        "rule negative ttl",
        lambda j: _rules(j, _rule("DeleteSelf", ttl=-5)),
        "deletion_strategy.deletion_rules[0].condition.ttl_seconds",
        ">= 0",
    ),
    (
        "rule bad policy",
        lambda j: _rules(j, _rule("DeleteEverything")),
        "deletion_strategy.deletion_rules[0].policy",
        "DeleteCluster",
    ),
    (
        "rule DeleteCluster with selector",
        lambda j: (
            _rules(j, _rule("DeleteCluster")),
            j.pop("rayClusterSpec"),
            j.update(clusterSelector={"ray.io/cluster": "c"}),
        ),
        "deletion_strategy.deletion_rules[0].policy",
        "cluster_selector",
    ),
    (
        "rule DeleteWorkers with autoscaling",
        lambda j: (
            _rules(j, _rule("DeleteWorkers")),
            j["rayClusterSpec"].update(enableInTreeAutoscaling=True),
        ),
        "deletion_strategy.deletion_rules[0].policy",
        "autoscaling",
    ),
    (
        "legacy missing on_failure",
        lambda j: j.update(deletionStrategy={"onSuccess": {"policy": "DeleteCluster"}}),
        "deletion_strategy.on_failure",
        "required",
    ),
    (
        "legacy without policy",
        lambda j: j.update(deletionStrategy={"onSuccess": {"policy": "DeleteCluster"}, "onFailure": {}}),
        "deletion_strategy.on_failure.policy",
        "required",
    ),
    (
        "legacy DeleteNone with shutdown",
        lambda j: j.update(
            deletionStrategy={"onSuccess": {"policy": "DeleteNone"}, "onFailure": {"policy": "DeleteCluster"}}
        ),
        "deletion_strategy.on_success.policy",
        "DeleteNone",
    ),
    (
        "legacy DeleteWorkers with selector",
        lambda j: (
            j.pop("rayClusterSpec"),
            j.update(
                clusterSelector={"ray.io/cluster": "c"},
                shutdownAfterJobFinishes=False,
                ttlSecondsAfterFinished=0,
                deletionStrategy={
                    "onSuccess": {"policy": "DeleteSelf"},
                    "onFailure": {"policy": "DeleteWorkers"},
                },
            ),
        ),
        "deletion_strategy.on_failure.policy",
        "cluster_selector",
    ),
    (
        "legacy DeleteWorkers with autoscaling",
        lambda j: (
            j["rayClusterSpec"].update(enableInTreeAutoscaling=True),
            j.update(
                deletionStrategy={
                    "onSuccess": {"policy": "DeleteWorkers"},
                    "onFailure": {"policy": "DeleteCluster"},
                }
            ),
        ),
        "deletion_strategy.on_success.policy",
        "autoscaling",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "path", "words"), [pytest.param(m, p, w, id=i) for i, m, p, w in JOB_CASES]
)
def test_invalid_rayjob_specs_are_rejected_with_their_path(mutate: Mutation, path: str, words: str) -> None:
    job = _job()
    RayJobSpec.model_validate(copy.deepcopy(job))  # valid before the mutation
    mutate(job)
    with pytest.raises(SpecValidationError) as caught:
        RayJobSpec.model_validate(job)
    matching = [rule for where, rule in caught.value.errors if where == path]
    assert matching, f"no error at {path}: {caught.value.errors}"
    assert any(words in rule for rule in matching), matching


def test_all_problems_are_reported_at_once() -> None:
    job = _job()
    job.update(shutdownAfterJobFinishes=False, ttlSecondsAfterFinished=60, backoffLimit=-2)
    job["rayClusterSpec"]["workerGroupSpecs"][0].update(minReplicas=9, maxReplicas=1)
    with pytest.raises(SpecValidationError) as caught:
        RayJobSpec.model_validate(job)
    # Shape errors come first (the rules need a well-formed spec), then all of them.
    assert [where for where, _ in caught.value.errors] == ["backoff_limit"]
    job["backoffLimit"] = 0
    with pytest.raises(SpecValidationError) as caught:
        RayJobSpec.model_validate(job)
    assert {where for where, _ in caught.value.errors} == {
        "ttl_seconds_after_finished",
        "ray_cluster_spec.worker_groups[0].min_replicas",
    }


def test_valid_edge_cases_are_accepted() -> None:
    job = _job()
    # ttl 0 without shutdown, legacy policies both set, InteractiveMode without retries.
    job.update(
        shutdownAfterJobFinishes=False,
        ttlSecondsAfterFinished=0,
        submissionMode="InteractiveMode",
        entrypoint="",
        deletionStrategy={"onSuccess": {"policy": "DeleteCluster"}, "onFailure": {"policy": "DeleteNone"}},
    )
    RayJobSpec.model_validate(job)
    # Equal TTLs are in order; per-status groups are independent; a deployment-status rule.
    _rules(
        job,
        _rule("DeleteWorkers", ttl=10),
        _rule("DeleteCluster", ttl=10),
        _rule("DeleteCluster", "FAILED", 1),
        _rule("DeleteSelf", "FAILED", 100),
        {"policy": "DeleteSelf", "condition": {"jobDeploymentStatus": "Failed"}},
    )
    RayJobSpec.model_validate(job)
    # The legacy FT annotation alone is accepted (with a warning); the v2 env var set to false too.
    cluster = _cluster()
    _env(cluster, "RAY_REDIS_ADDRESS", "redis:6379")
    with pytest.warns(RaySpecWarning):
        RayClusterSpec.from_parts(cluster, annotations={"ray.io/ft-enabled": "true"})
    cluster = _cluster()
    _env(cluster, "RAY_enable_autoscaler_v2", "0")
    RayClusterSpec.model_validate(cluster)


def test_selector_and_cluster_spec_together_warn_that_the_spec_is_ignored() -> None:
    job = _job()
    job["clusterSelector"] = {"ray.io/cluster": "shared"}
    job.update(shutdownAfterJobFinishes=False, ttlSecondsAfterFinished=0)
    with pytest.warns(RaySpecWarning, match="ignores ray_cluster_spec"):
        RayJobSpec.model_validate(job)


def test_constructor_keyword_form_raises_the_same_error() -> None:
    with pytest.raises(SpecValidationError) as caught:
        WorkerGroupSpec(
            group_name="w", min_replicas=3, max_replicas=1, template={"spec": {"containers": [{"name": "c"}]}}
        )
    assert caught.value.errors == [("min_replicas", "must be <= max_replicas (1)")]


def test_a_mutated_spec_is_checked_again_before_it_is_sent() -> None:
    spec = build_raycluster()
    assert spec.worker_groups is not None
    spec.worker_groups[0].min_replicas = 7
    with pytest.raises(SpecValidationError, match=r"worker_groups\[0\]\.min_replicas"):
        spec.to_spec_dict()


def test_secret_values_are_not_echoed_in_errors() -> None:
    job = _job()
    job["runtimeEnvYAML"] = "env_vars: {TOKEN: hunter2-secret\n  bad: [yaml"
    with pytest.raises(SpecValidationError) as caught:
        RayJobSpec.model_validate(job)
    assert "hunter2" not in str(caught.value)


# --- hypothesis: nothing but SpecValidationError escapes --------------------------------------------------

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        ["2.52.0", "token", "SidecarMode", "4Gi", "500m", "ray.io/cluster", "Never", "DeleteWorkers"]
    ),
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.one_of(
                st.text(max_size=8),
                st.sampled_from(
                    [
                        "headGroupSpec",
                        "workerGroupSpecs",
                        "template",
                        "spec",
                        "containers",
                        "name",
                        "env",
                        "rayStartParams",
                        "groupName",
                        "minReplicas",
                        "replicas",
                        "resources",
                        "limits",
                        "rayClusterSpec",
                        "clusterSelector",
                        "deletionStrategy",
                        "deletionRules",
                        "condition",
                        "policy",
                        "runtimeEnvYAML",
                        "entrypointResources",
                        "gcsFaultToleranceOptions",
                        "authOptions",
                        "enableInTreeAutoscaling",
                        "submissionMode",
                    ]
                ),
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=25,
)


def _mutated(base: dict[str, Any], path: list[str | int], value: Any) -> Any:
    node: Any = base
    for part in path[:-1]:
        if not _has(node, part):
            return base
        node = node[part]
    if isinstance(node, dict) or _has(node, path[-1]):
        node[path[-1]] = value
    return base


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and part < len(node)


paths = st.lists(
    st.sampled_from(
        [
            "rayClusterSpec",
            "headGroupSpec",
            "workerGroupSpecs",
            0,
            1,
            "template",
            "spec",
            "containers",
            "env",
            "resources",
            "limits",
            "rayStartParams",
            "minReplicas",
            "deletionStrategy",
            "runtimeEnvYAML",
            "clusterSelector",
            "shutdownAfterJobFinishes",
        ]
    ),
    min_size=1,
    max_size=7,
)


def _only_spec_errors(call: Callable[[], Any]) -> None:
    """``call`` either succeeds or raises a SpecValidationError naming its problems; nothing else."""
    errors: list[tuple[str, str]] | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call()
        except SpecValidationError as exc:
            errors = exc.errors
    if errors is not None:
        assert errors, "a SpecValidationError must name at least one problem"
        assert all(isinstance(p, str) and isinstance(r, str) for p, r in errors)


@settings(max_examples=150, deadline=None)
@given(data=json_values)
def test_arbitrary_input_raises_only_spec_validation_errors(data: Any) -> None:
    _only_spec_errors(lambda: RayClusterSpec.model_validate(data))
    _only_spec_errors(lambda: RayJobSpec.model_validate(data))
    _only_spec_errors(lambda: RayJobSpec.model_validate_json(json.dumps(data)))
    _only_spec_errors(lambda: RayClusterSpec.model_validate_json(repr(data)))
    if isinstance(data, dict):
        _only_spec_errors(lambda: RayClusterSpec(**{str(k): v for k, v in data.items()}))
        _only_spec_errors(lambda: load_rayjob(data, overrides=data))
        _only_spec_errors(
            lambda: load_raycluster({"apiVersion": "ray.io/v1", "kind": "RayCluster", "spec": data})
        )


@settings(max_examples=150, deadline=None)
@given(path=paths, value=json_values, as_overrides=st.booleans())
def test_near_valid_input_raises_only_spec_validation_errors(
    path: list[str | int], value: Any, as_overrides: bool
) -> None:
    """Mutations deep inside a valid job reach the rules (not only the shape checks)."""
    job = _job()
    if as_overrides:
        overrides = _mutated(copy.deepcopy(job), path, value)
        _only_spec_errors(lambda: load_rayjob(job, overrides=overrides))
    else:
        _only_spec_errors(lambda: RayJobSpec.model_validate(_mutated(job, path, value)))
