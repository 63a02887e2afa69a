"""Applying plain manifests (CRDs, RBAC, namespaces) to the real API server: the collection path
of each kind, and ``deploy/rbac.yaml`` with its namespaces and service account swapped in.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from airflow_ray_k8s.testing.realkube.apiclient import ApiClient

# kind -> (API prefix, plural, namespaced) for the kinds the fixture applies.
_PATHS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "Secret": ("/api/v1", "secrets", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "CustomResourceDefinition": ("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
}


def collection_path(obj: dict[str, Any]) -> str:
    """The URL an object of this kind is created at."""
    kind = obj.get("kind", "")
    if kind not in _PATHS:
        raise ValueError(f"the fixture does not know where a {kind!r} goes")
    prefix, plural, namespaced = _PATHS[kind]
    if namespaced:
        namespace = (obj.get("metadata") or {}).get("namespace") or "default"
        return f"{prefix}/namespaces/{namespace}/{plural}"
    return f"{prefix}/{plural}"


def documents(path: Path) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


async def apply_all(client: ApiClient, objects: Iterable[dict[str, Any]]) -> None:
    """Create each object, leaving those that exist already as they are."""
    for obj in objects:
        await client.ensure(collection_path(obj), obj)


def provider_rbac(
    rbac_file: Path, *, jobs_namespace: str, airflow_namespace: str, service_account: str
) -> list[dict[str, Any]]:
    """``deploy/rbac.yaml`` as a user applies it: its ``ray-jobs``/``airflow`` namespaces and its
    service account replaced by the given ones."""
    out: list[dict[str, Any]] = []
    for doc in documents(rbac_file):
        meta = doc.setdefault("metadata", {})
        if doc["kind"] == "ServiceAccount":
            meta["namespace"], meta["name"] = airflow_namespace, service_account
        elif "namespace" in meta:
            meta["namespace"] = jobs_namespace
        for subject in doc.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"], subject["name"] = airflow_namespace, service_account
        out.append(doc)
    return out
