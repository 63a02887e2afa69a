"""The emulated KubeRay v1.7 operator: RayCluster, RayJob and RayService controllers over the emulator's
object store, running real Ray heads (``mode="ray"``) or none (``mode="scripted"``).

The API side (``server.LocalKubeRay``) constructs it as
``KubeRayController(store, proxies, mode=..., workdir=..., **options)``, awaits :meth:`run` on its
event loop and :meth:`shutdown` on stop; shutdown stops and reaps every Ray process.

Like controller-runtime, changes to RayJobs and RayClusters (including the controller's own writes)
are queued by key and reconciled one key at a time; a RayCluster's change also requeues the RayJobs
that use it. Timers (deadlines, TTLs, polling a running job in Ray mode) are delayed re-adds.

Not emulated: worker pods and processes (a cluster's worker groups are reported ready in the
status; the head runs the work), the submitter Kubernetes Job of K8sJobMode / SidecarMode (every
mode submits over HTTP, as HTTPMode does), autoscaling. RayServices: see ``rayservice_controller.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from airflow_ray_k8s.resources import EVENT, POD, RAYCLUSTER, RAYJOB, RAYSERVICE, Resource
from airflow_ray_k8s.testing.emulator import manifests as m
from airflow_ray_k8s.testing.emulator.kueue import LocalQueues, check_local_queues
from airflow_ray_k8s.testing.emulator.raycluster_controller import RayClusterController
from airflow_ray_k8s.testing.emulator.rayjob_controller import RayJobController
from airflow_ray_k8s.testing.emulator.rayservice_controller import RayServiceController
from airflow_ray_k8s.testing.emulator.runtime import ClusterKey, ClusterRuntime
from airflow_ray_k8s.testing.emulator.workqueue import WorkQueue

log = logging.getLogger(__name__)

WorkKey = tuple[str, str, str]
"""``(kind, namespace, name)``."""


@dataclass
class ControllerOptions:
    """Settings of the emulated operator (all keyword arguments of :class:`KubeRayController`).

    :param max_heads: cap on real Ray heads starting or running at once (each ~700 MiB).
    :param head_num_cpus: ``--num-cpus`` of a head whose spec names no CPUs.
    :param max_head_cpus: ceiling on a head's ``--num-cpus`` whatever its spec asks.
    :param head_start_timeout: seconds a real head may take to answer its dashboard.
    :param head_stop_grace: seconds between SIGTERM and SIGKILL of a head's process group.
    :param scripted_ready_delay: scripted mode: seconds until a cluster is ready.
    :param scripted_job_duration: scripted mode: default seconds from submission to a job's end.
    :param scripted_outcome: scripted mode: default job end, ``SUCCEEDED`` or ``FAILED``.
    :param job_poll_interval: Ray mode: seconds between job status checks of a running RayJob.
    :param serve_poll_interval: seconds between reads of the Serve application statuses of a
        RayService that is deploying or upgrading (KubeRay: 2 s).
    :param requeue_seconds: KubeRay's default requeue (3 s) for waits with nothing to watch.
    :param job_status_check_timeout: seconds a running job's status may be unreadable (head crashed)
        before the RayJob fails with ``JobStatusCheckTimeoutExceeded``.
    :param transition_grace_period: KubeRay's
        ``RAYJOB_DEPLOYMENT_STATUS_TRANSITION_GRACE_PERIOD_SECONDS``.
    :param delete_rayjob_after_job_finishes: the operator's ``DELETE_RAYJOB_CR_AFTER_JOB_FINISHES``.
    :param reconcile_workers: reconciles running concurrently (never two of the same object).
    :param feature_gates: the operator's ``--feature-gates`` over the Helm chart's defaults
        (``{"RayJobDeletionPolicy": False}`` emulates an operator that rejects ``deletionStrategy``).
    :param local_queues: Kueue LocalQueues as ``{name: slots}``: suspended RayJobs / RayClusters
        labelled ``kueue.x-k8s.io/queue-name`` are admitted while the queue has a free slot
        (see ``kueue.py``). Empty: no Kueue, nothing is admitted.
    """

    max_heads: int = 2
    head_num_cpus: int = 1
    max_head_cpus: int = 2
    head_start_timeout: float = 180.0
    head_stop_grace: float = 3.0
    scripted_ready_delay: float = 0.2
    scripted_job_duration: float = 0.5
    scripted_outcome: str = "SUCCEEDED"
    job_poll_interval: float = 0.5
    serve_poll_interval: float = 0.25
    requeue_seconds: float = 3.0
    job_status_check_timeout: float = 60.0
    transition_grace_period: float = 300.0
    delete_rayjob_after_job_finishes: bool = False
    reconcile_workers: int = 4
    feature_gates: dict[str, bool] = field(default_factory=dict)
    local_queues: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> ControllerOptions:
        """Options from keyword arguments; unknown names are an error (a typo must not pass)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(
                f"unknown KubeRayController option(s): {', '.join(unknown)}; known: {sorted(known)}"
            )
        options = cls(**kwargs)
        options.local_queues = check_local_queues(options.local_queues)
        return options


