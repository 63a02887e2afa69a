"""pytest plugin (entry point ``pytest11``) with fixtures for users' own DAG tests.

Loaded by pytest in every project that installs the provider, so it imports nothing heavy at
module level: the emulator (aiohttp, kmock, and in Ray mode real Ray processes) is imported inside
the fixtures.

Fixtures:

- ``local_kuberay_scripted``: a local Kubernetes API + KubeRay controller with no Ray processes;
  clusters are ready after a moment and jobs succeed (or fail, per annotation) after a scripted delay.
- ``local_kuberay``: the same with real Ray heads (``ray start --head`` per RayCluster).
- ``real_kuberay``: (session-scoped) the real kube-apiserver, etcd, kube-controller-manager and
  KubeRay operator built by ``make real-kuberay``, with a node agent running the pods' Ray heads;
  skipped where they are not built, unless ``REALKUBE_REQUIRED=1`` (then it fails).

Both yield a started ``LocalKubeRay`` with ``AIRFLOW_CONN_KUBERAY_DEFAULT`` set for the test, and
fail the test at teardown if a Ray process started by it survived. Controller options come from
the ``local_kuberay`` marker::

    @pytest.mark.local_kuberay(max_heads=1, job_status_check_timeout=5)
    def test_my_dag(local_kuberay): ...

``local_queues={"name": slots}`` adds Kueue LocalQueues that admit queued RayJobs and RayClusters
(``queue_name=``) a few at a time (see docs/queueing.md).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_ray_k8s.testing.emulator.server import LocalKubeRay


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker that carries controller options."""
    config.addinivalue_line(
        "markers",
        "local_kuberay(**options): KubeRay controller options of the local_kuberay(_scripted) fixtures",
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("local_kuberay")
    return dict(marker.kwargs) if marker is not None else {}


def surviving_ray_groups(workdir: Path) -> list[int]:
    """Process groups recorded in ``<workdir>/ray-pgids`` that still have live processes."""
    from airflow_ray_k8s.testing.emulator.rayproc import surviving_groups

    return surviving_groups(workdir)


def _local_kuberay(mode: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalKubeRay]:
    from airflow_ray_k8s.testing.emulator.server import LocalKubeRay

    workdir = tmp_path / "local-kuberay"
    workdir.mkdir()
    kr = LocalKubeRay(mode, workdir=workdir, **_options(request))  # type: ignore[arg-type]
    kr.start()
    saved: dict[str, str | None] = {}
    try:
        env = kr.airflow_conn_env()
        for key, value in env.items():
            saved[key] = os.environ.get(key)
            os.environ[key] = value
        yield kr
    finally:
        for key, previous in saved.items():
            if previous is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = previous
        kr.stop()
    survivors = surviving_ray_groups(workdir)
    assert not survivors, f"Ray process groups started by local_kuberay survived its shutdown: {survivors}"


REALKUBE_REQUIRED_ENV = "REALKUBE_REQUIRED"


@pytest.fixture(scope="session")
def real_kuberay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A started ``RealKubeRay`` shared by the session (starting one takes ~15 s); tests use their
    own object names. Fails at teardown if a process of a pod it ran survived."""
    from airflow_ray_k8s.testing.realkube.controlplane import RealKubeRay, unavailable_reason

    reason = unavailable_reason()
    if reason:
        if os.environ.get(REALKUBE_REQUIRED_ENV) == "1":
            pytest.fail(f"{REALKUBE_REQUIRED_ENV}=1 but {reason}")
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("realkube")
    # Ray 2.60's head drains for up to 30 s on SIGTERM (then the kubelet's 30 s grace kills it):
    # a real cluster's pods take that long to go. The tests' clusters have nothing to drain, so
    # their "image" turns it off, as a user's image may; the conformance suite measures the default.
    kr = RealKubeRay(workdir, max_pods=4, image_env={"RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"})
    kr.start()
    try:
        yield kr
    finally:
        kr.stop()
    survivors = surviving_ray_groups(workdir)
    assert not survivors, f"process groups of pods run by real_kuberay survived its shutdown: {survivors}"


@pytest.fixture
def local_kuberay_scripted(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalKubeRay]:
    """A local KubeRay without Ray processes (scripted job outcomes); see the module docs."""
    yield from _local_kuberay("scripted", request, tmp_path)


@pytest.fixture
def local_kuberay(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalKubeRay]:
    """A local KubeRay running real Ray heads (needs the ``local`` extra); see the module docs."""
    # find_spec, not importorskip: importing ray costs seconds and the heads run in their own processes.
    if importlib.util.find_spec("ray") is None:
        pytest.skip("local_kuberay runs real Ray heads: install airflow-ray-k8s[local]")
    yield from _local_kuberay("ray", request, tmp_path)
