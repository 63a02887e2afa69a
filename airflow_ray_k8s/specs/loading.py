"""Loading specs from a YAML file or a dict, with overrides on top.

Platform teams keep a template (a whole RayCluster / RayJob manifest, or just its ``spec``);
DAG authors change a few fields with ``overrides``, a nested dict deep-merged into the spec:

- mappings merge key by key; a ``None`` value removes the key (as in a JSON merge patch);
- lists of objects that all carry ``groupName`` (worker groups) or ``name`` (containers, env vars,
  volumes) merge item by item on that key, new items are appended; other lists are replaced;
- keys may be written as in the manifest (``workerGroupSpecs``) or as in Python (``worker_groups``).

A file (or text) may hold several YAML documents, as KubeRay's samples do (a ConfigMap with the
program beside the RayJob): the one whose ``kind`` is the wanted one is loaded and the others are
left alone; none, or more than one, is an error naming the kinds found.

What is loaded comes back unchanged from :meth:`~TopLevelModel.to_manifest`: the spec's fields and
values as written (unknown ones too; ``runtimeEnvYAML`` and ``entrypointResources`` as the same text),
and ``metadata`` except what the API server sets on a stored object (``uid``, ``resourceVersion``,
``managedFields``...) and kubectl's last-applied annotation. Loading adds no defaults.

Reading the named file is the only I/O of the spec layer.
"""

from __future__ import annotations

import copy
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel

from airflow_ray_k8s.exceptions import SpecValidationError
from airflow_ray_k8s.specs.base import API_VERSION, SAFE_LOADER
from airflow_ray_k8s.specs.raycluster import RayClusterSpec
from airflow_ray_k8s.specs.rayjob import RayJobSpec
from airflow_ray_k8s.specs.rayservice import RayServiceSpec
from airflow_ray_k8s.specs.toplevel import TopLevelModel

