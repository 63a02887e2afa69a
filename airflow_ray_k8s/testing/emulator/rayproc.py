"""Real Ray head processes for the emulator: one process group per RayCluster.

Facts this module is built on (../shared/kuberay/FACTS.md, "Running real Ray heads"):

- ``ray start --head --block`` under ``setsid`` is one process group; SIGTERM to the group stops
  exactly that cluster in 2-3 s. ``ray stop`` kills every Ray process on the host, so it is never used.
- Two heads at once need distinct GCS, dashboard (not in 10002-19999, the default worker-port
  range), client-server and dashboard-agent ports, their own temp dir, and ideally their own worker
  port range; otherwise job submission fails with 500 "No available agent to submit job".
- Ray's unix sockets live under the temp dir and are limited to ~107 characters, so temp dirs are
  short paths under ``/tmp/ark-<uid>/``.

Every head records ``<pgid> <owner pid>`` in ``/tmp/ark-<uid>/<head>.pgid`` (and in the controller's
workdir), so a later run reaps the leftovers of a crashed run whose owner process is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from airflow_ray_k8s.testing.procgroups import (
    cmdline,
    group_alive,
    group_members,
    group_names,
    pid_alive,
    signal_group,
    wait_group_gone,
)

log = logging.getLogger(__name__)

# Ray's default worker-port range; the dashboard must not land in it (FACTS.md).
_RAY_DEFAULT_WORKER_PORTS = range(10002, 20000)
_WORKER_PORT_SPAN = 100


class HeadStartError(RuntimeError):
    """A Ray head did not become ready; the message carries the tail of its log."""


def runtime_root() -> Path:
    """The short per-user folder holding every head's temp dir and pgid file."""
    return Path(f"/tmp/ark-{os.getuid()}")


def venv_bin() -> Path:
    """The folder of the running interpreter, put first on the heads' PATH (jobs run ``python``)."""
    return Path(sys.executable).parent


