"""Deploy, upgrade and delete a model served by Ray Serve on KubeRay: the RayService operators.

A training pipeline ends by serving what it trained::

    deploy = RayServiceDeployOperator(
        task_id="serve",
        service_name="churn-model",
        ray_service_spec="templates/churn_service.yaml",
        serve_config={"applications": [{"name": "model", "import_path": "serve_app:app",
                                        "route_prefix": "/predict",
                                        "args": {"model_uri": "{{ ti.xcom_pull('train') }}"}}]},
    )

The first run creates the RayService; later runs update it, and KubeRay rolls the change out
without downtime (a new cluster for a new image, in place for a new Serve config). Importing this
module is cheap: the spec models and the Kubernetes clients are imported in ``execute``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_ray_k8s._lifecycle.context import default_deferrable, identity_from_context
from airflow_ray_k8s._lifecycle.deferral import DeferringOperator
from airflow_ray_k8s._lifecycle.deletion import DeleteAndWaitOperator
from airflow_ray_k8s.links import (
    XCOM_DASHBOARD_URL,
    XCOM_SERVE_DASHBOARD_URL,
    RayDashboardLink,
    RayServeDashboardLink,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from airflow_ray_k8s.resources import Resource

DEFAULT_DEPLOY_TIMEOUT = 900.0


class RayServiceDeployOperator(DeferringOperator):
    """Create or update a RayService and wait until the change is rolled out and serving.

    Rolled out means KubeRay has seen the spec this task wrote, ``Ready`` is true, no upgrade is in
    progress (the pending cluster of a new-cluster upgrade has taken the traffic) and the Serve
    applications run healthy. The task fails, with KubeRay's reason and the Serve application
    statuses, when Serve reports an application ``DEPLOY_FAILED`` / ``UNHEALTHY`` on the cluster
    being deployed, when KubeRay gives up (``ValidationFailed``, ``InitializingTimeout``), or when
    the rollout is not done within ``deploy_timeout`` (a stall). During a failed or stalled upgrade
    KubeRay keeps the previous cluster serving; the task changes nothing about that.

    Idempotent: the spec is written only if it differs from the one the RayService holds (by the
    spec-hash annotation), so a retry, a worker restart or a re-run with the same model waits for
    the rollout already under way instead of starting a second one.

    Returns (XCom) ``{"name", "namespace", "action", "active_cluster", "applications", "serve_url",
    "dashboard_url"}``; ``action`` is ``created``, ``updated`` or ``unchanged``.

    :param service_name: the RayService's name (a served model keeps it across runs). (templated)
    :param ray_service_spec: a ``RayServiceSpec``, a dict (spec or whole RayService manifest), YAML
        text or the path of a YAML file. (templated)
    :param serve_config: replaces the spec's ``serveConfigV2`` (dict or YAML text), e.g. to pass the
        model URI an upstream task returned. (templated)
    :param image: replaces the image of the Ray containers (rolls out as a new cluster). (templated)
    :param namespace: Kubernetes namespace; default: the connection's. (templated)
    :param kuberay_conn_id: Airflow connection of type ``kuberay``.
    :param service_labels: extra labels of the RayService. (templated)
    :param service_annotations: extra annotations of the RayService. (templated)
    :param applications: the Serve applications that must run healthy (default: all of them).
    :param wait_until_deployed: wait for the rollout; otherwise return once written.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param deploy_timeout: seconds the rollout may take before the task fails as stalled.
    """

    template_fields: Sequence[str] = (
        "service_name",
        "ray_service_spec",
        "serve_config",
        "image",
        "namespace",
        "service_labels",
        "service_annotations",
    )
    template_fields_renderers = {"ray_service_spec": "json", "serve_config": "json"}
    operator_extra_links = (RayServeDashboardLink(), RayDashboardLink())
    ui_color = "#e8fdf0"

    def __init__(
        self,
        *,
        service_name: str,
        ray_service_spec: Any,
        serve_config: Any = None,
        image: str | None = None,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        service_labels: dict[str, str] | None = None,
        service_annotations: dict[str, str] | None = None,
        applications: list[str] | None = None,
        wait_until_deployed: bool = True,
        deferrable: bool | None = None,
        deploy_timeout: float = DEFAULT_DEPLOY_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if ray_service_spec is None:
            raise ValueError(f"{self.task_id}: ray_service_spec is required")
        if deploy_timeout is None or deploy_timeout <= 0:
            raise ValueError(f"{self.task_id}: deploy_timeout must be > 0")
        self.service_name = service_name
        self.ray_service_spec = ray_service_spec
        self.serve_config = serve_config
        self.image = image
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.service_labels = service_labels
        self.service_annotations = service_annotations
        self.applications = list(applications or [])
        self.wait_until_deployed = wait_until_deployed
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.deploy_timeout = float(deploy_timeout)

    def build_rayservice(self, context: Context, namespace: str) -> dict[str, Any]:
        """The RayService this task would write, validated client-side.

        :raises AirflowFailException: the spec breaks a KubeRay or Serve rule (a retry cannot help).
        """
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_ray_k8s._lifecycle import services
        from airflow_ray_k8s.exceptions import SpecValidationError

        name = str(self.service_name or "").strip()
        if not name:
            raise AirflowFailException(f"{self.task_id}: service_name rendered empty")
        identity, try_number = identity_from_context(context)
        try:
            spec = services.load_service_spec(self.ray_service_spec, self.serve_config, self.image)
            return services.service_body(
                name=name,
                namespace=namespace,
                identity=identity,
                try_number=try_number,
                spec=spec,
                labels=self.service_labels,
                annotations=self.service_annotations,
            )
        except SpecValidationError as exc:
            raise AirflowFailException(f"{self.task_id}: {exc}") from exc

    def execute(self, context: Context) -> dict[str, Any]:
        """Write the spec if it changed, then wait until it is rolled out."""
        from airflow_ray_k8s._lifecycle import jobs, services
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook
        from airflow_ray_k8s.triggers.rayservice import RayServiceTrigger

        hook = KubeRayHook(kuberay_conn_id=self.kuberay_conn_id)
        namespace = jobs.resolve_namespace(hook, self.namespace)
        body = self.build_rayservice(context, namespace)
        name = body["metadata"]["name"]
        applied = services.apply(hook, body)
        verb = {"created": "Created", "updated": "Updated", "unchanged": "Unchanged (already deployed):"}
        self.log.info(
            "%s RayService %s/%s (generation %s)", verb[applied.action], namespace, name, applied.generation
        )
        context["ti"].xcom_push(key="action", value=applied.action)
        dashboard = jobs.dashboard_url(hook, namespace, name)
        if dashboard:
            context["ti"].xcom_push(key=XCOM_DASHBOARD_URL, value=dashboard)
            context["ti"].xcom_push(key=XCOM_SERVE_DASHBOARD_URL, value=dashboard.rstrip("/") + "/#/serve")
        trigger = RayServiceTrigger(
            name=name,
            namespace=namespace,
            kuberay_conn_id=self.kuberay_conn_id,
            wait_for="deployed",
            generation=applied.generation,
            applications=self.applications,
            deadline=time.time() + self.deploy_timeout,
        )
        if not self.wait_until_deployed:
            return self._xcom(hook, namespace, name, applied.object, applied.action)
        if self.deferrable:
            self.defer_wait(trigger, context)
        from airflow_ray_k8s._lifecycle.waits import run_inline

        return self.execute_complete(context, run_inline(trigger))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Turn the wait's event into the task's outcome."""
        from airflow_ray_k8s.exceptions import RayServiceDeployError
        from airflow_ray_k8s.hooks.kuberay import KubeRayHook
        from airflow_ray_k8s.service_status import RayServiceStatus

        kind = event.get("status")
        name, namespace = str(event.get("name")), str(event.get("namespace"))
        where = f"RayService {namespace}/{name}"
        status = RayServiceStatus.from_json(event["service"]) if event.get("service") else None
        hook = KubeRayHook(kuberay_conn_id=self.kuberay_conn_id)
        if kind == "deployed" and status is not None:
            self.log.info("%s is serving: %s", where, status.describe())
            action = context["ti"].xcom_pull(task_ids=self.task_id, key="action") or ""
            return self._xcom(hook, namespace, name, None, str(action), status)
        if kind == "missing":
            raise RayServiceDeployError(f"{where} was deleted while the task waited for its rollout", event)
        keeps = ""
        if status is not None and status.active.cluster_name:
            keeps = f"; the active cluster {status.active.cluster_name} keeps serving the previous version"
        state = f" ({status.describe()})" if status is not None else ""
        if kind == "failed":
            message = f"{where}: the rollout failed: {event.get('message')}{keeps}{state}"
        elif kind == "timeout":
            limit = f"{self.deploy_timeout:g} s"
            message = f"{where}: the rollout did not finish within {limit} (stalled){keeps}{state}"
        else:
            message = f"Waiting for {where} failed: {event.get('message')}"
        self.log.error("%s", message)
        raise RayServiceDeployError(message, event)

    def _xcom(
        self,
        hook: Any,
        namespace: str,
        name: str,
        obj: dict[str, Any] | None,
        action: str,
        status: Any = None,
    ) -> dict[str, Any]:
        from airflow_ray_k8s._lifecycle import jobs, services
        from airflow_ray_k8s.service_status import RayServiceStatus

        if status is None and obj is not None:
            status = RayServiceStatus.from_object(obj)
        active = status.active if status is not None else None
        return {
            "name": name,
            "namespace": namespace,
            "action": action,
            "active_cluster": active.cluster_name if active is not None else "",
            "applications": {a.name: a.status for a in active.applications} if active is not None else {},
            "serve_url": services.serve_url(hook, namespace, name),
            "dashboard_url": jobs.dashboard_url(hook, namespace, name),
        }


