"""DAG-parse cost is a product feature: the modules a DAG file imports stay light.

Each check imports the modules in a fresh interpreter (an already-warm ``sys.modules`` would hide
a heavy import) and asserts that no heavy module was loaded as a side effect.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import airflow_ray_k8s

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = Path(airflow_ray_k8s.__file__).parent
# Everything a DAG file may import: operators, sensors, hooks, triggers, links, decorators.
LIGHT_SUBPACKAGES = ("operators", "sensors", "hooks", "triggers", "decorators")


def _public_modules() -> list[str]:
    names = []
    for sub in LIGHT_SUBPACKAGES:
        names.append(f"airflow_ray_k8s.{sub}")
        for path in sorted((PACKAGE_DIR / sub).glob("*.py")):
            if path.stem != "__init__" and not path.stem.startswith("_"):
                names.append(f"airflow_ray_k8s.{sub}.{path.stem}")
    if (PACKAGE_DIR / "links.py").exists():
        names.append("airflow_ray_k8s.links")
    # Importable inside a Ray program, so light by necessity (standard library only).
    names.append("airflow_ray_k8s.results")
    return names


def _probe(modules: list[str], extra_path: Path | None = None) -> dict[str, object]:
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-m", "tests.import_probe", *modules],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_public_modules_import_nothing_heavy() -> None:
    modules = _public_modules()
    assert "airflow_ray_k8s.hooks.kuberay" in modules
    result = _probe(modules)
    assert result["heavy"] == [], f"DAG-parse path imports heavy modules: {result['heavy']}"


def test_probe_catches_a_module_level_kubernetes_import(tmp_path: Path) -> None:
    """The check above would fail if an operator module did ``import kubernetes`` at the top."""
    pkg = tmp_path / "fake_operator_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "op.py").write_text("import kubernetes  # a heavy import at module level\n")
    result = _probe(["fake_operator_pkg.op"], extra_path=tmp_path)
    assert "kubernetes" in result["heavy"]


@pytest.mark.parametrize("sub", LIGHT_SUBPACKAGES)
def test_every_light_subpackage_is_checked(sub: str) -> None:
    assert f"airflow_ray_k8s.{sub}" in _public_modules()


def test_a_dag_file_resolving_task_ray_imports_nothing_heavy(tmp_path: Path) -> None:
    """``task.ray`` goes through the ProvidersManager (every provider's info) and the decorator module."""
    (tmp_path / "taskflow_probe.py").write_text("from airflow.sdk import task\nray_decorator = task.ray\n")
    result = _probe(["taskflow_probe"], extra_path=tmp_path)
    assert result["heavy"] == [], f"resolving @task.ray imports heavy modules: {result['heavy']}"
