"""The line splitter shared by both transports' watch streams, and deadlines on effects."""

from __future__ import annotations

import dataclasses
import time

import pytest

from airflow_ray_k8s.exceptions import KubeTransientError
from airflow_ray_k8s.kube import request as rq
from airflow_ray_k8s.kube.effects import LineBuffer, Op, OpenStream, ReadLine, Sleep, bounded
from airflow_ray_k8s.kube.request import KubeRequest
from airflow_ray_k8s.resources import RAYJOB


def test_lines_split_across_chunks() -> None:
    buf = LineBuffer()
    buf.feed(b'{"a":')
    assert buf.pop() is None
    buf.feed(b'1}\n\n{"b"')
    buf.feed(b":2}\r\n{")
    assert buf.pop() == b'{"a":1}'
    assert buf.pop() == b'{"b":2}'
    assert buf.pop() is None
    buf.feed(b'"c":3}')
    assert buf.rest() == b'{"c":3}'
    assert buf.rest() is None


def test_bounded_puts_the_deadline_on_every_effect() -> None:
    deadline = time.monotonic() + 2.0

    def op() -> Op[str]:
        response = yield rq.get(RAYJOB, "ray", "j")
        assert response == "answer"
        yield Sleep(30.0)  # a Retry-After far beyond the time left
        stream = yield OpenStream(rq.watch(RAYJOB, "ray", resource_version="1", read_margin=30))
        yield ReadLine(stream)
        yield ReadLine(stream, deadline=deadline - 1)  # an earlier deadline of its own wins
        try:
            yield rq.get(RAYJOB, "ray", "k")
        except KubeTransientError:
            return "gave up"
        return "no error"  # pragma: no cover

    bounded_op = bounded(op(), deadline)
    seen = [next(bounded_op)]
    seen.append(bounded_op.send("answer"))
    for value in (None, "stream", None, None):
        seen.append(bounded_op.send(value))
    with pytest.raises(StopIteration) as done:
        bounded_op.throw(KubeTransientError("429", status=429))
    assert done.value.value == "gave up"
    get, sleep, opened, read, read_early, get_again = seen
    assert isinstance(get, KubeRequest)
    assert get.deadline == deadline
    assert isinstance(sleep, Sleep)
    assert sleep.seconds <= 2.0
    assert isinstance(opened, OpenStream)
    assert opened.request.deadline == deadline
    assert isinstance(read, ReadLine)
    assert read.stream == "stream"
    assert read.deadline == deadline
    assert isinstance(read_early, ReadLine)
    assert read_early.deadline == deadline - 1
    assert isinstance(get_again, KubeRequest)
    assert get_again.deadline == deadline


def test_request_timeouts_shrink_to_the_time_left() -> None:
    plain = rq.get(RAYJOB, "ray", "j")
    assert plain.timeouts(10.0, 30.0) == (10.0, 30.0)
    near = dataclasses.replace(plain, deadline=time.monotonic() + 2.0)
    connect, read = near.timeouts(10.0, 30.0)
    assert 1.5 < connect <= 2.0
    assert 1.5 < read <= 2.0
    passed = dataclasses.replace(plain, deadline=time.monotonic() - 5)
    # A last call right at (or after) the deadline still gets a short, real chance.
    assert passed.timeouts(10.0, 30.0) == (rq.MIN_CALL_TIMEOUT, rq.MIN_CALL_TIMEOUT)