_T = TypeVar("_T", bound=TopLevelModel)
Source = str | os.PathLike[str] | Mapping[str, Any] | TopLevelModel
_MERGE_KEYS = ("groupName", "name")
_LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
#: ``metadata`` fields the API server sets on a stored object: never part of a template.
_SERVER_SET_METADATA = frozenset(
    {
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)


def load_raycluster(source: Source, overrides: Mapping[str, Any] | None = None) -> RayClusterSpec:
    """A :class:`RayClusterSpec` from a YAML file, YAML text, a dict or a spec, with overrides.

    :param source: path of a YAML file; YAML text (anything with a newline); a dict holding a whole
        ``RayCluster`` manifest or just its ``spec``; or a :class:`RayClusterSpec`.
    :param overrides: nested dict deep-merged into the spec (see this module's docstring).
    :raises SpecValidationError: the file cannot be read or the result breaks a KubeRay rule.
    """
    return _load(RayClusterSpec, source, overrides)


def load_rayjob(source: Source, overrides: Mapping[str, Any] | None = None) -> RayJobSpec:
    """A :class:`RayJobSpec` from a YAML file, YAML text, a dict or a spec, with overrides.

    :param source: path of a YAML file; YAML text (anything with a newline); a dict holding a whole
        ``RayJob`` manifest or just its ``spec``; or a :class:`RayJobSpec`.
    :param overrides: nested dict deep-merged into the spec (see this module's docstring).
    :raises SpecValidationError: the file cannot be read or the result breaks a KubeRay rule.
    """
    return _load(RayJobSpec, source, overrides)


def load_rayservice(source: Source, overrides: Mapping[str, Any] | None = None) -> RayServiceSpec:
    """A :class:`RayServiceSpec` from a YAML file, YAML text, a dict or a spec, with overrides.

    :param source: path of a YAML file; YAML text (anything with a newline); a dict holding a whole
        ``RayService`` manifest or just its ``spec``; or a :class:`RayServiceSpec`.
    :param overrides: nested dict deep-merged into the spec (``serveConfigV2`` merges as a mapping).
    :raises SpecValidationError: the file cannot be read or the result breaks a KubeRay or Serve rule.
    """
    return _load(RayServiceSpec, source, overrides)


def apply_overrides(spec: _T, overrides: Mapping[str, Any]) -> _T:
    """A copy of ``spec`` with ``overrides`` merged in, re-validated; object metadata is kept."""
    return _load(type(spec), spec, overrides)


def _load(cls: type[_T], source: Source, overrides: Mapping[str, Any] | None) -> _T:
    if isinstance(source, cls):
        spec_data: Any = source.to_dict()
        labels: Any = dict(source.labels)
        annotations: Any = dict(source.annotations)
        object_meta: Any = source.object_meta
    else:
        document = _read(cls, source)
        spec_data, labels, annotations, object_meta = _split_manifest(cls, document)
    if overrides is not None:
        if not isinstance(overrides, Mapping):
            raise SpecValidationError([("overrides", "must be a mapping")])
        spec_data = deep_merge(cls.mergeable(spec_data), cls.mergeable(to_wire_keys(cls, overrides)))
    return cls.from_parts(spec_data, labels=labels, annotations=annotations, object_meta=object_meta)


def _read(cls: type[_T], source: Source) -> Any:
    if isinstance(source, TopLevelModel):
        raise SpecValidationError([("source", f"is a {type(source).__name__}, not the expected spec")])
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    if isinstance(source, str) and "\n" in source:
        return _pick_document(cls, _parse_yaml(source, "source"), "source")
    if not isinstance(source, str | os.PathLike):
        raise SpecValidationError(
            [("source", f"must be a path, YAML text or a dict, not {type(source).__name__}")]
        )
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SpecValidationError([(str(path), f"cannot be read ({type(exc).__name__})")]) from exc
    return _pick_document(cls, _parse_yaml(text, str(path)), str(path))


def _parse_yaml(text: str, where: str) -> list[Any]:
    """The non-empty documents of a YAML stream."""
    try:
        return [doc for doc in yaml.load_all(text, Loader=SAFE_LOADER) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise SpecValidationError([(where, f"is not valid YAML{at}")]) from None
    except RecursionError:
        raise SpecValidationError([(where, "is nested too deeply")]) from None


def _pick_document(cls: type[_T], documents: list[Any], where: str) -> Any:
    """The one document to load: the only one, or the only one of ``cls.KIND`` among several."""
    if not documents:
        raise SpecValidationError([(where, f"holds no YAML document (expected a {cls.KIND})")])
    if len(documents) == 1:
        return documents[0]  # a bare spec, or a manifest whose kind _split_manifest checks
    matching = [doc for doc in documents if isinstance(doc, Mapping) and doc.get("kind") == cls.KIND]
    if len(matching) == 1:
        return matching[0]
    kinds = ", ".join(dict.fromkeys(_kind_of(doc) for doc in documents))
    if not matching:
        raise SpecValidationError(
            [(where, f"holds {len(documents)} YAML documents and none is a {cls.KIND} (found: {kinds})")]
        )
    names = ", ".join(_name_of(doc) for doc in matching)
    raise SpecValidationError(
        [
            (
                where,
                f"holds {len(matching)} {cls.KIND} documents ({names}); which one to load is ambiguous: "
                "keep one per file, or pass the one you want as a dict",
            )
        ]
    )


def _kind_of(document: Any) -> str:
    if not isinstance(document, Mapping):
        return f"a {type(document).__name__}"
    kind = document.get("kind")
    return str(kind) if kind else "a document without kind"


def _name_of(document: Mapping[str, Any]) -> str:
    metadata = document.get("metadata")
    if isinstance(metadata, Mapping):
        if metadata.get("name"):
            return repr(str(metadata["name"]))
        if metadata.get("generateName"):
            return f"generateName {str(metadata['generateName'])!r}"
    return "unnamed"


def _split_manifest(cls: type[_T], document: Any) -> tuple[Any, Any, Any, Any]:
    """(spec, labels, annotations, other metadata) of a whole manifest, or the document as a bare spec."""
    if not isinstance(document, Mapping):
        raise SpecValidationError([("(manifest)", f"must be a mapping, not {type(document).__name__}")])
    if "kind" not in document and "apiVersion" not in document:
        return document, None, None, None
    errors = []
    if document.get("kind") != cls.KIND:
        errors.append(("kind", f"must be {cls.KIND} (got {document.get('kind')!r})"))
    if document.get("apiVersion") != API_VERSION:
        errors.append(("apiVersion", f"must be {API_VERSION} (got {document.get('apiVersion')!r})"))
    metadata = document.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        errors.append(("metadata", "must be a mapping"))
        metadata = {}
    if "spec" not in document:
        errors.append(("spec", "is required"))
    if errors:
        raise SpecValidationError(errors)
    annotations = metadata.get("annotations")
    if isinstance(annotations, Mapping):
        # Set by ``kubectl apply`` on the object a template was exported from; never ours to copy.
        annotations = {k: v for k, v in annotations.items() if k != _LAST_APPLIED_ANNOTATION}
    rest = {
        key: value
        for key, value in metadata.items()
        if key not in _SERVER_SET_METADATA and key not in ("labels", "annotations")
    }
    return document["spec"], metadata.get("labels"), annotations, rest


def deep_merge(base: Any, override: Any) -> Any:
    """``override`` merged into ``base`` (neither is modified); the rules are in this module's docstring."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = {key: copy.deepcopy(value) for key, value in base.items()}
        for key, value in override.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = deep_merge(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(override, list):
        key = _merge_key(base, override)
        if key is not None:
            merged_list = [copy.deepcopy(item) for item in base]
            index = {item[key]: i for i, item in enumerate(merged_list)}
            for item in override:
                if item[key] in index:
                    merged_list[index[item[key]]] = deep_merge(merged_list[index[item[key]]], item)
                else:
                    index[item[key]] = len(merged_list)
                    merged_list.append(copy.deepcopy(item))
            return merged_list
    return copy.deepcopy(override)


def _merge_key(base: list[Any], override: list[Any]) -> str | None:
    items = base + override
    for key in _MERGE_KEYS:
        if items and all(isinstance(item, Mapping) and isinstance(item.get(key), str) for item in items):
            return key
    return None


def to_wire_keys(model: type[BaseModel], data: Any) -> Any:
    """``data`` with the model's Python field names replaced by their wire aliases, recursively."""
    if not isinstance(data, Mapping):
        return data
    out: dict[Any, Any] = {}
    by_alias = {field.alias: (name, field) for name, field in model.model_fields.items() if field.alias}
    for key, value in data.items():
        field = model.model_fields.get(key) if isinstance(key, str) else None
        wire = key
        if field is not None and field.alias:
            wire = field.alias
        elif isinstance(key, str) and key in by_alias:
            field = by_alias[key][1]
        sub = _model_in(field.annotation) if field is not None else None
        if sub is not None and isinstance(value, list):
            value = [to_wire_keys(sub, item) for item in value]
        elif sub is not None:
            value = to_wire_keys(sub, value)
        out[wire] = value
    return out


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class inside ``X``, ``X | None`` or ``list[X] | None``, if there is one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
