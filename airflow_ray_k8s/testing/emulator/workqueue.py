"""A controller-runtime style work queue on asyncio: deduplicated keys, delayed re-adds, one
reconcile per key at a time.

Holding thousands of objects costs one dict entry each: a key waits in the queue at most once, and
a delayed re-add is a single ``loop.call_later`` handle (the earliest one wins), never a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

log = logging.getLogger(__name__)


class WorkQueue(Generic[K]):
    """Deduplicating queue of keys processed by ``workers`` coroutines.

    :param handler: ``await handler(key)``; it returns the seconds after which to reconcile the
        key again, or None. Exceptions are logged and the key is retried after ``error_backoff``.
    :param workers: how many keys are reconciled concurrently (never the same key twice at once).
    :param error_backoff: seconds before a key whose handler raised is retried.
    """

    def __init__(
        self, handler: Callable[[K], Awaitable[float | None]], workers: int = 4, error_backoff: float = 1.0
    ) -> None:
        self._handler = handler
        self._workers = workers
        self._error_backoff = error_backoff
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._active: set[K] = set()
        self._dirty: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._timer_due: dict[K, float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self) -> None:
        """Start the worker tasks on the running loop."""
        self._tasks = [asyncio.create_task(self._work(), name=f"workqueue-{i}") for i in range(self._workers)]

    async def stop(self) -> None:
        """Cancel the workers and every pending delayed add."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._timer_due.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def add(self, key: K) -> None:
        """Queue ``key`` now (no-op if it already waits; re-run after the current run if active)."""
        if key in self._active:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._idle.clear()
        self._queue.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds; an earlier pending add for it wins."""
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        if key in self._timers and self._timer_due[key] <= due:
            return
        if key in self._timers:
            self._timers[key].cancel()
        self._timers[key] = loop.call_later(delay, self._fire, key)
        self._timer_due[key] = due

    def forget(self, key: K) -> None:
        """Drop a pending delayed add (the object is gone)."""
        handle = self._timers.pop(key, None)
        self._timer_due.pop(key, None)
        if handle is not None:
            handle.cancel()

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self._timer_due.pop(key, None)
        self.add(key)

    @property
    def pending_timers(self) -> int:
        """How many keys wait for a delayed add (for tests and benchmarks)."""
        return len(self._timers)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._active.add(key)
            requeue: float | None = None
            try:
                requeue = await self._handler(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile of %s failed; retrying in %.1fs", key, self._error_backoff)
                requeue = self._error_backoff
            finally:
                self._active.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self.add(key)
            elif requeue is not None:
                self.add_after(key, requeue)
            if not self._queued and not self._active:
                self._idle.set()
