"""The provider's metrics, sent through Airflow's own metrics (StatsD, Datadog or OpenTelemetry,
whichever the deployment's ``[metrics]`` section configures), so they arrive where Airflow's do.

Every name below is prefixed by Airflow (``[metrics] statsd_prefix`` / ``otel_prefix``, ``airflow``
by default). Durations are timings (milliseconds on StatsD, histograms on OpenTelemetry); resource
figures are counters, so a sum over a window is what a team requested in it.

RayJobs (sent by :class:`~airflow_ray_k8s.operators.rayjob.RayJobOperator` and ``@task.ray`` when the
task takes the job's outcome):

``ray_k8s.rayjob.queue_wait``
    Kueue queue time: creation until admission (only for RayJobs with ``queue_name``).
``ray_k8s.rayjob.startup``
    Admission (or creation) until Ray accepted the job: the cluster's provisioning, image
    pulls, head readiness and the submission. The figure image pre-pulling lowers.
``ray_k8s.rayjob.cluster_startup``
    The part of that until the job's own cluster was first ready (whole seconds, KubeRay's
    timestamps); the rest is the submission and the driver's start.
``ray_k8s.rayjob.run``
    The Ray job's duration as Ray reports it (``rayJobInfo`` start to end: from Ray's acceptance
    of the job, so it includes the job's set-up before the driver).
``ray_k8s.rayjob.cpu_seconds``, ``.memory_mib_seconds``, ``.gpu_seconds``
    What the job's cluster requested (KubeRay's ``desiredCPU/Memory/GPU``) times how long it held
    it: admission (or creation) until the job ended. Rounded to whole units; the TTL after the end
    is not counted.
``ray_k8s.rayjob.outcome.<outcome>.<reason>``
    A count per finished task: outcome ``succeeded``, ``failed``, ``stopped``, ``validation_failed``,
    ``startup_timeout``, ``deleted`` or ``error``; reason KubeRay's ``status.reason`` (``AppFailed``,
    ``DeadlineExceeded``, ``SubmissionFailed``...), ``StartupTimeout``, or ``none``. Both are in the
    name so plain StatsD keeps them; they are tags as well.

RayClusters (:class:`~airflow_ray_k8s.operators.raycluster.RayClusterCreateOperator` and the delete
operator):

``ray_k8s.raycluster.startup``
    Creation until the cluster was ready (or the start-up failed).
``ray_k8s.raycluster.outcome.<outcome>.<reason>``
    ``ready``, ``failed`` or ``startup_timeout``, as above.
``ray_k8s.raycluster.cpu_seconds``, ``.memory_mib_seconds``, ``.gpu_seconds``
    Sent when the delete operator removes a cluster: its desired resources times its lifetime.

Tags (for backends with tags: Datadog, OpenTelemetry, StatsD with InfluxDB tags): ``dag_id``,
``task_id``, ``namespace``, ``queue`` (the Kueue LocalQueue, or ``none``), and on outcome counters
``outcome`` and ``reason``.

This module is cheap to import (standard library only); Airflow's stats module and the Kubernetes
quantity parser are imported when a figure is sent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "ray_k8s"

RAYJOB_QUEUE_WAIT = f"{PREFIX}.rayjob.queue_wait"
RAYJOB_STARTUP = f"{PREFIX}.rayjob.startup"
RAYJOB_CLUSTER_STARTUP = f"{PREFIX}.rayjob.cluster_startup"
RAYJOB_RUN = f"{PREFIX}.rayjob.run"
RAYJOB_OUTCOME = f"{PREFIX}.rayjob.outcome"
RAYCLUSTER_STARTUP = f"{PREFIX}.raycluster.startup"
RAYCLUSTER_OUTCOME = f"{PREFIX}.raycluster.outcome"

#: The resource counters' suffixes, in the order of :class:`Resources`' fields.
RESOURCE_SUFFIXES = ("cpu_seconds", "memory_mib_seconds", "gpu_seconds")

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class Resources:
    """What a cluster requests: CPUs, memory in MiB, GPUs (KubeRay's ``desired*`` status fields).

    :param cpu: CPU cores.
    :param memory_mib: memory in MiB.
    :param gpu: GPUs.
    """

    cpu: float = 0.0
    memory_mib: float = 0.0
    gpu: float = 0.0

    @classmethod
    def from_quantities(cls, cpu: str, memory: str, gpu: str) -> Resources:
        """Read Kubernetes quantity strings (``"2500m"``, ``"4Gi"``); empty or unreadable is 0."""
        return cls(cpu=_quantity(cpu), memory_mib=_quantity(memory) / 2**20, gpu=_quantity(gpu))

    def times(self, seconds: float) -> tuple[int, int, int]:
        """Resource-seconds for holding these for ``seconds``, rounded to whole units."""
        return (round(self.cpu * seconds), round(self.memory_mib * seconds), round(self.gpu * seconds))


def _quantity(raw: str) -> float:
    if not raw:
        return 0.0
    from kubernetes.utils.quantity import parse_quantity

    try:
        return float(parse_quantity(raw))
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class RayJobFigures:
    """The figures of one finished RayJob, computed from its status and the wait's timings.

    ``None`` means the figure does not apply or could not be known (no queue, never started).

    :param outcome: see the module docstring.
    :param reason: KubeRay's reason or ours (``none`` if there is none).
    """

    outcome: str
    reason: str
    queue: str = ""
    queue_wait: float | None = None
    startup: float | None = None
    cluster_startup: float | None = None
    run: float | None = None
    held: float | None = None
    resources: Resources = Resources()


def rayjob_figures(
    job: Any,
    timings: Mapping[str, Any] | None,
    *,
    outcome: str,
    reason: str,
    queue: str = "",
    own_cluster: bool = True,
) -> RayJobFigures:
    """Compute a finished RayJob's figures.

    :param job: its last :class:`~airflow_ray_k8s.status.RayJobStatus`.
    :param timings: the wait's ``timings`` (UNIX times it observed: ``queued_since``,
        ``admitted_at``, ``running_at``, ``ended_at``); KubeRay's own timestamps come first where they
        exist, because they survive a triggerer restart and the wait's do not.
    :param queue: the Kueue LocalQueue, if the job was sent to one.
    :param own_cluster: the job made its cluster. A job on a shared cluster counts no resources: the
        cluster's delete operator counts them, once.
    """
    from airflow_ray_k8s._lifecycle.jobs import parse_time

    seen = timings or {}
    created = _refine(parse_time(job.creation_timestamp), None) or _float(seen.get("queued_since"))
    admitted = created
    if queue:
        # The wait saw the admission to the second's fraction; KubeRay restarts ``startTime`` when
        # an admitted job initialises, which is the fallback after a restart of the triggerer.
        admitted = _float(seen.get("admitted_at")) or _refine(parse_time(job.start_time), None) or created
    running = _refine(parse_time(job.ray_job_start_time), _float(seen.get("running_at")))
    ended = _refine(
        parse_time(job.ray_job_end_time) or parse_time(job.end_time), _float(seen.get("ended_at"))
    )
    startup, run = _span(admitted, running), _span(running, ended)
    # Held = start-up + run, so the three figures agree even where an estimate of the start
    # precedes that of the admission (both in one second) and the start-up is clamped to 0.
    held = (startup or 0.0) + run if run is not None and own_cluster else None
    return RayJobFigures(
        outcome=outcome,
        reason=reason or "none",
        queue=queue,
        queue_wait=_span(created, admitted) if queue else None,
        startup=startup,
        cluster_startup=_span(admitted, _refine(parse_time(job.cluster_ready_time), None))
        if own_cluster
        else None,
        run=run,
        held=held,
        resources=Resources.from_quantities(job.desired_cpu, job.desired_memory, job.desired_gpu),
    )


def _refine(recorded: float | None, observed: float | None) -> float | None:
    """The best estimate of a moment from KubeRay's timestamp and the wait's observation of it.

    Kubernetes writes times in whole seconds, so the moment lies in the second after ``recorded``.
    The wait saw it a little later (the watch's delay, KubeRay's polling). An observation inside that
    second is a tight bound and is taken; one after it says only that the lag was long, and the
    middle of the second is then the estimate that is right on average.
    """
    if recorded is None:
        return observed
    if observed is not None and recorded <= observed <= recorded + 1.0:
        return observed
    return recorded + 0.5


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _span(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return max(end - start, 0.0)


def emit_rayjob(figures: RayJobFigures, tags: Mapping[str, str]) -> None:
    """Send a finished RayJob's figures (see the module docstring for the names)."""
    tags = {**tags, "queue": figures.queue or "none"}
    _timing(RAYJOB_QUEUE_WAIT, figures.queue_wait, tags)
    _timing(RAYJOB_STARTUP, figures.startup, tags)
    _timing(RAYJOB_CLUSTER_STARTUP, figures.cluster_startup, tags)
    _timing(RAYJOB_RUN, figures.run, tags)
    if figures.held is not None:
        _resources(f"{PREFIX}.rayjob", figures.resources, figures.held, tags)
    _outcome(RAYJOB_OUTCOME, figures.outcome, figures.reason, tags)


