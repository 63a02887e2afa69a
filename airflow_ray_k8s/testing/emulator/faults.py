"""Fault injection and the request log of the emulated API, settable per test from any thread.

Tests reach these through ``kr.faults`` and ``kr.requests``. Rules are checked on the emulator
loop for every API request before it is served; the log records method, path, query and whether
the request was a watch, never headers (they carry the bearer token).
"""

from __future__ import annotations

import random
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

DROP = 0
"""``status`` of a rule that drops the connection instead of answering."""


@dataclass
class FaultRule:
    """One injected failure.

    :param status: HTTP status to answer (429, 500, 503 ...), or :data:`DROP` to close the connection.
    :param count: how many matching requests fail; ``None`` for no limit.
    :param rate: probability that a matching request fails (applied before ``count`` is spent).
    :param retry_after: seconds sent as ``Retry-After`` (429 and 503).
    :param method: only requests with this HTTP method (``GET``), if set.
    :param path: only requests whose path matches this regular expression (``re.search``), if set.
    :param watch: only watch requests (``True``), only non-watch requests (``False``), or both (``None``).
    """

    status: int
    count: int | None = 1
    rate: float = 1.0
    retry_after: float | None = None
    method: str | None = None
    path: str | None = None
    watch: bool | None = None
    hits: int = 0

    def applies(self, method: str, path: str, watch: bool) -> bool:
        if self.count is not None and self.count <= 0:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        if self.watch is not None and self.watch != watch:
            return False
        return not (self.path is not None and not re.search(self.path, path))


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the API saw it.

    :param method: HTTP method.
    :param path: URL path.
    :param query: query parameters.
    :param watch: whether it was a watch request.
    """

    method: str
    path: str
    query: Mapping[str, str]
    watch: bool


class RequestQueries:
    """Queries over a log of requests; a subclass provides :meth:`snapshot`.

    Shared by the local KubeRay's own log and the real API server's audit log, so that a test asks
    both the same way.
    """

    def snapshot(self) -> list[LoggedRequest]:
        """A copy of the requests logged so far."""
        raise NotImplementedError

    def filter(
        self, method: str | None = None, path: str | None = None, watch: bool | None = None
    ) -> list[LoggedRequest]:
        """Logged requests by method, path regex (``re.search``) and watch flag."""
        return [
            r
            for r in self.snapshot()
            if (method is None or r.method == method.upper())
            and (path is None or re.search(path, r.path))
            and (watch is None or r.watch == watch)
        ]

    def count(self, method: str | None = None, path: str | None = None, watch: bool | None = None) -> int:
        """How many logged requests match (see :meth:`filter`)."""
        return len(self.filter(method, path, watch))


class RequestLog(RequestQueries):
    """The requests served, newest last; bounded so long scale runs stay flat in memory.

    :param maxlen: requests kept.
    """

    def __init__(self, maxlen: int = 100_000) -> None:
        self._items: deque[LoggedRequest] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def append(self, item: LoggedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def snapshot(self) -> list[LoggedRequest]:
        """A copy of the log."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        """Forget the logged requests."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[LoggedRequest]:
        return iter(self.snapshot())

    def __getitem__(self, index: int) -> LoggedRequest:
        return self.snapshot()[index]


@dataclass
class _Denial:
    verb: str
    resource: str
    namespace: str | None
    subresource: str | None

    def matches(self, verb: str, resource: str, namespace: str | None, subresource: str | None) -> bool:
        return (
            self.verb in ("*", verb)
            and self.resource in ("*", resource)
            and (self.namespace is None or self.namespace == namespace)
            and (self.subresource is None or self.subresource == subresource)
        )


@dataclass
class Faults:
    """Failures to inject into the emulated API, per test.

    :param seed: seed of the random source used by ``rate`` rules (deterministic tests).
    """

    seed: int = 0
    rules: list[FaultRule] = field(default_factory=list)
    _denials: list[_Denial] = field(default_factory=list)
    _gone: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _random: random.Random = field(init=False)
    # Set by the server: runs a function on the emulator loop (watch drops must happen there).
    _on_loop: Callable[[Callable[[], Any]], Any] | None = None
    _drop_watches: Callable[[str | None, bool], int] | None = None

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def add(self, rule: FaultRule) -> FaultRule:
        """Add a rule; returns it (its ``hits`` counts the failures it caused)."""
        with self._lock:
            self.rules.append(rule)
        return rule

    def error(
        self,
        status: int = 503,
        *,
        count: int | None = 1,
        rate: float = 1.0,
        retry_after: float | None = None,
        method: str | None = None,
        path: str | None = None,
        watch: bool | None = None,
    ) -> FaultRule:
        """Answer matching requests with an API error (429 gets ``Retry-After: 1`` unless told).

        :param status: 429, 500, 503 or any other error status.
        :param count: failures before the rule is spent (``None``: never spent, use ``rate``).
        :param rate: probability per matching request.
        :param retry_after: seconds for ``Retry-After``.
        :param method: HTTP method filter.
        :param path: path regex filter.
        :param watch: watch-request filter.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        return self.add(FaultRule(status, count, rate, retry_after, method, path, watch))

    def drop_connections(
        self,
        *,
        count: int | None = 1,
        rate: float = 1.0,
        method: str | None = None,
        path: str | None = None,
        watch: bool | None = None,
    ) -> FaultRule:
        """Close the connection of matching requests without an answer (a connection reset)."""
        return self.add(FaultRule(DROP, count, rate, None, method, path, watch))

    def gone(self, count: int = 1) -> None:
        """Answer the next ``count`` watch requests with 410 Gone (an ERROR event, as the API server does)."""
        with self._lock:
            self._gone += count

    def drop_watches(self, resource: str | None = None, *, abort: bool = False) -> int:
        """End the open watch streams now; returns how many ended.

        :param resource: only watches of this resource plural (``rayjobs``); all when ``None``.
        :param abort: reset the connections mid-stream instead of ending the streams cleanly.
        """
        if self._drop_watches is None or self._on_loop is None:
            return 0
        drop = self._drop_watches
        return int(self._on_loop(lambda: drop(resource, abort)))

    def deny(
        self, verb: str, resource: str, *, namespace: str | None = None, subresource: str | None = None
    ) -> None:
        """Forbid a verb on a resource plural (``"*"`` for any): requests get 403 and
        SelfSubjectAccessReviews answer ``allowed: false``."""
        with self._lock:
            self._denials.append(_Denial(verb, resource, namespace, subresource))

    def denied(self, verb: str, resource: str, namespace: str | None, subresource: str | None = None) -> bool:
        """Whether a configured denial covers the access."""
        with self._lock:
            return any(d.matches(verb, resource, namespace, subresource) for d in self._denials)

    def clear(self) -> None:
        """Remove every rule, denial and pending 410."""
        with self._lock:
            self.rules.clear()
            self._denials.clear()
            self._gone = 0

    # --- used by the API on the loop ----------------------------------------------------------------

    def pick(self, method: str, path: str, watch: bool) -> FaultRule | None:
        """The rule that fails this request, if any (spends one of its ``count``)."""
        with self._lock:
            for rule in self.rules:
                if rule.applies(method, path, watch) and self._random.random() < rule.rate:
                    if rule.count is not None:
                        rule.count -= 1
                    rule.hits += 1
                    return rule
        return None

    def take_gone(self) -> bool:
        """Whether this watch request must get 410 (spends one)."""
        with self._lock:
            if self._gone > 0:
                self._gone -= 1
                return True
        return False