class RayServiceDeleteOperator(DeleteAndWaitOperator):
    """Delete a RayService and wait until it is gone (its clusters and services follow by garbage
    collection); a RayService that does not exist counts as deleted.

    :param service_name: the RayService to delete. (templated)
    :param namespace: Kubernetes namespace; default: the connection's. (templated)
    :param kuberay_conn_id: Airflow connection of type ``kuberay``.
    :param wait_for_deletion: wait until the object is gone.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param deletion_timeout: seconds the deletion may take.
    """

    template_fields: Sequence[str] = ("service_name", "namespace")
    kind = "RayService"
    name_attr = "service_name"
    # Foreground: the object goes only after its clusters, so "gone" means nothing is left.
    propagation_policy = "Foreground"

    def __init__(self, *, service_name: str, **kwargs: Any) -> None:
        # The other parameters, and their defaults, are DeleteAndWaitOperator's.
        super().__init__(**kwargs)
        self.service_name = service_name

    def resource(self) -> Resource:
        """RayServices."""
        from airflow_ray_k8s.resources import RAYSERVICE

        return RAYSERVICE

    def deletion_trigger(self, **kwargs: Any) -> BaseTrigger:
        """A :class:`~airflow_ray_k8s.triggers.rayservice.RayServiceTrigger`."""
        from airflow_ray_k8s.triggers.rayservice import RayServiceTrigger

        return RayServiceTrigger(**kwargs)
