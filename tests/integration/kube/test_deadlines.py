"""Every wait ends within its timeout, through both clients, whatever the API does meanwhile.

A wait must end within ``timeout`` plus about one short call (``MIN_CALL_TIMEOUT``): a 429 whose
``Retry-After`` is longer than the time left, a GET retried by the policy, or a watch stream that
goes quiet (a half-open connection) must not hold it for the retry policy's own deadline or the
stream's read margin. The clients use the default retry policy and watch options: the ones a task
gets.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from airflow_ray_k8s.exceptions import WaitTimeoutError
from airflow_ray_k8s.kube.aio import AsyncKubeClient
from airflow_ray_k8s.kube.client import KubeClient
from airflow_ray_k8s.kube.config import ConnectionSettings
from airflow_ray_k8s.resources import RAYJOB
from airflow_ray_k8s.testing.emulator.server import LocalKubeRay
from tests.integration.kube.json_http import JsonHandler

from .kube_it import Api, settings_for, unique

#: What a wait may overrun its timeout by: one last call of MIN_CALL_TIMEOUT plus scheduling.
SLACK = 1.5
LIST = r"/rayjobs$"


def never(obj: object) -> bool:
    return False


@pytest.fixture(params=["sync", "async"])
async def default_api(request: pytest.FixtureRequest, kuberay_api: LocalKubeRay) -> AsyncIterator[Api]:
    """A client with the default retry policy (Retry-After honoured up to 15 s, 60 s per call)."""
    settings = settings_for(kuberay_api)
    if request.param == "sync":
        with KubeClient(settings) as sync:
            yield Api(sync)
    else:
        async with AsyncKubeClient(settings) as aclient:
            yield Api(aclient)


async def timed(api: Api, method: str, *args: Any, **kwargs: Any) -> float:
    started = time.monotonic()
    with pytest.raises(WaitTimeoutError):
        await api(method, *args, **kwargs)
    return time.monotonic() - started


@pytest.mark.parametrize(
    ("flavour", "method"),
    [("sync", "wait_for"), ("async", "watch_for"), ("async", "wait_for")],  # async wait_for: the hub
)
async def test_wait_for_ends_on_time_while_lists_get_429(
    kuberay_api: LocalKubeRay, flavour: str, method: str
) -> None:
    # Retry-After 3 s with 1 s left: the list must not be retried, nor the back-off slept in full.
    kuberay_api.faults.error(429, retry_after=3, count=None, method="GET", path=LIST)
    settings = settings_for(kuberay_api)
    if flavour == "sync":
        with KubeClient(settings) as sync:
            elapsed = await timed(Api(sync), method, RAYJOB, unique("job"), never, timeout=1)
    else:
        async with AsyncKubeClient(settings) as aclient:
            elapsed = await timed(Api(aclient), method, RAYJOB, unique("job"), never, timeout=1)
    assert elapsed < 1 + SLACK, f"{flavour} {method} took {elapsed:.2f}s for a 1 s timeout"
    assert kuberay_api.requests.count(method="GET", path=LIST) >= 1


async def test_wait_for_deletion_ends_on_time_while_gets_get_429(
    default_api: Api, kuberay_api: LocalKubeRay
) -> None:
    name = unique("job")
    await default_api("create", RAYJOB, {"metadata": {"name": name}, "spec": {"entrypoint": "x"}})
    kuberay_api.faults.error(429, retry_after=3, count=None, method="GET", path=f"/rayjobs/{name}$")
    started = time.monotonic()
    with pytest.raises(WaitTimeoutError, match="not confirmed gone within 1s"):
        await default_api("wait_for_deletion", RAYJOB, name, timeout=1)
    elapsed = time.monotonic() - started
    assert elapsed < 1 + SLACK, f"wait_for_deletion took {elapsed:.2f}s for a 1 s timeout"
    kuberay_api.faults.clear()
    await default_api("delete", RAYJOB, name)


async def test_wait_for_deletion_of_an_object_that_stays(default_api: Api, kuberay_api: LocalKubeRay) -> None:
    name = unique("job")
    await default_api("create", RAYJOB, {"metadata": {"name": name}, "spec": {"entrypoint": "x"}})
    elapsed = await timed(default_api, "wait_for_deletion", RAYJOB, name, timeout=1.2)
    assert 1.2 <= elapsed < 1.2 + SLACK
    await default_api("delete", RAYJOB, name)


# --- a watch stream that goes quiet ---------------------------------------------------------------


class _QuietWatchHandler(JsonHandler):
    """Lists answer an empty RayJobList; a watch sends its headers, one BOOKMARK after
    ``bookmark_after`` seconds, then nothing at all (a half-open connection)."""

    release: threading.Event
    bookmark_after: float
    watches: list[float]

    def do_GET(self) -> None:
        if "watch=true" in self.path:
            self.watches.append(time.monotonic())
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            if self.release.wait(self.bookmark_after):
                return
            line = json.dumps({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "2"}}})
            data = (line + "\n").encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
            self.release.wait(60)
            return
        self.send_json({"kind": "RayJobList", "metadata": {"resourceVersion": "1"}, "items": []})


@pytest.fixture
def quiet_api() -> Iterator[tuple[str, _QuietWatchHandler]]:
    handler = type(
        "Handler",
        (_QuietWatchHandler,),
        {"release": threading.Event(), "bookmark_after": 2.5, "watches": []},
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler  # type: ignore[misc]
    finally:
        handler.release.set()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_quiet_watch_stream_does_not_outlive_the_wait(
    quiet_api: tuple[str, Any], flavour: str
) -> None:
    # Without the deadline on stream reads, the wait would end only when the read timeout
    # (timeoutSeconds + read_margin = 3 + 30 s) fires; the bookmark just before the deadline also
    # checks that each read is bounded, not only the first.
    import yaml

    from airflow_ray_k8s.testing.emulator.kubeconfig import kubeconfig_dict

    url, handler = quiet_api
    settings = ConnectionSettings(kube_config=yaml.safe_dump(kubeconfig_dict(url, "quiet-token")))
    if flavour == "sync":
        with KubeClient(settings) as client:
            elapsed = await timed(Api(client), "wait_for", RAYJOB, "x", never, timeout=3)
    else:
        async with AsyncKubeClient(settings) as aclient:
            elapsed = await timed(Api(aclient), "watch_for", RAYJOB, "x", never, timeout=3)
    assert handler.watches, "the wait never opened a watch"
    assert elapsed < 3 + SLACK, f"{flavour} wait took {elapsed:.2f}s for a 3 s timeout"
