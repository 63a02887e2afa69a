"""The sync Kubernetes client of the provider: runs the shared operations over :class:`SyncTransport`.

Usable without Airflow (``KubeClient(ConnectionSettings(...))``); the Airflow hook
:class:`~airflow_ray_k8s.hooks.kuberay.KubeRayHook` is this class plus connection loading.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from airflow_ray_k8s.exceptions import KubeApiError
from airflow_ray_k8s.kube import access, dashboard, diagnostics
from airflow_ray_k8s.kube import request as rq
from airflow_ray_k8s.kube.base import ClientBase
from airflow_ray_k8s.kube.effects import (
    CloseStream,
    Effect,
    Emit,
    Op,
    OpenStream,
    ReadLine,
    RegisterSecret,
    Sleep,
    step,
)
from airflow_ray_k8s.kube.ops import CreateResult
from airflow_ray_k8s.kube.request import KubeRequest, KubeResponse, ObjectList
from airflow_ray_k8s.kube.retry import attempts_made
from airflow_ray_k8s.kube.transport import SyncLineStream, SyncTransport
from airflow_ray_k8s.kube.watch import Predicate
from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB, Resource
from airflow_ray_k8s.status import RayClusterStatus, RayJobStatus

T = TypeVar("T")


class KubeClient(ClientBase):
    """Sync access to RayCluster / RayJob objects, their pods and events, and the Ray dashboard.

    Every method checks the namespace against the connection's allow-list before sending anything,
    retries transient failures per :attr:`retry_policy`, and raises only the project's exceptions.
    """

    _transport: SyncTransport | None = None

    @property
    def transport(self) -> SyncTransport:
        """The sync transport (created on first use)."""
        if self._transport is None:
            self._transport = SyncTransport(self.settings)
        return self._transport

    def close(self) -> None:
        """Release connections."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the driver -----------------------------------------------------------------------------------

    def send(self, request: KubeRequest) -> KubeResponse:
        """Send one request: namespace check, retry policy (bounded by its deadline), error mapping."""
        import tenacity

        self._check_request(request)
        retrying = tenacity.Retrying(**self.retry_policy.tenacity_kwargs(request.deadline))
        try:
            response: KubeResponse = retrying(self.transport.send, request)
        except KubeApiError as exc:
            exc.attempts = attempts_made(retrying)
            raise
        return response

    def run(self, op: Op[T], on_emit: Callable[[Any], None] | None = None) -> T:
        """Run a sans-I/O operation to its end (see :mod:`airflow_ray_k8s.kube.effects`)."""
        streams: list[SyncLineStream] = []
        value: Any = None
        error: KubeApiError | None = None
        try:
            while True:
                done, effect = step(op, value, error)
                if done:
                    result: T = effect
                    return result
                value, error = None, None
                try:
                    value = self._perform(effect, streams, on_emit)
                except KubeApiError as exc:
                    error = exc
        finally:
            for stream in streams:
                stream.close()
            op.close()

    def _perform(
        self, effect: Effect, streams: list[SyncLineStream], on_emit: Callable[[Any], None] | None
    ) -> Any:
        if isinstance(effect, KubeRequest):
            return self.send(effect)
        if isinstance(effect, ReadLine):
            return effect.stream.readline(effect.deadline)
        if isinstance(effect, Emit):
            if on_emit is None:
                raise TypeError("this operation emits items; pass on_emit")
            on_emit(effect.item)
            return None
        if isinstance(effect, Sleep):
            time.sleep(effect.seconds)
            return None
        if isinstance(effect, RegisterSecret):
            self.register_secret(effect.value)
            return None
        if isinstance(effect, OpenStream):
            self._check_request(effect.request)
            stream = self.transport.open(effect.request)
            streams.append(stream)
            return stream
        if isinstance(effect, CloseStream):
            effect.stream.close()
            if effect.stream in streams:
                streams.remove(effect.stream)
            return None
        raise TypeError(f"unknown effect {effect!r}")

    # --- objects --------------------------------------------------------------------------------------

    def create(
        self, resource: Resource, body: Mapping[str, Any], *, namespace: str | None = None
    ) -> CreateResult:
        """Create an object, or re-attach to it if this provider created it already (409).

        :param body: the full object; ``metadata.name`` is required (it is the idempotency key).
            The spec-hash annotation is added if absent. An existing object counts as this task's
            (re-attach) when it is labelled ``app.kubernetes.io/managed-by=airflow-ray-k8s`` and, if
            ``body`` has the task-key label, carries the same task key.
        :return: the object, whether this call created it, and whether an existing object's spec
            hash matches.
        :raises KubeConflictError: the name is taken by an object this task does not own.
        """
        return self.run(self._op_create(resource, body, namespace))

    def dry_run_create(
        self, resource: Resource, body: Mapping[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]:
        """Server-side dry run of a create (schema and admission checks, nothing stored)."""
        return self.run(self._op_dry_run(resource, body, namespace))

    def get(self, resource: Resource, name: str, *, namespace: str | None = None) -> dict[str, Any]:
        """One object. :raises KubeNotFoundError: it does not exist."""
        return self.run(self._op_get(resource, name, namespace))

    def get_or_none(
        self, resource: Resource, name: str, *, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """One object, or ``None`` if it does not exist."""
        return self.run(self._op_get_or_none(resource, name, namespace))

    def list_objects(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ObjectList:
        """All objects of a namespace matching the selectors (all pages)."""
        return self.run(self._op_list(resource, namespace, label_selector, field_selector))

    def patch(
        self, resource: Resource, name: str, patch: Mapping[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]:
        """JSON merge patch; returns the patched object."""
        return self.run(self._op_patch(resource, name, patch, namespace))

    def delete(
        self,
        resource: Resource,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: str = "Background",
        grace_period_seconds: int | None = None,
    ) -> bool:
        """Delete an object; ``False`` if it was already gone (a 404 is not an error).

        A 404 after a retry (the first attempt's answer was lost) counts as deleted by this call:
        see :func:`airflow_ray_k8s.kube.ops.delete`.
        """
        return self.run(self._op_delete(resource, name, namespace, propagation_policy, grace_period_seconds))

    def wait_for_deletion(
        self, resource: Resource, name: str, *, namespace: str | None = None, timeout: float = 300
    ) -> None:
        """Block until the object is gone. :raises WaitTimeoutError: still there after ``timeout``."""
        self.run(self._op_wait_deleted(resource, name, namespace, timeout))

    def wait_for(
        self,
        resource: Resource,
        name: str,
        predicate: Predicate,
        *,
        namespace: str | None = None,
        timeout: float,
    ) -> Mapping[str, Any] | None:
        """Watch one object until ``predicate(obj_or_None)`` holds; returns that state.

        :raises WaitTimeoutError: not within ``timeout`` seconds.
        """
        return self.run(self._op_wait_for(resource, name, predicate, namespace, timeout))

    # --- typed status -------------------------------------------------------------------------------

    def get_rayjob_status(self, name: str, *, namespace: str | None = None) -> RayJobStatus:
        """The status of a RayJob. :raises KubeNotFoundError: it does not exist."""
        return RayJobStatus.from_object(self.get(RAYJOB, name, namespace=namespace))

    def get_raycluster_status(self, name: str, *, namespace: str | None = None) -> RayClusterStatus:
        """The status of a RayCluster. :raises KubeNotFoundError: it does not exist."""
        return RayClusterStatus.from_object(self.get(RAYCLUSTER, name, namespace=namespace))

    # --- diagnostics, dashboard, connection check -----------------------------------------------------

    def diagnose_cluster(self, cluster: str, *, namespace: str | None = None) -> diagnostics.ClusterDiagnosis:
        """The cluster's pods and their problems (ImagePullBackOff, Unschedulable, OOMKilled...)."""
        return self.run(self._op_diagnose(cluster, namespace))

    def get_job_info(self, cluster: str, job_id: str, *, namespace: str | None = None) -> dashboard.JobInfo:
        """The Ray job's status from the cluster's dashboard.

        :raises RayDashboardJobNotFoundError: unknown job id.
        :raises RayDashboardError: the dashboard could not be reached or answered an error.
        """
        return self.run(self._op_job(cluster, job_id, namespace))

    def get_job_logs(self, cluster: str, job_id: str, *, namespace: str | None = None) -> str:
        """The Ray job's driver log so far."""
        return self.run(self._op_job_logs(cluster, job_id, namespace))

    def stop_job(self, cluster: str, job_id: str, *, namespace: str | None = None) -> bool:
        """Ask the dashboard to stop the Ray job; ``True`` if it was running."""
        return self.run(self._op_stop_job(cluster, job_id, namespace))

    def service_request(
        self,
        service: str,
        port: str | int,
        path: str,
        *,
        method: str = "POST",
        body: Any = None,
        namespace: str | None = None,
    ) -> Any:
        """Call a Service through the API server's service proxy (e.g. a RayService's
        ``<name>-serve-svc:serve``) and return its JSON answer (``None`` for an empty body)."""
        ns = self.resolve_namespace(namespace)
        response = self.send(rq.service_proxy(ns, service, port, method, path, body))
        return response.json() if response.body else None

    def check_connection(self, *, namespace: str | None = None) -> access.ConnectionReport:
        """Reachability, KubeRay CRDs and their served versions, and the credentials' permissions."""
        return self.run(self._op_check(namespace))
