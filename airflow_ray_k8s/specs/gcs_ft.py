"""GCS fault tolerance: from the legacy ``ray.io/ft-enabled`` annotation to ``gcsFaultToleranceOptions``.

Before KubeRay 1.3 GCS fault tolerance was switched on by the annotation ``ray.io/ft-enabled: "true"``
and configured through the head container's ``RAY_REDIS_ADDRESS`` / ``REDIS_PASSWORD`` env vars,
``rayStartParams["redis-password"]`` and the ``ray.io/external-storage-namespace`` annotation.
KubeRay v1.7 still honours that, but once ``spec.gcsFaultToleranceOptions`` is set it rejects every
one of those old placements, and it rejects the annotation and the struct together.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from airflow_ray_k8s.exceptions import SpecValidationError
from airflow_ray_k8s.specs.base import RaySpecWarning
from airflow_ray_k8s.specs.raycluster_rules import (
    EXTERNAL_STORAGE_NAMESPACE_ANNOTATION,
    FT_ENABLED_ANNOTATION,
    REDIS_ADDRESS_ENV,
    REDIS_PASSWORD_ENV,
    REDIS_USERNAME_ENV,
)


class LegacyGcsFtAnnotationWarning(RaySpecWarning, FutureWarning):
    """A manifest enables GCS fault tolerance with the legacy ``ray.io/ft-enabled`` annotation."""


MIGRATION_HINT = (
    f"The {FT_ENABLED_ANNOTATION} annotation is KubeRay's legacy switch for GCS fault tolerance. "
    "KubeRay v1.7 configures it with spec.gcsFaultToleranceOptions (redisAddress, redisPassword, "
    "redisUsername, externalStorageNamespace) and rejects the annotation together with that struct, "
    f"as well as the head's {REDIS_ADDRESS_ENV} / {REDIS_PASSWORD_ENV} env vars, "
    "rayStartParams['redis-password'] and the "
    f"{EXTERNAL_STORAGE_NAMESPACE_ANNOTATION} annotation once it is set. "
    "airflow_ray_k8s.specs.migrate_gcs_ft_annotation(manifest) moves all of them into the struct "
    "and removes the annotation; load its result instead."
)


def legacy_ft_warning(annotations: Mapping[str, str], has_options: bool) -> list[tuple[str, type[Warning]]]:
    """The warning to emit for these annotations (none when the struct is used, or FT is off)."""
    if has_options or annotations.get(FT_ENABLED_ANNOTATION, "").lower() != "true":
        return []
    return [(MIGRATION_HINT, LegacyGcsFtAnnotationWarning)]


def migrate_gcs_ft_annotation(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a RayCluster or RayJob manifest that uses ``gcsFaultToleranceOptions``.

    The ``ray.io/ft-enabled`` annotation is removed. If it said ``true``, the head container's
    ``RAY_REDIS_ADDRESS``, ``REDIS_PASSWORD`` and ``REDIS_USERNAME`` env vars (the credentials
    literal or ``valueFrom``), ``rayStartParams["redis-password"]`` / ``["redis-username"]`` and the
    ``ray.io/external-storage-namespace`` annotation move into ``gcsFaultToleranceOptions``
    (values already in the struct win). A manifest without the annotation comes back unchanged.

    :param manifest: the whole object (``apiVersion``, ``kind``, ``metadata``, ``spec``).
    :raises SpecValidationError: a setting cannot be moved, e.g. a ``RAY_REDIS_ADDRESS`` given by
        ``valueFrom`` (``redisAddress`` is a plain string in the CRD).
    """
    if not isinstance(manifest, Mapping):
        raise SpecValidationError([("(manifest)", f"must be a mapping, not {type(manifest).__name__}")])
    out: dict[str, Any] = copy.deepcopy(dict(manifest))
    metadata = out.get("metadata")
    if not isinstance(metadata, dict):
        return out
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict) or FT_ENABLED_ANNOTATION not in annotations:
        return out
    enabled = str(annotations.pop(FT_ENABLED_ANNOTATION)).lower() == "true"
    storage_namespace = annotations.pop(EXTERNAL_STORAGE_NAMESPACE_ANNOTATION, None) if enabled else None
    if not annotations:
        del metadata["annotations"]
    spec = out.get("spec")
    if not enabled or not isinstance(spec, dict):
        return out
    is_job = out.get("kind") == "RayJob" or "rayClusterSpec" in spec or "entrypoint" in spec
    cluster = spec.get("rayClusterSpec") if is_job else spec
    if not isinstance(cluster, dict):
        return out
    options = cluster.get("gcsFaultToleranceOptions")
    options = options if isinstance(options, dict) else {}
    found: dict[str, Any] = {}
    if storage_namespace:
        found["externalStorageNamespace"] = storage_namespace
    head = cluster.get("headGroupSpec")
    if isinstance(head, dict):
        found.update(_take_start_params(head))
        path = "spec.rayClusterSpec.headGroupSpec" if is_job else "spec.headGroupSpec"
        found.update(_take_env(head, options, f"{path}.template.spec.containers[0].env"))
    cluster["gcsFaultToleranceOptions"] = {**found, **options}
    return out


