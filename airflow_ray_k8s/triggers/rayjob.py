"""Deferrable wait for a RayJob: :class:`RayJobTrigger`.

Importing this module is cheap (it runs on the DAG-parse path through the operators' ``defer``):
the Kubernetes clients and the watch hub are imported inside :meth:`RayJobTrigger.run`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from airflow.triggers.base import TriggerEvent

from airflow_ray_k8s.triggers._kwargs import ParameterTrigger


class RayJobTrigger(ParameterTrigger):
    """Wait until a RayJob's deployment is terminal, streaming its driver log meanwhile.

    The wait is a subscription to the triggerer's shared watch of RayJobs in the namespace (one
    watch per connection, namespace and kind however many tasks wait), so it costs no request per
    job while nothing changes, and resumes within a second of the terminal status.

    Fires one event ``{"status": ..., ...}``:

    - ``"terminal"``: KubeRay will not change the outcome; ``job`` holds the status
      (:meth:`airflow_ray_k8s.status.RayJobStatus.to_json`), ``log_tail`` the last driver-log
      lines (collected before the TTL deletes the cluster), ``log_offset`` how far the log was
      streamed, and with ``collect_results`` ``results`` the published records
      (:class:`airflow_ray_k8s._lifecycle.returns.Collected`).
    - ``"startup_timeout"``: the job did not start running before ``startup_deadline``;
      ``reasons`` names the pods' states and the Kubernetes events.
    - ``"deleted"``: the RayJob disappeared before it finished.
    - ``"error"``: the wait itself failed (``message``).

    :param name: the RayJob's name.
    :param namespace: its namespace.
    :param kuberay_conn_id: the Airflow connection to the Kubernetes cluster.
    :param try_number: the waiting task's try; keys the log offset recorded on the RayJob.
    :param get_logs: stream the driver log into the task log and collect its tail.
    :param log_offset: characters of the driver log the task log already holds.
    :param log_interval: seconds between driver-log fetches while the job runs.
    :param startup_deadline: UNIX time by which the job must be running, or ``None``.
    :param startup_timeout: seconds the job may take to start once Kueue admitted it: a RayJob
        Kueue keeps suspended (queued) waits without a deadline, and once admitted has until
        ``max(startup_deadline, admission + startup_timeout)``. ``None``: the deadline alone.
    :param tail_lines: driver-log lines kept for the event.
    :param delete_on_kill: delete the RayJob (and its cluster, when it created one) when a user
        kills the deferred task. A triggerer restart never deletes anything.
    :param wait_for_creation: a RayJob that does not exist yet is waited for (a sensor's wait)
        instead of reported ``"deleted"``; once it existed, its disappearance is reported.
    :param collect_results: read the records the program published (:mod:`airflow_ray_k8s.results`)
        from the whole driver log when the job ends, keep a success's on the RayJob, and put them in
        the ``"terminal"`` event as ``results``.
    """

    def __init__(
        self,
        *,
        name: str,
        namespace: str,
        kuberay_conn_id: str = "kuberay_default",
        try_number: int = 1,
        get_logs: bool = True,
        log_offset: int = 0,
        log_interval: float = 5.0,
        startup_deadline: float | None = None,
        tail_lines: int = 50,
        delete_on_kill: bool = False,
        wait_for_creation: bool = False,
        collect_results: bool = False,
        startup_timeout: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.name = name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.try_number = try_number
        self.get_logs = get_logs
        self.log_offset = log_offset
        self.log_interval = log_interval
        self.startup_deadline = startup_deadline
        self.tail_lines = tail_lines
        self.delete_on_kill = delete_on_kill
        self.wait_for_creation = wait_for_creation
        self.collect_results = collect_results
        self.startup_timeout = startup_timeout
        self._fired = False

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait (see the class docstring) and fire exactly one event."""
        from airflow_ray_k8s._lifecycle.waits import RayJobWait

        wait = RayJobWait(**self.wait_kwargs(), log=self.log)
        payload = await wait.run()
        self._fired = True
        yield TriggerEvent(payload)

    async def on_kill(self) -> None:
        """A user killed the deferred task (Airflow >= 3.3): delete what the task created.

        Not called when the triggerer restarts or moves the trigger; then the wait resumes
        elsewhere from the serialized kwargs and nothing is deleted.
        """
        if self._fired or not self.delete_on_kill:
            return
        from airflow_ray_k8s._lifecycle.waits import delete_rayjob_async

        self.log.info("Task killed: deleting RayJob %s/%s", self.namespace, self.name)
        await delete_rayjob_async(self.kuberay_conn_id, self.namespace, self.name, log=self.log)
