"""One table of RayJobs that each break exactly one of KubeRay v1.7's validation rules.

It drives both the pure-function test of ``validation.validate_rayjob``
(test_controller_validation.py) and the end-to-end test that creates every one of them through the
official client and expects ``jobDeploymentStatus: ValidationFailed`` (test_controller_scripted.py).
Every name is therefore a name the API server accepts (a DNS-1123 subdomain); the name rules use
names KubeRay rejects but the API server does not (``9abc``: DNS-1123, not DNS-1035; 48 characters).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

IMAGE = "rayproject/ray:2.60.0"
HEAD_CONTAINER = {"name": "ray-head", "image": IMAGE}
WORKER_GROUP = {
    "groupName": "small",
    "replicas": 1,
    "minReplicas": 0,
    "maxReplicas": 2,
    "template": {"spec": {"containers": [{"name": "ray-worker", "image": IMAGE}]}},
}


def cluster_spec(
    head: dict[str, Any] | None = None, worker: dict[str, Any] | None = None, **changes: Any
) -> dict[str, Any]:
    """A valid ``rayClusterSpec`` (head + one worker group) with changes; a change of None drops a key."""
    spec: dict[str, Any] = {
        "rayVersion": "2.60.0",
        "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [HEAD_CONTAINER]}}},
        "workerGroupSpecs": [WORKER_GROUP],
    }
    spec = copy.deepcopy(spec)
    spec["headGroupSpec"].update(copy.deepcopy(head or {}))
    spec["workerGroupSpecs"][0].update(copy.deepcopy(worker or {}))
    for key, value in changes.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = copy.deepcopy(value)
    return spec


def head_with(env: dict[str, str] | None = None, **pod_spec: Any) -> dict[str, Any]:
    """A ``headGroupSpec`` update whose pod template has these env vars / pod spec fields."""
    container: dict[str, Any] = dict(HEAD_CONTAINER)
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {"template": {"spec": {"containers": [container], **pod_spec}}}


def rayjob_spec(**overrides: Any) -> dict[str, Any]:
    """A valid RayJob spec with its own cluster, with overrides."""
    spec: dict[str, Any] = {
        "entrypoint": "python -c 'print(42)'",
        "submissionMode": "HTTPMode",
        "rayClusterSpec": cluster_spec(),
    }
    spec.update(copy.deepcopy(overrides))
    return spec


def selector_spec(**overrides: Any) -> dict[str, Any]:
    """A valid RayJob spec on an existing cluster (``clusterSelector``), with overrides."""
    spec: dict[str, Any] = {"entrypoint": "x", "clusterSelector": {"ray.io/cluster": "c"}}
    spec.update(copy.deepcopy(overrides))
    return spec


def _rules(*rules: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"deletionRules": [{"policy": policy, "condition": condition} for policy, condition in rules]}


def _legacy(on_success: dict[str, Any] | None, on_failure: dict[str, Any] | None) -> dict[str, Any]:
    strategy: dict[str, Any] = {}
    if on_success is not None:
        strategy["onSuccess"] = on_success
    if on_failure is not None:
        strategy["onFailure"] = on_failure
    return strategy


FT = {"redisAddress": "redis:6379"}
AUTOSCALING = cluster_spec(enableInTreeAutoscaling=True)


@dataclass(frozen=True)
class InvalidRayJob:
    """A RayJob named ``name`` that breaks one rule; ``expected`` is part of KubeRay's message."""

    name: str
    spec: dict[str, Any]
    expected: str
    annotations: dict[str, str] = field(default_factory=dict)
    # The CRD's structural schema already refuses it (422 naming this field), so the API server never
    # stores it and the operator's rule is reached only by an object written past the schema.
    schema_field: str | None = None

    def body(self) -> dict[str, Any]:
        """The RayJob object (what the client sends, and what ``validate_rayjob`` reads)."""
        return {
            "apiVersion": "ray.io/v1",
            "kind": "RayJob",
            "metadata": {"name": self.name, "annotations": dict(self.annotations)},
            "spec": copy.deepcopy(self.spec),
        }


