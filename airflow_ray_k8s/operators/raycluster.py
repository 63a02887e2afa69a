"""Create and delete a shared RayCluster: the create and delete operators.

Together they work as Airflow setup / teardown tasks, so a cluster shared by several tasks is
deleted also when a task in between fails::

    create = RayClusterCreateOperator(task_id="create_cluster", ray_cluster_spec=spec)
    train = RayJobOperator(task_id="train", entrypoint="python train.py", cluster_name=create.output["name"])
    delete = RayClusterDeleteOperator(task_id="delete_cluster", cluster_name=create.output["name"])
    create >> train >> delete.as_teardown(setups=create)

Importing this module is cheap: the spec models and the Kubernetes clients are imported in ``execute``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_ray_k8s._lifecycle.context import (
    dagrun_timeout,
    default_deferrable,
    expiry_time,
    identity_from_context,
    wait_bound,
)
from airflow_ray_k8s._lifecycle.deferral import DeferringOperator
from airflow_ray_k8s._lifecycle.deletion import DeleteAndWaitOperator
from airflow_ray_k8s.links import XCOM_DASHBOARD_URL, RayDashboardLink

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from airflow_ray_k8s.resources import Resource

DEFAULT_STARTUP_TIMEOUT = 600.0


class RayClusterCreateOperator(DeferringOperator):
    """Create a RayCluster (or adopt the one of the same name and spec) and wait until it is ready.

    Ready means KubeRay reports ``HeadPodReady`` and ``RayClusterProvisioned``. The name is
    ``cluster_name`` or derives from the task instance (dag_id, task_id, run_id, map_index), the same
    for every try: a retry adopts the cluster an earlier try created. An existing cluster of that name
    with another spec fails the task (it is not this task's cluster to change).

    When the task fails after creating the cluster (it never became ready, the wait failed or timed
    out, the task was killed), it deletes the cluster itself: a teardown task does not run when its
    setup failed, and a RayCluster has no TTL. A cluster this task instance did not create (one
    adopted by a fixed ``cluster_name``) is never deleted by it.

    Returns (XCom) ``{"name", "namespace", "dashboard_url", "cluster_selector"}``, also pushed key by
    key (``multiple_outputs``): pass ``create.output["name"]`` as
    :class:`~airflow_ray_k8s.operators.rayjob.RayJobOperator`'s ``cluster_name``, or
    ``create.output["cluster_selector"]`` as a RayJob's ``clusterSelector``.

    :param ray_cluster_spec: a ``RayClusterSpec``, a dict (spec or whole RayCluster manifest), YAML
        text or the path of a YAML file. (templated)
    :param cluster_name: the RayCluster's name; default: derived from the task instance. (templated)
    :param namespace: Kubernetes namespace; default: the connection's. (templated)
    :param kuberay_conn_id: Airflow connection of type ``kuberay``.
    :param cluster_labels: extra labels of the RayCluster. (templated)
    :param cluster_annotations: extra annotations of the RayCluster. (templated)
    :param wait_until_ready: wait for readiness; otherwise return once created.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param startup_timeout: seconds the cluster may take to become ready; then the task fails naming
        the pods' reasons and the Kubernetes events.
    :param delete_on_startup_failure: delete the cluster this task instance created when the task
        fails before it is ready (default ``True``; ``False`` keeps it for inspection).
    :param name_prefix: readable prefix of the derived name.
    :param queue_name: create the cluster through this Kueue LocalQueue (label
        ``kueue.x-k8s.io/queue-name``): it is created suspended and starts when Kueue admits it;
        it holds the queue's quota for as long as it exists. ``startup_timeout`` counts from admission.
    :param priority_class: Kueue WorkloadPriorityClass (label ``kueue.x-k8s.io/priority-class``);
        needs ``queue_name``.
    """

    template_fields: Sequence[str] = (
        "ray_cluster_spec",
        "cluster_name",
        "namespace",
        "cluster_labels",
        "cluster_annotations",
    )
    template_fields_renderers = {"ray_cluster_spec": "json"}
    operator_extra_links = (RayDashboardLink(),)
    ui_color = "#e8f1fd"

    def __init__(
        self,
        *,
        ray_cluster_spec: Any,
        cluster_name: str | None = None,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        cluster_labels: dict[str, str] | None = None,
        cluster_annotations: dict[str, str] | None = None,
        wait_until_ready: bool = True,
        deferrable: bool | None = None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        delete_on_startup_failure: bool = True,
        name_prefix: str = "",
        queue_name: str | None = None,
        priority_class: str | None = None,
        **kwargs: Any,
    ) -> None:
        from airflow_ray_k8s._lifecycle.queueing import kueue_labels

        # One XCom per key as well, so that ``create.output["name"]`` reaches the tasks that use it.
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        if ray_cluster_spec is None:
            raise ValueError(f"{self.task_id}: ray_cluster_spec is required")
        if startup_timeout is None or startup_timeout <= 0:
            raise ValueError(f"{self.task_id}: startup_timeout must be > 0")
        self.ray_cluster_spec = ray_cluster_spec
        self.cluster_name = cluster_name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.cluster_labels = cluster_labels
        self.cluster_annotations = cluster_annotations
        self.wait_until_ready = wait_until_ready
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.startup_timeout = float(startup_timeout)
        self.delete_on_startup_failure = delete_on_startup_failure
        self.name_prefix = name_prefix
        self.kueue_labels = kueue_labels(self.task_id, queue_name, priority_class)
        self.queue_name = queue_name
        self.priority_class = priority_class
        self._created: tuple[str, str] | None = None

    def build_raycluster(self, context: Context, namespace: str) -> dict[str, Any]:
        """The RayCluster this task would create, validated client-side.

        :raises AirflowFailException: the spec breaks a KubeRay rule (a retry cannot help).
        """
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_ray_k8s._lifecycle.manifests import load_cluster_spec, raycluster_body
        from airflow_ray_k8s.exceptions import SpecValidationError

        identity, _ = identity_from_context(context)
        try:
            body = raycluster_body(
                name=self._cluster_name(context),
                namespace=namespace,
                identity=identity,
                # A shared cluster lives as long as its DAG run: bounded by dagrun_timeout if set.
                expires_at=expiry_time(self.startup_timeout, wait_bound(dagrun_timeout(context))),
                spec=load_cluster_spec(self.ray_cluster_spec),
                labels={**(self.cluster_labels or {}), **self.kueue_labels},
                annotations=self.cluster_annotations,
            )
        except SpecValidationError as exc:
            raise AirflowFailException(f"{self.task_id}: {exc}") from exc
        if self.queue_name:
            # Created suspended, as Kueue's webhook makes it: Kueue admits it (suspend=false).
            body["spec"]["suspend"] = True
        return body

    def _cluster_name(self, context: Context) -> str:
        """``cluster_name``, or the name derived from the task instance (the same for every try)."""
        identity, _ = identity_from_context(context)
        return str(self.cluster_name or "").strip() or identity.resource_name(
            "raycluster", prefix=self.name_prefix
        )

    def execute(self, context: Context) -> dict[str, Any]:
        """Create or adopt the cluster, then wait until it is ready."""
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_ray_k8s._lifecycle import jobs
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook
        from airflow_ray_k8s.resources import RAYCLUSTER
        from airflow_ray_k8s.status import RayClusterStatus

        hook = KubeRayHook(kuberay_conn_id=self.kuberay_conn_id)
        namespace = jobs.resolve_namespace(hook, self.namespace)
        body = self.build_raycluster(context, namespace)
        name = body["metadata"]["name"]
        identity, _ = identity_from_context(context)
        result = hook.create(RAYCLUSTER, body, namespace=namespace)
        owned = result.created or jobs.is_owned_by(result.object, identity.key)
        if result.created:
            self.log.info("Created RayCluster %s/%s", namespace, name)
        elif result.spec_matches:
            self.log.info("RayCluster %s/%s exists with the same spec: adopting it", namespace, name)
            if owned:  # an earlier try of this task instance made it: this try's wait extends its life
                jobs.extend_expiry(hook, namespace, result.object, body, RAYCLUSTER)
        else:
            raise AirflowFailException(
                f"RayCluster {namespace}/{name} exists with a different spec; "
                "delete it or choose another name"
            )
        if owned:
            self._created = (namespace, name)
        try:
            # Pushed now, not only with the return value: a teardown reading ``create.output["name"]``
            # then finds the cluster even when this task fails (or its worker dies) while it waits.
            context["ti"].xcom_push(key="name", value=name)
            context["ti"].xcom_push(key="namespace", value=namespace)
            url = jobs.dashboard_url(hook, namespace, name)
            if url:
                context["ti"].xcom_push(key=XCOM_DASHBOARD_URL, value=url)
            status = RayClusterStatus.from_object(result.object)
            if not self.wait_until_ready or status.is_ready:
                return self._xcom(namespace, name, url)
            trigger = self._trigger(namespace, name, result.object, owned)
        except Exception:  # any failure between the create and the wait: the cluster must not stay
            self._delete_if_owned(hook, namespace, name, owned)
            raise
        if self.deferrable:
            self.defer_wait(trigger, context)
        from airflow_ray_k8s._lifecycle.waits import run_inline

        return self.execute_complete(context, run_inline(trigger))

    def _trigger(self, namespace: str, name: str, obj: dict[str, Any], owned: bool) -> Any:
        from airflow_ray_k8s._lifecycle.jobs import creation_time
        from airflow_ray_k8s.triggers.raycluster import RayClusterTrigger

        return RayClusterTrigger(
            name=name,
            namespace=namespace,
            kuberay_conn_id=self.kuberay_conn_id,
            wait_for="ready",
            deadline=(creation_time(obj) or time.time()) + self.startup_timeout,
            delete_on_kill=owned,
            # A queued cluster's start-up time counts from its admission (Kueue).
            startup_timeout=self.startup_timeout if self.queue_name else None,
        )

    def _owns(self, hook: Any, namespace: str, name: str, context: Context) -> bool:
        """Whether the cluster exists and this task instance created it (read after a deferral)."""
        from airflow_ray_k8s._lifecycle import jobs
        from airflow_ray_k8s.resources import RAYCLUSTER

        obj = hook.get_or_none(RAYCLUSTER, name, namespace=namespace)
        identity, _ = identity_from_context(context)
        return obj is not None and jobs.is_owned_by(obj, identity.key)

    def _delete_if_owned(self, hook: Any, namespace: str, name: str, owned: bool) -> None:
        """The task fails before the cluster is ready: delete it if it is ours (see the class docs)."""
        from airflow_ray_k8s.exceptions import RayK8sError
        from airflow_ray_k8s.resources import RAYCLUSTER

        if not (owned and self.delete_on_startup_failure):
            return
        try:
            if hook.delete(RAYCLUSTER, name, namespace=namespace):
                self.log.info("Deleted RayCluster %s/%s", namespace, name)
        except RayK8sError as exc:  # the task's own error matters more; the expiry annotation remains
            self.log.warning("Could not delete RayCluster %s/%s: %s", namespace, name, exc)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Turn the wait's event into the task's outcome."""
        from airflow_ray_k8s import metrics
        from airflow_ray_k8s._lifecycle import explain, jobs
        from airflow_ray_k8s.exceptions import RayClusterStartupError, RayK8sError
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook
        from airflow_ray_k8s.status import RayClusterStatus

        hook = KubeRayHook(kuberay_conn_id=self.kuberay_conn_id)
        kind = event.get("status")
        name, namespace = str(event.get("name")), str(event.get("namespace"))
        metrics.emit_cluster_startup(event, metrics.task_tags(context, namespace))
        if kind == "ready":
            return self._xcom(namespace, name, jobs.dashboard_url(hook, namespace, name))
        if kind == "missing":
            raise RayClusterStartupError(
                f"RayCluster {namespace}/{name} was deleted while the task waited for it to become ready"
            )
        if kind in ("startup_timeout", "failed"):
            cluster = RayClusterStatus.from_json(event["cluster"]) if event.get("cluster") else None
            reasons = list(event.get("reasons") or [])
            if event.get("message"):
                reasons.insert(0, str(event["message"]))
            message = explain.startup_failure(
                "RayCluster", namespace, name, self.startup_timeout, reasons, cluster=cluster
            )
            self.log.error("%s", message)
            self._delete_if_owned(hook, namespace, name, self._owns(hook, namespace, name, context))
            raise RayClusterStartupError(message)
        self._delete_if_owned(hook, namespace, name, self._owns(hook, namespace, name, context))
        raise RayK8sError(f"Waiting for RayCluster {namespace}/{name} failed: {event.get('message')}")

    def clean_up_after_timeout(self, context: Context) -> None:
        """The deferral reached ``execution_timeout``: delete the cluster if this task made it."""
        from airflow_ray_k8s._lifecycle import jobs
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook

        hook = KubeRayHook(kuberay_conn_id=self.kuberay_conn_id)
        namespace = jobs.resolve_namespace(hook, self.namespace)
        name = self._cluster_name(context)
        self._delete_if_owned(hook, namespace, name, self._owns(hook, namespace, name, context))

    @staticmethod
    def _xcom(namespace: str, name: str, url: str) -> dict[str, Any]:
        return {
            "name": name,
            "namespace": namespace,
            "dashboard_url": url,
            "cluster_selector": {"ray.io/cluster": name},
        }

    def on_kill(self) -> None:
        """The task was killed while creating: delete the cluster if this task instance made it."""
        if self._created is None:
            return
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook
        from airflow_ray_k8s.resources import RAYCLUSTER

        namespace, name = self._created
        KubeRayHook(kuberay_conn_id=self.kuberay_conn_id).delete(RAYCLUSTER, name, namespace=namespace)


class RayClusterDeleteOperator(DeleteAndWaitOperator):
    """Delete a RayCluster and wait until it is gone; a cluster that does not exist counts as deleted.

    Meant as the teardown of a :class:`RayClusterCreateOperator` setup task (``as_teardown()``), so
    it runs, and deletes the cluster, also when the tasks between them fail.

    :param cluster_name: the RayCluster to delete, e.g. ``create.output["name"]``. (templated)
    :param namespace: Kubernetes namespace; default: the connection's. (templated)
    :param kuberay_conn_id: Airflow connection of type ``kuberay``.
    :param wait_for_deletion: wait until the object is gone (its pods follow by garbage collection).
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param deletion_timeout: seconds the deletion may take.
    """

    template_fields: Sequence[str] = ("cluster_name", "namespace")
    kind = "RayCluster"
    name_attr = "cluster_name"

    def __init__(self, *, cluster_name: str, **kwargs: Any) -> None:
        # The other parameters, and their defaults, are DeleteAndWaitOperator's.
        super().__init__(**kwargs)
        self.cluster_name = cluster_name

    def resource(self) -> Resource:
        """RayClusters."""
        from airflow_ray_k8s.resources import RAYCLUSTER

        return RAYCLUSTER

    def deletion_trigger(self, **kwargs: Any) -> BaseTrigger:
        """A :class:`~airflow_ray_k8s.triggers.raycluster.RayClusterTrigger`."""
        from airflow_ray_k8s.triggers.raycluster import RayClusterTrigger

        return RayClusterTrigger(**kwargs)

    def deleting(self, context: Context, namespace: str, obj: dict[str, Any]) -> None:
        """Send what the cluster requested over its life (once: by the try whose delete removed it)."""
        from airflow_ray_k8s import metrics
        from airflow_ray_k8s._lifecycle.jobs import creation_time
        from airflow_ray_k8s.status import RayClusterStatus

        created = creation_time(obj)
        if created is None:
            return
        status = RayClusterStatus.from_object(obj)
        resources = metrics.Resources.from_quantities(
            status.desired_cpu, status.desired_memory, status.desired_gpu
        )
        metrics.emit_cluster_lifetime(
            resources, max(time.time() - created, 0.0), metrics.task_tags(context, namespace)
        )
