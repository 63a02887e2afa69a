"""The ``CustomResourceDefinition`` objects of KubeRay served by the emulated API.

When the real CRD manifests are available (``KUBERAY_CRDS_DIR``, or the shared reference folder
next to a source checkout) they are served as they are, so a client can read the true schema and
served versions. They are reference data that is not shipped with the package, so without them a
small stub with the same names, scope, served versions and status subresource is served instead.

The RayService CRD is not among the shared v1.7.0 reference files: it is read from the KubeRay
v1.6.2 module the real-cluster build downloads (``make kuberay-crds`` copies that release's CRDs to
``.tools/realkube/crds``), or from ``$KUBERAY_RAYSERVICE_CRD``. v1.7 adds nothing to the RayService
schema that the provider writes (``NewClusterWithIncrementalUpgrade`` and ``clusterUpgradeOptions``
are in v1.6.2 already), see docs/rayservice.md.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import yaml

from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB, RAYSERVICE, Resource
from airflow_ray_k8s.testing.emulator.schema import StructuralSchema, version_schema

CRDS_DIR_ENV = "KUBERAY_CRDS_DIR"
RAYSERVICE_CRD_ENV = "KUBERAY_RAYSERVICE_CRD"
#: The KubeRay release whose RayService CRD is read (the one the real-cluster build uses).
RAYSERVICE_CRD_RELEASE = "v1.6.2"


def default_crd_dir() -> Path | None:
    """``$KUBERAY_CRDS_DIR``, else ``<checkout>/../shared/kuberay/crds`` when it exists, else ``None``."""
    env = os.environ.get(CRDS_DIR_ENV)
    if env:
        return Path(env)
    # parents: emulator -> testing -> airflow_ray_k8s -> checkout
    shared = Path(__file__).resolve().parents[3].parent / "shared" / "kuberay" / "crds"
    return shared if shared.is_dir() else None


def rayservice_crd_path(crd_dir: Path | None = None) -> Path | None:
    """The RayService CRD file: ``$KUBERAY_RAYSERVICE_CRD``, else ``crd_dir``'s (a v1.7 one, if ever
    added there), else the v1.6.2 one ``make kuberay-crds`` copies into ``.tools``; ``None`` if none."""
    env = os.environ.get(RAYSERVICE_CRD_ENV)
    name = f"{RAYSERVICE.group}_{RAYSERVICE.plural}.yaml"
    checkout = Path(__file__).resolve().parents[3]
    candidates = [Path(env)] if env else []
    if crd_dir is not None:
        candidates.append(crd_dir / name)
    candidates.append(checkout / ".tools" / "realkube" / "crds" / name)
    return next((path for path in candidates if path.is_file()), None)


def _stub(res: Resource, short_names: list[str]) -> dict[str, Any]:
    version = {
        "name": res.version,
        "served": True,
        "storage": True,
        "subresources": {"status": {}},
        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{res.plural}.{res.group}"},
        "spec": {
            "group": res.group,
            "names": {
                "kind": res.kind,
                "listKind": f"{res.kind}List",
                "plural": res.plural,
                "singular": res.kind.lower(),
                "shortNames": short_names,
                "categories": ["all"],
            },
            "scope": "Namespaced",
            "versions": [version],
        },
    }


def _established(crd: dict[str, Any]) -> dict[str, Any]:
    # The API server reports a served CRD as Established with its accepted names.
    spec = crd.get("spec", {})
    crd["status"] = {
        "acceptedNames": spec.get("names", {}),
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
            },
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
            },
        ],
        "storedVersions": [v["name"] for v in spec.get("versions", []) if v.get("storage")],
    }
    return crd


@functools.lru_cache(maxsize=8)
def _parsed(path: Path) -> dict[str, Any]:
    # Parsed once per process (about a second for the real manifests); callers get copies.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open("rb") as handle:
        return dict(yaml.load(handle, Loader=loader))  # noqa: S506 - a safe loader (C or Python)


def _crd(res: Resource, crd_dir: Path | None) -> dict[str, Any]:
    if res == RAYSERVICE:
        path = rayservice_crd_path(crd_dir)
    else:
        path = crd_dir / f"{res.group}_{res.plural}.yaml" if crd_dir else None
    if path is not None and path.is_file():
        return copy.deepcopy(_parsed(path))
    return _stub(res, [])


def load_kuberay_crds(crd_dir: Path | None) -> list[dict[str, Any]]:
    """The RayCluster, RayJob and RayService CRDs, from ``crd_dir`` when they are there, else stubs."""
    return [_established(_crd(res, crd_dir)) for res in (RAYCLUSTER, RAYJOB, RAYSERVICE)]


@functools.lru_cache(maxsize=8)
def kuberay_schemas(crd_dir: Path | None) -> dict[Resource, StructuralSchema]:
    """The structural schemas of the served RayCluster and RayJob versions (shared, read-only)."""
    schemas = {}
    for res in (RAYCLUSTER, RAYJOB):
        schema = version_schema(_crd(res, crd_dir), res.version)
        if schema is not None:
            schemas[res] = StructuralSchema(res.kind, schema)
    return schemas
