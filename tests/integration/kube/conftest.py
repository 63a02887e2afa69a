"""Fixtures of the kube-layer integration tests: the provider's own clients, bound to LocalKubeRay.

The kubeconfig is passed as *content* (``kube_config``), the way a connection holding it in an
Airflow secret would, so the in-memory loading path is the one exercised. ``api`` runs a test once
through the sync client (in a worker thread) and once through the async client: the same assertions
hold for both transports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from airflow_ray_k8s.kube.aio import AsyncKubeClient
from airflow_ray_k8s.kube.client import KubeClient
from airflow_ray_k8s.kube.config import ConnectionSettings
from airflow_ray_k8s.testing.emulator.server import LocalKubeRay

from .kube_it import FAST_RETRY, FAST_WATCH, Api, settings_for


@pytest.fixture
def settings(kuberay_api: LocalKubeRay) -> ConnectionSettings:
    return settings_for(kuberay_api)


@pytest.fixture
def client(settings: ConnectionSettings) -> Iterator[KubeClient]:
    with KubeClient(settings, retry_policy=FAST_RETRY, watch_options=FAST_WATCH) as c:
        yield c


@pytest.fixture
async def aclient(settings: ConnectionSettings) -> AsyncIterator[AsyncKubeClient]:
    async with AsyncKubeClient(settings, retry_policy=FAST_RETRY, watch_options=FAST_WATCH) as c:
        yield c


@pytest.fixture(params=["sync", "async"])
async def api(request: pytest.FixtureRequest, settings: ConnectionSettings) -> AsyncIterator[Api]:
    if request.param == "sync":
        sync = KubeClient(settings, retry_policy=FAST_RETRY, watch_options=FAST_WATCH)
        try:
            yield Api(sync)
        finally:
            sync.close()
    else:
        async with AsyncKubeClient(settings, retry_policy=FAST_RETRY, watch_options=FAST_WATCH) as a:
            yield Api(a)
