"""Typed, pure value objects for the status of RayJob and RayCluster objects.

Built from the object dict the API returns (:meth:`RayJobStatus.from_object`), compared and
serialised without I/O. The reader is tolerant: a state this module does not know (a newer KubeRay)
is kept verbatim and treated as "not finished yet", never as a crash.

Facts from KubeRay v1.7 ``ray-operator/apis/ray/v1/rayjob_types.go`` and ``raycluster_types.go``
(see ``../shared/kuberay/FACTS.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# --- RayJob ---------------------------------------------------------------------------------------------

#: ``status.jobStatus``: the Ray job's own status, as reported by the dashboard.
JOB_PENDING = "PENDING"
JOB_RUNNING = "RUNNING"
JOB_STOPPED = "STOPPED"
JOB_SUCCEEDED = "SUCCEEDED"
JOB_FAILED = "FAILED"
KNOWN_JOB_STATUSES = frozenset({"", JOB_PENDING, JOB_RUNNING, JOB_STOPPED, JOB_SUCCEEDED, JOB_FAILED})
TERMINAL_JOB_STATUSES = frozenset({JOB_STOPPED, JOB_SUCCEEDED, JOB_FAILED})

#: ``status.jobDeploymentStatus``: KubeRay's view of the whole RayJob.
DEPLOYMENT_INITIALIZING = "Initializing"
DEPLOYMENT_RUNNING = "Running"
DEPLOYMENT_COMPLETE = "Complete"
DEPLOYMENT_FAILED = "Failed"
# A RayJob never leaves ValidationFailed: the controller stops reconciling it (rayjob_controller.go
# returns without requeue), so it is final although KubeRay does not list it among its terminal states.
# Retrying the same spec cannot succeed either, which is why callers should fail without retry.
DEPLOYMENT_VALIDATION_FAILED = "ValidationFailed"
DEPLOYMENT_SUSPENDING = "Suspending"
DEPLOYMENT_SUSPENDED = "Suspended"
# Retrying: the job failed and backoffLimit allows another attempt on a new cluster; not final.
DEPLOYMENT_RETRYING = "Retrying"
DEPLOYMENT_WAITING = "Waiting"
KNOWN_DEPLOYMENT_STATUSES = frozenset(
    {
        "",
        DEPLOYMENT_INITIALIZING,
        DEPLOYMENT_RUNNING,
        DEPLOYMENT_COMPLETE,
        DEPLOYMENT_FAILED,
        DEPLOYMENT_VALIDATION_FAILED,
        DEPLOYMENT_SUSPENDING,
        DEPLOYMENT_SUSPENDED,
        DEPLOYMENT_RETRYING,
        DEPLOYMENT_WAITING,
    }
)
TERMINAL_DEPLOYMENT_STATUSES = frozenset(
    {DEPLOYMENT_COMPLETE, DEPLOYMENT_FAILED, DEPLOYMENT_VALIDATION_FAILED}
)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Condition:
    """One entry of ``status.conditions`` (the standard ``metav1.Condition`` shape).

    :param type: e.g. ``RayClusterProvisioned``, ``HeadPodReady``, ``ReplicaFailure``.
    :param status: ``"True"``, ``"False"`` or ``"Unknown"``.
    """

    type: str
    status: str = "Unknown"
    reason: str = ""
    message: str = ""
    last_transition_time: str = ""

    @property
    def is_true(self) -> bool:
        """Whether the condition holds."""
        return self.status == "True"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        """Read one condition from its API form; missing fields become empty strings."""
        return cls(
            type=_str(data.get("type")),
            status=_str(data.get("status")) or "Unknown",
            reason=_str(data.get("reason")),
            message=_str(data.get("message")),
            last_transition_time=_str(data.get("lastTransitionTime") or data.get("last_transition_time")),
        )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _desired(status: Mapping[str, Any]) -> dict[str, str]:
    """``desiredCPU/Memory/GPU`` of a RayCluster status: what KubeRay sums over the head and every
    replica's requests (absent before the cluster exists)."""
    return {
        "desired_cpu": _str(status.get("desiredCPU")),
        "desired_memory": _str(status.get("desiredMemory")),
        "desired_gpu": _str(status.get("desiredGPU")),
    }


def _ready_time(status: Mapping[str, Any]) -> str:
    """When a RayCluster first became ready: ``stateTransitionTimes.ready``, else the time the
    ``RayClusterProvisioned`` condition turned true (``""`` if neither says)."""
    ready = _str(_mapping(status.get("stateTransitionTimes")).get("ready"))
    if ready:
        return ready
    for cond in _conditions(status):
        if cond.type == COND_PROVISIONED and cond.is_true:
            return cond.last_transition_time
    return ""


