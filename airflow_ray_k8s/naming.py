"""Deterministic Kubernetes names and labels from an Airflow task's identity (pure, stdlib only).

The Kubernetes name is the provider's idempotency key: the same task attempt always maps to the
same RayJob / RayCluster name, so a re-run after a worker crash re-attaches instead of submitting
twice, while distinct ``(dag_id, task_id, run_id, map_index)`` always map to distinct names, also
after truncation, because every name ends with a short hash of the full identity.

Length limits come from KubeRay v1.7 (``ray-operator/controllers/ray/utils/constant.go`` and
``validation.go``): a RayCluster name is a DNS-1035 label of at most 53 characters (so that its
longest service name, ``<name>-serve-svc``, still fits in 63); a RayJob name at most 47, because
KubeRay names the RayJob's cluster ``<rayjob>-<5 random chars>``.

This module is imported on the DAG-parse path: keep it free of third-party imports.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

# --- KubeRay limits -------------------------------------------------------------------------------------

#: Longest name a Kubernetes label value or DNS label may have.
MAX_DNS_LABEL_LENGTH = 63
#: Longest RayCluster name KubeRay accepts (63 - len("-serve-svc")).
MAX_RAYCLUSTER_NAME_LENGTH = 53
#: Suffix KubeRay appends to a RayJob's name to name its cluster: ``-`` and 5 random characters.
RAYJOB_CLUSTER_SUFFIX_LENGTH = 6
#: Longest RayJob name KubeRay accepts (its cluster name must still fit).
MAX_RAYJOB_NAME_LENGTH = MAX_RAYCLUSTER_NAME_LENGTH - RAYJOB_CLUSTER_SUFFIX_LENGTH
#: Suffix of the head service KubeRay creates for a cluster (the dashboard proxy goes through it).
HEAD_SERVICE_SUFFIX = "-head-svc"

# --- the provider's label and annotation keys ---------------------------------------------------------

LABEL_PREFIX = "airflow-ray-k8s.io"
LABEL_DAG_ID = f"{LABEL_PREFIX}/dag-id"
LABEL_TASK_ID = f"{LABEL_PREFIX}/task-id"
LABEL_RUN_ID = f"{LABEL_PREFIX}/run-id"
LABEL_MAP_INDEX = f"{LABEL_PREFIX}/map-index"
LABEL_TRY = f"{LABEL_PREFIX}/try"
#: Hash of the full identity: the exact selector for one task instance (label values are lossy).
LABEL_TASK_KEY = f"{LABEL_PREFIX}/task-key"
#: Standard label marking every object the provider created (what a sweeper selects on).
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "airflow-ray-k8s"

#: RFC 3339 UTC time after which a sweeper may delete the object.
ANNOTATION_EXPIRES_AT = f"{LABEL_PREFIX}/expires-at"
#: Hash of the spec the provider submitted, to tell a re-attach to the same spec from a conflict.
ANNOTATION_SPEC_HASH = f"{LABEL_PREFIX}/spec-hash"
#: The identity's raw (unsanitized) values: annotations accept any string.
ANNOTATION_DAG_ID = f"{LABEL_PREFIX}/dag-id"
ANNOTATION_TASK_ID = f"{LABEL_PREFIX}/task-id"
ANNOTATION_RUN_ID = f"{LABEL_PREFIX}/run-id"

# --- rules ------------------------------------------------------------------------------------------------

_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN_MAX = 253
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_HASH_LENGTH = 10


def dns1035_label_errors(name: str, max_length: int = MAX_DNS_LABEL_LENGTH) -> list[str]:
    """Reasons ``name`` is not a DNS-1035 label of at most ``max_length`` characters (empty if it is)."""
    errors = []
    if len(name) > max_length:
        errors.append(f"must be no more than {max_length} characters (got {len(name)})")
    if not _DNS1035.fullmatch(name):
        errors.append(
            "must consist of lower case alphanumeric characters or '-', start with a letter "
            "and end with an alphanumeric character"
        )
    return errors


def dns1123_label_errors(name: str) -> list[str]:
    """Reasons ``name`` is not a DNS-1123 label (lowercase alphanumerics and ``-``, at most 63)."""
    errors = []
    if len(name) > MAX_DNS_LABEL_LENGTH:
        errors.append(f"must be no more than {MAX_DNS_LABEL_LENGTH} characters (got {len(name)})")
    if not _DNS1123_LABEL.fullmatch(name):
        errors.append(
            "must consist of lower case alphanumeric characters or '-', "
            "and start and end with an alphanumeric character"
        )
    return errors


def label_value_errors(value: str) -> list[str]:
    """Reasons ``value`` is not a valid Kubernetes label value (empty if it is)."""
    errors = []
    if len(value) > MAX_DNS_LABEL_LENGTH:
        errors.append(f"must be no more than {MAX_DNS_LABEL_LENGTH} characters (got {len(value)})")
    if not _LABEL_VALUE.fullmatch(value):
        errors.append(
            "must be empty or consist of alphanumeric characters, '-', '_' or '.', "
            "and start and end with an alphanumeric character"
        )
    return errors


def qualified_name_errors(key: str) -> list[str]:
    """Reasons ``key`` is not a valid label / annotation key (``[prefix/]name``), empty if it is."""
    prefix, slash, name = key.rpartition("/")
    errors = []
    if slash:
        if not prefix:
            errors.append("prefix part must be non-empty")
        elif len(prefix) > _DNS1123_SUBDOMAIN_MAX or not all(
            _DNS1123_LABEL.fullmatch(part) for part in prefix.split(".")
        ):
            errors.append("prefix part must be a lowercase DNS-1123 subdomain")
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > MAX_DNS_LABEL_LENGTH:
        errors.append(f"name part must be no more than {MAX_DNS_LABEL_LENGTH} characters")
    elif not _QUALIFIED_NAME.fullmatch(name):
        errors.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', "
            "and start and end with an alphanumeric character"
        )
    return errors


def short_hash(*parts: Any, length: int = _HASH_LENGTH) -> str:
    """A short, stable, DNS-safe hash (lowercase base32) of ``parts``.

    JSON encoding keeps the parts unambiguous: ``("a-b", "c")`` and ``("a", "b-c")`` differ.
    """
    digest = hashlib.sha256(json.dumps(parts, separators=(",", ":"), default=str).encode()).digest()
    return base64.b32encode(digest).decode().lower()[:length]


def _slug(text: str) -> str:
    """Lowercase, runs of anything outside ``[a-z0-9]`` become one ``-``, no ``-`` at either end."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# --- the task's identity ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskIdentity:
    """What makes one Airflow task instance unique.

    :param dag_id: the DAG's id.
    :param task_id: the task's id (with its task-group prefix, as Airflow reports it).
    :param run_id: the DAG run's id, e.g. ``scheduled__2024-01-01T00:00:00+00:00``.
    :param map_index: the dynamic-mapping index, ``-1`` for an unmapped task.
    """

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1

    @property
    def key(self) -> str:
        """Short stable hash of the four fields (the ``task-key`` label value)."""
        return short_hash(self.dag_id, self.task_id, self.run_id, self.map_index)

    def resource_name(
        self,
        kind: Literal["rayjob", "raycluster"] = "rayjob",
        *,
        try_number: int | None = None,
        prefix: str = "",
    ) -> str:
        """Deterministic DNS-1035 name for the resource this task creates.

        Shape: ``[prefix-]<dag>-<task>[-m<map_index>]-<hash>[-t<try>]``; ``<dag>`` and ``<task>`` are
        readable slugs shortened to fit, ``<hash>`` covers the full identity (so names stay distinct
        after truncation). The length leaves room for KubeRay's suffixes: at most 47 characters
        for a RayJob (its cluster is ``<name>-xxxxx``), 53 for a RayCluster (``<name>-serve-svc``).

        :param kind: ``"rayjob"`` or ``"raycluster"``; decides the length limit.
        :param try_number: if given, a per-attempt suffix ``-t<n>`` so a retry gets a fresh name.
        :param prefix: optional readable prefix (e.g. a team name); sanitized and shortened too.
        """
        limit = MAX_RAYJOB_NAME_LENGTH if kind == "rayjob" else MAX_RAYCLUSTER_NAME_LENGTH
        tail = f"-{self.key}"
        if self.map_index >= 0:
            tail = f"-m{self.map_index}{tail}"
        if try_number is not None:
            tail += f"-t{try_number}"
        if len(tail) > limit - 4:
            # Absurd map index / try number: the hash alone still tells identities apart.
            tail = f"-{short_hash(self.key, try_number)}"
        parts = [p for p in (_slug(prefix), _slug(self.dag_id), _slug(self.task_id)) if p]
        budget = limit - len(tail)
        head = _fit(parts, budget)
        # DNS-1035 wants a leading letter; dag ids often start with a digit ("2024_backfill").
        if head and not head[0].isalpha():
            head = "r-" + _fit(parts, budget - 2)
        return f"{head or 'ray'}{tail}"

    def labels(self, *, try_number: int | None = None) -> dict[str, str]:
        """Kubernetes labels naming this task instance (values sanitized to the label rules).

        Sanitized values are lossy (``:`` and ``+`` in run ids are not allowed); select on
        ``task-key`` for an exact match, and read the raw values from :meth:`annotations`.
        """
        out = {
            LABEL_MANAGED_BY: MANAGED_BY_VALUE,
            LABEL_DAG_ID: sanitize_label_value(self.dag_id),
            LABEL_TASK_ID: sanitize_label_value(self.task_id),
            LABEL_RUN_ID: sanitize_label_value(self.run_id),
            # "-1" is not a valid label value (must start with an alphanumeric): unmapped reads "none".
            LABEL_MAP_INDEX: str(self.map_index) if self.map_index >= 0 else "none",
            LABEL_TASK_KEY: self.key,
        }
        if try_number is not None:
            out[LABEL_TRY] = str(try_number)
        return out

    def selector(self) -> str:
        """Label selector matching every object any attempt of this task instance created."""
        return f"{LABEL_MANAGED_BY}={MANAGED_BY_VALUE},{LABEL_TASK_KEY}={self.key}"

    def annotations(self) -> dict[str, str]:
        """The identity's raw values as annotations (no character or length rules apply)."""
        return {
            ANNOTATION_DAG_ID: self.dag_id,
            ANNOTATION_TASK_ID: self.task_id,
            ANNOTATION_RUN_ID: self.run_id,
        }


