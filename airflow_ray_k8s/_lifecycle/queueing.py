"""Kueue admission of RayJobs and RayClusters (stdlib only: imported on the DAG-parse path).

A RayJob labelled ``kueue.x-k8s.io/queue-name`` is created with ``spec.suspend: true`` (what
Kueue's webhook would set); Kueue admits it by setting ``suspend: false`` once its LocalQueue has
quota. Until then no cluster exists, so the start-up timeout counts from admission, not creation.
See https://kueue.sigs.k8s.io/docs/tasks/run/rayjobs/.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_ray_k8s.naming import label_value_errors

#: The LocalQueue a workload is submitted to.
LABEL_QUEUE_NAME = "kueue.x-k8s.io/queue-name"
#: The WorkloadPriorityClass of a workload (decides who is admitted / preempted first).
LABEL_PRIORITY_CLASS = "kueue.x-k8s.io/priority-class"

_OBJECT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


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
        errors = _name_errors(value)
        if errors:
            raise ValueError(f"{task_id}: {param} {value!r} {'; '.join(errors)}")
        labels[key] = value
    if LABEL_PRIORITY_CLASS in labels and LABEL_QUEUE_NAME not in labels:
        raise ValueError(f"{task_id}: priority_class needs queue_name (Kueue ignores it without a queue)")
    return labels


def _name_errors(value: str) -> list[str]:
    """Why ``value`` cannot name a LocalQueue / WorkloadPriorityClass in a label: it must be a
    Kubernetes object name (DNS-1123 subdomain) that is also a label value (at most 63 characters)."""
    if not isinstance(value, str) or not value:
        return ["must not be empty"]
    errors = label_value_errors(value)
    if not errors and not _OBJECT_NAME.fullmatch(value):
        errors.append("must be a Kubernetes object name: lower case alphanumerics, '-' or '.'")
    return errors


def queue_of(obj: Mapping[str, Any] | None) -> str:
    """The LocalQueue an object was submitted to (``""`` if none)."""
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return str(labels.get(LABEL_QUEUE_NAME) or "")


def is_suspended(obj: Mapping[str, Any] | None) -> bool:
    """Whether the object's ``spec.suspend`` is set (Kueue has not admitted it, or took it back)."""
    return bool(((obj or {}).get("spec") or {}).get("suspend"))