def _conditions(status: Mapping[str, Any]) -> tuple[Condition, ...]:
    raw = status.get("conditions")
    if not isinstance(raw, list):
        return ()
    return tuple(Condition.from_dict(c) for c in raw if isinstance(c, Mapping) and c.get("type"))


def _meta(obj: Mapping[str, Any]) -> tuple[str, str, str, int | None]:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    return (
        _str(meta.get("name")),
        _str(meta.get("namespace")),
        _str(meta.get("resourceVersion")),
        _int(meta.get("generation")),
    )


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


class _Conditions:
    conditions: tuple[Condition, ...]

    def condition(self, type_: str) -> Condition | None:
        """The condition of this type, if the controller has set it."""
        return next((c for c in self.conditions if c.type == type_), None)


@dataclass(frozen=True)
class RayJobStatus(_Conditions):
    """The status of one RayJob.

    Terminal means KubeRay will not change the outcome any more: ``jobDeploymentStatus`` is
    ``Complete``, ``Failed`` or ``ValidationFailed``. A terminal ``jobStatus`` alone is not enough,
    because with ``backoffLimit`` a failed attempt moves to ``Retrying`` on a new cluster.

    :param job_status: ``status.jobStatus`` verbatim (may be a value this module does not know).
    :param deployment_status: ``status.jobDeploymentStatus`` verbatim.
    :param reason: ``status.reason`` (``AppFailed``, ``DeadlineExceeded``, ``ValidationFailed``...).
    :param message: ``status.message``.
    :param ray_job_start_time: ``status.rayJobInfo.startTime``: when the Ray job (the driver) started,
        to the millisecond, unlike the second-resolution ``startTime`` (when KubeRay began deploying).
    :param cluster_ready_time: when the job's RayCluster first became ready (its status as KubeRay
        copies it into the RayJob's).
    :param desired_cpu: ``status.rayClusterStatus.desiredCPU`` (a quantity string), what the job's
        cluster requests; with ``desired_memory`` / ``desired_gpu``, the base of the resource metrics.
    """

    name: str = ""
    namespace: str = ""
    job_status: str = ""
    deployment_status: str = ""
    reason: str = ""
    message: str = ""
    job_id: str = ""
    ray_cluster_name: str = ""
    dashboard_url: str = ""
    start_time: str = ""
    end_time: str = ""
    creation_timestamp: str = ""
    ray_job_start_time: str = ""
    ray_job_end_time: str = ""
    cluster_ready_time: str = ""
    desired_cpu: str = ""
    desired_memory: str = ""
    desired_gpu: str = ""
    succeeded: int | None = None
    failed: int | None = None
    observed_generation: int | None = None
    generation: int | None = None
    resource_version: str = ""
    conditions: tuple[Condition, ...] = field(default_factory=tuple)

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> RayJobStatus:
        """Read the status of a RayJob object dict; an object without status is "not started"."""
        name, namespace, resource_version, generation = _meta(obj)
        st = _status(obj)
        info = _mapping(st.get("rayJobInfo"))
        cluster = _mapping(st.get("rayClusterStatus"))
        return cls(
            name=name,
            namespace=namespace,
            job_status=_str(st.get("jobStatus")),
            deployment_status=_str(st.get("jobDeploymentStatus")),
            reason=_str(st.get("reason")),
            message=_str(st.get("message")),
            job_id=_str(st.get("jobId")),
            ray_cluster_name=_str(st.get("rayClusterName")),
            dashboard_url=_str(st.get("dashboardURL")),
            start_time=_str(st.get("startTime")),
            end_time=_str(st.get("endTime")),
            creation_timestamp=_str(_mapping(obj.get("metadata")).get("creationTimestamp")),
            ray_job_start_time=_str(info.get("startTime")),
            ray_job_end_time=_str(info.get("endTime")),
            cluster_ready_time=_ready_time(cluster),
            **_desired(cluster),
            succeeded=_int(st.get("succeeded")),
            failed=_int(st.get("failed")),
            observed_generation=_int(st.get("observedGeneration")),
            generation=generation,
            resource_version=resource_version,
            conditions=_conditions(st),
        )

    @property
    def is_known(self) -> bool:
        """Whether both status fields hold values this module knows (False on a newer KubeRay)."""
        return self.job_status in KNOWN_JOB_STATUSES and self.deployment_status in KNOWN_DEPLOYMENT_STATUSES

    @property
    def is_terminal(self) -> bool:
        """KubeRay will not change the outcome any more (see the class docstring)."""
        return self.deployment_status in TERMINAL_DEPLOYMENT_STATUSES

    @property
    def is_success(self) -> bool:
        """The deployment completed and the Ray job succeeded."""
        return self.deployment_status == DEPLOYMENT_COMPLETE and self.job_status == JOB_SUCCEEDED

    @property
    def is_validation_failed(self) -> bool:
        """The spec was rejected; final, and a retry of the same spec cannot succeed."""
        return DEPLOYMENT_VALIDATION_FAILED in (self.deployment_status, self.reason)

    @property
    def is_running(self) -> bool:
        """The Ray job is running on its cluster."""
        return self.job_status == JOB_RUNNING

    @property
    def failure_reason(self) -> str | None:
        """A one-line, user-facing explanation when terminal and not successful, else ``None``."""
        if not self.is_terminal or self.is_success:
            return None
        parts = [f"jobDeploymentStatus={self.deployment_status}"]
        if self.job_status:
            parts.append(f"jobStatus={self.job_status}")
        if self.reason:
            parts.append(f"reason={self.reason}")
        text = ", ".join(parts)
        return f"{text}: {self.message}" if self.message else text

    @property
    def phase(self) -> str:
        """A short human-readable state for logs (``Running/RUNNING``)."""
        return f"{self.deployment_status or '<none>'}/{self.job_status or '<none>'}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (for trigger events); :meth:`from_json` reads it back."""
        data = asdict(self)
        data["conditions"] = [asdict(c) for c in self.conditions]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RayJobStatus:
        """Read what :meth:`to_json` wrote; unknown keys are ignored."""
        result: RayJobStatus = _from_json(cls, data)
        return result


