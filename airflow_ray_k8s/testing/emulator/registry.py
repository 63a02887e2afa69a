"""Which resources the emulated API serves, with the discovery facts clients look up."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from airflow_ray_k8s.resources import (
    CRD,
    EVENT,
    NAMESPACE,
    POD,
    RAYCLUSTER,
    RAYJOB,
    RAYSERVICE,
    SECRET,
    SERVICE,
    Resource,
)

CONFIGMAP = Resource("", "v1", "configmaps", "ConfigMap")
SELF_SUBJECT_ACCESS_REVIEW = Resource(
    "authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", namespaced=False
)

_ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ServedResource:
    """A resource served by the emulated API.

    :param ref: the resource reference.
    :param subresources: subresources served (``status`` makes status writes separate from spec writes).
    :param short_names: discovery short names (``rc`` style).
    :param verbs: discovery verbs.
    :param stored: ``False`` for virtual resources (reviews) that are answered, never stored.
    """

    ref: Resource
    subresources: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = _ALL_VERBS
    stored: bool = True

    @property
    def has_status(self) -> bool:
        """Whether ``status`` is a subresource (main writes then ignore status)."""
        return "status" in self.subresources

    @property
    def singular(self) -> str:
        """Discovery's singular name: the lower-cased kind."""
        return self.ref.kind.lower()


CORE_RESOURCES = (
    ServedResource(NAMESPACE, subresources=("status",), short_names=("ns",)),
    ServedResource(POD, subresources=("status",), short_names=("po",)),
    ServedResource(SERVICE, subresources=("status", "proxy"), short_names=("svc",)),
    ServedResource(EVENT, short_names=("ev",)),
    ServedResource(SECRET),
    ServedResource(CONFIGMAP, short_names=("cm",)),
    ServedResource(CRD, subresources=("status",), short_names=("crd", "crds")),
    ServedResource(SELF_SUBJECT_ACCESS_REVIEW, verbs=("create",), stored=False),
)
KUBERAY_RESOURCES = (
    ServedResource(RAYCLUSTER, subresources=("status",)),
    ServedResource(RAYJOB, subresources=("status",)),
    ServedResource(RAYSERVICE, subresources=("status",)),
)


class ResourceRegistry:
    """Lookup of served resources by reference or by URL triple.

    :param served: the resources to serve.
    """

    def __init__(self, served: Iterable[ServedResource]) -> None:
        self._by_ref: dict[Resource, ServedResource] = {}
        self._by_url: dict[tuple[str, str, str], ServedResource] = {}
        for item in served:
            self.add(item)

    def add(self, item: ServedResource) -> None:
        """Serve one more resource (replaces a previous entry for the same URL triple)."""
        self._by_ref[item.ref] = item
        self._by_url[(item.ref.group, item.ref.version, item.ref.plural)] = item

    def remove(self, ref: Resource) -> None:
        """Stop serving a resource (e.g. to emulate a cluster without the KubeRay CRDs)."""
        self._by_ref.pop(ref, None)
        self._by_url.pop((ref.group, ref.version, ref.plural), None)

    def lookup(self, group: str, version: str, plural: str) -> ServedResource | None:
        """The served resource at ``/apis/{group}/{version}/{plural}`` (``group`` ``""`` is core)."""
        return self._by_url.get((group, version, plural))

    def get(self, ref: Resource) -> ServedResource:
        """The served entry of a reference; ``KeyError`` when it is not served."""
        return self._by_ref[ref]

    def __contains__(self, ref: object) -> bool:
        return ref in self._by_ref

    def __iter__(self) -> Iterator[ServedResource]:
        return iter(list(self._by_ref.values()))
