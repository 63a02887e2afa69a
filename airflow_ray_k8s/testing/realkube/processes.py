"""The control plane's own processes (etcd, kube-apiserver, kube-controller-manager, the KubeRay
operator): each in its own process group with its log in the run folder, stopped by signalling
that group, and recorded in ``/tmp/ark-<uid>/cp-*.pgid`` so a later run reaps what a killed run
left behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from airflow_ray_k8s.testing.emulator.rayproc import runtime_root
from airflow_ray_k8s.testing.procgroups import group_alive, group_names, pid_alive

log = logging.getLogger(__name__)


class ChildFailed(RuntimeError):
    """A control-plane process exited or did not become ready; the message carries its log tail."""


class Child:
    """One long-running control-plane process.

    :param name: a short name (``etcd``, ``kube-apiserver``) for logs and records.
    :param argv: the command line.
    :param folder: the run folder; the log is ``<folder>/<name>.log``.
    :param env: extra environment variables.
    """

    def __init__(self, name: str, argv: Sequence[str], folder: Path, env: Mapping[str, str] | None = None):
        self.name = name
        self.argv = list(argv)
        self.folder = Path(folder)
        self.env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.folder / f"{name}.log"
        self._record: Path | None = None

    def start(self) -> Child:
        """Start it in a new session (its own process group)."""
        env = {**os.environ, **self.env}
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                cwd=self.folder,
            )
        root = runtime_root()
        root.mkdir(mode=0o700, exist_ok=True)
        self._record = root / f"cp-{self.process.pid}.pgid"
        # <pgid> <owner pid> <run folder>: the folder names this run, and every argv points into it.
        self._record.write_text(f"{self.process.pid} {os.getpid()} {self.folder}\n")
        log.info("started %s (pgid %s)", self.name, self.process.pid)
        return self

    @property
    def pid(self) -> int | None:
        """The leader's pid (also the group id), once started."""
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        """Whether the leader still runs."""
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of its log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check(self) -> None:
        """Raise :class:`ChildFailed` if it exited."""
        if self.process is not None and self.process.poll() is not None:
            raise ChildFailed(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the group, SIGKILL it after ``grace`` seconds, reap; safe to call twice."""
        if self.process is None:
            return
        pgid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            self.process.poll()
            if not group_alive(pgid):
                break
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        if self._record is not None:
            with contextlib.suppress(OSError):
                self._record.unlink()


def reap_leftover_children() -> list[int]:
    """Kill the control-plane process groups recorded by runs whose owner process is gone."""
    killed: list[int] = []
    root = runtime_root()
    if not root.is_dir():
        return killed
    for record in root.glob("cp-*.pgid"):
        try:
            pgid_s, owner_s, folder = record.read_text().split()[:3]
            pgid, owner = int(pgid_s), int(owner_s)
        except (OSError, ValueError):
            continue
        if pid_alive(owner):
            continue  # its run is still going
        if group_alive(pgid) and group_names(pgid, folder):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            killed.append(pgid)
            log.warning("reaped leftover control-plane process group %s (%s)", pgid, folder)
        with contextlib.suppress(OSError):
            record.unlink()
    return killed
