"""A scripted driver for the sans-I/O operations: no network, no clock, answers chosen per request.

It plays the part of the sync / async clients' drivers (same protocol, see ``kube/effects.py``),
so the operations' logic is tested on its own; the drivers are tested against the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_ray_k8s.exceptions import KubeApiError
from airflow_ray_k8s.kube.effects import CloseStream, Emit, Op, OpenStream, ReadLine, RegisterSecret, Sleep
from airflow_ray_k8s.kube.errors import error_for_response
from airflow_ray_k8s.kube.request import KubeRequest, KubeResponse

Answer = KubeResponse | KubeApiError | list[Any]


def ok(body: Any, status: int = 200, **headers: str) -> KubeResponse:
    return KubeResponse(
        status, {k.lower().replace("_", "-"): v for k, v in headers.items()}, json.dumps(body).encode()
    )


def status(
    code: int, reason: str = "", message: str = "", details: dict[str, Any] | None = None
) -> KubeResponse:
    body = {"kind": "Status", "code": code, "reason": reason, "message": message, "details": details or {}}
    return KubeResponse(code, {}, json.dumps(body).encode())


@dataclass
class _Stream:
    lines: list[Any]
    closed: bool = False


@dataclass
class Script:
    """Answers requests with ``handler(request)``: a response, an exception, or a list (a stream's lines;
    an exception in the list is raised when read)."""

    handler: Callable[[KubeRequest], Answer] = lambda r: ok({})
    requests: list[KubeRequest] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)
    emitted: list[Any] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    streams: list[_Stream] = field(default_factory=list)
    stop_after_emits: int | None = None

    def _answer(self, request: KubeRequest) -> Answer:
        self.requests.append(request)
        answer = self.handler(request)
        if isinstance(answer, KubeResponse) and not answer.ok:
            raise error_for_response(request, answer)
        if isinstance(answer, KubeApiError):
            raise answer
        return answer

    def run(self, op: Op[Any]) -> Any:
        value: Any = None
        error: BaseException | None = None
        try:
            while True:
                try:
                    effect = op.throw(error) if error is not None else op.send(value)
                except StopIteration as stop:
                    return stop.value
                value, error = None, None
                try:
                    if isinstance(effect, KubeRequest):
                        value = self._answer(effect)
                    elif isinstance(effect, Sleep):
                        self.sleeps.append(effect.seconds)
                    elif isinstance(effect, OpenStream):
                        lines = self._answer(effect.request)
                        assert isinstance(lines, list), "a stream request must be answered with lines"
                        value = _Stream(list(lines))
                        self.streams.append(value)
                    elif isinstance(effect, ReadLine):
                        if not effect.stream.lines:
                            value = None
                        else:
                            item = effect.stream.lines.pop(0)
                            if isinstance(item, BaseException):
                                raise item
                            value = item if isinstance(item, bytes) else json.dumps(item).encode()
                    elif isinstance(effect, CloseStream):
                        effect.stream.closed = True
                    elif isinstance(effect, RegisterSecret):
                        self.secrets.append(effect.value)
                    elif isinstance(effect, Emit):
                        self.emitted.append(effect.item)
                        if self.stop_after_emits is not None and len(self.emitted) >= self.stop_after_emits:
                            return None
                    else:  # pragma: no cover
                        raise AssertionError(effect)
                except KubeApiError as exc:
                    error = exc
        finally:
            op.close()
