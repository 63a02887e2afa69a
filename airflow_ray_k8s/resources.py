"""Frozen references to the Kubernetes resources the provider touches.

One definition instead of (group, version, plural) string triples repeated across files.
Pure: importing this module costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """A Kubernetes resource type.

    :param group: API group, ``""`` for the core group.
    :param version: API version within the group.
    :param plural: the URL segment (``rayjobs``).
    :param kind: the object ``kind`` (``RayJob``).
    :param namespaced: whether objects live in a namespace.
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` field of objects of this resource (``ray.io/v1``, ``v1``)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_prefix(self) -> str:
        """The URL prefix of the group/version (``/apis/ray.io/v1``, ``/api/v1``)."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def collection_path(self, namespace: str | None = None) -> str:
        """URL of the collection, namespaced when ``namespace`` is given."""
        if self.namespaced and namespace:
            return f"{self.api_prefix}/namespaces/{namespace}/{self.plural}"
        return f"{self.api_prefix}/{self.plural}"

    def object_path(self, name: str, namespace: str | None = None, subresource: str | None = None) -> str:
        """URL of one object (optionally of its ``status`` or other subresource)."""
        path = f"{self.collection_path(namespace)}/{name}"
        return f"{path}/{subresource}" if subresource else path


KUBERAY_GROUP = "ray.io"
KUBERAY_VERSION = "v1"

RAYCLUSTER = Resource(KUBERAY_GROUP, KUBERAY_VERSION, "rayclusters", "RayCluster")
RAYJOB = Resource(KUBERAY_GROUP, KUBERAY_VERSION, "rayjobs", "RayJob")
RAYSERVICE = Resource(KUBERAY_GROUP, KUBERAY_VERSION, "rayservices", "RayService")
POD = Resource("", "v1", "pods", "Pod")
SERVICE = Resource("", "v1", "services", "Service")
EVENT = Resource("", "v1", "events", "Event")
SECRET = Resource("", "v1", "secrets", "Secret")
NAMESPACE = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
CRD = Resource(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced=False
)

__all__ = [
    "CRD",
    "EVENT",
    "KUBERAY_GROUP",
    "KUBERAY_VERSION",
    "NAMESPACE",
    "POD",
    "RAYCLUSTER",
    "RAYJOB",
    "RAYSERVICE",
    "SECRET",
    "SERVICE",
    "Resource",
]
