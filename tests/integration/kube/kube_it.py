"""Helpers of the kube-layer integration tests (imported by the tests and their conftest)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import yaml

from airflow_ray_k8s.kube.aio import AsyncKubeClient
from airflow_ray_k8s.kube.client import KubeClient
from airflow_ray_k8s.kube.config import ConnectionSettings
from airflow_ray_k8s.kube.retry import RetryPolicy
from airflow_ray_k8s.kube.watch import WatchOptions
from airflow_ray_k8s.testing.emulator.kubeconfig import kubeconfig_dict
from airflow_ray_k8s.testing.emulator.server import LocalKubeRay

#: Fast but real back-off, so fault tests stay short.
FAST_RETRY = RetryPolicy(max_attempts=4, backoffs=(0.05, 0.1, 0.2), max_delay=2.0, deadline=20.0, jitter=0.0)
FAST_WATCH = WatchOptions(server_timeout=30, relist_interval=600.0, read_margin=10.0, min_stream_seconds=0.0)


def settings_for(kr: LocalKubeRay, **overrides: Any) -> ConnectionSettings:
    content = yaml.safe_dump(kubeconfig_dict(kr.url, kr.token))
    values: dict[str, Any] = {"kube_config": content, "conn_id": f"it-{kr.url}", **overrides}
    return ConnectionSettings(**values)


def unique(prefix: str = "obj") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Api:
    """Call a client operation by name, awaiting the async client or running the sync one in a thread."""

    def __init__(self, client: KubeClient | AsyncKubeClient) -> None:
        self.client = client
        self.is_async = isinstance(client, AsyncKubeClient)

    async def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        fn = getattr(self.client, method)
        if self.is_async:
            return await fn(*args, **kwargs)
        return await asyncio.to_thread(fn, *args, **kwargs)
