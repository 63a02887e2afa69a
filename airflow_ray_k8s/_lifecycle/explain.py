"""Failure messages that say why, in the user's terms (pure).

A task that fails names the RayJob, KubeRay's ``reason`` and ``message``, and the last lines of the
driver log; a cluster that never started names its pods' reasons and the Kubernetes events. The
messages carry nothing but status fields and log lines, never connection settings or tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_ray_k8s.status import RayClusterStatus, RayJobStatus

_MAX_REASONS = 20
#: KubeRay copies Ray's job message, which quotes up to 20,000 characters of the log: cut in a summary.
_MAX_STATUS_CHARS = 300


def _indent(lines: Sequence[str]) -> str:
    return "\n".join(f"    {line}" for line in lines)


def job_failure(status: RayJobStatus, log_tail: Sequence[str], *, log_note: str = "") -> str:
    """Explain a RayJob that ended without success.

    :param status: its final status.
    :param log_tail: the last lines of the driver log (may be empty: the job never ran, or logs
        were not collected).
    :param log_note: why there is no log tail, if there is none.
    """
    head = f"RayJob {status.namespace}/{status.name} failed: {status.failure_reason or status.phase}"
    parts = [head]
    if status.job_id:
        parts.append(f"Ray job id: {status.job_id}; cluster: {status.ray_cluster_name or '<none>'}")
    if log_tail:
        parts.append(f"Last {len(log_tail)} lines of the driver log:\n{_indent(log_tail)}")
    elif log_note:
        parts.append(f"No driver log: {log_note}")
    return "\n".join(parts)


def startup_failure(
    kind: str,
    namespace: str,
    name: str,
    timeout: float,
    reasons: Sequence[str],
    *,
    cluster: RayClusterStatus | None = None,
) -> str:
    """Explain a RayCluster (or a RayJob's cluster) that did not become ready in time.

    :param kind: ``RayJob`` or ``RayCluster``, the object the user asked for.
    :param reasons: pod states and Kubernetes events, one line each (``ImagePullBackOff: ...``).
    :param cluster: the cluster's last status, if it exists.
    """
    parts = [f"{kind} {namespace}/{name}: the Ray cluster did not become ready within {timeout:g} s."]
    if cluster is not None:
        parts.append(f"Cluster {cluster.name} is {cluster.phase}.")
        if cluster.failure_reason:
            parts.append(cluster.failure_reason)
    if reasons:
        shown = list(reasons)[:_MAX_REASONS]
        parts.append("Pods and events:\n" + _indent(shown))
        if len(reasons) > _MAX_REASONS:
            parts.append(f"    ... and {len(reasons) - _MAX_REASONS} more")
    else:
        parts.append("No pod reported a reason and there were no events (is the KubeRay operator running?).")
    return "\n".join(parts)


def function_failure(status: RayJobStatus, error: Mapping[str, Any]) -> str:
    """Explain a ``@task.ray`` job whose function failed, from the runner's ``error`` record.

    The function's exception and the last frames of its traceback on the cluster first, then
    KubeRay's reason (cut: its message repeats the log).
    """
    where = str(error.get("where") or "the function")
    kind, text = str(error.get("type") or "Exception"), str(error.get("message") or "")
    head = f"{where}: {text}" if kind == "ReturnValueError" else f"{where} raised {kind}: {text}"
    parts = [head]
    frames = [str(line) for line in error.get("traceback") or []]
    if frames:
        parts.append("Traceback on the Ray cluster (last frames):\n" + _indent(frames))
    reason = status.failure_reason or status.phase
    if len(reason) > _MAX_STATUS_CHARS:
        reason = reason[:_MAX_STATUS_CHARS] + "..."
    parts.append(f"RayJob {status.namespace}/{status.name} failed: {reason}")
    if status.job_id:
        parts.append(f"Ray job id: {status.job_id}; cluster: {status.ray_cluster_name or '<none>'}")
    return "\n".join(parts)
