"""Object metadata checks the real API server applies to every object (names, labels, owners).

These are the API server's generic checks; KubeRay's own spec rules live in ``validation.py``.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_ray_k8s.resources import NAMESPACE, SERVICE, Resource

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

#: The API server's limit on all of an object's annotations (TotalAnnotationSizeLimitB, 256 KiB).
MAX_ANNOTATIONS_BYTES = 256 * 1024

# Namespaces and Services are DNS labels (they become DNS names); most others are subdomains.
_LABEL_NAMED = frozenset({NAMESPACE, SERVICE})


def check_name(res: Resource, name: Any) -> list[tuple[str, str]]:
    """Problems with ``metadata.name`` for objects of ``res``."""
    if not isinstance(name, str) or not name:
        return [("metadata.name", "Required value: name or generateName is required")]
    if res in _LABEL_NAMED:
        if len(name) > 63 or not _DNS1123_LABEL.match(name):
            return [("metadata.name", f"Invalid value: {name!r}: a lowercase RFC 1123 label must be valid")]
    elif len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        return [("metadata.name", f"Invalid value: {name!r}: a lowercase RFC 1123 subdomain must be valid")]
    return []


def _check_qualified_key(field: str, key: Any) -> list[tuple[str, str]]:
    if not isinstance(key, str) or not key:
        return [(field, f"Invalid value: {key!r}: name part must be non-empty")]
    prefix, _, name = key.rpartition("/")
    problems = []
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        problems.append((field, f"Invalid value: {key!r}: prefix part must be a DNS subdomain"))
    if len(name) > 63 or not _QUALIFIED_NAME.match(name):
        problems.append((field, f"Invalid value: {key!r}: name part must be a valid qualified name"))
    return problems


def check_metadata(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems with labels, annotations, finalizers and ownerReferences."""
    problems: list[tuple[str, str]] = []
    labels = meta.get("labels")
    if labels is not None:
        if not isinstance(labels, dict):
            problems.append(("metadata.labels", "Invalid value: must be a map of strings"))
        else:
            for key, value in labels.items():
                problems += _check_qualified_key("metadata.labels", key)
                if (
                    not isinstance(value, str)
                    or len(value) > 63
                    or (value and not _QUALIFIED_NAME.match(value))
                ):
                    problems.append(
                        ("metadata.labels", f"Invalid value: {value!r}: a valid label value is required")
                    )
    annotations = meta.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
            problems.append(("metadata.annotations", "Invalid value: must be a map of strings"))
        else:
            for key in annotations:
                problems += _check_qualified_key("metadata.annotations", key)
            # apimachinery ValidateAnnotationsSize: keys and values together, in bytes.
            size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
            if size > MAX_ANNOTATIONS_BYTES:
                problems.append(
                    ("metadata.annotations", f"Too long: must have at most {MAX_ANNOTATIONS_BYTES} bytes")
                )
    finalizers = meta.get("finalizers")
    if finalizers is not None and (
        not isinstance(finalizers, list) or not all(isinstance(f, str) and f for f in finalizers)
    ):
        problems.append(("metadata.finalizers", "Invalid value: must be a list of strings"))
    owners = meta.get("ownerReferences")
    if owners is not None:
        if not isinstance(owners, list):
            problems.append(("metadata.ownerReferences", "Invalid value: must be a list"))
        else:
            for index, ref in enumerate(owners):
                for field in ("apiVersion", "kind", "name", "uid"):
                    if not isinstance(ref, dict) or not ref.get(field):
                        problems.append((f"metadata.ownerReferences[{index}].{field}", "Required value"))
    return problems
