"""The service proxy path forwards to targets registered by the controller."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes_asyncio import client as aclient

from airflow_ray_k8s.resources import SERVICE
from airflow_ray_k8s.testing.emulator.server import LocalKubeRay
from tests.integration.conftest import kube_async_api_client


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "authorization": request.headers.get("Authorization"),
            "x_ray": request.headers.get("x-ray-authorization"),
            "body": body.decode(),
        },
        status=201 if request.method == "POST" else 200,
        headers={"X-Target": "echo"},
    )


@pytest.fixture
async def target() -> AsyncIterator[str]:
    """A small HTTP server standing in for a Ray dashboard (on the test's event loop)."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_proxy_forwards_get_and_post(kuberay_api: LocalKubeRay, target: str) -> None:
    kuberay_api.proxies.register("default", "rc-head-svc", "dashboard", target)
    api_client = await kube_async_api_client(kuberay_api)
    try:
        core = aclient.CoreV1Api(api_client)
        # Raw content: the generated client turns a JSON "str" answer into a Python repr otherwise.
        raw = await core.connect_get_namespaced_service_proxy_with_path(
            "rc-head-svc:dashboard", "default", "api/jobs/abc/logs", _preload_content=False
        )
        echoed = json.loads(await raw.read())
        assert echoed["method"] == "GET"
        assert echoed["path"] == "/api/jobs/abc/logs"
        assert echoed["authorization"] is None  # the API token is never forwarded
        response = await api_client.call_api(
            "/api/v1/namespaces/default/services/rc-head-svc:dashboard/proxy/api/jobs/",
            "POST",
            query_params=[("q", "1")],
            header_params={"Content-Type": "application/json", "x-ray-authorization": "Bearer ray"},
            body={"entrypoint": "echo hi"},
            auth_settings=["BearerToken"],
            _preload_content=False,
        )
        assert response.status == 201
        assert response.headers["X-Target"] == "echo"
        posted = json.loads(await response.read())
        assert posted["method"] == "POST"
        assert posted["path"] == "/api/jobs/"
        assert posted["query"] == {"q": "1"}
        assert posted["x_ray"] == "Bearer ray"
        assert json.loads(posted["body"]) == {"entrypoint": "echo hi"}
    finally:
        await api_client.close()
        kuberay_api.proxies.unregister("default", "rc-head-svc")


async def test_proxy_resolves_port_number_through_the_service(kuberay_api: LocalKubeRay, target: str) -> None:
    kuberay_api.call(
        lambda: kuberay_api.store.create(
            SERVICE,
            {
                "metadata": {"name": "num-head-svc", "namespace": "default"},
                "spec": {"ports": [{"name": "dashboard", "port": 8265}]},
            },
        )
    )
    kuberay_api.proxies.register("default", "num-head-svc", "dashboard", target)
    api_client = await kube_async_api_client(kuberay_api)
    try:
        core = aclient.CoreV1Api(api_client)
        raw = await core.connect_get_namespaced_service_proxy_with_path(
            "num-head-svc:8265", "default", "api/version", _preload_content=False
        )
        assert json.loads(await raw.read())["path"] == "/api/version"
    finally:
        await api_client.close()
        kuberay_api.proxies.unregister("default", "num-head-svc")


def test_proxy_without_endpoint_is_503_and_unknown_service_404(
    kube_client: Any, kuberay_api: LocalKubeRay
) -> None:
    kuberay_api.call(
        lambda: kuberay_api.store.create(SERVICE, {"metadata": {"name": "idle-svc", "namespace": "default"}})
    )
    core = client.CoreV1Api(kube_client)
    with pytest.raises(ApiException) as no_endpoint:
        core.connect_get_namespaced_service_proxy_with_path("idle-svc:dashboard", "default", "api/version")
    assert no_endpoint.value.status == 503
    with pytest.raises(ApiException) as unknown:
        core.connect_get_namespaced_service_proxy_with_path("nope-svc:dashboard", "default", "api/version")
    assert unknown.value.status == 404


def test_proxy_to_a_dead_target_is_503(kube_client: Any, kuberay_api: LocalKubeRay) -> None:
    # Port 9 (discard) on loopback: nothing listens there on the build machines.
    kuberay_api.proxies.register("default", "dead-svc", "dashboard", "http://127.0.0.1:9")
    try:
        with pytest.raises(ApiException) as err:
            client.CoreV1Api(kube_client).connect_get_namespaced_service_proxy_with_path(
                "dead-svc:dashboard", "default", "api/version"
            )
        assert err.value.status == 503
    finally:
        kuberay_api.proxies.unregister("default", "dead-svc")
