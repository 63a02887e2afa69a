"""The Ray job API requests: service proxy by default, direct URL when configured, token header."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from airflow_ray_k8s.exceptions import RayDashboardError, RayDashboardJobNotFoundError
from airflow_ray_k8s.kube import dashboard
from airflow_ray_k8s.kube.config import ConnectionSettings
from airflow_ray_k8s.kube.request import KubeRequest, KubeResponse

from .kube_scripted import Script, ok, status

PROXY = ConnectionSettings()
DIRECT = ConnectionSettings(dashboard_url="http://{cluster}-head.{namespace}.example:8265")
WITH_TOKEN = ConnectionSettings(ray_token_secret="ray-token")


def test_proxy_path_through_the_api_server() -> None:
    req = dashboard.build(PROXY, "ray", "rc", "GET", "/api/jobs/abc")
    assert req.path == "/api/v1/namespaces/ray/services/rc-head-svc:dashboard/proxy/api/jobs/abc"
    assert req.base_url is None  # authenticated against the API server
    assert req.namespace == "ray"
    assert dict(req.headers) == {}


def test_direct_url_with_placeholders() -> None:
    req = dashboard.build(DIRECT, "ray", "rc", "POST", "/api/jobs/abc/stop", token="t0k", body={})
    assert req.base_url == "http://rc-head.ray.example:8265"
    assert req.path == "/api/jobs/abc/stop"
    assert dict(req.headers) == {"x-ray-authorization": "Bearer t0k"}
    assert "t0k" not in repr(req)
    assert "t0k" not in req.describe()


def test_direct_url_keeps_other_braces() -> None:
    settings = ConnectionSettings(dashboard_url="http://dash/{cluster}/x{y}")
    assert dashboard.build(settings, "ray", "rc", "GET", "/api/version").base_url == "http://dash/rc/x{y}"


def secret_then(answer: Any) -> Any:
    def handler(request: KubeRequest) -> Any:
        if "/secrets/" in request.path:
            return ok({"data": {"auth_token": base64.b64encode(b"s3cr3t-token\n").decode()}})
        return answer(request) if callable(answer) else answer

    return handler


def test_token_is_read_from_the_secret_once_and_sent_as_header(script: Script) -> None:
    script.handler = secret_then(
        ok({"job_id": "raysubmit_1", "submission_id": "abc", "status": "RUNNING", "start_time": 5})
    )
    cache: dict[tuple[str, str], str] = {}
    info = script.run(dashboard.get_job(WITH_TOKEN, "ray", "rc", "abc", cache))
    assert (info.submission_id, info.status, info.start_time, info.end_time) == ("abc", "RUNNING", 5, None)
    assert not info.is_terminal
    script.run(dashboard.get_job(WITH_TOKEN, "ray", "rc", "abc", cache))
    paths = [r.path for r in script.requests]
    assert paths.count("/api/v1/namespaces/ray/secrets/ray-token") == 1
    assert dict(script.requests[-1].headers) == {"x-ray-authorization": "Bearer s3cr3t-token"}


def test_missing_token_secret(script: Script) -> None:
    script.handler = lambda r: status(404, "NotFound", details={"name": "ray-token"})
    with pytest.raises(RayDashboardError, match="does not exist"):
        script.run(dashboard.get_job(WITH_TOKEN, "ray", "rc", "abc", {}))


def test_logs_and_stop(script: Script) -> None:
    script.handler = lambda r: ok({"logs": "hello\n"}) if r.path.endswith("/logs") else ok({"stopped": True})
    assert script.run(dashboard.get_job_logs(PROXY, "ray", "rc", "abc", {})) == "hello\n"
    assert script.run(dashboard.stop_job(PROXY, "ray", "rc", "abc", {})) is True
    assert script.requests[-1].method == "POST"


def test_unknown_job_versus_unreachable_dashboard(script: Script) -> None:
    # The dashboard's own 404 is plain text; the API server's (no such service) is a Status.
    script.handler = lambda r: KubeResponse(404, {}, b"Job abc does not exist")
    with pytest.raises(RayDashboardJobNotFoundError):
        script.run(dashboard.get_job(PROXY, "ray", "rc", "abc", {}))
    script.handler = lambda r: status(
        404, "NotFound", 'services "rc-head-svc" not found', {"name": "rc-head-svc"}
    )
    with pytest.raises(RayDashboardError) as info:
        script.run(dashboard.get_job(PROXY, "ray", "rc", "abc", {}))
    assert not isinstance(info.value, RayDashboardJobNotFoundError)
    script.handler = lambda r: status(503, "ServiceUnavailable", "no endpoints available")
    with pytest.raises(RayDashboardError, match="no endpoints"):
        script.run(dashboard.get_job_logs(PROXY, "ray", "rc", "abc", {}))
    script.handler = lambda r: KubeResponse(200, {}, b"<html>")
    with pytest.raises(RayDashboardError, match="not JSON"):
        script.run(dashboard.get_job(PROXY, "ray", "rc", "abc", {}))
