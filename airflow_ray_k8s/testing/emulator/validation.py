"""KubeRay v1.7's own RayJob / RayCluster validation, as the emulated operator applies it.

Mirrors ``ray-operator/controllers/ray/utils/validation.go`` (``ValidateRayJobMetadata``,
``ValidateRayJobSpec``, ``validateDeletionConfiguration``, ``validateDeletionRules``,
``ValidateRayClusterSpec``) and the summary in ../shared/kuberay/FACTS.md. Messages follow the
operator's wording so that a user sees here what a real cluster would show in ``status.message``.

Deliberately independent of the provider's client-side validators in ``airflow_ray_k8s/specs``: the
emulator plays the server, and a bug shared by both sides would otherwise go unnoticed.
"""

# The operator's messages stay whole on one line each, so they can be grepped for in KubeRay's sources.
# ruff: noqa: E501

from __future__ import annotations

import re
from typing import Any

import yaml

# 63 - len("-serve-svc") == 53 for a RayCluster; a RayJob's cluster name adds "-xxxxx" (6 chars).
MAX_RAYCLUSTER_NAME_LENGTH = 53
MAX_RAYJOB_NAME_LENGTH = MAX_RAYCLUSTER_NAME_LENGTH - 6
CLUSTER_SELECTOR_KEY = "ray.io/cluster"
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DELETION_ORDER = ("DeleteWorkers", "DeleteCluster", "DeleteSelf")
_INVALID = "The RayJob spec is invalid: "


class ValidationError(ValueError):
    """One broken rule; ``str()`` is the message KubeRay writes into ``status.message``."""


#: The operator's feature gates as KubeRay's Helm chart sets them (v1.6+): ``RayJobDeletionPolicy``
#: on. The operator binary's own default is off (alpha), so a deployment without the chart's values
#: rejects every ``deletionStrategy``; the client cannot know which one it talks to.
DEFAULT_FEATURE_GATES: dict[str, bool] = {"RayJobDeletionPolicy": True}


def validate_rayjob(rayjob: dict[str, Any], feature_gates: dict[str, bool] | None = None) -> str | None:
    """The message of the first rule a RayJob breaks, or None if it is valid.

    :param feature_gates: the operator's gates (default :data:`DEFAULT_FEATURE_GATES`).
    """
    gates = {**DEFAULT_FEATURE_GATES, **(feature_gates or {})}
    try:
        _validate_rayjob_metadata(rayjob.get("metadata") or {})
        _validate_rayjob_spec(rayjob, gates)
        _validate_rayjob_status(rayjob)
    except ValidationError as exc:
        return str(exc)
    return None


def validate_raycluster(raycluster: dict[str, Any]) -> str | None:
    """The message of the first rule a standalone RayCluster breaks, or None."""
    metadata = raycluster.get("metadata") or {}
    name = str(metadata.get("name", ""))
    try:
        if len(name) > MAX_RAYCLUSTER_NAME_LENGTH:
            raise ValidationError(
                f"RayCluster name should be no more than {MAX_RAYCLUSTER_NAME_LENGTH} characters"
            )
        if not _DNS1035.match(name):
            raise ValidationError(f"RayCluster name should be a valid DNS1035 label: {name!r}")
        validate_raycluster_spec(raycluster.get("spec") or {}, metadata.get("annotations") or {})
    except ValidationError as exc:
        return str(exc)
    return None


MAX_RAYSERVICE_NAME_LENGTH = MAX_RAYCLUSTER_NAME_LENGTH - 6
_SERVICE_INVALID = "The RayService spec is invalid: "


