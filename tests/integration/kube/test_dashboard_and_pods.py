"""The Ray job API through the API server's service proxy (and directly), and pod diagnostics,
against the emulated API; a small fake dashboard stands in for a Ray head."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from airflow_ray_k8s.exceptions import RayDashboardError, RayDashboardJobNotFoundError
from airflow_ray_k8s.kube.aio import AsyncKubeClient
from airflow_ray_k8s.kube.client import KubeClient
from airflow_ray_k8s.resources import EVENT, POD, SECRET, SERVICE
from airflow_ray_k8s.testing.emulator.server import LocalKubeRay

from .kube_it import FAST_RETRY, Api, settings_for, unique

TOKEN = "ray-dashboard-token-5f3a"


class FakeDashboard:
    """The job API of one head: one known job; records the headers it received."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.stopped = False
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/jobs/{id}", self._info)
        app.router.add_get("/api/jobs/{id}/logs", self._logs)
        app.router.add_post("/api/jobs/{id}/stop", self._stop)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _known(self, request: web.Request) -> bool:
        self.seen.append(dict(request.headers))
        return request.match_info["id"] == "job-1"

    async def _info(self, request: web.Request) -> web.Response:
        if not self._known(request):
            return web.Response(status=404, text="Job does not exist")
        status = "STOPPED" if self.stopped else "RUNNING"
        return web.json_response(
            {"job_id": "raysubmit_1", "submission_id": "job-1", "status": status, "start_time": 1}
        )

    async def _logs(self, request: web.Request) -> web.Response:
        self._known(request)
        return web.json_response({"logs": "line 1\nline 2\n"})

    async def _stop(self, request: web.Request) -> web.Response:
        self._known(request)
        self.stopped = True
        return web.json_response({"stopped": True})


@pytest.fixture
async def dashboard(kuberay_api: LocalKubeRay) -> AsyncIterator[FakeDashboard]:
    fake = FakeDashboard()
    await fake.start()
    kr = kuberay_api

    def setup() -> None:
        if kr.store.get(SECRET, "default", "ray-token") is None:
            secret = {
                "metadata": {"name": "ray-token"},
                "data": {"auth_token": base64.b64encode(TOKEN.encode()).decode()},
            }
            kr.store.create(SECRET, secret, namespace="default")
        if kr.store.get(SERVICE, "default", "rc-head-svc") is None:
            svc = {
                "metadata": {"name": "rc-head-svc"},
                "spec": {"ports": [{"name": "dashboard", "port": 8265}]},
            }
            kr.store.create(SERVICE, svc, namespace="default")

    kr.call(setup)
    kr.proxies.register("default", "rc-head-svc", "dashboard", fake.url)
    try:
        yield fake
    finally:
        kr.proxies.unregister("default", "rc-head-svc")
        await fake.close()


@pytest.fixture(params=["sync", "async"])
async def token_api(request: pytest.FixtureRequest, kuberay_api: LocalKubeRay) -> AsyncIterator[Api]:
    settings = settings_for(kuberay_api, ray_token_secret="ray-token")
    if request.param == "sync":
        with KubeClient(settings, retry_policy=FAST_RETRY) as c:
            yield Api(c)
    else:
        async with AsyncKubeClient(settings, retry_policy=FAST_RETRY) as a:
            yield Api(a)


async def test_job_api_through_the_service_proxy(
    token_api: Api, dashboard: FakeDashboard, kuberay_api: LocalKubeRay
) -> None:
    info = await token_api("get_job_info", "rc", "job-1")
    assert (info.submission_id, info.status) == ("job-1", "RUNNING")
    assert await token_api("get_job_logs", "rc", "job-1") == "line 1\nline 2\n"
    assert await token_api("stop_job", "rc", "job-1") is True
    assert (await token_api("get_job_info", "rc", "job-1")).is_terminal
    with pytest.raises(RayDashboardJobNotFoundError):
        await token_api("get_job_info", "rc", "no-such-job")
    # The token reached the dashboard; the API server's credentials did not (the proxy strips them).
    assert all(h.get("x-ray-authorization") == f"Bearer {TOKEN}" for h in dashboard.seen)
    assert not any("Authorization" in h for h in dashboard.seen)
    proxied = kuberay_api.requests.filter(path=r"/services/rc-head-svc:dashboard/proxy/api/jobs/")
    assert len(proxied) == 5
    # The Secret is read once per client.
    assert kuberay_api.requests.count(path=r"/secrets/ray-token$") == 1


async def test_job_api_direct_url_gets_no_kubernetes_credentials(
    dashboard: FakeDashboard, kuberay_api: LocalKubeRay
) -> None:
    settings = settings_for(kuberay_api, dashboard_url=dashboard.url)
    async with AsyncKubeClient(settings) as client:
        info = await client.get_job_info("rc", "job-1")
    assert info.status in ("RUNNING", "STOPPED")
    assert dashboard.seen
    assert not any("Authorization" in h for h in dashboard.seen)
    assert kuberay_api.requests.count(path=r"/proxy/") == 0


async def test_head_without_endpoints(api: Api, kuberay_api: LocalKubeRay) -> None:
    with pytest.raises(RayDashboardError):
        await api("get_job_info", unique("no-cluster"), "job-1")


async def test_diagnose_cluster(api: Api, kuberay_api: LocalKubeRay) -> None:
    rc = unique("rc")
    head = {
        "metadata": {"name": f"{rc}-head", "labels": {"ray.io/cluster": rc, "ray.io/node-type": "head"}},
        "spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:nope"}]},
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "ray-head",
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling"}},
                }
            ],
        },
    }
    worker = {
        "metadata": {"name": f"{rc}-worker", "labels": {"ray.io/cluster": rc, "ray.io/node-type": "worker"}},
        "spec": {"containers": [{"name": "ray-worker", "image": "rayproject/ray:2.52.0"}]},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "Insufficient cpu",
                }
            ],
        },
    }
    other = {
        "metadata": {"name": unique("other"), "labels": {"ray.io/cluster": "someone-else"}},
        "spec": {"containers": []},
        "status": {"phase": "Running"},
    }
    event = {
        "metadata": {"name": unique("ev")},
        "involvedObject": {"kind": "Pod", "name": f"{rc}-head", "namespace": "default"},
        "type": "Warning",
        "reason": "Failed",
        "message": 'Failed to pull image "rayproject/ray:nope": ErrImagePull: manifest unknown',
    }

    def setup() -> None:
        for pod in (head, worker, other):
            kuberay_api.store.create(POD, pod, namespace="default")
        kuberay_api.store.create(EVENT, event, namespace="default")

    kuberay_api.call(setup)
    diagnosis = await api("diagnose_cluster", rc)
    assert set(diagnosis.reasons) == {"ImagePullBackOff", "Unschedulable", "ErrImagePull"}
    assert "manifest unknown" in diagnosis.summary()
    assert "Insufficient cpu" in diagnosis.summary()
    assert "someone-else" not in diagnosis.summary()
