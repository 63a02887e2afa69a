"""RayCluster reconciliation (KubeRay v1.7 semantics) against the emulator's object store.

A RayCluster gets its ``<cluster>-head-svc`` Service and a head Pod (owned by the RayCluster, so
deleting it cascades), then a head from the runtime; once the head answers, the pod is reported
Running on 127.0.0.1, the service proxy forwards ``dashboard``/8265 to the head, and the status
says ``ready`` with ``HeadPodReady`` and ``RayClusterProvisioned``. ``suspend`` stops the head and
reports ``RayClusterSuspending`` then ``RayClusterSuspended``. Injected faults (annotations) keep
the head pod in ImagePullBackOff / ErrImagePull / Unschedulable with the matching events.

Worker groups are accounted for in the status (desired = ready = available replicas; the work
runs on the head) but no worker processes or pods are started: see the module docs of
``controller.py``.
"""

from __future__ import annotations

import copy
import logging
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_ray_k8s.resources import POD, RAYCLUSTER, SERVICE
from airflow_ray_k8s.specs.quantity import format_bytes, parse_quantity
from airflow_ray_k8s.testing.emulator import annotations as ann
from airflow_ray_k8s.testing.emulator import manifests as m
from airflow_ray_k8s.testing.emulator.runtime import CapacityError, ClusterKey, HeadState
from airflow_ray_k8s.testing.emulator.validation import validate_raycluster

if TYPE_CHECKING:
    from airflow_ray_k8s.testing.emulator.controller import KubeRayController

log = logging.getLogger(__name__)

KUBERAY_MANAGER = "ray.io/kuberay-operator"
_CONDITION_TYPES = (
    "HeadPodReady",
    "RayClusterProvisioned",
    "ReplicaFailure",
    "RayClusterSuspending",
    "RayClusterSuspended",
)


def _worker_counts(spec: dict[str, Any]) -> dict[str, int]:
    desired = minimum = maximum = 0
    for group in spec.get("workerGroupSpecs") or []:
        hosts = int(group.get("numOfHosts") or 1)
        replicas = int(group.get("replicas", group.get("minReplicas", 0)) or 0)
        if group.get("suspend"):
            replicas = 0
        desired += replicas * hosts
        minimum += int(group.get("minReplicas") or 0) * hosts
        maximum += int(group.get("maxReplicas") or 0) * hosts
    return {"desired": desired, "min": minimum, "max": maximum}


