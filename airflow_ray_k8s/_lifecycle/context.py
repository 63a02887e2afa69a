"""What the Airflow classes read from the task context and the configuration (cheap imports only)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_ray_k8s.naming import TaskIdentity

#: A sweeper may delete what a task created this long after the task's own deadline.
DEFAULT_EXPIRY_GRACE = timedelta(hours=1)


def identity_from_context(context: Mapping[str, Any]) -> tuple[TaskIdentity, int]:
    """The running task instance's identity and its try number."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    identity = TaskIdentity(
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=ti.run_id,
        map_index=-1 if map_index is None else int(map_index),
    )
    return identity, int(getattr(ti, "try_number", 1) or 1)


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable`` (False when unset)."""
    try:
        from airflow.sdk import conf
    except ImportError:  # Airflow < 3.1 keeps conf in core.
        from airflow.configuration import conf  # type: ignore[assignment]
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


def expiry_time(*budget_seconds: float | None, now: datetime | None = None) -> datetime:
    """When a sweeper may treat an object as orphaned: now + the waits it may take + a grace period."""
    total = sum(b for b in budget_seconds if b)
    return (now or datetime.now(timezone.utc)) + timedelta(seconds=total) + DEFAULT_EXPIRY_GRACE
