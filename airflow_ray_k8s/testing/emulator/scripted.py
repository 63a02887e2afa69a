"""The no-Ray :class:`~airflow_ray_k8s.testing.emulator.runtime.ClusterRuntime`: heads become ready
after a delay, jobs succeed or fail after a scripted delay, all in memory.

Built to hold thousands of RayJobs: a head is a dict entry, a job is a dataclass plus one
``loop.call_later`` handle; nothing polls. A job's end calls back into the controller.

One small aiohttp server answers the Ray job REST API for every scripted head under
``/heads/<namespace>/<cluster>/api/...``, so the head-service proxy and the provider's log and stop
calls follow the same code path as against a real head. The same server answers the Serve REST API
there and each head's Serve HTTP port under ``/serve/<namespace>/<cluster>/`` (see
``scripted_serve.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from airflow_ray_k8s.testing.emulator.jobapi import JobAPIError, JobInfo, JobNotFoundError, JobSubmission
from airflow_ray_k8s.testing.emulator.runtime import ClusterKey, HeadState, HeadStatus
from airflow_ray_k8s.testing.emulator.scripted_serve import ScriptedServe

SCRIPTED_RAY_VERSION = "2.60.0"


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class ScriptedJob:
    """One scripted Ray job."""

    submission: JobSubmission
    outcome: str
    duration: float
    driver_log: list[str] = field(default_factory=list)
    status: str = "PENDING"
    message: str = "Job has not started yet."
    start_time_ms: int = 0
    end_time_ms: int = 0
    logs: list[str] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None

    def info(self) -> JobInfo:
        """What ``GET /api/jobs/{id}`` would answer."""
        return JobInfo(self.status, self.message, self.start_time_ms, self.end_time_ms)

    def details(self) -> dict[str, Any]:
        """Ray's JobDetails JSON."""
        return {
            "type": "SUBMISSION",
            "job_id": None,
            "submission_id": self.submission.submission_id,
            "driver_info": None,
            "status": self.status,
            "entrypoint": self.submission.entrypoint,
            "message": self.message,
            "error_type": None,
            "start_time": self.start_time_ms or None,
            "end_time": self.end_time_ms or None,
            "metadata": self.submission.metadata or {},
            "runtime_env": self.submission.runtime_env or {},
            "driver_agent_http_address": None,
            "driver_node_id": None,
            "driver_exit_code": None,
        }


class ScriptedHead:
    """The in-memory job API of one scripted head (a :class:`~.jobapi.JobBackend`)."""

    def __init__(self, runtime: ScriptedRuntime, key: ClusterKey) -> None:
        self._runtime = runtime
        self.key = key
        self.jobs: dict[str, ScriptedJob] = {}
        self.serve = ScriptedServe(key[1], runtime.ready_delay)

    def _check_up(self) -> None:
        if self._runtime.status(self.key).state is not HeadState.READY:
            raise JobAPIError(0, "ClientConnectorError: Cannot connect to the Ray head (connection refused)")

    async def submit(self, job: JobSubmission) -> None:
        """Accept the job; it starts running now and ends after its scripted duration."""
        self.submit_now(job)

    def submit_now(self, job: JobSubmission) -> ScriptedJob:
        """Synchronous :meth:`submit` (also used by the HTTP server)."""
        self._check_up()
        if job.submission_id in self.jobs:
            raise JobAPIError(
                500,
                f"Job with submission_id {job.submission_id} already exists. "
                "Please use a different submission_id.",
            )
        outcome, duration, driver_log = self._runtime.plan_for(self.key, job.submission_id)
        if outcome == "REJECTED":
            # What Ray answers for a submission it cannot accept (e.g. a broken runtime_env).
            raise JobAPIError(400, "Failed to submit job: runtime_env is invalid (scripted rejection)")
        scripted = ScriptedJob(submission=job, outcome=outcome, duration=duration, driver_log=driver_log)
        self.jobs[job.submission_id] = scripted
        scripted.status = "RUNNING"
        scripted.message = "Job is currently running."
        scripted.start_time_ms = _now_ms()
        scripted.logs.append(f"Running entrypoint for job {job.submission_id}: {job.entrypoint}")
        loop = asyncio.get_running_loop()
        scripted.timer = loop.call_later(duration, self._finish, scripted)
        return scripted

    def _finish(self, job: ScriptedJob) -> None:
        job.timer = None
        job.end_time_ms = _now_ms()
        job.logs.extend(job.driver_log)  # what the test says the real entrypoint prints
        if job.outcome == "FAILED":
            job.status = "FAILED"
            job.message = (
                "Job entrypoint command failed with exit code 1, last available logs: scripted failure"
            )
            job.logs.append("scripted failure (emulator outcome FAILED)")
        else:
            job.status = "SUCCEEDED"
            job.message = "Job finished successfully."
            job.logs.append("scripted success (emulator outcome SUCCEEDED)")
        self._runtime.job_changed(self.key)

    async def info(self, submission_id: str) -> JobInfo:
        """Current status of a job."""
        return self.job(submission_id).info()

    def job(self, submission_id: str) -> ScriptedJob:
        """The job, or :class:`JobNotFoundError`."""
        self._check_up()
        job = self.jobs.get(submission_id)
        if job is None:
            raise JobNotFoundError(404, f"Job {submission_id} does not exist")
        return job

    async def stop(self, submission_id: str) -> bool:
        """Stop a running job (STOPPED); False if it had already ended."""
        return self.stop_now(submission_id)

    def stop_now(self, submission_id: str) -> bool:
        """Synchronous :meth:`stop`."""
        job = self.job(submission_id)
        if job.status in ("SUCCEEDED", "FAILED", "STOPPED"):
            return False
        if job.timer is not None:
            job.timer.cancel()
            job.timer = None
        job.status = "STOPPED"
        job.message = "Job was intentionally stopped."
        job.end_time_ms = _now_ms()
        job.logs.append("job stopped")
        self._runtime.job_changed(self.key)
        return True

    def close(self) -> None:
        """Cancel every job timer and Serve's (the head is going away)."""
        self.serve.close()
        for job in self.jobs.values():
            if job.timer is not None:
                job.timer.cancel()
                job.timer = None


