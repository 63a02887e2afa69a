"""Where the sweeper learns whether the task instance that made an object still runs.

Three sources, each answering ``state(identity)`` with Airflow's state name, ``ABSENT`` (no such
task instance) or ``UNKNOWN`` (could not ask: the expiry annotation alone then decides):

- :class:`AnnotationOnly`: never asks (the CLI's default without ``--airflow-api-url``).
- :class:`AirflowRestApi`: Airflow's public REST API (``/api/v2``), for the CLI.
- :class:`TaskSdkStates`: the Task SDK's call to the API server, for the operator inside Airflow.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Protocol

from airflow_ray_k8s.naming import TaskIdentity
from airflow_ray_k8s.sweep.verdicts import ABSENT, UNKNOWN


class StateSource(Protocol):
    """Answers the state of one task instance."""

    #: Shown in the sweep's summary line.
    description: str

    def state(self, identity: TaskIdentity) -> str:
        """Airflow's state name of the task instance, :data:`ABSENT` or :data:`UNKNOWN`."""


class AnnotationOnly:
    """Never asks Airflow: an expired object is an orphan."""

    description = "the expiry annotation alone"

    def state(self, identity: TaskIdentity) -> str:
        """Always :data:`UNKNOWN`."""
        return UNKNOWN


class AirflowRestApi:
    """Airflow's public REST API: ``GET /api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}[/{i}]``.

    :param base_url: the API server's URL, e.g. ``http://airflow-api:8080``.
    :param token: a bearer token (a JWT from ``/auth/token``); never logged.
    :param timeout: seconds per request.
    """

    description = "Airflow's REST API"

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.errors: list[str] = []

    def _url(self, identity: TaskIdentity) -> str:
        def quote(part: str) -> str:
            return urllib.parse.quote(part, safe="")  # run ids hold ':' and '+'

        url = (
            f"{self.base_url}/api/v2/dags/{quote(identity.dag_id)}/dagRuns/{quote(identity.run_id)}"
            f"/taskInstances/{quote(identity.task_id)}"
        )
        return f"{url}/{identity.map_index}" if identity.map_index >= 0 else url

    def state(self, identity: TaskIdentity) -> str:
        """The state, :data:`ABSENT` on 404, :data:`UNKNOWN` on any other failure."""
        url = self._url(identity)
        if not url.startswith(("http://", "https://")):
            self.errors.append("not an http(s) URL")
            return UNKNOWN
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (scheme checked above)
                body: dict[str, Any] = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return ABSENT
            self.errors.append(f"HTTP {exc.code}")
            return UNKNOWN
        except (OSError, ValueError) as exc:
            self.errors.append(type(exc).__name__)
            return UNKNOWN
        return str(body.get("state") or "none")


class TaskSdkStates:
    """The Task SDK's ``get_task_states`` (the running task asks the API server; no credentials).

    One request per (dag_id, run_id), cached for the sweep.
    """

    description = "Airflow (Task SDK)"

    def __init__(self) -> None:
        self._runs: dict[tuple[str, str], dict[str, Any] | None] = {}

    def _states(self, dag_id: str, run_id: str) -> dict[str, Any] | None:
        key = (dag_id, run_id)
        if key not in self._runs:
            from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

            try:
                found = RuntimeTaskInstance.get_task_states(dag_id=dag_id, run_ids=[run_id])
                self._runs[key] = dict(found.get(run_id) or {})
            except Exception:  # an API error must not make the sweep delete or crash: ask nothing more
                self._runs[key] = None
        return self._runs[key]

    def state(self, identity: TaskIdentity) -> str:
        """The state, :data:`ABSENT` if the run has no such task, :data:`UNKNOWN` on an API error."""
        states = self._states(identity.dag_id, identity.run_id)
        if states is None:
            return UNKNOWN
        key = identity.task_id if identity.map_index < 0 else f"{identity.task_id}_{identity.map_index}"
        if key not in states:
            return ABSENT
        return str(states[key] or "none")
