"""Deferrable waits for a RayCluster: :class:`RayClusterTrigger`.

Importing this module is cheap: the Kubernetes clients and the watch hub are imported in ``run``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from airflow.triggers.base import TriggerEvent

from airflow_ray_k8s.triggers._kwargs import ParameterTrigger

#: What a :class:`RayClusterTrigger` waits for.
WAIT_READY = "ready"
WAIT_DELETED = "deleted"
WAIT_CONDITION = "condition"
WAIT_TARGETS = (WAIT_READY, WAIT_DELETED, WAIT_CONDITION)


class RayClusterTrigger(ParameterTrigger):
    """Wait until a RayCluster is ready, has a condition true, or is gone.

    Like :class:`~airflow_ray_k8s.triggers.rayjob.RayClusterTrigger`, the wait is a subscription to
    the triggerer's shared watch of RayClusters in the namespace.

    Fires one event ``{"status": ..., "name": ..., "namespace": ..., ...}``:

    - ``"ready"`` / ``"condition"`` / ``"deleted"``: the awaited state was reached; ``cluster``
      holds the status (:meth:`airflow_ray_k8s.status.RayClusterStatus.to_json`) when it exists.
    - ``"failed"``: the cluster reports a final failure (``message``).
    - ``"missing"``: waiting for readiness or a condition, and the cluster does not exist.
    - ``"startup_timeout"``: not ready before ``deadline``; ``reasons`` names pod states and events.
    - ``"timeout"``: a deletion not finished before ``deadline``.
    - ``"error"``: the wait itself failed (``message``).

    :param name: the RayCluster's name.
    :param namespace: its namespace.
    :param kuberay_conn_id: the Airflow connection to the Kubernetes cluster.
    :param wait_for: ``"ready"`` (``HeadPodReady`` and ``RayClusterProvisioned``), ``"condition"``
        (``condition_type`` becomes true) or ``"deleted"``.
    :param condition_type: the condition type for ``wait_for="condition"``.
    :param deadline: UNIX time after which the wait fails, or ``None``.
    :param delete_on_kill: delete the cluster when a user kills the deferred task (the task created
        it). A triggerer restart never deletes anything.
    :param startup_timeout: for a cluster on a Kueue LocalQueue: while Kueue keeps it suspended the
        wait has no deadline, and once admitted it has until ``max(deadline, admission +
        startup_timeout)``. ``None``: ``deadline`` alone.
    """

    def __init__(
        self,
        *,
        name: str,
        namespace: str,
        kuberay_conn_id: str = "kuberay_default",
        wait_for: str = WAIT_READY,
        condition_type: str | None = None,
        deadline: float | None = None,
        delete_on_kill: bool = False,
        startup_timeout: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if wait_for not in WAIT_TARGETS:
            raise ValueError(f"wait_for must be one of {', '.join(WAIT_TARGETS)}")
        if wait_for == WAIT_CONDITION and not condition_type:
            raise ValueError("wait_for='condition' needs condition_type")
        self.name = name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.wait_for = wait_for
        self.condition_type = condition_type
        self.deadline = deadline
        self.delete_on_kill = delete_on_kill
        self.startup_timeout = startup_timeout
        self._fired = False

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait (see the class docstring) and fire exactly one event."""
        from airflow_ray_k8s._lifecycle.waits import RayClusterWait

        wait = RayClusterWait(**self.wait_kwargs(), log=self.log)
        payload = await wait.run()
        self._fired = True
        yield TriggerEvent(payload)

    async def on_kill(self) -> None:
        """A user killed the deferred task (Airflow >= 3.3): delete the cluster the task created."""
        if self._fired or not self.delete_on_kill:
            return
        from airflow_ray_k8s._lifecycle.kube import KubeSession

        self.log.info("Task killed: deleting RayCluster %s/%s", self.namespace, self.name)
        async with KubeSession(self.kuberay_conn_id) as kube:
            await kube.delete("raycluster", self.namespace, self.name)