def _fit(parts: list[str], budget: int) -> str:
    """Join ``parts`` with ``-`` in at most ``budget`` characters, shortening the longest part first."""
    if budget <= 0 or not parts:
        return ""
    parts = list(parts)
    while parts and len("-".join(parts)) > budget:
        longest = max(range(len(parts)), key=lambda i: len(parts[i]))
        excess = len("-".join(parts)) - budget
        keep = max(len(parts[longest]) - excess, 0)
        # Shorten in steps so the other parts keep a readable share.
        keep = max(keep, len(parts[longest]) // 2) if len(parts[longest]) > 8 else keep
        shortened = parts[longest][:keep].rstrip("-")
        if shortened:
            parts[longest] = shortened
        else:
            del parts[longest]
    return "-".join(parts)


def sanitize_label_value(value: str) -> str:
    """Turn any string into a valid label value, deterministically.

    A valid value is returned unchanged. Otherwise invalid characters become ``-``, the value is
    shortened, and a short hash of the original is appended so different inputs stay different
    (``a:b`` and ``a+b`` both read ``a-b`` but carry different hashes).
    """
    if not label_value_errors(value):
        return value
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", value)
    digest = short_hash(value)
    cleaned = cleaned[: MAX_DNS_LABEL_LENGTH - len(digest) - 1]
    cleaned = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)
    return f"{cleaned}-{digest}" if cleaned else digest


# --- annotations' values ------------------------------------------------------------------------------------


def spec_hash(spec: Mapping[str, Any]) -> str:
    """Stable hash of a spec dict (key order does not matter), for :data:`ANNOTATION_SPEC_HASH`."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def format_expiry(when: datetime) -> str:
    """RFC 3339 UTC value for :data:`ANNOTATION_EXPIRES_AT` (naive datetimes are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_expiry(value: str) -> datetime | None:
    """The expiry time an annotation holds, or ``None`` if it cannot be read."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
