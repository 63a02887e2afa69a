"""The async Kubernetes client: the same operations as :mod:`.client`, over ``kubernetes_asyncio``.

Only the transport differs from the sync client: ``ApiClient.call_api`` of ``kubernetes_asyncio``
(aiohttp) with ``_preload_content=False`` and an ``aiohttp.ClientTimeout`` on every call. A watch
stream has no total timeout but a socket read timeout, so a half-open connection is noticed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_ray_k8s.exceptions import ConfigurationError, KubeApiError
from airflow_ray_k8s.kube import access, dashboard, diagnostics
from airflow_ray_k8s.kube.base import ClientBase
from airflow_ray_k8s.kube.config import ConnectionSettings
from airflow_ray_k8s.kube.effects import (
    CloseStream,
    Effect,
    Emit,
    LineBuffer,
    Op,
    OpenStream,
    ReadLine,
    RegisterSecret,
    Sleep,
    step,
)
from airflow_ray_k8s.kube.errors import error_for_exception, error_for_response
from airflow_ray_k8s.kube.keyfiles import KeyFiles
from airflow_ray_k8s.kube.ops import CreateResult
from airflow_ray_k8s.kube.request import KubeRequest, KubeResponse, ObjectList, headers_lower
from airflow_ray_k8s.kube.retry import attempts_made
from airflow_ray_k8s.kube.transport import call_kwargs
from airflow_ray_k8s.kube.watch import Predicate
from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB, Resource
from airflow_ray_k8s.status import RayClusterStatus, RayJobStatus

if TYPE_CHECKING:
    from airflow_ray_k8s.kube.hub import WatchHub

T = TypeVar("T")


class AsyncLineStream:
    """An open watch answer (aiohttp), read line by line."""

    def __init__(self, request: KubeRequest, raw: Any) -> None:
        self._request = request
        self._raw = raw
        self._buffer = LineBuffer()
        self._ended = False

    async def readline(self, deadline: float | None = None) -> bytes | None:
        """The next line, or ``None`` when the server ended the stream.

        :param deadline: a ``time.monotonic()`` value; no line by then raises ``KubeTimeoutError``
            (the socket read timeout alone would let a quiet stream run on for ``read_margin``).
        """
        while True:
            line = self._buffer.pop()
            if line is not None:
                return line
            if self._ended:
                return self._buffer.rest()
            try:
                read = self._raw.content.readany()
                if deadline is None:
                    chunk = await read
                else:
                    chunk = await asyncio.wait_for(read, max(0.0, deadline - time.monotonic()))
            except Exception as exc:
                raise error_for_exception(self._request, exc) from exc
            if not chunk:
                self._ended = True
                continue
            self._buffer.feed(chunk)

    def close(self) -> None:
        """Drop the connection."""
        self._raw.close()


def _no_hidden_retries(api: Any) -> None:
    # The retry policy owns retries (the sync side sets urllib3's retries=False in loader.py).
    # aiohttp would resend an idempotent request (GET, PUT, DELETE) once, unseen, when a pooled
    # connection drops; a DELETE whose first attempt landed would then look "already gone".
    # ``_retry_connection`` is a ClientSession attribute aiohttp lets one set (in its ATTRS).
    session = getattr(getattr(api, "rest_client", None), "pool_manager", None)
    if session is not None and hasattr(session, "_retry_connection"):
        session._retry_connection = False


class AsyncTransport:
    """Send requests with a ``kubernetes_asyncio`` ``ApiClient``, created on first use (in the loop)."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        self._api: Any = None
        self._files = KeyFiles()
        self._lock = asyncio.Lock()

    async def api_client(self) -> Any:
        """The underlying ``kubernetes_asyncio.client.ApiClient``."""
        if self._api is None:
            async with self._lock:
                if self._api is None:
                    from kubernetes_asyncio import client

                    from airflow_ray_k8s.kube.loader import async_configuration, client_error

                    try:
                        cfg = await async_configuration(self.settings, self._files)
                        self._api = client.ApiClient(cfg)
                        _no_hidden_retries(self._api)
                    except ConfigurationError:
                        self._files.close()
                        raise
                    except Exception as exc:  # e.g. an unreadable CA bundle (ssl context built here)
                        self._files.close()
                        raise client_error(self.settings, exc) from exc
        return self._api

    def _timeout(self, request: KubeRequest) -> Any:
        import aiohttp

        connect, read = request.timeouts(self.settings.connect_timeout, self.settings.request_timeout)
        if request.stream:
            return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
        return aiohttp.ClientTimeout(total=connect + read, sock_connect=connect, sock_read=read)

    async def _call(self, request: KubeRequest) -> Any:
        api = await self.api_client()
        try:
            return await api.call_api(
                **call_kwargs(request, self.settings), _request_timeout=self._timeout(request)
            )
        except Exception as exc:
            raise error_for_exception(request, exc) from exc

    async def send(self, request: KubeRequest) -> KubeResponse:
        """Send one request and read the whole answer; non-2xx raises."""
        raw = await self._call(request)
        try:
            body = await raw.read()
        except Exception as exc:
            raise error_for_exception(request, exc) from exc
        finally:
            raw.release()
        response = KubeResponse(
            raw.status, headers_lower(raw.headers.items()), body or b"", what=request.describe()
        )
        if not response.ok:
            raise error_for_response(request, response)
        return response

    async def open(self, request: KubeRequest) -> AsyncLineStream:
        """Send a request and return its answer as a line stream; non-2xx raises."""
        raw = await self._call(request)
        if not 200 <= raw.status < 300:
            try:
                body = await raw.read()
            except Exception:
                body = b""
            finally:
                raw.release()
            raise error_for_response(
                request, KubeResponse(raw.status, headers_lower(raw.headers.items()), body)
            )
        return AsyncLineStream(request, raw)

    async def close(self) -> None:
        """Close the aiohttp session and release the kubeconfig's certificate / key files."""
        if self._api is not None:
            api, self._api = self._api, None
            await api.close()
        self._files.close()


