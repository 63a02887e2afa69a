"""A container of a pod as a process group inside the pod's network namespace.

What stands in for the image: the running virtualenv's ``bin`` first on ``PATH`` (its ``ray``, its
``python``), a fresh environment (not the agent's), and per pod a temp dir that ``TMPDIR`` and
``RAY_TMPDIR`` point to, so each Ray node keeps its sockets and session files apart as it would
in its own container (Ray's default ``/tmp/ray`` would be shared otherwise). The command line is
the container's own ``command`` + ``args`` with ``$(VAR)`` references expanded as a kubelet does.
Volumes are not mounted: processes see this machine's filesystem.

Every container's process group and temp dir are recorded the way the local KubeRay records its
heads (``rayproc``), so the same survival checks and leftover reaping apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import shutil
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_ray_k8s.testing.emulator.rayproc import processes_naming, runtime_root, venv_bin
from airflow_ray_k8s.testing.procgroups import group_alive

log = logging.getLogger(__name__)

_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: defined variables replaced, ``$$`` escapes ``$``, unknown
    references left as they are."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _VAR_REF.sub(one, text)


def _quantity(value: str) -> float:
    from airflow_ray_k8s.specs.quantity import parse_quantity

    return float(parse_quantity(value))


def resource_value(container: Mapping[str, Any], resource: str, divisor: str | None) -> str:
    """A ``resourceFieldRef`` value (``limits.cpu``, ``requests.memory``...), rounded up as the
    kubelet does (CPU to whole cores unless a divisor says otherwise)."""
    kind, _, name = resource.partition(".")
    raw = ((container.get("resources") or {}).get(kind) or {}).get(name)
    if raw is None and kind == "requests":
        raw = ((container.get("resources") or {}).get("limits") or {}).get(name)
    if raw is None:
        return "0"
    scale = _quantity(divisor) if divisor else 1.0
    return str(math.ceil(_quantity(str(raw)) / scale))


class EnvError(RuntimeError):
    """An env var could not be resolved (a missing Secret or ConfigMap key): the container does not
    start (``CreateContainerConfigError``)."""


async def container_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    lookup: Any,
    base: Mapping[str, str],
) -> dict[str, str]:
    """The container's environment: ``base`` (the image's), then ``envFrom``, then ``env`` with
    ``valueFrom`` resolved (``lookup(kind, namespace, name)`` reads a Secret or ConfigMap's data)."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    env = dict(base)
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = source.get(key)
            if ref:
                data = await lookup(kind, meta["namespace"], ref["name"], optional=ref.get("optional", False))
                env.update({f"{prefix}{k}": v for k, v in (data or {}).items()})
    for item in container.get("env") or []:
        name = item["name"]
        if "valueFrom" not in item:
            env[name] = expand(str(item.get("value", "")), env)
            continue
        source = item["valueFrom"]
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            fields = {
                "metadata.name": meta["name"],
                "metadata.namespace": meta["namespace"],
                "metadata.uid": meta["uid"],
                "spec.nodeName": spec.get("nodeName", ""),
                "spec.serviceAccountName": spec.get("serviceAccountName", ""),
                "status.podIP": status.get("podIP", ""),
                "status.hostIP": status.get("hostIP", ""),
            }
            label = _LABEL_REF.match(path)
            if label:
                env[name] = str((meta.get(label.group(1)) or {}).get(label.group(2), ""))
            else:
                env[name] = fields.get(path, "")
        elif "resourceFieldRef" in source:
            ref = source["resourceFieldRef"]
            env[name] = resource_value(container, ref["resource"], ref.get("divisor"))
        else:
            for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                ref = source.get(key)
                if not ref:
                    continue
                data = await lookup(kind, meta["namespace"], ref["name"], optional=ref.get("optional", False))
                if data is None or ref["key"] not in data:
                    if ref.get("optional"):
                        break
                    raise EnvError(f"{kind.lower()} {ref['name']!r} has no key {ref['key']!r} (env {name})")
                env[name] = data[ref["key"]]
    return env


def image_env(pod_dir: Path, hostname: str) -> dict[str, str]:
    """What the "image" provides: the virtualenv first on PATH, a home and a temp dir of the pod's."""
    return {
        "PATH": f"{venv_bin()}{os.pathsep}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(pod_dir),
        "HOSTNAME": hostname,
        "TMPDIR": str(pod_dir / "tmp"),
        "RAY_TMPDIR": str(pod_dir / "tmp"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        # The node has no way out: a Ray usage report would only time out.
        "RAY_USAGE_STATS_ENABLED": "0",
    }


def command_line(
    container: Mapping[str, Any], env: Mapping[str, str], entrypoint: tuple[str, ...] | None = None
) -> list[str]:
    """``command`` + ``args`` expanded, as a runtime combines them with the image's: ``command``
    replaces the image's ``ENTRYPOINT``, ``args`` its ``CMD``. Without an ``entrypoint`` (the Ray
    images have none) and without either, the Ray images' default ``bash``."""
    command = [expand(str(part), env) for part in container.get("command") or []]
    args = [expand(str(part), env) for part in container.get("args") or []]
    if not command and entrypoint is not None:
        return [*entrypoint, *args]
    return command + args if (command or args) else ["bash"]


def run_as_prefix(pod_spec: Mapping[str, Any], container: Mapping[str, Any], image_uid: int) -> list[str]:
    """The ``setpriv`` prefix that applies the pod's and the container's ``securityContext``
    (``runAsUser``, ``runAsGroup``, ``allowPrivilegeEscalation: false``) to a process; the
    container's fields win, ``image_uid`` is the image's ``USER``. Raises :class:`EnvError` as the
    kubelet refuses ``runAsNonRoot`` with user 0 (``CreateContainerConfigError``)."""
    pod_context = pod_spec.get("securityContext") or {}
    own = container.get("securityContext") or {}

    def pick(key: str) -> Any:
        return own[key] if own.get(key) is not None else pod_context.get(key)

    uid = int(pick("runAsUser") if pick("runAsUser") is not None else image_uid)
    gid = int(pick("runAsGroup") if pick("runAsGroup") is not None else uid)
    if pick("runAsNonRoot") and uid == 0:
        raise EnvError("container has runAsNonRoot and image will run as root")
    prefix = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
    if own.get("allowPrivilegeEscalation") is False:
        prefix.append("--no-new-privs")
    return prefix


class ContainerProcess:
    """One run of one container (a restart is a new instance).

    :param name: the container's name.
    :param argv: the full argv, network namespace prefix included.
    :param env: its environment.
    :param cwd: its working directory.
    :param log_path: where its stdout and stderr go.
    :param temp_dir: the pod's temp dir (names every process of the pod in its environment).
    :param registry_dirs: folders whose ``ray-pgids`` record the group too.
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        temp_dir: Path,
        registry_dirs: list[Path],
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self.temp_dir = temp_dir
        self.registry_dirs = registry_dirs
        self.process: asyncio.subprocess.Process | None = None
        self.started_at = ""
        self._record: Path | None = None

    async def start(self) -> None:
        """Spawn it in a session of its own and record its group."""
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self.cwd.mkdir(parents=True, exist_ok=True)
        # Opening a local log file or appending a line does not block in any way that matters here.
        with open(self.log_path, "ab") as out:  # noqa: ASYNC230
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        record = f"{self.process.pid} {os.getpid()} {self.temp_dir}\n"
        runtime_root().mkdir(mode=0o700, exist_ok=True)
        self._record = runtime_root() / f"c{self.process.pid}.pgid"
        self._record.write_text(record)
        for folder in self.registry_dirs:
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / "ray-pgids", "a") as fh:  # noqa: ASYNC230
                fh.write(record)

    @property
    def pid(self) -> int | None:
        """The leader's pid (= its process group)."""
        return self.process.pid if self.process is not None else None

    async def wait(self) -> int:
        """Wait for the leader to exit; its exit code (128+N for a signal, as a runtime reports)."""
        assert self.process is not None
        code = await self.process.wait()
        return 128 - code if code < 0 else code

    def _signal(self, sig: signal.Signals) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)

    async def stop(self, grace: float) -> None:
        """SIGTERM its group, SIGKILL what is left after ``grace`` seconds; also the processes that
        left the group but carry this pod's temp dir in their environment (Ray's job drivers)."""
        if self.process is None:
            return
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if self.process.returncode is not None and not group_alive(self.pid):
                break
            await asyncio.sleep(0.1)
        self._signal(signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, asyncio.TimeoutError):
            await asyncio.wait_for(self.process.wait(), 5)
        if self._record is not None:
            with contextlib.suppress(OSError):
                self._record.unlink()


async def kill_pod_leftovers(temp_dir: Path, grace: float = 5.0) -> None:
    """Stop every process that still names the pod's temp dir (drivers in sessions of their own):
    SIGTERM, then SIGKILL after ``grace``; then remove the temp dir."""
    needle = str(temp_dir)
    deadline = time.monotonic() + grace
    sig = signal.SIGTERM
    while pids := await asyncio.to_thread(processes_naming, needle):
        if time.monotonic() > deadline:
            sig = signal.SIGKILL
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        if time.monotonic() > deadline + 5:
            log.warning("processes of %s survive SIGKILL: %s", needle, pids)
            break
        await asyncio.sleep(0.2)
    shutil.rmtree(temp_dir, ignore_errors=True)
