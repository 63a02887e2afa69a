"""Container probes as a kubelet runs them: ``exec`` (inside the pod's network namespace, with the
container's environment), ``httpGet`` (from the node to the pod's address, 200-399 passes) and
``tcpSocket``; with ``initialDelaySeconds``, ``periodSeconds``, ``timeoutSeconds`` and the success
and failure thresholds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp


def _port(value: Any, container: Mapping[str, Any]) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    for port in container.get("ports") or []:
        if port.get("name") == value:
            return int(port["containerPort"])
    raise ValueError(f"no container port named {value!r}")


async def run_once(
    probe: Mapping[str, Any],
    container: Mapping[str, Any],
    pod_ip: str,
    exec_prefix: list[str],
    env: Mapping[str, str],
) -> bool:
    """One probe attempt; True when it passes within ``timeoutSeconds``."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if "exec" in probe:
            argv = [str(part) for part in probe["exec"].get("command") or []]
            proc = await asyncio.create_subprocess_exec(
                *exec_prefix,
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                env=dict(env),
                start_new_session=True,
            )
            try:
                return await asyncio.wait_for(proc.wait(), timeout) == 0
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
                return False
        if "httpGet" in probe:
            action = probe["httpGet"]
            host = action.get("host") or pod_ip
            scheme = str(action.get("scheme") or "HTTP").lower()
            path = action.get("path") or "/"
            url = f"{scheme}://{host}:{_port(action['port'], container)}{path}"
            headers = {h["name"]: h["value"] for h in action.get("httpHeaders") or []}
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout), ssl=False
                ) as resp,
            ):
                return 200 <= resp.status < 400
        if "tcpSocket" in probe:
            action = probe["tcpSocket"]
            host = action.get("host") or pod_ip
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, _port(action["port"], container)), timeout
            )
            writer.close()
            return True
    except (OSError, aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        return False
    return True  # a probe with no handler (gRPC is not run here) passes, as with no probe


class ProbeLoop:
    """Runs one probe of one container until cancelled, reporting transitions.

    :param probe: the probe spec.
    :param attempt: a coroutine function running one attempt (see :func:`run_once`).
    :param on_change: called with the new result when the thresholds flip it.
    :param initial: the result before the first verdict (readiness starts False).
    :param fail_before_success: report a failure (``on_change(False)``) after ``failureThreshold``
        failures even before the first success (startup probes; liveness starts True anyway).
    """

    def __init__(
        self,
        probe: Mapping[str, Any],
        attempt: Callable[[], Awaitable[bool]],
        on_change: Callable[[bool], Awaitable[None]],
        *,
        initial: bool,
        fail_before_success: bool = False,
    ) -> None:
        self.probe = probe
        self._fail_early = fail_before_success
        self._attempt = attempt
        self._on_change = on_change
        self.result = initial

    async def run(self) -> None:
        """The loop: wait ``initialDelaySeconds``, then probe every ``periodSeconds``."""
        await asyncio.sleep(float(self.probe.get("initialDelaySeconds") or 0))
        period = float(self.probe.get("periodSeconds") or 10)
        need_ok = int(self.probe.get("successThreshold") or 1)
        need_bad = int(self.probe.get("failureThreshold") or 3)
        ok = bad = 0
        while True:
            if await self._attempt():
                ok, bad = ok + 1, 0
                if not self.result and ok >= need_ok:
                    self.result = True
                    await self._on_change(True)
            else:
                ok, bad = 0, bad + 1
                if (self.result or self._fail_early) and bad >= need_bad:
                    self.result = False
                    bad = 0
                    await self._on_change(False)
            await asyncio.sleep(period)
