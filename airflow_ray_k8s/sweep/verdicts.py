"""What the orphan sweeper decides about one object (pure, stdlib only).

An object is the provider's when it carries the ``managed-by`` label *and* its ``task-key`` label
is the hash of the identity its annotations name: a label alone can be copied by anyone, the hash
of the raw identity cannot be forged by accident. Anything else is foreign and never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_ray_k8s import naming

#: Task-instance states after which nothing will wait for what the task created again.
FINISHED_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
#: A state source's answer when it could not tell (unreachable API): trust the annotation alone.
UNKNOWN = "unknown"
#: A state source's answer when Airflow has no such task instance (its DAG run was deleted).
ABSENT = "absent"


@dataclass(frozen=True)
class Owner:
    """The task instance an object names (its annotations' raw identity and its labels)."""

    identity: naming.TaskIdentity
    try_number: int | None

    def describe(self) -> str:
        """``dag_id.task_id[map_index] run_id`` for the dry-run output."""
        mapped = f"[{self.identity.map_index}]" if self.identity.map_index >= 0 else ""
        return f"{self.identity.dag_id}.{self.identity.task_id}{mapped} {self.identity.run_id}"


@dataclass(frozen=True)
class Verdict:
    """The sweeper's decision about one object.

    :param kind: ``RayJob`` or ``RayCluster``.
    :param namespace: the object's namespace.
    :param name: the object's name.
    :param delete: whether the sweeper deletes it.
    :param why: one line for the log / dry-run output.
    :param owner: the task instance it names (``None`` for a foreign object).
    :param expires_at: its expiry annotation, parsed.
    """

    kind: str
    namespace: str
    name: str
    delete: bool
    why: str
    owner: Owner | None = None
    expires_at: datetime | None = None

    def line(self, *, dry_run: bool) -> str:
        """``delete RayJob ns/name: why`` (``would delete`` in a dry run, ``keep`` otherwise)."""
        action = ("would delete" if dry_run else "delete") if self.delete else "keep"
        return f"{action} {self.kind} {self.namespace}/{self.name}: {self.why}"


def owner_of(obj: Mapping[str, Any]) -> Owner | None:
    """The task instance that created ``obj``, or ``None`` if the provider did not create it."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    if labels.get(naming.LABEL_MANAGED_BY) != naming.MANAGED_BY_VALUE:
        return None
    raw = [
        annotations.get(k)
        for k in (naming.ANNOTATION_DAG_ID, naming.ANNOTATION_TASK_ID, naming.ANNOTATION_RUN_ID)
    ]
    if not all(isinstance(v, str) and v for v in raw):
        return None
    index = labels.get(naming.LABEL_MAP_INDEX, "none")
    try:
        map_index = -1 if index == "none" else int(index)
    except ValueError:
        return None
    identity = naming.TaskIdentity(
        dag_id=str(raw[0]), task_id=str(raw[1]), run_id=str(raw[2]), map_index=map_index
    )
    if labels.get(naming.LABEL_TASK_KEY) != identity.key:
        return None
    tried = labels.get(naming.LABEL_TRY)
    return Owner(identity, int(tried) if tried and tried.isdigit() else None)


def expiry_of(obj: Mapping[str, Any]) -> datetime | None:
    """The object's expiry annotation, parsed (``None`` if missing or unreadable)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(naming.ANNOTATION_EXPIRES_AT)
    return naming.parse_expiry(str(raw)) if raw else None


def judge(kind: str, obj: Mapping[str, Any], now: datetime, state: str | None) -> Verdict:
    """Decide about one object given the state of the task instance it names.

    :param state: the task instance's state as Airflow reports it, :data:`ABSENT` (no such task
        instance), :data:`UNKNOWN` (Airflow could not be asked: the annotation alone decides), or
        ``None`` when it was not asked (the object is foreign or not expired).
    """
    meta = obj.get("metadata") or {}
    namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    owner = owner_of(obj)
    if owner is None:
        return Verdict(kind, namespace, name, delete=False, why="not created by airflow-ray-k8s")
    expires = expiry_of(obj)
    who = f"task {owner.describe()}"
    if expires is None:
        return Verdict(
            kind, namespace, name, delete=False, why=f"{who}: no readable expiry annotation", owner=owner
        )
    stamp = naming.format_expiry(expires)
    if meta.get("deletionTimestamp"):
        return Verdict(
            kind,
            namespace,
            name,
            delete=False,
            why=f"{who}: being deleted already",
            owner=owner,
            expires_at=expires,
        )
    if expires > now:
        left = int((expires - now).total_seconds())
        why = f"{who}: expires at {stamp} (in {left} s)"
        return Verdict(kind, namespace, name, delete=False, why=why, owner=owner, expires_at=expires)
    if state == UNKNOWN or state is None:
        why = f"{who}: expired at {stamp}; Airflow not asked, the annotation decides"
        return Verdict(kind, namespace, name, delete=True, why=why, owner=owner, expires_at=expires)
    if state == ABSENT or state in FINISHED_STATES:
        told = "no such task instance" if state == ABSENT else f"task instance {state}"
        why = f"{who}: expired at {stamp} and {told}"
        return Verdict(kind, namespace, name, delete=True, why=why, owner=owner, expires_at=expires)
    why = f"{who}: expired at {stamp} but its task instance is {state}"
    return Verdict(kind, namespace, name, delete=False, why=why, owner=owner, expires_at=expires)


def owning_rayjob(obj: Mapping[str, Any]) -> str:
    """The name of the RayJob a RayCluster belongs to (its owner reference), or ``""``."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == "RayJob" and ref.get("name"):
            return str(ref["name"])
    return ""
