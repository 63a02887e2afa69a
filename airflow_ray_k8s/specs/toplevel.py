"""A whole ``spec`` (RayCluster / RayJob) together with the ``metadata`` of its object.

KubeRay reads some settings from the object's annotations (``ray.io/ft-enabled``), so the rules need
them; they are kept beside the spec, not in it, with the rest of a loaded manifest's metadata
(``name``, ``generateName``, ``namespace``, ...), and go back into ``metadata`` in :meth:`to_manifest`.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import PrivateAttr
from typing_extensions import Self

from airflow_ray_k8s.exceptions import SpecValidationError
from airflow_ray_k8s.specs.base import API_VERSION, Errors, KubeModel, data_errors, join_path

#: Characters the API server appends to ``metadata.generateName`` to make a name.
GENERATED_SUFFIX_LENGTH = 5


class TopLevelModel(KubeModel):
    """A model that is a whole ``spec`` and may carry the surrounding object's labels / annotations.

    KubeRay reads some settings from the object's annotations (``ray.io/ft-enabled``), so the
    rules need them; they are kept beside the spec, not in it.
    """

    _labels: dict[str, str] = PrivateAttr(default_factory=dict)
    _annotations: dict[str, str] = PrivateAttr(default_factory=dict)
    _object_meta: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def labels(self) -> dict[str, str]:
        """Labels of the object this spec belongs to (from a loaded manifest or a builder)."""
        return self._labels

    @property
    def annotations(self) -> dict[str, str]:
        """Annotations of the object this spec belongs to (KubeRay reads some settings there)."""
        return self._annotations

    @property
    def object_meta(self) -> dict[str, Any]:
        """The rest of a loaded manifest's ``metadata``: ``name``, ``generateName``, ``namespace``...

        (labels and annotations are :attr:`labels` / :attr:`annotations`); a copy.
        """
        return dict(self._object_meta)

    @classmethod
    def from_parts(
        cls,
        spec: Any,
        *,
        labels: Mapping[str, Any] | None = None,
        annotations: Mapping[str, Any] | None = None,
        object_meta: Mapping[str, Any] | None = None,
    ) -> Self:
        """Validate ``spec`` together with the metadata of its object.

        :param object_meta: other ``metadata`` fields to write back in :meth:`to_manifest`
            (``name``, ``generateName``, ``namespace``...); checked when they are written.
        """
        meta_errors = metadata_errors(labels, annotations)
        meta_errors.extend(data_errors(dict(object_meta or {}), "metadata"))
        instance = cls._validate_shape(spec)
        if meta_errors:
            raise SpecValidationError(meta_errors)
        if instance is spec:
            instance = instance.model_copy(deep=True)
        instance._labels = {str(k): str(v) for k, v in (labels or {}).items()}
        instance._annotations = {str(k): str(v) for k, v in (annotations or {}).items()}
        instance._object_meta = copy.deepcopy(dict(object_meta or {}))
        instance.check()
        return instance

    def with_metadata(
        self, *, labels: Mapping[str, str] | None = None, annotations: Mapping[str, str] | None = None
    ) -> Self:
        """A copy whose object labels / annotations are updated with the ones given."""
        errors = metadata_errors(labels, annotations, path="")
        if errors:
            raise SpecValidationError(errors)
        return type(self).from_parts(
            self,
            labels={**self._labels, **(labels or {})},
            annotations={**self._annotations, **(annotations or {})},
            object_meta=self._object_meta,
        )

    def check(self) -> None:
        """Raise :class:`SpecValidationError` naming every broken rule; emit :class:`RaySpecWarning` s.

        Rules stricter than KubeRay only warn
        (:class:`~airflow_ray_k8s.specs.advisories.StricterThanKubeRayWarning`).
        """
        from airflow_ray_k8s.specs.advisories import warn_all

        super().check()
        for message, category in self.rule_warnings():
            warnings.warn(message, category, stacklevel=4)
        warn_all(self.advisories(""), stacklevel=4)

    #: ``kind`` of the object this is the spec of, and the longest name KubeRay accepts for it.
    KIND: ClassVar[str] = ""
    MAX_NAME_LENGTH: ClassVar[int] = 63

    def to_spec_dict(self) -> dict[str, Any]:
        """The ``spec`` as KubeRay expects it (camelCase, extras kept), after re-checking the rules.

        The re-check catches a model mutated after construction into something KubeRay rejects.
        """
        KubeModel.check(self)
        return self.to_dict()

    def to_manifest(
        self,
        name: str | None = None,
        *,
        namespace: str | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The whole object: ``apiVersion``, ``kind``, ``metadata`` and ``spec``.

        A loaded manifest's metadata comes back as it was (``name``, ``generateName``, ``namespace``,
        labels, annotations, ...); the arguments replace or add to it.

        :param name: object name: a DNS-1035 label short enough for KubeRay's suffixes. Default: the
            loaded manifest's ``metadata.name``, if any; with neither, its ``metadata.generateName``
            makes the API server pick the name.
        :param namespace: object namespace (default: the loaded manifest's, if any).
        :param labels: labels added to the spec's own (:attr:`labels`).
        :param annotations: annotations added to the spec's own (:attr:`annotations`).
        :raises SpecValidationError: an argument is invalid (named as here: ``name``, ``labels.team``),
            there is neither a name nor a ``generateName``, or the spec breaks a KubeRay rule.
        """
        meta = copy.deepcopy(self._object_meta)
        if name is None:
            name = meta.get("name")
        if namespace is None:
            namespace = meta.get("namespace")
        generate_name = meta.get("generateName")
        if name is None and generate_name is not None:
            # The API server makes the name: every name it can make must pass KubeRay's rule.
            errors = generate_name_errors(generate_name, self.MAX_NAME_LENGTH)
            errors.extend(manifest_argument_errors(None, namespace, self.MAX_NAME_LENGTH, name_needed=False))
        else:
            errors = manifest_argument_errors(name, namespace, self.MAX_NAME_LENGTH)
        errors.extend(metadata_errors(labels, annotations, path=""))
        if errors:
            raise SpecValidationError(errors)
        merged_labels = {**self._labels, **(labels or {})}
        merged_annotations = {**self._annotations, **(annotations or {})}
        metadata: dict[str, Any] = {}
        if name is not None:
            metadata["name"] = name
        if generate_name is not None:
            metadata["generateName"] = generate_name
        if namespace:
            metadata["namespace"] = namespace
        if merged_labels:
            metadata["labels"] = merged_labels
        if merged_annotations:
            metadata["annotations"] = merged_annotations
        metadata.update({k: v for k, v in meta.items() if k not in ("name", "generateName", "namespace")})
        return {
            "apiVersion": API_VERSION,
            "kind": self.KIND,
            "metadata": metadata,
            "spec": self.to_spec_dict(),
        }

    @classmethod
    def mergeable(cls, spec: Any) -> Any:
        """``spec`` (wire form) with fields that are text on the wire parsed, so overrides merge into them."""
        return spec

    def with_overrides(self, overrides: Mapping[str, Any]) -> Self:
        """A copy with ``overrides`` deep-merged in (rules: :mod:`airflow_ray_k8s.specs.loading`)."""
        from airflow_ray_k8s.specs.loading import apply_overrides

        return apply_overrides(self, overrides)

    def rule_warnings(self) -> list[tuple[str, type[Warning]]]:
        """Things KubeRay accepts but that deserve the author's attention (besides :meth:`advisories`)."""
        return []


