"""What the controller needs from whatever runs a RayCluster's head: real Ray or a script.

The RayCluster and RayJob controllers are written once against :class:`ClusterRuntime`;
``headpool.RayRuntime`` runs real ``ray start --head`` process groups, ``scripted.ScriptedRuntime``
runs nothing and answers the job API from memory.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_ray_k8s.testing.emulator.jobapi import JobBackend

ClusterKey = tuple[str, str]
"""``(namespace, name)`` of a RayCluster."""


class HeadState(enum.Enum):
    """Where a cluster's head is in its life."""

    ABSENT = "absent"
    WAITING = "waiting"  # no capacity yet (the cap on concurrent real heads)
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"  # did not start; see ``HeadStatus.message``
    CRASHED = "crashed"  # was ready, then its processes died


@dataclass(frozen=True)
class HeadStatus:
    """A head's state with a human-readable message for conditions and events."""

    state: HeadState
    message: str = ""


class CapacityError(RuntimeError):
    """The cap on concurrent real Ray heads is reached."""


class ClusterRuntime(Protocol):
    """Runs the heads of RayClusters and gives access to their job API."""

    mode: str

    def status(self, key: ClusterKey) -> HeadStatus:
        """The head's current state."""

    def start(self, key: ClusterKey, spec: dict[str, Any], on_change: Callable[[], None]) -> None:
        """Begin starting a head in the background; ``on_change`` is called on every state change.

        Raises :class:`CapacityError` when no more heads may run now.
        """

    async def stop(self, key: ClusterKey) -> None:
        """Stop the head and wait until its processes are gone (idempotent)."""

    def dashboard_url(self, key: ClusterKey) -> str:
        """The base URL the head-service proxy forwards ``dashboard`` / 8265 to."""

    def jobs(self, key: ClusterKey) -> JobBackend:
        """The head's job API."""

    def crash(self, key: ClusterKey) -> bool:
        """Fault injection: kill the head abruptly; False if it was not running."""

    async def close(self) -> None:
        """Stop every head (controller shutdown)."""
