"""The kubeconfig and the Airflow connection that point clients at the emulated API.

The kubeconfig carries a bearer token that the emulated API checks; it is written with mode 0600
and its content is never logged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

CONTEXT = "local-kuberay"


def kubeconfig_dict(server_url: str, token: str, *, namespace: str = "default") -> dict[str, Any]:
    """A kubeconfig with one cluster, one token user and one current context.

    :param server_url: the API URL (``http://127.0.0.1:PORT``).
    :param token: the bearer token the API accepts.
    :param namespace: the context's namespace.
    """
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server_url}}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(path: Path, server_url: str, token: str, *, namespace: str = "default") -> Path:
    """Write the kubeconfig to ``path`` (mode 0600, parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(kubeconfig_dict(server_url, token, namespace=namespace), sort_keys=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed
    return path


def airflow_conn_env(conn_id: str, kubeconfig_path: Path, *, namespace: str = "default") -> dict[str, str]:
    """``{"AIRFLOW_CONN_<ID>": <JSON connection>}`` of conn_type ``kuberay`` using the kubeconfig."""
    value = json.dumps(
        {
            "conn_type": "kuberay",
            "extra": {"kube_config_path": str(kubeconfig_path), "namespace": namespace},
        }
    )
    return {f"AIRFLOW_CONN_{conn_id.upper()}": value}
