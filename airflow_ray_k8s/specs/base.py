"""The base of every spec model: camelCase aliases, pass-through of unknown fields, one error type.

Every public way to build a model (the constructor, ``model_validate``, the loaders) raises
:class:`~airflow_ray_k8s.exceptions.SpecValidationError` and nothing else: pydantic's own
``ValidationError`` is translated here, with paths in the user's (Python) terms such as
``worker_groups[1].min_replicas``. KubeRay's semantic rules run after the shape is known to be
right, through :meth:`KubeModel.rule_errors`, so they can collect every problem at once.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel
from typing_extensions import Self

from airflow_ray_k8s.exceptions import SpecValidationError

Errors = list[tuple[str, str]]
#: ``(path, what is wrong, rule id)``: a client-side rule stricter than KubeRay (see ``advisories``).
Advice = list[tuple[str, str, str]]

INT32_MAX = 2**31 - 1
#: libyaml's loader / dumper when PyYAML was built with it (several times faster), else pure Python.
SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SAFE_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
API_VERSION = "ray.io/v1"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class RaySpecWarning(UserWarning):
    """A spec KubeRay accepts but that probably does not do what its author meant."""


def join_path(prefix: str, *parts: str | int) -> str:
    """``join_path("worker_groups", 1, "min_replicas")`` -> ``worker_groups[1].min_replicas``.

    Map keys that are not identifiers (``ray.io/cluster``) are written as ``["ray.io/cluster"]``.
    """
    out = prefix
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


_TYPE_RULES = {
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "list_type": "must be a list",
}
_BOUND_RULES = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}


def _rule_text(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind in _TYPE_RULES:
        return _TYPE_RULES[kind]
    if kind in _BOUND_RULES:
        limit = next(iter(ctx.values()), "?")
        return f"must be {_BOUND_RULES[kind]} {limit}"
    if kind == "literal_error":
        return f"must be {ctx.get('expected', 'one of the allowed values')}"
    msg = str(error.get("msg", "is invalid"))
    # Drop pydantic's "Value error, " prefix: the rule text is ours.
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def spec_error_from_pydantic(exc: ValidationError, prefix: str = "") -> SpecValidationError:
    """The :class:`SpecValidationError` saying what ``exc`` says, with user-facing paths."""
    errors: Errors = []
    for err in exc.errors(include_url=False, include_context=True, include_input=False):
        loc = [part for part in err.get("loc", ()) if not _is_validator_tag(part)]
        errors.append((join_path(prefix, *loc) or "(spec)", _rule_text(err)))
    return SpecValidationError(errors)


def _is_validator_tag(part: Any) -> bool:
    # pydantic inserts tags such as "function-after[...]" or a union member's type into ``loc``.
    return isinstance(part, str) and ("[" in part or part in {"int", "float", "str", "bool"})


#: Leaves a manifest may hold; dates and times are what YAML makes of unquoted timestamps.
_DATA_LEAVES = (str, int, float, type(None), datetime.date, datetime.time)


def data_errors(value: Any, path: str = "") -> Errors:
    """Where ``value`` holds something a manifest cannot carry (an object, a set, bytes, NaN).

    Checked before validation because fields the model does not know are kept as given: without
    this, such a value would pass and fail only when the spec is serialized.
    """
    try:
        return _data_errors(value, path)
    except RecursionError:
        return [(path or "(spec)", "is nested too deeply")]


def _data_errors(value: Any, path: str) -> Errors:
    where = path or "(spec)"
    if isinstance(value, BaseModel):
        return []  # already validated (a model given as a part of another)
    if isinstance(value, float) and not math.isfinite(value):
        return [(where, "must be a finite number (JSON has no NaN or infinity)")]
    if isinstance(value, _DATA_LEAVES):
        return []
    if isinstance(value, list | tuple):
        return [
            error for index, item in enumerate(value) for error in _data_errors(item, join_path(path, index))
        ]
    if isinstance(value, Mapping):
        errors: Errors = []
        for key, item in value.items():
            if isinstance(key, str):
                errors.extend(_data_errors(item, join_path(path, key)))
            else:
                errors.append((where, f"keys must be strings, not {type(key).__name__}"))
        return errors
    return [(where, f"must be a string, number, list or mapping, not {type(value).__name__}")]


def _stringify(value: Any) -> Any:
    """KubeRay's string maps (rayStartParams, resources) as users write them: numbers become strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _stringify_map(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _stringify(item) for key, item in value.items()}
    return value


#: ``map[string]string`` in KubeRay where users naturally write numbers (``num-cpus: 0``).
StringMap = Annotated[dict[str, str], BeforeValidator(_stringify_map)]


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    return value


