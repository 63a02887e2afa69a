"""The RayCluster spec (``ray.io/v1``), with KubeRay v1.7's validation rules mirrored client-side.

Rules cite their source: ``validation.go`` is KubeRay's
``ray-operator/controllers/ray/utils/validation.go`` (``ValidateRayClusterSpec``); ``webhook`` is
its RayCluster validating webhook; ``CRD`` is a rule the v1.7.0 CRD schema itself enforces.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field

from airflow_ray_k8s.naming import MAX_RAYCLUSTER_NAME_LENGTH
from airflow_ray_k8s.specs.base import (
    INT32_MAX,
    Advice,
    Errors,
    Int32,
    KubeModel,
    RaySpecWarning,
    StringMap,
    join_path,
    label_errors,
)
from airflow_ray_k8s.specs.pod import EnvVar, PodTemplate
from airflow_ray_k8s.specs.raycluster_rules import AUTOSCALER_V2_ENV, FT_ENABLED_ANNOTATION
from airflow_ray_k8s.specs.toplevel import TopLevelModel

#: rayStartParams keys that declare resources; they conflict with a group's ``resources`` map.
_RAY_START_RESOURCE_KEYS = ("num-cpus", "num-gpus", "memory", "resources")

NonNegInt32 = Annotated[int, Field(ge=0, le=INT32_MAX)]


class SecretValue(KubeModel):
    """A value given literally or by reference (``redisPassword``, ``redisUsername``).

    :param value: the literal value.
    :param value_from: a Kubernetes ``valueFrom`` source, e.g. ``{"secretKeyRef": {...}}``.
    """

    value: str | None = None
    value_from: dict[str, Any] | None = None


class GcsFaultToleranceOptions(KubeModel):
    """``gcsFaultToleranceOptions``: the GCS keeps its state outside the head pod.

    :param backend: ``redis`` (default) or ``rocksdb``.
    :param redis_address: ``host:port`` of the Redis that holds the GCS state.
    :param redis_username: Redis user (literal or ``valueFrom``).
    :param redis_password: Redis password (literal or ``valueFrom``, e.g. a Secret).
    :param external_storage_namespace: key prefix in Redis; defaults to the cluster's uid.
    :param storage: persistent-volume settings for the ``rocksdb`` backend.
    """

    backend: Literal["redis", "rocksdb"] | None = None
    redis_address: str | None = None
    redis_username: SecretValue | None = None
    redis_password: SecretValue | None = None
    external_storage_namespace: str | None = None
    storage: dict[str, Any] | None = None


class AutoscalerOptions(KubeModel):
    """``autoscalerOptions``: the in-tree autoscaler sidecar.

    :param upscaling_mode: ``Default``, ``Aggressive`` or ``Conservative``.
    :param idle_timeout_seconds: seconds a worker may idle before it is removed.
    :param version: ``v1`` or ``v2`` (v2 needs head and worker ``restartPolicy`` ``Never``).
    :param image: autoscaler image (defaults to the head's).
    :param image_pull_policy: its pull policy.
    :param env: its environment.
    :param resources: its resource requests / limits.
    """

    upscaling_mode: Literal["Default", "Aggressive", "Conservative"] | None = None
    idle_timeout_seconds: NonNegInt32 | None = None
    version: Literal["v1", "v2"] | None = None
    image: str | None = None
    image_pull_policy: str | None = None
    env: list[EnvVar] | None = None
    resources: dict[str, Any] | None = None


class AuthOptions(KubeModel):
    """``authOptions``: token authentication of the Ray dashboard / GCS (Ray >= 2.52).

    :param mode: ``disabled`` or ``token``.
    :param secret_name: Secret holding the token (KubeRay creates one if unset).
    :param enable_k8s_token_auth: accept Kubernetes service-account tokens too.
    """

    mode: Literal["disabled", "token"] | None = None
    secret_name: str | None = None
    # to_camel would say "enableK8STokenAuth".
    enable_k8s_token_auth: bool | None = Field(default=None, alias="enableK8sTokenAuth")


class UpgradeStrategy(KubeModel):
    """``upgradeStrategy``: what KubeRay does when the pod templates change.

    :param type: ``Recreate`` or ``None``.
    """

    type: Literal["Recreate", "None"] | None = None


class ScaleStrategy(KubeModel):
    """``scaleStrategy``: pods the autoscaler asks KubeRay to remove.

    :param workers_to_delete: pod names.
    """

    workers_to_delete: list[str] | None = None


class _GroupSpec(KubeModel):
    # Fields shared by both kinds of group are declared in each subclass, so that the manifest
    # reads in the usual order (name and sizes first, the pod template last).
    if TYPE_CHECKING:
        template: PodTemplate
        ray_start_params: dict[str, str] | None
        labels: dict[str, str] | None
        resources: dict[str, str] | None

    def _group_errors(self, path: str, group: str) -> Errors:
        errors: Errors = []
        template_path = join_path(path, "template")
        if not self.template.containers:
            # validation.go: "headGroupSpec should have at least one container"
            errors.append((join_path(template_path, "spec", "containers"), "needs at least one container"))
        params = self.ray_start_params or {}
        if self.resources and any(params.get(key) for key in _RAY_START_RESOURCE_KEYS):
            # validation.go validateRayGroupResources
            errors.append(
                (
                    join_path(path, "resources"),
                    f"cannot be set together with num-cpus / num-gpus / memory / resources in "
                    f"ray_start_params of the {group} group; use only one",
                )
            )
        if "labels" in params:
            # validation.go validateRayGroupLabels
            errors.append(
                (join_path(path, "ray_start_params", "labels"), "is not supported; use the group's labels")
            )
        errors.extend(label_errors(self.labels, join_path(path, "labels")))
        return errors


class HeadGroupSpec(_GroupSpec):
    """``headGroupSpec``: the head pod.

    :param template: the head pod template (Ray runs in its first container).
    :param ray_start_params: ``ray start`` options, e.g. ``{"dashboard-host": "0.0.0.0"}``.
    :param service_type: type of the head service (``ClusterIP`` by default).
    :param head_service: a Service to use as the head service (template).
    :param enable_ingress: create an Ingress for the dashboard.
    :param labels: Ray node labels of the head (Ray >= 2.49).
    :param resources: Ray resources of the head, e.g. ``{"CPU": "0"}``.
    """

    ray_start_params: StringMap | None = None
    service_type: str | None = None
    head_service: dict[str, Any] | None = None
    enable_ingress: bool | None = None
    labels: dict[str, str] | None = None
    resources: StringMap | None = None
    template: PodTemplate

    def rule_errors(self, path: str = "") -> Errors:
        return self._group_errors(path, "head")


class WorkerGroupSpec(_GroupSpec):
    """One entry of ``workerGroupSpecs``.

    :param group_name: unique name of the group (``ray.io/group`` label of its pods).
    :param template: the worker pod template.
    :param replicas: desired workers (the autoscaler changes it when autoscaling is on).
    :param min_replicas: lower bound for the autoscaler.
    :param max_replicas: upper bound for the autoscaler.
    :param num_of_hosts: hosts per replica (multi-host TPU slices); 1 otherwise.
    :param idle_timeout_seconds: per-group idle timeout (autoscaler v2).
    :param suspend: delete the group's pods while keeping the group.
    :param ray_start_params: ``ray start`` options of the group's workers.
    :param scale_strategy: workers the autoscaler wants removed.
    :param labels: Ray node labels of the group.
    :param resources: Ray resources of the group.
    :param priority: scheduling priority among groups (Ray >= 2.56).
    """

    group_name: str
    # CRD: int32 without a minimum; KubeRay clamps it into [min, max] (rule replicas-out-of-range).
    replicas: Int32 | None = None
    min_replicas: NonNegInt32 | None = None
    max_replicas: NonNegInt32 | None = None
    # CRD: int32 without a minimum (rule num-of-hosts-below-one).
    num_of_hosts: Int32 | None = None
    idle_timeout_seconds: NonNegInt32 | None = None
    suspend: bool | None = None
    scale_strategy: ScaleStrategy | None = None
    priority: Int32 | None = None
    ray_start_params: StringMap | None = None
    labels: dict[str, str] | None = None
    resources: StringMap | None = None
    template: PodTemplate

    def rule_errors(self, path: str = "") -> Errors:
        errors = self._group_errors(path, f"'{self.group_name}' worker")
        low = 0 if self.min_replicas is None else self.min_replicas
        high = INT32_MAX if self.max_replicas is None else self.max_replicas
        if low > high:
            # validation.go: "worker group %s has minReplicas %d greater than maxReplicas %d"
            errors.append((join_path(path, "min_replicas"), f"must be <= max_replicas ({high})"))
        return errors

    def advisories(self, path: str = "") -> Advice:
        from airflow_ray_k8s.naming import label_value_errors

        advice = self.template.advisories(join_path(path, "template"))
        # The group name becomes the ``ray.io/group`` label of its pods and part of their names.
        name_path = join_path(path, "group_name")
        if not self.group_name:
            advice.append((name_path, "must not be empty", "group-name-not-label"))
        advice.extend(
            (name_path, f"is used as a label value and {rule}", "group-name-not-label")
            for rule in label_value_errors(self.group_name)
        )
        low = 0 if self.min_replicas is None else self.min_replicas
        high = INT32_MAX if self.max_replicas is None else self.max_replicas
        if self.replicas is not None and low <= high and not low <= self.replicas <= high:
            advice.append(
                (
                    join_path(path, "replicas"),
                    f"must be between min_replicas ({low}) and max_replicas ({high})",
                    "replicas-out-of-range",
                )
            )
        if self.num_of_hosts is not None and self.num_of_hosts < 1:
            advice.append((join_path(path, "num_of_hosts"), "must be >= 1", "num-of-hosts-below-one"))
        return advice


class RayClusterSpec(TopLevelModel):
    """The ``spec`` of a RayCluster (also a RayJob's ``rayClusterSpec``).

    Build one with :func:`airflow_ray_k8s.specs.build_raycluster`, load one with
    :func:`airflow_ray_k8s.specs.load_raycluster`, or construct it from its parts.

    :param head_group: ``headGroupSpec``.
    :param worker_groups: ``workerGroupSpecs``.
    :param ray_version: the Ray version of the image (KubeRay adapts to it).
    :param enable_in_tree_autoscaling: run the Ray autoscaler beside the head.
    :param autoscaler_options: the autoscaler's settings.
    :param gcs_fault_tolerance_options: keep GCS state outside the head (Redis / RocksDB).
    :param auth_options: token authentication (Ray >= 2.52).
    :param suspend: delete all pods while keeping the cluster.
    :param head_service_annotations: annotations of the head service.
    :param upgrade_strategy: ``Recreate`` or ``None`` on template changes.
    :param managed_by: controller that reconciles the cluster (``ray.io/kuberay-operator`` or
        ``kueue.x-k8s.io/multikueue``); immutable.
    :param history_server_options: KubeRay 1.7 history server collector (feature-gated).
    :param network_policy: KubeRay 1.7 NetworkPolicies for the cluster (feature-gated).
    :param tls_options: KubeRay 1.7 mTLS between Ray nodes (feature-gated).
    """

    ray_version: str | None = None
    enable_in_tree_autoscaling: bool | None = None
    autoscaler_options: AutoscalerOptions | None = None
    gcs_fault_tolerance_options: GcsFaultToleranceOptions | None = None
    auth_options: AuthOptions | None = None
    suspend: bool | None = None
    head_service_annotations: dict[str, str] | None = None
    upgrade_strategy: UpgradeStrategy | None = None
    # CRD: CEL rule on managedBy.
    managed_by: Literal["ray.io/kuberay-operator", "kueue.x-k8s.io/multikueue"] | None = None
    # KubeRay 1.7 options: passed through; only the rules below read them.
    history_server_options: dict[str, Any] | None = None
    network_policy: dict[str, Any] | None = None
    tls_options: dict[str, Any] | None = None
    head_group: HeadGroupSpec = Field(alias="headGroupSpec")
    worker_groups: list[WorkerGroupSpec] | None = Field(default=None, alias="workerGroupSpecs")

    KIND: ClassVar[str] = "RayCluster"
    MAX_NAME_LENGTH: ClassVar[int] = MAX_RAYCLUSTER_NAME_LENGTH

    # --- derived facts (the helpers KubeRay's rules use) --------------------------------------------

    @property
    def autoscaling_enabled(self) -> bool:
        """``IsAutoscalingEnabled``."""
        return bool(self.enable_in_tree_autoscaling)

    @property
    def autoscaler_v2(self) -> bool:
        """``IsAutoscalingV2Enabled``: ``autoscaler_options.version`` says ``v2``."""
        return self.autoscaler_options is not None and self.autoscaler_options.version == "v2"

    @property
    def autoscaler_v2_by_env(self) -> bool:
        """The head sets ``RAY_enable_autoscaler_v2`` to ``1`` / ``true`` (the pre-1.4 switch)."""
        var = self._head_env(AUTOSCALER_V2_ENV)
        return var is not None and var.value in ("1", "true")

    def gcs_ft_enabled(self, annotations: dict[str, str] | None = None) -> bool:
        """``IsGCSFaultToleranceEnabled``: the struct is set, or the old annotation says ``true``."""
        annotations = self.annotations if annotations is None else annotations
        legacy = annotations.get(FT_ENABLED_ANNOTATION, "").lower() == "true"
        return self.gcs_fault_tolerance_options is not None or legacy

    def head_env(self, name: str) -> EnvVar | None:
        """The head's Ray container's env var ``name``, if set."""
        return self._head_env(name)

    def _head_env(self, name: str) -> EnvVar | None:
        container = self.head_group.template.ray_container
        return container.env_var(name) if container is not None else None

    # --- rules ------------------------------------------------------------------------------------------

    def rule_errors(self, path: str = "", annotations: dict[str, str] | None = None) -> Errors:
        """KubeRay's ``ValidateRayClusterSpec`` (plus webhook and CRD rules), every error at once."""
        annotations = self.annotations if annotations is None else annotations
        head_path = join_path(path, "head_group")
        errors = self.head_group.rule_errors(head_path)
        groups = self.worker_groups or []
        for index, group in enumerate(groups):
            errors.extend(group.rule_errors(join_path(path, "worker_groups", index)))
        if not self.head_group.template.containers:
            return errors  # the remaining rules read the head container
        from airflow_ray_k8s.specs import raycluster_rules as rules

        errors.extend(rules.gcs_ft_errors(self, path, annotations))
        errors.extend(rules.autoscaling_errors(self, path))
        errors.extend(rules.auth_errors(self, path))
        errors.extend(rules.optional_feature_errors(self, path))
        return errors

    def advisories(self, path: str = "") -> Advice:
        """Rules stricter than KubeRay (see :mod:`airflow_ray_k8s.specs.advisories`): warnings only."""
        advice = self.head_group.template.advisories(join_path(path, "head_group", "template"))
        seen: dict[str, int] = {}
        for index, group in enumerate(self.worker_groups or []):
            group_path = join_path(path, "worker_groups", index)
            advice.extend(group.advisories(group_path))
            if group.group_name in seen:
                # Only KubeRay's optional webhook: "worker group names must be unique".
                advice.append(
                    (
                        join_path(group_path, "group_name"),
                        f"must be unique ('{group.group_name}' is also "
                        f"worker_groups[{seen[group.group_name]}])",
                        "group-name-duplicate",
                    )
                )
            seen.setdefault(group.group_name, index)
        return advice

    def rule_warnings(self) -> list[tuple[str, type[Warning]]]:
        from airflow_ray_k8s.specs.gcs_ft import legacy_ft_warning

        out = legacy_ft_warning(self.annotations, self.gcs_fault_tolerance_options is not None)
        mismatched = self._images_not_matching_ray_version()
        if mismatched:
            out.append(
                (
                    f"ray_version is {self.ray_version} but {', '.join(mismatched)} runs another Ray "
                    "version; KubeRay picks features by ray_version, so keep the two equal",
                    RaySpecWarning,
                )
            )
        return out

    def _images_not_matching_ray_version(self) -> list[str]:
        """Official Ray images (``rayproject/ray:<version>...``) whose tag says another version."""
        wanted = parse_ray_version(self.ray_version or "")
        if wanted is None:
            return []
        images = [self.head_group.template.ray_container] + [
            group.template.ray_container for group in self.worker_groups or []
        ]
        mismatched = []
        for container in images:
            image = container.image if container is not None else None
            match = _OFFICIAL_IMAGE.search(image or "")
            if image and match and parse_ray_version(match.group(1)) != wanted:
                mismatched.append(image)
        return sorted(set(mismatched))


# rayproject/ray, rayproject/ray-ml, rayproject/ray-llm (any registry mirror), tag "<x.y.z>[-...]".
_OFFICIAL_IMAGE = re.compile(r"(?:^|/)rayproject/ray(?:-ml|-llm)?:(\d+\.\d+\.\d+)")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_ray_version(text: str) -> tuple[int, int, int] | None:
    """``"2.52.0"`` -> ``(2, 52, 0)``, tolerant like KubeRay's ``version.ParseGeneric``; else None."""
    match = _VERSION.match(text.strip())
    if match is None:
        return None
    major, minor, patch = (int(part) if part else 0 for part in match.groups())
    return (major, minor, patch)
