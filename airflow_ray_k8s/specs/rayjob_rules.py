"""KubeRay v1.7's cross-field rules for a RayJob spec (``ValidateRayJobSpec`` and
``validateDeletionConfiguration`` in ``ray-operator/controllers/ray/utils/validation.go``, plus the
CEL rules of the CRD's ``deletionStrategy``), collected rather than stopping at the first.

The ``RayJobDeletionPolicy`` feature gate is not checked: the client cannot know how the operator
was started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, get_args

from airflow_ray_k8s.specs.base import Advice, Errors, join_path

if TYPE_CHECKING:
    from airflow_ray_k8s.specs.rayjob import RayJobSpec

# Order in which deletion policies must fire for one status (validateTTLConsistency).
_TTL_ORDER = ("DeleteWorkers", "DeleteCluster", "DeleteSelf")


def sidecar_errors(job: RayJobSpec, path: str) -> Errors:
    """SidecarMode: no submitter pod or config, head restartPolicy Never or unset."""
    errors: Errors = []
    if job.submitter_pod_template is not None:
        errors.append((join_path(path, "submitter_pod_template"), "is not supported in SidecarMode"))
    if job.submitter_config is not None:
        errors.append((join_path(path, "submitter_config"), "is not supported in SidecarMode"))
    if job.ray_cluster_spec is not None:
        policy = job.ray_cluster_spec.head_group.template.restart_policy
        if policy not in (None, "", "Never"):
            errors.append(
                (
                    join_path(path, "ray_cluster_spec", "head_group", "template", "spec", "restart_policy"),
                    "must be Never or unset in SidecarMode",
                )
            )
    return errors


def job_advisories(job: RayJobSpec, path: str) -> Advice:
    """The RayJob's own rules that are stricter than KubeRay (each only warns; see ``advisories``)."""
    from airflow_ray_k8s.specs.rayjob import SubmissionMode
    from airflow_ray_k8s.specs.text_fields import entrypoint_resources_problems

    advice: Advice = []
    template = job.submitter_pod_template
    template_path = join_path(path, "submitter_pod_template")
    if job.submission_mode is not None and job.submission_mode not in get_args(SubmissionMode):
        advice.append(
            (
                join_path(path, "submission_mode"),
                f"'{job.submission_mode}' is not one of {', '.join(get_args(SubmissionMode))}",
                "submission-mode-unknown",
            )
        )
    if not (job.entrypoint or "").strip() and _needs_entrypoint(job):
        advice.append((join_path(path, "entrypoint"), f"is empty in {job.mode}", "entrypoint-empty"))
    if template is not None:
        advice.extend(template.advisories(template_path))
        if not template.containers and job.mode != "SidecarMode":
            advice.append(
                (
                    join_path(template_path, "spec", "containers"),
                    "needs at least one container (the submitter)",
                    "submitter-without-container",
                )
            )
    for name in ("entrypoint_num_cpus", "entrypoint_num_gpus"):
        amount = getattr(job, name)
        if amount is not None and amount < 0:
            advice.append((join_path(path, name), "must be >= 0", "entrypoint-amount-negative"))
    if job.entrypoint_resources is not None:
        where = join_path(path, "entrypoint_resources")
        advice.extend(
            (where if key is None else join_path(where, key), problem, "entrypoint-resources-not-json")
            for key, problem in entrypoint_resources_problems(job.entrypoint_resources)
        )
    return advice


def _needs_entrypoint(job: RayJobSpec) -> bool:
    """Whether KubeRay would submit ``entrypoint`` as the job's command (see ``getSubmitterTemplate``)."""
    if job.mode == "InteractiveMode":
        return False  # the entrypoint comes later, from the user (the job waits in Waiting)
    template = job.submitter_pod_template
    if job.mode == "K8sJobMode" and template is not None and template.containers:
        # KubeRay keeps the submitter container's own command and builds one only when it has none.
        return not template.containers[0].command
    return True


