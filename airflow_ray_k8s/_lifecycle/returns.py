"""What a RayJob's program published (see :mod:`airflow_ray_k8s.results`), read once and kept.

The records are read from the whole driver log when the job ends (by the wait, in the triggerer or
inline), never from the tail a failure message quotes, so a long log loses nothing. A success's
records are then written on the RayJob (:data:`ANNOTATION_RESULTS`, keyed by the Ray job id), because
KubeRay deletes the cluster, and with it the log, ``ttlSecondsAfterFinished`` after the end: a
restarted triggerer, a retry that re-attaches, or a try that adopts an unrecorded success reads
them from there. The task that records the outcome marks the RayJob consumed right after (see
``attach.py``), so the results reach Airflow once.

Pure, except :func:`collect`, the worker's sync read (through the hook) when no wait read them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from airflow_ray_k8s import results as protocol
from airflow_ray_k8s.naming import LABEL_PREFIX
from airflow_ray_k8s.status import RayJobStatus

#: The records of a succeeded job, as JSON: ``{"job_id", "results", "returned", "value"}``.
ANNOTATION_RESULTS = f"{LABEL_PREFIX}/results"
#: Set with the consumed mark when a success's records were lost before any try read them.
ANNOTATION_RESULTS_LOST = f"{LABEL_PREFIX}/results-lost"
#: The XCom key under which ``RayJobOperator`` pushes the merged published results.
XCOM_RESULTS = "results"
#: Largest annotation value written (Kubernetes allows 256 KiB for all of an object's annotations).
MAX_ANNOTATION_BYTES = 3 * protocol.MAX_RESULT_BYTES
#: Where the task log cuts the driver log's echo of a long entrypoint.
MAX_SHOWN_CHARS = 300
_ENTRYPOINT_ECHO = "Running entrypoint for job "


@dataclass
class Collected(protocol.Published):
    """The published records of one Ray job (:class:`~airflow_ray_k8s.results.Published`), and
    where they came from.

    :param available: the driver log (or the RayJob's record of it) was read.
    :param job_id: the Ray job they belong to.
    :param origin: ``log`` or ``annotation``.
    :param note: why they are not available.
    """

    available: bool = False
    job_id: str = ""
    origin: str = ""
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """For the trigger event."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Collected:
        """Read :meth:`to_json`'s output; unknown keys are ignored."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def unavailable(note: str, job_id: str = "") -> Collected:
    """Nothing could be read, and why."""
    return Collected(available=False, job_id=job_id, note=note)


def from_log(text: str, job_id: str) -> Collected:
    """The records in a whole driver log."""
    return Collected(available=True, job_id=job_id, origin="log", **asdict(protocol.parse(text)))


def from_annotations(obj: Mapping[str, Any] | None, job_id: str) -> Collected | None:
    """The records an earlier reader kept on the RayJob for this Ray job, if any."""
    raw = (((obj or {}).get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_RESULTS)
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or not job_id or data.get("job_id") != job_id:
        return None  # another Ray job of the RayJob (KubeRay's backoffLimit resubmits)
    return Collected(
        available=True,
        job_id=job_id,
        results=dict(data.get("results") or {}),
        returned=bool(data.get("returned")),
        value=data.get("value"),
        records=int(data.get("records") or 0),
        origin="annotation",
    )


def annotation_patch(collected: Collected) -> dict[str, Any] | None:
    """The merge patch that keeps a success's records on its RayJob; ``None`` when too large to keep."""
    value = json.dumps(
        {
            "job_id": collected.job_id,
            "results": collected.results,
            "returned": collected.returned,
            "value": collected.value,
            "records": collected.records,
        },
        separators=(",", ":"),
    )
    if len(value.encode("utf-8")) > MAX_ANNOTATION_BYTES:
        return None
    return {"metadata": {"annotations": {ANNOTATION_RESULTS: value}}}


def worth_keeping(status: RayJobStatus, collected: Collected) -> bool:
    """Whether to write the records on the RayJob: a success's, read from its log, with records."""
    return status.is_success and collected.origin == "log" and collected.records > 0


def collect(hook: Any, status: RayJobStatus, obj: Mapping[str, Any] | None, *, log: Any) -> Collected:
    """The worker's read when no wait read the records (a try adopting a finished success).

    The RayJob's annotation first, then the driver log through the dashboard (kept on the RayJob
    once read); unavailable when the cluster, and its log, are gone.
    """
    from airflow_ray_k8s.exceptions import RayK8sError
    from airflow_ray_k8s.resources import RAYJOB

    kept = from_annotations(obj, status.job_id)
    if kept is not None:
        return kept
    if not status.job_id or not status.ray_cluster_name:
        return unavailable("the job has no Ray job id or cluster to read the driver log from", status.job_id)
    try:
        text = hook.get_job_logs(status.ray_cluster_name, status.job_id, namespace=status.namespace)
    except RayK8sError as exc:
        note = f"the driver log could not be read (the cluster may be gone): {exc}"
        return unavailable(note, status.job_id)
    collected = from_log(str(text or ""), status.job_id)
    patch = annotation_patch(collected) if worth_keeping(status, collected) else None
    if patch is not None:
        try:
            hook.patch(RAYJOB, status.name, patch, namespace=status.namespace)
        except RayK8sError as exc:  # the records are in hand; keeping them is a safety net
            log.warning("Could not keep the results on RayJob %s: %s", status.name, exc)
    return collected


def mark_lost(hook: Any, namespace: str, name: str) -> None:
    """Record that a success's records were lost before any try read them: the RayJob counts as
    consumed (see ``attach.py``), so the next ``execute`` submits the job anew."""
    from airflow_ray_k8s._lifecycle.attach import ANNOTATION_CONSUMED
    from airflow_ray_k8s.resources import RAYJOB

    patch = {"metadata": {"annotations": {ANNOTATION_CONSUMED: "true", ANNOTATION_RESULTS_LOST: "true"}}}
    hook.patch(RAYJOB, name, patch, namespace=namespace)


def for_task_log(line: str) -> str:
    """A driver-log line as the task log shows it: a record as a summary, a long entrypoint cut."""
    if line.startswith(protocol.MARKER):
        kind = line[len(protocol.MARKER) :].split('"kind":"', 1)[-1].split('"', 1)[0]
        return f"[{kind} record, {len(line)} bytes: read when the job ends]"
    if line.startswith(_ENTRYPOINT_ECHO) and len(line) > MAX_SHOWN_CHARS:
        # Ray's job supervisor echoes the entrypoint: a @task.ray one is a long encoded bundle.
        return f"{line[:MAX_SHOWN_CHARS]}... [{len(line) - MAX_SHOWN_CHARS} more characters]"
    return line
