"""Ray Serve on a scripted head: the Serve REST API KubeRay uses, and the applications' HTTP routes.

KubeRay deploys a RayService's ``serveConfigV2`` with ``PUT /api/serve/applications/`` on the head's
dashboard and reads the application statuses back with ``GET /api/serve/applications/``; the
scripted head answers both (the same calls a real head answers in Ray mode). An application
becomes ``RUNNING`` (or ``DEPLOY_FAILED`` / ``UNHEALTHY``, or stays ``DEPLOYING``: a stall) after a
scripted delay, as its RayService's annotations plan it (see ``annotations.py``).

A ``RUNNING`` application answers HTTP on its ``route_prefix`` with a JSON document naming the
application, the cluster and the ``args`` it was deployed with (the model URI a DAG passed), so a
test can check through the service proxy which version of the model served a request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

#: Outcomes a scripted Serve application may be planned to reach.
SERVE_OUTCOMES = ("RUNNING", "DEPLOY_FAILED", "UNHEALTHY", "DEPLOYING")


@dataclass
class ScriptedApp:
    """One scripted Serve application."""

    name: str
    route_prefix: str | None
    args: dict[str, Any]
    status: str = "DEPLOYING"
    message: str = ""
    deployments: list[str] = field(default_factory=list)

    def details(self) -> dict[str, Any]:
        """The application as ``GET /api/serve/applications/`` lists it."""
        deployment_status = {"RUNNING": "HEALTHY", "UNHEALTHY": "UNHEALTHY", "DEPLOY_FAILED": "UNHEALTHY"}
        dstatus = deployment_status.get(self.status, "UPDATING")
        return {
            "name": self.name,
            "route_prefix": self.route_prefix,
            "status": self.status,
            "message": self.message,
            "deployments": {d: {"name": d, "status": dstatus, "message": ""} for d in self.deployments},
        }


class ScriptedServe:
    """The Serve controller of one scripted head.

    :param delay: seconds from a deploy to the applications' planned outcome.
    """

    def __init__(self, cluster: str, delay: float) -> None:
        self.cluster = cluster
        self.delay = delay
        self.apps: dict[str, ScriptedApp] = {}
        self.outcome = "RUNNING"
        self._timer: asyncio.TimerHandle | None = None

    def plan(self, outcome: str | None, delay: float | None) -> None:
        """Script what the next deploy ends in (from the RayService's annotations)."""
        self.outcome = (outcome or "RUNNING").upper()
        if delay is not None:
            self.delay = delay

    def deploy(self, config: dict[str, Any]) -> None:
        """``PUT /api/serve/applications/``: replace the applications (unchanged ones stay as they are)."""
        wanted: dict[str, ScriptedApp] = {}
        for app in config.get("applications") or []:
            name = str(app.get("name", "default"))
            args = dict(app.get("args") or {})
            route = app.get("route_prefix", "/")
            deployments = [str(d.get("name")) for d in app.get("deployments") or [] if d.get("name")]
            old = self.apps.get(name)
            if old is not None and old.args == args and old.route_prefix == route:
                wanted[name] = old
                continue
            wanted[name] = ScriptedApp(name, route, args, deployments=deployments or [f"{name}-deployment"])
        self.apps = wanted
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self.delay, self._settle)

    def _settle(self) -> None:
        self._timer = None
        for app in self.apps.values():
            if app.status != "DEPLOYING" or self.outcome == "DEPLOYING":
                continue
            app.status = self.outcome
            if self.outcome == "DEPLOY_FAILED":
                app.message = (
                    f"Deploying application {app.name!r} failed: "
                    "RuntimeError: the model could not be loaded (scripted failure)"
                )
            elif self.outcome == "UNHEALTHY":
                app.message = f"The deployments of {app.name!r} are UNHEALTHY (scripted failure)"

    def close(self) -> None:
        """The head stops: no more status changes."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def applications(self) -> dict[str, Any]:
        """``GET /api/serve/applications/``."""
        return {"applications": {name: app.details() for name, app in self.apps.items()}}

    async def handle_http(self, request: web.Request, path: str) -> web.StreamResponse:
        """A request to the Serve HTTP port: the application whose route prefix matches answers.

        ``/-/healthz`` and ``/-/routes`` answer as Serve's proxy does (routes of running applications).
        """
        if path == "/-/healthz":
            return web.Response(text="success")
        if path == "/-/routes":
            running = {a.route_prefix: a.name for a in self.apps.values() if a.status == "RUNNING"}
            return web.json_response({prefix: name for prefix, name in running.items() if prefix is not None})
        match: ScriptedApp | None = None
        for app in self.apps.values():
            prefix = app.route_prefix
            if prefix is None:
                continue
            matches = path == prefix or path.startswith(prefix.rstrip("/") + "/") or prefix == "/"
            if matches and (match is None or len(prefix) > len(match.route_prefix or "")):
                match = app
        if match is None:
            return web.Response(status=404, text=f"Path '{path}' not found. Ping http://.../-/routes")
        if match.status != "RUNNING":
            return web.Response(status=503, text=f"application {match.name} is {match.status}")
        body: Any = None
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = (await request.read()).decode("utf-8", "replace")
        return web.json_response(
            {"application": match.name, "cluster": self.cluster, "args": match.args, "input": body}
        )
