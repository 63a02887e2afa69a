"""The waits, written once (async) for the triggers and the non-deferrable operators.

A trigger runs a wait in the triggerer's event loop; a non-deferrable operator runs the same
coroutine with ``asyncio.run`` on its worker. Both therefore share the same watch subscription,
log streaming, startup timeout and failure evidence. The Kubernetes side goes through
:mod:`airflow_ray_k8s._lifecycle.kube` (a thin adapter over the async hook and the watch hub).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_ray_k8s._lifecycle.logs import LogCursor, encode_offset, offset_from_annotations, tail
from airflow_ray_k8s._lifecycle.object_wait import OneObjectWait
from airflow_ray_k8s._lifecycle.queueing import is_suspended, queue_of
from airflow_ray_k8s.status import JOB_FAILED, JOB_RUNNING, JOB_STOPPED, JOB_SUCCEEDED, RayJobStatus

if TYPE_CHECKING:
    from airflow_ray_k8s._lifecycle.kube import KubeSession
    from airflow_ray_k8s._lifecycle.returns import Collected

#: While a driver prints nothing, the pause between log reads doubles up to this (seconds): a quiet
#: hour-long job then costs ~60 dashboard reads an hour instead of 720 at the default 5 s interval.
MAX_QUIET_LOG_INTERVAL = 60.0

#: While Kueue keeps a RayJob suspended, the task log says so again this often (seconds).
QUEUED_LOG_INTERVAL = 60.0

#: Statuses of the Ray job after which its driver log exists (before them there is no driver).
_RAN = frozenset({JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED, JOB_STOPPED})


def _utc(moment: float) -> str:
    """A UNIX time as an ISO 8601 UTC time to the second, for the task log."""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(moment, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def has_started(status: RayJobStatus) -> bool:
    """Whether the job got past cluster startup (the driver was submitted)."""
    return status.job_status in _RAN or status.deployment_status in ("Running", "Complete")


@dataclass
class RayJobWait:
    """Wait for one RayJob to become terminal; see :class:`~airflow_ray_k8s.triggers.rayjob.RayJobTrigger`."""

    conn_id: str
    namespace: str
    name: str
    try_number: int = 1
    get_logs: bool = True
    log_offset: int = 0
    log_interval: float = 5.0
    startup_deadline: float | None = None
    tail_lines: int = 50
    wait_for_creation: bool = False
    collect_results: bool = False
    startup_timeout: float | None = None
    log: Any = None
    _cursor: LogCursor = field(init=False)
    # Kueue: when this wait first saw the RayJob suspended / admitted, and the job running (UNIX times).
    _queued_since: float | None = field(init=False, default=None)
    _admitted_at: float | None = field(init=False, default=None)
    _running_at: float | None = field(init=False, default=None)
    _next_queue_log: float = field(init=False, default=0.0)
    _next_log_at: float = field(init=False, default=0.0)
    _log_pause: float = field(init=False, default=0.0)
    _recorded_offset: int = field(init=False, default=-1)
    _kube: KubeSession = field(init=False)
    # The last lines streamed: the failure tail if the final read loses the race with the TTL.
    _seen: deque[str] = field(init=False)

    async def run(self) -> dict[str, Any]:
        """Return the event payload (``{"status": ..., ...}``)."""
        from airflow_ray_k8s._lifecycle.kube import KubeSession

        self._cursor = LogCursor(self.log_offset)
        self._seen = deque(maxlen=max(self.tail_lines, 1))
        try:
            self._kube = KubeSession(self.conn_id)
            async with self._kube, self._kube.watch_one("rayjob", self.namespace, self.name) as updates:
                return await self._loop(updates)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the event carries the error to the task, which fails with it
            return {"status": "error", "name": self.name, "namespace": self.namespace, "message": str(exc)}

    async def _loop(self, updates: Any) -> dict[str, Any]:
        obj: dict[str, Any] | None = await updates.current()
        first = True
        while True:
            if obj is None and self.wait_for_creation and first:
                # A sensor may wait for a RayJob someone has yet to submit (as its poke mode does).
                obj = await updates.next(timeout=None)
                continue
            if obj is None:
                return {
                    "status": "deleted",
                    "name": self.name,
                    "namespace": self.namespace,
                    "log_offset": self._cursor.offset,
                }
            status = RayJobStatus.from_object(obj)
            if first:
                # Continue from what an earlier emitter of this try recorded (a triggerer restart):
                # its kwargs offset may be older than the lines it already emitted.
                annotations = (obj.get("metadata") or {}).get("annotations") or {}
                recorded = offset_from_annotations(annotations, self.try_number)
                self._recorded_offset = recorded
                self._cursor.offset = max(self._cursor.offset, recorded)
                first = False
            queued = self._track_queue(obj, status)
            if self._running_at is None and has_started(status):
                self._running_at = time.time()
            if status.is_terminal:
                return await self._finish(status, obj)
            if (
                self.get_logs
                and status.job_id
                and status.job_status in _RAN
                and time.monotonic() >= self._next_log_at
            ):
                await self._stream(status, final=False)
            if (
                self.startup_deadline is not None
                and not queued
                and not has_started(status)
                and time.time() >= self.startup_deadline
            ):
                reasons = await self._kube.cluster_problems(self.namespace, status.ray_cluster_name)
                return {
                    "status": "startup_timeout",
                    "name": self.name,
                    "namespace": self.namespace,
                    "job": status.to_json(),
                    "reasons": reasons,
                    "timings": self._timings(),
                }
            obj = await updates.next(timeout=self._timeout(status, queued))

    def _timeout(self, status: RayJobStatus, queued: bool = False) -> float | None:
        waits: list[float] = []
        if self.get_logs and status.job_status in _RAN:
            waits.append(max(self._next_log_at - time.monotonic(), 0.05))
        if queued:
            waits.append(max(self._next_queue_log - time.time(), 0.05))
        elif self.startup_deadline is not None and not has_started(status):
            waits.append(max(self.startup_deadline - time.time(), 0.05))
        return min(waits) if waits else None

    # --- Kueue ------------------------------------------------------------------------------------

    def _track_queue(self, obj: dict[str, Any], status: RayJobStatus) -> bool:
        """Note (and log) Kueue's suspension and admission; True while Kueue keeps the RayJob queued.

        Once admitted, the job has ``startup_timeout`` seconds from its admission to start (the
        deadline never moves earlier than ``startup_deadline``).
        """
        queue = queue_of(obj)
        if not queue:
            return False
        from airflow_ray_k8s._lifecycle.jobs import creation_time, parse_time

        now = time.time()
        if is_suspended(obj) and not status.is_terminal:
            if self._queued_since is None:
                # Queued since its creation (also for a wait that starts late, after a restart).
                self._queued_since = creation_time(obj) or now
            elif self._admitted_at is not None:
                # Suspended again after an admission: Kueue preempted it (KubeRay deletes its cluster).
                self._say(
                    "RayJob %s was suspended again by Kueue LocalQueue %r (preempted)", self.name, queue
                )
                self._queued_since, self._admitted_at = now, None
                self._next_queue_log = 0.0
            if now >= self._next_queue_log:
                self._next_queue_log = now + QUEUED_LOG_INTERVAL
                self._say(
                    "RayJob %s is queued in Kueue LocalQueue %r for %.1f s so far (suspended until "
                    "admitted; the start-up timeout counts from admission)",
                    self.name, queue, now - self._queued_since,
                )  # fmt: skip
            return True
        if self._admitted_at is None:
            admitted = now
            if self._queued_since is None:
                # Admitted before this wait first looked: KubeRay re-initialised the job at its
                # admission and set ``startTime`` then (unless it has yet to, still "Suspended").
                self._queued_since = creation_time(obj) or now
                started = parse_time(status.start_time)
                if started is not None and status.deployment_status not in ("", "Suspended", "Suspending"):
                    admitted = min(max(started, self._queued_since), now)
            self._admitted_at = admitted
            self._say(
                "RayJob %s was admitted by Kueue LocalQueue %r at %s after %.1f s queued",
                self.name, queue, _utc(admitted), admitted - self._queued_since,
            )  # fmt: skip
            if self.startup_timeout is not None:
                self.startup_deadline = max(self.startup_deadline or 0.0, admitted + self.startup_timeout)
        return False

    def _say(self, message: str, *args: Any) -> None:
        if self.log is not None:
            self.log.info(message, *args)

    def _timings(self) -> dict[str, float | None]:
        """When this wait saw the job queued, admitted, running and ended (UNIX times), for metrics."""
        return {
            "queued_since": self._queued_since,
            "admitted_at": self._admitted_at,
            "running_at": self._running_at,
            "ended_at": time.time(),
        }

    async def _stream(self, status: RayJobStatus, *, final: bool) -> str | None:
        """Emit new driver-log lines; return the whole log (``None`` if it could not be read)."""
        started = time.monotonic()
        self._next_log_at = started + self.log_interval  # a failed read retries at the base interval
        try:
            text = await self._kube.job_logs(self.namespace, status)
        except Exception as exc:
            if self.log is not None:
                self.log.warning("Could not read the driver log of %s: %s", self.name, exc)
            return None
        lines = self._cursor.advance(text, final=final)
        if self._cursor.restarted and self.log is not None:
            self.log.info("[%s] driver log restarted (the job was resubmitted)", self.name)
        self._seen.extend(lines)
        if self.log is not None:
            from airflow_ray_k8s._lifecycle.returns import for_task_log

            for line in lines:
                self.log.info("[%s] %s", self.name, for_task_log(line))
        # New output: read again after the base interval; none: wait twice as long as last time.
        ceiling = max(MAX_QUIET_LOG_INTERVAL, self.log_interval)
        self._log_pause = (
            self.log_interval if lines else min(max(2 * self._log_pause, self.log_interval), ceiling)
        )
        self._next_log_at = started + self._log_pause
        # Emitted first, recorded after: a restart between the two repeats these lines on the next
        # emitter rather than losing them.
        if lines:
            await self._record_offset()
        return text

    async def _record_offset(self) -> None:
        from airflow_ray_k8s._lifecycle.logs import ANNOTATION_LOG_OFFSET

        if self._cursor.offset == self._recorded_offset:
            return
        try:
            await self._kube.patch_annotations(
                "rayjob",
                self.namespace,
                self.name,
                {ANNOTATION_LOG_OFFSET: encode_offset(self.try_number, self._cursor.offset)},
            )
            self._recorded_offset = self._cursor.offset
        except Exception as exc:
            if self.log is not None:
                self.log.warning("Could not record the log offset on %s: %s", self.name, exc)

    async def _finish(self, status: RayJobStatus, obj: dict[str, Any]) -> dict[str, Any]:
        log_tail: list[str] = []
        note = ""
        text: str | None = None
        if not status.job_id or status.job_status not in _RAN:
            note = "the job never started on its cluster"
        elif self.get_logs or not status.is_success or self.collect_results:
            # Collected now, before ttlSecondsAfterFinished deletes the cluster and its logs.
            text = await self._stream(status, final=True) if self.get_logs else await self._read_all(status)
            if text is None and self._seen:
                log_tail = list(self._seen)[-self.tail_lines :] if self.tail_lines else []
                note = "the end of the driver log could not be read; these are the last lines streamed"
            elif text is None:
                note = "the driver log could not be read (the cluster may be gone already)"
            else:
                log_tail = tail(text, self.tail_lines)
        payload = {
            "status": "terminal",
            "name": self.name,
            "namespace": self.namespace,
            "job": status.to_json(),
            "log_tail": log_tail,
            "log_note": note,
            "log_offset": self._cursor.offset,
            "timings": self._timings(),
        }
        if self.collect_results:
            payload["results"] = (await self._results(status, obj, text, note)).to_json()
        return payload

    async def _results(
        self, status: RayJobStatus, obj: dict[str, Any], text: str | None, note: str
    ) -> Collected:
        """The job's published records: kept on the RayJob by an earlier reader, else from the whole
        log just read (then kept there, before the TTL deletes the cluster and its log)."""
        from airflow_ray_k8s._lifecycle import returns

        kept = returns.from_annotations(obj, status.job_id)
        if kept is not None:
            return kept
        if text is None:
            return returns.unavailable(note or "the driver log could not be read", status.job_id)
        collected = returns.from_log(text, status.job_id)
        patch = returns.annotation_patch(collected) if returns.worth_keeping(status, collected) else None
        if patch is not None:
            try:
                await self._kube.patch_annotations(
                    "rayjob", self.namespace, self.name, patch["metadata"]["annotations"]
                )
            except Exception as exc:  # the event carries them anyway; keeping them is a safety net
                if self.log is not None:
                    self.log.warning("Could not keep the results on RayJob %s: %s", self.name, exc)
        return collected

    async def _read_all(self, status: RayJobStatus) -> str | None:
        try:
            return await self._kube.job_logs(self.namespace, status)
        except Exception:
            return None


async def first_event(trigger: Any) -> dict[str, Any]:
    """The payload of a trigger's first event (a trigger fires exactly one)."""
    async for event in trigger.run():
        payload: dict[str, Any] = event.payload
        return payload
    raise RuntimeError(f"{type(trigger).__name__} ended without an event")