def _take_start_params(head: dict[str, Any]) -> dict[str, Any]:
    """Remove the head's ``redis-password`` / ``redis-username`` start params; their struct fields."""
    params = head.get("rayStartParams")
    found: dict[str, Any] = {}
    if isinstance(params, dict):
        for key, target in (("redis-password", "redisPassword"), ("redis-username", "redisUsername")):
            if key in params:
                found[target] = {"value": str(params.pop(key))}
    return found


def _take_env(head: dict[str, Any], options: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Remove the head's Redis env vars; the struct fields they become.

    :raises SpecValidationError: the address cannot become ``redisAddress`` (see :func:`_address`).
    """
    container = _head_container(head)
    if container is None or not isinstance(container.get("env"), list):
        return {}
    found: dict[str, Any] = {}
    kept = []
    for index, var in enumerate(container["env"]):
        name = var.get("name") if isinstance(var, dict) else None
        if name == REDIS_ADDRESS_ENV:
            if "redisAddress" not in options:
                found["redisAddress"] = _address(var, f"{path}[{index}]")
        elif name in (REDIS_PASSWORD_ENV, REDIS_USERNAME_ENV):
            # The CRD's redisPassword / redisUsername are {value, valueFrom}, valueFrom being the same
            # EnvVarSource as an env var's: both forms move as they are.
            target = "redisPassword" if name == REDIS_PASSWORD_ENV else "redisUsername"
            found[target] = {k: var[k] for k in ("value", "valueFrom") if k in var}
        else:
            kept.append(var)
    container["env"] = kept
    if not kept:
        del container["env"]
    return found


def _address(var: Mapping[str, Any], path: str) -> str:
    """The literal value of the head's ``RAY_REDIS_ADDRESS`` (``""`` when it has none, as in Kubernetes)."""
    if "valueFrom" in var:
        # gcsFaultToleranceOptions.redisAddress is a plain string in the CRD: it has no valueFrom.
        raise SpecValidationError(
            [
                (
                    path,
                    f"{REDIS_ADDRESS_ENV} is a valueFrom reference, but "
                    "gcsFaultToleranceOptions.redisAddress takes a plain "
                    "string: resolve the address first and write it as the variable's value, or remove "
                    "the ray.io/ft-enabled annotation and set gcsFaultToleranceOptions by hand",
                )
            ]
        )
    value = var.get("value", "")
    if not isinstance(value, str):
        raise SpecValidationError(
            [(path, f"{REDIS_ADDRESS_ENV} must be a string, not {type(value).__name__}")]
        )
    return value


def _head_container(head: Mapping[str, Any]) -> dict[str, Any] | None:
    template = head.get("template")
    pod = template.get("spec") if isinstance(template, dict) else None
    containers = pod.get("containers") if isinstance(pod, dict) else None
    if isinstance(containers, list) and containers and isinstance(containers[0], dict):
        return containers[0]
    return None
