"""The effects a sans-I/O operation asks its driver to perform.

An operation (:mod:`~airflow_ray_k8s.kube.ops`, :mod:`~airflow_ray_k8s.kube.watch`) is a generator:
it yields effects and receives their results, so its logic (create-or-re-attach, pagination, watch
resume, deadlines) is written once and run by the sync driver (:mod:`~airflow_ray_k8s.kube.transport`)
and the async one (:mod:`~airflow_ray_k8s.kube.aio`) alike.

- :class:`~airflow_ray_k8s.kube.request.KubeRequest` -> a 2xx
  :class:`~airflow_ray_k8s.kube.request.KubeResponse`;
  a failure (after the retry policy) is thrown into the generator as a ``KubeApiError``.
- :class:`Sleep` -> ``None`` after waiting.
- :class:`OpenStream` -> an opaque stream handle (the answer's status was 2xx).
- :class:`ReadLine` -> the next line (``bytes``) or ``None`` at the end of the stream; with a
  ``deadline``, a ``KubeTimeoutError`` once it passes with no line read.
- :class:`CloseStream` -> ``None``. Drivers also close every stream left open when an operation ends.
- :class:`Emit` -> ``None``; the item is handed to the consumer of a streaming operation.
- :class:`RegisterSecret` -> ``None``; the driver registers the value as a secret (the Airflow hooks
  hand it to Airflow's secrets masker), so it is redacted wherever it would be logged.

:func:`bounded` puts a deadline on every effect of an operation (requests, streams, sleeps): the
one place that makes a wait end on time, for both drivers.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from airflow_ray_k8s.kube.request import KubeRequest

T = TypeVar("T")


@dataclass(frozen=True)
class Sleep:
    """Wait this many seconds."""

    seconds: float


@dataclass(frozen=True)
class OpenStream:
    """Send a request and keep its answer open as a line stream."""

    request: KubeRequest


@dataclass(frozen=True)
class ReadLine:
    """Read the next line of an open stream, giving up at ``deadline`` (a ``time.monotonic()`` value)."""

    stream: Any
    deadline: float | None = None


@dataclass(frozen=True)
class CloseStream:
    """Close an open stream."""

    stream: Any


@dataclass(frozen=True)
class Emit:
    """Hand an item to the consumer of a streaming operation."""

    item: Any


@dataclass(frozen=True)
class RegisterSecret:
    """Tell the driver that ``value`` is a credential (a dashboard token read from a Secret)."""

    value: str = dataclasses.field(repr=False)


Effect = KubeRequest | Sleep | OpenStream | ReadLine | CloseStream | Emit | RegisterSecret
#: An operation returning ``T``. The value sent back depends on the effect (see the module docstring).
Op = Generator[Effect, Any, T]


def _earliest(current: float | None, deadline: float) -> float:
    return deadline if current is None else min(current, deadline)


def _bound(effect: Effect, deadline: float) -> Effect:
    if isinstance(effect, KubeRequest):
        return dataclasses.replace(effect, deadline=_earliest(effect.deadline, deadline))
    if isinstance(effect, OpenStream):
        return OpenStream(_bound(effect.request, deadline))  # type: ignore[arg-type]
    if isinstance(effect, ReadLine):
        return ReadLine(effect.stream, _earliest(effect.deadline, deadline))
    if isinstance(effect, Sleep):
        # A back-off (or a Retry-After) longer than the time left would only make the wait late.
        return Sleep(max(0.0, min(effect.seconds, deadline - time.monotonic())))
    return effect


def step(op: Op[Any], value: Any, error: BaseException | None) -> tuple[bool, Any]:
    """Advance ``op`` by one effect: send it the last answer (or throw it the last error).

    Returns ``(False, next_effect)``, or ``(True, result)`` once the operation returned. The one
    step every driver (sync, async, :func:`bounded`) takes; only how it performs effects differs.
    """
    try:
        return False, (op.throw(error) if error is not None else op.send(value))
    except StopIteration as stop:
        return True, stop.value


def bounded(op: Op[T], deadline: float) -> Op[T]:
    """Run ``op`` with every effect bounded by ``deadline`` (a ``time.monotonic()`` value).

    Requests carry the deadline (the drivers shorten their timeouts and stop retrying once it
    passes, see :meth:`KubeRequest.timeouts`), stream reads give up at it, and sleeps are cut to the
    time left. The operation itself still decides what a passed deadline means (return, or raise
    ``WaitTimeoutError``); this only guarantees that no single step outlives it by more than
    :data:`~airflow_ray_k8s.kube.request.MIN_CALL_TIMEOUT`.
    """
    value: Any = None
    error: BaseException | None = None
    try:
        while True:
            done, effect = step(op, value, error)
            if done:
                result: T = effect
                return result
            value, error = None, None
            try:
                value = yield _bound(effect, deadline)
            except Exception as exc:  # the driver's answer for this effect: forward it to ``op``
                error = exc
    finally:
        op.close()


class LineBuffer:
    """Split a byte stream's chunks into lines (the watch protocol is one JSON object per line)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._lines: deque[bytes] = deque()

    def feed(self, chunk: bytes) -> None:
        """Add a chunk as it came off the wire."""
        self._buf.extend(chunk)
        while (end := self._buf.find(b"\n")) >= 0:
            line = bytes(self._buf[:end]).strip()
            del self._buf[: end + 1]
            if line:
                self._lines.append(line)

    def pop(self) -> bytes | None:
        """The next complete line, if any."""
        return self._lines.popleft() if self._lines else None

    def rest(self) -> bytes | None:
        """What is left after the stream ended (a last line without newline)."""
        line = bytes(self._buf).strip()
        self._buf.clear()
        return line or None