INVALID_RAYJOBS: list[InvalidRayJob] = [
    # --- metadata ---------------------------------------------------------------------------------
    InvalidRayJob("a" * 48, rayjob_spec(), "no more than 47 characters"),
    InvalidRayJob("9abc", rayjob_spec(), "valid DNS1035 label"),
    # --- deletion: shutdownAfterJobFinishes / TTL -------------------------------------------------
    InvalidRayJob("ttl-without-shutdown", rayjob_spec(ttlSecondsAfterFinished=10), "cannot have TTLSeconds"),
    InvalidRayJob(
        "negative-ttl",
        rayjob_spec(shutdownAfterJobFinishes=True, ttlSecondsAfterFinished=-1),
        "TTLSecondsAfterFinished must be a non-negative integer",
    ),
    InvalidRayJob("empty-deletion-strategy", rayjob_spec(deletionStrategy={}), "requires either BOTH"),
    # --- deletion: legacy onSuccess / onFailure ---------------------------------------------------
    InvalidRayJob(
        "legacy-and-rules",
        rayjob_spec(
            deletionStrategy={
                **_legacy({"policy": "DeleteCluster"}, {"policy": "DeleteCluster"}),
                **_rules(("DeleteSelf", {"jobStatus": "FAILED"})),
            }
        ),
        "Cannot use both legacy onSuccess/onFailure fields and deletionRules",
    ),
    InvalidRayJob(
        "legacy-half",
        rayjob_spec(deletionStrategy=_legacy({"policy": "DeleteCluster"}, None)),
        "OnSuccess and DeletionStrategy.OnFailure must be set",
    ),
    InvalidRayJob(
        "legacy-success-unset",
        rayjob_spec(deletionStrategy=_legacy({}, {"policy": "DeleteCluster"})),
        "DeletionStrategy.OnSuccess cannot be unset",
    ),
    InvalidRayJob(
        "legacy-failure-unset",
        rayjob_spec(deletionStrategy=_legacy({"policy": "DeleteCluster"}, {})),
        "DeletionStrategy.OnFailure cannot be unset",
    ),
    InvalidRayJob(
        "legacy-selector",
        selector_spec(deletionStrategy=_legacy({"policy": "DeleteCluster"}, {"policy": "DeleteNone"})),
        "ClusterSelector mode doesn't support DeletionStrategy=DeleteCluster on success",
    ),
    InvalidRayJob(
        "legacy-workers-autoscaling",
        rayjob_spec(
            rayClusterSpec=AUTOSCALING,
            deletionStrategy=_legacy({"policy": "DeleteWorkers"}, {"policy": "DeleteNone"}),
        ),
        "DeleteWorkers currently does not support RayCluster with autoscaling enabled",
    ),
    InvalidRayJob(
        "legacy-shutdown-delete-none",
        rayjob_spec(
            shutdownAfterJobFinishes=True,
            deletionStrategy=_legacy({"policy": "DeleteNone"}, {"policy": "DeleteCluster"}),
        ),
        "deletion policy is 'DeleteNone'",
    ),
    # --- deletion: deletionRules ------------------------------------------------------------------
    InvalidRayJob(
        "rules-and-shutdown",
        rayjob_spec(
            shutdownAfterJobFinishes=True,
            deletionStrategy=_rules(("DeleteCluster", {"jobStatus": "SUCCEEDED"})),
        ),
        "mutually exclusive",
    ),
    InvalidRayJob(
        "ttl-order",
        rayjob_spec(
            deletionStrategy=_rules(
                ("DeleteCluster", {"jobStatus": "SUCCEEDED", "ttlSeconds": 10}),
                ("DeleteWorkers", {"jobStatus": "SUCCEEDED", "ttlSeconds": 20}),
            )
        ),
        "DeleteCluster TTL (10) must be >= DeleteWorkers TTL (20)",
    ),
    InvalidRayJob(
        "ttl-order-self",
        rayjob_spec(
            deletionStrategy=_rules(
                ("DeleteSelf", {"jobDeploymentStatus": "Failed", "ttlSeconds": 5}),
                ("DeleteCluster", {"jobDeploymentStatus": "Failed", "ttlSeconds": 10}),
            )
        ),
        "DeleteSelf TTL (5) must be >= DeleteCluster TTL (10)",
    ),
    InvalidRayJob(
        "rule-without-condition",
        rayjob_spec(deletionStrategy=_rules(("DeleteSelf", {"ttlSeconds": 5}))),
        "exactly one of jobStatus and jobDeploymentStatus must be set",
    ),
    InvalidRayJob(
        "rule-with-both-conditions",
        rayjob_spec(
            deletionStrategy=_rules(("DeleteSelf", {"jobStatus": "FAILED", "jobDeploymentStatus": "Failed"}))
        ),
        "exactly one of jobStatus and jobDeploymentStatus must be set",
    ),
    InvalidRayJob(
        "rule-negative-ttl",
        rayjob_spec(deletionStrategy=_rules(("DeleteCluster", {"jobStatus": "FAILED", "ttlSeconds": -1}))),
        "TTLSeconds must be non-negative",
        schema_field="spec.deletionStrategy.deletionRules[0].condition.ttlSeconds",
    ),
    InvalidRayJob(
        "rule-selector",
        selector_spec(deletionStrategy=_rules(("DeleteCluster", {"jobStatus": "FAILED"}))),
        "'DeleteCluster' not supported when ClusterSelector is set",
    ),
    InvalidRayJob(
        "rule-workers-autoscaling",
        rayjob_spec(
            rayClusterSpec=AUTOSCALING, deletionStrategy=_rules(("DeleteWorkers", {"jobStatus": "FAILED"}))
        ),
        "'DeleteWorkers' not supported with autoscaling enabled",
    ),
    InvalidRayJob(
        "rule-duplicate",
        rayjob_spec(
            deletionStrategy=_rules(
                ("DeleteSelf", {"jobStatus": "FAILED"}),
                ("DeleteSelf", {"jobStatus": "FAILED", "ttlSeconds": 5}),
            )
        ),
        "duplicate rule for DeletionPolicyType 'DeleteSelf'",
    ),
    # --- suspend, cluster selection, submission modes ---------------------------------------------
    InvalidRayJob("suspend-without-shutdown", rayjob_spec(suspend=True), "not allowed to be suspended"),
    InvalidRayJob(
        "suspend-with-selector",
        selector_spec(suspend=True, shutdownAfterJobFinishes=True),
        "doesn't support the suspend operation",
    ),
    InvalidRayJob("no-cluster", {"entrypoint": "x"}, "one of RayClusterSpec or ClusterSelector must be set"),
    InvalidRayJob("selector-without-key", selector_spec(clusterSelector={"app": "c"}), "should not be empty"),
    InvalidRayJob(
        "selector-sidecar", selector_spec(submissionMode="SidecarMode"), "not supported in SidecarMode"
    ),
    InvalidRayJob(
        "selector-backoff", selector_spec(backoffLimit=1), "BackoffLimit is incompatible with ClusterSelector"
    ),
    InvalidRayJob(
        "interactive-backoff",
        rayjob_spec(submissionMode="InteractiveMode", backoffLimit=1),
        "BackoffLimit is incompatible with InteractiveMode",
    ),
    InvalidRayJob(
        "sidecar-template",
        rayjob_spec(submissionMode="SidecarMode", submitterPodTemplate={}),
        "SubmitterPodTemplate",
    ),
    InvalidRayJob(
        "sidecar-config",
        rayjob_spec(submissionMode="SidecarMode", submitterConfig={"backoffLimit": 1}),
        "SubmitterConfig",
    ),
    InvalidRayJob(
        "sidecar-restart-policy",
        rayjob_spec(
            submissionMode="SidecarMode", rayClusterSpec=cluster_spec(head=head_with(restartPolicy="Always"))
        ),
        "restartPolicy for head Pod should be Never or unset when using SidecarMode",
    ),
    # --- the RayCluster spec ----------------------------------------------------------------------
    InvalidRayJob(
        "no-head-container",
        rayjob_spec(rayClusterSpec={"headGroupSpec": {"template": {"spec": {"containers": []}}}}),
        "headGroupSpec should have at least one container",
    ),
    InvalidRayJob(
        "no-worker-container",
        rayjob_spec(rayClusterSpec=cluster_spec(worker={"template": {"spec": {"containers": []}}})),
        "workerGroupSpec should have at least one container",
    ),
    InvalidRayJob(
        "min-over-max",
        rayjob_spec(rayClusterSpec=cluster_spec(worker={"minReplicas": 3, "maxReplicas": 2})),
        "has minReplicas 3 greater than maxReplicas 2",
    ),
    InvalidRayJob(
        "resources-twice",
        rayjob_spec(
            rayClusterSpec=cluster_spec(head={"rayStartParams": {"num-cpus": "1"}, "resources": {"CPU": "1"}})
        ),
        "should not be set in both rayStartParams and Resources",
    ),
    InvalidRayJob(
        "start-param-labels",
        rayjob_spec(rayClusterSpec=cluster_spec(worker={"rayStartParams": {"labels": "a=b"}})),
        "rayStartParams['labels'] is not supported for small group",
    ),
    InvalidRayJob(
        "bad-label-key",
        rayjob_spec(rayClusterSpec=cluster_spec(head={"labels": {"bad key!": "v"}})),
        "invalid label key",
    ),
    InvalidRayJob(
        "bad-label-value",
        rayjob_spec(rayClusterSpec=cluster_spec(head={"labels": {"zone": "not a value!"}})),
        "invalid label value",
    ),
    InvalidRayJob(
        "autoscaler-suspended-group",
        rayjob_spec(rayClusterSpec=cluster_spec(worker={"suspend": True}, enableInTreeAutoscaling=True)),
        "cannot be suspended with Autoscaler enabled",
    ),
    # --- GCS fault tolerance ----------------------------------------------------------------------
    InvalidRayJob(
        "ft-annotation-and-options",
        rayjob_spec(rayClusterSpec=cluster_spec(gcsFaultToleranceOptions=FT)),
        "ray.io/ft-enabled annotation and GcsFaultToleranceOptions are both set",
        {"ray.io/ft-enabled": "true"},
    ),
    InvalidRayJob(
        "redis-address-without-ft",
        rayjob_spec(rayClusterSpec=cluster_spec(head=head_with({"RAY_REDIS_ADDRESS": "redis:6379"}))),
        "RAY_REDIS_ADDRESS is set which implicitly enables GCS fault tolerance",
    ),
    InvalidRayJob(
        "ft-redis-password-param",
        rayjob_spec(
            rayClusterSpec=cluster_spec(
                head={"rayStartParams": {"redis-password": "x"}}, gcsFaultToleranceOptions=FT
            )
        ),
        "cannot set `redis-password` in rayStartParams",
    ),
    InvalidRayJob(
        "ft-redis-password-env",
        rayjob_spec(
            rayClusterSpec=cluster_spec(head=head_with({"REDIS_PASSWORD": "x"}), gcsFaultToleranceOptions=FT)
        ),
        "cannot set `REDIS_PASSWORD` env var",
    ),
    InvalidRayJob(
        "ft-redis-address-env",
        rayjob_spec(
            rayClusterSpec=cluster_spec(
                head=head_with({"RAY_REDIS_ADDRESS": "redis:6379"}), gcsFaultToleranceOptions=FT
            )
        ),
        "cannot set `RAY_REDIS_ADDRESS` env var",
    ),
    InvalidRayJob(
        "ft-external-storage-annotation",
        rayjob_spec(rayClusterSpec=cluster_spec(gcsFaultToleranceOptions=FT)),
        "cannot set `ray.io/external-storage-namespace` annotation",
        {"ray.io/external-storage-namespace": "ns"},
    ),
    InvalidRayJob(
        "redis-username-param",
        rayjob_spec(rayClusterSpec=cluster_spec(head={"rayStartParams": {"redis-username": "x"}})),
        "cannot set redis username",
    ),
    InvalidRayJob(
        "redis-username-env",
        rayjob_spec(rayClusterSpec=cluster_spec(head=head_with({"REDIS_USERNAME": "x"}))),
        "cannot set redis username",
    ),
    # --- token authentication ---------------------------------------------------------------------
    InvalidRayJob(
        "token-auth-no-version",
        rayjob_spec(rayClusterSpec=cluster_spec(authOptions={"mode": "token"}, rayVersion=None)),
        "RayVersion was not specified",
    ),
    InvalidRayJob(
        "token-auth-bad-version",
        rayjob_spec(rayClusterSpec=cluster_spec(authOptions={"mode": "token"}, rayVersion="latest")),
        "RayVersion format is invalid",
    ),
    InvalidRayJob(
        "token-auth-old-ray",
        rayjob_spec(rayClusterSpec=cluster_spec(authOptions={"mode": "token"}, rayVersion="2.50.0")),
        "minimum Ray version is 2.52.0, got 2.50.0",
    ),
    # --- runtime env, deadlines, retries ----------------------------------------------------------
    InvalidRayJob(
        "bad-runtime-env", rayjob_spec(runtimeEnvYAML="pip: [unclosed"), "failed to unmarshal RuntimeEnvYAML"
    ),
    InvalidRayJob("runtime-env-not-mapping", rayjob_spec(runtimeEnvYAML="- a list"), "not a mapping"),
    InvalidRayJob(
        "bad-deadline",
        rayjob_spec(activeDeadlineSeconds=0),
        "activeDeadlineSeconds must be a positive integer",
    ),
    InvalidRayJob(
        "negative-backoff", rayjob_spec(backoffLimit=-1), "backoffLimit must be a positive integer"
    ),
    InvalidRayJob(
        "negative-pre-running-deadline",
        rayjob_spec(preRunningDeadlineSeconds=-1),
        "preRunningDeadlineSeconds must be a non-negative integer",
        schema_field="spec.preRunningDeadlineSeconds",
    ),
]
