"""A stand-in for Kueue: LocalQueues with a number of slots, admitting suspended workloads.

Real Kueue (https://kueue.sigs.k8s.io/docs/tasks/run/rayjobs/, .../rayclusters/) suspends a RayJob
or RayCluster labelled ``kueue.x-k8s.io/queue-name`` when it is created, wraps it in a Workload,
and admits it, by setting ``spec.suspend: false``, once the ClusterQueue behind that LocalQueue
has quota for it. A RayJob's quota is released when it finishes; a RayCluster holds its quota for
as long as it exists. The RayCluster a RayJob creates is part of the RayJob's workload, not one of
its own.

Here quota is a count: ``local_queues={"name": slots}`` lets at most ``slots`` admitted, unfinished
workloads labelled with that queue exist at once, in any namespace. A pass, run on every change to
a RayJob or RayCluster, admits the oldest suspended workloads of each queue while slots are free.
A RayJob holds its slot from admission until it is terminal *and* its cluster is gone (or the
RayJob is deleted); a standalone RayCluster holds it until it is deleted.

Not emulated: resource quotas (CPU, memory, GPU), cohorts and borrowing, priorities and
preemption (``kueue.x-k8s.io/priority-class`` is ignored: first come, first admitted), Workload
objects, the webhook (a labelled object created unsuspended just holds a slot). A queue name not
configured is a LocalQueue that does not exist: its workloads stay suspended, as Kueue leaves them.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from typing import Any

from airflow_ray_k8s._lifecycle.queueing import LABEL_QUEUE_NAME
from airflow_ray_k8s.resources import RAYCLUSTER, RAYJOB

log = logging.getLogger(__name__)

#: A RayJob in one of these deployment statuses no longer needs its quota once its cluster is gone.
_FINISHED = frozenset({"Complete", "Failed", "ValidationFailed"})


def check_local_queues(value: Any) -> dict[str, int]:
    """``local_queues`` as ``{name: slots}``; raises ``ValueError`` naming what is wrong."""
    if not isinstance(value, Mapping):
        raise ValueError(f"local_queues must be a mapping of queue name to slots, not {type(value).__name__}")
    queues: dict[str, int] = {}
    for name, slots in value.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"local_queues: queue name {name!r} must be a non-empty string")
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 0:
            raise ValueError(f"local_queues[{name!r}]: slots must be an integer >= 0, not {slots!r}")
        queues[name] = slots
    return queues


def _queue(obj: Mapping[str, Any]) -> str:
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_QUEUE_NAME) or "")


def _owned_by_rayjob(cluster: Mapping[str, Any]) -> bool:
    refs = (cluster.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("kind") == "RayJob" for ref in refs)


class LocalQueues:
    """The admission pass over the controller's object store (call on the emulator loop).

    :param store: the emulator's ``ObjectStore``.
    :param slots: ``{queue name: slots}`` (see the module docs).
    """

    def __init__(self, store: Any, slots: Mapping[str, int]) -> None:
        self.store = store
        self.slots = dict(slots)
        #: Admissions so far, in order, as ``(queue, kind, namespace, name)`` (read by tests).
        self.admitted: list[tuple[str, str, str, str]] = []
        # First sight of each workload (by uid): the order among objects created in the same second.
        self._seen: dict[str, int] = {}
        self._counter = itertools.count()

    def admit(self) -> int:
        """Admit what fits; returns how many workloads were admitted by this pass."""
        if not self.slots:
            return 0
        held: dict[str, int] = dict.fromkeys(self.slots, 0)
        waiting: dict[str, list[tuple[str, int, str, dict[str, Any]]]] = {q: [] for q in self.slots}
        clusters = {(c["metadata"]["namespace"], c["metadata"]["name"]) for c in self.store.list(RAYCLUSTER)}
        live: set[str] = set()
        for kind, obj in self._workloads():
            queue = _queue(obj)
            meta = obj["metadata"]
            live.add(meta["uid"])
            order = self._seen.setdefault(meta["uid"], next(self._counter))
            if queue not in self.slots:
                continue
            if (obj.get("spec") or {}).get("suspend"):
                if not meta.get("deletionTimestamp"):
                    waiting[queue].append((str(meta.get("creationTimestamp") or ""), order, kind, obj))
            elif self._holds_slot(kind, obj, clusters):
                held[queue] += 1
        for uid in set(self._seen) - live:
            del self._seen[uid]
        admitted = 0
        for queue, candidates in waiting.items():
            candidates.sort(key=lambda c: (c[0], c[1]))
            for _created, _order, kind, obj in candidates:
                if held[queue] >= self.slots[queue]:
                    break
                meta = obj["metadata"]
                res = RAYJOB if kind == "RayJob" else RAYCLUSTER
                self.store.patch(res, meta["namespace"], meta["name"], {"spec": {"suspend": False}})
                held[queue] += 1
                admitted += 1
                self.admitted.append((queue, kind, meta["namespace"], meta["name"]))
                log.info("LocalQueue %s admitted %s %s/%s", queue, kind, meta["namespace"], meta["name"])
        return admitted

    def _workloads(self) -> list[tuple[str, dict[str, Any]]]:
        """Queued RayJobs and standalone RayClusters (a RayJob's own cluster is its workload's)."""
        found: list[tuple[str, dict[str, Any]]] = [
            ("RayJob", job) for job in self.store.list(RAYJOB) if _queue(job)
        ]
        found += [
            ("RayCluster", rc)
            for rc in self.store.list(RAYCLUSTER)
            if _queue(rc) and not _owned_by_rayjob(rc)
        ]
        return found

    @staticmethod
    def _holds_slot(kind: str, obj: Mapping[str, Any], clusters: set[tuple[str, str]]) -> bool:
        if kind == "RayCluster":
            return True  # a RayCluster holds its quota while it exists
        status = obj.get("status") or {}
        if status.get("jobDeploymentStatus") not in _FINISHED:
            return True
        cluster = status.get("rayClusterName")
        return bool(cluster) and (obj["metadata"]["namespace"], cluster) in clusters
