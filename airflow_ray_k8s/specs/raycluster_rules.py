"""KubeRay v1.7's cross-field rules for a RayCluster spec (``ValidateRayClusterSpec`` in
``ray-operator/controllers/ray/utils/validation.go``), collected rather than stopping at the first.

Each function returns ``(path, rule)`` pairs; paths are in the user's Python terms. Rules that depend
on the operator's feature gates (``RayJobDeletionPolicy``, ``GCSFaultToleranceEmbeddedStorage``,
``RayClusterHistoryServer``, ``RayClusterNetworkPolicy``, ``RayClusterMTLS``) are not checked: the
client cannot know how the operator was started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_ray_k8s.specs.base import Errors, join_path

if TYPE_CHECKING:
    from airflow_ray_k8s.specs.raycluster import RayClusterSpec

FT_ENABLED_ANNOTATION = "ray.io/ft-enabled"
EXTERNAL_STORAGE_NAMESPACE_ANNOTATION = "ray.io/external-storage-namespace"
AUTOSCALER_V2_ENV = "RAY_enable_autoscaler_v2"
REDIS_ADDRESS_ENV = "RAY_REDIS_ADDRESS"
REDIS_PASSWORD_ENV = "REDIS_PASSWORD"  # noqa: S105 - the variable's name, not a password
REDIS_USERNAME_ENV = "REDIS_USERNAME"
AUTOSCALER_START_CMD_ENV = "KUBERAY_GEN_AUTOSCALER_START_CMD"
#: Oldest Ray versions KubeRay accepts for these features.
MIN_RAY_FOR_TOKEN_AUTH = (2, 52, 0)
MIN_RAY_FOR_K8S_TOKEN_AUTH = (2, 55, 0)
MIN_RAY_FOR_GROUP_PRIORITY = (2, 56, 0)


def _head_env_path(path: str) -> str:
    return join_path(path, "head_group", "template", "spec", "containers", 0, "env")


def gcs_ft_errors(spec: RayClusterSpec, path: str, annotations: dict[str, str]) -> Errors:
    """GCS fault tolerance: the struct versus the legacy annotation, env vars and start params."""
    errors: Errors = []
    options = spec.gcs_fault_tolerance_options
    options_path = join_path(path, "gcs_fault_tolerance_options")
    params = spec.head_group.ray_start_params or {}
    env_path = _head_env_path(path)
    if annotations.get(FT_ENABLED_ANNOTATION, "") and options is not None:
        errors.append(
            (
                options_path,
                f"cannot be combined with the {FT_ENABLED_ANNOTATION} annotation; remove the "
                "annotation (see airflow_ray_k8s.specs.migrate_gcs_ft_annotation)",
            )
        )
    if not spec.gcs_ft_enabled(annotations) and spec.head_env(REDIS_ADDRESS_ENV) is not None:
        errors.append(
            (
                env_path,
                f"{REDIS_ADDRESS_ENV} implicitly enables GCS fault tolerance; set "
                "gcs_fault_tolerance_options.redis_address instead",
            )
        )
    if options is not None:
        if params.get("redis-password"):
            errors.append(
                (
                    join_path(path, "head_group", "ray_start_params", "redis-password"),
                    "cannot be set with gcs_fault_tolerance_options; use its redis_password",
                )
            )
        for env, field in ((REDIS_PASSWORD_ENV, "redis_password"), (REDIS_ADDRESS_ENV, "redis_address")):
            if spec.head_env(env) is not None:
                errors.append(
                    (env_path, f"{env} cannot be set with gcs_fault_tolerance_options; use its {field}")
                )
        if annotations.get(EXTERNAL_STORAGE_NAMESPACE_ANNOTATION, ""):
            errors.append(
                (
                    f'metadata.annotations["{EXTERNAL_STORAGE_NAMESPACE_ANNOTATION}"]',
                    "cannot be set with gcs_fault_tolerance_options; use its external_storage_namespace",
                )
            )
        errors.extend(_gcs_backend_errors(spec, options_path))
    if params.get("redis-username"):
        errors.append(
            (
                join_path(path, "head_group", "ray_start_params", "redis-username"),
                "is not supported; use gcs_fault_tolerance_options.redis_username",
            )
        )
    if spec.head_env(REDIS_USERNAME_ENV) is not None:
        errors.append(
            (
                env_path,
                f"{REDIS_USERNAME_ENV} is not supported; use gcs_fault_tolerance_options.redis_username",
            )
        )
    return errors


def _gcs_backend_errors(spec: RayClusterSpec, options_path: str) -> Errors:
    """``validateGcsFaultToleranceBackend``: redis-only fields vs the embedded RocksDB backend."""
    options = spec.gcs_fault_tolerance_options
    assert options is not None
    errors: Errors = []
    storage = options.storage or {}
    if options.backend == "rocksdb":
        for field in ("redis_address", "redis_username", "redis_password", "external_storage_namespace"):
            if getattr(options, field):
                errors.append((join_path(options_path, field), "cannot be set with backend 'rocksdb'"))
        if storage.get("claimName") and any(
            storage.get(k) for k in ("size", "storageClassName", "accessModes")
        ):
            errors.append(
                (
                    join_path(options_path, "storage", "claimName"),
                    "is mutually exclusive with size, storageClassName and accessModes",
                )
            )
    elif options.storage is not None:
        errors.append((join_path(options_path, "storage"), "only applies to backend 'rocksdb'"))
    return errors


def autoscaling_errors(spec: RayClusterSpec, path: str) -> Errors:
    """Autoscaler v1 / v2 consistency, suspended groups, per-group idle timeout and priority."""
    errors: Errors = []
    env_path = _head_env_path(path)
    groups = spec.worker_groups or []
    v2_var = spec.head_env(AUTOSCALER_V2_ENV)
    if not spec.autoscaling_enabled and spec.autoscaler_v2_by_env:
        errors.append(
            (
                env_path,
                f"{AUTOSCALER_V2_ENV}={v2_var.value if v2_var else ''} needs enable_in_tree_autoscaling=True",
            )
        )
    if spec.autoscaling_enabled:
        for index, group in enumerate(groups):
            if group.suspend:
                errors.append(
                    (
                        join_path(path, "worker_groups", index, "suspend"),
                        "a worker group cannot be suspended with autoscaling enabled",
                    )
                )
        options = spec.autoscaler_options
        if options is not None and options.version is not None and v2_var is not None:
            errors.append(
                (
                    join_path(path, "autoscaler_options", "version"),
                    f"cannot be set together with the head env var {AUTOSCALER_V2_ENV}; use only the former",
                )
            )
        if spec.autoscaler_v2:
            templates = [(join_path(path, "head_group"), spec.head_group.template)] + [
                (join_path(path, "worker_groups", i), g.template) for i, g in enumerate(groups)
            ]
            for group_path, template in templates:
                if template.restart_policy not in (None, "", "Never"):
                    errors.append(
                        (
                            join_path(group_path, "template", "spec", "restart_policy"),
                            "must be Never or unset with autoscaler v2",
                        )
                    )
    if spec.autoscaler_options is not None and any(
        var.name == AUTOSCALER_START_CMD_ENV for var in spec.autoscaler_options.env or ()
    ):
        errors.append(
            (
                join_path(path, "autoscaler_options", "env"),
                f"must not set {AUTOSCALER_START_CMD_ENV} (KubeRay sets it)",
            )
        )
    v2 = spec.autoscaler_v2 or spec.autoscaler_v2_by_env
    for index, group in enumerate(groups):
        group_path = join_path(path, "worker_groups", index)
        if group.idle_timeout_seconds is not None and not v2:
            # validateWorkerGroupIdleTimeout
            errors.append(
                (
                    join_path(group_path, "idle_timeout_seconds"),
                    "needs autoscaler v2 (autoscaler_options.version='v2')",
                )
            )
        if group.priority:
            # validateWorkerGroupPriority
            errors.extend(
                (join_path(group_path, "priority"), rule)
                for rule in _version_rules(spec.ray_version, MIN_RAY_FOR_GROUP_PRIORITY, "priority")
            )
            if not v2:
                errors.append(
                    (
                        join_path(group_path, "priority"),
                        "needs autoscaler v2 (autoscaler_options.version='v2')",
                    )
                )
    return errors


def auth_errors(spec: RayClusterSpec, path: str) -> Errors:
    """Token authentication: Ray versions, and Kubernetes token auth's own conditions."""
    options = spec.auth_options
    if options is None:
        return []
    errors: Errors = []
    k8s_auth_path = join_path(path, "auth_options", "enable_k8s_token_auth")
    if options.mode == "token":
        errors.extend(
            (join_path(path, "ray_version"), rule)
            for rule in _version_rules(spec.ray_version, MIN_RAY_FOR_TOKEN_AUTH, "auth_options.mode='token'")
        )
        if options.enable_k8s_token_auth:
            if not errors:
                errors.extend(
                    (join_path(path, "ray_version"), rule)
                    for rule in _version_rules(
                        spec.ray_version, MIN_RAY_FOR_K8S_TOKEN_AUTH, "enable_k8s_token_auth"
                    )
                )
            if options.secret_name:
                errors.append((k8s_auth_path, "cannot be combined with auth_options.secret_name"))
    elif options.enable_k8s_token_auth:
        errors.append((k8s_auth_path, "needs auth_options.mode='token'"))
    return errors


