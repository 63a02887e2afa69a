"""Check a manifest against the official Kubernetes API models (the ``kubernetes`` client's).

Every key must be a field of the model its parent field is typed as (a typo such as ``resourceName``
or ``apiGroup`` in a PolicyRule is an error), values must have the model's types, and building the
model runs the client's own required-field and enum checks. Lighter than a full OpenAPI document,
and pinned by the lock like every other dependency.
"""

from __future__ import annotations

import re
from typing import Any

from kubernetes.client import models

_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str, int, float),  # quantities and int-or-string fields may be written as numbers
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "object": (object,),
    "datetime": (str,),
    "date": (str,),
}


class ManifestError(AssertionError):
    """A manifest does not fit the Kubernetes API model."""


def model_name(api_version: str, kind: str) -> str:
    """``rbac.authorization.k8s.io/v1`` + ``Role`` -> ``V1Role``."""
    version = api_version.rsplit("/", 1)[-1]
    return f"{version[0].upper()}{version[1:]}{kind}"


def check(data: Any, type_name: str, path: str = "$") -> Any:
    """Build the model ``type_name`` from ``data``; raise :class:`ManifestError` on any mismatch."""
    if m := re.fullmatch(r"list\[(.+)\]", type_name):
        if not isinstance(data, list):
            raise ManifestError(f"{path}: expected a list, got {type(data).__name__}")
        return [check(item, m.group(1), f"{path}[{i}]") for i, item in enumerate(data)]
    if m := re.fullmatch(r"dict[(\[]str, (.+)[)\]]", type_name):
        if not isinstance(data, dict):
            raise ManifestError(f"{path}: expected a mapping, got {type(data).__name__}")
        return {k: check(v, m.group(1), f"{path}.{k}") for k, v in data.items()}
    if type_name in _PRIMITIVES:
        if not isinstance(data, _PRIMITIVES[type_name]) or (type_name != "bool" and isinstance(data, bool)):
            raise ManifestError(f"{path}: expected {type_name}, got {data!r}")
        return data
    cls = getattr(models, type_name, None)
    if cls is None:
        raise ManifestError(f"{path}: no Kubernetes model {type_name}")
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: expected a {type_name} mapping, got {type(data).__name__}")
    by_json = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    unknown = sorted(set(data) - set(by_json))
    if unknown:
        raise ManifestError(f"{path}: unknown field(s) {unknown} for {type_name}")
    kwargs = {
        by_json[key]: check(value, cls.openapi_types[by_json[key]], f"{path}.{key}")
        for key, value in data.items()
    }
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ManifestError(f"{path}: {type_name}: {exc}") from exc


def check_document(doc: dict[str, Any]) -> Any:
    """Check one manifest document by its ``apiVersion`` and ``kind``."""
    return check(doc, model_name(str(doc.get("apiVersion")), str(doc.get("kind"))))
