"""The deferral plumbing both waiting operators share (cheap to import: DAG files import it).

Airflow 3 applies a task's ``execution_timeout`` only to its worker-side run: a deferred wait is
ended by ``defer``'s own ``timeout`` alone, and when that passes Airflow resumes the task with
``TaskDeferralTimeout`` without calling ``on_kill``. :class:`DeferringOperator` passes what is left
of ``execution_timeout`` as the deferral's timeout and runs the subclass's cleanup when it expires.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_ray_k8s._lifecycle.context import defer_timeout

if TYPE_CHECKING:
    from airflow.sdk import Context


class DeferringOperator(BaseOperator):
    """A :class:`BaseOperator` whose deferred wait honours ``execution_timeout`` and cleans up."""

    def defer_wait(self, trigger: Any, context: Context) -> None:
        """Defer to ``trigger`` (resume in ``execute_complete``) for what is left of ``execution_timeout``."""
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=defer_timeout(context, self.execution_timeout),
        )

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume after the deferral; when it timed out, run :meth:`clean_up_after_timeout` first."""
        from airflow.sdk.exceptions import TaskDeferralTimeout

        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout:
            self.clean_up_after_timeout(context)
            raise

    def clean_up_after_timeout(self, context: Context) -> None:
        """Delete what this task instance left running when its deferral timed out (subclasses)."""