def validate_rayservice(
    rayservice: dict[str, Any], feature_gates: dict[str, bool] | None = None
) -> str | None:
    """The message of the first rule a RayService breaks (``ValidateRayServiceMetadata`` /
    ``ValidateRayServiceSpec`` of KubeRay v1.6.2), or None."""
    gates = {**DEFAULT_FEATURE_GATES, **(feature_gates or {})}
    metadata = rayservice.get("metadata") or {}
    name = str(metadata.get("name", ""))
    spec = rayservice.get("spec") or {}
    cluster = spec.get("rayClusterConfig") or {}
    try:
        if len(name) > MAX_RAYSERVICE_NAME_LENGTH:
            raise ValidationError(
                f"The RayService metadata is invalid: RayService name should be no more than {MAX_RAYSERVICE_NAME_LENGTH} characters"
            )
        if not _DNS1035.match(name):
            raise ValidationError(
                "The RayService metadata is invalid: RayService name should be a valid DNS1035 label"
            )
        if (cluster.get("authOptions") or {}).get("enableK8sTokenAuth"):
            raise ValidationError(
                _SERVICE_INVALID + "K8s token auth mode is currently not supported for RayService"
            )
        try:
            validate_raycluster_spec(cluster, metadata.get("annotations") or {})
        except ValidationError as exc:
            raise ValidationError(_SERVICE_INVALID + str(exc)) from None
        head_service = (cluster.get("headGroupSpec") or {}).get("headService") or {}
        if (head_service.get("metadata") or {}).get("name"):
            raise ValidationError(
                _SERVICE_INVALID
                + "spec.rayClusterConfig.headGroupSpec.headService.metadata.name should not be set"
            )
        upgrade = spec.get("upgradeStrategy") or {}
        kind = upgrade.get("type")
        if kind is not None and kind not in ("NewClusterWithIncrementalUpgrade", "NewCluster", "None"):
            raise ValidationError(
                _SERVICE_INVALID
                + f"Spec.UpgradeStrategy.Type value {kind} is invalid, valid options are NewClusterWithIncrementalUpgrade, NewCluster, or None"
            )
        delay = spec.get("rayClusterDeletionDelaySeconds")
        if delay is not None and int(delay) < 0:
            raise ValidationError(
                _SERVICE_INVALID
                + f"Spec.RayClusterDeletionDelaySeconds should be a non-negative integer, got {delay}"
            )
        if kind == "NewClusterWithIncrementalUpgrade" and gates.get("RayServiceIncrementalUpgrade"):
            if not _autoscaling(cluster):
                raise ValidationError(
                    _SERVICE_INVALID + "Ray Autoscaler is required for NewClusterWithIncrementalUpgrade"
                )
            if not upgrade.get("clusterUpgradeOptions"):
                raise ValidationError(
                    _SERVICE_INVALID
                    + "ClusterUpgradeOptions are required for NewClusterWithIncrementalUpgrade"
                )
    except ValidationError as exc:
        return str(exc)
    return None


def _validate_rayjob_metadata(metadata: dict[str, Any]) -> None:
    name = str(metadata.get("name", ""))
    if len(name) > MAX_RAYJOB_NAME_LENGTH:
        raise ValidationError(
            f"The RayJob metadata is invalid: RayJob name should be no more than {MAX_RAYJOB_NAME_LENGTH} characters"
        )
    if not _DNS1035.match(name):
        raise ValidationError(
            "The RayJob metadata is invalid: RayJob name should be a valid DNS1035 label: "
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
            "alphabetic character, and end with an alphanumeric character"
        )


def _validate_rayjob_status(rayjob: dict[str, Any]) -> None:
    status = rayjob.get("status") or {}
    mode = (rayjob.get("spec") or {}).get("submissionMode") or "K8sJobMode"
    if status.get("jobDeploymentStatus") == "Waiting" and mode != "InteractiveMode":
        raise ValidationError(
            "The RayJob status is invalid: JobDeploymentStatus cannot be `Waiting` when SubmissionMode "
            "is not InteractiveMode"
        )


