"""Kubernetes label and field selectors, parsed once and matched against object dicts.

Grammar as in ``k8s.io/apimachinery/pkg/labels`` (``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``,
``a notin (x,y)``, ``a``, ``!a``) and ``pkg/fields`` (``path=value``, ``path==value``,
``path!=value``, comma-separated, dotted paths such as ``metadata.name`` or ``status.phase``).
A malformed selector raises :class:`SelectorError` (the API answers 400 BadRequest).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_SET_EXPR = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s+(in|notin)\s+\((.*)\)\s*$")
_EQ_EXPR = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|!=|=)\s*([A-Za-z0-9_.-]*)\s*$")
_EXISTS_EXPR = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*$")


class SelectorError(ValueError):
    """A label or field selector that does not parse."""


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside ``( ... )`` (set expressions hold commas)."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced parenthesis in selector {text!r}")
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise SelectorError(f"unbalanced parenthesis in selector {text!r}")
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


@dataclass(frozen=True)
class _Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!exists":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        # "!=" and "notin" match objects that lack the key, as in Kubernetes.
        return not present or value not in self.values


@dataclass(frozen=True)
class LabelSelector:
    """A parsed ``labelSelector``; the empty selector matches everything.

    :param requirements: the ANDed requirements.
    """

    requirements: tuple[_Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """Parse the query-string form (``app=x,tier in (a,b),!legacy``)."""
        if not text or not text.strip():
            return cls()
        requirements: list[_Requirement] = []
        for part in _split_top_level(text):
            if match := _SET_EXPR.match(part):
                negated, key, operator, raw_values = match.groups()
                if negated:
                    raise SelectorError(f"invalid label selector term {part!r}")
                values = frozenset(v.strip() for v in raw_values.split(",") if v.strip())
                requirements.append(_Requirement(key, operator, values))
            elif match := _EQ_EXPR.match(part):
                key, operator, value = match.groups()
                requirements.append(_Requirement(key, "!=" if operator == "!=" else "=", frozenset([value])))
            elif match := _EXISTS_EXPR.match(part):
                negated, key = match.groups()
                requirements.append(_Requirement(key, "!exists" if negated else "exists"))
            else:
                raise SelectorError(f"invalid label selector term {part!r}")
        return cls(tuple(requirements))

    @classmethod
    def from_match_labels(cls, labels: Mapping[str, str]) -> LabelSelector:
        """The selector that a ``matchLabels`` mapping (or a dict of labels) stands for."""
        return cls(tuple(_Requirement(k, "=", frozenset([v])) for k, v in labels.items()))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object's ``metadata.labels`` satisfy every requirement."""
        if not self.requirements:
            return True
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(req.matches(labels) for req in self.requirements)

    def __bool__(self) -> bool:
        return bool(self.requirements)


def _field_value(obj: Mapping[str, Any], path: str) -> str | None:
    node: Any = obj
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    if node is None:
        return None
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


@dataclass(frozen=True)
class FieldSelector:
    """A parsed ``fieldSelector``; the empty selector matches everything.

    :param terms: ``(path, negated, value)`` triples, ANDed. A missing field compares as ``""``.
    """

    terms: tuple[tuple[str, bool, str], ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> FieldSelector:
        """Parse the query-string form (``metadata.name=x,status.phase!=Running``)."""
        if not text or not text.strip():
            return cls()
        terms: list[tuple[str, bool, str]] = []
        for part in text.split(","):
            if not part.strip():
                continue
            match = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*?)\s*$", part)
            if not match:
                raise SelectorError(f"invalid field selector term {part!r}")
            path, operator, value = match.groups()
            terms.append((path, operator == "!=", value))
        return cls(tuple(terms))

    @property
    def name(self) -> str | None:
        """The object name the selector pins (``metadata.name=x``), if any: lets lookups skip scans."""
        for path, negated, value in self.terms:
            if path == "metadata.name" and not negated:
                return value
        return None

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether every term holds for the object."""
        for path, negated, value in self.terms:
            actual = _field_value(obj, path) or ""
            if (actual == value) == negated:
                return False
        return True

    def __bool__(self) -> bool:
        return bool(self.terms)
