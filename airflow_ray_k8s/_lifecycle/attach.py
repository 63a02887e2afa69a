"""Decide, from the RayJobs one task instance already owns, whether to re-attach, adopt or create.

The Kubernetes name is the idempotency key (see ``naming.TaskIdentity``); every RayJob a task
instance creates carries its ``task-key`` label and a ``try`` label. Listing by that selector on
each ``execute`` gives the whole history of the task instance, from which the four cases of
retries follow:

(a) the worker died while the job ran and the task is retried: the newest RayJob is not
    terminal -> re-attach to it; nothing is submitted twice.
(b) the job failed and the task retries: the newest RayJob is terminal and not successful
    -> create a fresh RayJob under the new try's name.
(c) a user cleared a successful task: the newest RayJob succeeded and the task that waited for
    it marked it consumed (:data:`ANNOTATION_CONSUMED`, patched just before ``execute`` returns)
    -> create a fresh RayJob.
(d) the job succeeded but the worker died before the task recorded it: succeeded and not
    consumed -> adopt the success without rerunning.

Pure: no I/O, no Airflow import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from airflow_ray_k8s.naming import LABEL_PREFIX, LABEL_TRY
from airflow_ray_k8s.status import RayJobStatus

#: Set to ``"true"`` by the task that recorded the RayJob's outcome; a RayJob without it whose
#: outcome is success was never recorded by Airflow (case d).
ANNOTATION_CONSUMED = f"{LABEL_PREFIX}/consumed"

Action = Literal["attach", "adopt", "create"]


@dataclass(frozen=True)
class AttachDecision:
    """What ``execute`` should do with the task instance's history.

    :param action: ``attach`` (wait for an unfinished RayJob), ``adopt`` (take a finished,
        unrecorded success as this try's result) or ``create`` (submit a new RayJob).
    :param existing: the RayJob object the action is about (``None`` for ``create`` when there
        is no history).
    :param why: one line for the task log.
    """

    action: Action
    existing: Mapping[str, Any] | None
    why: str


def _try_of(obj: Mapping[str, Any]) -> int:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    try:
        return int(labels.get(LABEL_TRY, -1))
    except (TypeError, ValueError):
        return -1


def _order_key(obj: Mapping[str, Any]) -> tuple[int, str, str]:
    meta = obj.get("metadata") or {}
    # The try label orders attempts; the creation time (RFC 3339 sorts as text) breaks ties between
    # objects created without it, the name makes the order total.
    return (_try_of(obj), str(meta.get("creationTimestamp") or ""), str(meta.get("name") or ""))


def next_attempt(history: Iterable[Mapping[str, Any]], try_number: int) -> int:
    """The attempt number (name suffix) of a RayJob to create now.

    Normally the try number; higher when an earlier object already carries it, so that a new
    submission never collides with (and re-attaches to) a finished one. Try numbers repeat when a
    DAG run is deleted and triggered again under the same run id.
    """
    used = [_try_of(obj) for obj in history]
    return max([try_number, *(t + 1 for t in used)])


def is_consumed(obj: Mapping[str, Any]) -> bool:
    """Whether a task already recorded this RayJob's outcome."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(ANNOTATION_CONSUMED, "")).lower() == "true"


def is_being_deleted(obj: Mapping[str, Any]) -> bool:
    """Whether the object has a deletion timestamp (a finalizer still holds it)."""
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def decide(history: Iterable[Mapping[str, Any]]) -> AttachDecision:
    """Choose the action from every RayJob the task instance owns (any order).

    Only the newest RayJob matters: older ones are finished attempts whose outcome a previous try
    already acted on. A RayJob being deleted is skipped (a kill is in progress; its name is
    taken, which the caller's per-try name avoids).
    """
    live = [obj for obj in history if not is_being_deleted(obj)]
    if not live:
        return AttachDecision("create", None, "no earlier RayJob for this task instance")
    newest = max(live, key=_order_key)
    status = RayJobStatus.from_object(newest)
    name = status.name
    if not status.is_terminal:
        return AttachDecision(
            "attach", newest, f"RayJob {name} from an earlier try is still {status.phase}: re-attaching"
        )
    if status.is_success and not is_consumed(newest):
        return AttachDecision(
            "adopt",
            newest,
            f"RayJob {name} succeeded but no try recorded it (the worker died?): adopting its success",
        )
    if status.is_success:
        return AttachDecision(
            "create", newest, f"RayJob {name} succeeded and was recorded (task cleared): submitting anew"
        )
    return AttachDecision("create", newest, f"RayJob {name} ended {status.phase}: submitting a fresh job")
