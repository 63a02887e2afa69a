"""``@task.ray``: a TaskFlow function that runs as a RayJob on KubeRay and returns its value to Airflow.

Registered through the provider's ``task-decorators`` entry, so a DAG file writes::

    from airflow.sdk import task


    @task.ray(ray_cluster_spec=CLUSTER, deferrable=True)
    def train(lr: float, ds: str) -> dict:
        import ray  # imports inside the function: only its own source runs on the cluster

        ...
        return {"lr": lr, "val_mse": mse}

Importing this module is cheap (DAG files import it on every parse): the source checks, the
serialization and the Kubernetes clients are imported when a task runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.decorator import DecoratedOperator, TaskDecorator, task_decorator_factory

from airflow_ray_k8s.operators.rayjob import RayJobOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_ray_k8s._lifecycle.returns import Collected
    from airflow_ray_k8s.status import RayJobStatus

#: What ``entrypoint`` holds until ``execute`` builds it from the function and its rendered arguments.
ENTRYPOINT_PLACEHOLDER = "<built from the @task.ray function when the task runs>"
#: The XCom key of the RayJob's status dict (what ``RayJobOperator`` returns).
XCOM_RAYJOB = "rayjob"
SERIALIZERS = ("json", "pickle")


class RayDecoratedOperator(DecoratedOperator, RayJobOperator):
    """Run a Python function as a RayJob; its return value becomes the task's XCom ``return_value``.

    Everything of :class:`~airflow_ray_k8s.operators.rayjob.RayJobOperator` applies (an ephemeral
    cluster with ``ray_cluster_spec`` or a shared one with ``cluster_name``, ``runtime_env``,
    deferrable waits, TTL cleanup, retries that re-attach or adopt and never submit twice), except
    ``entrypoint``: it is built from the function's source and its arguments when the task runs.

    The function's source (without its task decorators) and its arguments (JSON, or pickle if
    declared) travel in the entrypoint, at most 96 KiB in all; nothing is uploaded and nothing of the
    provider needs installing on the Ray image. The function must import what it uses inside its
    body and take values as arguments: a task that uses a name of the DAG file's module fails before
    anything is submitted, naming it. Its return value (JSON, at most 64 KiB) comes back through the
    driver log, read once when the job ends and kept on the RayJob until the task recorded it, so a
    re-attach, a triggerer restart, or an adopted success after KubeRay deleted the cluster returns
    it exactly once; a success whose value was lost before any try read it is run again.

    XComs: ``return_value`` (the function's value; each key with ``multiple_outputs``), ``rayjob``
    (the RayJob's status dict), ``results`` (what the function :func:`~airflow_ray_k8s.results.publish`\\ ed
    along the way, if anything).

    :param serializer: how the arguments travel: ``json`` (default; what JSON cannot hold fails the
        task, naming the argument) or ``pickle`` (declared opt-in: the Ray image needs the same
        classes and a compatible Python). Return values are always JSON.
    :param python: the Python interpreter on the Ray image (default ``python``).
    """

    custom_operator_name = "@task.ray"
    template_fields: Sequence[str] = (
        "op_args",
        "op_kwargs",
        *(f for f in RayJobOperator.template_fields if f != "entrypoint"),
    )
    template_fields_renderers = {
        **RayJobOperator.template_fields_renderers,
        "op_args": "py",
        "op_kwargs": "py",
    }
    # The function is shared, not deep-copied (as @task.kubernetes and @task.docker do).
    shallow_copy_attrs: Sequence[str] = ("python_callable",)

    def __init__(self, *, serializer: str = "json", python: str = "python", **kwargs: Any) -> None:
        task_id = kwargs.get("task_id", "@task.ray")
        if "entrypoint" in kwargs:
            raise ValueError(f"{task_id}: @task.ray builds the entrypoint from the function; do not pass one")
        if serializer not in SERIALIZERS:
            raise ValueError(f"{task_id}: serializer must be one of {', '.join(SERIALIZERS)}")
        if kwargs.get("wait_for_completion") is False:
            raise ValueError(
                f"{task_id}: @task.ray waits for the job (its return value comes when the job ends); "
                "use RayJobOperator with wait_for_completion=False to only submit"
            )
        if not str(python).strip():
            raise ValueError(f"{task_id}: python must name the interpreter on the Ray image")
        self.serializer = serializer
        self.python = python
        super().__init__(entrypoint=ENTRYPOINT_PLACEHOLDER, **kwargs)

    def build_entrypoint(self, context: Context) -> str:
        """The entrypoint for this task instance: the function's source and its rendered arguments.

        :raises AirflowFailException: the function cannot run alone, an argument cannot travel, or
            the whole is too large (a retry cannot help).
        """
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_ray_k8s._taskflow import arguments, entrypoint, source

        ti, fn = context["ti"], self.python_callable
        unfit = (source.FunctionSourceError, arguments.ArgumentError, entrypoint.EntrypointTooLargeError)
        try:
            function = source.function_source(fn)
            args, kwargs = arguments.call_arguments(fn, list(self.op_args), self.op_kwargs, context)
            encoded = arguments.encode(fn, args, kwargs, self.serializer)
            return entrypoint.build(function, encoded, task=f"{ti.dag_id}.{ti.task_id}", python=self.python)
        except unfit as exc:
            raise AirflowFailException(f"{self.task_id}: {exc}") from None

    def execute(self, context: Context) -> Any:
        """Build the entrypoint, then submit, re-attach or adopt as ``RayJobOperator`` does."""
        # Checked before anything is sent: a function that cannot run alone fails here.
        self.entrypoint = self.build_entrypoint(context)
        self._rerun_if_result_lost(context)
        return super().execute(context)

    def _rerun_if_result_lost(self, context: Context) -> None:
        """An unrecorded success (the worker died) is adopted only if its return value can still be
        read (kept on the RayJob, or in a driver log KubeRay has not deleted yet); else the RayJob
        is marked consumed, and ``execute`` runs the function again rather than return nothing."""
        from airflow_ray_k8s._lifecycle import jobs, returns
        from airflow_ray_k8s._lifecycle.attach import decide
        from airflow_ray_k8s._lifecycle.context import identity_from_context
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook
        from airflow_ray_k8s.status import RayJobStatus

        hook = KubeRayHook(kuberay_conn_id=self.kuberay_conn_id)
        namespace = jobs.resolve_namespace(hook, self.namespace)
        identity, _ = identity_from_context(context)
        decision = decide(jobs.list_rayjobs(hook, namespace, identity.selector()))
        if decision.action != "adopt" or decision.existing is None:
            return
        status = RayJobStatus.from_object(decision.existing)
        collected = returns.collect(hook, status, decision.existing, log=self.log)
        if collected.available:
            return  # read now, and kept on the RayJob for the adopt that follows
        self.log.warning(
            "RayJob %s/%s succeeded but no try recorded its return value, which is lost (%s): "
            "running %s() again",
            namespace,
            status.name,
            collected.note,
            self.python_callable.__name__,
        )
        returns.mark_lost(hook, namespace, status.name)
        # Then what an adopt would have done with it (on_finish_action), so it does not linger.
        self._finish(hook, status, succeeded=True)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """``RayJobOperator``'s outcome; a failed function's own exception and traceback lead the error."""
        from airflow_ray_k8s._lifecycle import explain
        from airflow_ray_k8s._lifecycle.returns import Collected
        from airflow_ray_k8s.exceptions import RayJobFailedError, RayTaskFunctionError
        from airflow_ray_k8s.status import RayJobStatus

        try:
            return super().execute_complete(context, event)
        except RayJobFailedError as exc:
            found = event.get("results")
            error = Collected.from_json(found).error if found else None
            if not error:
                raise  # no record: the job failed outside the function (OOM, runtime_env, a stop...)
            status = RayJobStatus.from_json(event.get("job") or {})
            message = f"{self.task_id}: {explain.function_failure(status, error)}"
            raise RayTaskFunctionError(message, {**exc.details, "error": error}) from None

    def _outcome(self, context: Context, status: RayJobStatus, collected: Collected) -> Any:
        """The function's return value (the status dict goes to the XCom ``rayjob``)."""
        from airflow_ray_k8s._lifecycle.returns import XCOM_RESULTS
        from airflow_ray_k8s.exceptions import RayTaskResultError
        from airflow_ray_k8s.status import JOB_STOPPED

        ti = context["ti"]
        ti.xcom_push(key=XCOM_RAYJOB, value=self._xcom(status))
        if collected.results:
            ti.xcom_push(key=XCOM_RESULTS, value=collected.results)
        for problem in collected.problems:
            self.log.warning("Results of %s: %s", status.name, problem)
        label = f"{self.python_callable.__name__}()"
        if collected.returned:
            self.log.info("%s returned (read from the %s)", label, collected.origin or "driver log")
            return collected.value
        if status.job_status == JOB_STOPPED:
            self.log.info("RayJob %s was stopped (allow_stopped): %s returns None", status.name, label)
            return None
        if not collected.available:
            raise RayTaskResultError(
                f"{self.task_id}: RayJob {status.namespace}/{status.name} succeeded, but the return "
                f"value of {label} could not be read: {collected.note}. The next try runs it again"
            )
        raise RayTaskResultError(
            f"{self.task_id}: RayJob {status.namespace}/{status.name} succeeded, but its driver log "
            f"holds no return value of {label} (did the function end the process, e.g. sys.exit()?)"
        )


def ray_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> TaskDecorator:
    """Run the decorated function as a RayJob on KubeRay (``@task.ray``).

    Takes every argument of :class:`~airflow_ray_k8s.operators.rayjob.RayJobOperator` but
    ``entrypoint``, plus those of :class:`RayDecoratedOperator`.

    :param python_callable: the function (when used without parentheses).
    :param multiple_outputs: push each key of the returned dict as its own XCom (inferred from a
        ``dict`` return annotation when not given).
    """
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=RayDecoratedOperator,
        **kwargs,
    )
