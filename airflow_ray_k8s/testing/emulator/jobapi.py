"""The Ray job REST API as the controller sees it: one protocol, a real HTTP client.

The controller talks to every head through :class:`JobBackend`; in Ray mode that is
:class:`HttpJobAPI` against the head's dashboard (``POST /api/jobs/``, ``GET /api/jobs/{id}``,
``POST /api/jobs/{id}/stop``...), in scripted mode an in-memory fake with the same answers
(``scripted.py``). Facts: ../shared/kuberay/FACTS.md, "Ray job REST API".
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

TERMINAL_JOB_STATUSES = frozenset({"STOPPED", "SUCCEEDED", "FAILED"})


class JobAPIError(Exception):
    """The job API answered an error (or could not be reached: ``status`` 0).

    :param status: the HTTP status, 0 for a connection failure or timeout.
    :param detail: the (truncated) response body or the transport error.
    """

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail[:500]
        super().__init__(f"Ray job API error {status}: {self.detail}")


class JobNotFoundError(JobAPIError):
    """``404``: no job with that submission id on this head."""


@dataclass(frozen=True)
class JobSubmission:
    """What KubeRay's HTTP-mode submitter sends for one RayJob."""

    entrypoint: str
    submission_id: str
    runtime_env: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None
    entrypoint_num_cpus: float | None = None
    entrypoint_num_gpus: float | None = None
    entrypoint_memory: int | None = None
    entrypoint_resources: dict[str, float] | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body of ``POST /api/jobs/`` (unset fields left out, as Ray's SDK does)."""
        body: dict[str, Any] = {"entrypoint": self.entrypoint, "submission_id": self.submission_id}
        optional = {
            "runtime_env": self.runtime_env,
            "metadata": self.metadata,
            "entrypoint_num_cpus": self.entrypoint_num_cpus,
            "entrypoint_num_gpus": self.entrypoint_num_gpus,
            "entrypoint_memory": self.entrypoint_memory,
            "entrypoint_resources": self.entrypoint_resources,
        }
        body.update({key: value for key, value in optional.items() if value})
        return body


@dataclass(frozen=True)
class JobInfo:
    """The fields of ``GET /api/jobs/{id}`` that KubeRay mirrors into the RayJob status."""

    status: str
    message: str = ""
    start_time_ms: int = 0
    end_time_ms: int = 0

    @property
    def is_terminal(self) -> bool:
        """STOPPED, SUCCEEDED and FAILED never change again."""
        return self.status in TERMINAL_JOB_STATUSES

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobInfo:
        """Parse Ray's JobDetails JSON."""
        return cls(
            status=str(data.get("status") or ""),
            message=str(data.get("message") or ""),
            start_time_ms=int(data.get("start_time") or 0),
            end_time_ms=int(data.get("end_time") or 0),
        )


class JobBackend(Protocol):
    """One head's job API."""

    async def submit(self, job: JobSubmission) -> None:
        """Submit; raises :class:`JobAPIError` (500 for a reused submission id)."""

    async def info(self, submission_id: str) -> JobInfo:
        """Current status; raises :class:`JobNotFoundError` if unknown."""

    async def stop(self, submission_id: str) -> bool:
        """Ask the job to stop; True if it was running."""


class HttpJobAPI:
    """:class:`JobBackend` over HTTP against one head's dashboard.

    :param base_url: the dashboard's base URL (``http://127.0.0.1:<port>``).
    :param session: a shared aiohttp session.
    :param timeout: seconds per request (every network call has a deadline).
    """

    def __init__(self, base_url: str, session: aiohttp.ClientSession, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _request(self, method: str, path: str, json: Any = None) -> Any:
        url = f"{self.base_url}{path}"
        try:
            async with self._session.request(method, url, json=json, timeout=self._timeout) as resp:
                text = await resp.text()
                if resp.status == 404:
                    raise JobNotFoundError(404, text)
                if resp.status >= 400:
                    raise JobAPIError(resp.status, text)
                if not text:
                    return {}
                try:
                    return await resp.json(content_type=None)
                except ValueError as exc:
                    raise JobAPIError(resp.status, f"invalid JSON: {text}") from exc
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise JobAPIError(0, f"{type(exc).__name__}: {exc}") from exc

    async def version(self) -> dict[str, Any]:
        """``GET /api/version``."""
        result: dict[str, Any] = await self._request("GET", "/api/version")
        return result

    async def submit(self, job: JobSubmission) -> None:
        """``POST /api/jobs/``."""
        await self._request("POST", "/api/jobs/", json=job.body())

    async def info(self, submission_id: str) -> JobInfo:
        """``GET /api/jobs/{id}``."""
        return JobInfo.from_json(await self._request("GET", f"/api/jobs/{submission_id}"))

    async def stop(self, submission_id: str) -> bool:
        """``POST /api/jobs/{id}/stop``."""
        result = await self._request("POST", f"/api/jobs/{submission_id}/stop")
        return bool(result.get("stopped"))

    async def logs(self, submission_id: str) -> str:
        """``GET /api/jobs/{id}/logs``."""
        result = await self._request("GET", f"/api/jobs/{submission_id}/logs")
        return str(result.get("logs", ""))

    async def delete(self, submission_id: str) -> bool:
        """``DELETE /api/jobs/{id}`` (only for terminal jobs)."""
        result = await self._request("DELETE", f"/api/jobs/{submission_id}")
        return bool(result.get("deleted"))