def _validate_rayjob_spec(rayjob: dict[str, Any], gates: dict[str, bool]) -> None:
    spec = rayjob.get("spec") or {}
    annotations = (rayjob.get("metadata") or {}).get("annotations") or {}
    shutdown = bool(spec.get("shutdownAfterJobFinishes"))
    suspend = bool(spec.get("suspend"))
    ttl = int(spec.get("ttlSecondsAfterFinished") or 0)
    selector = spec.get("clusterSelector") or {}
    mode = spec.get("submissionMode") or "K8sJobMode"
    backoff = spec.get("backoffLimit")
    cluster_spec = spec.get("rayClusterSpec")

    if suspend and not shutdown:
        raise ValidationError(
            _INVALID + "a RayJob with shutdownAfterJobFinishes set to false is not allowed to be suspended"
        )
    if ttl < 0:
        raise ValidationError(_INVALID + "TTLSecondsAfterFinished must be a non-negative integer")
    _validate_deletion_configuration(spec, gates)
    if suspend and selector:
        raise ValidationError(_INVALID + "the ClusterSelector mode doesn't support the suspend operation")
    if cluster_spec is None and not selector:
        raise ValidationError(_INVALID + "one of RayClusterSpec or ClusterSelector must be set")
    if selector:
        if not selector.get(CLUSTER_SELECTOR_KEY):
            raise ValidationError("cluster name in ClusterSelector should not be empty")
        if mode == "SidecarMode":
            raise ValidationError("ClusterSelector is not supported in SidecarMode")
        # Retries create a new cluster each time, which an existing cluster cannot be (FACTS.md).
        if backoff is not None and int(backoff) > 0:
            raise ValidationError(_INVALID + "BackoffLimit is incompatible with ClusterSelector")
    if mode == "InteractiveMode" and backoff is not None and int(backoff) > 0:
        raise ValidationError(_INVALID + "BackoffLimit is incompatible with InteractiveMode")
    if mode == "SidecarMode":
        if spec.get("submitterPodTemplate") is not None:
            raise ValidationError("Currently, SidecarMode doesn't support SubmitterPodTemplate")
        if spec.get("submitterConfig") is not None:
            raise ValidationError("Currently, SidecarMode doesn't support SubmitterConfig")
        restart = _pod_spec((cluster_spec or {}).get("headGroupSpec") or {}).get("restartPolicy")
        if restart not in (None, "", "Never"):
            raise ValidationError(
                "restartPolicy for head Pod should be Never or unset when using SidecarMode"
            )
    if cluster_spec is not None:
        try:
            validate_raycluster_spec(cluster_spec, annotations)
        except ValidationError as exc:
            raise ValidationError(_INVALID + str(exc)) from exc
    runtime_env = spec.get("runtimeEnvYAML")
    if runtime_env:
        try:
            parsed = yaml.safe_load(runtime_env)
        except yaml.YAMLError as exc:
            raise ValidationError(f"failed to unmarshal RuntimeEnvYAML: {runtime_env}: {exc}") from exc
        if parsed is not None and not isinstance(parsed, dict):
            raise ValidationError(f"failed to unmarshal RuntimeEnvYAML: {runtime_env}: not a mapping")
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and int(deadline) <= 0:
        raise ValidationError(_INVALID + "activeDeadlineSeconds must be a positive integer")
    if backoff is not None and int(backoff) < 0:
        raise ValidationError(_INVALID + "backoffLimit must be a positive integer")
    pre_running = spec.get("preRunningDeadlineSeconds")
    if pre_running is not None and int(pre_running) < 0:
        raise ValidationError(_INVALID + "preRunningDeadlineSeconds must be a non-negative integer")


def _validate_deletion_configuration(spec: dict[str, Any], gates: dict[str, bool]) -> None:
    shutdown = bool(spec.get("shutdownAfterJobFinishes"))
    if not shutdown and int(spec.get("ttlSecondsAfterFinished") or 0) > 0:
        raise ValidationError(
            _INVALID
            + "a RayJob with shutdownAfterJobFinishes set to false cannot have TTLSecondsAfterFinished"
        )
    strategy = spec.get("deletionStrategy")
    if strategy is None:
        return
    if not gates.get("RayJobDeletionPolicy"):
        raise ValidationError(
            _INVALID + "RayJobDeletionPolicy feature gate must be enabled to use DeletionStrategy"
        )
    legacy = strategy.get("onSuccess") is not None or strategy.get("onFailure") is not None
    rules = strategy.get("deletionRules") or []
    if rules and shutdown:
        raise ValidationError(
            _INVALID
            + "spec.shutdownAfterJobFinishes and spec.deletionStrategy.deletionRules are mutually exclusive"
        )
    if rules and legacy:
        raise ValidationError(
            _INVALID + "Cannot use both legacy onSuccess/onFailure fields and deletionRules simultaneously"
        )
    if legacy:
        _validate_legacy_deletion(spec, strategy)
    elif rules:
        _validate_deletion_rules(spec, rules)
    else:
        raise ValidationError(
            _INVALID + "DeletionStrategy requires either BOTH onSuccess and onFailure, OR the deletionRules "
            "field (cannot be empty)"
        )


