"""Why does a RayCluster not start? Its pods and their events, summarised into reasons.

The pure part (:func:`summarize`) reads pod and event dicts; :func:`diagnose_cluster` is the
operation that lists them (pods by the ``ray.io/cluster`` label KubeRay sets, events by involved
object). Reasons looked for: ImagePullBackOff, ErrImagePull, Unschedulable, OOMKilled,
CrashLoopBackOff, and other container waiting / termination reasons.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_ray_k8s.kube import ops
from airflow_ray_k8s.kube.effects import Op
from airflow_ray_k8s.kube.errors import scrub
from airflow_ray_k8s.resources import EVENT, POD

CLUSTER_LABEL = "ray.io/cluster"

#: Waiting reasons that mean "this pod will not start by itself".
BAD_WAITING_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "InvalidImageName",
        "RunContainerError",
    }
)
#: Termination reasons worth reporting.
BAD_TERMINATED_REASONS = frozenset({"OOMKilled", "Error", "ContainerCannotRun", "DeadlineExceeded"})
#: Event reasons worth reporting, mapped to the reason we report.
EVENT_REASONS = {
    "FailedScheduling": "Unschedulable",
    "Failed": "Failed",
    "BackOff": "BackOff",
    "FailedCreatePodSandBox": "FailedCreatePodSandBox",
    "FailedMount": "FailedMount",
    "FailedCreate": "FailedCreate",
    "Evicted": "Evicted",
    "OOMKilling": "OOMKilled",
}


@dataclass(frozen=True)
class PodProblem:
    """One reason a pod of the cluster is not running.

    :param pod: pod name (or the RayCluster's name for an event on the cluster itself).
    :param reason: ``ImagePullBackOff``, ``Unschedulable``, ``OOMKilled``...
    :param container: the container concerned, if any.
    :param message: the kubelet's / scheduler's message, truncated.
    """

    pod: str
    reason: str
    container: str = ""
    message: str = ""

    def __str__(self) -> str:
        where = f"{self.pod}/{self.container}" if self.container else self.pod
        return f"{where}: {self.reason}" + (f" ({self.message})" if self.message else "")


@dataclass(frozen=True)
class ClusterDiagnosis:
    """Pods of a cluster and what is wrong with them."""

    cluster: str
    pod_phases: tuple[tuple[str, str], ...]
    problems: tuple[PodProblem, ...]

    @property
    def reasons(self) -> list[str]:
        """The distinct reasons, in order of appearance."""
        return list(dict.fromkeys(p.reason for p in self.problems))

    def summary(self) -> str:
        """One line for a task log or an exception message."""
        if not self.pod_phases and not self.problems:
            return f"RayCluster {self.cluster}: no pods yet"
        phases = ", ".join(f"{name}={phase}" for name, phase in self.pod_phases) or "none"
        if not self.problems:
            return f"RayCluster {self.cluster}: pods {phases}; no problem reported"
        return f"RayCluster {self.cluster}: pods {phases}; " + "; ".join(str(p) for p in self.problems)


def _meta(obj: Mapping[str, Any], key: str) -> Any:
    return (obj.get("metadata") or {}).get(key)


def _pod_problems(pod: Mapping[str, Any]) -> list[PodProblem]:
    name = str(_meta(pod, "name") or "")
    status = pod.get("status") or {}
    out: list[PodProblem] = []
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            reason = cond.get("reason") or "Unschedulable"
            out.append(PodProblem(name, str(reason), message=scrub(str(cond.get("message") or ""))))
    statuses = list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or [])
    for cs in statuses:
        container = str(cs.get("name") or "")
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in BAD_WAITING_REASONS:
            out.append(
                PodProblem(name, waiting["reason"], container, scrub(str(waiting.get("message") or "")))
            )
        for state_key in ("state", "lastState"):
            terminated = (cs.get(state_key) or {}).get("terminated") or {}
            if terminated.get("reason") in BAD_TERMINATED_REASONS:
                detail = f"exit code {terminated.get('exitCode')}"
                out.append(PodProblem(name, terminated["reason"], container, detail))
    if status.get("reason") == "Evicted":
        out.append(PodProblem(name, "Evicted", message=scrub(str(status.get("message") or ""))))
    return out


def summarize(
    cluster: str, pods: Iterable[Mapping[str, Any]], events: Iterable[Mapping[str, Any]] = ()
) -> ClusterDiagnosis:
    """Read pods and events of one cluster into a :class:`ClusterDiagnosis` (pure).

    Only warning events about the cluster's pods or the cluster itself count; duplicates
    (same pod, reason and container) are reported once, pod status before events.
    """
    pods = list(pods)
    names = {str(_meta(p, "name")) for p in pods}
    problems: list[PodProblem] = []
    for pod in pods:
        problems.extend(_pod_problems(pod))
    # Newest last, so the most recent message wins when de-duplicating below.
    ordered = sorted(events, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    for event in ordered:
        involved = event.get("involvedObject") or {}
        target = str(involved.get("name") or "")
        if target not in names and not (target == cluster and involved.get("kind") == "RayCluster"):
            continue
        if event.get("type") not in (None, "Warning"):
            continue
        reason = EVENT_REASONS.get(str(event.get("reason") or ""))
        if reason is None:
            continue
        message = str(event.get("message") or "")
        for marker in ("ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff", "OOMKilled"):
            if marker in message:
                reason = marker
                break
        problems.append(PodProblem(target, reason, message=scrub(message)))
    unique: dict[tuple[str, str, str], PodProblem] = {}
    for problem in problems:
        unique.setdefault((problem.pod, problem.reason, problem.container), problem)
    phases = tuple(
        sorted((str(_meta(p, "name")), str((p.get("status") or {}).get("phase") or "Unknown")) for p in pods)
    )
    return ClusterDiagnosis(cluster=cluster, pod_phases=phases, problems=tuple(unique.values()))


def diagnose_cluster(namespace: str, cluster: str) -> Op[ClusterDiagnosis]:
    """List the cluster's pods and the relevant events, and summarise them (3 API calls)."""
    pods = yield from ops.list_all(POD, namespace, label_selector=f"{CLUSTER_LABEL}={cluster}")
    # Field selectors narrow the events on a real API server; summarize() filters again, so a
    # server that ignores them only costs bandwidth.
    pod_events = yield from ops.list_all(EVENT, namespace, field_selector="involvedObject.kind=Pod")
    own_events = yield from ops.list_all(EVENT, namespace, field_selector=f"involvedObject.name={cluster}")
    return summarize(cluster, pods.items, pod_events.items + own_events.items)
