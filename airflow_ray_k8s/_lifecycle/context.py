"""What the Airflow classes read from the task context and the configuration (cheap imports only)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_ray_k8s.naming import TaskIdentity

#: A sweeper may delete what a task created this long after the task's own deadline.
DEFAULT_EXPIRY_GRACE = timedelta(hours=1)
#: How long a task may still wait for what it created when nothing bounds the wait (no
#: ``execution_timeout``, ``activeDeadlineSeconds`` nor ``dagrun_timeout``). A week, so that the
#: expiry annotation never marks a long training job as an orphan; set one of those for less.
DEFAULT_UNBOUNDED_WAIT = timedelta(days=7)


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


def wait_bound(*bounds: float | timedelta | None) -> float:
    """Seconds a task can still wait: the tightest of the given bounds, else :data:`DEFAULT_UNBOUNDED_WAIT`.

    Any one bound ends the wait (an execution timeout fails the task, an active deadline fails the
    job, a DAG-run timeout fails the run), so the smallest one is the bound.
    """
    seconds = [b.total_seconds() if isinstance(b, timedelta) else float(b) for b in bounds if b]
    return min(seconds) if seconds else DEFAULT_UNBOUNDED_WAIT.total_seconds()


def defer_timeout(context: Mapping[str, Any], execution_timeout: timedelta | None) -> timedelta | None:
    """What is left of ``execution_timeout`` for a deferral (``None`` when unset).

    Airflow 3 does not apply a task's ``execution_timeout`` to its deferred wait: only ``defer``'s
    own ``timeout`` ends it. The operators pass this, so the timeout holds in both modes (and
    bounds the expiry annotation).
    """
    if execution_timeout is None:
        return None
    started = getattr(context.get("ti"), "start_date", None)
    if not isinstance(started, datetime):
        return execution_timeout
    elapsed = datetime.now(timezone.utc) - started
    return max(execution_timeout - elapsed, timedelta(seconds=1))


def dagrun_timeout(context: Mapping[str, Any]) -> timedelta | None:
    """The DAG's ``dagrun_timeout``, if the context has a DAG with one."""
    dag = context.get("dag")
    value = getattr(dag, "dagrun_timeout", None)
    return value if isinstance(value, timedelta) else None


def expiry_time(*budget_seconds: float | None, now: datetime | None = None) -> datetime:
    """When a sweeper may treat an object as orphaned: now + the waits it may take + a grace period.

    :param budget_seconds: consecutive waits (e.g. :func:`wait_bound` and the TTL after the job).
    """
    total = sum(b for b in budget_seconds if b)
    return (now or datetime.now(timezone.utc)) + timedelta(seconds=total) + DEFAULT_EXPIRY_GRACE
