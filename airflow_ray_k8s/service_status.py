"""A pure value object for the status of a RayService (``ray.io/v1``).

Facts from KubeRay v1.6.2 ``apis/ray/v1/rayservice_types.go`` (the v1.7 type adds nothing this
reader needs): ``status.conditions`` of types ``Ready`` and ``UpgradeInProgress`` (and
``RollbackInProgress``), ``serviceStatus`` (``Running`` or empty), ``activeServiceStatus`` and
``pendingServiceStatus`` each naming a RayCluster and the Serve application statuses on it
(``applicationStatuses``: name -> ``{status, message, serveDeploymentStatuses}``). A pending cluster
exists only while an upgrade that needs a new cluster is under way. Unknown values are kept verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_ray_k8s.status import Condition, _Conditions, _conditions, _from_json, _int, _meta, _status, _str

COND_READY = "Ready"
COND_UPGRADE_IN_PROGRESS = "UpgradeInProgress"
COND_ROLLBACK_IN_PROGRESS = "RollbackInProgress"

#: Ray Serve application statuses (``ApplicationStatus`` in ``ray/serve/_private/common.py``).
APP_RUNNING = "RUNNING"
APP_DEPLOY_FAILED = "DEPLOY_FAILED"
APP_UNHEALTHY = "UNHEALTHY"
FAILED_APP_STATUSES = frozenset({APP_DEPLOY_FAILED, APP_UNHEALTHY})
#: Serve deployment status of a deployment whose replicas all pass their health checks.
DEPLOYMENT_HEALTHY = "HEALTHY"

#: ``Ready=False`` reasons after which KubeRay does not go on trying by itself.
FINAL_NOT_READY_REASONS = frozenset({"ValidationFailed", "InitializingTimeout"})


@dataclass(frozen=True)
class ServeApplication:
    """One Serve application's status on one cluster.

    :param status: ``RUNNING``, ``DEPLOYING``, ``DEPLOY_FAILED``, ``UNHEALTHY``, ... verbatim.
    :param deployments: deployment name -> its status (``HEALTHY``, ``UPDATING``, ``UNHEALTHY``...).
    """

    name: str
    status: str = ""
    message: str = ""
    deployments: dict[str, str] = field(default_factory=dict)

    @property
    def is_healthy(self) -> bool:
        """``RUNNING`` with every deployment ``HEALTHY``."""
        return self.status == APP_RUNNING and all(s == DEPLOYMENT_HEALTHY for s in self.deployments.values())

    def describe(self) -> str:
        """``name: STATUS (message); deployment d: UNHEALTHY`` for a failure message."""
        text = f"{self.name}: {self.status or 'unknown'}"
        if self.message:
            text += f" ({_brief(self.message.strip())})"
        bad = [f"{d}: {s}" for d, s in sorted(self.deployments.items()) if s != DEPLOYMENT_HEALTHY]
        return text + (f"; deployments {', '.join(bad)}" if bad else "")


def _brief(message: str, limit: int = 600) -> str:
    """``message`` cut to about ``limit`` characters, keeping its start and its end: Serve's
    message for an application that failed to deploy is a traceback whose last line (the
    exception, e.g. ``ModuleNotFoundError: No module named 'x'``) matters most."""
    if len(message) <= limit:
        return message
    head = limit // 4
    return f"{message[:head]} ... {message[-(limit - head) :]}"


_APP_FIELDS = frozenset(ServeApplication.__dataclass_fields__)


def _applications(raw: Any) -> tuple[ServeApplication, ...]:
    if not isinstance(raw, Mapping):
        return ()
    apps = []
    for name, value in sorted(raw.items()):
        value = value if isinstance(value, Mapping) else {}
        deployments = value.get("serveDeploymentStatuses")
        deployments = deployments if isinstance(deployments, Mapping) else {}
        apps.append(
            ServeApplication(
                name=str(name),
                status=_str(value.get("status")),
                message=_str(value.get("message")),
                deployments={
                    str(d): _str((s if isinstance(s, Mapping) else {}).get("status"))
                    for d, s in deployments.items()
                },
            )
        )
    return tuple(apps)


@dataclass(frozen=True)
class ServingCluster:
    """``activeServiceStatus`` or ``pendingServiceStatus``: a cluster and what it serves."""

    cluster_name: str = ""
    applications: tuple[ServeApplication, ...] = ()

    @classmethod
    def from_dict(cls, raw: Any) -> ServingCluster:
        """Read one of the two service statuses (absent: no cluster)."""
        raw = raw if isinstance(raw, Mapping) else {}
        return cls(_str(raw.get("rayClusterName")), _applications(raw.get("applicationStatuses")))

    def application(self, name: str) -> ServeApplication | None:
        """The named application's status on this cluster."""
        return next((a for a in self.applications if a.name == name), None)

    @property
    def failed_applications(self) -> tuple[ServeApplication, ...]:
        """Applications Serve reports ``DEPLOY_FAILED`` or ``UNHEALTHY``."""
        return tuple(a for a in self.applications if a.status in FAILED_APP_STATUSES)


