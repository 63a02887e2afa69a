"""RayJob fields that are text on the wire, mappings in Python: runtimeEnvYAML, entrypointResources.

The author's text is what gets sent: it is parsed to validate it and to give Python a mapping to read,
and the mapping remembers the text it came from (:class:`ParsedText`). When the spec is written out,
the original text is used as long as the mapping still equals what the text parses to; only a mapping
that was changed (by code, or by an override merged into it) is written anew. So quotes, comments,
indentation and key order survive a load and save, and numbers keep their type (``1`` is not ``1.0``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from airflow_ray_k8s.specs.base import SAFE_DUMPER, SAFE_LOADER


class ParsedText(dict[str, Any]):
    """A mapping parsed from ``source``, the text it came from (written back while unchanged)."""

    def __init__(self, data: Mapping[str, Any], source: str) -> None:
        super().__init__(data)
        self.source = source


# --- runtimeEnvYAML ---------------------------------------------------------------------------------------


def parse_yaml_mapping(text: str, not_a_mapping: str) -> dict[str, Any]:
    """The mapping YAML ``text`` holds (empty text, or only comments: an empty mapping).

    :raises ValueError: the text is not YAML (``"is not valid YAML (line, column)"``), or not a
        mapping (``not_a_mapping``). No excerpt of the text is given: it may hold secrets.
    """
    try:
        parsed = yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - SAFE_LOADER is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ValueError(f"is not valid YAML{where}") from None
    except RecursionError:
        raise ValueError("is nested too deeply") from None
    if parsed is None:
        return {}
    if not isinstance(parsed, Mapping):
        raise ValueError(not_a_mapping)
    return dict(parsed)


def parse_runtime_env(text: str) -> dict[str, Any]:
    """The mapping ``runtimeEnvYAML`` text holds (KubeRay's ``UnmarshalRuntimeEnvYAML`` rule).

    :raises ValueError: the text is not YAML, or not a mapping.
    """
    return parse_yaml_mapping(
        text, "must be a YAML mapping (runtime_env fields such as pip, working_dir, env_vars)"
    )


def validate_runtime_env(value: Any) -> dict[str, Any]:
    """A runtime env given as YAML text (kept, see :class:`ParsedText`) or as a mapping."""
    if isinstance(value, ParsedText):
        return ParsedText(value, value.source)  # a copy, as pydantic makes of any dict
    if isinstance(value, str):
        return ParsedText(parse_runtime_env(value), value)
    if isinstance(value, Mapping):
        return dict(value)
    raise ValueError("must be a dict (or a YAML mapping as a string)")


def render_runtime_env(value: Mapping[str, Any]) -> str:
    """The author's text if ``value`` is unchanged since it was parsed, else ``value`` as YAML."""
    if isinstance(value, ParsedText) and unchanged_since_parsed(value, parse_runtime_env):
        return value.source
    return yaml.dump(dict(value), Dumper=SAFE_DUMPER, sort_keys=False, default_flow_style=False)


# --- entrypointResources ----------------------------------------------------------------------------------


def parse_entrypoint_resources(text: str) -> dict[str, Any]:
    """The JSON object ``entrypointResources`` text holds.

    :raises ValueError: it is not a JSON object. Only a warning for the spec models: KubeRay passes
        the text through unchecked (see :mod:`airflow_ray_k8s.specs.advisories`).
    """
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        raise ValueError('is not a JSON object such as {"custom_resource": 1}') from None
    if not isinstance(parsed, dict):
        raise ValueError('is not a JSON object such as {"custom_resource": 1}')
    return parsed


def validate_entrypoint_resources(value: Any) -> dict[str, Any] | str:
    """Custom resources as JSON text (kept; text that is not a JSON object stays a string) or a mapping."""
    if isinstance(value, ParsedText):
        return ParsedText(value, value.source)
    if isinstance(value, str):
        try:
            return ParsedText(parse_entrypoint_resources(value), value)
        except ValueError:
            return value  # sent as written; the model warns (rule entrypoint-resources-not-json)
    if isinstance(value, Mapping):
        return dict(value)
    raise ValueError('must be a dict such as {"custom_resource": 1} (or that dict as JSON text)')


def render_entrypoint_resources(value: Mapping[str, Any] | str) -> str:
    """The author's text if unchanged, else the mapping as JSON (numbers as given: ``1`` stays ``1``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, ParsedText) and unchanged_since_parsed(value, parse_entrypoint_resources):
        return value.source
    return json.dumps(dict(value), sort_keys=True)


def entrypoint_resources_problems(value: Mapping[str, Any] | str) -> list[tuple[str | None, str]]:
    """``(key, problem)`` pairs Ray would refuse the job for (``key`` None: the whole value)."""
    if isinstance(value, str):
        try:
            value = parse_entrypoint_resources(value)
        except ValueError as exc:
            return [(None, str(exc))]
    problems: list[tuple[str | None, str]] = []
    for key, amount in value.items():
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            problems.append((key, f"must be a number, not {type(amount).__name__}"))
        elif amount < 0:
            problems.append((key, "must be >= 0"))
    return problems


def mergeable(value: Any, parse: Any) -> Any:
    """``value`` as a :class:`ParsedText` if it is text that parses (so overrides merge into it)."""
    if isinstance(value, str):
        try:
            return ParsedText(parse(value), value)
        except ValueError:
            return value  # validation then reports it (or the model warns), with its path
    return value


def unchanged_since_parsed(value: ParsedText, parse: Any) -> bool:
    """Whether ``value`` still equals what its source text parses to (then the text is written)."""
    try:
        return bool(parse(value.source) == dict(value))
    except ValueError:
        return False
