"""Build the RayJob / RayCluster objects the operators submit, validated before any API call.

The spec models (:mod:`airflow_ray_k8s.specs`) hold KubeRay's rules; this module adds the object
around a spec: the deterministic name, the identity labels, the expiry annotation. Imported only
inside ``execute`` (the spec models are not free to import).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_ray_k8s import naming
from airflow_ray_k8s.naming import TaskIdentity
from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB


def load_cluster_spec(source: Any) -> Any:
    """A :class:`~airflow_ray_k8s.specs.raycluster.RayClusterSpec` from a model, dict, YAML text or path.

    :raises SpecValidationError: the spec breaks a rule KubeRay would reject it for.
    """
    from airflow_ray_k8s.specs import load_raycluster

    return load_raycluster(source)


def object_metadata(
    *,
    name: str,
    namespace: str,
    identity: TaskIdentity,
    try_number: int | None,
    expires_at: datetime,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``metadata`` with the user's labels / annotations and the provider's (which win)."""
    return {
        "name": name,
        "namespace": namespace,
        "labels": {**(labels or {}), **identity.labels(try_number=try_number)},
        "annotations": {
            **(annotations or {}),
            **identity.annotations(),
            naming.ANNOTATION_EXPIRES_AT: naming.format_expiry(expires_at),
        },
    }


def rayjob_body(
    *,
    name: str,
    namespace: str,
    identity: TaskIdentity,
    try_number: int,
    expires_at: datetime,
    spec_fields: Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A whole RayJob object; ``spec_fields`` are :class:`RayJobSpec` fields in Python names.

    :raises SpecValidationError: the spec, labels or annotations break a rule.
    """
    from airflow_ray_k8s.specs.rayjob import RayJobSpec

    metadata = object_metadata(
        name=name,
        namespace=namespace,
        identity=identity,
        try_number=try_number,
        expires_at=expires_at,
        labels=labels,
        annotations=annotations,
    )
    spec = RayJobSpec.from_parts(
        {k: v for k, v in spec_fields.items() if v is not None},
        labels=metadata["labels"],
        annotations=metadata["annotations"],
    )
    return {
        "apiVersion": RAYJOB.api_version,
        "kind": RAYJOB.kind,
        "metadata": metadata,
        "spec": spec.to_dict(),
    }


def raycluster_body(
    *,
    name: str,
    namespace: str,
    identity: TaskIdentity,
    expires_at: datetime,
    spec: Any,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A whole RayCluster object from a loaded spec.

    :raises SpecValidationError: the spec, labels or annotations break a rule.
    """
    metadata = object_metadata(
        name=name,
        namespace=namespace,
        identity=identity,
        try_number=None,
        expires_at=expires_at,
        labels=labels,
        annotations=annotations,
    )
    checked = type(spec).from_parts(spec, labels=metadata["labels"], annotations=metadata["annotations"])
    return {
        "apiVersion": RAYCLUSTER.api_version,
        "kind": RAYCLUSTER.kind,
        "metadata": metadata,
        "spec": checked.to_dict(),
    }
