"""One sweep: list what the provider created in each namespace, judge it, delete the orphans.

Lists by the ``managed-by`` label (a server-side selector, so foreign objects are never even
read), then re-checks every object with :func:`~.verdicts.owner_of` before touching it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_ray_k8s.naming import LABEL_MANAGED_BY, MANAGED_BY_VALUE
from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB
from airflow_ray_k8s.sweep.states import AnnotationOnly, StateSource
from airflow_ray_k8s.sweep.verdicts import Verdict, expiry_of, judge, owner_of, owning_rayjob

#: The selector of everything the provider creates.
SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY_VALUE}"


@dataclass
class SweepReport:
    """What one sweep decided and did.

    :param verdicts: one per object listed.
    :param deleted: ``kind/namespace/name`` of what was deleted (empty in a dry run).
    :param errors: deletions that failed (the next sweep tries again).
    """

    dry_run: bool
    source: str
    namespaces: list[str]
    verdicts: list[Verdict] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def orphans(self) -> list[Verdict]:
        """The verdicts that delete."""
        return [v for v in self.verdicts if v.delete]

    def lines(self) -> list[str]:
        """The dry-run / log output: one line per object, then a summary."""
        out = [v.line(dry_run=self.dry_run) for v in self.verdicts]
        out.extend(f"error: {e}" for e in self.errors)
        verb = "would delete" if self.dry_run else "deleted"
        done = len(self.orphans) if self.dry_run else len(self.deleted)
        out.append(
            f"{verb} {done} of {len(self.verdicts)} object(s) in {', '.join(self.namespaces) or '-'} "
            f"(task states from {self.source})"
        )
        return out

    def to_json(self) -> dict[str, Any]:
        """A small summary for XCom."""
        return {
            "dry_run": self.dry_run,
            "orphans": [f"{v.kind}/{v.namespace}/{v.name}" for v in self.orphans],
            "deleted": list(self.deleted),
            "kept": len(self.verdicts) - len(self.orphans),
            "errors": list(self.errors),
        }


def sweep_namespaces(hook: Any, namespaces: Iterable[str] | None) -> list[str]:
    """The namespaces to sweep: those given (each checked against the connection's allow-list),
    else the connection's ``allowed_namespaces``, else its default namespace."""
    if namespaces:
        return sorted({hook.resolve_namespace(n) for n in namespaces})
    settings = hook.settings
    return sorted(settings.allowed_namespaces) or [settings.namespace]


def sweep(
    hook: Any,
    *,
    namespaces: Iterable[str] | None = None,
    states: StateSource | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> SweepReport:
    """Judge every object the provider created in ``namespaces`` and delete the orphans.

    :param hook: a :class:`~airflow_ray_k8s.hooks.kuberay.KubeRayHook` (or any ``KubeClient``).
    :param states: where task-instance states come from (default: the annotation alone).
    :param dry_run: decide and report, delete nothing.
    """
    states = states or AnnotationOnly()
    now = now or datetime.now(timezone.utc)
    report = SweepReport(
        dry_run=dry_run, source=states.description, namespaces=sweep_namespaces(hook, namespaces)
    )
    asked: dict[Any, str] = {}

    def state_for(obj: dict[str, Any]) -> str | None:
        owner = owner_of(obj)
        expires = expiry_of(obj)
        if owner is None or expires is None or expires > now:
            return None  # decided without asking
        if owner.identity not in asked:
            asked[owner.identity] = states.state(owner.identity)
        return asked[owner.identity]

    for namespace in report.namespaces:
        jobs = list(hook.list_objects(RAYJOB, namespace=namespace, label_selector=SELECTOR).items)
        clusters = list(hook.list_objects(RAYCLUSTER, namespace=namespace, label_selector=SELECTOR).items)
        job_names = {str(j["metadata"]["name"]) for j in jobs}
        for obj in jobs:
            report.verdicts.append(judge(RAYJOB.kind, obj, now, state_for(obj)))
        for obj in clusters:
            parent = owning_rayjob(obj)
            if parent in job_names:
                # KubeRay's cluster of a listed RayJob: it goes (or stays) with its RayJob.
                meta = obj["metadata"]
                report.verdicts.append(
                    Verdict(
                        RAYCLUSTER.kind, namespace, str(meta["name"]), False, f"belongs to RayJob {parent}"
                    )
                )
                continue
            report.verdicts.append(judge(RAYCLUSTER.kind, obj, now, state_for(obj)))
    if not dry_run:
        _delete(hook, report)
    return report


def _delete(hook: Any, report: SweepReport) -> None:
    from airflow_ray_k8s._lifecycle.jobs import delete_rayjob_and_cluster
    from airflow_ray_k8s.exceptions import RayK8sError

    for verdict in report.orphans:
        what = f"{verdict.kind}/{verdict.namespace}/{verdict.name}"
        try:
            if verdict.kind == RAYJOB.kind:
                # With the cluster KubeRay made for it (owner-reference GC may not run at once).
                delete_rayjob_and_cluster(hook, verdict.namespace, verdict.name)
            else:
                hook.delete(RAYCLUSTER, verdict.name, namespace=verdict.namespace)
        except RayK8sError as exc:
            report.errors.append(f"could not delete {what}: {exc}")
            continue
        report.deleted.append(what)


def sweep_permissions() -> tuple[Any, ...]:
    """What a sweep does in each namespace (``deploy/orphan-sweeper.yaml`` grants exactly this)."""
    from airflow_ray_k8s.kube.access import Permission
    from airflow_ray_k8s.resources import KUBERAY_GROUP

    return tuple(
        Permission(KUBERAY_GROUP, plural, verb)
        for plural in ("rayclusters", "rayjobs")
        for verb in ("get", "list", "delete")
    )
