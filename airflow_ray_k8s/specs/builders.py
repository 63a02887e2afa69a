"""Concise builders for the common case: a few readable arguments in, a checked spec out.

Every argument is checked first (:mod:`airflow_ray_k8s.specs.arguments`) and a bad one is a
:class:`~airflow_ray_k8s.exceptions.SpecValidationError` naming it (``head_gpu``,
``workers[1].memory``); only then is the spec written, and KubeRay's own rules checked on it.
A list argument also takes a single item (``tolerations={...}``, ``workers=WorkerGroup(...)``).
The Ray image's tag matches ``rayVersion``; pod defaults are described in
:mod:`airflow_ray_k8s.specs.pod_builder`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from airflow_ray_k8s.exceptions import SpecValidationError
from airflow_ray_k8s.specs import arguments as arg
from airflow_ray_k8s.specs.base import Errors, data_errors, join_path
from airflow_ray_k8s.specs.pod_builder import (
    Node,
    PodDefaults,
    memory_arg,
    object_store_bytes,
    pod_template,
    quantity_arg,
)
from airflow_ray_k8s.specs.raycluster import GcsFaultToleranceOptions, RayClusterSpec

#: Ray version used when none is given (KubeRay v1.7's samples use it; token auth needs >= 2.52).
DEFAULT_RAY_VERSION = "2.52.0"

QuantityLike = int | float | str
AutoscalerVersion = Literal["v1", "v2"]
UpscalingMode = Literal["Default", "Aggressive", "Conservative"]


def default_image(ray_version: str, gpu: bool = False) -> str:
    """The official Ray image for ``ray_version`` (the ``-gpu`` variant carries CUDA)."""
    return f"rayproject/ray:{ray_version}{'-gpu' if gpu else ''}"


@dataclass(frozen=True)
class WorkerGroup:
    """What a worker group should look like; ``None`` means "as the cluster's defaults say".

    The values are checked by :func:`build_raycluster`, whose errors name them ``workers[i].<field>``.

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
    :param ray_start_params: ``ray start`` options; an ``object-store-memory`` here is kept as is
        and sizes ``/dev/shm``.
    :param object_store_memory: object store size (at least 75Mi): sets ``ray start
        --object-store-memory`` and sizes ``/dev/shm``. Default: Ray's own (30% of ``memory``).
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
    tolerations: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None
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
    workers: Sequence[WorkerGroup] | WorkerGroup | None = None,
    worker_replicas: int = 1,
    worker_cpu: QuantityLike = 1,
    worker_memory: QuantityLike = "4Gi",
    worker_gpu: int = 0,
    autoscaling: bool = False,
    autoscaler_version: AutoscalerVersion | None = None,
    idle_timeout_seconds: int | None = None,
    upscaling_mode: UpscalingMode | None = None,
    env: Mapping[str, str] | None = None,
    node_selector: Mapping[str, str] | None = None,
    tolerations: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
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
        to ``0.0.0.0`` so the dashboard is reachable through the head service); an
        ``object-store-memory`` here also sizes the head's ``/dev/shm``.
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
    :param tolerations: tolerations of every pod (Kubernetes toleration dicts).
    :param service_account: service account of every pod.
    :param labels: labels of the RayCluster and of every pod.
    :param annotations: annotations of the RayCluster and of every pod.
    :param gcs_fault_tolerance: ``gcsFaultToleranceOptions`` (wire or Python keys).
    :param extra_spec: more spec fields deep-merged last (wire or Python keys).
    :raises SpecValidationError: an argument is invalid or the result breaks a KubeRay rule.
    """
    errors: Errors = []
    image = arg.check_str(image, "image", errors)
    version = arg.check_ray_version(ray_version, "ray_version", errors, is_image_tag=image is None)
    scaling = arg.check_bool(autoscaling, "autoscaling", errors, required=True)
    options = _autoscaler_options(autoscaler_version, idle_timeout_seconds, upscaling_mode, errors)
    cluster_labels = arg.check_labels(labels, "labels", errors)
    cluster_annotations = arg.check_labels(annotations, "annotations", errors, label_values=False)
    base = _ClusterWide(
        cpu=quantity_arg(worker_cpu, "worker_cpu", errors),
        memory=memory_arg(worker_memory, "worker_memory", errors),
        env=arg.check_text_map(env, "env", errors) or {},
        node_selector=arg.check_labels(node_selector, "node_selector", errors, numbers=True) or {},
        tolerations=arg.check_tolerations(tolerations, "tolerations", errors) or [],
        labels=cluster_labels or {},
        autoscaling=bool(scaling),
    )
    defaults = PodDefaults(
        service_account=arg.check_object_name(service_account, "service_account", errors),
        annotations=cluster_annotations or {},
        restart_policy="Never" if scaling and autoscaler_version == "v2" else None,
    )
    head = _check_head(head_cpu, head_memory, head_gpu, head_ray_start_params, base, errors)
    groups = _check_workers(workers, worker_replicas, worker_gpu, base, errors)
    gcs = _gcs_options(gcs_fault_tolerance, errors)
    extra = check_extra_spec(extra_spec, errors)
    # Every check above records its error; the None tests only tell mypy what that implies.
    if errors or head is None or groups is None or version is None:
        raise SpecValidationError(errors)
    spec: dict[str, Any] = {
        "rayVersion": version,
        "headGroupSpec": {
            "rayStartParams": head.ray_start_params,
            "template": pod_template(
                "ray-head", image or default_image(version, gpu=head.gpu > 0), head, defaults
            ),
        },
        "workerGroupSpecs": [group.to_dict(image, version, base.autoscaling, defaults) for group in groups],
    }
    if base.autoscaling:
        spec["enableInTreeAutoscaling"] = True
        if options:
            spec["autoscalerOptions"] = options
    if gcs is not None:
        spec["gcsFaultToleranceOptions"] = gcs
    if extra:
        spec = merge_extra_spec(RayClusterSpec, spec, extra)
    return RayClusterSpec.from_parts(spec, labels=cluster_labels, annotations=cluster_annotations)


# --- checking the arguments -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ClusterWide:
    """Checked cluster-wide arguments that the head and each group start from."""

    cpu: int | str | None
    memory: int | str | None
    env: dict[str, str]
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]
    labels: dict[str, str]
    autoscaling: bool


@dataclass(frozen=True)
class _Group:
    """A checked worker group."""

    name: str
    replicas: int | None
    min_replicas: int | None
    max_replicas: int | None
    idle_timeout_seconds: int | None
    image: str | None
    node: Node

    def to_dict(
        self, image: str | None, ray_version: str, autoscaling: bool, defaults: PodDefaults
    ) -> dict[str, Any]:
        """The ``workerGroupSpecs`` entry."""
        replicas, low, high = self.sizes(autoscaling)
        chosen = self.image or image or default_image(ray_version, gpu=self.node.gpu > 0)
        out: dict[str, Any] = {
            "groupName": self.name,
            "replicas": replicas,
            "minReplicas": low,
            "maxReplicas": high,
            "rayStartParams": self.node.ray_start_params,
            "template": pod_template("ray-worker", chosen, self.node, defaults),
        }
        if self.idle_timeout_seconds is not None:
            out["idleTimeoutSeconds"] = self.idle_timeout_seconds
        return out

    def sizes(self, autoscaling: bool) -> tuple[int, int, int]:
        """(replicas, min, max) with the defaults described on :class:`WorkerGroup`."""
        if autoscaling:
            low = self.min_replicas if self.min_replicas is not None else 0
            replicas = self.replicas if self.replicas is not None else low
        else:
            if self.replicas is not None:
                replicas = self.replicas
            else:
                replicas = self.min_replicas if self.min_replicas is not None else 1
                if self.max_replicas is not None:
                    replicas = min(replicas, self.max_replicas)
            low = self.min_replicas if self.min_replicas is not None else replicas
            if self.min_replicas is None and self.max_replicas is not None:
                low = min(low, self.max_replicas)
        high = self.max_replicas if self.max_replicas is not None else max(replicas, low, 1)
        return replicas, low, high


def _autoscaler_options(version: Any, idle_timeout: Any, mode: Any, errors: Errors) -> dict[str, Any]:
    options = {
        "version": arg.check_choice(version, "autoscaler_version", errors, get_args(AutoscalerVersion)),
        "idleTimeoutSeconds": arg.check_int(idle_timeout, "idle_timeout_seconds", errors),
        "upscalingMode": arg.check_choice(mode, "upscaling_mode", errors, get_args(UpscalingMode)),
    }
    return {key: value for key, value in options.items() if value is not None}


def _check_head(
    cpu: Any, memory: Any, gpu: Any, ray_start_params: Any, base: _ClusterWide, errors: Errors
) -> Node | None:
    before = len(errors)
    checked_cpu = quantity_arg(cpu, "head_cpu", errors)
    checked_memory = memory_arg(memory, "head_memory", errors)
    checked_gpu = arg.check_int(gpu, "head_gpu", errors, required=True)
    params = arg.check_text_map(ray_start_params, "head_ray_start_params", errors)
    if len(errors) > before or checked_cpu is None or checked_memory is None or checked_gpu is None:
        return None
    # Inside the pod: the head service (and the API server's proxy) must reach the dashboard.
    params = {"dashboard-host": "0.0.0.0", **(params or {})}  # noqa: S104
    shm = object_store_bytes(
        None, params, checked_memory, path="", params_path="head_ray_start_params", errors=errors
    )
    return Node(
        cpu=checked_cpu,
        memory=checked_memory,
        gpu=checked_gpu,
        ray_start_params=params,
        shm_bytes=shm,
        env=base.env,
        node_selector=base.node_selector,
        tolerations=base.tolerations,
        labels=base.labels,
    )


def _check_workers(
    workers: Any, replicas: Any, gpu: Any, base: _ClusterWide, errors: Errors
) -> list[_Group] | None:
    """The checked groups (``None`` when any is invalid; the errors say why)."""
    checked_replicas = arg.check_int(replicas, "worker_replicas", errors, required=True)
    checked_gpu = arg.check_int(gpu, "worker_gpu", errors, required=True)
    if workers is None:
        if checked_replicas is None or checked_gpu is None:
            return None
        workers = [WorkerGroup(replicas=checked_replicas, gpu=checked_gpu)]
    items = arg.check_list(workers, "workers", errors, WorkerGroup, "a WorkerGroup")
    if items is None:
        return None
    groups = [_check_group(group, f"workers[{index}]", base, errors) for index, group in enumerate(items)]
    # Refused here although the spec model only warns (KubeRay accepts both): the builder makes the
    # groups' pods itself, and two groups of one name, or a size KubeRay would clamp, is a bad argument.
    seen: dict[str, int] = {}
    for index, (item, group) in enumerate(zip(items, groups, strict=True)):
        if isinstance(item.name, str) and item.name in seen:
            errors.append(
                (
                    f"workers[{index}].name",
                    f"must be unique ('{item.name}' is also workers[{seen[item.name]}])",
                )
            )
        if isinstance(item.name, str):
            seen.setdefault(item.name, index)
        if group is not None:
            replicas, low, high = group.sizes(base.autoscaling)
            if low <= high and not low <= replicas <= high:
                errors.append(
                    (
                        f"workers[{index}].replicas",
                        f"must be between min_replicas ({low}) and max_replicas ({high})",
                    )
                )
    checked = [group for group in groups if group is not None]
    return checked if len(checked) == len(groups) else None


def _check_group(group: WorkerGroup, path: str, base: _ClusterWide, errors: Errors) -> _Group | None:
    def at(name: str) -> str:
        return join_path(path, name)

    before = len(errors)
    name = arg.check_group_name(group.name, at("name"), errors)
    replicas = arg.check_int(group.replicas, at("replicas"), errors)
    low = arg.check_int(group.min_replicas, at("min_replicas"), errors)
    high = arg.check_int(group.max_replicas, at("max_replicas"), errors)
    idle = arg.check_int(group.idle_timeout_seconds, at("idle_timeout_seconds"), errors)
    image = arg.check_str(group.image, at("image"), errors)
    cpu = base.cpu if group.cpu is None else quantity_arg(group.cpu, at("cpu"), errors)
    memory = base.memory if group.memory is None else memory_arg(group.memory, at("memory"), errors)
    gpu = arg.check_int(group.gpu, at("gpu"), errors, required=True)
    env = arg.check_text_map(group.env, at("env"), errors)
    selector = arg.check_labels(group.node_selector, at("node_selector"), errors, numbers=True)
    tolerations = arg.check_tolerations(group.tolerations, at("tolerations"), errors)
    labels = arg.check_labels(group.labels, at("labels"), errors)
    params = arg.check_text_map(group.ray_start_params, at("ray_start_params"), errors) or {}
    if len(errors) > before or name is None or cpu is None or memory is None or gpu is None:
        return None
    shm = object_store_bytes(
        group.object_store_memory,
        params,
        memory,
        path=at("object_store_memory"),
        params_path=at("ray_start_params"),
        errors=errors,
    )
    node = Node(
        cpu=cpu,
        memory=memory,
        gpu=gpu,
        ray_start_params=params,
        shm_bytes=shm,
        env={**base.env, **(env or {})},
        node_selector=selector if selector is not None else base.node_selector,
        tolerations=tolerations if tolerations is not None else base.tolerations,
        labels={**base.labels, **(labels or {})},
    )
    return _Group(name, replicas, low, high, idle_timeout_seconds=idle, image=image, node=node)


def _gcs_options(value: Any, errors: Errors) -> dict[str, Any] | None:
    """``gcs_fault_tolerance``, its shape checked with the argument's name in the paths."""
    options = arg.check_mapping(value, "gcs_fault_tolerance", errors)
    if options is None:
        return None
    try:
        GcsFaultToleranceOptions._validate_shape(options, "gcs_fault_tolerance")
    except SpecValidationError as exc:
        errors.extend(exc.errors)
        return None
    return options


def check_extra_spec(value: Any, errors: Errors) -> dict[str, Any] | None:
    """The builders' ``extra_spec``: a mapping of plain data (its fields are checked by the model)."""
    extra = arg.check_mapping(value, "extra_spec", errors)
    bad = data_errors(extra, "extra_spec")
    errors.extend(bad)
    return None if bad else extra


def merge_extra_spec(model: type[Any], spec: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` (wire or Python keys) deep-merged into the built ``spec`` of ``model``."""
    from airflow_ray_k8s.specs.loading import deep_merge, to_wire_keys

    merged: dict[str, Any] = deep_merge(spec, to_wire_keys(model, extra))
    return merged
