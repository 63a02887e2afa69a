"""The shared watch hub: any number of async waiters, one watch stream per (connection, namespace, resource).

This is what lets one triggerer hold thousands of RayJob waits cheaply. Use it from the event loop
(a trigger's ``run``)::

    hub = WatchHub.for_settings(settings)          # or: await async_hook.watch_hub()
    obj = await hub.wait_for(RAYJOB, "ray", "my-job", lambda o: o is None or is_done(o), timeout=3600)

    async with hub.subscribe(RAYJOB, "ray", "my-job") as updates:
        async for state in updates:                # ObjectState: name, object (None = absent), event
            ...

Semantics:

- The first subscriber of a (namespace, resource) starts a watch loop
  (:func:`~airflow_ray_k8s.kube.watch.watch_objects`: list, watch with bookmarks, resume, re-list on
  410 Gone, a slow periodic re-list); later subscribers join it. When the last one leaves, the
  stream is closed, and when the hub has no stream left its API client is closed.
- A subscriber first receives the object's current state once the loop has listed (``ABSENT`` if it
  does not exist), then every change. Updates are coalesced: a slow consumer sees the newest
  state, never a backlog.
- An error the loop cannot retry (403, CRD not installed) is raised from every subscriber's next
  read; the broken stream leaves the registry, so the next subscriber starts a fresh one.
- Hubs are per event loop and per connection settings (:attr:`ConnectionSettings.identity`), held in
  a process-wide registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_ray_k8s.exceptions import WaitTimeoutError
from airflow_ray_k8s.kube.config import ConnectionSettings
from airflow_ray_k8s.kube.retry import DEFAULT_RETRY_POLICY, RetryPolicy
from airflow_ray_k8s.kube.watch import DELETED, SYNCED, Predicate, WatchEvent, WatchOptions, watch_objects
from airflow_ray_k8s.resources import Resource

log = logging.getLogger(__name__)

#: The state of an object that did not exist when the watch listed.
ABSENT = "ABSENT"


@dataclass(frozen=True)
class ObjectState:
    """The latest known state of one watched object.

    :param object: the object, or ``None`` when it does not exist (``ABSENT`` / ``DELETED``).
    :param event: ``ADDED``, ``MODIFIED``, ``DELETED`` or ``ABSENT``.
    """

    name: str
    object: Mapping[str, Any] | None
    event: str

    @property
    def exists(self) -> bool:
        """Whether the object exists."""
        return self.object is not None


class Subscription:
    """One waiter's view of one object; iterate it for coalesced updates."""

    def __init__(self, watch: _SharedWatch, name: str) -> None:
        self._watch = watch
        self.name = name
        self._latest: ObjectState | None = None
        self._fresh = asyncio.Event()

    def _push(self, state: ObjectState) -> None:
        self._latest = state
        self._fresh.set()

    def _wake(self) -> None:
        self._fresh.set()

    @property
    def latest(self) -> ObjectState | None:
        """The newest state received (``None`` before the first list)."""
        return self._latest

    async def next(self) -> ObjectState:
        """Wait for a state newer than the last one returned.

        :raises KubeApiError: the shared watch failed with an error retrying cannot fix.
        """
        while True:
            if self._watch.error is not None:
                raise self._watch.error
            if self._fresh.is_set() and self._latest is not None:
                self._fresh.clear()
                return self._latest
            self._fresh.clear()
            await self._fresh.wait()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> ObjectState:
        return await self.next()


class _SharedWatch:
    """One watch loop and its subscribers."""

    def __init__(self, hub: WatchHub, resource: Resource, namespace: str) -> None:
        self.hub = hub
        self.resource = resource
        self.namespace = namespace
        self.subscribers: dict[str, set[Subscription]] = {}
        self.cache: dict[str, Mapping[str, Any]] = {}
        self.synced = False
        self.refs = 0
        self.error: BaseException | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"watch-hub {self.resource.plural} {self.namespace}"
        )

    def state(self, name: str) -> ObjectState:
        obj = self.cache.get(name)
        return ObjectState(name, obj, "ADDED") if obj is not None else ObjectState(name, None, ABSENT)

    async def _run(self) -> None:
        client = await self.hub.client()
        op = watch_objects(
            self.resource, self.namespace, options=self.hub.watch_options, policy=self.hub.retry_policy
        )
        try:
            await client.arun(op, on_emit=self._on_event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("shared watch of %s in %s failed: %s", self.resource.plural, self.namespace, exc)
            self.error = exc
            self.hub._forget(self)
            for subs in self.subscribers.values():
                for sub in subs:
                    sub._wake()

    def _on_event(self, event: WatchEvent) -> None:
        if event.type == SYNCED:
            if not self.synced:
                self.synced = True
                for name, subs in self.subscribers.items():
                    state = self.state(name)
                    for sub in subs:
                        if sub.latest is None:
                            sub._push(state)
            return
        name = event.name
        if event.type == DELETED:
            self.cache.pop(name, None)
            state = ObjectState(name, None, DELETED)
        else:
            self.cache[name] = event.object
            state = ObjectState(name, event.object, event.type)
        if self.synced:
            for sub in self.subscribers.get(name, ()):
                sub._push(state)


_REGISTRY: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, WatchHub]] = (
    weakref.WeakKeyDictionary()
)


