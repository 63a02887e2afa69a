"""Create or update a RayService so that a retry never starts a second upgrade (sync, worker side).

The RayService's name is fixed by the DAG author (a served model keeps its name and its endpoint
across runs), so the name alone cannot tell one deploy from the next. The spec can: the object
carries the hash of the spec it was last written with (``airflow-ray-k8s.io/spec-hash``). A deploy
whose spec hashes the same as the stored one writes nothing and only waits, whichever try or run
it is; a different spec is written once, as a merge patch of the stored spec into the new one.
Imported only inside ``execute`` (the spec models are not free to import).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_ray_k8s import naming
from airflow_ray_k8s.naming import TaskIdentity
from airflow_ray_k8s.resources import RAYSERVICE

#: The annotation naming the DAG run and try that last wrote the RayService's spec.
ANNOTATION_DEPLOYED_BY = f"{naming.LABEL_PREFIX}/deployed-by"


@dataclass(frozen=True)
class Applied:
    """What :func:`apply` did.

    :param object: the RayService as the server holds it after the call.
    :param action: ``created``, ``updated`` or ``unchanged`` (the spec was already the one asked for).
    """

    object: dict[str, Any]
    action: str

    @property
    def generation(self) -> int | None:
        """``metadata.generation`` after the write: the spec generation to wait for."""
        value = (self.object.get("metadata") or {}).get("generation")
        return int(value) if value is not None else None


def load_service_spec(source: Any, serve_config: Any = None, image: str | None = None) -> Any:
    """A :class:`~airflow_ray_k8s.specs.rayservice.RayServiceSpec` with the deploy's changes applied.

    :param serve_config: replaces ``serveConfigV2`` (a dict or YAML text), e.g. with a new model URI.
    :param image: replaces the image of every Ray container (container 0 of the head and workers).
    :raises SpecValidationError: the result breaks a KubeRay or Ray Serve rule.
    """
    from airflow_ray_k8s.exceptions import SpecValidationError
    from airflow_ray_k8s.specs import load_rayservice

    spec = load_rayservice(source)
    if serve_config is None and spec.serve_config is None:
        raise SpecValidationError([("serve_config", "is required: the Serve applications to deploy")])
    if serve_config is None and not image:
        return spec
    data = spec.to_dict()
    if serve_config is not None:
        data["serveConfigV2"] = serve_config
    if image:
        cluster = data["rayClusterConfig"]
        groups = [cluster.get("headGroupSpec") or {}, *(cluster.get("workerGroupSpecs") or [])]
        for group in groups:
            containers = ((group.get("template") or {}).get("spec") or {}).get("containers") or []
            if containers:
                containers[0]["image"] = image
    return type(spec).from_parts(
        data, labels=spec.labels, annotations=spec.annotations, object_meta=spec.object_meta
    )


def service_body(
    *,
    name: str,
    namespace: str,
    identity: TaskIdentity,
    try_number: int,
    spec: Any,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The whole RayService: the spec, the user's labels / annotations and the provider's.

    No expiry annotation: a RayService serves until a :class:`RayServiceDeleteOperator` (or a
    person) deletes it; the labels name the last deploying run so a sweeper can still find it.

    :raises SpecValidationError: the name, labels, annotations or spec break a rule.
    """
    body: dict[str, Any] = spec.to_manifest(
        name,
        namespace=namespace,
        labels={**(labels or {}), **identity.labels(try_number=try_number)},
        annotations={
            **(annotations or {}),
            **identity.annotations(),
            ANNOTATION_DEPLOYED_BY: f"{identity.run_id} try {try_number}",
        },
    )
    return body


def apply(hook: Any, body: Mapping[str, Any]) -> Applied:
    """Create the RayService, or write the new spec onto the existing one if it differs.

    :raises KubeConflictError: a RayService of that name exists that this provider did not create.
    """
    from airflow_ray_k8s.exceptions import KubeConflictError
    from airflow_ray_k8s.kube.ops import with_spec_hash
    from airflow_ray_k8s.kube.patches import merge_patch

    body = with_spec_hash(body)
    meta = body["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    existing = hook.get_or_none(RAYSERVICE, name, namespace=namespace)
    if existing is None:
        result = hook.create(RAYSERVICE, body, namespace=namespace)
        if result.created:
            return Applied(result.object, "created")
        existing = result.object  # created by a concurrent try a moment ago
    labels = (existing.get("metadata") or {}).get("labels") or {}
    if labels.get(naming.LABEL_MANAGED_BY) != naming.MANAGED_BY_VALUE:
        raise KubeConflictError(
            f"RayService {namespace}/{name} exists and was not created by airflow-ray-k8s; "
            "refusing to change it",
            status=409,
            reason="AlreadyExists",
        )
    stored = ((existing.get("metadata") or {}).get("annotations") or {}).get(naming.ANNOTATION_SPEC_HASH)
    if stored == meta["annotations"][naming.ANNOTATION_SPEC_HASH]:
        return Applied(existing, "unchanged")
    patch = {
        "metadata": {"labels": meta.get("labels") or {}, "annotations": meta.get("annotations") or {}},
        "spec": merge_patch(copy.deepcopy(existing.get("spec") or {}), body["spec"]),
    }
    return Applied(hook.patch(RAYSERVICE, name, patch, namespace=namespace), "updated")


def serve_url(hook: Any, namespace: str, name: str) -> str:
    """The API server's service-proxy URL of the RayService's Serve port, for people, or ``""``."""
    from urllib.parse import urlsplit

    from airflow_ray_k8s.resources import SERVICE

    try:
        host = str(hook.transport.api_client.configuration.host or "")
    except Exception:  # no usable configuration: no link, never a failed task
        return ""
    parts = urlsplit(host)
    if not parts.hostname:
        return ""
    netloc = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname  # never user:password@
    path = SERVICE.object_path(f"{name}-serve-svc:serve", namespace, "proxy")
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}{path}/"
