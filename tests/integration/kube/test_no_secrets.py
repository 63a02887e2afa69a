"""No secret in any log record or exception message of a whole run through both clients.

Secrets: the API bearer token (inside the kubeconfig content), the kubeconfig content itself, and
the Ray dashboard token read from a Secret. Every logger is captured at DEBUG (the libraries'
own included), and every exception raised on the way is checked with its whole cause chain.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_ray_k8s.exceptions import RayK8sError
from airflow_ray_k8s.kube.aio import AsyncKubeClient
from airflow_ray_k8s.kube.client import KubeClient
from airflow_ray_k8s.kube.config import ConnectionSettings
from airflow_ray_k8s.kube.retry import RetryPolicy
from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB, SECRET
from airflow_ray_k8s.testing.emulator.server import LocalKubeRay

from .kube_it import FAST_WATCH, settings_for

API_TOKEN = "api-token-QWxhZGRpbjpvcGVuIHNlc2FtZQ-7f1c"
RAY_TOKEN = "ray-token-c2VjcmV0LWRhc2hib2FyZA-99ab"
POLICY = RetryPolicy(max_attempts=2, backoffs=(0.01,), jitter=0.0)


def _chain(exc: BaseException) -> list[str]:
    texts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.extend([str(current), repr(current)])
        current = current.__cause__ or current.__context__
    texts.append("".join(traceback.format_exception(exc)))
    return texts


class Collector:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.errors = 0

    def expect_error(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except RayK8sError as exc:
            self.errors += 1
            self.texts.extend(_chain(exc))
        else:  # pragma: no cover
            raise AssertionError("expected an error")

    async def aexpect_error(self, fn: Callable[[], Awaitable[Any]]) -> None:
        try:
            await fn()
        except RayK8sError as exc:
            self.errors += 1
            self.texts.extend(_chain(exc))
        else:  # pragma: no cover
            raise AssertionError("expected an error")


def _exercise_sync(c: KubeClient, kr: LocalKubeRay, out: Collector) -> None:
    labels = {"app.kubernetes.io/managed-by": "airflow-ray-k8s"}
    body = {"metadata": {"name": "secret-scan", "labels": labels}, "spec": {"entrypoint": "x"}}
    c.create(RAYJOB, body)
    c.create(RAYJOB, body)  # 409 re-attach
    c.get(RAYJOB, "secret-scan")
    c.list_objects(RAYJOB, label_selector="a!=b")
    c.patch(RAYJOB, "secret-scan", {"metadata": {"labels": {"done": "1"}}})
    c.wait_for(RAYJOB, "secret-scan", lambda o: o is not None, timeout=10)
    c.diagnose_cluster("secret-scan")
    c.check_connection()
    out.expect_error(lambda: c.get(RAYJOB, "missing"))
    out.expect_error(lambda: c.create(RAYJOB, {"metadata": {"name": "Bad_Name"}, "spec": {}}))
    out.expect_error(lambda: c.get_job_info("no-head", "job"))  # reads the token Secret, then 404
    out.expect_error(lambda: c.list_objects(RAYJOB, namespace="kube-system"))
    kr.faults.error(503, count=None, path="/rayclusters")
    out.expect_error(lambda: c.list_objects(RAYCLUSTER))
    kr.faults.clear()
    kr.faults.deny("delete", "rayjobs")
    out.expect_error(lambda: c.delete(RAYJOB, "secret-scan"))
    kr.faults.clear()
    c.delete(RAYJOB, "secret-scan")


async def _exercise_async(settings: ConnectionSettings, kr: LocalKubeRay, out: Collector) -> None:
    async with AsyncKubeClient(settings, retry_policy=POLICY, watch_options=FAST_WATCH) as c:
        await c.create(RAYJOB, {"metadata": {"name": "secret-scan-a"}, "spec": {"entrypoint": "x"}})
        kr.call(
            lambda: kr.store.patch(RAYJOB, "default", "secret-scan-a", {"metadata": {"labels": {"d": "1"}}})
        )
        await c.wait_for(RAYJOB, "secret-scan-a", lambda o: o is not None, timeout=10)
        await out.aexpect_error(lambda: c.get(RAYJOB, "missing"))
        await out.aexpect_error(lambda: c.get_job_logs("no-head", "job"))
        kr.faults.drop_connections(count=None, method="GET", path="/rayjobs/")
        await out.aexpect_error(lambda: c.get(RAYJOB, "secret-scan-a"))
        kr.faults.clear()
        await c.delete(RAYJOB, "secret-scan-a")


def test_no_secret_in_logs_or_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("airflow_ray_k8s", "kubernetes", "kubernetes_asyncio", "urllib3", "aiohttp", "tenacity"):
        caplog.set_level(logging.DEBUG, logger=name)
    out = Collector()
    with LocalKubeRay(mode="api", workdir=tmp_path, token=API_TOKEN) as kr:

        def make_secret() -> None:
            data = {"auth_token": base64.b64encode(RAY_TOKEN.encode()).decode()}
            kr.store.create(SECRET, {"metadata": {"name": "ray-token"}, "data": data}, namespace="default")

        kr.call(make_secret)
        settings = settings_for(kr, ray_token_secret="ray-token", allowed_namespaces=frozenset({"default"}))
        kubeconfig = settings.kube_config or ""
        assert API_TOKEN in kubeconfig
        with KubeClient(settings, retry_policy=POLICY, watch_options=FAST_WATCH) as c:
            _exercise_sync(c, kr, out)
        asyncio.run(_exercise_async(settings, kr, out))
        out.texts.extend([repr(settings), str(settings), settings.identity])

    assert out.errors == 9
    records = caplog.records
    assert records, "nothing was logged at all: the capture is broken"
    texts = out.texts + [r.getMessage() for r in records] + [r.exc_text or "" for r in records]
    for text in texts:
        assert API_TOKEN not in text
        assert RAY_TOKEN not in text
        assert kubeconfig not in text
        assert base64.b64encode(RAY_TOKEN.encode()).decode() not in text
