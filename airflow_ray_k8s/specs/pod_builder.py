"""The Ray pods the builders write: resources, the object store and ``/dev/shm``, the pod template.

Defaults follow KubeRay's own guidance: memory requests equal limits (a pod that exceeds its
request is the first the kubelet evicts, and Ray sizes itself from the limit); CPU requests equal
limits; ``/dev/shm`` is a memory-backed ``emptyDir`` sized for the object store, so the object store
does not fall back to disk. :func:`pod_template` takes values that are already checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from airflow_ray_k8s.specs.arguments import kind
from airflow_ray_k8s.specs.base import Errors, join_path
from airflow_ray_k8s.specs.quantity import format_bytes, normalize_quantity, parse_quantity

#: Resource name of NVIDIA GPUs (the device plugin's).
GPU_RESOURCE = "nvidia.com/gpu"
#: Share of a node's memory Ray gives its object store by default.
OBJECT_STORE_FRACTION = Decimal("0.3")
#: Least memory a Ray node is given.
MIN_MEMORY_BYTES = 64 * 2**20
#: Ray refuses a smaller object store (``ray_constants.OBJECT_STORE_MINIMUM_MEMORY_BYTES``).
MIN_OBJECT_STORE_BYTES = 75 * 2**20
#: The ``ray start`` option that sizes the object store, in bytes.
OBJECT_STORE_PARAM = "object-store-memory"


@dataclass(frozen=True)
class PodDefaults:
    """Settings every Ray pod of the cluster shares."""

    service_account: str | None
    annotations: dict[str, str]
    restart_policy: str | None


@dataclass(frozen=True)
class Node:
    """One kind of Ray pod (the head or a worker group), every argument checked, defaults applied."""

    cpu: int | str
    memory: int | str
    gpu: int
    ray_start_params: dict[str, str]
    shm_bytes: Decimal
    env: dict[str, str]
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]
    labels: dict[str, str]


def quantity_arg(value: Any, path: str, errors: Errors) -> int | str | None:
    """``value`` as a CRD quantity if it is one and more than 0."""
    try:
        normalized = normalize_quantity(value)
        amount = parse_quantity(normalized)
    except (ValueError, ArithmeticError):
        got = "" if isinstance(value, str) else f", not {kind(value)}"
        errors.append((path, f"must be a Kubernetes quantity such as 500m, 2 or 4Gi{got}"))
        return None
    if amount <= 0:
        errors.append((path, "must be more than 0"))
        return None
    return normalized


def memory_arg(value: Any, path: str, errors: Errors) -> int | str | None:
    """A memory quantity of at least :data:`MIN_MEMORY_BYTES`."""
    memory = quantity_arg(value, path, errors)
    if memory is not None and parse_quantity(memory) < MIN_MEMORY_BYTES:
        # A bare number is bytes: memory=8 almost always meant 8 GiB.
        errors.append((path, "must be at least 64Mi (a bare number is bytes: write '8Gi')"))
        return None
    return memory


def object_store_bytes(
    requested: Any,
    params: dict[str, str],
    memory: int | str,
    *,
    path: str,
    params_path: str,
    errors: Errors,
) -> Decimal:
    """The object store's size, which ``/dev/shm`` must hold; sets ``--object-store-memory``.

    ``requested`` (``object_store_memory``) becomes the ``ray start`` option unless
    ``params`` sets it already: the user's explicit start param is never overridden, and it sizes
    ``/dev/shm`` too. With neither, Ray's default (30% of the memory) is left to Ray.
    """
    explicit = _explicit_store_bytes(params, join_path(params_path, OBJECT_STORE_PARAM), errors)
    if requested is None:
        return explicit if explicit is not None else parse_quantity(memory) * OBJECT_STORE_FRACTION
    store = quantity_arg(requested, path, errors)
    if store is None:
        return Decimal(0)
    size = Decimal(int(parse_quantity(store)))  # ray start takes whole bytes
    if size < MIN_OBJECT_STORE_BYTES:
        errors.append((path, "must be at least 75Mi (Ray refuses a smaller object store)"))
    elif explicit is not None and explicit != size:
        errors.append(
            (
                path,
                f"conflicts with ray_start_params['{OBJECT_STORE_PARAM}'] ({explicit} bytes); set only one",
            )
        )
    elif explicit is None:
        params[OBJECT_STORE_PARAM] = str(size)
    return size


def _explicit_store_bytes(params: dict[str, str], path: str, errors: Errors) -> Decimal | None:
    value = params.get(OBJECT_STORE_PARAM)
    if value is None:
        return None
    if not value.isdigit():
        # ray start parses it as an integer; "2Gi" would crash the pod at start.
        errors.append((path, "must be a whole number of bytes (ray start reads an integer)"))
        return None
    return Decimal(value)


def pod_template(container_name: str, image: str, node: Node, defaults: PodDefaults) -> dict[str, Any]:
    """The pod template of ``node``: Ray in the first container, ``/dev/shm`` mounted."""
    resources: dict[str, Any] = {"cpu": node.cpu, "memory": node.memory}
    if node.gpu:
        resources[GPU_RESOURCE] = node.gpu
    container: dict[str, Any] = {
        "name": container_name,
        "image": image,
        "resources": {"requests": dict(resources), "limits": dict(resources)},
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
    }
    if node.env:
        container["env"] = [{"name": key, "value": value} for key, value in node.env.items()]
    shm = format_bytes(max(node.shm_bytes, Decimal(1)))
    pod: dict[str, Any] = {
        "containers": [container],
        "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": shm}}],
    }
    if node.node_selector:
        pod["nodeSelector"] = dict(node.node_selector)
    if node.tolerations:
        pod["tolerations"] = [dict(t) for t in node.tolerations]
    if defaults.service_account:
        pod["serviceAccountName"] = defaults.service_account
    if defaults.restart_policy:
        pod["restartPolicy"] = defaults.restart_policy
    template: dict[str, Any] = {"spec": pod}
    metadata: dict[str, Any] = {}
    if node.labels:
        metadata["labels"] = dict(node.labels)
    if defaults.annotations:
        metadata["annotations"] = dict(defaults.annotations)
    if metadata:
        template["metadata"] = metadata
    return template
