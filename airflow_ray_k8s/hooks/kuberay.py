"""The ``kuberay`` connection type, :class:`KubeRayHook` (sync) and :class:`AsyncKubeRayHook` (async).

Both hooks are the provider's Kubernetes clients (:class:`~airflow_ray_k8s.kube.client.KubeClient`,
:class:`~airflow_ray_k8s.kube.aio.AsyncKubeClient`) plus Airflow connection loading: every operation
(create / re-attach, get, list, patch, delete, waits, diagnostics, the Ray dashboard) is written once
in ``airflow_ray_k8s.kube`` and shared by both.

This module stays cheap to import (DAG files import it): ``kubernetes`` and ``kubernetes_asyncio`` are
imported on first use, inside the transports.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from airflow_ray_k8s.kube.aio import AsyncKubeClient
from airflow_ray_k8s.kube.client import KubeClient
from airflow_ray_k8s.kube.config import ConnectionSettings
from airflow_ray_k8s.kube.retry import DEFAULT_RETRY_POLICY, RetryPolicy
from airflow_ray_k8s.kube.watch import WatchOptions

#: Connection types whose extras this hook reads: its own, and the cncf provider's.
SUPPORTED_CONN_TYPES = ("kuberay", "kubernetes")


def settings_from_connection(conn: Any, **overrides: Any) -> ConnectionSettings:
    """Read an Airflow connection (``kuberay`` or cncf ``kubernetes`` type) into settings.

    :param overrides: values that win over the connection's extras (``namespace`` from an operator).
    """
    from airflow_ray_k8s.exceptions import ConfigurationError

    conn_type = (getattr(conn, "conn_type", None) or "kuberay").lower()
    if conn_type not in SUPPORTED_CONN_TYPES:
        raise ConfigurationError(
            f"connection {conn.conn_id!r} has type {conn_type!r}; expected one of {SUPPORTED_CONN_TYPES}"
        )
    return ConnectionSettings.from_extras(conn.extra_dejson or {}, conn_id=conn.conn_id, **overrides)


def connection_secrets(settings: ConnectionSettings) -> list[str]:
    """The credentials in connection settings that Airflow's masker must know: the kubeconfig content
    (extra ``kube_config``) and each token / key / password in it.

    Airflow masks a connection's extras only by key name (``token``, ``password``...), and
    ``kube_config`` is not such a name, so without this a log line quoting the kubeconfig's token
    would show it.
    """
    if not settings.kube_config:
        return []
    from airflow_ray_k8s.kube.loader import kubeconfig_secrets

    return kubeconfig_secrets(settings.kube_config)


def _mask_secret(value: str) -> None:
    # Airflow >= 3.1 has it in airflow.sdk.log (it also tells the supervisor, which masks task logs);
    # imported here, on use, to keep this module cheap to import.
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover  -- older task SDKs
        from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]
    mask_secret(value)


async def _amask_secret(value: str) -> None:
    # The async variant avoids a sync send to the supervisor while an async one is in flight.
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # pragma: no cover  -- task SDKs before amask_secret
        _mask_secret(value)
        return
    await amask_secret(value)


class _HookMixin:
    """Connection attributes, UI metadata and secret masking shared by both hooks."""

    conn_name_attr = "kuberay_conn_id"
    default_conn_name = "kuberay_default"
    conn_type = "kuberay"
    hook_name = "KubeRay (Ray on Kubernetes)"

    def register_secret(self, value: str) -> None:
        """Register a credential (kubeconfig content, a Ray token) with Airflow's secrets masker."""
        _mask_secret(value)

    async def aregister_secret(self, value: str) -> None:
        """:meth:`register_secret` from the event loop (the triggerer)."""
        await _amask_secret(value)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hide the generic fields the connection does not use (the extras are form fields)."""
        return {"hidden_fields": ["host", "schema", "login", "password", "port"], "relabeling": {}}


class KubeRayHook(_HookMixin, KubeClient, BaseHook):
    """Interact with KubeRay (RayCluster / RayJob custom resources) on a Kubernetes cluster.

    :param kuberay_conn_id: an Airflow connection of type ``kuberay`` (or the cncf provider's
        ``kubernetes`` type, whose extras are read the same way).
    :param namespace: overrides the connection's default namespace (still subject to its
        ``allowed_namespaces``).
    :param retry_policy: how transient API failures are retried.
    :param watch_options: tuning of watches (server timeout, safety re-list period).
    """

    def __init__(
        self,
        kuberay_conn_id: str = _HookMixin.default_conn_name,
        *,
        namespace: str | None = None,
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        watch_options: WatchOptions | None = None,
        **kwargs: Any,
    ) -> None:
        BaseHook.__init__(self, **kwargs)
        KubeClient.__init__(self, None, retry_policy=retry_policy, watch_options=watch_options)
        self.kuberay_conn_id = kuberay_conn_id
        self.namespace_override = namespace

    def _load_settings(self) -> ConnectionSettings:
        conn = self.get_connection(self.kuberay_conn_id)
        settings = settings_from_connection(conn, namespace=self.namespace_override)
        for secret in connection_secrets(settings):
            self.register_secret(secret)
        return settings

    def get_conn(self) -> KubeClient:
        """The hook is its own client; returned for Airflow's ``get_conn`` convention."""
        return self

    def test_connection(self) -> tuple[bool, str]:
        """Check reachability, the ray.io CRDs (served versions) and the permissions the provider needs."""
        try:
            report = self.check_connection()
        except Exception as exc:  # the UI shows the message; our exceptions carry no secret
            return False, f"{type(exc).__name__}: {exc}"
        finally:
            self.close()
        return report.ok, report.summary()


class AsyncKubeRayHook(_HookMixin, AsyncKubeClient, BaseHook):
    """The async twin of :class:`KubeRayHook`, for triggers; same operations, same connection.

    Use it as ``async with AsyncKubeRayHook(conn_id) as hook:`` (or ``await hook.close()``).
    ``await hook.wait_for(...)`` goes through the shared :class:`~airflow_ray_k8s.kube.hub.WatchHub`.

    :param kuberay_conn_id: see :class:`KubeRayHook`.
    :param namespace: see :class:`KubeRayHook`.
    """

    def __init__(
        self,
        kuberay_conn_id: str = _HookMixin.default_conn_name,
        *,
        namespace: str | None = None,
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        watch_options: WatchOptions | None = None,
        **kwargs: Any,
    ) -> None:
        BaseHook.__init__(self, **kwargs)
        AsyncKubeClient.__init__(self, None, retry_policy=retry_policy, watch_options=watch_options)
        self.kuberay_conn_id = kuberay_conn_id
        self.namespace_override = namespace

    def _load_settings(self) -> ConnectionSettings:
        conn = self.get_connection(self.kuberay_conn_id)
        settings = settings_from_connection(conn, namespace=self.namespace_override)
        for secret in connection_secrets(settings):
            self.register_secret(secret)
        return settings

    async def _aload_settings(self) -> ConnectionSettings:
        aget = getattr(BaseHook, "aget_connection", None)
        if aget is None:  # Airflow < 3.1: the sync lookup (which masks), off the event loop
            import asyncio

            return await asyncio.to_thread(self._load_settings)
        conn = await aget(self.kuberay_conn_id)
        settings = settings_from_connection(conn, namespace=self.namespace_override)
        for secret in connection_secrets(settings):
            await self.aregister_secret(secret)
        return settings
