"""RayService reconciliation (KubeRay's ``NewCluster`` upgrade semantics) against the object store.

A RayService gets a RayCluster ``<service>-<5 chars>`` (owned by the RayService, so deleting the
service cascades) as its *pending* cluster. Once that cluster is ready the controller deploys
``serveConfigV2`` through the head's Serve REST API (``PUT /api/serve/applications/``) and reads
the application statuses back (``GET``), as KubeRay does; when every application is ``RUNNING`` the
pending cluster becomes the *active* one: ``<service>-serve-svc`` (Serve's HTTP port) and
``<service>-head-svc`` (the dashboard) switch to it in one step, and the cluster it replaces is
deleted ``rayClusterDeletionDelaySeconds`` later (KubeRay's default 60 s).

A change of ``rayClusterConfig`` (a new image, say) starts that again with a new pending cluster
while the active one keeps serving (``UpgradeInProgress`` true, reason
``BothActivePendingClustersExist``); a change of ``serveConfigV2`` alone is deployed in place on the
active cluster. A pending cluster whose applications fail stays pending and the active cluster keeps
serving, as in KubeRay. ``upgradeStrategy.type: None`` rolls out no cluster change.

Not emulated: ``NewClusterWithIncrementalUpgrade`` (Gateway API traffic splitting; it needs the
operator's feature gate, off by default, and a Gateway controller), worker pods, autoscaling, the
``RollbackInProgress`` condition (a spec reverted while pending simply drops the pending cluster).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import yaml

from airflow_ray_k8s.resources import RAYCLUSTER, RAYSERVICE, SERVICE
from airflow_ray_k8s.testing.emulator import annotations as ann
from airflow_ray_k8s.testing.emulator import manifests as m
from airflow_ray_k8s.testing.emulator.runtime import ClusterKey, HeadState
from airflow_ray_k8s.testing.emulator.validation import validate_rayservice

if TYPE_CHECKING:
    from airflow_ray_k8s.testing.emulator.controller import KubeRayController

log = logging.getLogger(__name__)

COMPONENT = "rayservice-controller"
#: KubeRay's annotation of the hash of the cluster config a RayService's cluster was made from.
CLUSTER_HASH_ANNOTATION = "ray.io/hash-without-replicas-and-workers-to-delete"
ORIGIN_CRD_LABEL = "ray.io/originated-from-crd"
ORIGIN_NAME_LABEL = "ray.io/originated-from-cr-name"
DEFAULT_DELETION_DELAY = 60.0
SERVE_PORT = 8000
#: Seconds a ``PUT /api/serve/applications/`` may take (8 s measured when it starts Serve on an idle head).
DEPLOY_TIMEOUT = 60.0
_CONDITION_TYPES = ("Ready", "UpgradeInProgress")


def cluster_config_hash(spec: dict[str, Any]) -> str:
    """The hash of ``rayClusterConfig`` (KubeRay leaves replicas out; so does this)."""
    config = copy.deepcopy(spec.get("rayClusterConfig") or {})
    for group in config.get("workerGroupSpecs") or []:
        group.pop("replicas", None)
        group.pop("scaleStrategy", None)
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def parse_serve_config(text: Any) -> dict[str, Any]:
    """``serveConfigV2`` as the dict KubeRay PUTs (``{}`` when it is not a YAML mapping)."""
    try:
        parsed = yaml.safe_load(text or "") or {}
    except yaml.YAMLError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _hash_of(cluster: dict[str, Any]) -> str | None:
    return ann.annotations_of(cluster).get(CLUSTER_HASH_ANNOTATION)


class RayServiceController:
    """Reconciles RayServices; owned by :class:`~.controller.KubeRayController`."""

    def __init__(self, ctl: KubeRayController) -> None:
        self.ctl = ctl
        self._deployed: dict[ClusterKey, str] = {}
        self._delete_at: dict[ClusterKey, float] = {}
        self._session: aiohttp.ClientSession | None = None
        self._warned: dict[tuple[str, str], str] = {}

    async def close(self) -> None:
        """Close the HTTP session to the heads."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- the Serve REST API of a head -------------------------------------------------------------

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._session

    async def _deploy(self, key: ClusterKey, service: dict[str, Any], text: str) -> bool:
        planner = getattr(self.ctl.runtime, "plan_serve", None)
        if planner is not None:
            outcome = ann.annotations_of(service).get(ann.SERVE_OUTCOME)
            planner(key, outcome, ann.seconds(service, ann.SERVE_DELAY))
        url = self.ctl.runtime.dashboard_url(key) + "/api/serve/applications/"
        body = parse_serve_config(text)
        serve_options = getattr(self.ctl.runtime, "serve_options", None)
        if serve_options is not None:
            # Real heads share loopback: each gets its own Serve ports (see RayHead.serve_http_options).
            for field, options in serve_options(key).items():
                body[field] = {**(body.get(field) or {}), **options}
        try:
            session = await self._http()
            # The first deploy to a head starts Serve itself (its controller and proxy): seconds.
            timeout = aiohttp.ClientTimeout(total=DEPLOY_TIMEOUT)
            async with session.put(url, json=body, timeout=timeout) as response:
                ok = response.status < 300
                if not ok:
                    detail = (await response.text())[:500]
                    self._event(service, "Warning", "FailedToUpdateServeApplications", detail)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.debug("serve deploy to %s failed: %s", key, exc)
            return False
        if ok:
            self._deployed[key] = text
            self._event(
                service, "Normal", "UpdatedServeApplications", f"Updated serve applications on {key[1]}"
            )
        return ok

    async def _proxy_serves(self, key: ClusterKey, text: str) -> bool:
        """Whether the head's Serve HTTP proxy is healthy and routes every application of ``text``.

        KubeRay sends serve traffic only to pods whose Serve proxy passes its health check (the
        ``ray.io/serve`` label selects them); on a real head the proxy also learns a new route a
        moment after the application reports ``RUNNING``, so the switch waits for both here.
        """
        serve_url = getattr(self.ctl.runtime, "serve_url", None)
        if serve_url is None:
            return True
        wanted = {
            str(app.get("route_prefix", "/"))
            for app in parse_serve_config(text).get("applications") or []
            if isinstance(app, dict) and app.get("route_prefix", "/") is not None
        }
        base = serve_url(key)
        try:
            session = await self._http()
            async with session.get(base + "/-/healthz") as response:
                if response.status != 200:
                    return False
            async with session.get(base + "/-/routes") as response:
                if response.status != 200:
                    return False
                routes = await response.json()
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return False
        return isinstance(routes, dict) and wanted <= set(routes)

    async def _app_statuses(self, key: ClusterKey) -> dict[str, Any] | None:
        url = self.ctl.runtime.dashboard_url(key) + "/api/serve/applications/"
        try:
            session = await self._http()
            async with session.get(url) as response:
                if response.status >= 300:
                    return None
                body = await response.json()
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return None
        out: dict[str, Any] = {}
        for name, app in (body.get("applications") or {}).items():
            deployments = {
                d: {"status": info.get("status", ""), "message": info.get("message", "")}
                for d, info in (app.get("deployments") or {}).items()
            }
            entry: dict[str, Any] = {"status": app.get("status", ""), "serveDeploymentStatuses": deployments}
            if app.get("message"):
                entry["message"] = app["message"]
            out[name] = entry
        return out

    # --- helpers ----------------------------------------------------------------------------------

    def _event(self, service: dict[str, Any], etype: str, reason: str, message: str) -> None:
        self.ctl.record_event(service, "RayService", etype, reason, message, COMPONENT)

    def _cluster(self, namespace: str, name: str) -> dict[str, Any] | None:
        if not name:
            return None
        cluster: dict[str, Any] | None = self.ctl.store.get(RAYCLUSTER, namespace, name)
        if cluster is None or cluster["metadata"].get("deletionTimestamp"):
            return None
        return cluster

    def _cluster_ready(self, cluster: dict[str, Any] | None) -> bool:
        if cluster is None or (cluster.get("status") or {}).get("state") != "ready":
            return False
        key = (cluster["metadata"]["namespace"], cluster["metadata"]["name"])
        return self.ctl.runtime.status(key).state is HeadState.READY

    def _create_cluster(self, service: dict[str, Any], goal: str) -> str:
        meta = service["metadata"]
        name = f"{meta['name']}-{m.random_suffix()}"
        labels = dict(meta.get("labels") or {})
        labels.update({ORIGIN_NAME_LABEL: meta["name"], ORIGIN_CRD_LABEL: "RayService"})
        annotations = dict(meta.get("annotations") or {})
        annotations[CLUSTER_HASH_ANNOTATION] = goal
        body = {
            "apiVersion": RAYCLUSTER.api_version,
            "kind": RAYCLUSTER.kind,
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [m.owner_reference(service, RAYSERVICE.kind, RAYSERVICE.api_version)],
            },
            "spec": copy.deepcopy((service.get("spec") or {}).get("rayClusterConfig") or {}),
        }
        self.ctl.store.create(RAYCLUSTER, body)
        self._event(service, "Normal", "CreatedRayCluster", f"Created RayCluster {meta['namespace']}/{name}")
        return name

    def _delete_cluster(self, service: dict[str, Any], namespace: str, name: str) -> None:
        self._delete_at.pop((namespace, name), None)
        self._deployed.pop((namespace, name), None)
        if self._cluster(namespace, name) is None:
            return
        self.ctl.store.delete(RAYCLUSTER, namespace, name)
        self._event(service, "Normal", "DeletedRayCluster", f"Deleted RayCluster {namespace}/{name}")

    def _ensure_services(self, service: dict[str, Any], active: str) -> None:
        """``<service>-serve-svc`` and ``<service>-head-svc`` select the active cluster's head."""
        meta = service["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        owner = [m.owner_reference(service, RAYSERVICE.kind, RAYSERVICE.api_version)]
        selector = {"ray.io/cluster": active, "ray.io/node-type": "head"}
        for svc_name, ports in (
            (f"{name}-serve-svc", [{"name": "serve", "port": SERVE_PORT, "targetPort": SERVE_PORT}]),
            (f"{name}-head-svc", [{"name": "dashboard", "port": 8265, "targetPort": 8265}]),
        ):
            existing = self.ctl.store.get(SERVICE, namespace, svc_name)
            if existing is None:
                body = {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {
                        "name": svc_name,
                        "namespace": namespace,
                        "labels": {"ray.io/serve": name, "app.kubernetes.io/created-by": m.KUBERAY},
                        "ownerReferences": owner,
                    },
                    "spec": {"type": "ClusterIP", "selector": selector, "ports": ports},
                }
                self.ctl.store.create(SERVICE, body)
            elif (existing.get("spec") or {}).get("selector") != selector:
                self.ctl.store.patch(SERVICE, namespace, svc_name, {"spec": {"selector": selector}})
        key = (namespace, active)
        dashboard = self.ctl.runtime.dashboard_url(key)
        self.ctl.proxies.replace(namespace, f"{name}-head-svc", {"dashboard": dashboard, 8265: dashboard})
        serve_url = getattr(self.ctl.runtime, "serve_url", None)
        if serve_url is not None:
            url = serve_url(key)
            self.ctl.proxies.replace(namespace, f"{name}-serve-svc", {"serve": url, SERVE_PORT: url})

    def forget(self, namespace: str, name: str) -> None:
        """The RayService is gone: its proxies stop answering (its objects go by garbage collection)."""
        self.ctl.proxies.unregister(namespace, f"{name}-serve-svc")
        self.ctl.proxies.unregister(namespace, f"{name}-head-svc")
        self._warned.pop((namespace, name), None)
        for key in [k for k in self._deployed if k[0] == namespace and k[1].startswith(f"{name}-")]:
            self._deployed.pop(key, None)
            self._delete_at.pop(key, None)

    # --- entry ------------------------------------------------------------------------------------

    async def reconcile(self, key: tuple[str, str]) -> float | None:
        """One pass over one RayService; returns seconds until the next pass, if one is needed."""
        namespace, name = key
        service = self.ctl.store.get(RAYSERVICE, namespace, name)
        if service is None or service["metadata"].get("deletionTimestamp"):
            self.forget(namespace, name)
            return None
        spec = service.get("spec") or {}
        if spec.get("managedBy") and spec["managedBy"] != "ray.io/kuberay-operator":
            return None
        status = copy.deepcopy(service.get("status") or {})
        old = copy.deepcopy(status)
        status["observedGeneration"] = service["metadata"].get("generation", 1)
        message = validate_rayservice(service, self.ctl.options.feature_gates)
        if message is not None:
            if self._warned.get(key) != message:
                self._warned[key] = message
                self._event(service, "Warning", "InvalidRayServiceSpec", message)
            self._conditions(
                status, m.condition("Ready", False, "ValidationFailed", message, old.get("conditions"))
            )
            self._write(service, old, status)
            return None
        self._warned.pop(key, None)
        requeue = await self._step(service, spec, status)
        self._write(service, old, status)
        return requeue

    async def _step(
        self, service: dict[str, Any], spec: dict[str, Any], status: dict[str, Any]
    ) -> float | None:
        namespace = service["metadata"]["namespace"]
        conditions = status.get("conditions")
        goal = cluster_config_hash(spec)
        active_name = (status.get("activeServiceStatus") or {}).get("rayClusterName") or ""
        pending_name = (status.get("pendingServiceStatus") or {}).get("rayClusterName") or ""
        active = self._cluster(namespace, active_name)
        pending = self._cluster(namespace, pending_name)
        if active is None:
            active_name = ""
        if pending is None:
            pending_name = ""
        upgrade_type = (spec.get("upgradeStrategy") or {}).get("type") or "NewCluster"
        if pending is not None and _hash_of(pending) != goal:
            # The spec changed again while pending, or went back to the active cluster's: drop it.
            self._delete_cluster(service, namespace, pending_name)
            pending, pending_name = None, ""
        needs_cluster = active is None or (_hash_of(active) != goal and upgrade_type != "None")
        if pending is None and needs_cluster and not self._initializing_timed_out(service, status):
            pending_name = self._create_cluster(service, goal)
            pending = self._cluster(namespace, pending_name)
        text = str(spec.get("serveConfigV2") or "")
        busy = False
        app_statuses: dict[str, dict[str, Any]] = {}
        for which, cluster in (("pending", pending), ("active", active)):
            if cluster is None:
                continue
            ckey = (namespace, cluster["metadata"]["name"])
            if not self._cluster_ready(cluster):
                busy = True
                continue
            # While a pending cluster exists the active one keeps its config (KubeRay deploys the
            # new config to the pending cluster only); without one, a new config is an in-place update.
            stale = self._deployed.get(ckey) != text and (which == "pending" or pending is None)
            if stale and not await self._deploy(ckey, service, text):
                busy = True
                continue
            apps = await self._app_statuses(ckey)
            if apps is None:
                busy = True
                continue
            app_statuses[which] = apps
            if not apps or any(a.get("status") != "RUNNING" for a in apps.values()):
                busy = True
        pending_apps = app_statuses.get("pending")
        if (
            pending is not None
            and pending_apps
            and all(a.get("status") == "RUNNING" for a in pending_apps.values())
            and await self._proxy_serves((namespace, pending_name), text)
        ):
            # Switch: the pending cluster serves from now on; the old one goes after the delay.
            if active is not None:
                delay = spec.get("rayClusterDeletionDelaySeconds")
                delay = DEFAULT_DELETION_DELAY if delay is None else float(delay)
                self._delete_at[(namespace, active_name)] = time.monotonic() + delay
            active, active_name, pending, pending_name = pending, pending_name, None, ""
            app_statuses["active"] = pending_apps
            app_statuses.pop("pending", None)
            status["activeServiceStatus"] = {}
            self._event(service, "Normal", "SwitchedServeTraffic", f"Serve traffic moved to {active_name}")
        if active is not None:
            self._ensure_services(service, active_name)
        for which, name, apps in (
            ("activeServiceStatus", active_name, app_statuses.get("active")),
            ("pendingServiceStatus", pending_name, app_statuses.get("pending")),
        ):
            entry: dict[str, Any] = {}
            if name:
                entry = {"rayClusterName": name}
                previous = status.get(which) or {}
                if apps is not None:
                    entry["applicationStatuses"] = apps
                elif previous.get("rayClusterName") == name and previous.get("applicationStatuses"):
                    entry["applicationStatuses"] = previous["applicationStatuses"]
                cluster = self._cluster(namespace, name)
                if cluster is not None:
                    entry["rayClusterStatus"] = copy.deepcopy(cluster.get("status") or {})
            status[which] = entry
        ready = active is not None and self._cluster_ready(active)
        if ready:
            ready_cond = m.condition("Ready", True, "NonZeroServeEndpoints", "", conditions)
        elif self._initializing_timed_out(service, status):
            ready_cond = m.condition(
                "Ready", False, "InitializingTimeout",
                "the RayService did not become ready within ray.io/initializing-timeout", conditions,
            )  # fmt: skip
        else:
            reason = "Initializing" if active is None else "ZeroServeEndpoints"
            ready_cond = m.condition("Ready", False, reason, "", conditions)
        if active is not None and pending is not None:
            upgrade = m.condition("UpgradeInProgress", True, "BothActivePendingClustersExist", "", conditions)
        elif active is None:
            upgrade = m.condition("UpgradeInProgress", False, "NoActiveCluster", "", conditions)
        else:
            upgrade = m.condition("UpgradeInProgress", False, "NoPendingCluster", "", conditions)
        self._conditions(status, ready_cond, upgrade)
        status["serviceStatus"] = "Running" if ready else ""
        status["numServeEndpoints"] = 1 if ready else 0
        waits = [self.ctl.options.serve_poll_interval] if busy or pending is not None else []
        now = time.monotonic()
        for ckey, when in list(self._delete_at.items()):
            if ckey[0] != namespace or ckey[1] in (active_name, pending_name):
                continue
            if not ckey[1].startswith(f"{service['metadata']['name']}-"):
                continue
            if when <= now:
                self._delete_cluster(service, *ckey)
            else:
                waits.append(when - now)
        return min(waits) if waits else None

    def _initializing_timed_out(self, service: dict[str, Any], status: dict[str, Any]) -> bool:
        """``ray.io/initializing-timeout``: no active cluster that long after creation."""
        if (status.get("activeServiceStatus") or {}).get("rayClusterName"):
            return False
        raw = ann.annotations_of(service).get("ray.io/initializing-timeout")
        if not raw or not raw.isdigit():
            return False
        created = m.parse_time(service["metadata"].get("creationTimestamp"))
        return created is not None and time.time() - created > int(raw)

    @staticmethod
    def _conditions(status: dict[str, Any], *conditions: dict[str, Any]) -> None:
        by_type = {c["type"]: c for c in status.get("conditions") or []}
        for cond in conditions:
            by_type[cond["type"]] = cond
        status["conditions"] = [by_type[t] for t in _CONDITION_TYPES if t in by_type]

    def _write(self, service: dict[str, Any], old: dict[str, Any], status: dict[str, Any]) -> None:
        if old == status:
            return
        status["lastUpdateTime"] = m.now_rfc3339()
        meta = service["metadata"]
        self.ctl.store.patch(
            RAYSERVICE,
            meta["namespace"],
            meta["name"],
            {"status": m.merge_patch(old, status)},
            subresource="status",
        )
