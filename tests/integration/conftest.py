"""Fixtures shared by the integration tests: the local KubeRay API and clients bound to it.

``local_kuberay_api`` is module-scoped (starting one takes ~0.1 s, but a module's tests share the
objects they create, so tests use distinct names or their own namespace); ``fresh_kuberay_api``
gives a test its own instance when it needs a clean store, faults or request log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_ray_k8s.testing.emulator.server import LocalKubeRay


def kube_api_client(kr: LocalKubeRay) -> Any:
    """A ``kubernetes.client.ApiClient`` configured from the facade's kubeconfig (close it after use)."""
    from kubernetes import config

    return config.new_client_from_config(config_file=str(kr.kubeconfig_path))


async def kube_async_api_client(kr: LocalKubeRay) -> Any:
    """A ``kubernetes_asyncio.client.ApiClient`` from the facade's kubeconfig (close it after use)."""
    from kubernetes_asyncio import client, config

    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(kr.kubeconfig_path), client_configuration=configuration)
    return client.ApiClient(configuration)


@pytest.fixture(scope="module")
def local_kuberay_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKubeRay]:
    """A running ``LocalKubeRay(mode="api")`` shared by the tests of one module; faults and the
    request log are cleared before each use by ``kuberay_api``."""
    workdir: Path = tmp_path_factory.mktemp("local-kuberay")
    with LocalKubeRay(mode="api", workdir=workdir) as kr:
        kr.write_kubeconfig()
        yield kr


@pytest.fixture
def kuberay_api(local_kuberay_api: LocalKubeRay) -> LocalKubeRay:
    """The module's ``LocalKubeRay`` with faults and the request log reset for this test."""
    local_kuberay_api.faults.clear()
    local_kuberay_api.requests.clear()
    return local_kuberay_api


@pytest.fixture
def fresh_kuberay_api(tmp_path: Path) -> Iterator[LocalKubeRay]:
    """A ``LocalKubeRay(mode="api")`` of this test alone (clean store, fast bookmarks)."""
    with LocalKubeRay(mode="api", workdir=tmp_path / "local-kuberay", bookmark_interval=0.2) as kr:
        kr.write_kubeconfig()
        yield kr


@pytest.fixture
def kube_client(kuberay_api: LocalKubeRay) -> Iterator[Any]:
    """An official ``kubernetes`` ApiClient bound to the module's ``LocalKubeRay``."""
    api = kube_api_client(kuberay_api)
    try:
        yield api
    finally:
        api.close()