def _pod_resources(template: dict[str, Any]) -> dict[str, Decimal]:
    # KubeRay's CalculatePodResource: each container's requests, its limits where no request.
    total: dict[str, Decimal] = {}
    for container in (template.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name, value in merged.items():
            total[name] = total.get(name, Decimal(0)) + parse_quantity(value)
    return total


def _cpu(amount: Decimal) -> str:
    return str(int(amount)) if amount == amount.to_integral_value() else f"{int(amount * 1000)}m"


def desired_resources(spec: dict[str, Any]) -> dict[str, str]:
    """``status.desiredCPU/Memory/GPU/TPU`` as KubeRay sums them: the head and every replica of the
    worker groups that are not suspended, times their hosts."""
    total = _pod_resources((spec.get("headGroupSpec") or {}).get("template") or {})
    for group in spec.get("workerGroupSpecs") or []:
        if group.get("suspend"):
            continue
        copies = int(group.get("replicas", group.get("minReplicas", 0)) or 0) * int(
            group.get("numOfHosts") or 1
        )
        for name, value in _pod_resources(group.get("template") or {}).items():
            total[name] = total.get(name, Decimal(0)) + value * copies
    gpus = sum((v for k, v in total.items() if k.endswith("/gpu")), Decimal(0))
    return {
        "desiredCPU": _cpu(total.get("cpu", Decimal(0))),
        "desiredMemory": format_bytes(total.get("memory", Decimal(0))),
        "desiredGPU": _cpu(gpus),
        "desiredTPU": _cpu(total.get("google.com/tpu", Decimal(0))),
    }


class RayClusterController:
    """Reconciles RayClusters; owned by :class:`~.controller.KubeRayController`."""

    def __init__(self, ctl: KubeRayController) -> None:
        self.ctl = ctl
        self._warned: dict[ClusterKey, str] = {}
        self._fault_applied: dict[ClusterKey, str] = {}
        self._crash_scheduled: set[ClusterKey] = set()
        self._ready_at: dict[ClusterKey, float] = {}
        self._start_failures: dict[ClusterKey, int] = {}
        self._failed_at: dict[ClusterKey, float] = {}
        self._head_pods: dict[ClusterKey, str] = {}

    # --- helpers ----------------------------------------------------------------------------------

    def _event(
        self, obj: dict[str, Any], kind: str, etype: str, reason: str, message: str, component: str
    ) -> None:
        self.ctl.record_event(obj, kind, etype, reason, message, component)

    def index_pod(self, event_type: str, pod: dict[str, Any]) -> None:
        """Track head pods by cluster from the store's change feed.

        A label-selector list scans every pod, O(clusters) per reconcile; with thousands of
        clusters that dominated the scripted mode's cost.
        """
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        if labels.get("ray.io/node-type") != "head" or not labels.get("ray.io/cluster"):
            return
        key = (meta.get("namespace", ""), labels["ray.io/cluster"])
        if event_type == "DELETED" or meta.get("deletionTimestamp"):
            if self._head_pods.get(key) == meta.get("name"):
                self._head_pods.pop(key, None)
        else:
            self._head_pods[key] = meta["name"]

    def _head_pod(self, key: ClusterKey) -> dict[str, Any] | None:
        name = self._head_pods.get(key)
        pod: dict[str, Any] | None = self.ctl.store.get(POD, key[0], name) if name else None
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return None
        return pod

    def _write_status(self, rc: dict[str, Any], status: dict[str, Any]) -> None:
        old = rc.get("status") or {}
        compare_old = {k: v for k, v in old.items() if k != "lastUpdateTime"}
        compare_new = {k: v for k, v in status.items() if k != "lastUpdateTime"}
        if compare_old == compare_new:
            return
        status["lastUpdateTime"] = m.now_rfc3339()
        patch = m.merge_patch(old, status)
        meta = rc["metadata"]
        self.ctl.store.patch(
            RAYCLUSTER, meta["namespace"], meta["name"], {"status": patch}, subresource="status"
        )

    @staticmethod
    def _conditions(status: dict[str, Any], *conditions: dict[str, Any]) -> None:
        by_type = {c["type"]: c for c in status.get("conditions") or []}
        for cond in conditions:
            by_type[cond["type"]] = cond
        status["conditions"] = [by_type[t] for t in _CONDITION_TYPES if t in by_type]

    def _set_pod_status(self, pod: dict[str, Any], pod_status: dict[str, Any]) -> None:
        if pod.get("status") == pod_status:
            return
        meta = pod["metadata"]
        patch = m.merge_patch(pod.get("status") or {}, pod_status)
        self.ctl.store.patch(POD, meta["namespace"], meta["name"], {"status": patch}, subresource="status")

    # --- reconcile --------------------------------------------------------------------------------

    async def reconcile(self, key: ClusterKey) -> float | None:
        """One pass over one RayCluster; returns seconds until the next pass, if one is needed."""
        rc = self.ctl.store.get(RAYCLUSTER, *key)
        if rc is None or rc["metadata"].get("deletionTimestamp"):
            await self.teardown(key)
            return None
        manager = (rc.get("spec") or {}).get("managedBy")
        if manager and manager != KUBERAY_MANAGER:
            return None
        message = validate_raycluster(rc)
        if message is not None:
            if self._warned.get(key) != message:
                self._warned[key] = message
                self._event(
                    rc, "RayCluster", "Warning", "InvalidRayClusterSpec", message, "raycluster-controller"
                )
            return None
        self._warned.pop(key, None)
        spec = rc.get("spec") or {}
        status = copy.deepcopy(rc.get("status") or {})
        status["observedGeneration"] = rc["metadata"].get("generation", 1)
        workers = _worker_counts(spec)
        if spec.get("suspend"):
            return await self._suspend(key, rc, status)
        if any(
            c.get("type") == "RayClusterSuspended" and c.get("status") == "True"
            for c in status.get("conditions") or []
        ):
            status.pop("state", None)
        # As KubeRay (status conditions gate on) writes on every pass of a cluster not suspended:
        # both suspend conditions, False.
        self._conditions(
            status,
            m.condition("RayClusterSuspended", False, "RayClusterSuspended", "", status.get("conditions")),
            m.condition("RayClusterSuspending", False, "RayClusterSuspending", "", status.get("conditions")),
        )

        service = self.ctl.store.get(SERVICE, key[0], f"{key[1]}-head-svc")
        if service is None:
            service = self.ctl.store.create(SERVICE, m.head_service(rc))
            self._event(
                rc,
                "RayCluster",
                "Normal",
                "CreatedService",
                f"Created service {key[0]}/{service['metadata']['name']}",
                "raycluster-controller",
            )
        pod = self._head_pod(key)
        if pod is None:
            pod = self.ctl.store.create(POD, m.head_pod(rc))
            self._head_pods[key] = pod["metadata"]["name"]
            self._event(
                rc,
                "RayCluster",
                "Normal",
                "CreatedHeadPod",
                f"Created head Pod {key[0]}/{pod['metadata']['name']}",
                "raycluster-controller",
            )

        provisioning = m.condition(
            "RayClusterProvisioned",
            False,
            "RayClusterPodsProvisioning",
            "RayCluster Pods are being provisioned for first time",
            status.get("conditions"),
        )
        fault = ann.head_fault(rc)
        if fault is not None:
            self._apply_fault(key, rc, pod, fault)
            reason = "Unschedulable" if fault == "Unschedulable" else fault
            self._conditions(
                status,
                provisioning,
                m.condition(
                    "HeadPodReady",
                    False,
                    reason,
                    f"head Pod {pod['metadata']['name']} is not ready: {reason}",
                    status.get("conditions"),
                ),
            )
            self._apply_counts(status, rc, workers, ready=False)
            self._write_status(rc, status)
            return None

        delay = ann.seconds(rc, ann.PROVISION_DELAY)
        created = m.parse_time(rc["metadata"].get("creationTimestamp")) or time.time()
        if delay and time.time() < created + delay and self.ctl.runtime.status(key).state is HeadState.ABSENT:
            self._conditions(
                status,
                provisioning,
                m.condition(
                    "HeadPodReady",
                    False,
                    "ContainersNotReady",
                    "the head Pod is being provisioned",
                    status.get("conditions"),
                ),
            )
            self._apply_counts(status, rc, workers, ready=False)
            self._write_status(rc, status)
            return created + delay - time.time()

        head = self.ctl.runtime.status(key)
        requeue: float | None = None
        if head.state in (HeadState.ABSENT, HeadState.WAITING, HeadState.FAILED):
            requeue = self._start(key, rc, status, head.state is HeadState.FAILED, head.message)
            head = self.ctl.runtime.status(key)
        if head.state is HeadState.STARTING:
            self._conditions(
                status,
                provisioning,
                m.condition(
                    "HeadPodReady",
                    False,
                    "ContainersNotReady",
                    "the Ray head is starting",
                    status.get("conditions"),
                ),
            )
            self._apply_counts(status, rc, workers, ready=False)
        elif head.state is HeadState.READY:
            self._ready(key, rc, pod, status, workers)
            requeue = self._maybe_schedule_crash(key, rc)
        elif head.state is HeadState.FAILED:
            self._conditions(
                status,
                provisioning,
                m.condition(
                    "HeadPodReady",
                    False,
                    "ContainersNotReady",
                    f"the Ray head failed to start: {head.message[:300]}",
                    status.get("conditions"),
                ),
            )
            self._apply_counts(status, rc, workers, ready=False)
        elif head.state is HeadState.CRASHED:
            self.ctl.proxies.unregister(key[0], f"{key[1]}-head-svc")
            self._set_pod_status(pod, m.crashed_pod_status(pod, head.message))
            self._conditions(
                status,
                m.condition(
                    "HeadPodReady",
                    False,
                    "ContainersNotReady",
                    f"the Ray head crashed: {head.message[:200]}",
                    status.get("conditions"),
                ),
            )
            status["head"] = {**(status.get("head") or {}), "podIP": ""}
        self._write_status(rc, status)
        return requeue

    def _counts(self, workers: dict[str, int], ready: bool) -> dict[str, Any]:
        return {
            "desiredWorkerReplicas": workers["desired"],
            "minWorkerReplicas": workers["min"],
            "maxWorkerReplicas": workers["max"],
            "readyWorkerReplicas": workers["desired"] if ready else 0,
            "availableWorkerReplicas": workers["desired"] if ready else 0,
        }

    def _apply_counts(
        self, status: dict[str, Any], rc: dict[str, Any], workers: dict[str, int], ready: bool
    ) -> None:
        # KubeRay's replica counts are `int32 ... omitempty`: a zero is absent, not 0. Its desired
        # resources are Quantities (no omitempty), always present.
        for key, value in self._counts(workers, ready).items():
            if value:
                status[key] = value
            else:
                status.pop(key, None)
        status.update(desired_resources(rc.get("spec") or {}))

    def _start(
        self,
        key: ClusterKey,
        rc: dict[str, Any],
        status: dict[str, Any],
        failed_before: bool,
        last_error: str,
    ) -> float | None:
        if failed_before:
            # Like the kubelet's CrashLoopBackOff: wait longer after each failed start.
            failures = self._start_failures.get(key, 0) + 1
            self._start_failures[key] = failures
            backoff = min(5.0 * 2.0 ** (failures - 1), 60.0)
            if time.monotonic() < self._failed_at.setdefault(key, time.monotonic()) + backoff:
                self._start_failures[key] = failures - 1
                return self._failed_at[key] + backoff - time.monotonic()
            self._failed_at.pop(key, None)
            self._event(
                rc,
                "RayCluster",
                "Warning",
                "FailedToStartHead",
                f"the Ray head did not start: {last_error[:300]}",
                "raycluster-controller",
            )
        try:
            self.ctl.runtime.start(
                key, rc.get("spec") or {}, lambda: self.ctl.queue.add(("RayCluster", *key))
            )
        except CapacityError as exc:
            message = str(exc)
            self._conditions(
                status,
                m.condition("ReplicaFailure", True, "FailedCreateHeadPod", message, status.get("conditions")),
            )
            if self._warned.get(key) != message:
                self._warned[key] = message
                self._event(
                    rc, "RayCluster", "Warning", "FailedToCreateHeadPod", message, "raycluster-controller"
                )
            return 2.0
        if any(c.get("type") == "ReplicaFailure" for c in status.get("conditions") or []):
            self._conditions(
                status, m.condition("ReplicaFailure", False, "HeadPodCreated", "", status.get("conditions"))
            )
        return None

    def _ready(
        self,
        key: ClusterKey,
        rc: dict[str, Any],
        pod: dict[str, Any],
        status: dict[str, Any],
        workers: dict[str, int],
    ) -> None:
        service_name = f"{key[1]}-head-svc"
        url = self.ctl.runtime.dashboard_url(key)
        ports = m.head_ports(rc.get("spec") or {})
        self.ctl.proxies.register(key[0], service_name, "dashboard", url)
        self.ctl.proxies.register(key[0], service_name, ports.get("dashboard", 8265), url)
        started = (pod.get("status") or {}).get("startTime") or m.now_rfc3339()
        self._set_pod_status(pod, m.running_pod_status(pod, started))
        self._start_failures.pop(key, None)
        self._conditions(
            status,
            m.condition("HeadPodReady", True, "HeadPodRunningAndReady", "", status.get("conditions")),
            m.condition(
                "RayClusterProvisioned",
                True,
                "AllPodRunningAndReadyFirstTime",
                "All Ray Pods are ready for the first time",
                status.get("conditions"),
            ),
        )
        status["state"] = "ready"
        times = dict(status.get("stateTransitionTimes") or {})
        times.setdefault("ready", m.now_rfc3339())
        status["stateTransitionTimes"] = times
        status["head"] = {
            "podIP": "127.0.0.1",
            "serviceIP": "127.0.0.1",
            "podName": pod["metadata"]["name"],
            "serviceName": service_name,
        }
        status["endpoints"] = {name: str(port) for name, port in ports.items()}
        self._apply_counts(status, rc, workers, ready=True)
        status.pop("reason", None)

    def _maybe_schedule_crash(self, key: ClusterKey, rc: dict[str, Any]) -> float | None:
        after = ann.seconds(rc, ann.HEAD_CRASH_AFTER)
        if after is None or key in self._crash_scheduled:
            return None
        ready_at = self._ready_at.setdefault(key, time.monotonic())
        remaining = ready_at + after - time.monotonic()
        if remaining > 0:
            return remaining
        self._crash_scheduled.add(key)
        log.info("fault injection: crashing the Ray head of %s/%s", *key)
        self.ctl.runtime.crash(key)
        return None

    def _apply_fault(self, key: ClusterKey, rc: dict[str, Any], pod: dict[str, Any], fault: str) -> None:
        if self._fault_applied.get(key) == fault:
            return
        self._fault_applied[key] = fault
        if fault == "Unschedulable":
            self._set_pod_status(pod, m.unschedulable_pod_status())
            self._event(
                pod, "Pod", "Warning", "FailedScheduling", m.UNSCHEDULABLE_MESSAGE, "default-scheduler"
            )
            return
        self._event(
            pod,
            "Pod",
            "Normal",
            "Scheduled",
            f"Successfully assigned {key[0]}/{pod['metadata']['name']} to emulator-node",
            "default-scheduler",
        )
        self._set_pod_status(pod, m.image_pull_pod_status(pod, fault))
        for etype, reason, message in m.image_pull_events(pod, fault):
            self._event(pod, "Pod", etype, reason, message, "kubelet")

    async def _suspend(self, key: ClusterKey, rc: dict[str, Any], status: dict[str, Any]) -> float | None:
        conditions = status.get("conditions")
        suspended = any(
            c.get("type") == "RayClusterSuspended" and c.get("status") == "True" for c in conditions or []
        )
        if suspended and self.ctl.runtime.status(key).state is HeadState.ABSENT:
            return None
        self._conditions(
            status, m.condition("RayClusterSuspending", True, "RayClusterSuspending", "", conditions)
        )
        self._write_status(rc, status)
        await self.stop_head(key)
        for pod in self.ctl.store.list(POD, key[0], label_selector={"ray.io/cluster": key[1]}):
            self.ctl.store.delete(POD, key[0], pod["metadata"]["name"])
        rc = self.ctl.store.get(RAYCLUSTER, *key) or rc
        status = copy.deepcopy(rc.get("status") or {})
        conditions = status.get("conditions")
        self._conditions(
            status,
            m.condition("RayClusterSuspending", False, "RayClusterSuspending", "", conditions),
            m.condition("RayClusterSuspended", True, "RayClusterSuspended", "", conditions),
            m.condition("HeadPodReady", False, "HeadPodNotFound", "", conditions),
        )
        status["state"] = "suspended"
        status.pop("head", None)
        status.pop("readyWorkerReplicas", None)  # zero: omitted, as KubeRay's omitempty does
        status.pop("availableWorkerReplicas", None)
        self._write_status(rc, status)
        return None

    async def stop_head(self, key: ClusterKey) -> None:
        """Stop the cluster's head and its proxy target; keep the RayCluster."""
        self.ctl.proxies.unregister(key[0], f"{key[1]}-head-svc")
        await self.ctl.runtime.stop(key)
        self._fault_applied.pop(key, None)
        self._crash_scheduled.discard(key)
        self._ready_at.pop(key, None)
        self.ctl.cluster_gone(key)

    async def teardown(self, key: ClusterKey) -> None:
        """The RayCluster is gone (or going): stop exactly its processes."""
        await self.stop_head(key)
        self._warned.pop(key, None)
        self._start_failures.pop(key, None)
        self._failed_at.pop(key, None)
        self._head_pods.pop(key, None)
