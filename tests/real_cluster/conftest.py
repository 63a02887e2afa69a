"""Opt-in tests against a real Kubernetes cluster running the KubeRay operator (``--real-cluster``).

They cannot run on the build machines (no Kubernetes there) and are skipped unless asked for::

    pytest tests/real_cluster --real-cluster \\
        [--real-cluster-kubeconfig ~/.kube/config] [--real-cluster-context kind-ray] \\
        [--real-cluster-namespace ray-tests] [--real-cluster-image rayproject/ray:2.52.0]

e.g. against ``docker compose --profile k3s up`` (kubeconfig ``./.k3s/kubeconfig.yaml``), a kind or
k3s cluster with the KubeRay Helm chart, or the local KubeRay itself
(``python -m airflow_ray_k8s.testing.emulator.cli`` prints its kubeconfig), which is how the suite
itself is checked where no cluster runs. The tests create small RayClusters and RayJobs in the
namespace, and check that they leave none behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.airflow_env import airflow_db_with_dags

DAGS = Path(__file__).resolve().parent / "dags"


@dataclass(frozen=True)
class RealCluster:
    """Where the real-cluster tests run.

    :param kubeconfig: kubeconfig path.
    :param context: kubeconfig context, or ``None`` for its current one.
    :param namespace: namespace the tests create objects in.
    :param image: Ray image of the test clusters, or ``None`` for the builders' default.
    """

    kubeconfig: Path
    context: str | None
    namespace: str
    image: str | None

    def connection(self) -> str:
        """The ``AIRFLOW_CONN_KUBERAY_DEFAULT`` value (a ``kuberay`` connection on the kubeconfig)."""
        extra: dict[str, Any] = {"kube_config_path": str(self.kubeconfig), "namespace": self.namespace}
        if self.context:
            extra["cluster_context"] = self.context
        return json.dumps({"conn_type": "kuberay", "extra": extra})


@pytest.fixture(scope="session")
def real_cluster(pytestconfig: pytest.Config, request: pytest.FixtureRequest) -> Iterator[RealCluster]:
    """The cluster of ``--real-cluster-*`` (or, with ``--realkube``, the real control plane built
    here), with ``kuberay_default`` pointing at it for the session."""
    if pytestconfig.getoption("--realkube") and not pytestconfig.getoption("--real-cluster"):
        kr = request.getfixturevalue("real_kuberay")
        cluster = RealCluster(
            kubeconfig=kr.kubeconfig_path, context=None, namespace=kr.jobs_namespace, image=None
        )
    else:
        path = pytestconfig.getoption("--real-cluster-kubeconfig") or "~/.kube/config"
        kubeconfig = Path(path).expanduser()
        if not kubeconfig.is_file():
            pytest.fail(f"--real-cluster-kubeconfig: no kubeconfig at {kubeconfig}")
        cluster = RealCluster(
            kubeconfig=kubeconfig,
            context=pytestconfig.getoption("--real-cluster-context"),
            namespace=pytestconfig.getoption("--real-cluster-namespace"),
            image=pytestconfig.getoption("--real-cluster-image"),
        )
    saved = os.environ.get("AIRFLOW_CONN_KUBERAY_DEFAULT")
    os.environ["AIRFLOW_CONN_KUBERAY_DEFAULT"] = cluster.connection()
    try:
        yield cluster
    finally:
        if saved is None:
            os.environ.pop("AIRFLOW_CONN_KUBERAY_DEFAULT", None)
        else:
            os.environ["AIRFLOW_CONN_KUBERAY_DEFAULT"] = saved


@pytest.fixture(scope="session")
def real_airflow_db(real_cluster: RealCluster) -> Iterator[None]:
    """The metadata DB (SQLite in the session's AIRFLOW_HOME) and this folder's DAGs for ``dag.test()``."""
    saved = os.environ.get("REAL_CLUSTER_RAY_IMAGE")
    if real_cluster.image:
        os.environ["REAL_CLUSTER_RAY_IMAGE"] = real_cluster.image
    try:
        with airflow_db_with_dags(DAGS):
            yield
    finally:
        if saved is None:
            os.environ.pop("REAL_CLUSTER_RAY_IMAGE", None)
        else:
            os.environ["REAL_CLUSTER_RAY_IMAGE"] = saved


@pytest.fixture
def hook(real_cluster: RealCluster) -> Iterator[Any]:
    """A :class:`KubeRayHook` on the real cluster (closed after the test)."""
    from airflow_ray_k8s.hooks.kuberay import KubeRayHook

    with KubeRayHook() as h:
        yield h
