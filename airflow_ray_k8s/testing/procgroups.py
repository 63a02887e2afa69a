"""Process groups, as the local KubeRay's Ray heads and the real tier's control plane and pods use
them: each started in its own session, stopped by signalling its group (never ``ray stop``, which
stops every Ray process on the host). Reads ``/proc`` where there is one."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one owned by another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_alive(pgid: int | None) -> bool:
    """Whether process group ``pgid`` has a member (an unreaped zombie leader counts)."""
    if pgid is None:
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(pgid: int | None, sig: signal.Signals) -> bool:
    """Send ``sig`` to the group; False if it is gone (or not ours)."""
    if pgid is None:
        return False
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def wait_group_gone(pgid: int | None, timeout: float) -> None:
    """Poll until the group has no member, at most ``timeout`` seconds (a group's exit has no
    notification to wait on)."""
    deadline = time.monotonic() + timeout
    while group_alive(pgid) and time.monotonic() < deadline:
        # Zombies of the group's children are reaped by init once the leader is gone.
        time.sleep(0.05)


def group_members(pgid: int) -> list[int]:
    """Pids of the live processes in process group ``pgid`` (reads /proc; empty elsewhere)."""
    members: list[int] = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 5 (pgrp) follows the parenthesised command name, which may contain spaces.
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def cmdline(pid: int) -> str:
    """Process ``pid``'s command line, its arguments joined by spaces ("" if gone or unreadable)."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return ""


def group_names(pgid: int, needle: str) -> bool:
    """Guard against pgid reuse: whether a member of the group has ``needle`` (the folder of the run
    that recorded the group) in its command line."""
    return any(needle in cmdline(pid) for pid in group_members(pgid))
