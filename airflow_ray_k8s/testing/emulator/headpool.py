"""The Ray-mode :class:`~airflow_ray_k8s.testing.emulator.runtime.ClusterRuntime`: real heads,
at most ``max_heads`` at once, every process group reaped on shutdown, at exit and after a crash.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from airflow_ray_k8s.testing.emulator.jobapi import HttpJobAPI, JobBackend
from airflow_ray_k8s.testing.emulator.rayproc import (
    HeadPorts,
    HeadStartError,
    PortAllocator,
    RayHead,
    reap_leftovers,
    venv_bin,
)
from airflow_ray_k8s.testing.emulator.runtime import CapacityError, ClusterKey, HeadState, HeadStatus

log = logging.getLogger(__name__)

# Every RayHead started by any RayRuntime in this process, so that atexit can kill them even when
# the event loop that owns them is gone (a test that failed, an interrupted CLI).
_LIVE_HEADS: dict[int, RayHead] = {}


def _kill_all_at_exit() -> None:
    for head in list(_LIVE_HEADS.values()):
        with contextlib.suppress(Exception):
            head.kill_now()
    _LIVE_HEADS.clear()


atexit.register(_kill_all_at_exit)


def live_head_pgids() -> list[int]:
    """Process groups of the heads this process started and has not stopped yet."""
    return [head.pgid for head in _LIVE_HEADS.values() if head.pgid is not None]


def head_cpus(spec: dict[str, Any], default: int, ceiling: int) -> int:
    """The head's ``--num-cpus``: ``rayStartParams["num-cpus"]``, else the Ray container's CPU
    limit (as KubeRay derives it), else ``default``; at least 1 and at most ``ceiling``."""
    head = spec.get("headGroupSpec") or {}
    value: float | None = None
    raw = (head.get("rayStartParams") or {}).get("num-cpus")
    if raw not in (None, ""):
        with contextlib.suppress(ValueError):
            value = float(str(raw))
    if value is None:
        containers = ((head.get("template") or {}).get("spec") or {}).get("containers") or [{}]
        resources = containers[0].get("resources") or {}
        cpu = (resources.get("limits") or {}).get("cpu") or (resources.get("requests") or {}).get("cpu")
        if cpu is not None:
            text = str(cpu)
            with contextlib.suppress(ValueError):
                value = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    if value is None:
        return default
    return max(1, min(ceiling, math.ceil(value)))


class RayRuntime:
    """Real Ray heads for the RayCluster controller.

    :param workdir: where the pgids are also recorded (``<workdir>/ray-pgids``).
    :param max_heads: cap on heads starting or running at once (each holds ~700 MiB).
    :param default_num_cpus: ``--num-cpus`` when the spec says nothing.
    :param max_num_cpus: ceiling on ``--num-cpus`` whatever the spec asks (a 2-core machine).
    :param start_timeout: seconds a head may take to answer its dashboard.
    :param stop_grace: seconds between SIGTERM and SIGKILL of a head's process group.
    :param crash_check_interval: seconds between checks that ready heads are still alive.
    """

    mode = "ray"

    def __init__(
        self,
        workdir: Path,
        *,
        max_heads: int = 2,
        default_num_cpus: int = 1,
        max_num_cpus: int = 2,
        start_timeout: float = 180.0,
        stop_grace: float = 3.0,
        crash_check_interval: float = 1.0,
    ) -> None:
        self.workdir = workdir
        self.max_heads = max_heads
        self.default_num_cpus = default_num_cpus
        self.max_num_cpus = max_num_cpus
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self.crash_check_interval = crash_check_interval
        if not (venv_bin() / "ray").exists():
            raise RuntimeError(
                f"mode='ray' runs real Ray heads, but there is no `ray` next to {venv_bin()}: "
                "install airflow-ray-k8s[local] (or use mode='scripted')"
            )
        self._ports = PortAllocator()
        self._heads: dict[ClusterKey, RayHead] = {}
        self._status: dict[ClusterKey, HeadStatus] = {}
        self._callbacks: dict[ClusterKey, Callable[[], None]] = {}
        self._tasks: dict[ClusterKey, asyncio.Task[None]] = {}
        # Stops under way, by pgid: they finish even when the reconcile that began one is
        # cancelled (the controller shutting down), and close() waits for them.
        self._stopping: dict[int, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._monitor: asyncio.Task[None] | None = None
        self.started_total = 0
        reaped = reap_leftovers()
        if reaped:
            log.warning("reaped %d Ray head process group(s) left by a crashed run", len(reaped))

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    def status(self, key: ClusterKey) -> HeadStatus:
        """The head's current state."""
        return self._status.get(key, HeadStatus(HeadState.ABSENT))

    def running(self) -> int:
        """Heads starting or ready."""
        return sum(1 for s in self._status.values() if s.state in (HeadState.STARTING, HeadState.READY))

    def start(self, key: ClusterKey, spec: dict[str, Any], on_change: Callable[[], None]) -> None:
        """Spawn the head now and wait for its dashboard in the background."""
        if self.status(key).state in (HeadState.STARTING, HeadState.READY):
            return
        if self.running() >= self.max_heads:
            raise CapacityError(
                f"the local KubeRay runs at most {self.max_heads} real Ray heads at once "
                f"(each holds ~700 MiB); {self.running()} are running. The head starts when one stops."
            )
        self._forget(key)
        head = RayHead(
            name=f"{key[0]}/{key[1]}",
            ports=HeadPorts.allocate(self._ports),
            num_cpus=head_cpus(spec, self.default_num_cpus, self.max_num_cpus),
            registry_dirs=[self.workdir],
        )
        head.spawn()
        self.started_total += 1
        if head.pgid is not None:
            _LIVE_HEADS[head.pgid] = head
        self._heads[key] = head
        self._callbacks[key] = on_change
        self._status[key] = HeadStatus(HeadState.STARTING, "ray start --head is running")
        self._tasks[key] = asyncio.create_task(self._await_ready(key, head), name=f"ray-head-{key[1]}")
        if self._monitor is None or self._monitor.done():
            self._monitor = asyncio.create_task(self._watch_crashes(), name="ray-head-monitor")

    async def _await_ready(self, key: ClusterKey, head: RayHead) -> None:
        try:
            await head.wait_ready(self._http(), timeout=self.start_timeout)
        except HeadStartError as exc:
            log.warning("%s", exc)
            self._status[key] = HeadStatus(HeadState.FAILED, str(exc))
            await asyncio.to_thread(self._discard, head)
        else:
            self._status[key] = HeadStatus(HeadState.READY, f"dashboard at {head.dashboard_url}")
        self._notify(key)

    def _notify(self, key: ClusterKey) -> None:
        callback = self._callbacks.get(key)
        if callback is not None:
            callback()

    async def _watch_crashes(self) -> None:
        while self._heads:
            await asyncio.sleep(self.crash_check_interval)
            for key, head in list(self._heads.items()):
                if self.status(key).state is HeadState.READY and not head.alive():
                    tail = head.log_tail(20)
                    log.warning("Ray head %s exited unexpectedly:\n%s", head.name, tail)
                    self._status[key] = HeadStatus(HeadState.CRASHED, f"the Ray head process exited:\n{tail}")
                    await asyncio.to_thread(self._discard, head)
                    self._notify(key)

    def _discard(self, head: RayHead) -> None:
        head.kill_now()
        if head.pgid is not None:
            _LIVE_HEADS.pop(head.pgid, None)
        self._ports.release(head.ports)

    def _forget(self, key: ClusterKey) -> None:
        self._status.pop(key, None)
        self._callbacks.pop(key, None)
        self._heads.pop(key, None)
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()

    async def stop(self, key: ClusterKey) -> None:
        """SIGTERM the head's group, SIGKILL after ``stop_grace``, reap; forget the cluster."""
        head = self._heads.get(key)
        task = self._tasks.get(key)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._forget(key)
        if head is None or head.pgid is None:
            return
        stopping = self._stopping.get(head.pgid)
        if stopping is None:
            stopping = asyncio.get_running_loop().create_task(self._stop_head(head), name=f"stop {head.name}")
            self._stopping[head.pgid] = stopping
        # Shielded: the head is no longer listed, so a stop cut short here would leave it running.
        await asyncio.shield(stopping)

    async def _stop_head(self, head: RayHead) -> None:
        started = time.monotonic()
        try:
            await head.stop(grace=self.stop_grace)
            await asyncio.to_thread(self._discard, head)
        finally:
            self._stopping.pop(head.pgid or -1, None)
        log.info("stopped Ray head %s in %.1fs", head.name, time.monotonic() - started)

    def dashboard_url(self, key: ClusterKey) -> str:
        """``http://127.0.0.1:<dashboard port>`` of the head."""
        return self._heads[key].dashboard_url

    def serve_url(self, key: ClusterKey) -> str:
        """Where the head's Serve HTTP proxy listens (what ``<service>-serve-svc`` forwards to)."""
        return self._heads[key].serve_url

    def serve_options(self, key: ClusterKey) -> dict[str, Any]:
        """The Serve port settings a deploy to this head carries (see ``RayHead.serve_http_options``)."""
        return self._heads[key].serve_http_options()

    def head(self, key: ClusterKey) -> RayHead | None:
        """The head process of a cluster (tests, benchmarks)."""
        return self._heads.get(key)

    def jobs(self, key: ClusterKey) -> JobBackend:
        """The head's job REST API over HTTP; submission may wait for the agent, hence 30 s."""
        return HttpJobAPI(self._heads[key].dashboard_url, self._http(), timeout=30.0)

    def crash(self, key: ClusterKey) -> bool:
        """Kill the head's process group with SIGKILL, like a node failure."""
        head = self._heads.get(key)
        if head is None or not head.alive():
            return False
        self._discard(head)
        self._status[key] = HeadStatus(HeadState.CRASHED, "the Ray head was killed (fault injection)")
        self._notify(key)
        return True

    async def close(self) -> None:
        """Stop every head in parallel, then close the HTTP session."""
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
        await asyncio.gather(*(self.stop(key) for key in list(self._heads)), return_exceptions=True)
        # Stops that reconciles began (and the controller's shutdown cancelled) end here too.
        await asyncio.gather(*list(self._stopping.values()), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