class PortAllocator:
    """Hands out free loopback ports, never twice in one process and never in Ray's worker range."""

    def __init__(self) -> None:
        self._given: set[int] = set()

    def port(self) -> int:
        """One free TCP port on 127.0.0.1."""
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
            if port not in self._given and port not in _RAY_DEFAULT_WORKER_PORTS:
                self._given.add(port)
                return port
        raise RuntimeError("no free loopback port found")

    def port_range(self, span: int = _WORKER_PORT_SPAN) -> tuple[int, int]:
        """A block of ``span`` ports that are free now, between 20000 and 30000 (below the
        ephemeral range, so ports handed out by :meth:`port` do not fall into it)."""
        for _ in range(200):
            base = 20000 + secrets.randbelow((30000 - 20000 - span) // span) * span
            block = range(base, base + span)
            if any(p in self._given for p in block):
                continue
            if all(_is_free(p) for p in (base, base + span // 2, base + span - 1)):
                self._given.update(block)
                return base, base + span - 1
        raise RuntimeError("no free worker port range found")

    def release(self, ports: HeadPorts) -> None:
        """Forget the ports of a stopped head."""
        for port in ports.singles():
            self._given.discard(port)
        self._given.difference_update(range(ports.min_worker, ports.max_worker + 1))


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class HeadPorts:
    """Every port one head listens on; all distinct between heads."""

    gcs: int
    dashboard: int
    client: int
    agent_listen: int
    agent_grpc: int
    node_manager: int
    object_manager: int
    metrics: int
    runtime_env_agent: int
    min_worker: int
    max_worker: int
    #: Ray Serve's HTTP proxy (a pod's container port 8000; see :meth:`RayHead.serve_http_options`).
    serve: int
    #: Ray Serve's gRPC proxy (the container's 9000), so two heads' Serve instances never collide.
    serve_grpc: int

    @classmethod
    def allocate(cls, allocator: PortAllocator) -> HeadPorts:
        """Fresh ports for a new head."""
        p = allocator.port
        low, high = allocator.port_range()
        return cls(p(), p(), p(), p(), p(), p(), p(), p(), p(), low, high, p(), p())

    def singles(self) -> list[int]:
        """The single ports (not the worker range)."""
        return [
            self.gcs,
            self.dashboard,
            self.client,
            self.agent_listen,
            self.agent_grpc,
            self.node_manager,
            self.object_manager,
            self.metrics,
            self.runtime_env_agent,
            self.serve,
            self.serve_grpc,
        ]


@dataclass
class RayHead:
    """One real Ray head process group.

    :param name: a label for logs (``namespace/cluster``).
    :param ports: the ports it listens on.
    :param num_cpus: logical CPUs it advertises (keep small on a 2-core machine).
    :param object_store_memory: bytes of object store (Ray's minimum is ~75 MiB).
    :param registry_dirs: extra folders (the controller's workdir) where the pgid is also recorded.
    """

    name: str
    ports: HeadPorts
    num_cpus: int = 1
    num_gpus: int = 0
    object_store_memory: int = 100 * 1024 * 1024
    registry_dirs: list[Path] = field(default_factory=list)
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def temp_dir(self) -> Path:
        """Ray's ``--temp-dir``: short, because Ray's unix socket paths are limited to ~107 chars."""
        return runtime_root() / f"h{self.token}"

    @property
    def log_path(self) -> Path:
        """Where the ``ray start`` process's own stdout/stderr go."""
        return runtime_root() / f"h{self.token}.log"

    @property
    def pgid_file(self) -> Path:
        """``<pgid> <owner pid>``: lets a later run reap this head if its owner crashed."""
        return runtime_root() / f"h{self.token}.pgid"

    @property
    def dashboard_url(self) -> str:
        """Base URL of the head's dashboard (job REST API)."""
        return f"http://127.0.0.1:{self.ports.dashboard}"

    @property
    def serve_url(self) -> str:
        """Base URL of the head's Ray Serve HTTP proxy (once Serve runs on it)."""
        return f"http://127.0.0.1:{self.ports.serve}"

    def serve_http_options(self) -> dict[str, Any]:
        """What a Serve deploy to this head must say about Serve's own ports.

        In a pod, Serve's HTTP proxy listens on the container's port 8000 (and gRPC on 9000) and the
        pod network keeps heads apart; here every head shares the loopback interface, so the
        emulator plays the pod network by giving each head its own ports and setting them in the
        config it PUTs (Serve reads ``http_options`` when it starts on the head).
        """
        return {
            "http_options": {"host": "127.0.0.1", "port": self.ports.serve},
            "grpc_options": {"port": self.ports.serve_grpc},
        }

    @property
    def pgid(self) -> int | None:
        """The process group id (the ``ray start`` process is its leader), once started."""
        return self.process.pid if self.process is not None else None

    def command(self) -> list[str]:
        """The ``ray start`` command line."""
        p = self.ports
        return [
            str(venv_bin() / "ray"),
            "start",
            "--head",
            "--block",
            "--disable-usage-stats",
            "--node-ip-address=127.0.0.1",
            "--dashboard-host=127.0.0.1",
            f"--port={p.gcs}",
            f"--dashboard-port={p.dashboard}",
            f"--ray-client-server-port={p.client}",
            f"--dashboard-agent-listen-port={p.agent_listen}",
            f"--dashboard-agent-grpc-port={p.agent_grpc}",
            f"--node-manager-port={p.node_manager}",
            f"--object-manager-port={p.object_manager}",
            f"--metrics-export-port={p.metrics}",
            f"--runtime-env-agent-port={p.runtime_env_agent}",
            f"--min-worker-port={p.min_worker}",
            f"--max-worker-port={p.max_worker}",
            f"--num-cpus={self.num_cpus}",
            f"--num-gpus={self.num_gpus}",
            f"--object-store-memory={self.object_store_memory}",
            f"--temp-dir={self.temp_dir}",
        ]

    def environment(self) -> dict[str, str]:
        """The head's environment: venv first on PATH, loopback only, no usage stats."""
        env = dict(os.environ)
        env["PATH"] = f"{venv_bin()}{os.pathsep}{env.get('PATH', '')}"
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        env["PYTHONUNBUFFERED"] = "1"
        # A head started by a test must not attach to a cluster named by the caller's environment.
        env.pop("RAY_ADDRESS", None)
        return env

    def spawn(self) -> None:
        """Start ``ray start --head --block`` in a new session (its own process group)."""
        for _ in range(3):
            runtime_root().mkdir(mode=0o700, exist_ok=True)
            try:
                self.temp_dir.mkdir(mode=0o700, exist_ok=True)
                break
            except FileNotFoundError:  # another head's cleanup removed the empty root just now
                continue
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                start_new_session=True,
                cwd=self.temp_dir,
            )
        self.started_at = time.monotonic()
        record = f"{self.process.pid} {os.getpid()} {self.temp_dir}\n"
        self.pgid_file.write_text(record)
        for folder in self.registry_dirs:
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / "ray-pgids", "a") as fh:
                fh.write(record)
        log.info("started Ray head %s (pgid %s, dashboard %s)", self.name, self.pgid, self.dashboard_url)

    def alive(self) -> bool:
        """Whether the ``ray start`` leader is still running."""
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the head's own log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def runtime_started(self) -> bool:
        """Whether ``ray start`` printed "Ray runtime started." (the raylet registered with the GCS).

        The dashboard can answer before that; a head whose raylet then misses Ray's hard-coded 30 s
        registration window (it happens on a loaded machine) exits, so answering is not enough.
        """
        try:
            with open(self.log_path, "rb") as fh:
                return b"Ray runtime started." in fh.read()
        except OSError:
            return False

    async def wait_ready(self, session: aiohttp.ClientSession, timeout: float = 120.0) -> None:
        """Wait until ``ray start`` reports the runtime started, the dashboard answers
        ``GET /api/version`` and ``GET /api/jobs/``, and the dashboard agent answers HTTP.

        Job submission itself can still answer 500 "No available agent" (or take a few seconds)
        right after this; the RayJob controller retries submission the way KubeRay requeues.
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise HeadStartError(f"Ray head {self.name} exited during start:\n{self.log_tail()}")
            if (
                self.runtime_started()
                and await _answers(session, f"{self.dashboard_url}/api/version")
                and await _answers(session, f"{self.dashboard_url}/api/jobs/")
                # Job submission goes through the dashboard agent ("No available agent" until then).
                and await _answers(session, f"http://127.0.0.1:{self.ports.agent_listen}/", any_status=True)
            ):
                log.info("Ray head %s ready in %.1fs", self.name, time.monotonic() - self.started_at)
                return
            if time.monotonic() > deadline:
                tail = self.log_tail()
                raise HeadStartError(f"Ray head {self.name} not ready after {timeout:.0f}s:\n{tail}")
            await asyncio.sleep(0.25)

    def signal_group(self, sig: signal.Signals) -> bool:
        """Send ``sig`` to the head's whole process group; False if the group is gone."""
        return signal_group(self.pgid, sig)

    async def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the group and the jobs' drivers, SIGKILL whatever is left after ``grace`` seconds,
        reap, clean up."""
        if self.process is None:
            return
        # Read before the signal: the drivers' own groups (see processes_naming).
        drivers = self.driver_groups()
        self.signal_group(signal.SIGTERM)
        for pgid in drivers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        # Polling: a process group's exit has no awaitable notification.
        while time.monotonic() < deadline:
            # Reap the leader: an unreaped zombie leader keeps the group "alive" for killpg(pgid, 0).
            self.process.poll()
            if not self.survives():
                break
            await asyncio.sleep(0.1)
        # Off the loop: kill_now waits (up to seconds) for the processes to go.
        await asyncio.to_thread(self.kill_now)

    def driver_groups(self) -> set[int]:
        """Process groups of this head's processes outside its own group (the jobs' drivers)."""
        groups: set[int] = set()
        for pid in processes_naming(str(self.temp_dir)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                groups.add(os.getpgid(pid))
        groups.discard(self.pgid or -1)
        return groups

    def survives(self) -> bool:
        """Whether any process of this head (its group, or a driver elsewhere) is still alive."""
        return group_alive(self.pgid) or bool(processes_naming(str(self.temp_dir)))

    def kill_now(self) -> None:
        """Synchronous SIGKILL of the group and of the jobs' drivers, and reap (atexit, finalizers,
        crash injection)."""
        if self.process is None:
            return
        self.signal_group(signal.SIGKILL)
        _kill_processes_naming(str(self.temp_dir))
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        wait_group_gone(self.pgid, timeout=5)
        self.cleanup_files()

    def cleanup_files(self) -> None:
        """Remove the temp dir, log and pgid record once every process of the head is gone."""
        if self.pgid is not None and self.survives():
            return
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        for path in (self.pgid_file, self.log_path):
            with contextlib.suppress(OSError):
                path.unlink()
        # The shared parent folder goes with its last head (the demo leaves nothing in /tmp).
        with contextlib.suppress(OSError):
            runtime_root().rmdir()


async def _answers(session: aiohttp.ClientSession, url: str, any_status: bool = False) -> bool:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=3)) as resp:
            return any_status or resp.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return False


def processes_naming(temp_dir: str) -> list[int]:
    """Pids of live processes (not this one) whose command line or environment names ``temp_dir``.

    Ray's job supervisor starts each job's driver in a session of its own (``start_new_session``),
    so the driver is outside the head's process group, and once the supervisor dies it is
    reparented to init: signalling the group alone leaves it running (measured with Ray 2.60). Its
    environment still names the head's temp dir, which is unique per head. On a cluster, deleting
    the head pod kills the driver with it; the emulator must too. Empty where there is no /proc.
    """
    needle = temp_dir.encode()
    me = os.getpid()
    found: list[int] = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == me:
            continue
        try:
            if needle in (entry / "cmdline").read_bytes() or needle in (entry / "environ").read_bytes():
                found.append(pid)
        except OSError:  # gone, or not ours to read
            continue
    return found


def _kill_processes_naming(temp_dir: str, timeout: float = 5.0) -> None:
    """SIGKILL every process that names ``temp_dir`` and wait until none is left."""
    deadline = time.monotonic() + timeout
    while (pids := processes_naming(temp_dir)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def runtime_records() -> list[tuple[Path, int, int, str]]:
    """``(record file, pgid, owner pid, temp dir)`` of every head recorded in ``/tmp/ark-<uid>``."""
    records: list[tuple[Path, int, int, str]] = []
    root = runtime_root()
    if not root.is_dir():
        return records
    for record in root.glob("*.pgid"):
        try:
            pgid_s, owner_s, temp_dir = record.read_text().split()[:3]
            records.append((record, int(pgid_s), int(owner_s), temp_dir))
        except (OSError, ValueError):
            continue
    return records


def reap_leftovers() -> list[int]:
    """Kill the head process groups of earlier runs whose owner process is gone.

    Only groups recorded in ``/tmp/ark-<uid>/*.pgid`` are touched, and only when the recording
    process is dead, so heads of concurrent runs (other test sessions) are left alone.
    Returns the pgids that were killed.
    """
    killed: list[int] = []
    for record, pgid, owner, temp_dir in runtime_records():
        if pid_alive(owner):
            continue
        if surviving_pgid(pgid, temp_dir):
            if group_alive(pgid) and _group_is_ray_head(pgid, temp_dir):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
            _kill_processes_naming(temp_dir)
            wait_group_gone(pgid, timeout=5)
            killed.append(pgid)
            log.warning("reaped leftover Ray head process group %s (%s)", pgid, temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            record.unlink()
        with contextlib.suppress(OSError):
            record.with_suffix(".log").unlink()
    return killed


def surviving_pgid(pgid: int, temp_dir: str) -> bool:
    """Whether any process of the Ray head recorded as (``pgid``, ``temp_dir``) is still alive:
    its process group, or a job's driver outside it (see :func:`processes_naming`)."""
    return (group_alive(pgid) and _group_is_ray_head(pgid, temp_dir)) or bool(processes_naming(temp_dir))


def _group_is_ray_head(pgid: int, temp_dir: str) -> bool:
    """Guard against pgid reuse: some member's command line names the head's temp dir."""
    # Without /proc (macOS) trust the record: it was written by this tool for this pgid.
    return group_names(pgid, temp_dir) or not Path("/proc").is_dir()


def recorded_groups(workdir: Path) -> list[tuple[int, str]]:
    """``(pgid, temp dir)`` of every head recorded in ``<workdir>/ray-pgids``."""
    records: list[tuple[int, str]] = []
    try:
        lines = (workdir / "ray-pgids").read_text().splitlines()
    except OSError:
        return records
    for line in lines:
        parts = line.split()
        if len(parts) >= 3 and parts[0].isdigit():
            records.append((int(parts[0]), parts[2]))
    return records


def surviving_groups(workdir: Path) -> list[int]:
    """Recorded head process groups (``<workdir>/ray-pgids``) that still have live processes."""
    return [pgid for pgid, temp_dir in recorded_groups(workdir) if surviving_pgid(pgid, temp_dir)]


def describe_survivors(workdir: Path) -> list[str]:
    """One line per live process of a recorded head (pid, state, command), for error messages."""
    lines: list[str] = []
    for pgid, temp_dir in recorded_groups(workdir):
        pids = set(processes_naming(temp_dir)) | set(group_members(pgid) if group_alive(pgid) else [])
        for pid in sorted(pids):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
            except OSError:
                continue
            cmd = cmdline(pid)
            lines.append(f"head {temp_dir} (pgid {pgid}): pid {pid} [{stat[0]}] pgid {stat[2]} {cmd[:120]}")
    return lines