# --- RayCluster -----------------------------------------------------------------------------------------

#: ``status.state`` (deprecated upstream in favour of conditions, still set by v1.7).
CLUSTER_READY = "ready"
CLUSTER_SUSPENDED = "suspended"
CLUSTER_FAILED = "failed"  # deprecated upstream; older operators still set it.
KNOWN_CLUSTER_STATES = frozenset({"", CLUSTER_READY, CLUSTER_SUSPENDED, CLUSTER_FAILED})

COND_PROVISIONED = "RayClusterProvisioned"
COND_HEAD_POD_READY = "HeadPodReady"
COND_REPLICA_FAILURE = "ReplicaFailure"
COND_SUSPENDING = "RayClusterSuspending"
COND_SUSPENDED = "RayClusterSuspended"


@dataclass(frozen=True)
class RayClusterStatus(_Conditions):
    """The status of one RayCluster.

    Ready means the head pod is ready and all pods were running at least once
    (condition ``RayClusterProvisioned`` True, or ``state: ready`` from operators without conditions).
    Terminal, for a caller waiting for the cluster to come up, means ready, failed or suspended.

    :param state: ``status.state`` verbatim.
    """

    name: str = ""
    namespace: str = ""
    state: str = ""
    reason: str = ""
    message: str = ""
    head_pod_name: str = ""
    head_pod_ip: str = ""
    head_service_name: str = ""
    head_service_ip: str = ""
    endpoints: tuple[tuple[str, str], ...] = ()
    ready_worker_replicas: int | None = None
    available_worker_replicas: int | None = None
    desired_worker_replicas: int | None = None
    desired_cpu: str = ""
    desired_memory: str = ""
    desired_gpu: str = ""
    creation_timestamp: str = ""
    observed_generation: int | None = None
    generation: int | None = None
    resource_version: str = ""
    conditions: tuple[Condition, ...] = field(default_factory=tuple)

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> RayClusterStatus:
        """Read the status of a RayCluster object dict; an object without status is "not ready"."""
        name, namespace, resource_version, generation = _meta(obj)
        st = _status(obj)
        head = st.get("head")
        head = head if isinstance(head, Mapping) else {}
        endpoints = st.get("endpoints")
        endpoints = endpoints if isinstance(endpoints, Mapping) else {}
        return cls(
            name=name,
            namespace=namespace,
            state=_str(st.get("state")),
            reason=_str(st.get("reason")),
            message=_str(st.get("message")),
            head_pod_name=_str(head.get("podName")),
            head_pod_ip=_str(head.get("podIP")),
            head_service_name=_str(head.get("serviceName")),
            head_service_ip=_str(head.get("serviceIP")),
            endpoints=tuple(sorted((str(k), str(v)) for k, v in endpoints.items())),
            ready_worker_replicas=_int(st.get("readyWorkerReplicas")),
            available_worker_replicas=_int(st.get("availableWorkerReplicas")),
            desired_worker_replicas=_int(st.get("desiredWorkerReplicas")),
            **_desired(st),
            creation_timestamp=_str(_mapping(obj.get("metadata")).get("creationTimestamp")),
            observed_generation=_int(st.get("observedGeneration")),
            generation=generation,
            resource_version=resource_version,
            conditions=_conditions(st),
        )

    @property
    def is_known(self) -> bool:
        """Whether ``state`` holds a value this module knows."""
        return self.state in KNOWN_CLUSTER_STATES

    @property
    def is_ready(self) -> bool:
        """Head ready and every pod running once (see the class docstring)."""
        provisioned = self.condition(COND_PROVISIONED)
        head = self.condition(COND_HEAD_POD_READY)
        if provisioned is not None:
            return provisioned.is_true and (head is None or head.is_true)
        return self.state == CLUSTER_READY

    @property
    def is_suspended(self) -> bool:
        """The cluster is suspended (its pods are deleted)."""
        cond = self.condition(COND_SUSPENDED)
        return self.state == CLUSTER_SUSPENDED or (cond is not None and cond.is_true)

    @property
    def is_failed(self) -> bool:
        """The (deprecated) ``failed`` state. ``ReplicaFailure`` alone is not final: pods are recreated."""
        return self.state == CLUSTER_FAILED

    @property
    def is_terminal(self) -> bool:
        """Nothing more to wait for: ready, failed or suspended."""
        return self.is_ready or self.is_failed or self.is_suspended

    @property
    def is_success(self) -> bool:
        """The cluster is ready."""
        return self.is_ready

    @property
    def failure_reason(self) -> str | None:
        """A one-line explanation when the cluster failed or reports a replica failure, else ``None``."""
        if self.is_ready:
            return None
        replica = self.condition(COND_REPLICA_FAILURE)
        if self.is_failed or self.is_suspended or (replica is not None and replica.is_true):
            parts = [f"state={self.state or '<none>'}"]
            if replica is not None and replica.is_true:
                parts.append(f"{COND_REPLICA_FAILURE}: {replica.reason} {replica.message}".strip())
            elif self.reason or self.message:
                parts.append(f"{self.reason} {self.message}".strip())
            return ", ".join(parts)
        return None

    @property
    def phase(self) -> str:
        """A short human-readable state for logs."""
        if self.is_ready:
            return "ready"
        return self.state or "provisioning"

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (for trigger events); :meth:`from_json` reads it back."""
        data = asdict(self)
        data["endpoints"] = [list(e) for e in self.endpoints]
        data["conditions"] = [asdict(c) for c in self.conditions]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RayClusterStatus:
        """Read what :meth:`to_json` wrote; unknown keys are ignored."""
        result: RayClusterStatus = _from_json(cls, data)
        return result


def _from_json(cls: type[Any], data: Mapping[str, Any]) -> Any:
    names = set(cls.__dataclass_fields__)
    kwargs: dict[str, Any] = {k: v for k, v in data.items() if k in names}
    kwargs["conditions"] = tuple(
        Condition(**{k: v for k, v in c.items() if k in Condition.__dataclass_fields__})
        for c in data.get("conditions") or ()
        if isinstance(c, Mapping)
    )
    if "endpoints" in kwargs:
        kwargs["endpoints"] = tuple(tuple(e) for e in kwargs["endpoints"] or ())
    return cls(**kwargs)


__all__ = [
    "CLUSTER_FAILED",
    "CLUSTER_READY",
    "CLUSTER_SUSPENDED",
    "COND_HEAD_POD_READY",
    "COND_PROVISIONED",
    "COND_REPLICA_FAILURE",
    "COND_SUSPENDED",
    "COND_SUSPENDING",
    "DEPLOYMENT_COMPLETE",
    "DEPLOYMENT_FAILED",
    "DEPLOYMENT_INITIALIZING",
    "DEPLOYMENT_RETRYING",
    "DEPLOYMENT_RUNNING",
    "DEPLOYMENT_SUSPENDED",
    "DEPLOYMENT_SUSPENDING",
    "DEPLOYMENT_VALIDATION_FAILED",
    "DEPLOYMENT_WAITING",
    "JOB_FAILED",
    "JOB_PENDING",
    "JOB_RUNNING",
    "JOB_STOPPED",
    "JOB_SUCCEEDED",
    "KNOWN_CLUSTER_STATES",
    "KNOWN_DEPLOYMENT_STATUSES",
    "KNOWN_JOB_STATUSES",
    "TERMINAL_DEPLOYMENT_STATUSES",
    "TERMINAL_JOB_STATUSES",
    "Condition",
    "RayClusterStatus",
    "RayJobStatus",
]
