"""Checks of the builders' arguments: each bad value becomes an ``(argument, rule)`` error.

The builders take plain Python values from DAG files (often rendered from templates), so a value of
the wrong type must come back as a :class:`~airflow_ray_k8s.exceptions.SpecValidationError` naming
the argument (``workers[1].memory``), never as a ``TypeError`` from deep inside the builder. Each
check appends its errors and returns the cleaned value, or ``None`` when there is none to use.
Messages give the type of a bad value, never the value itself: it may be a secret.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_ray_k8s.specs.base import INT32_MAX, Errors, join_path

#: What Docker accepts as an image tag (the default image's tag is ``ray_version``).
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DNS1123_SUBDOMAIN_MAX = 253


def kind(value: object) -> str:
    """The type of ``value`` as an error message says it."""
    return "None" if value is None else type(value).__name__


def check_int(
    value: Any,
    path: str,
    errors: Errors,
    *,
    minimum: int = 0,
    maximum: int = INT32_MAX,
    required: bool = False,
) -> int | None:
    """``value`` if it is an integer in ``[minimum, maximum]`` (``None`` is "unset" unless ``required``)."""
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append((path, f"must be an integer, not {kind(value)}"))
        return None
    if not minimum <= value <= maximum:
        errors.append((path, f"must be between {minimum} and {maximum}"))
        return None
    return value


def check_number(value: Any, path: str, errors: Errors) -> float | int | None:
    """``value`` if it is a finite number >= 0 (``None`` is "unset")."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.append((path, f"must be a number, not {kind(value)}"))
        return None
    # Infinity / NaN: KubeRay's JSON cannot carry them.
    if not math.isfinite(value) or value < 0:
        errors.append((path, "must be a finite number >= 0"))
        return None
    return value


def check_bool(value: Any, path: str, errors: Errors, *, required: bool = False) -> bool | None:
    """``value`` if it is ``True`` / ``False``: a truthy string such as ``"no"`` is refused, not guessed."""
    if value is None and not required:
        return None
    if not isinstance(value, bool):
        errors.append((path, f"must be True or False, not {kind(value)}"))
        return None
    return value


def check_str(value: Any, path: str, errors: Errors, *, required: bool = False) -> str | None:
    """``value`` if it is a non-blank string (``None`` is "unset" unless ``required``)."""
    if value is None and not required:
        return None
    if not isinstance(value, str):
        errors.append((path, f"must be a string, not {kind(value)}"))
        return None
    if not value.strip():
        errors.append((path, "must not be empty"))
        return None
    return value


def check_group_name(value: Any, path: str, errors: Errors) -> str | None:
    """A worker group's name: KubeRay writes it into its pods' ``ray.io/group`` label.

    The spec models only warn about such a name (KubeRay accepts it and the pods fail); a builder
    argument is refused, since the builder itself is about to make those pods' templates.
    """
    from airflow_ray_k8s.naming import label_value_errors

    name = check_str(value, path, errors, required=True)
    if name is None:
        return None
    rules = label_value_errors(name)
    errors.extend((path, f"is used as a label value and {rule}") for rule in rules)
    return None if rules else name


def check_choice(value: Any, path: str, errors: Errors, choices: Sequence[str]) -> str | None:
    """``value`` if it is one of ``choices`` (``None`` is "unset")."""
    if value is None:
        return None
    if not isinstance(value, str) or value not in choices:
        errors.append((path, f"must be one of {', '.join(map(repr, choices))}"))
        return None
    return value


def check_ray_version(value: Any, path: str, errors: Errors, *, is_image_tag: bool) -> str | None:
    """``ray_version``: a non-empty string, and a valid image tag when the default image uses it."""
    version = check_str(value, path, errors, required=True)
    if version is not None and is_image_tag and not _IMAGE_TAG.fullmatch(version):
        errors.append((path, "must be a Ray version such as 2.52.0 (it is the default image's tag)"))
        return None
    return version


def scalar_text(value: str | int | float | bool) -> str:
    """A string-map value as KubeRay wants it (the models' ``StringMap`` converts the same way)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_mapping(value: Any, path: str, errors: Errors) -> dict[str, Any] | None:
    """``value`` as a dict if it is a mapping with non-empty string keys (``None`` is "unset")."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        errors.append((path, f"must be a mapping, not {kind(value)}"))
        return None
    bad = [key for key in value if not isinstance(key, str) or not key]
    if bad:
        errors.append((path, "keys must be non-empty strings"))
        return None
    return dict(value)


