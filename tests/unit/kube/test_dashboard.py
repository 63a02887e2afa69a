"""The Ray job API requests: service proxy by default, direct URL when configured, token header."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from airflow_ray_k8s.exceptions import (
    KubeForbiddenError,
    KubeTimeoutError,
    RayDashboardError,
    RayDashboardForbiddenError,
    RayDashboardJobNotFoundError,
    RayDashboardUnavailableError,
)
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


@pytest.mark.parametrize(
    ("settings", "host", "expected"),
    [
        (
            PROXY,
            "https://api.example:6443",
            "https://api.example:6443/api/v1/namespaces/ray/services/rc-head-svc:dashboard/proxy/",
        ),
        (DIRECT, "https://api.example:6443", "http://rc-head.ray.example:8265"),
        (
            ConnectionSettings(dashboard_url="https://bob:pw@dash.example:8443/{cluster}"),
            "",
            "https://dash.example:8443/rc",
        ),
        (
            ConnectionSettings(dashboard_url="https://tok@dash.example/{namespace}"),
            "",
            "https://dash.example/ray",
        ),
        (
            PROXY,
            "https://admin:pw@api.example",
            "https://api.example/api/v1/namespaces/ray/services/rc-head-svc:dashboard/proxy/",
        ),
        (PROXY, "", ""),
    ],
)
def test_the_link_for_people_fills_the_template_and_never_carries_credentials(
    settings: ConnectionSettings, host: str, expected: str
) -> None:
    assert dashboard.link_for_people(settings, "ray", "rc", host) == expected


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


def test_the_token_is_registered_as_a_secret_before_use(script: Script) -> None:
    script.handler = secret_then(ok({"logs": ""}))
    cache: dict[tuple[str, str], str] = {}
    script.run(dashboard.get_job_logs(WITH_TOKEN, "ray", "rc", "abc", cache))
    script.run(dashboard.get_job_logs(WITH_TOKEN, "ray", "rc", "abc", cache))
    assert script.secrets == ["s3cr3t-token"]  # once per client, the value the header carries


@pytest.mark.parametrize("data", ["not base64!!", base64.b64encode(b"\xff\xfe").decode(), 42, "   "])
def test_a_malformed_token_secret_is_a_dashboard_error(script: Script, data: Any) -> None:
    def handler(request: KubeRequest) -> Any:
        return ok({"data": {"auth_token": data}})

    script.handler = handler
    with pytest.raises(RayDashboardError, match="auth_token") as info:
        script.run(dashboard.get_job(WITH_TOKEN, "ray", "rc", "abc", {}))
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert script.secrets == []


def test_dashboard_errors_keep_their_kind(script: Script) -> None:
    script.handler = lambda r: status(403, "Forbidden", "cannot create services/proxy")
    with pytest.raises(RayDashboardForbiddenError, match="services/proxy") as forbidden:
        script.run(dashboard.stop_job(PROXY, "ray", "rc", "abc", {}))
    assert forbidden.value.status == 403
    assert isinstance(forbidden.value.__cause__, KubeForbiddenError)
    script.handler = lambda r: status(503, "ServiceUnavailable", "no endpoints available")
    with pytest.raises(RayDashboardUnavailableError, match="no endpoints") as unavailable:
        script.run(dashboard.get_job(PROXY, "ray", "rc", "abc", {}))
    assert unavailable.value.status == 503
    script.handler = lambda r: KubeTimeoutError("get: no answer within the client-side timeout")
    with pytest.raises(RayDashboardUnavailableError):
        script.run(dashboard.get_job_logs(PROXY, "ray", "rc", "abc", {}))
    script.handler = lambda r: status(422, "Invalid", "bad")
    with pytest.raises(RayDashboardError) as other:
        script.run(dashboard.get_job(PROXY, "ray", "rc", "abc", {}))
    assert type(other.value) is RayDashboardError
    # All of them are still RayDashboardErrors for callers that do not care about the kind.
    assert issubclass(RayDashboardForbiddenError, RayDashboardError)
    assert issubclass(RayDashboardUnavailableError, RayDashboardError)
