"""Concise builders for the common case: a few readable arguments in, a checked spec out.

Defaults follow KubeRay's own guidance: the Ray image's tag matches ``rayVersion``; memory
requests equal limits (a pod that exceeds its request is the first the kubelet evicts, and Ray
sizes itself from the limit); CPU requests equal limits; ``/dev/shm`` is a memory-backed
``emptyDir`` sized for the object store (Ray's default: 30% of the memory), so the object store
does not fall back to disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from airflow_ray_k8s.exceptions import SpecValidationError
from airflow_ray_k8s.specs.base import Errors, join_path
from airflow_ray_k8s.specs.quantity import format_bytes, normalize_quantity, parse_quantity
from airflow_ray_k8s.specs.raycluster import RayClusterSpec
from airflow_ray_k8s.specs.rayjob import RayJobSpec

#: Ray version used when none is given (KubeRay v1.7's samples use it; token auth needs >= 2.52).
DEFAULT_RAY_VERSION = "2.52.0"
#: Resource name of NVIDIA GPUs (the device plugin's).
GPU_RESOURCE = "nvidia.com/gpu"
#: Share of a node's memory Ray gives its object store by default.
OBJECT_STORE_FRACTION = Decimal("0.3")
#: Least memory a Ray node is given; Ray's object store alone wants 75 MB.
MIN_MEMORY_BYTES = 64 * 2**20
#: Seconds a finished RayJob's cluster is kept (time to collect its logs) before KubeRay deletes it.
DEFAULT_TTL_SECONDS_AFTER_FINISHED = 300

QuantityLike = int | float | str


def default_image(ray_version: str, gpu: bool = False) -> str:
    """The official Ray image for ``ray_version`` (the ``-gpu`` variant carries CUDA)."""
    return f"rayproject/ray:{ray_version}{'-gpu' if gpu else ''}"


@dataclass(frozen=True)
class WorkerGroup:
    """What a worker group should look like; ``None`` means "as the cluster's defaults say".

    :param name: group name (unique in the cluster).
    :param replicas: workers to start (with autoscaling: defaults to ``min_replicas``).
    :param min_replicas: autoscaler's lower bound (default: ``replicas``, or 0 with autoscaling).
    :param max_replicas: autoscaler's upper bound (default: the largest of replicas / min / 1).
    :param cpu: CPUs per worker (request = limit).
    :param memory: memory per worker (request = limit), e.g. ``"8Gi"``.
    :param gpu: NVIDIA GPUs per worker.
    :param image: image (default: ``rayproject/ray:<ray_version>``, ``-gpu`` if ``gpu``).
    :param env: environment variables of the Ray container.
    :param node_selector: node labels the workers must run on (replaces the cluster's).
    :param tolerations: taints the workers tolerate (replaces the cluster's).
    :param labels: pod labels, added to the cluster's.
    :param ray_start_params: ``ray start`` options.
    :param object_store_memory: object store size (default: 30% of ``memory``); sizes ``/dev/shm``.
    :param idle_timeout_seconds: per-group idle timeout (autoscaler v2).
    """

    name: str = "workers"
    replicas: int | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    cpu: QuantityLike | None = None
    memory: QuantityLike | None = None
    gpu: int = 0
    image: str | None = None
    env: Mapping[str, str] | None = None
    node_selector: Mapping[str, str] | None = None
    tolerations: Sequence[Mapping[str, Any]] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    ray_start_params: Mapping[str, Any] = field(default_factory=dict)
    object_store_memory: QuantityLike | None = None
    idle_timeout_seconds: int | None = None


def build_raycluster(
    *,
    ray_version: str = DEFAULT_RAY_VERSION,
    image: str | None = None,
    head_cpu: QuantityLike = 1,
    head_memory: QuantityLike = "4Gi",
    head_gpu: int = 0,
    head_ray_start_params: Mapping[str, Any] | None = None,
    workers: Sequence[WorkerGroup] | None = None,
    worker_replicas: int = 1,
    worker_cpu: QuantityLike = 1,
    worker_memory: QuantityLike = "4Gi",
    worker_gpu: int = 0,
    autoscaling: bool = False,
    autoscaler_version: Literal["v1", "v2"] | None = None,
    idle_timeout_seconds: int | None = None,
    upscaling_mode: Literal["Default", "Aggressive", "Conservative"] | None = None,
    env: Mapping[str, str] | None = None,
    node_selector: Mapping[str, str] | None = None,
    tolerations: Sequence[Mapping[str, Any]] | None = None,
    service_account: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    gcs_fault_tolerance: Mapping[str, Any] | None = None,
    extra_spec: Mapping[str, Any] | None = None,
) -> RayClusterSpec:
    """A RayCluster spec from a few arguments.

    ``build_raycluster(worker_replicas=2, worker_cpu=4, worker_memory="16Gi")`` is a head and two
    4-CPU workers; pass ``workers=[WorkerGroup(...), ...]`` for several groups (``workers=[]``
    for a head-only cluster).

    :param ray_version: Ray version; also the default image's tag.
    :param image: image of every Ray container (default: ``rayproject/ray:<ray_version>``).
    :param head_cpu: head CPUs (request = limit).
    :param head_memory: head memory (request = limit).
    :param head_gpu: head GPUs.
    :param head_ray_start_params: ``ray start`` options of the head (``dashboard-host`` defaults
        to ``0.0.0.0`` so the dashboard is reachable through the head service).
    :param workers: worker groups; when unset, one group ``workers`` from the ``worker_*`` arguments.
    :param worker_replicas: workers of the default group.
    :param worker_cpu: CPUs per worker (default group, and any group not setting ``cpu``).
    :param worker_memory: memory per worker (likewise).
    :param worker_gpu: GPUs per worker of the default group.
    :param autoscaling: run the Ray autoscaler (``enableInTreeAutoscaling``).
    :param autoscaler_version: ``v1`` or ``v2`` (v2 sets ``restartPolicy: Never`` as KubeRay requires).
    :param idle_timeout_seconds: autoscaler idle timeout.
    :param upscaling_mode: autoscaler upscaling mode.
    :param env: environment variables of every Ray container.
    :param node_selector: node selector of every pod.
    :param tolerations: tolerations of every pod.
    :param service_account: service account of every pod.
    :param labels: labels of the RayCluster and of every pod.
    :param annotations: annotations of the RayCluster and of every pod.
    :param gcs_fault_tolerance: ``gcsFaultToleranceOptions`` (wire or Python keys).
    :param extra_spec: more spec fields deep-merged last (wire or Python keys).
    :raises SpecValidationError: an argument is invalid or the result breaks a KubeRay rule.
    """
    errors: Errors = []
    restart_policy = "Never" if autoscaling and autoscaler_version == "v2" else None
    # Inside the pod: the head service (and the API server's proxy) must reach the dashboard.
    head_params = {
        "dashboard-host": "0.0.0.0",  # noqa: S104
        **(head_ray_start_params or {}),
    }
    pod_defaults = _PodDefaults(
        env=dict(env or {}),
        node_selector=dict(node_selector or {}),
        tolerations=[dict(t) for t in tolerations or ()],
        service_account=service_account,
        labels=dict(labels or {}),
        annotations=dict(annotations or {}),
        restart_policy=restart_policy,
    )
    head = {
        "rayStartParams": {key: _param(value) for key, value in head_params.items()},
        "template": _pod_template(
            "ray-head",
            image or default_image(ray_version, gpu=head_gpu > 0),
            cpu=head_cpu,
            memory=head_memory,
            gpu=head_gpu,
            object_store_memory=None,
            defaults=pod_defaults,
            errors=errors,
            path="head",
        ),
    }
    if workers is None:
        workers = [WorkerGroup(replicas=worker_replicas, gpu=worker_gpu)]
    worker_specs = []
    for index, group in enumerate(workers):
        path = f"workers[{index}]"
        if not isinstance(group, WorkerGroup):
            errors.append((path, "must be a WorkerGroup"))
            continue
        worker_specs.append(
            _worker_group_dict(
                group,
                image=image,
                ray_version=ray_version,
                cpu=worker_cpu,
                memory=worker_memory,
                autoscaling=autoscaling,
                defaults=pod_defaults,
                errors=errors,
                path=path,
            )
        )
    if errors:
        raise SpecValidationError(errors)
    spec: dict[str, Any] = {
        "rayVersion": ray_version,
        "headGroupSpec": head,
        "workerGroupSpecs": worker_specs,
    }
    if autoscaling:
        spec["enableInTreeAutoscaling"] = True
        options: dict[str, Any] = {}
        if autoscaler_version is not None:
            options["version"] = autoscaler_version
        if idle_timeout_seconds is not None:
            options["idleTimeoutSeconds"] = idle_timeout_seconds
        if upscaling_mode is not None:
            options["upscalingMode"] = upscaling_mode
        if options:
            spec["autoscalerOptions"] = options
    if gcs_fault_tolerance is not None:
        spec["gcsFaultToleranceOptions"] = dict(gcs_fault_tolerance)
    if extra_spec:
        from airflow_ray_k8s.specs.loading import deep_merge, to_wire_keys

        spec = deep_merge(spec, to_wire_keys(RayClusterSpec, extra_spec))
    return RayClusterSpec.from_parts(spec, labels=labels, annotations=annotations)


def build_rayjob(
    entrypoint: str,
    *,
    cluster: RayClusterSpec | None = None,
    cluster_name: str | None = None,
    runtime_env: Mapping[str, Any] | None = None,
    pip: Sequence[str] | None = None,
    working_dir: str | None = None,
    env_vars: Mapping[str, str] | None = None,
    submission_mode: Literal["K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"] = "K8sJobMode",
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
    deletion_rules: Sequence[Mapping[str, Any]] | None = None,
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
    :param cluster_name: run on this existing RayCluster instead (``clusterSelector``).
    :param runtime_env: Ray runtime env dict; ``pip``, ``working_dir`` and ``env_vars`` add to it.
    :param pip: pip packages to install for the job.
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
    env: dict[str, Any] = dict(runtime_env or {})
    if pip:
        env["pip"] = list(pip)
    if working_dir:
        env["working_dir"] = working_dir
    if env_vars:
        env["env_vars"] = {**env.get("env_vars", {}), **{k: str(v) for k, v in env_vars.items()}}
    spec: dict[str, Any] = {"entrypoint": entrypoint, "submissionMode": submission_mode}
    if env:
        spec["runtimeEnvYAML"] = env
    if cluster_name is not None:
        spec["clusterSelector"] = {"ray.io/cluster": cluster_name}
    else:
        spec["rayClusterSpec"] = (cluster if cluster is not None else build_raycluster()).to_dict()
    if shutdown_after_job_finishes is None:
        shutdown_after_job_finishes = cluster_name is None and not deletion_rules
    spec["shutdownAfterJobFinishes"] = shutdown_after_job_finishes
    if ttl_seconds_after_finished is None and shutdown_after_job_finishes:
        ttl_seconds_after_finished = DEFAULT_TTL_SECONDS_AFTER_FINISHED
    optional = {
        "ttlSecondsAfterFinished": ttl_seconds_after_finished,
        "activeDeadlineSeconds": active_deadline_seconds,
        "preRunningDeadlineSeconds": pre_running_deadline_seconds,
        "backoffLimit": backoff_limit,
        "jobId": job_id,
        "metadata": dict(metadata) if metadata is not None else None,
        "entrypointNumCpus": entrypoint_num_cpus,
        "entrypointNumGpus": entrypoint_num_gpus,
        "entrypointResources": dict(entrypoint_resources) if entrypoint_resources is not None else None,
    }
    spec.update({key: value for key, value in optional.items() if value is not None})
    if deletion_rules is not None:
        spec["deletionStrategy"] = {"deletionRules": [dict(rule) for rule in deletion_rules]}
    if extra_spec:
        from airflow_ray_k8s.specs.loading import deep_merge, to_wire_keys

        spec = deep_merge(spec, to_wire_keys(RayJobSpec, extra_spec))
    cluster_meta = cluster.annotations if cluster is not None else {}
    return RayJobSpec.from_parts(spec, labels=labels, annotations={**cluster_meta, **(annotations or {})})


# --- pieces ---------------------------------------------------------------------------------------------


@dataclass
class _PodDefaults:
    env: dict[str, str]
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]
    service_account: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    restart_policy: str | None


def _worker_group_dict(
    group: WorkerGroup,
    *,
    image: str | None,
    ray_version: str,
    cpu: QuantityLike,
    memory: QuantityLike,
    autoscaling: bool,
    defaults: _PodDefaults,
    errors: Errors,
    path: str,
) -> dict[str, Any]:
    bad = [
        name
        for name in ("replicas", "min_replicas", "max_replicas", "gpu")
        if (value := getattr(group, name)) is not None
        and (isinstance(value, bool) or not isinstance(value, int) or value < 0)
    ]
    if bad:
        errors.extend((join_path(path, name), "must be a non-negative integer") for name in bad)
        return {}
    if autoscaling:
        low = group.min_replicas if group.min_replicas is not None else 0
        replicas = group.replicas if group.replicas is not None else low
    else:
        if group.replicas is not None:
            replicas = group.replicas
        else:
            replicas = group.min_replicas if group.min_replicas is not None else 1
            if group.max_replicas is not None:
                replicas = min(replicas, group.max_replicas)
        low = group.min_replicas if group.min_replicas is not None else replicas
        if group.min_replicas is None and group.max_replicas is not None:
            low = min(low, group.max_replicas)
    high = group.max_replicas if group.max_replicas is not None else max(replicas, low, 1)
    group_defaults = _PodDefaults(
        env={**defaults.env, **(group.env or {})},
        node_selector=dict(group.node_selector)
        if group.node_selector is not None
        else defaults.node_selector,
        tolerations=[dict(t) for t in group.tolerations]
        if group.tolerations is not None
        else defaults.tolerations,
        service_account=defaults.service_account,
        labels={**defaults.labels, **group.labels},
        annotations=defaults.annotations,
        restart_policy=defaults.restart_policy,
    )
    out: dict[str, Any] = {
        "groupName": group.name,
        "replicas": replicas,
        "minReplicas": low,
        "maxReplicas": high,
        "rayStartParams": {key: _param(value) for key, value in group.ray_start_params.items()},
        "template": _pod_template(
            "ray-worker",
            group.image or image or default_image(ray_version, gpu=group.gpu > 0),
            cpu=group.cpu if group.cpu is not None else cpu,
            memory=group.memory if group.memory is not None else memory,
            gpu=group.gpu,
            object_store_memory=group.object_store_memory,
            defaults=group_defaults,
            errors=errors,
            path=path,
        ),
    }
    if group.idle_timeout_seconds is not None:
        out["idleTimeoutSeconds"] = group.idle_timeout_seconds
    return out


def _pod_template(
    container_name: str,
    image: str,
    *,
    cpu: QuantityLike,
    memory: QuantityLike,
    gpu: int,
    object_store_memory: QuantityLike | None,
    defaults: _PodDefaults,
    errors: Errors,
    path: str,
) -> dict[str, Any]:
    cpu_value = _positive_quantity(cpu, join_path(path, "cpu"), errors)
    memory_value = _positive_quantity(memory, join_path(path, "memory"), errors)
    if memory_value is not None and parse_quantity(memory_value) < MIN_MEMORY_BYTES:
        # A bare number is bytes: memory=8 almost always meant 8 GiB.
        errors.append(
            (join_path(path, "memory"), "must be at least 64Mi (a bare number is bytes: write '8Gi')")
        )
        memory_value = None
    if isinstance(gpu, bool) or not isinstance(gpu, int) or gpu < 0:
        errors.append((join_path(path, "gpu"), "must be a non-negative integer"))
        gpu = 0
    if cpu_value is None or memory_value is None:
        return {}
    resources: dict[str, Any] = {"cpu": cpu_value, "memory": memory_value}
    if gpu:
        resources[GPU_RESOURCE] = gpu
    if object_store_memory is not None:
        store = _positive_quantity(object_store_memory, join_path(path, "object_store_memory"), errors)
        shm_bytes = parse_quantity(store) if store is not None else Decimal(0)
    else:
        shm_bytes = parse_quantity(memory_value) * OBJECT_STORE_FRACTION
    container: dict[str, Any] = {
        "name": container_name,
        "image": image,
        "resources": {"requests": dict(resources), "limits": dict(resources)},
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
    }
    if defaults.env:
        container["env"] = [{"name": key, "value": str(value)} for key, value in defaults.env.items()]
    pod: dict[str, Any] = {
        "containers": [container],
        "volumes": [
            {
                "name": "dshm",
                "emptyDir": {"medium": "Memory", "sizeLimit": format_bytes(max(shm_bytes, Decimal(1)))},
            }
        ],
    }
    if defaults.node_selector:
        pod["nodeSelector"] = dict(defaults.node_selector)
    if defaults.tolerations:
        pod["tolerations"] = [dict(t) for t in defaults.tolerations]
    if defaults.service_account:
        pod["serviceAccountName"] = defaults.service_account
    if defaults.restart_policy:
        pod["restartPolicy"] = defaults.restart_policy
    template: dict[str, Any] = {"spec": pod}
    metadata: dict[str, Any] = {}
    if defaults.labels:
        metadata["labels"] = dict(defaults.labels)
    if defaults.annotations:
        metadata["annotations"] = dict(defaults.annotations)
    if metadata:
        template["metadata"] = metadata
    return template


def _positive_quantity(value: Any, path: str, errors: Errors) -> int | str | None:
    try:
        normalized = normalize_quantity(value)
        amount = parse_quantity(normalized)
    except (ValueError, ArithmeticError) as exc:
        errors.append((path, str(exc) if isinstance(exc, ValueError) else "must be a Kubernetes quantity"))
        return None
    if amount <= 0:
        errors.append((path, "must be more than 0"))
        return None
    return normalized


def _param(value: Any) -> str:
    """``rayStartParams`` values are strings in KubeRay v1 (``num-cpus: "0"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