def check_text_map(value: Any, path: str, errors: Errors) -> dict[str, str] | None:
    """A ``map[string]string`` (env, ray start params, metadata); numbers and bools become text."""
    mapping = check_mapping(value, path, errors)
    if mapping is None:
        return None
    out: dict[str, str] = {}
    for key, item in mapping.items():
        if isinstance(item, float) and not math.isfinite(item):
            errors.append((join_path(path, key), "must be a finite number"))
        elif isinstance(item, str | int | float | bool):
            out[key] = scalar_text(item)
        else:
            errors.append((join_path(path, key), f"must be a string or a number, not {kind(item)}"))
    return out if len(out) == len(mapping) else None


def check_labels(
    value: Any, path: str, errors: Errors, *, label_values: bool = True, numbers: bool = False
) -> dict[str, str] | None:
    """Labels (or, with ``label_values=False``, annotations): Kubernetes' key and value rules.

    :param numbers: numbers and bools are written as text first (a node selector's ``StringMap``
        does the same), rather than refused.
    """
    from airflow_ray_k8s.naming import label_value_errors, qualified_name_errors

    mapping = check_mapping(value, path, errors)
    if mapping is None:
        return None
    before = len(errors)
    out: dict[str, str] = {}
    for key, item in mapping.items():
        where = join_path(path, key)
        if numbers and isinstance(item, int | float) and math.isfinite(item):
            item = scalar_text(item)
        errors.extend((where, f"key {rule}") for rule in qualified_name_errors(key))
        if not isinstance(item, str):
            errors.append((where, f"value must be a string, not {kind(item)}"))
            continue
        if label_values:
            errors.extend((where, f"value {rule}") for rule in label_value_errors(item))
        out[key] = item
    return out if len(errors) == before else None


def check_list(
    value: Any, path: str, errors: Errors, item: type | tuple[type, ...], what: str
) -> list[Any] | None:
    """``value`` as a list; a single ``item`` stands for a list of one (``pip="numpy"``).

    A string is never split into characters, and a mapping never into its keys.
    """
    if value is None:
        return None
    if isinstance(value, item):
        return [value]
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        errors.append((path, f"must be {what} or a list of them, not {kind(value)}"))
        return None
    items = list(value)
    bad = [index for index, entry in enumerate(items) if not isinstance(entry, item)]
    errors.extend((f"{path}[{index}]", f"must be {what}, not {kind(items[index])}") for index in bad)
    return None if bad else items


def check_str_list(value: Any, path: str, errors: Errors, what: str) -> list[str] | None:
    """A list of non-blank strings; a single string is a list of one."""
    items = check_list(value, path, errors, str, what)
    if items is None:
        return None
    blank = [index for index, entry in enumerate(items) if not entry.strip()]
    errors.extend((f"{path}[{index}]", "must not be empty") for index in blank)
    return None if blank else items


#: The fields of a Kubernetes toleration and the JSON type each must have.
_TOLERATION_FIELDS: dict[str, type] = {
    "key": str,
    "operator": str,
    "value": str,
    "effect": str,
    "tolerationSeconds": int,
}


def check_tolerations(value: Any, path: str, errors: Errors) -> list[dict[str, Any]] | None:
    """Kubernetes toleration dicts (wire keys); a single dict is a list of one.

    Only the types of the known fields are checked: a newer Kubernetes' field passes through.
    """
    items = check_list(value, path, errors, Mapping, "a toleration mapping")
    if items is None:
        return None
    before = len(errors)
    out = []
    for index, entry in enumerate(items):
        where = f"{path}[{index}]"
        toleration = check_mapping(entry, where, errors)
        if toleration is None:
            continue
        for name, wanted in _TOLERATION_FIELDS.items():
            field = toleration.get(name)
            if field is not None and (isinstance(field, bool) or not isinstance(field, wanted)):
                errors.append((join_path(where, name), f"must be a {wanted.__name__}, not {kind(field)}"))
        out.append(toleration)
    return out if len(errors) == before else None


def dns1123_subdomain_errors(name: str) -> list[str]:
    """Reasons ``name`` is not a DNS-1123 subdomain (service account names are)."""
    from airflow_ray_k8s.naming import dns1123_label_errors

    if len(name) > _DNS1123_SUBDOMAIN_MAX:
        return [f"must be no more than {_DNS1123_SUBDOMAIN_MAX} characters"]
    if any(dns1123_label_errors(part) for part in name.split(".")):
        return ["must be a lowercase DNS-1123 subdomain (letters, digits, '-' and '.')"]
    return []


def check_object_name(value: Any, path: str, errors: Errors, *, required: bool = False) -> str | None:
    """A Kubernetes object name that is a DNS-1123 subdomain (e.g. a service account)."""
    name = check_str(value, path, errors, required=required)
    if name is None:
        return None
    rules = dns1123_subdomain_errors(name)
    errors.extend((path, rule) for rule in rules)
    return None if rules else name
