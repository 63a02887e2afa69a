"""The real KubeRay v1.7.0 CRD schemas, as ``jsonschema`` validators, for the spec tests.

The CRDs are read from ``$AIRFLOW_RAY_K8S_CRD_DIR`` or ``../shared/kuberay/crds`` beside the repository;
they are never copied into the repository. Tests that need them skip, saying why, when they are absent.
Parsing the 2.3 MB of YAML takes a second or two, so it happens once per session.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from airflow_ray_k8s.naming import dns1035_label_errors

ROOT = Path(__file__).resolve().parents[3]
CRD_DIR_ENV = "AIRFLOW_RAY_K8S_CRD_DIR"
CRD_FILES = {"RayCluster": "ray.io_rayclusters.yaml", "RayJob": "ray.io_rayjobs.yaml"}
FIXTURES = ROOT / "tests" / "fixtures" / "manifests"
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


def crd_dir() -> Path:
    """Where the CRDs are looked for."""
    return Path(os.environ.get(CRD_DIR_ENV) or ROOT.parent / "shared" / "kuberay" / "crds")


def to_jsonschema(node: Any) -> Any:
    """A Kubernetes structural schema as plain JSON Schema, as the API server applies it.

    - ``x-kubernetes-int-or-string`` -> ``anyOf: [integer, string]`` (controller-gen already emits
      the ``anyOf``; added when missing);
    - ``nullable: true`` -> ``null`` is allowed;
    - ``format: int32 / int64`` -> the integer range;
    - an object with ``properties`` and neither ``additionalProperties`` nor
      ``x-kubernetes-preserve-unknown-fields`` gets ``additionalProperties: false``. The API server
      would prune (or, with strict field validation, reject) such fields; here a misspelled field a
      builder emits fails the test instead of vanishing silently;
    - other ``x-kubernetes-*`` keys (list types, map types, CEL rules) are dropped: the CEL rules are
      mirrored by the models and tested there.
    """
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "format", "default"):
            continue
        if key == "properties":
            out[key] = {name: to_jsonschema(schema) for name, schema in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = to_jsonschema(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [to_jsonschema(schema) for schema in value]
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("format") in ("int32", "int64"):
        low, high = INT32 if node["format"] == "int32" else INT64
        out.setdefault("minimum", low)
        out.setdefault("maximum", high)
    if (
        node.get("type") == "object"
        and "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


@functools.cache
def _openapi_schema(kind: str) -> dict[str, Any]:
    """The v1 ``openAPIV3Schema`` of the CRD of ``kind``, parsed once per session."""
    path = crd_dir() / CRD_FILES[kind]
    with path.open("rb") as handle:
        crd = yaml.load(handle, Loader=yaml.CSafeLoader)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


@functools.cache
def _validator(kind: str) -> jsonschema.protocols.Validator:
    schema = to_jsonschema(_openapi_schema(kind))
    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    validator_cls.check_schema(schema)
    return validator_cls(schema)


class CrdSchemas:
    """Validates whole manifests against the v1.7.0 CRD schema of their kind."""

    def errors(self, manifest: Mapping[str, Any]) -> list[str]:
        """Every schema violation, as ``path: message`` strings (empty when valid)."""
        validator = _validator(manifest["kind"])
        found = [
            f"{'.'.join(str(p) for p in error.absolute_path)}: {error.message[:300]}"
            for error in validator.iter_errors(manifest)
        ]
        # The CRD schema says only ``metadata: object``; the API server checks the name itself.
        name = manifest.get("metadata", {}).get("name", "")
        found.extend(f"metadata.name: {rule}" for rule in dns1035_label_errors(name))
        return sorted(found)

    def spec_schema(self, kind: str) -> dict[str, Any]:
        """The CRD's raw (structural) schema of ``spec`` for ``kind``."""
        spec: dict[str, Any] = _openapi_schema(kind)["properties"]["spec"]
        return spec

    def assert_valid(self, manifest: Mapping[str, Any]) -> None:
        errors = self.errors(manifest)
        assert not errors, "not accepted by the KubeRay v1.7.0 CRD schema:\n" + "\n".join(errors)


@pytest.fixture(scope="session")
def crd() -> CrdSchemas:
    """The CRD validators; skips the test when the CRDs are not there."""
    missing = [name for name in CRD_FILES.values() if not (crd_dir() / name).is_file()]
    if missing:
        pytest.skip(
            f"KubeRay v1.7.0 CRDs not found in {crd_dir()} (missing {', '.join(missing)}); "
            f"set {CRD_DIR_ENV} to the folder holding ray.io_rayclusters.yaml / ray.io_rayjobs.yaml"
        )
    return CrdSchemas()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The realistic manifests under tests/fixtures/manifests."""
    return FIXTURES
