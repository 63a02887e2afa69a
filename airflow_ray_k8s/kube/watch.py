"""The watch loop, written once: list, watch from the list's resourceVersion, resume, re-list.

:func:`watch_objects` is a sans-I/O operation (see :mod:`.effects`) that emits
:class:`WatchEvent` items for one collection (a namespace of one resource, optionally filtered):

- it lists first, emits ``ADDED`` for every object and then ``SYNCED`` (the consumer's view is
  complete at that point: an object not seen yet does not exist);
- it watches from the list's ``resourceVersion`` with bookmarks, and resumes from the last version
  seen after the server ends the stream (``timeoutSeconds``) or the connection drops;
- on ``410 Gone`` (the version is too old, as an HTTP answer or an ``ERROR`` event) it re-lists and
  emits the difference (``ADDED`` / ``MODIFIED`` / ``DELETED``), then ``SYNCED`` again;
- every ``relist_interval`` it re-lists anyway: a safety net for a watch that silently lost events;
- repeated failures back off through the :class:`~airflow_ray_k8s.kube.retry.RetryPolicy`'s delays
  (without giving up: a waiter's own timeout bounds the wait);
- with a ``deadline`` (``time.monotonic()`` value) it returns when the deadline passes; every
  request, stream read and back-off inside is bounded by it (:func:`~.effects.bounded`), so a
  ``Retry-After`` or a quiet stream cannot hold it past the deadline.

Errors that retrying cannot fix (403, CRD not installed, 422) end the operation.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_ray_k8s.exceptions import KubeApiError, KubeGoneError, WaitTimeoutError
from airflow_ray_k8s.kube import ops
from airflow_ray_k8s.kube import request as rq
from airflow_ray_k8s.kube.effects import CloseStream, Emit, Op, OpenStream, ReadLine, Sleep, bounded
from airflow_ray_k8s.kube.errors import error_for_watch_status
from airflow_ray_k8s.kube.retry import DEFAULT_RETRY_POLICY, RetryPolicy
from airflow_ray_k8s.resources import Resource

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
#: Emitted after each (re-)list: the consumer has seen every object that exists.
SYNCED = "SYNCED"


@dataclass(frozen=True)
class WatchEvent:
    """One change of one object (or ``SYNCED``, whose object is empty)."""

    type: str
    object: Mapping[str, Any]

    @property
    def name(self) -> str:
        """The object's name (empty for ``SYNCED``)."""
        return str((self.object.get("metadata") or {}).get("name") or "")


@dataclass(frozen=True)
class WatchOptions:
    """Tuning of one watch loop.

    :param server_timeout: ``timeoutSeconds`` of each watch request; the server then ends the stream
        and the loop resumes from the last version (a stream never outlives a silent network fault).
    :param relist_interval: the safety-net re-list period, seconds.
    :param read_margin: extra seconds of client read timeout beyond ``server_timeout``.
    :param min_stream_seconds: a stream that ends sooner without any event counts as a failure and
        backs off, so a server that drops every watch at once is not hammered.
    """

    server_timeout: int = rq.DEFAULT_WATCH_SECONDS
    relist_interval: float = 600.0
    read_margin: float = 30.0
    min_stream_seconds: float = 1.0


def _version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def watch_objects(
    resource: Resource,
    namespace: str | None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    deadline: float | None = None,
    options: WatchOptions = WatchOptions(),
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
) -> Op[None]:
    """Emit :class:`WatchEvent` items for a collection until cancelled or ``deadline``."""
    loop = _watch_loop(resource, namespace, label_selector, field_selector, deadline, options, policy)
    return (yield from (loop if deadline is None else bounded(loop, deadline)))