#: A JSON number kept as written: ``1`` stays ``1`` (pydantic's ``float`` would make it ``1.0``).
Number = Annotated[int | float, PlainValidator(_number)]
#: A Kubernetes ``int32`` field with no minimum in the CRD.
Int32 = Annotated[int, Field(ge=-(2**31), le=INT32_MAX)]


class KubeModel(BaseModel):
    """A piece of a KubeRay object: camelCase on the wire, snake_case in Python, extras kept.

    Fields the model does not know (e.g. added by a KubeRay release after this code) are kept
    as given and written back by :meth:`to_dict`: users are never blocked by them.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        # Error paths in the user's Python terms (``min_replicas``), not the wire's.
        loc_by_alias=False,
        # Users mutate specs before submitting; re-check on assignment would need every rule.
        validate_assignment=False,
        arbitrary_types_allowed=False,
    )

    def __init__(self, /, **data: Any) -> None:
        bad = data_errors(data)
        if bad:
            raise SpecValidationError(bad)
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise spec_error_from_pydantic(exc) from exc
        self.check()

    @model_validator(mode="after")
    def _no_field_given_twice(self) -> Self:
        # ``head_group`` and ``headGroupSpec`` both given: the alias would win and the other would be
        # sent to the API server as an unknown field. Refuse the ambiguity instead.
        fields = type(self).model_fields
        for key in self.model_extra or {}:
            if key in fields and fields[key].alias and fields[key].alias != key:
                raise ValueError(f"'{key}' and '{fields[key].alias}' name the same field; give only one")
        return self

    # Tell pydantic this __init__ is the base one: nested models are then validated without calling
    # it, so the rules and the error translation run once, at the top, with whole-tree paths.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: Literal["allow", "ignore", "forbid"] | None = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        """Validate ``obj`` (a dict in wire or Python names); raises only :class:`SpecValidationError`."""
        instance = cls._validate_shape(obj)
        instance.check()
        return instance

    @classmethod
    def model_validate_json(
        cls,
        json_data: str | bytes | bytearray,
        *,
        strict: bool | None = None,
        extra: Literal["allow", "ignore", "forbid"] | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        """Validate a JSON document; raises only :class:`SpecValidationError`."""
        try:
            data = json.loads(json_data)
        except (ValueError, RecursionError):
            raise SpecValidationError([("(json)", "is not a valid JSON document")]) from None
        return cls.model_validate(data)

    @classmethod
    def model_validate_strings(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: Literal["allow", "ignore", "forbid"] | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        """Same as :meth:`model_validate` (KubeRay specs have no string-only form)."""
        return cls.model_validate(obj)

    @classmethod
    def _validate_shape(cls, obj: Any, prefix: str = "") -> Self:
        if isinstance(obj, cls):
            return obj
        if not isinstance(obj, Mapping):
            raise SpecValidationError([(prefix or "(spec)", f"must be a mapping, not {type(obj).__name__}")])
        bad = data_errors(obj, prefix)
        if bad:
            raise SpecValidationError(bad)
        try:
            return super().model_validate(dict(obj))
        except ValidationError as exc:
            raise spec_error_from_pydantic(exc, prefix) from exc

    # --- KubeRay's rules ----------------------------------------------------------------------------------

    def rule_errors(self, path: str = "") -> Errors:
        """Every KubeRay rule this object (and what it holds) breaks, as ``(path, rule)`` pairs."""
        return []

    def advisories(self, path: str = "") -> Advice:
        """Client-side rules stricter than KubeRay that this object breaks: warnings, not errors.

        See :mod:`airflow_ray_k8s.specs.advisories` for the rules and why none of them rejects.
        """
        return []

    def check(self) -> None:
        """Raise :class:`SpecValidationError` naming every rule the object breaks; warn on dubious ones."""
        errors = self.rule_errors("")
        if errors:
            raise SpecValidationError(errors)

    # --- output -------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The object as KubeRay expects it: camelCase keys, unset fields left out, extras kept."""
        # Unknown fields set to null go too: in a create body null means absent (the API server prunes it).
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def label_errors(labels: Mapping[str, str] | None, path: str) -> Errors:
    """Kubernetes' label rules for a map of labels (KubeRay checks a group's ``labels`` with them)."""
    from airflow_ray_k8s.naming import label_value_errors, qualified_name_errors

    errors: Errors = []
    for key, value in (labels or {}).items():
        where = join_path(path, key)
        errors.extend((where, f"key {rule}") for rule in qualified_name_errors(key))
        errors.extend((where, f"value {rule}") for rule in label_value_errors(value))
    return errors