class ScriptedRuntime:
    """Scripted heads and jobs.

    :param ready_delay: seconds from start to a ready head.
    :param job_duration: default seconds from submission to the job's end.
    :param outcome: default end of a job, ``SUCCEEDED`` or ``FAILED``.
    """

    mode = "scripted"

    def __init__(
        self, *, ready_delay: float = 0.2, job_duration: float = 0.5, outcome: str = "SUCCEEDED"
    ) -> None:
        self.ready_delay = ready_delay
        self.job_duration = job_duration
        self.outcome = outcome
        self.heads: dict[ClusterKey, ScriptedHead] = {}
        self._status: dict[ClusterKey, HeadStatus] = {}
        self._callbacks: dict[ClusterKey, Callable[[], None]] = {}
        self._timers: dict[ClusterKey, asyncio.TimerHandle] = {}
        self._plans: dict[tuple[ClusterKey, str], tuple[str, float, list[str]]] = {}
        self.on_job_change: Callable[[ClusterKey], None] = lambda key: None
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def open(self) -> None:
        """Start the fake job API server on a free loopback port."""
        app = web.Application()
        app.router.add_route("*", "/heads/{ns}/{name}/{tail:.*}", self._handle)
        app.router.add_route("*", "/serve/{ns}/{name}/{tail:.*}", self._handle_serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        port = sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"

    def status(self, key: ClusterKey) -> HeadStatus:
        """The head's current state."""
        return self._status.get(key, HeadStatus(HeadState.ABSENT))

    def start(self, key: ClusterKey, spec: dict[str, Any], on_change: Callable[[], None]) -> None:
        """The head becomes ready after ``ready_delay``."""
        if self.status(key).state in (HeadState.STARTING, HeadState.READY):
            return
        self._callbacks[key] = on_change
        self._status[key] = HeadStatus(HeadState.STARTING, "scripted head starting")
        self.heads[key] = ScriptedHead(self, key)
        self._timers[key] = asyncio.get_running_loop().call_later(self.ready_delay, self._ready, key)

    def _ready(self, key: ClusterKey) -> None:
        self._timers.pop(key, None)
        self._status[key] = HeadStatus(HeadState.READY, "scripted head ready")
        callback = self._callbacks.get(key)
        if callback is not None:
            callback()

    async def stop(self, key: ClusterKey) -> None:
        """Forget the head and its jobs."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        head = self.heads.pop(key, None)
        if head is not None:
            head.close()
            for submission_id in head.jobs:
                self._plans.pop((key, submission_id), None)
        self._status.pop(key, None)
        self._callbacks.pop(key, None)

    def dashboard_url(self, key: ClusterKey) -> str:
        """This server's path prefix for the head."""
        return f"{self.base_url}/heads/{key[0]}/{key[1]}"

    def serve_url(self, key: ClusterKey) -> str:
        """This server's path prefix for the head's Serve HTTP port."""
        return f"{self.base_url}/serve/{key[0]}/{key[1]}"

    def plan_serve(self, key: ClusterKey, outcome: str | None, delay: float | None) -> None:
        """Script what the next Serve deploy on ``key`` ends in."""
        head = self.heads.get(key)
        if head is not None:
            head.serve.plan(outcome, delay)

    async def _handle_serve(self, request: web.Request) -> web.StreamResponse:
        key = (request.match_info["ns"], request.match_info["name"])
        head = self.heads.get(key)
        if head is None or self.status(key).state is not HeadState.READY:
            return web.Response(status=503, text="no Ray head is serving this cluster")
        return await head.serve.handle_http(request, "/" + request.match_info["tail"].strip("/"))

    def jobs(self, key: ClusterKey) -> ScriptedHead:
        """The head's in-memory job API."""
        head = self.heads.get(key)
        if head is None:
            head = ScriptedHead(self, key)
        return head

    def plan(
        self,
        key: ClusterKey,
        submission_id: str,
        outcome: str | None,
        duration: float | None,
        driver_log: list[str] | None = None,
    ) -> None:
        """Script the end of a job before it is submitted (from the RayJob's annotations)."""
        self._plans[(key, submission_id)] = (
            (outcome or self.outcome).upper(),
            self.job_duration if duration is None else duration,
            list(driver_log or []),
        )

    def plan_for(self, key: ClusterKey, submission_id: str) -> tuple[str, float, list[str]]:
        """The scripted outcome, duration and driver output of a job (defaults if none was planned)."""
        return self._plans.get((key, submission_id), (self.outcome, self.job_duration, []))

    def job_changed(self, key: ClusterKey) -> None:
        """A job on ``key`` changed status: tell the controller."""
        self.on_job_change(key)

    def crash(self, key: ClusterKey) -> bool:
        """The head dies: its job API stops answering."""
        if self.status(key).state is not HeadState.READY:
            return False
        head = self.heads.get(key)
        if head is not None:
            head.close()
        self._status[key] = HeadStatus(HeadState.CRASHED, "the Ray head was killed (fault injection)")
        callback = self._callbacks.get(key)
        if callback is not None:
            callback()
        return True

    async def close(self) -> None:
        """Stop every head and the server."""
        for key in list(self.heads):
            await self.stop(key)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        key = (request.match_info["ns"], request.match_info["name"])
        tail = "/" + request.match_info["tail"].strip("/")
        head = self.heads.get(key)
        if head is None or self.status(key).state is not HeadState.READY:
            return web.json_response({"message": "no Ray head is serving this cluster"}, status=503)
        try:
            return await self._route(head, request.method, tail, request)
        except JobNotFoundError as exc:
            return web.Response(status=404, text=exc.detail)
        except JobAPIError as exc:
            return web.Response(status=exc.status or 503, text=exc.detail)

    async def _route(
        self, head: ScriptedHead, method: str, tail: str, request: web.Request
    ) -> web.StreamResponse:
        parts = [p for p in tail.split("/") if p]
        if parts == ["api", "version"]:
            return web.json_response(
                {"version": "4", "ray_version": SCRIPTED_RAY_VERSION, "ray_commit": "scripted"}
            )
        if parts == ["api", "serve", "applications"]:
            if method == "PUT":
                head.serve.deploy(await request.json())
                return web.Response(status=200)
            if method == "GET":
                return web.json_response(head.serve.applications())
        if parts[:2] != ["api", "jobs"]:
            return web.Response(status=404, text="not found")
        if len(parts) == 2:
            if method == "GET":
                return web.json_response([job.details() for job in head.jobs.values()])
            if method == "POST":
                body = await request.json()
                submission = JobSubmission(
                    entrypoint=str(body.get("entrypoint", "")),
                    submission_id=str(body.get("submission_id") or f"raysubmit_{int(time.time() * 1000)}"),
                    runtime_env=body.get("runtime_env"),
                    metadata=body.get("metadata"),
                    entrypoint_num_cpus=body.get("entrypoint_num_cpus"),
                    entrypoint_num_gpus=body.get("entrypoint_num_gpus"),
                    entrypoint_resources=body.get("entrypoint_resources"),
                )
                head.submit_now(submission)
                return web.json_response(
                    {"job_id": submission.submission_id, "submission_id": submission.submission_id}
                )
        submission_id = parts[2]
        rest = parts[3:]
        if not rest and method == "GET":
            return web.json_response(head.job(submission_id).details())
        if not rest and method == "DELETE":
            job = head.job(submission_id)
            if job.status not in ("SUCCEEDED", "FAILED", "STOPPED"):
                return web.Response(status=400, text=f"Job {submission_id} is not in a terminal state")
            del head.jobs[submission_id]
            return web.json_response({"deleted": True})
        if rest == ["logs"] and method == "GET":
            return web.json_response({"logs": "\n".join(head.job(submission_id).logs) + "\n"})
        if rest == ["stop"] and method == "POST":
            return web.json_response({"stopped": head.stop_now(submission_id)})
        return web.Response(status=404, text="not found")
