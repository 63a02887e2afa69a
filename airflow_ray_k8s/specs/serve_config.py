"""``serveConfigV2``: the Ray Serve config a RayService deploys, YAML text on the wire.

KubeRay passes the text to the head's Serve REST API (``PUT /api/serve/applications/``) unchanged,
so a config Serve refuses shows up only later, as a RayService stuck with ``DEPLOY_FAILED``
applications. The rules here are Ray Serve's own schema rules (``ServeDeploySchema`` /
``ServeApplicationSchema`` in ``ray/serve/schema.py``) that can be checked without Ray: the shape,
unique application names and route prefixes, an ``import_path`` of the form ``module:attr`` or
``module.attr``, a route prefix that starts with ``/``. Serve's keys are snake_case (not KubeRay's
camelCase) and are kept as written; unknown keys pass through.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from airflow_ray_k8s.specs.base import SAFE_DUMPER, Errors, join_path
from airflow_ray_k8s.specs.text_fields import ParsedText, parse_yaml_mapping, unchanged_since_parsed


def parse_serve_config(text: str) -> dict[str, Any]:
    """The mapping ``serveConfigV2`` text holds.

    :raises ValueError: not YAML, or not a mapping (no excerpt of the text: it may hold secrets).
    """
    return parse_yaml_mapping(text, "must be a YAML mapping with an 'applications' list")


def validate_serve_config(value: Any) -> dict[str, Any]:
    """A Serve config given as YAML text (kept while unchanged) or as a mapping."""
    if isinstance(value, ParsedText):
        return ParsedText(value, value.source)
    if isinstance(value, str):
        return ParsedText(parse_serve_config(value), value)
    if isinstance(value, Mapping):
        return dict(value)
    raise ValueError("must be a dict with an 'applications' list (or that dict as YAML text)")


def render_serve_config(value: Mapping[str, Any]) -> str:
    """The author's text if unchanged since it was parsed, else the mapping as YAML."""
    if isinstance(value, ParsedText) and unchanged_since_parsed(value, parse_serve_config):
        return value.source
    return yaml.dump(dict(value), Dumper=SAFE_DUMPER, sort_keys=False, default_flow_style=False)


def _import_path_error(value: Any) -> str | None:
    # Serve: "import_path must be of the form '{module}.{attr}' or '{module}:{attr}'" (no spaces).
    if not isinstance(value, str) or not value:
        return "is required: '<module>:<attribute>' of the Serve application (e.g. 'model:app')"
    if any(ch.isspace() for ch in value):
        return "must not contain whitespace"
    module, sep, attr = value.partition(":")
    if sep:
        if not module or not attr or ":" in attr:
            return "must be of the form '<module>:<attribute>' or '<module>.<attribute>'"
        return None
    if "." not in value or value.startswith(".") or value.endswith("."):
        return "must be of the form '<module>:<attribute>' or '<module>.<attribute>'"
    return None


def _route_prefix_error(value: Any) -> str | None:
    # Serve: a route prefix starts with "/", does not end with "/" (except "/"), has no "{" "}".
    if value is None:
        return None
    if not isinstance(value, str):
        return "must be a string such as '/model' (or null for no HTTP route)"
    if not value.startswith("/"):
        return "must start with '/'"
    if value != "/" and value.endswith("/"):
        return "must not end with '/' (except the route '/')"
    if "{" in value or "}" in value:
        return "must not contain '{' or '}'"
    return None


def _deployment_errors(deployments: Any, path: str) -> Errors:
    if deployments is None:
        return []
    if not isinstance(deployments, list):
        return [(path, "must be a list of deployment settings")]
    errors: Errors = []
    seen: set[str] = set()
    for index, deployment in enumerate(deployments):
        where = join_path(path, index)
        if not isinstance(deployment, Mapping):
            errors.append((where, "must be a mapping"))
            continue
        name = deployment.get("name")
        if not isinstance(name, str) or not name:
            errors.append((join_path(where, "name"), "is required (the @serve.deployment's name)"))
        elif name in seen:
            errors.append((join_path(where, "name"), f"{name!r} is listed twice"))
        else:
            seen.add(name)
        replicas = deployment.get("num_replicas")
        bad_count = isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0
        if replicas is not None and replicas != "auto" and bad_count:
            errors.append((join_path(where, "num_replicas"), "must be an integer >= 0 or 'auto'"))
    return errors


def serve_config_errors(config: Mapping[str, Any], path: str) -> Errors:
    """Ray Serve's schema rules for a multi-application config (``ServeDeploySchema``)."""
    apps = config.get("applications")
    if apps is None:
        return [(join_path(path, "applications"), "is required: the list of Serve applications")]
    if not isinstance(apps, list):
        return [(join_path(path, "applications"), "must be a list")]
    errors: Errors = []
    names: set[str] = set()
    routes: set[str] = set()
    for index, app in enumerate(apps):
        where = join_path(path, "applications", index)
        if not isinstance(app, Mapping):
            errors.append((where, "must be a mapping"))
            continue
        name = app.get("name", "default")
        if not isinstance(name, str) or not name:
            errors.append((join_path(where, "name"), "must be a non-empty string"))
        elif name in names:
            errors.append((join_path(where, "name"), f"application name {name!r} is used twice"))
        else:
            names.add(name)
        problem = _import_path_error(app.get("import_path"))
        if problem:
            errors.append((join_path(where, "import_path"), problem))
        route = app.get("route_prefix", "/")
        problem = _route_prefix_error(route)
        if problem:
            errors.append((join_path(where, "route_prefix"), problem))
        elif route is not None and route in routes:
            errors.append((join_path(where, "route_prefix"), f"route {route!r} is used by two applications"))
        elif route is not None:
            routes.add(route)
        for key in ("args", "runtime_env"):
            if app.get(key) is not None and not isinstance(app.get(key), Mapping):
                errors.append((join_path(where, key), "must be a mapping"))
        errors.extend(_deployment_errors(app.get("deployments"), join_path(where, "deployments")))
    return errors


def application_names(config: Mapping[str, Any]) -> list[str]:
    """The names of the applications a config deploys (Serve's default name is ``default``)."""
    out = []
    for app in config.get("applications") or []:
        if isinstance(app, Mapping):
            out.append(str(app.get("name", "default")))
    return out