def optional_feature_errors(spec: RayClusterSpec, path: str) -> Errors:
    """KubeRay 1.7's history server and NetworkPolicy options (their shape rules, not their gates)."""
    from airflow_ray_k8s.naming import dns1123_label_errors

    errors: Errors = []
    history = spec.history_server_options
    if history is not None:
        collector = history.get("collectorOptions")
        where = join_path(path, "history_server_options", "collectorOptions")
        if not isinstance(collector, dict):
            errors.append((where, "is required"))
        elif not collector.get("image"):
            errors.append((join_path(where, "image"), "is required"))
    policy = spec.network_policy
    if policy is None:
        return errors
    policy_path = join_path(path, "network_policy")
    mode = policy.get("mode") or "DenyAll"
    group_names = set()
    for index, group in enumerate(spec.worker_groups or []):
        group_names.add(group.group_name)
        errors.extend(
            (join_path(path, "worker_groups", index, "group_name"), f"with network_policy set, {rule}")
            for rule in dns1123_label_errors(group.group_name)
        )
    scopes: list[tuple[str, Any]] = [("head", policy.get("head")), ("worker", policy.get("worker"))]
    for index, entry in enumerate(policy.get("workerGroups") or []):
        scopes.append((f"workerGroups[{index}]", entry))
        name = entry.get("groupName") if isinstance(entry, dict) else None
        if name not in group_names:
            errors.append(
                (f"{policy_path}.workerGroups[{index}].groupName", f"'{name}' matches no worker group")
            )
    for scope, rules in scopes:
        if not isinstance(rules, dict):
            continue
        if mode == "DenyAllEgress" and rules.get("ingressRules"):
            errors.append((f"{policy_path}.{scope}.ingressRules", "cannot be set with mode DenyAllEgress"))
        if mode == "DenyAllIngress" and rules.get("egressRules"):
            errors.append((f"{policy_path}.{scope}.egressRules", "cannot be set with mode DenyAllIngress"))
    return errors


def _version_rules(version: str | None, minimum: tuple[int, int, int], feature: str) -> list[str]:
    """Why ``version`` does not satisfy ``minimum`` for ``feature`` (KubeRay's ParseGeneric check)."""
    from airflow_ray_k8s.specs.raycluster import parse_ray_version

    wanted = ".".join(map(str, minimum))
    if not version:
        return [f"is required with {feature} (Ray >= {wanted})"]
    parsed = parse_ray_version(version)
    if parsed is None:
        return [f"'{version}' is not a version (needed by {feature})"]
    if parsed < minimum:
        return [f"must be >= {wanted} with {feature} (got {version})"]
    return []