def _watch_loop(
    resource: Resource,
    namespace: str | None,
    label_selector: str | None,
    field_selector: str | None,
    deadline: float | None,
    options: WatchOptions,
    policy: RetryPolicy,
) -> Op[None]:
    known: dict[str, Mapping[str, Any]] = {}
    version = ""
    need_list = True
    listed_at = 0.0
    failures = 0

    def backoff(error: BaseException) -> Sleep:
        nonlocal failures
        failures += 1
        return Sleep(policy.delay(error, failures))

    while True:
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return None
        if need_list or now - listed_at >= options.relist_interval:
            try:
                listing = yield from ops.list_all(
                    resource, namespace, label_selector=label_selector, field_selector=field_selector
                )
            except KubeApiError as error:
                if not policy.is_retryable(error):
                    raise
                yield backoff(error)
                continue
            listed_at = time.monotonic()
            fresh: dict[str, Mapping[str, Any]] = {_name(o): o for o in listing.items}
            for name, obj in fresh.items():
                old = known.get(name)
                if old is None:
                    yield Emit(WatchEvent(ADDED, obj))
                elif old != obj:
                    yield Emit(WatchEvent(MODIFIED, obj))
            for name in known.keys() - fresh.keys():
                yield Emit(WatchEvent(DELETED, known[name]))
            known = fresh
            version = listing.resource_version
            need_list = False
            yield Emit(WatchEvent(SYNCED, {}))
            continue

        budget = options.relist_interval - (time.monotonic() - listed_at)
        if deadline is not None:
            budget = min(budget, deadline - time.monotonic())
        request = rq.watch(
            resource,
            namespace,
            # An empty version (a server that does not report one) watches from "now", after
            # replaying existing objects as ADDED; the de-duplication below absorbs the replay.
            resource_version=version or None,
            timeout_seconds=max(1, min(options.server_timeout, math.ceil(budget))),
            label_selector=label_selector,
            field_selector=field_selector,
            read_margin=options.read_margin,
        )
        opened_at = time.monotonic()
        got_event = False
        try:
            stream = yield OpenStream(request)
        except KubeGoneError:
            need_list = True
            continue
        except KubeApiError as error:
            if not policy.is_retryable(error):
                raise
            yield backoff(error)
            continue
        try:
            while True:
                line = yield ReadLine(stream)
                if line is None:
                    break
                event = json.loads(line)
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "BOOKMARK":
                    version = _version(obj) or version
                    got_event = True
                    continue
                if kind == "ERROR":
                    raise error_for_watch_status(request, obj)
                if kind not in (ADDED, MODIFIED, DELETED) or not isinstance(obj, Mapping):
                    continue  # a type this loop does not know: skip, do not crash
                got_event = True
                failures = 0
                version = _version(obj) or version
                name = _name(obj)
                if kind == DELETED:
                    known.pop(name, None)
                else:
                    if known.get(name) == obj:
                        continue  # a replay of what the consumer has already seen
                    known[name] = obj
                yield Emit(WatchEvent(kind, obj))
                if deadline is not None and time.monotonic() >= deadline:
                    break  # a busy stream must not keep a waiter past its deadline
        except KubeGoneError:
            need_list = True
            yield CloseStream(stream)
            continue
        except KubeApiError as error:
            yield CloseStream(stream)
            if not policy.is_retryable(error):
                raise
            yield backoff(error)
            continue
        except ValueError as error:  # a line that is not JSON: treat as a broken stream
            yield CloseStream(stream)
            yield backoff(error)
            continue
        yield CloseStream(stream)
        if not got_event and time.monotonic() - opened_at < options.min_stream_seconds:
            yield backoff(RuntimeError("watch stream ended at once"))


#: What a waiter's predicate receives: the object, or ``None`` when it does not exist.
Predicate = Callable[[Mapping[str, Any] | None], bool]


def wait_for_object(
    resource: Resource,
    namespace: str,
    name: str,
    predicate: Predicate,
    *,
    timeout: float,
    options: WatchOptions = WatchOptions(),
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
) -> Op[Mapping[str, Any] | None]:
    """Watch one object until ``predicate`` holds for its state; return that state.

    The predicate sees the object after the first list (``None`` if it does not exist) and after
    every change (``None`` once deleted).

    :raises WaitTimeoutError: the predicate did not hold within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    inner = watch_objects(
        resource,
        namespace,
        field_selector=f"metadata.name={name}",
        deadline=deadline,
        options=options,
        policy=policy,
    )
    state: Mapping[str, Any] | None = None
    try:
        effect = next(inner)
        while True:
            if isinstance(effect, Emit):
                event: WatchEvent = effect.item
                # The server may ignore the field selector; filter again.
                if event.type == SYNCED or event.name == name:
                    if event.type != SYNCED:
                        state = None if event.type == DELETED else event.object
                    if predicate(state):
                        return state
                effect = next(inner)
                continue
            try:
                result = yield effect
            except Exception as exc:  # forwarded into the watch loop, which decides
                effect = inner.throw(exc)
            else:
                effect = inner.send(result)
    except StopIteration:
        raise WaitTimeoutError(
            f"{resource.kind} {namespace}/{name}: condition not met within {timeout:g}s"
        ) from None
    finally:
        inner.close()
