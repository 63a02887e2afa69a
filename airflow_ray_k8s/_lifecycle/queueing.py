"""Kueue admission of RayJobs and RayClusters (stdlib only: imported on the DAG-parse path).

A RayJob labelled ``kueue.x-k8s.io/queue-name`` is created with ``spec.suspend: true`` (what
Kueue's webhook would set); Kueue admits it by setting ``suspend: false`` once its LocalQueue has
quota. Until then no cluster exists, so the start-up timeout counts from admission, not creation.
See https://kueue.sigs.k8s.io/docs/tasks/run/rayjobs/.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_ray_k8s.naming import label_value_errors

#: The LocalQueue a workload is submitted to.
LABEL_QUEUE_NAME = "kueue.x-k8s.io/queue-name"
#: The WorkloadPriorityClass of a workload (decides who is admitted / preempted first).
LABEL_PRIORITY_CLASS = "kueue.x-k8s.io/priority-class"


def kueue_labels(task_id: str, queue_name: str | None, priority_class: str | None) -> dict[str, str]:
    """The Kueue labels for ``queue_name`` / ``priority_class`` (empty when neither is set).

    :raises ValueError: a value is not a valid label value, naming the parameter.
    """
    labels: dict[str, str] = {}
    for param, key, value in (
        ("queue_name", LABEL_QUEUE_NAME, queue_name),
        ("priority_class", LABEL_PRIORITY_CLASS, priority_class),
    ):
        if value is None:
            continue
        errors = label_value_errors(value) if value else ["must not be empty"]
        if errors:
            raise ValueError(f"{task_id}: {param} {value!r} {'; '.join(errors)}")
        labels[key] = value
    if LABEL_PRIORITY_CLASS in labels and LABEL_QUEUE_NAME not in labels:
        raise ValueError(f"{task_id}: priority_class needs queue_name (Kueue ignores it without a queue)")
    return labels


def queue_of(obj: Mapping[str, Any] | None) -> str:
    """The LocalQueue an object was submitted to (``""`` if none)."""
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return str(labels.get(LABEL_QUEUE_NAME) or "")


def is_suspended(obj: Mapping[str, Any] | None) -> bool:
    """Whether the object's ``spec.suspend`` is set (Kueue has not admitted it, or took it back)."""
    return bool(((obj or {}).get("spec") or {}).get("suspend"))
