"""Watch events and watchers: what the store fans a change out to.

An :class:`Event` is encoded to JSON once, however many watchers receive it. A :class:`Watcher` is
one open watch: a queue of encoded watch-stream lines with its filters (namespace, name, label and
field selectors) and the selector transitions the API server applies (an object that stops
matching is ``DELETED`` for that watch, one that starts matching is ``ADDED``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from airflow_ray_k8s.resources import Resource
from airflow_ray_k8s.testing.emulator.selectors import FieldSelector, LabelSelector

Obj = dict[str, Any]

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"
ERROR = "ERROR"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class Event:
    """One change in the store, shared by every watcher that receives it.

    :param rv: the ``resourceVersion`` of the change.
    :param type: ``ADDED``, ``MODIFIED`` or ``DELETED``.
    :param res: the resource of the object.
    :param obj: the object after the change (its last state for ``DELETED``).
    :param old: the object before a ``MODIFIED`` change (watchers with selectors need it).
    """

    __slots__ = ("_json", "_lines", "obj", "old", "res", "rv", "type")

    def __init__(self, rv: int, type: str, res: Resource, obj: Obj, old: Obj | None = None) -> None:
        self.rv = rv
        self.type = type
        self.res = res
        self.obj = obj
        self.old = old
        self._json: str | None = None
        self._lines: dict[str, bytes] = {}

    @property
    def obj_json(self) -> str:
        """The object's JSON, encoded once."""
        if self._json is None:
            self._json = _dumps(self.obj)
        return self._json

    def forget_encoding(self) -> None:
        """Drop the cached JSON (it is re-encoded if a resumed watch replays this event)."""
        self._json = None
        self._lines = {}

    def line(self, type: str | None = None) -> bytes:
        """The watch-stream line for this event, optionally with another type (selector transitions)."""
        type = type or self.type
        line = self._lines.get(type)
        if line is None:
            line = f'{{"type":"{type}","object":{self.obj_json}}}\n'.encode()
            self._lines[type] = line
        return line


class Watcher:
    """An open watch: a queue of encoded watch-stream lines, filled by the store.

    A ``None`` in the queue ends the stream (the watch was dropped, closed, or fell too far behind).

    :param on_close: called once when the watcher closes (the store forgets it).
    :param res: the watched resource.
    :param namespace: the watched namespace; ``None`` watches all namespaces.
    :param name: only this object, if given.
    :param labels: label selector.
    :param fields: field selector.
    :param queue_limit: lines queued before the watcher is closed as too slow (as the API server does).
    """

    def __init__(
        self,
        on_close: Callable[[Watcher], None],
        res: Resource,
        namespace: str | None,
        *,
        name: str | None = None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
        queue_limit: int = 10_000,
    ) -> None:
        self._on_close = on_close
        self.res = res
        self.namespace = namespace
        self.name = name
        self.labels = labels or LabelSelector()
        self.fields = fields or FieldSelector()
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.queue_limit = queue_limit
        self.closed = False
        self.aborted = False
        self._filtered = bool(self.name or self.labels or self.fields)

    def matches(self, obj: Obj) -> bool:
        """Whether an object (already known to be of this resource and namespace) is watched."""
        if not self._filtered:
            return True
        if self.name is not None and obj.get("metadata", {}).get("name") != self.name:
            return False
        return self.labels.matches(obj) and self.fields.matches(obj)

    def offer(self, event: Event) -> None:
        """Queue the event if watched; an object leaving or entering a selector is DELETED or ADDED."""
        if self.closed:
            return
        type = event.type
        if self._filtered:
            now = self.matches(event.obj)
            if type == MODIFIED and event.old is not None:
                before = self.matches(event.old)
                if now and not before:
                    type = ADDED
                elif before and not now:
                    type = DELETED
                elif not now:
                    type = ""
            elif not now:
                type = ""
        if type:
            self.put(event.line(type))

    def put(self, line: bytes) -> None:
        """Queue a line; a watcher too far behind is closed, and its client re-watches from its rv."""
        if self.closed:
            return
        if self.queue.qsize() >= self.queue_limit:
            self.close()
            return
        self.queue.put_nowait(line)

    def close(self, *, abort: bool = False) -> None:
        """End the stream after the lines already queued; ``abort`` resets the connection instead."""
        if not self.closed:
            self.closed = True
            self.aborted = abort
            self.queue.put_nowait(None)
            self._on_close(self)
