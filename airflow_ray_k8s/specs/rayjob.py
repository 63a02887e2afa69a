"""The RayJob spec (``ray.io/v1``), with KubeRay v1.7's validation rules mirrored client-side.

A RayJob KubeRay rejects does not fail at creation: it is accepted by the API server and then sits
in ``jobDeploymentStatus: ValidationFailed`` forever. Checking the same rules here turns that into an
immediate error in the DAG. Rules cite ``validation.go`` (KubeRay's ``ValidateRayJobSpec``) or the
CRD's own schema / CEL rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, PlainSerializer, PlainValidator

from airflow_ray_k8s.naming import MAX_RAYJOB_NAME_LENGTH
from airflow_ray_k8s.specs import text_fields
from airflow_ray_k8s.specs.base import (
    INT32_MAX,
    Advice,
    Errors,
    Int32,
    KubeModel,
    Number,
    RaySpecWarning,
    StringMap,
    join_path,
)
from airflow_ray_k8s.specs.pod import PodTemplate
from airflow_ray_k8s.specs.raycluster import NonNegInt32, RayClusterSpec
from airflow_ray_k8s.specs.toplevel import TopLevelModel

#: The clusterSelector key naming the RayCluster a RayJob runs on.
CLUSTER_SELECTOR_KEY = "ray.io/cluster"

SubmissionMode = Literal["K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"]
DeletionPolicyType = Literal["DeleteCluster", "DeleteWorkers", "DeleteSelf", "DeleteNone"]
PositiveInt32 = Annotated[int, Field(gt=0, le=INT32_MAX)]


#: ``runtimeEnvYAML``: YAML text on the wire (the author's text is sent as written), a dict in Python.
RuntimeEnv = Annotated[
    dict[str, Any],
    PlainValidator(text_fields.validate_runtime_env),
    PlainSerializer(text_fields.render_runtime_env, return_type=str),
]
#: ``entrypointResources``: JSON text on the wire (kept as written), a dict in Python; text that is not
#: a JSON object stays a string (KubeRay passes it through; the model warns).
EntrypointResources = Annotated[
    dict[str, Any] | str,
    PlainValidator(text_fields.validate_entrypoint_resources),
    PlainSerializer(text_fields.render_entrypoint_resources, return_type=str),
]


class DeletionCondition(KubeModel):
    """When a deletion rule fires.

    :param job_status: ``SUCCEEDED`` or ``FAILED`` (exclusive with ``job_deployment_status``).
    :param job_deployment_status: ``Failed`` (e.g. the job never started).
    :param ttl_seconds: seconds after the job's ``endTime``.
    """

    job_status: Literal["SUCCEEDED", "FAILED"] | None = None
    job_deployment_status: Literal["Failed"] | None = None
    ttl_seconds: NonNegInt32 | None = None


class DeletionRule(KubeModel):
    """One of ``deletionStrategy.deletionRules``.

    :param policy: ``DeleteCluster``, ``DeleteWorkers``, ``DeleteSelf`` or ``DeleteNone``.
    :param condition: when it fires.
    """

    policy: DeletionPolicyType
    condition: DeletionCondition


class DeletionPolicy(KubeModel):
    """Legacy ``deletionStrategy.onSuccess`` / ``onFailure``.

    :param policy: what to delete.
    """

    policy: DeletionPolicyType | None = None


class DeletionStrategy(KubeModel):
    """``deletionStrategy``: either ``deletion_rules`` or both legacy ``on_success`` / ``on_failure``.

    :param deletion_rules: rules with per-status TTLs (KubeRay >= 1.5).
    :param on_success: legacy policy after success.
    :param on_failure: legacy policy after failure.
    """

    deletion_rules: list[DeletionRule] | None = None
    on_success: DeletionPolicy | None = None
    on_failure: DeletionPolicy | None = None


class SubmitterConfig(KubeModel):
    """``submitterConfig``.

    :param backoff_limit: retries of the submitter Kubernetes Job.
    """

    # CRD: int32 without a minimum (a negative value only warns: rule submitter-backoff-negative).
    backoff_limit: Int32 | None = None

    def advisories(self, path: str = "") -> Advice:
        if self.backoff_limit is not None and self.backoff_limit < 0:
            return [(join_path(path, "backoff_limit"), "must be >= 0", "submitter-backoff-negative")]
        return []


class RayJobSpec(TopLevelModel):
    """The ``spec`` of a RayJob.

    Build one with :func:`airflow_ray_k8s.specs.build_rayjob`, load one with
    :func:`airflow_ray_k8s.specs.load_rayjob`, or construct it from its parts.

    :param entrypoint: the command the job runs, e.g. ``python train.py``.
    :param runtime_env: Ray runtime env as a dict (``pip``, ``working_dir``, ``env_vars``, ...) or as
        YAML text; written to ``runtimeEnvYAML`` (text as given, unchanged, a dict as YAML).
    :param job_id: the Ray job id (KubeRay generates one if unset).
    :param metadata: Ray job metadata (string map).
    :param submission_mode: ``K8sJobMode`` (default), ``HTTPMode``, ``InteractiveMode``, ``SidecarMode``.
    :param submitter_pod_template: pod template of the submitter Job (K8sJobMode).
    :param submitter_config: settings of the submitter Job.
    :param ray_cluster_spec: the cluster KubeRay creates for this job.
    :param cluster_selector: run on an existing cluster instead: ``{"ray.io/cluster": name}``.
    :param shutdown_after_job_finishes: delete the cluster when the job ends.
    :param ttl_seconds_after_finished: delay before that deletion.
    :param active_deadline_seconds: fail the job after this many seconds.
    :param pre_running_deadline_seconds: fail the job if it is not running after this many seconds.
    :param backoff_limit: retries, each with a new cluster.
    :param suspend: create the job suspended (Kueue).
    :param entrypoint_num_cpus: CPUs reserved for the driver.
    :param entrypoint_num_gpus: GPUs reserved for the driver.
    :param entrypoint_resources: custom resources reserved for the driver, as a dict or JSON text
        (text is sent as given).
    :param deletion_strategy: what to delete when, per outcome.
    :param managed_by: ``ray.io/kuberay-operator`` or ``kueue.x-k8s.io/multikueue``; immutable.
    """

    entrypoint: str | None = None
    runtime_env: RuntimeEnv | None = Field(default=None, alias="runtimeEnvYAML")
    job_id: str | None = None
    metadata: StringMap | None = None
    # CRD: a string without an enum (an unknown mode only warns: rule submission-mode-unknown).
    submission_mode: str | None = None
    submitter_pod_template: PodTemplate | None = None
    submitter_config: SubmitterConfig | None = None
    cluster_selector: dict[str, str] | None = None
    shutdown_after_job_finishes: bool | None = None
    ttl_seconds_after_finished: NonNegInt32 | None = None
    active_deadline_seconds: PositiveInt32 | None = None
    # CRD: minimum 1.
    pre_running_deadline_seconds: PositiveInt32 | None = None
    backoff_limit: NonNegInt32 | None = None
    suspend: bool | None = None
    # CRD: numbers without a minimum (rule entrypoint-amount-negative); an integer stays one.
    entrypoint_num_cpus: Number | None = None
    entrypoint_num_gpus: Number | None = None
    entrypoint_resources: EntrypointResources | None = None
    deletion_strategy: DeletionStrategy | None = None
    managed_by: Literal["ray.io/kuberay-operator", "kueue.x-k8s.io/multikueue"] | None = None
    ray_cluster_spec: RayClusterSpec | None = None

    KIND: ClassVar[str] = "RayJob"
    MAX_NAME_LENGTH: ClassVar[int] = MAX_RAYJOB_NAME_LENGTH

    @classmethod
    def mergeable(cls, spec: Any) -> Any:
        """``runtimeEnvYAML`` / ``entrypointResources`` as dicts, so an override merges into them."""
        if not isinstance(spec, Mapping):
            return spec
        out = dict(spec)
        for key, parse in (
            ("runtimeEnvYAML", text_fields.parse_runtime_env),
            ("entrypointResources", text_fields.parse_entrypoint_resources),
        ):
            if key in out:
                out[key] = text_fields.mergeable(out[key], parse)
        return out

    @property
    def mode(self) -> str:
        """The submission mode in effect (KubeRay's default is ``K8sJobMode``)."""
        return self.submission_mode or "K8sJobMode"

    @property
    def uses_cluster_selector(self) -> bool:
        """Whether the job runs on an existing cluster (KubeRay: a non-empty ``clusterSelector``)."""
        return bool(self.cluster_selector)

    def rule_errors(self, path: str = "") -> Errors:
        """KubeRay's ``ValidateRayJobSpec`` (plus CRD rules), every error at once."""
        from airflow_ray_k8s.specs import rayjob_rules as rules

        errors: Errors = []
        shutdown = bool(self.shutdown_after_job_finishes)
        selector = self.uses_cluster_selector
        if self.suspend and not shutdown:
            errors.append((join_path(path, "suspend"), "needs shutdown_after_job_finishes=True"))
        if (self.ttl_seconds_after_finished or 0) > 0 and not shutdown:
            errors.append(
                (join_path(path, "ttl_seconds_after_finished"), "needs shutdown_after_job_finishes=True")
            )
        errors.extend(rules.deletion_errors(self, path))
        if self.suspend and selector:
            errors.append((join_path(path, "suspend"), "is not supported with cluster_selector"))
        if self.ray_cluster_spec is None and not selector:
            errors.append(
                (
                    join_path(path, "ray_cluster_spec"),
                    "one of ray_cluster_spec or cluster_selector is required",
                )
            )
        if selector:
            if not (self.cluster_selector or {}).get(CLUSTER_SELECTOR_KEY):
                errors.append(
                    (
                        join_path(path, "cluster_selector", CLUSTER_SELECTOR_KEY),
                        "is required: the name of the RayCluster to run on",
                    )
                )
            if self.mode == "SidecarMode":
                errors.append(
                    (join_path(path, "submission_mode"), "SidecarMode does not support cluster_selector")
                )
            if (self.backoff_limit or 0) > 0:
                errors.append(
                    (
                        join_path(path, "backoff_limit"),
                        "must be 0 with cluster_selector (retries need a new cluster)",
                    )
                )
        if self.mode == "InteractiveMode" and (self.backoff_limit or 0) > 0:
            errors.append((join_path(path, "backoff_limit"), "must be 0 in InteractiveMode"))
        if self.mode == "SidecarMode":
            errors.extend(rules.sidecar_errors(self, path))
        if self.ray_cluster_spec is not None:
            cluster_path = join_path(path, "ray_cluster_spec")
            upgrade = self.ray_cluster_spec.upgrade_strategy
            if upgrade is not None and upgrade.type is not None:
                # ValidateRayClusterUpgradeOptions: not for a cluster a RayJob creates.
                errors.append(
                    (
                        join_path(cluster_path, "upgrade_strategy", "type"),
                        "cannot be set for a RayJob's cluster",
                    )
                )
            auth = self.ray_cluster_spec.auth_options
            if auth is not None and auth.enable_k8s_token_auth:
                errors.append(
                    (
                        join_path(cluster_path, "auth_options", "enable_k8s_token_auth"),
                        "is not supported for a RayJob",
                    )
                )
            errors.extend(self.ray_cluster_spec.rule_errors(cluster_path, self.annotations))
        return errors

    def advisories(self, path: str = "") -> Advice:
        """Rules stricter than KubeRay (see :mod:`airflow_ray_k8s.specs.advisories`): warnings only."""
        from airflow_ray_k8s.specs import rayjob_rules as rules

        advice = rules.job_advisories(self, path)
        if self.submitter_config is not None:
            advice.extend(self.submitter_config.advisories(join_path(path, "submitter_config")))
        if self.ray_cluster_spec is not None:
            advice.extend(self.ray_cluster_spec.advisories(join_path(path, "ray_cluster_spec")))
        return advice

    def rule_warnings(self) -> list[tuple[str, type[Warning]]]:
        from airflow_ray_k8s.specs.gcs_ft import legacy_ft_warning

        out: list[tuple[str, type[Warning]]] = []
        if self.uses_cluster_selector and self.ray_cluster_spec is not None:
            out.append(
                (
                    "both cluster_selector and ray_cluster_spec are set: KubeRay uses the selected "
                    "cluster and ignores ray_cluster_spec",
                    RaySpecWarning,
                )
            )
        if self.ray_cluster_spec is not None:
            has_options = self.ray_cluster_spec.gcs_fault_tolerance_options is not None
            out.extend(legacy_ft_warning(self.annotations, has_options))
        return out
