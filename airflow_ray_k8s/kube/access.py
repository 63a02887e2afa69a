"""Connection check: is the API reachable, is KubeRay installed, what may these credentials do.

Used by the hook's ``test_connection`` (the Airflow UI's "Test" button) and by operators that want
a clear error before creating anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_ray_k8s.exceptions import KubeApiError, KubeForbiddenError, KubeNotFoundError
from airflow_ray_k8s.kube import request as rq
from airflow_ray_k8s.kube.effects import Op
from airflow_ray_k8s.resources import KUBERAY_GROUP, KUBERAY_VERSION, RAYCLUSTER, RAYJOB

_CRUD = ("create", "get", "list", "watch", "patch", "delete")


@dataclass(frozen=True)
class Permission:
    """One thing the provider needs to be allowed to do."""

    group: str
    resource: str
    verb: str
    subresource: str = ""

    def __str__(self) -> str:
        res = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {res}" + (f".{self.group}" if self.group else "")


#: What the provider does in a namespace (a namespaced Role granting these is enough).
REQUIRED_PERMISSIONS: tuple[Permission, ...] = (
    *(Permission(KUBERAY_GROUP, "rayclusters", v) for v in _CRUD),
    *(Permission(KUBERAY_GROUP, "rayjobs", v) for v in _CRUD),
    # RayServiceDeployOperator / RayServiceDeleteOperator / RayServiceSensor.
    *(Permission(KUBERAY_GROUP, "rayservices", v) for v in _CRUD),
    Permission("", "pods", "list"),
    Permission("", "events", "list"),
    # The dashboard through the API server's service proxy: GET for status / logs, POST for stop
    # (and for a request to a RayService's <name>-serve-svc, e.g. a smoke test).
    Permission("", "services", "get", "proxy"),
    Permission("", "services", "create", "proxy"),
)
TOKEN_PERMISSION = Permission("", "secrets", "get")


@dataclass(frozen=True)
class ConnectionReport:
    """What :func:`check_connection` found."""

    namespace: str
    server_version: str = ""
    served_versions: dict[str, list[str]] = field(default_factory=dict)
    missing_crds: list[str] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)
    access_checked: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Reachable, KubeRay's v1 CRDs served, and nothing needed denied."""
        served = all(KUBERAY_VERSION in v for v in self.served_versions.values())
        return bool(self.server_version) and not self.missing_crds and served and not self.denied

    def summary(self) -> str:
        """One paragraph for the Airflow UI."""
        parts = [f"Kubernetes {self.server_version or '?'} reachable"]
        for crd, versions in sorted(self.served_versions.items()):
            parts.append(f"{crd} served versions {', '.join(versions) or 'none'}")
        if self.missing_crds:
            parts.append(f"KubeRay CRDs missing: {', '.join(self.missing_crds)}")
        if self.denied:
            parts.append(f"denied in namespace {self.namespace}: {', '.join(self.denied)}")
        elif self.access_checked:
            parts.append(f"all required permissions granted in namespace {self.namespace}")
        parts.extend(self.notes)
        return "; ".join(parts)


def _crd_versions(obj: dict[str, object]) -> list[str]:
    spec = obj.get("spec")
    versions = spec.get("versions") if isinstance(spec, dict) else None
    out = []
    for v in versions if isinstance(versions, list) else []:
        if isinstance(v, dict) and v.get("served"):
            out.append(str(v.get("name")))
    return out


def check_connection(namespace: str, *, with_token_secret: bool = False) -> Op[ConnectionReport]:
    """Reachability (``/version``), the ray.io CRDs and their served versions, and access reviews.

    Errors other than 403 / 404 on the individual checks propagate (the API is not usable).
    """
    version = rq.parse_object((yield rq.server_version()))
    report = ConnectionReport(namespace=namespace, server_version=str(version.get("gitVersion") or "unknown"))
    for resource in (RAYCLUSTER, RAYJOB):
        crd = f"{resource.plural}.{resource.group}"
        try:
            obj = rq.parse_object((yield rq.get_crd(crd)))
            report.served_versions[crd] = _crd_versions(obj)
        except KubeNotFoundError:
            report.missing_crds.append(crd)
        except KubeForbiddenError:
            # Reading CRDs is cluster-scoped and a namespaced Role does not grant it; probe the
            # resource itself instead (a 404 there means the group/version is not served).
            report.notes.append(f"cannot read CRD {crd}; probed {resource.plural} instead")
            try:
                yield rq.list_(resource, namespace, limit=1)
                report.served_versions[crd] = [resource.version]
            except KubeNotFoundError:
                report.missing_crds.append(crd)
            except KubeForbiddenError:
                report.served_versions[crd] = []
    perms = REQUIRED_PERMISSIONS + ((TOKEN_PERMISSION,) if with_token_secret else ())
    for perm in perms:
        try:
            review = rq.parse_object(
                (
                    yield rq.self_subject_access_review(
                        namespace, perm.verb, perm.resource, perm.group, perm.subresource
                    )
                )
            )
        except (KubeNotFoundError, KubeForbiddenError) as exc:
            return _unchecked(report, exc)
        status = review.get("status") or {}
        if not status.get("allowed"):
            report.denied.append(str(perm))
    return report


def _unchecked(report: ConnectionReport, exc: KubeApiError) -> ConnectionReport:
    report.notes.append(f"permissions not checked: SelfSubjectAccessReview unavailable (HTTP {exc.status})")
    return ConnectionReport(
        namespace=report.namespace,
        server_version=report.server_version,
        served_versions=report.served_versions,
        missing_crds=report.missing_crds,
        denied=report.denied,
        access_checked=False,
        notes=report.notes,
    )
