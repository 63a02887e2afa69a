"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

Keep this in sync with the package: ``tests/unit/test_provider_info.py`` checks that every module
and class named here imports, and that every public operator / sensor / trigger module is listed.
"""

from __future__ import annotations

from typing import Any

_INTEGRATION = "Ray on Kubernetes (KubeRay)"


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata in the shape of Airflow's provider.yaml schema."""
    from airflow_ray_k8s import __version__

    return {
        "package-name": "airflow-ray-k8s",
        "name": "Ray on Kubernetes",
        "description": "Run Ray workloads on Kubernetes through the KubeRay operator.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://docs.ray.io/en/latest/cluster/kubernetes/index.html",
                "tags": ["software"],
            }
        ],
        "hooks": [
            {"integration-name": _INTEGRATION, "python-modules": ["airflow_ray_k8s.hooks.kuberay"]},
        ],
        "operators": [
            {"integration-name": _INTEGRATION, "python-modules": _existing("operators")},
        ],
        "sensors": [
            {"integration-name": _INTEGRATION, "python-modules": _existing("sensors")},
        ],
        "triggers": [
            {"integration-name": _INTEGRATION, "python-modules": _existing("triggers")},
        ],
        "extra-links": _existing_links(),
        # Read by Airflow 3's ProvidersManager as {"name", "class-name"}: ``@task.ray``.
        "task-decorators": [
            {"name": "ray", "class-name": "airflow_ray_k8s.decorators.ray_task.ray_task"},
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_ray_k8s.hooks.kuberay.KubeRayHook",
                "hook-name": "KubeRay (Ray on Kubernetes)",
                "connection-type": "kuberay",
                "conn-fields": _CONN_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "schema", "login", "password", "port"],
                    "relabeling": {},
                },
            }
        ],
    }


# Connection extras shown as form fields (Airflow 3 renders them from this JSON schema).
_CONN_FIELDS: dict[str, Any] = {
    "in_cluster": {"label": "In-cluster configuration", "schema": {"type": ["boolean", "null"]}},
    "kube_config_path": {"label": "Kubeconfig path", "schema": {"type": ["string", "null"]}},
    "kube_config": {
        "label": "Kubeconfig content (YAML or JSON; kept in memory)",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "cluster_context": {"label": "Kubeconfig context", "schema": {"type": ["string", "null"]}},
    "namespace": {"label": "Default namespace", "schema": {"type": ["string", "null"]}},
    "allowed_namespaces": {
        "label": "Allowed namespaces (comma-separated; empty = any)",
        "schema": {"type": ["string", "null"]},
    },
    "disable_verify_ssl": {"label": "Disable TLS verification", "schema": {"type": ["boolean", "null"]}},
    "ssl_ca_cert": {"label": "CA bundle path", "schema": {"type": ["string", "null"]}},
    "dashboard_url": {
        "label": "Ray dashboard base URL (optional; default: the API server's service proxy)",
        "schema": {"type": ["string", "null"]},
    },
    "ray_token_secret": {
        "label": "Ray dashboard token: Kubernetes Secret name (key 'auth_token')",
        "schema": {"type": ["string", "null"]},
    },
    "request_timeout": {
        "label": "Client-side read timeout of each API call, seconds (default 30)",
        "schema": {"type": ["number", "null"]},
    },
    "connect_timeout": {
        "label": "Client-side connect timeout of each API call, seconds (default 10)",
        "schema": {"type": ["number", "null"]},
    },
}

_PACKAGE = "airflow_ray_k8s"


def _existing(subpackage: str) -> list[str]:
    """List the public modules of a subpackage (``_private`` modules are skipped).

    Read from the file system, not by importing, so that the ProvidersManager stays cheap.
    """
    from pathlib import Path

    here = Path(__file__).parent / subpackage
    return sorted(
        f"{_PACKAGE}.{subpackage}.{p.stem}" for p in here.glob("*.py") if not p.name.startswith("_")
    )


def _existing_links() -> list[str]:
    from pathlib import Path

    if (Path(__file__).parent / "links.py").exists():
        return [f"{_PACKAGE}.links.RayDashboardLink", f"{_PACKAGE}.links.RayServeDashboardLink"]
    return []
