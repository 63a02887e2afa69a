"""RayJob / RayCluster objects as the provider creates them, and foreign ones, for sweeper tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_ray_k8s import naming
from airflow_ray_k8s._lifecycle.manifests import object_metadata
from airflow_ray_k8s.naming import TaskIdentity

#: Now (whole seconds, as the expiry annotation keeps them): the API tests sweep at the real time.
NOW = datetime.now(timezone.utc).replace(microsecond=0)
PAST = NOW - timedelta(hours=2)
FUTURE = NOW + timedelta(hours=2)

CLUSTER_SPEC: dict[str, Any] = {
    "headGroupSpec": {
        "rayStartParams": {},
        "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.52.0"}]}},
    }
}


def ours(
    kind: str,
    name: str,
    namespace: str,
    *,
    expires: datetime,
    identity: TaskIdentity | None = None,
) -> dict[str, Any]:
    """An object with the provider's labels and annotations (``identity`` defaults to one per name)."""
    identity = identity or TaskIdentity("nightly", "train", f"scheduled__{name}", -1)
    meta = object_metadata(
        name=name,
        namespace=namespace,
        identity=identity,
        try_number=1 if kind == "RayJob" else None,
        expires_at=expires,
    )
    return _object(kind, meta)


def foreign(
    kind: str, name: str, namespace: str, *, labels: dict[str, str], annotations: dict[str, str]
) -> dict[str, Any]:
    """An object someone else created."""
    return _object(kind, {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations})


def forged(kind: str, name: str, namespace: str) -> dict[str, Any]:
    """Someone else's object that copied the provider's labels and annotations but names another
    task in its annotations (so its task-key label does not match)."""
    obj = ours(kind, name, namespace, expires=PAST)
    obj["metadata"]["annotations"][naming.ANNOTATION_TASK_ID] = "not-the-task-the-key-names"
    return obj


def _object(kind: str, meta: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = (
        {
            "entrypoint": "python -c 'print(1)'",
            "rayClusterSpec": CLUSTER_SPEC,
            "shutdownAfterJobFinishes": True,
        }
        if kind == "RayJob"
        else CLUSTER_SPEC
    )
    return {"apiVersion": "ray.io/v1", "kind": kind, "metadata": meta, "spec": spec}
