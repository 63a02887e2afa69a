"""When did a RayCluster (or RayJob) go, seen through the official ``kubernetes`` client?

For the TTL tests: a RayJob's cluster (or, by a DeleteSelf policy, the RayJob itself) must be
deleted no earlier than ``status.endTime + ttl`` and not much later. ``endTime`` is an RFC 3339 time
of second precision; the operator counts the TTL from that stored (truncated) value, so the deletion
is due at exactly ``endTime + ttl`` as written, which can be up to 1 s before "the real end + ttl".
Both bounds are therefore taken against the written value, and the moment the object is gone is the
arrival of its ``DELETED`` watch event (a 0.1 s poll is the fallback should the watch miss it), so a
loaded machine can only make us see it later, never earlier.
"""

from __future__ import annotations

import calendar
import threading
import time
from typing import Any

from kubernetes import watch

GROUP, VERSION = "ray.io", "v1"


def rfc3339_seconds(value: str) -> float:
    """Seconds since the epoch of a Kubernetes time (``2026-08-01T12:00:00Z``)."""
    return float(calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")))


class GoneClock:
    """Watches one ray.io object from construction on and tells when it was deleted.

    :param custom: a ``kubernetes.client.CustomObjectsApi``.
    :param namespace: the object's namespace.
    :param name: the object's name.
    :param timeout: seconds the watch (and :meth:`wait`) may last.
    :param plural: ``rayclusters`` or ``rayjobs``.
    """

    def __init__(
        self, custom: Any, namespace: str, name: str, timeout: float = 60.0, plural: str = "rayclusters"
    ) -> None:
        self._custom = custom
        self._namespace = namespace
        self._name = name
        self._plural = plural
        self._timeout = timeout
        self._watch = watch.Watch()
        self._listening = threading.Event()
        self.deleted_event_at: float | None = None
        self.polled_gone_at: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{name}", daemon=True)
        self._thread.start()
        # The watch replays the cluster as ADDED first: once seen, a deletion cannot be missed.
        self._listening.wait(10.0)

    def _run(self) -> None:
        try:
            for event in self._watch.stream(
                self._custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                self._namespace,
                self._plural,
                field_selector=f"metadata.name={self._name}",
                timeout_seconds=int(self._timeout),
            ):
                self._listening.set()
                if event["type"] == "DELETED":
                    self.deleted_event_at = time.time()
                    return
        except Exception:  # noqa: S110 - the poll in wait() is the fallback
            pass
        finally:
            self._listening.set()

    def _exists(self) -> bool:
        try:
            self._custom.get_namespaced_custom_object(
                GROUP, VERSION, self._namespace, self._plural, self._name
            )
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return False
            raise
        return True

    def wait(self) -> float:
        """Block until the object is gone; the epoch time it went (its DELETED event if seen)."""
        deadline = time.monotonic() + self._timeout
        while self.deleted_event_at is None and self._exists():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self._plural}/{self._name} still exists after {self._timeout}s")
            time.sleep(0.1)
        if self.deleted_event_at is None:
            self.polled_gone_at = time.time()
            # The event may be on its way: prefer it, it is the earlier observation.
            self._thread.join(2.0)
        self._watch.stop()
        if self.deleted_event_at is not None:
            return self.deleted_event_at
        assert self.polled_gone_at is not None
        return self.polled_gone_at


def assert_deleted_within(gone_at: float, end_time: str, ttl: float, bound: float) -> float:
    """Assert ``endTime + ttl <= gone_at <= endTime + ttl + bound``; returns the delay past the TTL."""
    due = rfc3339_seconds(end_time) + ttl
    delay = gone_at - due
    assert delay >= 0, f"deleted {-delay:.3f}s before endTime ({end_time}) + ttl ({ttl}s)"
    assert delay <= bound, f"deleted {delay:.3f}s after endTime ({end_time}) + ttl ({ttl}s); bound {bound}s"
    print(f"TTL deletion delay (endTime + ttl -> gone): {delay:.3f}s")
    return delay