def emit_cluster_startup(event: Mapping[str, Any], tags: Mapping[str, str]) -> None:
    """Send a RayCluster's start-up time and outcome from its wait's event (``ready``, ``failed``,
    ``startup_timeout``; ``missing``, a cluster deleted meanwhile, counts as ``deleted``)."""
    from airflow_ray_k8s._lifecycle.jobs import parse_time

    kind = str(event.get("status") or "error")
    raw = event.get("cluster")
    cluster: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    created = parse_time(cluster.get("creation_timestamp"))
    seconds = _span(created, _float(event.get("observed_at"))) if kind == "ready" else None
    outcome = {"missing": "deleted"}.get(kind, kind)
    reason = {"startup_timeout": "StartupTimeout"}.get(kind) or str(cluster.get("reason") or "")
    _timing(RAYCLUSTER_STARTUP, seconds, tags)
    _outcome(RAYCLUSTER_OUTCOME, outcome, reason or "none", tags)


def emit_cluster_lifetime(resources: Resources, seconds: float, tags: Mapping[str, str]) -> None:
    """Send what a deleted RayCluster requested over its lifetime."""
    _resources(f"{PREFIX}.raycluster", resources, seconds, tags)


def task_tags(context: Mapping[str, Any], namespace: str) -> dict[str, str]:
    """The tags every figure of a task carries."""
    ti = context.get("ti")
    return {
        "dag_id": str(getattr(ti, "dag_id", "") or ""),
        "task_id": str(getattr(ti, "task_id", "") or ""),
        "namespace": namespace,
    }


