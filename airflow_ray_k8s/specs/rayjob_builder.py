"""The concise RayJob builder: an entrypoint and a few arguments in, a checked spec out.

As in :mod:`airflow_ray_k8s.specs.builders`, every argument is checked first and a bad one is a
:class:`~airflow_ray_k8s.exceptions.SpecValidationError` naming it; a list argument also takes a
single item (``pip="numpy"`` is one package).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, get_args

from airflow_ray_k8s.exceptions import SpecValidationError
from airflow_ray_k8s.specs import arguments as arg
from airflow_ray_k8s.specs.base import Errors, data_errors, join_path
from airflow_ray_k8s.specs.builders import build_raycluster, check_extra_spec, merge_extra_spec
from airflow_ray_k8s.specs.raycluster import RayClusterSpec
from airflow_ray_k8s.specs.rayjob import CLUSTER_SELECTOR_KEY, DeletionRule, RayJobSpec, SubmissionMode

#: Seconds a finished RayJob's cluster is kept (time to collect its logs) before KubeRay deletes it.
DEFAULT_TTL_SECONDS_AFTER_FINISHED = 300


def build_rayjob(
    entrypoint: str,
    *,
    cluster: RayClusterSpec | None = None,
    cluster_name: str | None = None,
    runtime_env: Mapping[str, Any] | None = None,
    pip: Sequence[str] | str | None = None,
    working_dir: str | None = None,
    env_vars: Mapping[str, str] | None = None,
    submission_mode: SubmissionMode = "K8sJobMode",
    shutdown_after_job_finishes: bool | None = None,
    ttl_seconds_after_finished: int | None = None,
    active_deadline_seconds: int | None = None,
    pre_running_deadline_seconds: int | None = None,
    backoff_limit: int | None = None,
    job_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
    entrypoint_num_cpus: float | None = None,
    entrypoint_num_gpus: float | None = None,
    entrypoint_resources: Mapping[str, float] | None = None,
    deletion_rules: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    extra_spec: Mapping[str, Any] | None = None,
) -> RayJobSpec:
    """A RayJob spec from a few arguments.

    By default the job gets its own cluster (``cluster``, or :func:`build_raycluster`'s defaults),
    deleted ``ttl_seconds_after_finished`` (300) seconds after the job ends. With ``cluster_name``
    it runs on an existing cluster instead, which KubeRay never deletes.

    :param entrypoint: the job's command, e.g. ``python train.py --epochs 3``.
    :param cluster: the cluster to create for the job.
    :param cluster_name: run on this existing RayCluster instead (``clusterSelector``); not
        together with ``cluster``.
    :param runtime_env: Ray runtime env dict; ``pip``, ``working_dir`` and ``env_vars`` add to it.
    :param pip: pip packages to install for the job; a string is one package. (Ray's other
        forms, a requirements file or a dict, go in ``runtime_env={"pip": ...}``.)
    :param working_dir: the job's working directory (a URI Ray can fetch, e.g. ``s3://...zip``).
    :param env_vars: environment variables of the job's processes.
    :param submission_mode: how KubeRay submits the job.
    :param shutdown_after_job_finishes: delete the cluster after the job (default: yes, unless
        ``cluster_name`` or ``deletion_rules`` is given).
    :param ttl_seconds_after_finished: delay before that deletion (default 300 when deleting).
    :param active_deadline_seconds: fail the job after this many seconds.
    :param pre_running_deadline_seconds: fail the job if it does not run within this many seconds.
    :param backoff_limit: retries (each on a new cluster).
    :param job_id: the Ray job id (the submission id).
    :param metadata: Ray job metadata.
    :param entrypoint_num_cpus: CPUs reserved for the driver.
    :param entrypoint_num_gpus: GPUs reserved for the driver.
    :param entrypoint_resources: custom resources reserved for the driver.
    :param deletion_rules: ``deletionStrategy.deletionRules`` (wire or Python keys).
    :param labels: labels of the RayJob.
    :param annotations: annotations of the RayJob.
    :param extra_spec: more spec fields deep-merged last (wire or Python keys).
    :raises SpecValidationError: an argument is invalid or the result breaks a KubeRay rule.
    """
    errors: Errors = []
    if entrypoint is not None and not isinstance(entrypoint, str):
        errors.append(("entrypoint", f"must be a string, not {arg.kind(entrypoint)}"))
    elif not (entrypoint or "").strip() and _entrypoint_needed(submission_mode, extra_spec):
        # The spec model only warns (KubeRay accepts it); a builder argument is refused.
        errors.append(("entrypoint", f"is required in {submission_mode}"))
    env = _runtime_env(runtime_env, pip, working_dir, env_vars, errors)
    target = _cluster_fields(cluster, cluster_name, errors)
    shutdown = arg.check_bool(shutdown_after_job_finishes, "shutdown_after_job_finishes", errors)
    rules = _deletion_rules(deletion_rules, errors)
    job_labels = arg.check_labels(labels, "labels", errors)
    job_annotations = arg.check_labels(annotations, "annotations", errors, label_values=False)
    optional = _optional_fields(
        ttl=ttl_seconds_after_finished,
        active_deadline=active_deadline_seconds,
        pre_running_deadline=pre_running_deadline_seconds,
        backoff_limit=backoff_limit,
        job_id=job_id,
        metadata=metadata,
        num_cpus=entrypoint_num_cpus,
        num_gpus=entrypoint_num_gpus,
        resources=entrypoint_resources,
        errors=errors,
    )
    mode = arg.check_choice(submission_mode, "submission_mode", errors, get_args(SubmissionMode))
    extra = check_extra_spec(extra_spec, errors)
    if errors:
        raise SpecValidationError(errors)
    spec: dict[str, Any] = {"entrypoint": entrypoint, "submissionMode": mode, **target}
    if env:
        spec["runtimeEnvYAML"] = env
    if shutdown is None:
        shutdown = cluster_name is None and not rules
    spec["shutdownAfterJobFinishes"] = shutdown
    if optional.get("ttlSecondsAfterFinished") is None and shutdown:
        optional["ttlSecondsAfterFinished"] = DEFAULT_TTL_SECONDS_AFTER_FINISHED
    spec.update({key: value for key, value in optional.items() if value is not None})
    if rules is not None:
        spec["deletionStrategy"] = {"deletionRules": rules}
    if extra:
        spec = merge_extra_spec(RayJobSpec, spec, extra)
    cluster_meta = cluster.annotations if cluster is not None else {}
    return RayJobSpec.from_parts(
        spec, labels=job_labels, annotations={**cluster_meta, **(job_annotations or {})}
    )


def _entrypoint_needed(submission_mode: Any, extra_spec: Any) -> bool:
    """Whether the job's command is the entrypoint: not in InteractiveMode, nor with a submitter pod
    template given through ``extra_spec`` (its own command may replace the entrypoint)."""
    if submission_mode == "InteractiveMode":
        return False
    return not (
        isinstance(extra_spec, Mapping)
        and any(key in extra_spec for key in ("submitterPodTemplate", "submitter_pod_template"))
    )


def _runtime_env(
    runtime_env: Any, pip: Any, working_dir: Any, env_vars: Any, errors: Errors
) -> dict[str, Any]:
    """``runtime_env`` with ``pip``, ``working_dir`` and ``env_vars`` added."""
    env = arg.check_mapping(runtime_env, "runtime_env", errors) or {}
    errors.extend(data_errors(env, "runtime_env"))
    packages = arg.check_str_list(pip, "pip", errors, "a package (a string)")
    directory = arg.check_str(working_dir, "working_dir", errors)
    variables = arg.check_text_map(env_vars, "env_vars", errors)
    if packages:
        env["pip"] = packages
    if directory:
        env["working_dir"] = directory
    if variables:
        present = env.get("env_vars", {})
        if isinstance(present, Mapping):
            env["env_vars"] = {**present, **variables}
        else:
            errors.append((join_path("runtime_env", "env_vars"), "must be a mapping to add env_vars to"))
    return env


def _cluster_fields(cluster: Any, cluster_name: Any, errors: Errors) -> dict[str, Any]:
    """``rayClusterSpec`` (the job's own cluster) or ``clusterSelector`` (an existing one)."""
    from airflow_ray_k8s.naming import label_value_errors

    if cluster is not None and not isinstance(cluster, RayClusterSpec):
        errors.append(
            ("cluster", f"must be a RayClusterSpec (see build_raycluster), not {arg.kind(cluster)}")
        )
        return {}
    name = arg.check_str(cluster_name, "cluster_name", errors)
    if cluster_name is None:
        return {"rayClusterSpec": (cluster if cluster is not None else build_raycluster()).to_dict()}
    if name is None:
        return {}
    # The selector matches the cluster's ray.io/cluster label, so the name must be a label value.
    rules = label_value_errors(name)
    errors.extend(("cluster_name", rule) for rule in rules)
    if cluster is not None:
        errors.append(
            ("cluster_name", "runs the job on an existing cluster: give cluster or cluster_name, not both")
        )
    return {"clusterSelector": {CLUSTER_SELECTOR_KEY: name}}


def _deletion_rules(value: Any, errors: Errors) -> list[dict[str, Any]] | None:
    """``deletion_rules``, each one's shape checked with the argument's name in the paths."""
    rules = arg.check_list(value, "deletion_rules", errors, Mapping, "a deletion rule mapping")
    if rules is None:
        return None
    before = len(errors)
    for index, rule in enumerate(rules):
        try:
            DeletionRule._validate_shape(rule, f"deletion_rules[{index}]")
        except SpecValidationError as exc:
            errors.extend(exc.errors)
    return [dict(rule) for rule in rules] if len(errors) == before else None


def _optional_fields(
    *,
    ttl: Any,
    active_deadline: Any,
    pre_running_deadline: Any,
    backoff_limit: Any,
    job_id: Any,
    metadata: Any,
    num_cpus: Any,
    num_gpus: Any,
    resources: Any,
    errors: Errors,
) -> dict[str, Any]:
    """The spec fields that are simply copied when set, checked."""
    return {
        "ttlSecondsAfterFinished": arg.check_int(ttl, "ttl_seconds_after_finished", errors),
        "activeDeadlineSeconds": arg.check_int(active_deadline, "active_deadline_seconds", errors, minimum=1),
        "preRunningDeadlineSeconds": arg.check_int(
            pre_running_deadline, "pre_running_deadline_seconds", errors, minimum=1
        ),
        "backoffLimit": arg.check_int(backoff_limit, "backoff_limit", errors),
        "jobId": arg.check_str(job_id, "job_id", errors),
        "metadata": arg.check_text_map(metadata, "metadata", errors),
        "entrypointNumCpus": arg.check_number(num_cpus, "entrypoint_num_cpus", errors),
        "entrypointNumGpus": arg.check_number(num_gpus, "entrypoint_num_gpus", errors),
        "entrypointResources": _resources(resources, errors),
    }


def _resources(value: Any, errors: Errors) -> dict[str, float | int] | None:
    resources = arg.check_mapping(value, "entrypoint_resources", errors)
    if resources is None:
        return None
    before = len(errors)
    checked = {
        key: arg.check_number(amount, join_path("entrypoint_resources", key), errors)
        for key, amount in resources.items()
    }
    return (
        {key: amount for key, amount in checked.items() if amount is not None}
        if len(errors) == before
        else None
    )
