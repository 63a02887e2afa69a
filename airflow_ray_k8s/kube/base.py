"""What the sync and async clients share: settings, namespace checks, and the catalogue of operations.

A client method is ``run(self._ops.<operation>(...))`` (sync) or ``await arun(...)`` (async); the
operations themselves are built here, once, from the sans-I/O functions in :mod:`.ops`,
:mod:`.watch`, :mod:`.dashboard`, :mod:`.diagnostics` and :mod:`.access`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow_ray_k8s.exceptions import ConfigurationError
from airflow_ray_k8s.kube import access, dashboard, diagnostics, ops, watch
from airflow_ray_k8s.kube.config import ConnectionSettings
from airflow_ray_k8s.kube.effects import Op
from airflow_ray_k8s.kube.request import KubeRequest, ObjectList
from airflow_ray_k8s.kube.retry import DEFAULT_RETRY_POLICY, RetryPolicy
from airflow_ray_k8s.resources import Resource

log = logging.getLogger("airflow_ray_k8s.kube")


class ClientBase:
    """Settings resolution and the operation catalogue shared by :class:`KubeClient` and the async one.

    :param settings: how to reach the cluster; subclasses (the Airflow hooks) may leave it ``None``
        and load it lazily from an Airflow connection.
    :param retry_policy: the retry policy of every call.
    :param watch_options: tuning of watch loops (server timeout, safety re-list period).
    """

    def __init__(
        self,
        settings: ConnectionSettings | None = None,
        *,
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        watch_options: watch.WatchOptions | None = None,
    ) -> None:
        self._settings = settings
        self.retry_policy = retry_policy
        self.watch_options = watch_options or watch.WatchOptions()
        # Dashboard tokens, per (namespace, secret): read once per client, never logged.
        self._token_cache: dict[tuple[str, str], str] = {}

    # --- settings ------------------------------------------------------------------------------------

    def _load_settings(self) -> ConnectionSettings:
        raise ConfigurationError(f"{type(self).__name__} was created without connection settings")

    @property
    def settings(self) -> ConnectionSettings:
        """The connection settings (loaded on first use)."""
        if self._settings is None:
            self._settings = self._load_settings()
        return self._settings

    def resolve_namespace(self, namespace: str | None, body: Mapping[str, Any] | None = None) -> str:
        """The namespace of a call: the argument, else the body's, else the connection's default.

        :raises NamespaceNotAllowedError: outside the connection's allow-list (nothing is sent).
        """
        body_ns = ((body or {}).get("metadata") or {}).get("namespace")
        if namespace and body_ns and namespace != body_ns:
            raise ConfigurationError(f"namespace {namespace!r} differs from metadata.namespace {body_ns!r}")
        return self.settings.resolve_namespace(namespace or body_ns)

    # --- secrets -------------------------------------------------------------------------------------

    def register_secret(self, value: str) -> None:
        """Called with each credential the client learns while running (a Ray dashboard token).

        The Kubernetes layer knows no Airflow, so this does nothing; the Airflow hooks hand the value
        to Airflow's secrets masker, which then redacts it from task logs and rendered fields.
        """

    async def aregister_secret(self, value: str) -> None:
        """:meth:`register_secret` for the async client (Airflow's masker has an async variant)."""
        self.register_secret(value)

    def _check_request(self, request: KubeRequest) -> None:
        # The single enforcement point: every request passes here before a transport sees it.
        if request.namespace is not None:
            self.settings.resolve_namespace(request.namespace)
        log.debug("kube request: %s", request.describe())

    # --- operations (pure: each returns an Op for run() / arun()) -----------------------------------

    def _op_create(
        self, resource: Resource, body: Mapping[str, Any], namespace: str | None
    ) -> Op[ops.CreateResult]:
        ns = self.resolve_namespace(namespace, body)
        return ops.create_or_attach(resource, ns, _with_namespace(body, ns, resource))

    def _op_dry_run(
        self, resource: Resource, body: Mapping[str, Any], namespace: str | None
    ) -> Op[dict[str, Any]]:
        ns = self.resolve_namespace(namespace, body)
        return ops.dry_run_create(resource, ns, _with_namespace(body, ns, resource))

    def _op_get(self, resource: Resource, name: str, namespace: str | None) -> Op[dict[str, Any]]:
        return ops.get(resource, self.resolve_namespace(namespace), name)

    def _op_get_or_none(
        self, resource: Resource, name: str, namespace: str | None
    ) -> Op[dict[str, Any] | None]:
        return ops.get_or_none(resource, self.resolve_namespace(namespace), name)

    def _op_list(
        self,
        resource: Resource,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
    ) -> Op[ObjectList]:
        return ops.list_all(
            resource,
            self.resolve_namespace(namespace),
            label_selector=label_selector,
            field_selector=field_selector,
        )

    def _op_patch(
        self, resource: Resource, name: str, patch: Mapping[str, Any], namespace: str | None
    ) -> Op[dict[str, Any]]:
        return ops.merge_patch(resource, self.resolve_namespace(namespace), name, patch)

    def _op_delete(
        self, resource: Resource, name: str, namespace: str | None, propagation_policy: str, grace: int | None
    ) -> Op[bool]:
        return ops.delete(
            resource,
            self.resolve_namespace(namespace),
            name,
            propagation_policy=propagation_policy,
            grace_period_seconds=grace,
        )

    def _op_wait_deleted(
        self, resource: Resource, name: str, namespace: str | None, timeout: float
    ) -> Op[None]:
        return ops.wait_for_deletion(resource, self.resolve_namespace(namespace), name, timeout=timeout)

    def _op_wait_for(
        self, resource: Resource, name: str, predicate: watch.Predicate, namespace: str | None, timeout: float
    ) -> Op[Mapping[str, Any] | None]:
        return watch.wait_for_object(
            resource,
            self.resolve_namespace(namespace),
            name,
            predicate,
            timeout=timeout,
            options=self.watch_options,
            policy=self.retry_policy,
        )

    def _op_diagnose(self, cluster: str, namespace: str | None) -> Op[diagnostics.ClusterDiagnosis]:
        return diagnostics.diagnose_cluster(self.resolve_namespace(namespace), cluster)

    def _op_job(self, cluster: str, job_id: str, namespace: str | None) -> Op[dashboard.JobInfo]:
        ns = self.resolve_namespace(namespace)
        return dashboard.get_job(self.settings, ns, cluster, job_id, self._token_cache)

    def _op_job_logs(self, cluster: str, job_id: str, namespace: str | None) -> Op[str]:
        ns = self.resolve_namespace(namespace)
        return dashboard.get_job_logs(self.settings, ns, cluster, job_id, self._token_cache)

    def _op_stop_job(self, cluster: str, job_id: str, namespace: str | None) -> Op[bool]:
        ns = self.resolve_namespace(namespace)
        return dashboard.stop_job(self.settings, ns, cluster, job_id, self._token_cache)

    def _op_check(self, namespace: str | None) -> Op[access.ConnectionReport]:
        return access.check_connection(
            self.resolve_namespace(namespace), with_token_secret=bool(self.settings.ray_token_secret)
        )


def _with_namespace(body: Mapping[str, Any], namespace: str, resource: Resource) -> dict[str, Any]:
    out = dict(body)
    if resource.namespaced:
        out["metadata"] = {**(body.get("metadata") or {}), "namespace": namespace}
    out.setdefault("apiVersion", resource.api_version)
    out.setdefault("kind", resource.kind)
    return out