class AsyncKubeClient(ClientBase):
    """Async twin of :class:`~airflow_ray_k8s.kube.client.KubeClient`: same operations, same semantics.

    Use it as an async context manager (or call :meth:`close`): the aiohttp session must be closed
    in the event loop that opened it.
    """

    _transport: AsyncTransport | None = None

    async def _aload_settings(self) -> ConnectionSettings:
        return self._load_settings()

    async def ensure_settings(self) -> ConnectionSettings:
        """Load the settings (an Airflow connection, for the hook) without blocking the loop."""
        if self._settings is None:
            self._settings = await self._aload_settings()
        return self._settings

    async def transport(self) -> AsyncTransport:
        """The async transport (created on first use)."""
        if self._transport is None:
            self._transport = AsyncTransport(await self.ensure_settings())
        return self._transport

    async def close(self) -> None:
        """Close connections."""
        if self._transport is not None:
            transport, self._transport = self._transport, None
            await transport.close()

    async def __aenter__(self) -> AsyncKubeClient:
        await self.ensure_settings()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the driver -----------------------------------------------------------------------------------

    async def send(self, request: KubeRequest) -> KubeResponse:
        """Send one request: namespace check, retry policy (bounded by its deadline), error mapping."""
        import tenacity

        self._check_request(request)
        transport = await self.transport()
        retrying = tenacity.AsyncRetrying(**self.retry_policy.tenacity_kwargs(request.deadline))
        try:
            response: KubeResponse = await retrying(transport.send, request)
        except KubeApiError as exc:
            exc.attempts = attempts_made(retrying)
            raise
        return response

    async def arun(self, op: Op[T], on_emit: Callable[[Any], None] | None = None) -> T:
        """Run a sans-I/O operation to its end (see :mod:`airflow_ray_k8s.kube.effects`)."""
        await self.ensure_settings()
        streams: list[AsyncLineStream] = []
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
                    value = await self._perform(effect, streams, on_emit)
                except KubeApiError as exc:
                    error = exc
        finally:
            for stream in streams:
                stream.close()
            op.close()

    async def _perform(
        self, effect: Effect, streams: list[AsyncLineStream], on_emit: Callable[[Any], None] | None
    ) -> Any:
        if isinstance(effect, KubeRequest):
            return await self.send(effect)
        if isinstance(effect, ReadLine):
            return await effect.stream.readline(effect.deadline)
        if isinstance(effect, Emit):
            if on_emit is None:
                raise TypeError("this operation emits items; pass on_emit")
            on_emit(effect.item)
            return None
        if isinstance(effect, Sleep):
            await asyncio.sleep(effect.seconds)
            return None
        if isinstance(effect, RegisterSecret):
            await self.aregister_secret(effect.value)
            return None
        if isinstance(effect, OpenStream):
            self._check_request(effect.request)
            stream = await (await self.transport()).open(effect.request)
            streams.append(stream)
            return stream
        if isinstance(effect, CloseStream):
            effect.stream.close()
            if effect.stream in streams:
                streams.remove(effect.stream)
            return None
        raise TypeError(f"unknown effect {effect!r}")

    # --- objects (see KubeClient for the semantics) -----------------------------------------------------

    async def create(
        self, resource: Resource, body: Mapping[str, Any], *, namespace: str | None = None
    ) -> CreateResult:
        """Create an object, or re-attach to it if this provider created it already (409)."""
        await self.ensure_settings()
        return await self.arun(self._op_create(resource, body, namespace))

    async def dry_run_create(
        self, resource: Resource, body: Mapping[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]:
        """Server-side dry run of a create."""
        await self.ensure_settings()
        return await self.arun(self._op_dry_run(resource, body, namespace))

    async def get(self, resource: Resource, name: str, *, namespace: str | None = None) -> dict[str, Any]:
        """One object. :raises KubeNotFoundError: it does not exist."""
        await self.ensure_settings()
        return await self.arun(self._op_get(resource, name, namespace))

    async def get_or_none(
        self, resource: Resource, name: str, *, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """One object, or ``None`` if it does not exist."""
        await self.ensure_settings()
        return await self.arun(self._op_get_or_none(resource, name, namespace))

    async def list_objects(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ObjectList:
        """All objects of a namespace matching the selectors (all pages)."""
        await self.ensure_settings()
        return await self.arun(self._op_list(resource, namespace, label_selector, field_selector))

    async def patch(
        self, resource: Resource, name: str, patch: Mapping[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]:
        """JSON merge patch; returns the patched object."""
        await self.ensure_settings()
        return await self.arun(self._op_patch(resource, name, patch, namespace))

    async def delete(
        self,
        resource: Resource,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: str = "Background",
        grace_period_seconds: int | None = None,
    ) -> bool:
        """Delete an object; ``False`` if it was already gone (see :func:`.ops.delete`)."""
        await self.ensure_settings()
        return await self.arun(
            self._op_delete(resource, name, namespace, propagation_policy, grace_period_seconds)
        )

    async def wait_for_deletion(
        self, resource: Resource, name: str, *, namespace: str | None = None, timeout: float = 300
    ) -> None:
        """Wait until the object is gone. :raises WaitTimeoutError: still there after ``timeout``."""
        await self.ensure_settings()
        await self.arun(self._op_wait_deleted(resource, name, namespace, timeout))

    async def watch_for(
        self,
        resource: Resource,
        name: str,
        predicate: Predicate,
        *,
        namespace: str | None = None,
        timeout: float,
    ) -> Mapping[str, Any] | None:
        """Like the sync ``wait_for``, on a watch of its own (not shared; see :meth:`wait_for`)."""
        await self.ensure_settings()
        return await self.arun(self._op_wait_for(resource, name, predicate, namespace, timeout))

    async def wait_for(
        self,
        resource: Resource,
        name: str,
        predicate: Predicate,
        *,
        namespace: str | None = None,
        timeout: float,
    ) -> Mapping[str, Any] | None:
        """Wait until ``predicate(obj_or_None)`` holds, through the shared watch hub.

        Any number of concurrent waiters in one (connection, namespace, resource) share one watch.

        :raises WaitTimeoutError: not within ``timeout`` seconds.
        """
        hub = await self.watch_hub()
        ns = self.resolve_namespace(namespace)
        return await hub.wait_for(resource, ns, name, predicate, timeout=timeout)

    async def watch_hub(self) -> WatchHub:
        """The process-wide :class:`~airflow_ray_k8s.kube.hub.WatchHub` of this connection."""
        from airflow_ray_k8s.kube.hub import WatchHub

        settings = await self.ensure_settings()
        return WatchHub.for_settings(
            settings, retry_policy=self.retry_policy, watch_options=self.watch_options
        )

    # --- typed status -------------------------------------------------------------------------------

    async def get_rayjob_status(self, name: str, *, namespace: str | None = None) -> RayJobStatus:
        """The status of a RayJob. :raises KubeNotFoundError: it does not exist."""
        return RayJobStatus.from_object(await self.get(RAYJOB, name, namespace=namespace))

    async def get_raycluster_status(self, name: str, *, namespace: str | None = None) -> RayClusterStatus:
        """The status of a RayCluster. :raises KubeNotFoundError: it does not exist."""
        return RayClusterStatus.from_object(await self.get(RAYCLUSTER, name, namespace=namespace))

    # --- diagnostics, dashboard, connection check -----------------------------------------------------

    async def diagnose_cluster(
        self, cluster: str, *, namespace: str | None = None
    ) -> diagnostics.ClusterDiagnosis:
        """The cluster's pods and their problems."""
        await self.ensure_settings()
        return await self.arun(self._op_diagnose(cluster, namespace))

    async def get_job_info(
        self, cluster: str, job_id: str, *, namespace: str | None = None
    ) -> dashboard.JobInfo:
        """The Ray job's status from the cluster's dashboard."""
        await self.ensure_settings()
        return await self.arun(self._op_job(cluster, job_id, namespace))

    async def get_job_logs(self, cluster: str, job_id: str, *, namespace: str | None = None) -> str:
        """The Ray job's driver log so far."""
        await self.ensure_settings()
        return await self.arun(self._op_job_logs(cluster, job_id, namespace))

    async def stop_job(self, cluster: str, job_id: str, *, namespace: str | None = None) -> bool:
        """Ask the dashboard to stop the Ray job."""
        await self.ensure_settings()
        return await self.arun(self._op_stop_job(cluster, job_id, namespace))

    async def check_connection(self, *, namespace: str | None = None) -> access.ConnectionReport:
        """Reachability, KubeRay CRDs, permissions."""
        await self.ensure_settings()
        return await self.arun(self._op_check(namespace))