def manifest_argument_errors(
    name: Any, namespace: Any, max_length: int, *, name_needed: bool = True
) -> Errors:
    """``to_manifest``'s ``name`` (a DNS-1035 label of at most ``max_length``) and ``namespace``."""
    from airflow_ray_k8s.naming import dns1035_label_errors, dns1123_label_errors

    errors: Errors = []
    if name is None:
        if name_needed:
            errors.append(("name", "is required (the spec has no metadata.name or metadata.generateName)"))
    elif not isinstance(name, str):
        errors.append(("name", f"must be a string, not {type(name).__name__}"))
    else:
        errors.extend(("name", rule) for rule in dns1035_label_errors(name, max_length))
    if namespace is not None and not isinstance(namespace, str):
        errors.append(("namespace", f"must be a string, not {type(namespace).__name__}"))
    elif namespace:
        errors.extend(("namespace", rule) for rule in dns1123_label_errors(namespace))
    return errors


def generate_name_errors(prefix: Any, max_length: int) -> Errors:
    """``metadata.generateName``: every name the API server makes from it must pass KubeRay's name rule.

    The API server appends 5 lowercase alphanumerics, and KubeRay (``ValidateRayJobMetadata`` /
    ``ValidateRayClusterMetadata``) wants a DNS-1035 label of at most ``max_length`` characters.
    """
    where = "metadata.generateName"
    if not isinstance(prefix, str):
        return [(where, f"must be a string, not {type(prefix).__name__}")]
    errors: Errors = []
    longest = max_length - GENERATED_SUFFIX_LENGTH
    if len(prefix) > longest:
        errors.append(
            (where, f"must be no more than {longest} characters ({GENERATED_SUFFIX_LENGTH} are added)")
        )
    if not _GENERATE_NAME.fullmatch(prefix):
        errors.append(
            (where, "must start with a lowercase letter and hold only lowercase letters, digits and '-'")
        )
    return errors


_GENERATE_NAME = re.compile(r"^[a-z][-a-z0-9]*$")


def metadata_errors(
    labels: Mapping[str, Any] | None, annotations: Mapping[str, Any] | None, path: str = "metadata"
) -> Errors:
    """Kubernetes' rules for an object's labels and annotations."""
    from airflow_ray_k8s.naming import label_value_errors, qualified_name_errors

    errors: Errors = []
    for field, mapping in (("labels", labels), ("annotations", annotations)):
        if mapping is None:
            continue
        if not isinstance(mapping, Mapping):
            errors.append((join_path(path, field), "must be a mapping of strings"))
            continue
        for key, value in mapping.items():
            where = join_path(path, field, str(key))
            if not isinstance(key, str) or not isinstance(value, str):
                errors.append((where, "keys and values must be strings"))
                continue
            errors.extend((where, f"key {rule}") for rule in qualified_name_errors(key))
            if field == "labels":
                errors.extend((where, f"value {rule}") for rule in label_value_errors(value))
    return errors
