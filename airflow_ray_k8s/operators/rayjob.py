"""Submit a RayJob and wait for it: :class:`RayJobOperator`.

Importing this module is cheap (DAG files import it on every parse): the spec models, the
Kubernetes clients and the hook are imported inside :meth:`RayJobOperator.execute`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_ray_k8s._lifecycle.context import (
    dagrun_timeout,
    default_deferrable,
    expiry_time,
    identity_from_context,
    wait_bound,
)
from airflow_ray_k8s._lifecycle.deferral import DeferringOperator
from airflow_ray_k8s.links import XCOM_DASHBOARD_URL, RayDashboardLink

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_ray_k8s.status import RayJobStatus

SUBMISSION_MODES = ("K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode")
ON_FINISH_ACTIONS = ("delete", "delete_succeeded", "keep")
#: Seconds KubeRay keeps an ephemeral cluster after the job ends (then deletes it), by default; the
#: same as ``specs.DEFAULT_TTL_SECONDS_AFTER_FINISHED`` (not imported: this module must stay light).
DEFAULT_TTL_SECONDS = 300
DEFAULT_STARTUP_TIMEOUT = 600.0


class RayJobOperator(DeferringOperator):
    """Submit a RayJob to KubeRay and (by default) wait for it to finish.

    The job runs either on an ephemeral cluster that KubeRay creates for it and deletes
    ``ttl_seconds_after_finished`` after the job ends (give ``ray_cluster_spec``), or on an existing
    RayCluster (give ``cluster_name``, e.g. from a :class:`RayClusterCreateOperator` setup task).

    Retries and backfills are safe: the RayJob's name derives from the task instance
    (dag_id, task_id, run_id, map_index) and its try. A retry after a worker crash re-attaches to
    the running job; a retry after a failure submits a fresh one; a retry after an unrecorded success
    adopts it; a cleared successful task runs anew. Nothing is ever submitted twice for one try.

    The task fails with KubeRay's reason and message and the last lines of the driver log, and
    without retry when KubeRay rejected the spec (``ValidationFailed`` never recovers).

    Returns (XCom ``return_value``) a dict of the RayJob's status. What the program publishes with
    :func:`airflow_ray_k8s.results.publish` is pushed as the XCom ``results`` (a dict), once, also
    after a re-attach, a triggerer restart or an adopted success (kept on the RayJob until then).

    :param entrypoint: the command the job runs, e.g. ``python train.py --day {{ ds }}``. (templated)
    :param ray_cluster_spec: the ephemeral cluster: a ``RayClusterSpec``, a dict (spec or whole
        RayCluster manifest) or the path of a YAML file. Exclusive with ``cluster_name``. (templated)
    :param cluster_name: run on this existing RayCluster instead. (templated)
    :param runtime_env: Ray runtime env (``pip``, ``working_dir``, ``env_vars``...), a dict or YAML
        text. (templated)
    :param metadata: Ray job metadata, a string map. (templated)
    :param submission_mode: ``K8sJobMode`` (KubeRay's default), ``HTTPMode``, ``InteractiveMode`` or
        ``SidecarMode``.
    :param namespace: Kubernetes namespace; default: the connection's. (templated)
    :param kuberay_conn_id: Airflow connection of type ``kuberay``.
    :param shutdown_after_job_finishes: let KubeRay delete the ephemeral cluster after the job
        (default ``True`` with ``ray_cluster_spec`` and no ``deletion_strategy``).
    :param ttl_seconds_after_finished: seconds before that deletion (default 300). The driver log is
        collected before it.
    :param active_deadline_seconds: KubeRay fails the job after this many seconds.
    :param pre_running_deadline_seconds: KubeRay fails the job if it is not running after this many
        seconds (KubeRay >= 1.6).
    :param backoff_limit: KubeRay-side retries, each on a new cluster.
    :param deletion_strategy: KubeRay ``deletionStrategy`` (``deletionRules`` or legacy policies), a
        dict; replaces ``shutdown_after_job_finishes``.
    :param entrypoint_num_cpus: CPUs reserved for the driver.
    :param entrypoint_num_gpus: GPUs reserved for the driver.
    :param entrypoint_resources: custom resources reserved for the driver, a dict.
    :param job_labels: extra labels of the RayJob. (templated)
    :param job_annotations: extra annotations of the RayJob. (templated)
    :param wait_for_completion: wait for the job to end; otherwise return once it is submitted.
    :param deferrable: wait in the triggerer, freeing the worker slot (default: Airflow's
        ``[operators] default_deferrable``).
    :param startup_timeout: seconds the cluster may take to start the job; then the task fails
        naming the pods' reasons and the Kubernetes events, and deletes the RayJob.
    :param get_logs: stream the driver log into the task log.
    :param log_interval: seconds between driver-log reads while the driver prints (the pause doubles,
        up to 60 s, while it prints nothing).
    :param log_tail_lines: driver-log lines quoted in a failure message.
    :param allow_stopped: a job that ends ``STOPPED`` counts as success (default: failure).
    :param on_finish_action: what the task does with the RayJob once it recorded the outcome and the
        driver log (the convention of ``KubernetesPodOperator``): ``delete`` (default) deletes the
        RayJob and the cluster KubeRay made for it at once; ``delete_succeeded`` keeps failed ones
        for inspection; ``keep`` leaves them to KubeRay (the cluster goes after its TTL; KubeRay keeps
        the RayJob object itself, which carries the expiry annotation for a sweeper).
    :param name_prefix: readable prefix of the generated RayJob name.
    :param queue_name: submit through this Kueue LocalQueue (label ``kueue.x-k8s.io/queue-name``):
        the RayJob is created suspended and starts when Kueue admits it. The task waits deferred
        meanwhile, logs that it is queued and for how long, and ``startup_timeout`` counts from
        admission. Needs ``ray_cluster_spec`` (KubeRay does not suspend jobs on existing clusters).
    :param priority_class: Kueue WorkloadPriorityClass (label ``kueue.x-k8s.io/priority-class``);
        needs ``queue_name``.
    """

    template_fields: Sequence[str] = (
        "entrypoint",
        "ray_cluster_spec",
        "cluster_name",
        "runtime_env",
        "metadata",
        "namespace",
        "job_labels",
        "job_annotations",
    )
    template_fields_renderers = {"runtime_env": "json", "ray_cluster_spec": "json", "metadata": "json"}
    operator_extra_links = (RayDashboardLink(),)
    ui_color = "#e8f1fd"

    def __init__(
        self,
        *,
        entrypoint: str,
        ray_cluster_spec: Any = None,
        cluster_name: str | None = None,
        runtime_env: dict[str, Any] | str | None = None,
        metadata: dict[str, str] | None = None,
        submission_mode: str | None = None,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        shutdown_after_job_finishes: bool | None = None,
        ttl_seconds_after_finished: int | None = None,
        active_deadline_seconds: int | None = None,
        pre_running_deadline_seconds: int | None = None,
        backoff_limit: int | None = None,
        deletion_strategy: dict[str, Any] | None = None,
        entrypoint_num_cpus: float | None = None,
        entrypoint_num_gpus: float | None = None,
        entrypoint_resources: dict[str, float] | None = None,
        job_labels: dict[str, str] | None = None,
        job_annotations: dict[str, str] | None = None,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        get_logs: bool = True,
        log_interval: float = 5.0,
        log_tail_lines: int = 50,
        allow_stopped: bool = False,
        on_finish_action: str = "delete",
        name_prefix: str = "",
        queue_name: str | None = None,
        priority_class: str | None = None,
        **kwargs: Any,
    ) -> None:
        from airflow_ray_k8s._lifecycle.queueing import kueue_labels

        super().__init__(**kwargs)
        self.kueue_labels = kueue_labels(self.task_id, queue_name, priority_class)
        if queue_name is not None and ray_cluster_spec is None:
            raise ValueError(
                f"{self.task_id}: queue_name needs ray_cluster_spec: KubeRay suspends (and Kueue admits) "
                "only RayJobs that create their own cluster"
            )
        if on_finish_action not in ON_FINISH_ACTIONS:
            raise ValueError(
                f"{self.task_id}: on_finish_action must be one of {', '.join(ON_FINISH_ACTIONS)}"
            )
        if (ray_cluster_spec is None) == (cluster_name is None):
            raise ValueError(
                f"{self.task_id}: give exactly one of ray_cluster_spec (an ephemeral cluster) "
                "or cluster_name (an existing RayCluster)"
            )
        if submission_mode is not None and submission_mode not in SUBMISSION_MODES:
            raise ValueError(f"{self.task_id}: submission_mode must be one of {', '.join(SUBMISSION_MODES)}")
        for label, value in (
            ("startup_timeout", startup_timeout),
            ("log_interval", log_interval),
        ):
            if value is None or value <= 0:
                raise ValueError(f"{self.task_id}: {label} must be > 0")
        for label, number in (
            ("ttl_seconds_after_finished", ttl_seconds_after_finished),
            ("active_deadline_seconds", active_deadline_seconds),
            ("pre_running_deadline_seconds", pre_running_deadline_seconds),
            ("backoff_limit", backoff_limit),
            ("log_tail_lines", log_tail_lines),
        ):
            if number is not None and number < 0:
                raise ValueError(f"{self.task_id}: {label} must be >= 0")
        ephemeral = ray_cluster_spec is not None
        if shutdown_after_job_finishes is None:
            shutdown_after_job_finishes = ephemeral and deletion_strategy is None
        if ttl_seconds_after_finished is None and shutdown_after_job_finishes:
            ttl_seconds_after_finished = DEFAULT_TTL_SECONDS
        if queue_name is not None and not shutdown_after_job_finishes:
            # KubeRay's rule for suspended RayJobs; Kueue would otherwise never get the quota back.
            raise ValueError(
                f"{self.task_id}: queue_name needs shutdown_after_job_finishes (not False, and no "
                "deletion_strategy): KubeRay suspends only RayJobs that delete their cluster"
            )
        self.entrypoint = entrypoint
        self.ray_cluster_spec = ray_cluster_spec
        self.cluster_name = cluster_name
        self.runtime_env = runtime_env
        self.metadata = metadata
        self.submission_mode = submission_mode
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.shutdown_after_job_finishes = shutdown_after_job_finishes
        self.ttl_seconds_after_finished = ttl_seconds_after_finished
        self.active_deadline_seconds = active_deadline_seconds
        self.pre_running_deadline_seconds = pre_running_deadline_seconds
        self.backoff_limit = backoff_limit
        self.deletion_strategy = deletion_strategy
        self.entrypoint_num_cpus = entrypoint_num_cpus
        self.entrypoint_num_gpus = entrypoint_num_gpus
        self.entrypoint_resources = entrypoint_resources
        self.job_labels = job_labels
        self.job_annotations = job_annotations
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.startup_timeout = float(startup_timeout)
        self.get_logs = get_logs
        self.log_interval = float(log_interval)
        self.log_tail_lines = log_tail_lines
        self.allow_stopped = allow_stopped
        self.on_finish_action = on_finish_action
        self.name_prefix = name_prefix
        self.queue_name = queue_name
        self.priority_class = priority_class
        # What this try created or attached to, for on_kill (set in execute, never serialized).
        self._rayjob: tuple[str, str] | None = None

    # --- building ---------------------------------------------------------------------------------------

    @property
    def ephemeral(self) -> bool:
        """Whether the job runs on a cluster KubeRay creates for it."""
        return self.ray_cluster_spec is not None

    def _spec_fields(self) -> dict[str, Any]:
        from airflow_ray_k8s._lifecycle.manifests import load_cluster_spec

        fields: dict[str, Any] = {
            "entrypoint": self.entrypoint,
            "runtime_env": self.runtime_env or None,
            "metadata": self.metadata or None,
            "submission_mode": self.submission_mode,
            "active_deadline_seconds": self.active_deadline_seconds,
            "pre_running_deadline_seconds": self.pre_running_deadline_seconds,
            "backoff_limit": self.backoff_limit,
            "deletion_strategy": self.deletion_strategy,
            "entrypoint_num_cpus": self.entrypoint_num_cpus,
            "entrypoint_num_gpus": self.entrypoint_num_gpus,
            "entrypoint_resources": self.entrypoint_resources,
        }
        if self.ephemeral:
            fields["ray_cluster_spec"] = load_cluster_spec(self.ray_cluster_spec)
            fields["shutdown_after_job_finishes"] = self.shutdown_after_job_finishes or None
            fields["ttl_seconds_after_finished"] = self.ttl_seconds_after_finished
            if self.queue_name:
                # Created suspended, as Kueue's webhook would make it: Kueue admits it (suspend=false).
                fields["suspend"] = True
        else:
            from airflow_ray_k8s.specs.rayjob import CLUSTER_SELECTOR_KEY

            fields["cluster_selector"] = {CLUSTER_SELECTOR_KEY: str(self.cluster_name)}
        return fields

    def build_rayjob(self, context: Context, namespace: str, attempt: int | None = None) -> dict[str, Any]:
        """The RayJob this try would submit, validated client-side.

        :param attempt: the name's attempt suffix (default: the try number).
        :raises AirflowFailException: the spec breaks a KubeRay rule (a retry cannot help).
        """
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_ray_k8s._lifecycle.manifests import rayjob_body
        from airflow_ray_k8s.exceptions import SpecValidationError

        identity, try_number = identity_from_context(context)
        attempt = try_number if attempt is None else attempt
        if not self.ephemeral and not str(self.cluster_name or "").strip():
            raise AirflowFailException(f"{self.task_id}: cluster_name rendered empty")
        # The longest anything may wait for this RayJob, then the TTL KubeRay keeps it for.
        bound = wait_bound(self.execution_timeout, self.active_deadline_seconds, dagrun_timeout(context))
        try:
            return rayjob_body(
                name=identity.resource_name("rayjob", try_number=attempt, prefix=self.name_prefix),
                namespace=namespace,
                identity=identity,
                try_number=attempt,
                expires_at=expiry_time(bound, self.ttl_seconds_after_finished),
                spec_fields=self._spec_fields(),
                labels={**(self.job_labels or {}), **self.kueue_labels},
                annotations=self.job_annotations,
            )
        except SpecValidationError as exc:
            raise AirflowFailException(f"{self.task_id}: {exc}") from exc

    # --- execution --------------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Submit (or re-attach to, or adopt) this task instance's RayJob and wait for it."""
        from airflow_ray_k8s._lifecycle import jobs
        from airflow_ray_k8s._lifecycle.attach import decide, next_attempt
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook
        from airflow_ray_k8s.status import RayJobStatus

        hook = KubeRayHook(kuberay_conn_id=self.kuberay_conn_id)
        namespace = jobs.resolve_namespace(hook, self.namespace)
        # Validated before any API call: a spec KubeRay would reject fails here, without retry.
        body = self.build_rayjob(context, namespace)
        identity, try_number = identity_from_context(context)
        history = jobs.list_rayjobs(hook, namespace, identity.selector())
        decision = decide(history)
        self.log.info("%s", decision.why)
        if decision.action == "create":
            attempt = next_attempt(history, try_number)
            if attempt != try_number:
                body = self.build_rayjob(context, namespace, attempt)
            obj, created, spec_matches = jobs.create_rayjob(hook, namespace, body)
            if created:
                self.log.info("Submitted RayJob %s/%s", namespace, body["metadata"]["name"])
            else:
                # 409: this try's name exists (a crash right after the create): the same job.
                self.log.info(
                    "RayJob %s/%s already exists: re-attaching", namespace, body["metadata"]["name"]
                )
                if not spec_matches:
                    self.log.warning(
                        "The existing RayJob's spec differs from this try's; waiting for it as is"
                    )
        else:
            assert decision.existing is not None
            obj = dict(decision.existing)
            if decision.action == "attach":
                # This try waits for it now: its expiry must cover this try's wait too.
                jobs.extend_expiry(hook, namespace, obj, body)
        if self.ephemeral and decision.action != "adopt" and not self.queue_name:
            # (A queued job's cluster is named when Kueue admits it: no link to wait for now.)
            obj = dict(jobs.wait_for_cluster_name(hook, namespace, obj))
        status = RayJobStatus.from_object(obj)
        self._rayjob = (namespace, status.name)
        self._push_dashboard_url(context, hook, status)
        if decision.action == "adopt":
            # The try that saw this success died before taking it, so its figures were not sent.
            self._send_metrics(context, namespace, status, {}, "adopted")
            return self._succeed(context, hook, status, obj=obj)
        if not self.wait_for_completion:
            return self._xcom(status)
        trigger = self._trigger(status, obj, try_number)
        if self.deferrable and not status.is_terminal:
            self.defer_wait(trigger, context)
        # Not deferrable, or already terminal (checked once before deferring): the same wait, here.
        from airflow_ray_k8s._lifecycle.waits import run_inline

        return self.execute_complete(context, run_inline(trigger))

    def _trigger(self, status: RayJobStatus, obj: Mapping[str, Any], try_number: int) -> Any:
        from airflow_ray_k8s._lifecycle.jobs import creation_time
        from airflow_ray_k8s.triggers.rayjob import RayJobTrigger

        created = creation_time(obj) or time.time()
        return RayJobTrigger(
            name=status.name,
            namespace=status.namespace,
            kuberay_conn_id=self.kuberay_conn_id,
            try_number=try_number,
            get_logs=self.get_logs,
            log_offset=0,
            log_interval=self.log_interval,
            # Counted from the RayJob's creation, so a re-attach or a restart keeps the same deadline.
            startup_deadline=created + self.startup_timeout,
            tail_lines=self.log_tail_lines,
            delete_on_kill=True,
            collect_results=True,
            # A queued job's start-up time counts from its admission (Kueue).
            startup_timeout=self.startup_timeout if self.queue_name else None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Turn the wait's event into the task's outcome (also used by the non-deferrable path)."""
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_ray_k8s._lifecycle import explain, jobs
        from airflow_ray_k8s.exceptions import RayClusterStartupError, RayJobFailedError, RayK8sError
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook
        from airflow_ray_k8s.status import JOB_STOPPED, RayJobStatus

        hook = KubeRayHook(kuberay_conn_id=self.kuberay_conn_id)
        kind = event.get("status")
        name, namespace = str(event.get("name")), str(event.get("namespace"))
        self._rayjob = (namespace, name)
        if kind in ("error", "deleted"):
            self._send_metrics(context, namespace, RayJobStatus(name=name, namespace=namespace), event, kind)
        if kind == "error":
            raise RayK8sError(f"Waiting for RayJob {namespace}/{name} failed: {event.get('message')}")
        if kind == "deleted":
            raise RayJobFailedError(f"RayJob {namespace}/{name} was deleted before it finished", event)
        status = RayJobStatus.from_json(event.get("job") or {})
        self._send_metrics(context, namespace, status, event, kind)
        if kind == "startup_timeout":
            message = explain.startup_failure(
                "RayJob", namespace, name, self.startup_timeout, event.get("reasons") or []
            )
            self.log.error("%s", message)
            # The job never ran: delete it and its cluster now (KubeRay's TTL would not).
            jobs.try_delete_rayjob_and_cluster(hook, namespace, name, log=self.log)
            raise RayClusterStartupError(message)
        self._push_dashboard_url(context, hook, status)
        if status.is_success or (self.allow_stopped and status.job_status == JOB_STOPPED):
            return self._succeed(context, hook, status, event=event)
        message = explain.job_failure(
            status, event.get("log_tail") or [], log_note=event.get("log_note") or ""
        )
        if not self._finish(hook, status, succeeded=False) and self.ephemeral:
            # KubeRay gap: a deployment that failed before the job ran escapes the deletion rules,
            # so its cluster would stay forever. The task deletes it (it made it).
            jobs.delete_cluster_if_failed_before_running(hook, namespace, status, log=self.log)
        if status.is_validation_failed:
            raise AirflowFailException(message)
        raise RayJobFailedError(message, {"job": status.to_json(), "log_tail": event.get("log_tail") or []})

    def _send_metrics(
        self, context: Context, namespace: str, status: RayJobStatus, event: Mapping[str, Any], kind: Any
    ) -> None:
        """Send the finished job's figures (:mod:`airflow_ray_k8s.metrics`) once per outcome taken."""
        from airflow_ray_k8s import metrics
        from airflow_ray_k8s.status import JOB_STOPPED

        if kind in ("error", "deleted", "startup_timeout"):
            outcome, reason = kind, {"startup_timeout": "StartupTimeout"}.get(str(kind), "none")
        elif status.is_success:
            outcome, reason = "succeeded", status.reason
        elif status.is_validation_failed:
            outcome, reason = "validation_failed", "ValidationFailed"
        elif status.job_status == JOB_STOPPED:
            outcome, reason = "stopped", status.reason
        else:
            outcome, reason = "failed", status.reason
        figures = metrics.rayjob_figures(
            status,
            event.get("timings"),
            outcome=outcome,
            reason=reason,
            queue=self.queue_name or "",
            own_cluster=self.ephemeral,
        )
        metrics.emit_rayjob(figures, metrics.task_tags(context, namespace))

    def _succeed(
        self,
        context: Context,
        hook: Any,
        status: RayJobStatus,
        *,
        event: Mapping[str, Any] | None = None,
        obj: Mapping[str, Any] | None = None,
    ) -> Any:
        from airflow_ray_k8s._lifecycle import jobs, returns

        self.log.info("RayJob %s/%s %s", status.namespace, status.name, status.phase)
        # What the program published: read by the wait (the event), else kept on the RayJob or in
        # its driver log (an adopted success). Before the consumed mark, which ends both.
        found = (event or {}).get("results")
        collected = (
            returns.Collected.from_json(found) if found else returns.collect(hook, status, obj, log=self.log)
        )
        # Recorded on the RayJob just before returning: a cleared task then runs anew (case c),
        # while a worker that dies before this line leaves a success a retry adopts (case d).
        jobs.mark_consumed(hook, status.namespace, status.name)
        self._finish(hook, status, succeeded=True)
        return self._outcome(context, status, collected)

    def _outcome(self, context: Context, status: RayJobStatus, collected: Any) -> Any:
        """The task's return value (XCom ``return_value``): the status dict; results the program
        published (:mod:`airflow_ray_k8s.results`) go to the XCom ``results``."""
        from airflow_ray_k8s._lifecycle.returns import XCOM_RESULTS

        if collected.results:
            context["ti"].xcom_push(key=XCOM_RESULTS, value=collected.results)
        for problem in collected.problems:
            self.log.warning("Published results of %s: %s", status.name, problem)
        return self._xcom(status)

    def _finish(self, hook: Any, status: RayJobStatus, *, succeeded: bool) -> bool:
        """Apply ``on_finish_action`` once the outcome and the logs are recorded; True if deleted."""
        from airflow_ray_k8s._lifecycle import jobs

        if self.on_finish_action == "keep" or (self.on_finish_action == "delete_succeeded" and not succeeded):
            return False
        # The outcome stands even if this fails.
        return jobs.try_delete_rayjob_and_cluster(hook, status.namespace, status.name, log=self.log)

    def _xcom(self, status: RayJobStatus) -> dict[str, Any]:
        return {
            "name": status.name,
            "namespace": status.namespace,
            "job_id": status.job_id,
            "cluster_name": status.ray_cluster_name or (self.cluster_name or ""),
            "job_status": status.job_status,
            "deployment_status": status.deployment_status,
            "dashboard_url": status.dashboard_url,
            "start_time": status.start_time,
            "end_time": status.end_time,
        }

    def _push_dashboard_url(self, context: Context, hook: Any, status: RayJobStatus) -> None:
        from airflow_ray_k8s._lifecycle import jobs

        cluster = status.ray_cluster_name or (self.cluster_name or "")
        if cluster:
            url = jobs.dashboard_url(hook, status.namespace, cluster)
            if url:
                context["ti"].xcom_push(key=XCOM_DASHBOARD_URL, value=url)

    def clean_up_after_timeout(self, context: Context) -> None:
        """The deferral reached ``execution_timeout``: delete what this task instance left running
        (what a non-deferrable timeout gets from ``on_kill``)."""
        from airflow_ray_k8s._lifecycle import jobs
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook

        hook = KubeRayHook(kuberay_conn_id=self.kuberay_conn_id)
        namespace = jobs.resolve_namespace(hook, self.namespace)
        identity, _ = identity_from_context(context)
        for name in jobs.unfinished_rayjobs(hook, namespace, identity.selector()):
            self.log.info("Deferral timed out: deleting RayJob %s/%s", namespace, name)
            jobs.try_delete_rayjob_and_cluster(hook, namespace, name, log=self.log)

    def on_kill(self) -> None:
        """The task was killed on its worker: delete the RayJob (and its ephemeral cluster)."""
        if self._rayjob is None:
            return
        from airflow_ray_k8s._lifecycle import jobs
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook

        namespace, name = self._rayjob
        self.log.info("Task killed: deleting RayJob %s/%s", namespace, name)
        jobs.delete_rayjob_and_cluster(
            KubeRayHook(kuberay_conn_id=self.kuberay_conn_id), namespace, name, log=self.log
        )