def deletion_errors(job: RayJobSpec, path: str) -> Errors:
    """``validateDeletionConfiguration``: deletion rules or both legacy policies, never both."""
    strategy = job.deletion_strategy
    if strategy is None:
        return []
    where = join_path(path, "deletion_strategy")
    legacy = strategy.on_success is not None or strategy.on_failure is not None
    if strategy.deletion_rules is not None and not strategy.deletion_rules:
        return [(join_path(where, "deletion_rules"), "must not be empty")]  # CRD: minItems 1
    rules = bool(strategy.deletion_rules)
    errors: Errors = []
    if rules and job.shutdown_after_job_finishes:
        errors.append(
            (
                join_path(where, "deletion_rules"),
                "cannot be combined with shutdown_after_job_finishes=True",
            )
        )
    if rules and legacy:
        errors.append((where, "cannot combine on_success / on_failure with deletion_rules"))
    elif legacy:
        errors.extend(_legacy_deletion_errors(job, where))
    elif rules:
        errors.extend(_deletion_rule_errors(job, where))
    else:
        errors.append((where, "needs both on_success and on_failure, or deletion_rules"))
    return errors


def _autoscaling(job: RayJobSpec) -> bool:
    return job.ray_cluster_spec is not None and job.ray_cluster_spec.autoscaling_enabled


def _legacy_deletion_errors(job: RayJobSpec, where: str) -> Errors:
    """``validateLegacyDeletionPolicies``."""
    strategy = job.deletion_strategy
    assert strategy is not None
    errors: Errors = []
    policies: dict[str, str] = {}
    for name, item in (("on_success", strategy.on_success), ("on_failure", strategy.on_failure)):
        if item is None:
            errors.append((join_path(where, name), "is required when the other legacy policy is set"))
        elif item.policy is None:
            errors.append((join_path(where, name, "policy"), "is required"))
        else:
            policies[name] = item.policy
    for name, policy in policies.items():
        if job.uses_cluster_selector and policy in ("DeleteCluster", "DeleteWorkers"):
            errors.append(
                (join_path(where, name, "policy"), f"{policy} is not supported with cluster_selector")
            )
        if policy == "DeleteWorkers" and _autoscaling(job):
            errors.append(
                (join_path(where, name, "policy"), "DeleteWorkers is not supported with autoscaling")
            )
        if policy == "DeleteNone" and job.shutdown_after_job_finishes:
            errors.append(
                (
                    join_path(where, name, "policy"),
                    "DeleteNone contradicts shutdown_after_job_finishes=True",
                )
            )
    return errors


def _deletion_rule_errors(job: RayJobSpec, where: str) -> Errors:
    """``validateDeletionRules`` and ``validateTTLConsistency`` (plus the condition's CEL rules)."""
    strategy = job.deletion_strategy
    assert strategy is not None
    errors: Errors = []
    by_status: dict[str, dict[str, int]] = {}
    for index, rule in enumerate(strategy.deletion_rules or []):
        rule_path = join_path(where, "deletion_rules", index)
        condition = rule.condition
        if (condition.job_status is None) == (condition.job_deployment_status is None):
            # CRD CEL rules on the condition.
            errors.append(
                (
                    join_path(rule_path, "condition"),
                    "needs exactly one of job_status or job_deployment_status",
                )
            )
            continue
        if job.uses_cluster_selector and rule.policy in ("DeleteCluster", "DeleteWorkers"):
            errors.append(
                (join_path(rule_path, "policy"), f"{rule.policy} is not supported with cluster_selector")
            )
            continue
        if rule.policy == "DeleteWorkers" and _autoscaling(job):
            errors.append((join_path(rule_path, "policy"), "DeleteWorkers is not supported with autoscaling"))
            continue
        status = condition.job_status or f"deployment {condition.job_deployment_status}"
        ttls = by_status.setdefault(status, {})
        if rule.policy in ttls:
            errors.append((rule_path, f"duplicate rule for policy {rule.policy} and status {status}"))
            continue
        ttls[rule.policy] = condition.ttl_seconds or 0
    for status, ttls in by_status.items():
        previous: tuple[str, int] | None = None
        for policy in _TTL_ORDER:
            if policy not in ttls:
                continue
            if previous is not None and ttls[policy] < previous[1]:
                errors.append(
                    (
                        join_path(where, "deletion_rules"),
                        f"for {status}: the {policy} TTL ({ttls[policy]}) must be >= the "
                        f"{previous[0]} TTL ({previous[1]})",
                    )
                )
            previous = (policy, ttls[policy])
    return errors
