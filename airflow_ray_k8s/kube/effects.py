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
- :class:`ReadLine` -> the next line (``bytes``) or ``None`` at the end of the stream.
- :class:`CloseStream` -> ``None``. Drivers also close every stream left open when an operation ends.
- :class:`Emit` -> ``None``; the item is handed to the consumer of a streaming operation.
"""

from __future__ import annotations

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
    """Read the next line of an open stream."""

    stream: Any


@dataclass(frozen=True)
class CloseStream:
    """Close an open stream."""

    stream: Any


@dataclass(frozen=True)
class Emit:
    """Hand an item to the consumer of a streaming operation."""

    item: Any


Effect = KubeRequest | Sleep | OpenStream | ReadLine | CloseStream | Emit
#: An operation returning ``T``. The value sent back depends on the effect (see the module docstring).
Op = Generator[Effect, Any, T]


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