class WatchHub:
    """Shared watches of one connection in one event loop (see the module docstring).

    Get it with :meth:`for_settings` (or ``AsyncKubeRayHook.watch_hub()``), not by constructing it.
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        watch_options: WatchOptions | None = None,
    ) -> None:
        self.settings = settings
        self.retry_policy = retry_policy
        self.watch_options = watch_options or WatchOptions()
        self._watches: dict[tuple[str, str], _SharedWatch] = {}
        self._client: Any = None

    @classmethod
    def for_settings(
        cls,
        settings: ConnectionSettings,
        *,
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        watch_options: WatchOptions | None = None,
    ) -> WatchHub:
        """The hub of these settings in the running event loop (created on first use).

        The first caller's ``retry_policy`` and ``watch_options`` apply to the hub's streams.
        """
        loop = asyncio.get_running_loop()
        hubs = _REGISTRY.setdefault(loop, {})
        hub = hubs.get(settings.identity)
        if hub is None:
            hub = hubs[settings.identity] = cls(
                settings, retry_policy=retry_policy, watch_options=watch_options
            )
        return hub

    async def client(self) -> Any:
        """The hub's own async client (closed when the hub has no stream left)."""
        if self._client is None:
            from airflow_ray_k8s.kube.aio import AsyncKubeClient

            self._client = AsyncKubeClient(
                self.settings, retry_policy=self.retry_policy, watch_options=self.watch_options
            )
        return self._client

    # --- registry ---------------------------------------------------------------------------------------

    def _acquire(self, resource: Resource, namespace: str) -> _SharedWatch:
        key = (resource.plural + "." + resource.group, namespace)
        watch = self._watches.get(key)
        if watch is None:
            watch = self._watches[key] = _SharedWatch(self, resource, namespace)
            watch.start()
        watch.refs += 1
        return watch

    def _forget(self, watch: _SharedWatch) -> None:
        key = (watch.resource.plural + "." + watch.resource.group, watch.namespace)
        if self._watches.get(key) is watch:
            del self._watches[key]

    async def _release(self, watch: _SharedWatch) -> None:
        watch.refs -= 1
        if watch.refs > 0:
            return
        self._forget(watch)
        if watch.task is not None and not watch.task.done():
            watch.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch.task
        if not self._watches and self._client is not None:
            client, self._client = self._client, None
            await client.close()

    @property
    def active_streams(self) -> int:
        """How many shared watch streams are running."""
        return len(self._watches)

    def subscriber_count(self, resource: Resource, namespace: str) -> int:
        """How many waiters share the watch of (resource, namespace)."""
        watch = self._watches.get((resource.plural + "." + resource.group, namespace))
        return watch.refs if watch else 0

    # --- the waiter's API --------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(self, resource: Resource, namespace: str, name: str) -> AsyncIterator[Subscription]:
        """Follow one object through the shared watch of its namespace.

        :raises NamespaceNotAllowedError: before anything is started or sent.
        """
        namespace = self.settings.resolve_namespace(namespace)
        watch = self._acquire(resource, namespace)
        sub = Subscription(watch, name)
        watch.subscribers.setdefault(name, set()).add(sub)
        if watch.synced:
            sub._push(watch.state(name))
        try:
            yield sub
        finally:
            subs = watch.subscribers.get(name)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del watch.subscribers[name]
            await self._release(watch)

    async def wait_for(
        self, resource: Resource, namespace: str, name: str, predicate: Predicate, *, timeout: float
    ) -> Mapping[str, Any] | None:
        """Wait until ``predicate(obj_or_None)`` holds for the object; return that state.

        :raises WaitTimeoutError: not within ``timeout`` seconds.
        :raises KubeApiError: the shared watch failed with an error retrying cannot fix.
        """

        async def until(sub: Subscription) -> Mapping[str, Any] | None:
            async for state in sub:
                if predicate(state.object):
                    return state.object
            raise AssertionError("unreachable: a subscription never ends")  # pragma: no cover

        async with self.subscribe(resource, namespace, name) as sub:
            try:
                return await asyncio.wait_for(until(sub), timeout)
            except asyncio.TimeoutError:
                raise WaitTimeoutError(
                    f"{resource.kind} {namespace}/{name}: condition not met within {timeout:g}s"
                ) from None
