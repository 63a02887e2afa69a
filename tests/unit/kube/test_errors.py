"""Error mapping: HTTP answers and transport failures onto the one exception hierarchy."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from airflow_ray_k8s.exceptions import (
    CRDNotInstalledError,
    KubeApiError,
    KubeConflictError,
    KubeForbiddenError,
    KubeGoneError,
    KubeInvalidError,
    KubeNotFoundError,
    KubeTimeoutError,
    KubeTransientError,
)
from airflow_ray_k8s.kube import request as rq
from airflow_ray_k8s.kube.errors import (
    MAX_PAYLOAD_CHARS,
    error_for_exception,
    error_for_response,
    error_for_watch_status,
    parse_retry_after,
    scrub,
)
from airflow_ray_k8s.resources import POD, RAYJOB

GET_JOB = rq.get(RAYJOB, "ray", "j")


def answer(code: int, body: Any = None, **headers: str) -> rq.KubeResponse:
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return rq.KubeResponse(code, {k.replace("_", "-"): v for k, v in headers.items()}, raw)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (400, KubeInvalidError),
        (401, KubeForbiddenError),
        (403, KubeForbiddenError),
        (409, KubeConflictError),
        (410, KubeGoneError),
        (422, KubeInvalidError),
        (429, KubeTransientError),
        (500, KubeTransientError),
        (502, KubeTransientError),
        (503, KubeTransientError),
        (504, KubeTransientError),
        (418, KubeApiError),
    ],
)
def test_status_codes(code: int, cls: type[KubeApiError]) -> None:
    err = error_for_response(GET_JOB, answer(code, {"kind": "Status", "reason": "R", "message": "m"}))
    assert type(err) is cls
    assert err.status == code
    assert err.reason == "R"
    assert str(err) == f"get RayJob ray/j: HTTP {code} R: m"


def test_object_404_versus_crd_not_installed() -> None:
    missing_obj = answer(
        404, {"kind": "Status", "reason": "NotFound", "details": {"name": "j", "kind": "rayjobs"}}
    )
    assert type(error_for_response(GET_JOB, missing_obj)) is KubeNotFoundError
    unknown_resource = answer(
        404, {"kind": "Status", "reason": "NotFound", "message": "the server could not find"}
    )
    err = error_for_response(rq.list_(RAYJOB, "ray"), unknown_resource)
    assert isinstance(err, CRDNotInstalledError)
    assert isinstance(err, KubeNotFoundError)
    assert "CRDs installed" in str(err)
    # Only ray.io can be "not installed"; a core 404 is a plain not-found.
    assert type(error_for_response(rq.get(POD, "ray", "p"), unknown_resource)) is KubeNotFoundError


def test_retry_after_seconds_and_http_date() -> None:
    err = error_for_response(GET_JOB, answer(429, {}, retry_after="3"))
    assert isinstance(err, KubeTransientError)
    assert err.retry_after == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-5") == 0.0


def test_non_json_bodies_are_quoted_truncated() -> None:
    err = error_for_response(GET_JOB, answer(500, b"x" * 5000))
    assert len(str(err)) < MAX_PAYLOAD_CHARS + 100
    assert "more chars" in str(err)


def test_secrets_are_scrubbed_from_messages() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl"
    text = f"denied: Authorization: Bearer abc.def-123 token={token} password: hunter2"
    cleaned = scrub(text)
    for secret in ("abc.def-123", token, "hunter2"):
        assert secret not in cleaned
    err = error_for_response(GET_JOB, answer(403, {"message": text}))
    assert "abc.def-123" not in str(err)
    assert "hunter2" not in str(err)


def test_watch_error_events() -> None:
    gone = error_for_watch_status(
        GET_JOB, {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    )
    assert isinstance(gone, KubeGoneError)
    assert isinstance(error_for_watch_status(GET_JOB, {"message": "?"}), KubeTransientError)


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"), KubeTimeoutError),
        (urllib3.exceptions.ConnectTimeoutError("connect timed out"), KubeTimeoutError),
        (urllib3.exceptions.ProtocolError("Connection aborted", ConnectionResetError()), KubeTransientError),
        (
            urllib3.exceptions.MaxRetryError(
                None, "/", urllib3.exceptions.NewConnectionError(None, "refused")
            ),
            KubeTransientError,
        ),
        (ConnectionResetError(104, "reset"), KubeTransientError),
        (TimeoutError("timed out"), KubeTimeoutError),
        (asyncio.TimeoutError(), KubeTimeoutError),
        (aiohttp.ServerDisconnectedError(), KubeTransientError),
        (aiohttp.ClientPayloadError("truncated"), KubeTransientError),
        (aiohttp.ServerTimeoutError("read"), KubeTimeoutError),
        (urllib3.exceptions.SSLError("cert verify failed"), KubeApiError),
        (FileNotFoundError(2, "No such file", "/ca.pem"), KubeApiError),
        (RuntimeError("weird"), KubeApiError),
    ],
)
def test_transport_exceptions_are_mapped(exc: BaseException, cls: type[KubeApiError]) -> None:
    err = error_for_exception(GET_JOB, exc)
    assert type(err) is cls
    # The message names the call and the transport's type, never its text (which may hold URLs with
    # credentials or payloads).
    assert str(err).startswith("get RayJob ray/j: ")


def test_api_exception_with_an_answer_is_mapped_like_the_answer() -> None:
    exc = ApiException(status=409, reason="Conflict")
    exc.body = json.dumps({"kind": "Status", "reason": "AlreadyExists", "message": "exists"})
    exc.headers = {"Content-Type": "application/json"}
    err = error_for_exception(GET_JOB, exc)
    assert type(err) is KubeConflictError
    assert err.reason == "AlreadyExists"
    assert type(error_for_exception(GET_JOB, ApiException(status=0, reason="SSLError"))) is KubeApiError
