"""The line splitter shared by both transports' watch streams."""

from __future__ import annotations

from airflow_ray_k8s.kube.effects import LineBuffer


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