@dataclass(frozen=True)
class RayServiceStatus(_Conditions):
    """The status of one RayService.

    Ready means ``Ready`` is true for the object's current generation, no upgrade is in progress
    and there is no pending cluster: the last change is fully rolled out.
    """

    name: str = ""
    namespace: str = ""
    service_status: str = ""
    num_serve_endpoints: int | None = None
    observed_generation: int | None = None
    generation: int | None = None
    resource_version: str = ""
    active: ServingCluster = field(default_factory=ServingCluster)
    pending: ServingCluster = field(default_factory=ServingCluster)
    conditions: tuple[Condition, ...] = field(default_factory=tuple)

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> RayServiceStatus:
        """Read the status of a RayService object dict; no status yet reads as "not ready"."""
        name, namespace, resource_version, generation = _meta(obj)
        st = _status(obj)
        return cls(
            name=name,
            namespace=namespace,
            service_status=_str(st.get("serviceStatus")),
            num_serve_endpoints=_int(st.get("numServeEndpoints")),
            observed_generation=_int(st.get("observedGeneration")),
            generation=generation,
            resource_version=resource_version,
            active=ServingCluster.from_dict(st.get("activeServiceStatus")),
            pending=ServingCluster.from_dict(st.get("pendingServiceStatus")),
            conditions=_conditions(st),
        )

    @property
    def is_current(self) -> bool:
        """Whether KubeRay has seen the latest spec (``observedGeneration`` caught up)."""
        if self.generation is None:
            return True
        return self.observed_generation is not None and self.observed_generation >= self.generation

    @property
    def upgrading(self) -> bool:
        """An upgrade is under way: ``UpgradeInProgress`` true or a pending cluster exists."""
        cond = self.condition(COND_UPGRADE_IN_PROGRESS)
        return bool(self.pending.cluster_name) or (cond is not None and cond.is_true)

    @property
    def is_ready(self) -> bool:
        """Ready for the current spec, with the upgrade (if any) finished."""
        cond = self.condition(COND_READY)
        return self.is_current and cond is not None and cond.is_true and not self.upgrading

    @property
    def final_failure(self) -> str | None:
        """KubeRay's reason when it has given up by itself (``ValidationFailed``, ``InitializingTimeout``)."""
        cond = self.condition(COND_READY)
        if cond is not None and not cond.is_true and cond.reason in FINAL_NOT_READY_REASONS:
            return f"{cond.reason}: {cond.message}".rstrip(": ")
        return None

    @property
    def failed_applications(self) -> tuple[ServeApplication, ...]:
        """Failed applications of the deployment under way: the pending cluster's during an
        upgrade, else the active cluster's."""
        return (self.pending if self.pending.cluster_name else self.active).failed_applications

    def describe(self) -> str:
        """One line for logs and failure messages: conditions, clusters, application statuses."""
        parts = []
        for ctype in (COND_READY, COND_UPGRADE_IN_PROGRESS):
            cond = self.condition(ctype)
            if cond is not None:
                parts.append(f"{ctype}={cond.status}" + (f" ({cond.reason})" if cond.reason else ""))
        for label, serving in (("active", self.active), ("pending", self.pending)):
            if serving.cluster_name:
                apps = "; ".join(a.describe() for a in serving.applications) or "no applications yet"
                parts.append(f"{label} cluster {serving.cluster_name}: {apps}")
        return ", ".join(parts) or "no status yet"

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (for trigger events); :meth:`from_json` reads it back."""
        data = asdict(self)
        data["conditions"] = [asdict(c) for c in self.conditions]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RayServiceStatus:
        """Read what :meth:`to_json` wrote; unknown keys are ignored."""
        clean = dict(data)
        for key in ("active", "pending"):
            value = clean.get(key)
            raw: Mapping[str, Any] = value if isinstance(value, Mapping) else {}
            clean[key] = ServingCluster(
                _str(raw.get("cluster_name")),
                tuple(
                    ServeApplication(
                        **{k: v for k, v in a.items() if k in ServeApplication.__dataclass_fields__}
                    )
                    for a in raw.get("applications") or ()
                    if isinstance(a, Mapping)
                ),
            )
        result: RayServiceStatus = _from_json(cls, clean)
        return result