def _validate_legacy_deletion(spec: dict[str, Any], strategy: dict[str, Any]) -> None:
    on_success, on_failure = strategy.get("onSuccess"), strategy.get("onFailure")
    if on_success is None or on_failure is None:
        raise ValidationError(
            "both DeletionStrategy.OnSuccess and DeletionStrategy.OnFailure must be set when using the legacy "
            "deletion policy fields of DeletionStrategy"
        )
    success, failure = on_success.get("policy"), on_failure.get("policy")
    if success is None:
        raise ValidationError(
            "the DeletionPolicyType field of DeletionStrategy.OnSuccess cannot be unset when DeletionStrategy is enabled"
        )
    if failure is None:
        raise ValidationError(
            "the DeletionPolicyType field of DeletionStrategy.OnFailure cannot be unset when DeletionStrategy is enabled"
        )
    if spec.get("clusterSelector"):
        for policy, when in ((success, "success"), (failure, "failure")):
            if policy in ("DeleteCluster", "DeleteWorkers"):
                raise ValidationError(
                    f"the ClusterSelector mode doesn't support DeletionStrategy={policy} on {when}"
                )
    if "DeleteWorkers" in (success, failure) and _autoscaling(spec.get("rayClusterSpec")):
        raise ValidationError(
            "DeletionStrategy=DeleteWorkers currently does not support RayCluster with autoscaling enabled"
        )
    if spec.get("shutdownAfterJobFinishes") and "DeleteNone" in (success, failure):
        raise ValidationError(
            _INVALID + "shutdownAfterJobFinshes is set to 'true' while deletion policy is 'DeleteNone'"
        )


def _validate_deletion_rules(spec: dict[str, Any], rules: list[dict[str, Any]]) -> None:
    errors: list[str] = []
    by_condition: dict[str, dict[str, int]] = {}
    selector = bool(spec.get("clusterSelector"))
    for i, rule in enumerate(rules):
        policy = str(rule.get("policy", ""))
        condition = rule.get("condition") or {}
        ttl = int(condition.get("ttlSeconds") or 0)
        job_status, deployment_status = condition.get("jobStatus"), condition.get("jobDeploymentStatus")
        if (job_status is None) == (deployment_status is None):
            errors.append(f"deletionRules[{i}]: exactly one of jobStatus and jobDeploymentStatus must be set")
            continue
        if ttl < 0:
            errors.append(f"deletionRules[{i}]: TTLSeconds must be non-negative")
            continue
        if selector and policy in ("DeleteCluster", "DeleteWorkers"):
            errors.append(
                f"deletionRules[{i}]: DeletionPolicyType '{policy}' not supported when ClusterSelector is set"
            )
            continue
        if policy == "DeleteWorkers" and _autoscaling(spec.get("rayClusterSpec")):
            errors.append(
                f"deletionRules[{i}]: DeletionPolicyType 'DeleteWorkers' not supported with autoscaling enabled"
            )
            continue
        key = (
            f"JobStatus '{job_status}'"
            if job_status is not None
            else f"JobDeploymentStatus '{deployment_status}'"
        )
        ttls = by_condition.setdefault(key, {})
        if policy in ttls:
            errors.append(f"deletionRules[{i}]: duplicate rule for DeletionPolicyType '{policy}' and {key}")
            continue
        ttls[policy] = ttl
    for key, ttls in by_condition.items():
        previous: tuple[str, int] | None = None
        for policy in _DELETION_ORDER:
            if policy not in ttls:
                continue
            if previous is not None and ttls[policy] < previous[1]:
                errors.append(
                    f"for {key}: {policy} TTL ({ttls[policy]}) must be >= {previous[0]} TTL ({previous[1]})"
                )
            previous = (policy, ttls[policy])
    if errors:
        raise ValidationError("\n".join(errors))


