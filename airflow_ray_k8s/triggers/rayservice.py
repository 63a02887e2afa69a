"""Deferrable waits for a RayService: :class:`RayServiceTrigger`.

Importing this module is cheap: the Kubernetes clients and the watch hub are imported in ``run``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from airflow.triggers.base import TriggerEvent

from airflow_ray_k8s.triggers._kwargs import ParameterTrigger

#: What a :class:`RayServiceTrigger` waits for (see ``airflow_ray_k8s._lifecycle.service_waits``).
WAIT_TARGETS = ("deployed", "healthy", "deleted")


class RayServiceTrigger(ParameterTrigger):
    """Wait until a RayService has rolled out a spec, serves healthy applications, or is gone.

    The wait is a subscription to the triggerer's shared watch of RayServices in the namespace.
    Fires one event ``{"status": ..., "name": ..., "namespace": ..., "service": ..., ...}``
    (``service``: :meth:`airflow_ray_k8s.service_status.RayServiceStatus.to_json`):

    - ``"deployed"``: KubeRay saw ``generation``, ``Ready`` is true, no upgrade is in progress (no
      pending cluster) and the applications run healthy on the active cluster.
    - ``"healthy"``: the named applications (all, if none) are ``RUNNING`` with healthy deployments.
    - ``"deleted"``: the RayService is gone.
    - ``"failed"``: KubeRay gave up (``ValidationFailed``, ``InitializingTimeout``) or Serve reports
      an application ``DEPLOY_FAILED`` / ``UNHEALTHY`` on the cluster being deployed (``message``).
    - ``"missing"``: waiting for a deploy, and the RayService does not exist.
    - ``"timeout"``: ``deadline`` passed first (a stalled upgrade).
    - ``"error"``: the wait itself failed (``message``).

    A kill or a triggerer restart deletes nothing: a RayService outlives the task that deployed it.

    :param name: the RayService's name.
    :param namespace: its namespace.
    :param kuberay_conn_id: the Airflow connection to the Kubernetes cluster.
    :param wait_for: ``"deployed"``, ``"healthy"`` or ``"deleted"``.
    :param generation: for ``"deployed"``: the ``metadata.generation`` the task wrote.
    :param applications: the Serve applications to check (default: all the status lists).
    :param deadline: UNIX time after which the wait fails, or ``None``.
    """

    def __init__(
        self,
        *,
        name: str,
        namespace: str,
        kuberay_conn_id: str = "kuberay_default",
        wait_for: str = "deployed",
        generation: int | None = None,
        applications: list[str] | None = None,
        deadline: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if wait_for not in WAIT_TARGETS:
            raise ValueError(f"wait_for must be one of {', '.join(WAIT_TARGETS)}")
        self.name = name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.wait_for = wait_for
        self.generation = generation
        self.applications = list(applications or [])
        self.deadline = deadline

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait (see the class docstring) and fire exactly one event."""
        from airflow_ray_k8s._lifecycle.service_waits import RayServiceWait

        wait = RayServiceWait(**self.wait_kwargs())
        yield TriggerEvent(await wait.run())
