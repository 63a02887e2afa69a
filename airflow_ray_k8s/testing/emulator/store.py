"""The object store behind the emulated Kubernetes API.

It owns what makes an API server an API server rather than a dict: a global ``resourceVersion``,
``uid`` / ``creationTimestamp`` / ``generation``, the status subresource rules, ``deletionTimestamp``
with finalizers, the garbage collector's ``ownerReferences`` cascade (Background / Foreground /
Orphan), a bounded event history for watch resumption (older versions answer 410 Gone), and watch
fan-out. Everything runs on the emulator's event loop thread; methods are synchronous so that a
change and the events it causes are atomic with respect to other coroutines.

Watch fan-out is indexed by ``(resource, namespace)``: an event is offered only to the watchers of
its resource in its namespace plus the all-namespaces watchers of that resource, and its JSON is
encoded once however many watchers receive it.

Stored dicts are never mutated in place (every write builds a new dict), so the history and the
watch queues can hold references to them; every dict handed to a caller is a copy.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import uuid
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from airflow_ray_k8s.resources import NAMESPACE, Resource
from airflow_ray_k8s.testing.emulator import errors
from airflow_ray_k8s.testing.emulator.defaults import Defaulter
from airflow_ray_k8s.testing.emulator.objectmeta import check_metadata, check_name
from airflow_ray_k8s.testing.emulator.patching import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    PatchError,
    json_patch,
    merge_patch,
)
from airflow_ray_k8s.testing.emulator.registry import ResourceRegistry, ServedResource
from airflow_ray_k8s.testing.emulator.schema import FIELD_VALIDATION, WARNINGS, StructuralSchema
from airflow_ray_k8s.testing.emulator.selectors import FieldSelector, LabelSelector
from airflow_ray_k8s.testing.emulator.watchers import (
    ADDED,
    BOOKMARK,
    DELETED,
    ERROR,
    MODIFIED,
    Event,
    Watcher,
)

Obj = dict[str, Any]
# Aliases: inside ObjectStore, "list" names the method, not the builtin.
ObjList = list[Obj]

FOREGROUND_FINALIZER = "foregroundDeletion"
# The API server refuses to delete these (NamespaceLifecycle admission).
_UNDELETABLE_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")

# Metadata the server owns: a client's value is ignored on create and on every update.
_SYSTEM_METADATA = (
    "uid",
    "creationTimestamp",
    "generation",
    "resourceVersion",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "name",
    "namespace",
)


def now_rfc3339() -> str:
    """The current time as Kubernetes writes timestamps (RFC 3339, seconds, UTC ``Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def clone(value: Any) -> Any:
    """A deep copy of a JSON value (faster than ``copy.deepcopy``: no memo, no reductions)."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def _copy(obj: Obj) -> Obj:
    copied: Obj = clone(obj)
    return copied


def _as_selector(value: str | Mapping[str, str] | LabelSelector | None) -> LabelSelector:
    if isinstance(value, LabelSelector):
        return value
    if isinstance(value, Mapping):
        return LabelSelector.from_match_labels(value)
    return LabelSelector.parse(value)


def _spec_part(obj: Obj) -> Obj:
    # What counts for metadata.generation: everything but metadata and status.
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


WatcherList = list[Watcher]


class ObjectStore:
    """In-memory objects with the API server's write semantics, history and watches.

    Used by the HTTP layer and, directly, by the controller (on the emulator loop).

    :param registry: the served resources.
    :param history_size: change events kept for watch resumption; older resourceVersions get 410.
    :param watch_queue_limit: lines a watcher may have queued before it is closed as too slow.
    """

    def __init__(
        self, registry: ResourceRegistry, *, history_size: int = 5_000, watch_queue_limit: int = 10_000
    ) -> None:
        self.registry = registry
        self.watch_queue_limit = watch_queue_limit
        self._objects: dict[Resource, dict[str, dict[str, Obj]]] = defaultdict(dict)
        self._rv = 0
        self._history: deque[Event] = deque(maxlen=max(1, history_size))
        self._compacted_rv = 0  # every change up to this rv has left the history
        self._watchers: dict[tuple[Resource, str | None], set[Watcher]] = defaultdict(set)
        self._subscribers: list[asyncio.Queue[tuple[str, Resource, Obj]]] = []
        self._by_uid: dict[str, tuple[Resource, str, str]] = {}
        self._dependents: dict[str, set[tuple[Resource, str, str]]] = defaultdict(set)
        self._defaults = Defaulter()
        #: Structural schemas of custom resources (pruning, defaults, OpenAPI validation on writes).
        self.schemas: dict[Resource, StructuralSchema] = {}
        #: The most objects of each resource that existed at once (a high-water mark, read by tests).
        self.peak: dict[Resource, int] = defaultdict(int)

    # --- reads ------------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The latest resourceVersion (0 before the first write)."""
        return self._rv

    def _served(self, res: Resource) -> ServedResource:
        try:
            return self.registry.get(res)
        except KeyError:
            raise errors.ApiError(
                404, f"the server could not find the requested resource ({res.plural})"
            ) from None

    @staticmethod
    def _ns(res: Resource, namespace: str | None) -> str:
        return (namespace or "") if res.namespaced else ""

    def _lookup(self, res: Resource, namespace: str | None, name: str) -> Obj | None:
        return self._objects[res].get(self._ns(res, namespace), {}).get(name)

    def get(self, res: Resource, namespace: str | None, name: str) -> Obj | None:
        """A copy of one object, or ``None``.

        :param res: the resource.
        :param namespace: the namespace (ignored for cluster-scoped resources).
        :param name: the object name.
        """
        self._served(res)
        obj = self._lookup(res, namespace, name)
        return _copy(obj) if obj is not None else None

    def _iter(self, res: Resource, namespace: str | None) -> Iterator[Obj]:
        buckets = self._objects[res]
        if res.namespaced and namespace:
            yield from buckets.get(namespace, {}).values()
        else:
            for bucket in list(buckets.values()):
                yield from bucket.values()

    def list(
        self,
        res: Resource,
        namespace: str | None = None,
        label_selector: str | Mapping[str, str] | LabelSelector | None = None,
        field_selector: str | FieldSelector | None = None,
    ) -> ObjList:
        """Copies of the matching objects, sorted by namespace and name.

        :param res: the resource.
        :param namespace: one namespace, or ``None`` for all.
        :param label_selector: a selector string (``a=b,c in (d)``), a ``matchLabels`` mapping, or parsed.
        :param field_selector: a selector string (``metadata.name=x``) or parsed.
        """
        self._served(res)
        return [_copy(obj) for obj in self.select(res, namespace, label_selector, field_selector)]

    def select(
        self,
        res: Resource,
        namespace: str | None,
        label_selector: str | Mapping[str, str] | LabelSelector | None = None,
        field_selector: str | FieldSelector | None = None,
    ) -> ObjList:
        labels = _as_selector(label_selector)
        fields = (
            field_selector
            if isinstance(field_selector, FieldSelector)
            else FieldSelector.parse(field_selector)
        )
        if fields.name is not None and res.namespaced and namespace:
            one = self._lookup(res, namespace, fields.name)
            candidates: Iterable[Obj] = [one] if one is not None else []
        else:
            candidates = self._iter(res, namespace)
        found = [obj for obj in candidates if labels.matches(obj) and fields.matches(obj)]
        found.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return found

    def count(self, res: Resource) -> int:
        """How many objects of a resource exist (cheap: no copies)."""
        return sum(len(bucket) for bucket in self._objects[res].values())

    # --- change notification ----------------------------------------------------------------------

    def subscribe(self) -> asyncio.Queue[tuple[str, Resource, Obj]]:
        """A queue of every change from now on, as ``(type, res, obj copy)``, for the controller."""
        queue: asyncio.Queue[tuple[str, Resource, Obj]] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[tuple[str, Resource, Obj]]) -> None:
        """Stop feeding a queue from :meth:`subscribe`."""
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    def _emit(self, type: str, res: Resource, obj: Obj, old: Obj | None = None) -> None:
        event = Event(self._rv, type, res, obj, old)
        if len(self._history) == self._history.maxlen:
            self._compacted_rv = self._history[0].rv
        self._history.append(event)
        namespace = obj.get("metadata", {}).get("namespace") if res.namespaced else None
        for key in ((res, namespace), (res, None)) if namespace else ((res, None),):
            for watcher in list(self._watchers.get(key, ())):
                watcher.offer(event)
        for queue in self._subscribers:
            queue.put_nowait((type, res, clone(obj)))
        # The queues hold the encoded lines they need; the history keeps only the object, so a
        # long history does not also hold every event's JSON twice.
        event.forget_encoding()

    def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        name: str | None = None,
        label_selector: str | Mapping[str, str] | LabelSelector | None = None,
        field_selector: str | FieldSelector | None = None,
        resource_version: str | None = None,
        send_initial_events: bool | None = None,
    ) -> Watcher:
        """Open a watch, with its first lines already queued.

        Without ``resource_version`` (or with ``"0"``) the current objects come first as ``ADDED``;
        with a version, the changes after it are replayed from the history, or 410 Gone is raised
        when the history no longer reaches back that far.
        """
        self._served(res)
        fields = (
            field_selector
            if isinstance(field_selector, FieldSelector)
            else FieldSelector.parse(field_selector)
        )
        watcher = Watcher(
            self._detach,
            res,
            self._ns(res, namespace) or None,
            name=name or fields.name,
            labels=_as_selector(label_selector),
            fields=fields,
            queue_limit=self.watch_queue_limit,
        )
        initial = (
            send_initial_events if send_initial_events is not None else resource_version in (None, "", "0")
        )
        if initial:
            current = [
                o for o in self.select(res, watcher.namespace, watcher.labels, fields) if watcher.matches(o)
            ]
            # The initial state does not count against the lag allowance of later changes.
            watcher.queue_limit += len(current)
            for obj in current:
                watcher.queue.put_nowait(Event(self._rv, ADDED, res, obj).line())
        else:
            since = self.parse_resource_version(resource_version)
            if since < self._compacted_rv:
                raise errors.gone(f"too old resource version: {since} ({self._compacted_rv + 1})")
            if since < self._rv:
                for event in self._history:
                    if event.rv > since and event.res == res:
                        ns = event.obj.get("metadata", {}).get("namespace")
                        if watcher.namespace is None or ns == watcher.namespace:
                            watcher.offer(event)
        self._watchers[(res, watcher.namespace)].add(watcher)
        return watcher

    @staticmethod
    def parse_resource_version(value: str | None) -> int:
        """A resourceVersion as an int; 400 BadRequest for anything else."""
        try:
            return int(value or 0)
        except ValueError:
            raise errors.bad_request(f"invalid resource version {value!r}") from None

    def _detach(self, watcher: Watcher) -> None:
        watchers = self._watchers.get((watcher.res, watcher.namespace))
        if watchers is not None:
            watchers.discard(watcher)

    def watchers(self) -> WatcherList:
        """The open watchers."""
        return [w for group in self._watchers.values() for w in group]

    def close_watchers(self, res: Resource | None = None, *, abort: bool = False) -> int:
        """Drop open watches (all, or of one resource); returns how many were closed.

        :param res: only watches of this resource.
        :param abort: reset the connections instead of ending the streams cleanly.
        """
        closing = [w for w in self.watchers() if res is None or w.res == res]
        for watcher in closing:
            watcher.close(abort=abort)
        return len(closing)

    def compact(self) -> None:
        """Forget the whole history, as etcd compaction does: every older resourceVersion gets 410."""
        self._history.clear()
        self._compacted_rv = self._rv

    # --- writes -----------------------------------------------------------------------------------

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _put(self, res: Resource, obj: Obj) -> None:
        meta = obj["metadata"]
        self._objects[res].setdefault(meta.get("namespace", ""), {})[meta["name"]] = obj

    def _index_owners(self, res: Resource, obj: Obj, old: Obj | None) -> None:
        meta = obj["metadata"]
        key = (res, meta.get("namespace", ""), meta["name"])
        old_uids = {r["uid"] for r in (old or {}).get("metadata", {}).get("ownerReferences") or []}
        new_uids = {r["uid"] for r in meta.get("ownerReferences") or []}
        for uid in old_uids - new_uids:
            dependents = self._dependents.get(uid)
            if dependents is not None:
                dependents.discard(key)
                if not dependents:
                    del self._dependents[uid]
        for uid in new_uids - old_uids:
            self._dependents[uid].add(key)

    def _check_namespace(self, res: Resource, namespace: str) -> None:
        if not res.namespaced or NAMESPACE not in self.registry:
            return
        ns_obj = self._lookup(NAMESPACE, None, namespace)
        if ns_obj is None:
            raise errors.ApiError(
                404, f'namespaces "{namespace}" not found', details={"name": namespace, "kind": "namespaces"}
            )
        if ns_obj["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                f"unable to create new content in namespace {namespace} because it is being terminated"
            )

    def create(
        self,
        res: Resource,
        obj: Mapping[str, Any],
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        keep_status: bool = True,
    ) -> Obj:
        """Store a new object and return a copy of it as stored.

        :param res: the resource.
        :param obj: the object; ``metadata.name`` or ``metadata.generateName`` is required.
        :param namespace: the namespace of the request URL; must agree with ``metadata.namespace``.
        :param dry_run: validate and default, but store nothing (``dryRun=All``).
        :param keep_status: keep a given ``status``; the HTTP layer passes ``False`` for resources
            with a status subresource, as the API server drops it there.
        """
        served = self._served(res)
        if not isinstance(obj, Mapping):
            raise errors.bad_request("the body of the request must be a JSON object")
        new: Obj = clone(dict(obj))
        meta = new.get("metadata")
        if meta is None:
            meta = new["metadata"] = {}
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        for field, expected in (("apiVersion", res.api_version), ("kind", res.kind)):
            if new.get(field) in (None, ""):
                new[field] = expected
            elif new[field] != expected:
                raise errors.bad_request(
                    f"the API version / kind in the body ({new[field]}) does not match {expected}"
                )
        if res.namespaced:
            body_ns = meta.get("namespace")
            if namespace and body_ns and body_ns != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            ns = namespace or body_ns
            if not ns:
                raise errors.bad_request("a namespace is required for a namespaced resource")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
            ns = ""
        name = meta.get("name")
        if not name and meta.get("generateName"):
            name = self._generate_name(res, ns, meta["generateName"])
        problems = check_name(res, name) + check_metadata(meta)
        if problems:
            raise errors.invalid(res, name if isinstance(name, str) else None, problems)
        assert isinstance(name, str)
        meta["name"] = name
        self._check_namespace(res, ns)
        if self._lookup(res, ns, name) is not None:
            raise errors.already_exists(res, name)
        if not keep_status and served.has_status:
            new.pop("status", None)
        self._admit(res, new, name)
        self._defaults.apply(res, new)
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        meta["generation"] = 1
        if dry_run:
            return _copy(new)
        meta["resourceVersion"] = str(self._next_rv())
        self._put(res, new)
        self.peak[res] = max(self.peak[res], self.count(res))
        self._by_uid[meta["uid"]] = (res, ns, name)
        self._index_owners(res, new, None)
        self._emit(ADDED, res, new)
        return _copy(new)

    def _admit(self, res: Resource, new: Obj, name: str) -> None:
        # A custom resource's structural schema, as the API server applies it to a write.
        schema = self.schemas.get(res)
        if schema is None:
            return
        unknown, causes = schema.admit(new)
        mode = FIELD_VALIDATION.get()
        if unknown and mode == "Strict":
            raise errors.bad_request(
                "strict decoding error: " + ", ".join(f'unknown field "{path}"' for path in unknown)
            )
        warnings = WARNINGS.get()
        if unknown and mode == "Warn" and warnings is not None:
            warnings.extend(f'unknown field "{path}"' for path in unknown)
        if causes:
            raise errors.invalid(res, name, causes)

    def _generate_name(self, res: Resource, namespace: str, prefix: str) -> str:
        alphabet = string.ascii_lowercase + string.digits
        while True:
            name = prefix + "".join(secrets.choice(alphabet) for _ in range(5))
            if self._lookup(res, namespace, name) is None:
                return name

    def patch(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        patch: Any,
        subresource: str | None = None,
        *,
        patch_type: str = MERGE_PATCH,
        dry_run: bool = False,
    ) -> Obj:
        """Apply a patch and return a copy of the result.

        :param res: the resource.
        :param namespace: the namespace.
        :param name: the object name.
        :param patch: a merge patch (a dict), or a JSON patch (a list) with ``patch_type`` JSON_PATCH.
            ``metadata.resourceVersion`` in a merge patch is a precondition (409 when stale).
        :param subresource: ``"status"`` to write status (and only status); ``None`` for the main
            resource, where status changes are ignored on resources with a status subresource.
        :param patch_type: the Content-Type of the patch.
        :param dry_run: compute and return, store nothing.
        """
        old = self._lookup(res, namespace, name)
        if old is None:
            self._served(res)
            raise errors.not_found(res, name)
        # As the API server: a body that is not a patch of the declared type is 400, a JSON patch
        # whose operations do not apply is 422.
        if patch_type in (MERGE_PATCH, STRATEGIC_MERGE_PATCH):
            if not isinstance(patch, dict):
                raise errors.bad_request(f"the body of a {patch_type} request must be a JSON object")
            candidate = merge_patch(old, patch)
        elif patch_type == JSON_PATCH:
            if not isinstance(patch, list):
                raise errors.bad_request(f"the body of a {patch_type} request must be a list of operations")
            try:
                candidate = json_patch(old, patch)
            except PatchError as exc:
                raise errors.ApiError(422, f"the patch could not be applied: {exc}") from None
        else:
            raise errors.unsupported_patch()
        return self._update(res, old, candidate, subresource, dry_run=dry_run, require_rv=False)

    def replace(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        obj: Mapping[str, Any],
        subresource: str | None = None,
        *,
        dry_run: bool = False,
    ) -> Obj:
        """Replace an object (HTTP PUT); ``metadata.resourceVersion`` is required and must be current."""
        old = self._lookup(res, namespace, name)
        if old is None:
            self._served(res)
            raise errors.not_found(res, name)
        if not isinstance(obj, Mapping):
            raise errors.bad_request("the body of the request must be a JSON object")
        return self._update(res, old, clone(dict(obj)), subresource, dry_run=dry_run, require_rv=True)

    def _update(
        self,
        res: Resource,
        old: Obj,
        candidate: Any,
        subresource: str | None,
        *,
        dry_run: bool,
        require_rv: bool,
    ) -> Obj:
        served = self._served(res)
        old_meta = old["metadata"]
        name = old_meta["name"]
        if not isinstance(candidate, dict) or not isinstance(candidate.get("metadata", {}), dict):
            raise errors.invalid(res, name, [("metadata", "Invalid value: must be an object")])
        cand_meta = candidate.get("metadata") or {}
        given_rv = cand_meta.get("resourceVersion")
        if given_rv in (None, ""):
            if require_rv:
                raise errors.invalid(
                    res,
                    name,
                    [("metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")],
                )
        elif str(given_rv) != old_meta["resourceVersion"]:
            raise errors.conflict(
                res,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            )
        for field in ("name", "namespace"):
            if cand_meta.get(field) not in (None, "", old_meta.get(field)):
                raise errors.bad_request(f"the {field} of the object does not match the {field} on the URL")
        if subresource == "status":
            if not served.has_status:
                raise errors.not_found(res, f"{name}/status")
            new = dict(old)
            if "status" in candidate:
                new["status"] = candidate["status"]
            else:
                new.pop("status", None)
        elif subresource is None:
            new = dict(candidate)
            new["apiVersion"] = old["apiVersion"]
            new["kind"] = old["kind"]
            if served.has_status:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            meta = dict(cand_meta)
            for field in _SYSTEM_METADATA:
                if field in old_meta:
                    meta[field] = old_meta[field]
                else:
                    meta.pop(field, None)
            problems = check_metadata(meta)
            if problems:
                raise errors.invalid(res, name, problems)
            if old_meta.get("deletionTimestamp"):
                added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
                if added:
                    raise errors.invalid(
                        res,
                        name,
                        [
                            (
                                "metadata.finalizers",
                                "Forbidden: no new finalizers can be added if the object is being deleted",
                            )
                        ],
                    )
            self._admit(res, new, name)
            if _spec_part(new) != _spec_part(old):
                meta["generation"] = int(old_meta.get("generation", 1)) + 1
            new["metadata"] = meta
        else:
            raise errors.not_found(res, f"{name}/{subresource}")
        if new == old:
            return _copy(old)  # a no-op write changes nothing, not even the resourceVersion
        if dry_run:
            return _copy(new)
        return _copy(self._commit_update(res, old, new))

    def _commit_update(self, res: Resource, old: Obj, new: Obj) -> Obj:
        meta = new["metadata"] = dict(new["metadata"])
        meta["resourceVersion"] = str(self._next_rv())
        self._put(res, new)
        self._index_owners(res, new, old)
        self._emit(MODIFIED, res, new, old)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._remove(res, new)
        return new

    def delete(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        propagation: str = "Background",
        *,
        preconditions: Mapping[str, Any] | None = None,
        dry_run: bool = False,
    ) -> Obj | None:
        """Delete an object; ``None`` when it does not exist.

        With finalizers (or Foreground propagation while dependents exist) the object only gets a
        ``deletionTimestamp`` and is removed once its finalizers are patched away; the returned
        dict is then the object still stored. Otherwise the object is removed and its last state
        returned. Dependents (objects whose ``ownerReferences`` name it) are deleted (Background,
        Foreground) or released (Orphan).

        :param res: the resource.
        :param namespace: the namespace.
        :param name: the object name.
        :param propagation: ``Background``, ``Foreground`` or ``Orphan``.
        :param preconditions: ``{"uid": ..., "resourceVersion": ...}`` that must hold (409 otherwise).
        :param dry_run: compute and return, change nothing.
        """
        self._served(res)
        if propagation not in PROPAGATION_POLICIES:
            raise errors.bad_request(
                f"propagationPolicy {propagation!r} is not one of {list(PROPAGATION_POLICIES)}"
            )
        obj = self._lookup(res, namespace, name)
        if obj is None:
            return None
        if res == NAMESPACE and name in _UNDELETABLE_NAMESPACES:
            raise errors.forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted')
        meta = obj["metadata"]
        for field in ("uid", "resourceVersion"):
            expected = (preconditions or {}).get(field)
            if expected and str(expected) != meta.get(field):
                raise errors.conflict(
                    res,
                    name,
                    f"Precondition failed: {field}: {expected}, {field} in object meta: {meta.get(field)}",
                )
        if meta.get("deletionTimestamp"):
            return _copy(obj)  # already being deleted: deleting again changes nothing
        dependents = self._dependents.get(meta["uid"]) or set()
        finalizers = list(meta.get("finalizers") or [])
        if propagation == "Foreground" and dependents and FOREGROUND_FINALIZER not in finalizers:
            finalizers.append(FOREGROUND_FINALIZER)
        if res == NAMESPACE and self._namespace_has_content(name):
            finalizers.append("kubernetes")  # held until the namespace is empty (spec.finalizers in reality)
        if dry_run:
            if not finalizers:
                return _copy(obj)
            pending = _copy(obj)
            pending["metadata"].update(deletionTimestamp=now_rfc3339(), finalizers=finalizers)
            return pending
        if propagation == "Orphan":
            self._orphan(meta["uid"])
        if not finalizers:
            return _copy(self._remove(res, obj))
        new = dict(obj)
        new_meta = new["metadata"] = dict(meta)
        new_meta.update(
            deletionTimestamp=now_rfc3339(),
            deletionGracePeriodSeconds=0,
            finalizers=finalizers,
            generation=int(meta.get("generation", 1)) + 1,
        )
        if res == NAMESPACE:
            new["status"] = {**(obj.get("status") or {}), "phase": "Terminating"}
        stored = self._commit_update(res, obj, new)
        if res == NAMESPACE:
            self._empty_namespace(name)
        elif propagation == "Foreground":
            for dep_res, dep_ns, dep_name in sorted(dependents, key=str):
                self.delete(dep_res, dep_ns, dep_name, "Foreground")
        current = self._lookup(res, namespace, name)
        return _copy(current if current is not None else stored)

    def _namespace_has_content(self, namespace: str) -> bool:
        return any(buckets.get(namespace) for res, buckets in self._objects.items() if res.namespaced)

    def _empty_namespace(self, namespace: str) -> None:
        for res, buckets in list(self._objects.items()):
            if res.namespaced:
                for obj in list(buckets.get(namespace, {}).values()):
                    self.delete(res, namespace, obj["metadata"]["name"])

    def _orphan(self, owner_uid: str) -> None:
        for dep_res, dep_ns, dep_name in sorted(self._dependents.pop(owner_uid, set()), key=str):
            dep = self._lookup(dep_res, dep_ns, dep_name)
            if dep is not None:
                self._drop_owner_ref(dep_res, dep, owner_uid)

    def _drop_owner_ref(self, res: Resource, obj: Obj, owner_uid: str) -> None:
        new = dict(obj)
        meta = new["metadata"] = dict(obj["metadata"])
        refs = [r for r in meta.get("ownerReferences") or [] if r.get("uid") != owner_uid]
        if refs:
            meta["ownerReferences"] = refs
        else:
            meta.pop("ownerReferences", None)
        self._commit_update(res, obj, new)

    def _remove(self, res: Resource, obj: Obj) -> Obj:
        meta = obj["metadata"]
        ns, name, uid = meta.get("namespace", ""), meta["name"], meta["uid"]
        bucket = self._objects[res].get(ns, {})
        bucket.pop(name, None)
        if not bucket:
            self._objects[res].pop(ns, None)
        self._by_uid.pop(uid, None)
        self._index_owners(res, {"metadata": {"name": name, "namespace": ns}}, obj)
        final = dict(obj)
        final["metadata"] = dict(meta, resourceVersion=str(self._next_rv()))
        self._emit(DELETED, res, final)
        self._collect_garbage(uid)
        self._release_owners(obj)
        if res.namespaced and ns:
            self._finish_namespace(ns)
        return final

    def _collect_garbage(self, owner_uid: str) -> None:
        # The garbage collector: a dependent whose every owner is gone is deleted; one that still
        # has a live owner only loses the reference.
        for dep_res, dep_ns, dep_name in sorted(self._dependents.pop(owner_uid, set()), key=str):
            dep = self._lookup(dep_res, dep_ns, dep_name)
            if dep is None:
                continue
            owners = [r.get("uid") for r in dep["metadata"].get("ownerReferences") or []]
            if any(uid in self._by_uid for uid in owners if uid != owner_uid):
                self._drop_owner_ref(dep_res, dep, owner_uid)
            else:
                self.delete(dep_res, dep_ns, dep_name, "Background")

    def _release_owners(self, obj: Obj) -> None:
        # A foreground-deleted owner waits for its dependents; the last one to go releases it.
        for ref in obj["metadata"].get("ownerReferences") or []:
            location = self._by_uid.get(ref.get("uid", ""))
            if location is None or self._dependents.get(ref["uid"]):
                continue
            self._drop_finalizer(location, FOREGROUND_FINALIZER)

    def _finish_namespace(self, namespace: str) -> None:
        ns_obj = self._lookup(NAMESPACE, None, namespace)
        terminating = ns_obj is not None and ns_obj["metadata"].get("deletionTimestamp")
        if terminating and not self._namespace_has_content(namespace):
            self._drop_finalizer((NAMESPACE, "", namespace), "kubernetes")

    def _drop_finalizer(self, location: tuple[Resource, str, str], finalizer: str) -> None:
        res, ns, name = location
        owner = self._lookup(res, ns, name)
        if owner is None or not owner["metadata"].get("deletionTimestamp"):
            return
        finalizers = owner["metadata"].get("finalizers") or []
        if finalizer in finalizers:
            new = dict(owner)
            new["metadata"] = dict(owner["metadata"], finalizers=[f for f in finalizers if f != finalizer])
            self._commit_update(res, owner, new)

    def close(self) -> None:
        """Close every watcher (their streams end) and forget subscribers."""
        self.close_watchers()
        self._subscribers.clear()


__all__ = [
    "ADDED",
    "BOOKMARK",
    "DELETED",
    "ERROR",
    "MODIFIED",
    "Event",
    "ObjectStore",
    "Watcher",
    "clone",
    "now_rfc3339",
]
