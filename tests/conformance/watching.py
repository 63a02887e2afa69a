"""A watch of one object on one backend, recorded in a thread (what a client's informer sees)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.conformance.conftest import Backend


class Recorder:
    """Watch ``<path>?fieldSelector=metadata.name=<name>`` and keep every event with its arrival time.

    :param backend: where.
    :param path: the collection path (``/apis/ray.io/v1/namespaces/default/rayjobs``).
    :param name: the object.
    :param stop: ends the recording when it returns true for an event's object.
    :param timeout: the longest the recording lasts.
    """

    def __init__(
        self,
        backend: Backend,
        path: str,
        name: str,
        stop: Callable[[str, dict[str, Any]], bool] | None = None,
        timeout: float = 240.0,
    ) -> None:
        self.backend, self.path, self.name = backend, path, name
        self.stop = stop or (lambda kind, obj: kind == "DELETED")
        self.timeout = timeout
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.done = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Recorder:
        """Start watching (returns once the watch request is open)."""
        self._open = threading.Event()
        self._thread.start()
        self._open.wait(30)
        return self

    def _run(self) -> None:
        start = time.monotonic()
        try:
            while not self.done.is_set() and time.monotonic() - start < self.timeout:
                params = {
                    "watch": "1",
                    "fieldSelector": f"metadata.name={self.name}",
                    "timeoutSeconds": "60",
                }
                with self.backend.http.stream("GET", self.path, params=params, timeout=None) as resp:
                    self._open.set()
                    for line in resp.iter_lines():
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        kind, obj = event["type"], event.get("object") or {}
                        self.events.append((time.monotonic(), kind, obj))
                        if kind != "BOOKMARK" and self.stop(kind, obj):
                            self.done.set()
                            return
        except BaseException as exc:  # reported by wait()
            self.error = exc
        finally:
            self._open.set()
            self.done.set()

    def wait(self, timeout: float | None = None) -> Recorder:
        """Wait for the end of the recording; re-raise what broke it."""
        self._thread.join(timeout if timeout is not None else self.timeout + 30)
        if self.error is not None:
            raise self.error
        return self


def distinct(values: list[Any]) -> list[Any]:
    """Consecutive repeats dropped: ``[a, a, b, a] -> [a, b, a]``."""
    out: list[Any] = []
    for value in values:
        if not out or out[-1] != value:
            out.append(value)
    return out
