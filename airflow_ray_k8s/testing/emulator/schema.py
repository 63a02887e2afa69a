"""A CRD's structural schema applied on writes, as kube-apiserver applies it to custom resources.

In the order the API server does it: unknown fields are pruned (and reported: a ``Warning`` header,
or a 400 under ``fieldValidation=Strict``), the schema's defaults are filled in, then the object is
validated against the OpenAPI v3 schema (422 ``Invalid`` with one cause per field). CEL rules
(``x-kubernetes-validations``) are not evaluated: the provider checks KubeRay's rules itself, and
the KubeRay controller rejects the rest with ``ValidationFailed``.

Only the main resource is checked; status writes come from the emulator's own controller.
"""

from __future__ import annotations

import contextvars
import copy
from collections.abc import Iterator
from typing import Any

#: How a request's unknown fields are treated (``fieldValidation``): Ignore, Warn or Strict. In-process
#: writes (the controller's) ignore them; the HTTP layer sets the request's mode.
FIELD_VALIDATION: contextvars.ContextVar[str] = contextvars.ContextVar("field_validation", default="Ignore")
#: The warnings of the current request (``Warning`` response headers).
WARNINGS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("warnings", default=None)

_ROOT_FIELDS = ("apiVersion", "kind", "metadata")


def _json_schema(node: Any) -> Any:
    """OpenAPI v3 (Kubernetes flavour) to JSON Schema: ``nullable`` and ``x-kubernetes-int-or-string``
    made explicit, Kubernetes extensions and ``format`` dropped."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in ("format", "default", "description", "nullable"):
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: _json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") or key in ("allOf", "anyOf", "oneOf"):
            out[key] = _json_schema(value)
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out = {**out, "anyOf": [{"type": "integer"}, {"type": "string"}]} if "anyOf" not in out else out
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def _path(parts: Iterator[Any] | list[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class StructuralSchema:
    """One served version's ``openAPIV3Schema``.

    :param kind: the kind, for error messages.
    :param schema: the ``openAPIV3Schema`` of the CRD version.
    """

    def __init__(self, kind: str, schema: dict[str, Any]) -> None:
        self.kind = kind
        self.schema = schema
        self._validator: Any = None

    def _validate(self, obj: dict[str, Any]) -> list[tuple[str, str]]:
        if self._validator is None:
            from jsonschema import Draft7Validator

            root = _json_schema(self.schema)
            root.get("properties", {}).pop("metadata", None)  # ObjectMeta is the API server's own
            self._validator = Draft7Validator(root)
        causes = []
        for error in sorted(self._validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
            field = _path(list(error.absolute_path)) or "<root>"
            if error.validator == "type":
                given = type(error.instance).__name__.replace("str", "string").replace("int", "integer")
                message = f'Invalid value: "{given}": {field} in body must be of type {error.validator_value}'
            elif error.validator == "required":
                missing = error.message.split("'")[1] if "'" in error.message else error.message
                field = _path([*error.absolute_path, missing])
                message = "Required value"
            elif error.validator == "enum":
                allowed = ", ".join(f'"{v}"' for v in error.validator_value)
                message = f"Unsupported value: {error.instance!r}: supported values: {allowed}"
            else:
                message = f"Invalid value: {error.instance!r}: {error.message}"
            causes.append((field, message))
        return causes

    def prune(self, obj: Any, schema: dict[str, Any] | None = None, path: str = "") -> list[str]:
        """Drop, in place, the fields the schema does not know; returns their paths."""
        schema = self.schema if schema is None else schema
        unknown: list[str] = []
        if isinstance(obj, dict):
            if schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema:
                return unknown
            properties = schema.get("properties")
            if properties is not None:
                implicit = _ROOT_FIELDS if (not path or schema.get("x-kubernetes-embedded-resource")) else ()
                for key in list(obj):
                    sub_path = f"{path}.{key}" if path else key
                    if key in properties:
                        if key != "metadata" or path:
                            unknown += self.prune(obj[key], properties[key], sub_path)
                    elif key in implicit:
                        continue
                    elif not schema.get("x-kubernetes-preserve-unknown-fields"):
                        del obj[key]
                        unknown.append(sub_path)
            elif isinstance(schema.get("additionalProperties"), dict):
                for key, value in obj.items():
                    unknown += self.prune(value, schema["additionalProperties"], f"{path}.{key}")
        elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
            for index, item in enumerate(obj):
                unknown += self.prune(item, schema["items"], f"{path}[{index}]")
        return unknown

    def default(self, obj: Any, schema: dict[str, Any] | None = None) -> None:
        """Fill in, in place, the schema's defaults under every object that is present."""
        schema = self.schema if schema is None else schema
        if isinstance(obj, dict):
            for key, sub in (schema.get("properties") or {}).items():
                if key not in obj and "default" in sub:
                    obj[key] = copy.deepcopy(sub["default"])
                if key in obj and key != "metadata":
                    self.default(obj[key], sub)
            if isinstance(schema.get("additionalProperties"), dict):
                for value in obj.values():
                    self.default(value, schema["additionalProperties"])
        elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
            for item in obj:
                self.default(item, schema["items"])

    def admit(self, obj: dict[str, Any]) -> tuple[list[str], list[tuple[str, str]]]:
        """Prune, default and validate ``obj`` in place, its ``status`` aside (the controller's,
        written through the status subresource); returns (unknown field paths, causes)."""
        status = obj.pop("status", None)
        try:
            unknown = self.prune(obj)
            self.default(obj)
            return unknown, self._validate(obj)
        finally:
            if status is not None:
                obj["status"] = status


def version_schema(crd: dict[str, Any], version: str) -> dict[str, Any] | None:
    """The ``openAPIV3Schema`` of one version of a CRD (``None`` without one)."""
    for served in (crd.get("spec") or {}).get("versions") or []:
        if served.get("name") == version:
            schema = (served.get("schema") or {}).get("openAPIV3Schema")
            return schema if isinstance(schema, dict) else None
    return None