def _pod_spec(group: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = (group.get("template") or {}).get("spec") or {}
    return spec


def _containers(group: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = _pod_spec(group).get("containers") or []
    return containers


def _env_names(container: dict[str, Any]) -> set[str]:
    return {str(env.get("name")) for env in container.get("env") or []}


def _autoscaling(cluster_spec: dict[str, Any] | None) -> bool:
    return bool((cluster_spec or {}).get("enableInTreeAutoscaling"))


def validate_raycluster_spec(spec: dict[str, Any], annotations: dict[str, str]) -> None:
    """``ValidateRayClusterSpec``: raises :class:`ValidationError` for the first broken rule."""
    head = spec.get("headGroupSpec") or {}
    if not _containers(head):
        raise ValidationError("headGroupSpec should have at least one container")
    _validate_group("Head", head)
    for group in spec.get("workerGroupSpecs") or []:
        if not _containers(group):
            raise ValidationError("workerGroupSpec should have at least one container")
        _validate_group(str(group.get("groupName", "")), group)
        minimum, maximum = group.get("minReplicas"), group.get("maxReplicas")
        if minimum is not None and maximum is not None and int(minimum) > int(maximum):
            raise ValidationError(
                f"worker group {group.get('groupName')} has minReplicas {minimum} greater than maxReplicas {maximum}"
            )
    ft_options = spec.get("gcsFaultToleranceOptions")
    if annotations.get("ray.io/ft-enabled") and ft_options is not None:
        raise ValidationError(
            "ray.io/ft-enabled annotation and GcsFaultToleranceOptions are both set. Please use only "
            "GcsFaultToleranceOptions to configure GCS fault tolerance"
        )
    head_container = _containers(head)[0]
    head_env = _env_names(head_container)
    params = head.get("rayStartParams") or {}
    ft_enabled = ft_options is not None or str(annotations.get("ray.io/ft-enabled", "")).lower() == "true"
    if not ft_enabled and "RAY_REDIS_ADDRESS" in head_env:
        raise ValidationError(
            "RAY_REDIS_ADDRESS is set which implicitly enables GCS fault tolerance, but GcsFaultToleranceOptions "
            "is not set. Please set GcsFaultToleranceOptions to enable GCS fault tolerance"
        )
    if ft_options is not None:
        if params.get("redis-password"):
            raise ValidationError(
                "cannot set `redis-password` in rayStartParams when GcsFaultToleranceOptions is enabled - use "
                "GcsFaultToleranceOptions.RedisPassword instead"
            )
        if "REDIS_PASSWORD" in head_env:
            raise ValidationError(
                "cannot set `REDIS_PASSWORD` env var in head Pod when GcsFaultToleranceOptions is enabled - use "
                "GcsFaultToleranceOptions.RedisPassword instead"
            )
        if "RAY_REDIS_ADDRESS" in head_env:
            raise ValidationError(
                "cannot set `RAY_REDIS_ADDRESS` env var in head Pod when GcsFaultToleranceOptions is enabled - use "
                "GcsFaultToleranceOptions.RedisAddress instead"
            )
        if annotations.get("ray.io/external-storage-namespace"):
            raise ValidationError(
                "cannot set `ray.io/external-storage-namespace` annotation when GcsFaultToleranceOptions is "
                "enabled - use GcsFaultToleranceOptions.ExternalStorageNamespace instead"
            )
    if params.get("redis-username") or "REDIS_USERNAME" in head_env:
        raise ValidationError(
            "cannot set redis username in rayStartParams or environment variables - use "
            "GcsFaultToleranceOptions.RedisUsername instead"
        )
    if _autoscaling(spec):
        for group in spec.get("workerGroupSpecs") or []:
            if group.get("suspend"):
                raise ValidationError(
                    f"worker group {group.get('groupName')} cannot be suspended with Autoscaler enabled"
                )
    auth = spec.get("authOptions") or {}
    if auth.get("mode") == "token":
        _validate_token_auth_version(str(spec.get("rayVersion") or ""))


def _validate_group(name: str, group: dict[str, Any]) -> None:
    params = group.get("rayStartParams") or {}
    resources = group.get("resources") or {}
    if any(params.get(key) for key in ("num-cpus", "num-gpus", "memory", "resources")) and resources:
        raise ValidationError(
            f"resource fields should not be set in both rayStartParams and Resources for {name} group; "
            "please use only one"
        )
    if "labels" in params:
        raise ValidationError(
            f"rayStartParams['labels'] is not supported for {name} group; please use the top-level Labels field instead"
        )
    for key, value in (group.get("labels") or {}).items():
        prefix, _, short = str(key).rpartition("/")
        if (prefix and not _DNS1123_SUBDOMAIN.match(prefix)) or not short or len(short) > 63:
            raise ValidationError(f"invalid label key for {name} group: '{key}'")
        if not _LABEL_NAME.match(short):
            raise ValidationError(f"invalid label key for {name} group: '{key}'")
        if len(str(value)) > 63 or not _LABEL_VALUE.match(str(value)):
            raise ValidationError(f"invalid label value for key '{key}' in {name} group: '{value}'")


def _validate_token_auth_version(version: str) -> None:
    if not version:
        raise ValidationError(
            "authOptions.mode is 'token' but RayVersion was not specified. Ray version 2.52.0 or later is required"
        )
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", version)
    if not match:
        raise ValidationError(f"authOptions.mode is 'token' but RayVersion format is invalid: {version}")
    parts = tuple(int(part or 0) for part in match.groups())
    if parts < (2, 52, 0):
        raise ValidationError(f"authOptions.mode is 'token' but minimum Ray version is 2.52.0, got {version}")
