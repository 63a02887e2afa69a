"""Test-session settings shared by every test layer.

Airflow reads AIRFLOW_HOME when it is first imported, so it is pinned here, before any test module
imports Airflow, to a throw-away folder: the suite never touches a developer's ~/airflow.
"""

from __future__ import annotations

import os
import tempfile

import pytest

_home = tempfile.mkdtemp(prefix="airflow-ray-k8s-tests-")
os.environ["AIRFLOW_HOME"] = _home
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--real-cluster``: run ``tests/real_cluster`` against a Kubernetes cluster with KubeRay."""
    group = parser.getgroup("real-cluster", "opt-in tests against a real Kubernetes cluster with KubeRay")
    group.addoption(
        "--real-cluster",
        action="store_true",
        default=False,
        help="run the tests marked real_cluster (they create RayClusters and RayJobs there)",
    )
    group.addoption(
        "--realkube",
        action="store_true",
        default=False,
        help="run the real_cluster tests against the real control plane built by `make real-kuberay` "
        "(the real_kuberay fixture); their end-to-end DAG runs are left to the realkube backend of "
        "tests/integration/airflow",
    )
    group.addoption(
        "--real-cluster-kubeconfig",
        default=os.environ.get("REAL_CLUSTER_KUBECONFIG") or os.environ.get("KUBECONFIG"),
        help="kubeconfig of that cluster (default: $REAL_CLUSTER_KUBECONFIG, $KUBECONFIG, ~/.kube/config)",
    )
    group.addoption(
        "--real-cluster-context",
        default=os.environ.get("REAL_CLUSTER_CONTEXT"),
        help="kubeconfig context (default: $REAL_CLUSTER_CONTEXT, else the current context)",
    )
    group.addoption(
        "--real-cluster-namespace",
        default=os.environ.get("REAL_CLUSTER_NAMESPACE", "default"),
        help="namespace the tests work in (default: $REAL_CLUSTER_NAMESPACE or 'default')",
    )
    group.addoption(
        "--real-cluster-image",
        default=os.environ.get("REAL_CLUSTER_RAY_IMAGE"),
        help="Ray image of the test clusters (default: $REAL_CLUSTER_RAY_IMAGE or the builders' default)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the real_cluster tests unless ``--real-cluster`` (a cluster of yours) or ``--realkube``
    (the real control plane built here) is given."""
    if config.getoption("--real-cluster"):
        return
    if config.getoption("--realkube"):
        dup = pytest.mark.skip(
            reason="with --realkube, tests/integration/airflow runs these DAGs on the real backend"
        )
        for item in items:
            if "real_cluster" in item.keywords:
                item.add_marker(pytest.mark.realkube)
                if "end_to_end" in item.name:
                    item.add_marker(dup)
        return
    skip = pytest.mark.skip(
        reason="needs a Kubernetes cluster with KubeRay: pass --real-cluster or --realkube"
    )
    for item in items:
        if "real_cluster" in item.keywords:
            item.add_marker(skip)


def _surviving_heads_of_this_session() -> list[str]:
    """Ray head process groups this test process started that still run (``/tmp/ark-<uid>`` records)."""
    import sys

    if "airflow_ray_k8s.testing.emulator.rayproc" not in sys.modules:
        return []  # no test of this session started a Ray head
    from airflow_ray_k8s.testing.emulator import rayproc

    return [
        f"{pgid} ({temp_dir})"
        for _, pgid, owner, temp_dir in rayproc.runtime_records()
        if owner == os.getpid() and rayproc.surviving_pgid(pgid, temp_dir)
    ]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session if any Ray head it started outlived it, whatever the tests said."""
    left = _surviving_heads_of_this_session()
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"ERROR: Ray process groups outlived the test session: {left}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's throw-away AIRFLOW_HOME."""
    import shutil

    shutil.rmtree(_home, ignore_errors=True)