def run_inline(trigger: Any) -> dict[str, Any]:
    """Run a trigger's wait on this (worker) thread: the non-deferrable path shares the trigger's code."""
    return asyncio.run(first_event(trigger))


async def delete_rayjob_async(conn_id: str, namespace: str, name: str, *, log: Any = None) -> None:
    """Delete a RayJob and the cluster it created (a user's kill); 404 counts as done."""
    from airflow_ray_k8s._lifecycle.kube import KubeSession

    async with KubeSession(conn_id) as kube:
        await kube.delete_rayjob_and_cluster(namespace, name, log=log)


@dataclass
class RayClusterWait(OneObjectWait):
    """Wait for a RayCluster; see :class:`~airflow_ray_k8s.triggers.raycluster.RayClusterTrigger`."""

    conn_id: str
    namespace: str
    name: str
    wait_for: str = "ready"
    condition_type: str | None = None
    deadline: float | None = None
    startup_timeout: float | None = None
    log: Any = None
    _queued: bool = field(init=False, default=False)

    watch_kind: ClassVar[str] = "raycluster"

    def holds(self, obj: dict[str, Any] | None) -> bool:
        """True while Kueue keeps a queued cluster suspended; on its admission, move the deadline
        to ``startup_timeout`` after it."""
        queue = queue_of(obj)
        if not queue or self.wait_for != "ready":
            return False
        if is_suspended(obj):
            if not self._queued and self.log is not None:
                self.log.info(
                    "RayCluster %s is queued in Kueue LocalQueue %r (suspended until admitted; the "
                    "start-up timeout counts from admission)", self.name, queue,
                )  # fmt: skip
            self._queued = True
            return True
        if self._queued:
            self._queued = False
            now = time.time()
            if self.log is not None:
                self.log.info(
                    "RayCluster %s was admitted by Kueue LocalQueue %r at %s", self.name, queue, _utc(now)
                )
            if self.startup_timeout is not None:
                self.deadline = max(self.deadline or 0.0, now + self.startup_timeout)
        return False

    def check(self, obj: dict[str, Any] | None) -> dict[str, Any] | None:
        """The event for this state of the cluster, or ``None`` to keep waiting."""
        from airflow_ray_k8s.status import RayClusterStatus

        if obj is None:
            if self.wait_for == "condition":
                return None  # a sensor may wait for a cluster someone else has yet to create
            return self._base("deleted" if self.wait_for == "deleted" else "missing")
        if self.wait_for == "deleted":
            return None
        status = RayClusterStatus.from_object(obj)
        if self.wait_for == "condition":
            cond = status.condition(self.condition_type or "")
            if cond is not None and cond.is_true:
                return self._base("condition", cluster=status.to_json())
            return None
        if status.is_ready:
            return self._base("ready", cluster=status.to_json())
        if status.is_suspended and queue_of(obj):
            return None  # Kueue keeps it suspended until its LocalQueue admits it
        if status.is_failed or status.is_suspended:
            return self._base(
                "failed", cluster=status.to_json(), message=status.failure_reason or status.phase
            )
        return None

    async def timed_out(self, kube: KubeSession, obj: dict[str, Any] | None) -> dict[str, Any]:
        """A deletion timeout, or a startup timeout with the cluster's pod and event problems."""
        from airflow_ray_k8s.status import RayClusterStatus

        if self.wait_for == "deleted":
            return self._base("timeout")
        reasons = await kube.cluster_problems(self.namespace, self.name)
        cluster = RayClusterStatus.from_object(obj).to_json() if obj is not None else None
        return self._base("startup_timeout", cluster=cluster, reasons=reasons)