class ControllerFaults:
    """Fault injection owned by the controller; call on the emulator loop (``kr.call``).

    Per-object faults are annotations (see ``annotations.py``); this is the imperative side.
    """

    def __init__(self, ctl: KubeRayController) -> None:
        self._ctl = ctl

    def crash_head(self, namespace: str, cluster: str) -> bool:
        """Kill the head of a RayCluster now (SIGKILL to its process group in Ray mode)."""
        crashed = self._ctl.runtime.crash((namespace, cluster))
        self._ctl.queue.add(("RayCluster", namespace, cluster))
        return crashed


class KubeRayController:
    """The emulated KubeRay operator.

    :param store: the emulator's object store (``store.ObjectStore``).
    :param proxies: the service proxy registry (``service_proxy.ServiceProxies``).
    :param mode: ``"ray"`` (real heads) or ``"scripted"`` (no Ray processes).
    :param workdir: where head pgids are recorded; a temporary folder when None.
    :param options: see :class:`ControllerOptions`.
    """

    def __init__(
        self, store: Any, proxies: Any, *, mode: str = "ray", workdir: Path | None = None, **options: Any
    ) -> None:
        if mode not in ("ray", "scripted"):
            raise ValueError(f"mode must be 'ray' or 'scripted', not {mode!r}")
        self.store = store
        self.proxies = proxies
        self.mode = mode
        self.options = ControllerOptions.from_kwargs(options)
        self.workdir = (
            Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="kuberay-emulator-"))
        )
        self.runtime: ClusterRuntime = self._make_runtime()
        self.queue: WorkQueue[WorkKey] = WorkQueue(self._reconcile, workers=self.options.reconcile_workers)
        self.clusters = RayClusterController(self)
        self.jobs = RayJobController(self)
        self.services = RayServiceController(self)
        self.faults = ControllerFaults(self)
        self.kueue = LocalQueues(store, self.options.local_queues)
        self._jobs_by_cluster: dict[ClusterKey, set[tuple[str, str]]] = {}
        self._cluster_of_job: dict[tuple[str, str], ClusterKey] = {}
        self._events: asyncio.Queue[tuple[str, Resource, dict[str, Any]]] | None = None
        self._pump: asyncio.Task[None] | None = None
        self.events_recorded = 0

    def _make_runtime(self) -> ClusterRuntime:
        if self.mode == "scripted":
            from airflow_ray_k8s.testing.emulator.scripted import ScriptedRuntime

            runtime = ScriptedRuntime(
                ready_delay=self.options.scripted_ready_delay,
                job_duration=self.options.scripted_job_duration,
                outcome=self.options.scripted_outcome,
            )
            runtime.on_job_change = self._jobs_changed
            return runtime
        from airflow_ray_k8s.testing.emulator.headpool import RayRuntime

        return RayRuntime(
            self.workdir,
            max_heads=self.options.max_heads,
            default_num_cpus=self.options.head_num_cpus,
            max_num_cpus=self.options.max_head_cpus,
            start_timeout=self.options.head_start_timeout,
            stop_grace=self.options.head_stop_grace,
        )

    # --- lifecycle --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Start watching the store and reconciling; returns once running (work continues in tasks)."""
        opener = getattr(self.runtime, "open", None)
        if opener is not None:
            await opener()
        self._events = self.store.subscribe()
        self.queue.start()
        self._pump = asyncio.create_task(self._pump_events(), name="kuberay-controller-events")
        for pod in self.store.list(POD):
            self.clusters.index_pod("ADDED", pod)
        for obj in self.store.list(RAYCLUSTER):
            self.queue.add(("RayCluster", obj["metadata"]["namespace"], obj["metadata"]["name"]))
        for obj in self.store.list(RAYJOB):
            self.queue.add(("RayJob", obj["metadata"]["namespace"], obj["metadata"]["name"]))
        for obj in self.store.list(RAYSERVICE):
            self.queue.add(("RayService", obj["metadata"]["namespace"], obj["metadata"]["name"]))
        self.kueue.admit()

    async def start(self) -> None:
        """Alias of :meth:`run` (the facade calls ``start`` when a controller has one)."""
        await self.run()

    async def shutdown(self) -> None:
        """Stop reconciling and stop every head (every Ray process is reaped)."""
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        if self._events is not None:
            with contextlib.suppress(Exception):
                self.store.unsubscribe(self._events)
        await self.queue.stop()
        await self.services.close()
        await self.runtime.close()

    async def _pump_events(self) -> None:
        assert self._events is not None
        while True:
            _type, res, obj = await self._events.get()
            if res in (RAYJOB, RAYCLUSTER):
                # Kueue: a change may free a slot (or add a workload); its own writes come back here.
                self.kueue.admit()
            meta = obj.get("metadata") or {}
            namespace, name = meta.get("namespace", ""), meta.get("name", "")
            if res == RAYJOB:
                self.queue.add(("RayJob", namespace, name))
            elif res == RAYSERVICE:
                self.queue.add(("RayService", namespace, name))
            elif res == RAYCLUSTER:
                self.queue.add(("RayCluster", namespace, name))
                for job in self._jobs_by_cluster.get((namespace, name), ()):
                    self.queue.add(("RayJob", *job))
                labels = meta.get("labels") or {}
                if labels.get("ray.io/originated-from-crd") == "RayService":
                    owner = labels.get("ray.io/originated-from-cr-name")
                    if owner:
                        self.queue.add(("RayService", namespace, owner))
            elif (
                res == POD
                and _type == "DELETED"
                and (meta.get("labels") or {}).get("ray.io/node-type") == "head"
            ):
                cluster = (meta.get("labels") or {}).get("ray.io/cluster")
                if cluster:
                    self.queue.add(("RayCluster", namespace, cluster))

    async def _reconcile(self, key: WorkKey) -> float | None:
        kind, namespace, name = key
        if kind == "RayCluster":
            return await self.clusters.reconcile((namespace, name))
        if kind == "RayService":
            return await self.services.reconcile((namespace, name))
        return await self.jobs.reconcile((namespace, name))

    # --- shared services of the two controllers ---------------------------------------------------

    def index_job(self, job: tuple[str, str], cluster: ClusterKey) -> None:
        """Remember that ``job`` uses ``cluster`` (its changes requeue the job)."""
        previous = self._cluster_of_job.get(job)
        if previous == cluster:
            return
        if previous is not None:
            self._jobs_by_cluster.get(previous, set()).discard(job)
        self._cluster_of_job[job] = cluster
        self._jobs_by_cluster.setdefault(cluster, set()).add(job)

    def unindex_job(self, job: tuple[str, str]) -> None:
        """Forget the cluster of a job that is gone or released its cluster."""
        cluster = self._cluster_of_job.pop(job, None)
        if cluster is not None:
            users = self._jobs_by_cluster.get(cluster)
            if users is not None:
                users.discard(job)
                if not users:
                    del self._jobs_by_cluster[cluster]

    def cluster_gone(self, cluster: ClusterKey) -> None:
        """A cluster's head stopped: requeue its jobs."""
        for job in self._jobs_by_cluster.get(cluster, ()):
            self.queue.add(("RayJob", *job))

    def _jobs_changed(self, cluster: ClusterKey) -> None:
        for job in self._jobs_by_cluster.get(cluster, ()):
            self.queue.add(("RayJob", *job))

    def plan_scripted_job(self, cluster: ClusterKey, job: dict[str, Any], submission_id: str) -> None:
        """Scripted mode: pass the RayJob's outcome / duration / driver-log annotations to the fake head."""
        planner = getattr(self.runtime, "plan", None)
        if planner is not None:
            outcome, duration, driver_log = self.jobs.scripted_plan(job)
            planner(cluster, submission_id, outcome, duration, driver_log)

    def record_event(
        self, obj: dict[str, Any], kind: str, etype: str, reason: str, message: str, component: str
    ) -> None:
        """Create a core/v1 Event about ``obj`` (best effort, like client-go's recorder)."""
        try:
            self.store.create(EVENT, m.event(obj, kind, etype, reason, message, component))
            self.events_recorded += 1
        except Exception as exc:  # an event that cannot be written must not fail a reconcile
            log.debug("could not record event %s on %s: %s", reason, obj.get("metadata", {}).get("name"), exc)
