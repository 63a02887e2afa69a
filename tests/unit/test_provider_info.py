"""The provider's registration is complete, importable and discovered by Airflow."""

from __future__ import annotations

import importlib
from pathlib import Path

from airflow_ray_k8s.get_provider_info import get_provider_info

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "airflow_ray_k8s"


def test_every_listed_module_and_class_imports() -> None:
    info = get_provider_info()
    for key in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[key]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for dotted in [c["hook-class-name"] for c in info["connection-types"]] + info["extra-links"]:
        module, _, cls = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), cls), dotted


def test_every_public_module_is_listed() -> None:
    info = get_provider_info()
    for key in ("operators", "sensors", "triggers"):
        listed = {m for entry in info[key] for m in entry["python-modules"]}
        on_disk = {
            f"airflow_ray_k8s.{key}.{p.stem}"
            for p in (PACKAGE_DIR / key).glob("*.py")
            if not p.name.startswith("_")
        }
        assert listed == on_disk


def test_providers_manager_discovers_provider_and_connection_type() -> None:
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    assert "airflow-ray-k8s" in pm.providers
    assert pm.providers["airflow-ray-k8s"].version
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hook = ProvidersManagerTaskRuntime().hooks.get("kuberay")
    assert hook is not None
    assert hook.hook_class_name == "airflow_ray_k8s.hooks.kuberay.KubeRayHook"
    assert hook.connection_id_attribute_name == "kuberay_conn_id"
    # Airflow 3 renders the connection form from "conn-fields" in the provider info.
    conn_types = {c["connection-type"]: c for c in pm.providers["airflow-ray-k8s"].data["connection-types"]}
    assert {"kube_config", "allowed_namespaces", "cluster_context"} <= set(
        conn_types["kuberay"]["conn-fields"]
    )


def test_task_ray_resolves_through_the_providers_task_decorators_entry() -> None:
    """``@task.ray`` exists because Airflow discovered it, in a fresh interpreter (no warm caches)."""
    import json
    import subprocess
    import sys

    code = (
        "import json; from airflow.sdk import task;"
        "from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime;"
        "decorators = ProvidersManagerTaskRuntime().taskflow_decorators;"
        "ray = task.ray;"
        "print(json.dumps({'listed': 'ray' in decorators, 'where': ray.__module__ + '.' + ray.__name__}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "listed": True,
        "where": "airflow_ray_k8s.decorators.ray_task.ray_task",
    }
    info = get_provider_info()
    assert info["task-decorators"] == [
        {"name": "ray", "class-name": "airflow_ray_k8s.decorators.ray_task.ray_task"}
    ]