def _resources(base: str, resources: Resources, seconds: float, tags: Mapping[str, str]) -> None:
    for suffix, amount in zip(RESOURCE_SUFFIXES, resources.times(seconds), strict=True):
        if amount > 0:
            _send("incr", f"{base}.{suffix}", amount, tags)


def _outcome(base: str, outcome: str, reason: str, tags: Mapping[str, str]) -> None:
    name = f"{base}.{_safe(outcome)}.{_safe(reason)}"
    _send("incr", name, 1, {**tags, "outcome": outcome, "reason": reason})


def _timing(name: str, seconds: float | None, tags: Mapping[str, str]) -> None:
    if seconds is not None:
        _send("timing", name, timedelta(seconds=seconds), tags)


def _safe(part: str) -> str:
    # A reason is one segment of a StatsD name: dots would split it.
    return _NAME_UNSAFE.sub("_", part) or "none"


def _send(kind: str, name: str, value: Any, tags: Mapping[str, str]) -> None:
    """Send one figure; a metrics backend that fails never fails the task."""
    try:
        stats = _stats()
        if kind == "timing":
            stats.timing(name, value, tags=dict(tags))
        else:
            stats.incr(name, value, tags=dict(tags))
    except Exception:
        log.warning("Could not send metric %s", name, exc_info=True)


def _stats() -> Any:
    try:  # Airflow >= 3.2: the Task SDK's stats module.
        from airflow.sdk.observability import stats

        return stats
    except ImportError:  # Airflow 3.1
        from airflow.stats import Stats

        return Stats
