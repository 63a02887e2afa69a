"""Streaming the driver log from an offset: no repeated, split or lost lines (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from airflow_ray_k8s._lifecycle.logs import (
    ANNOTATION_LOG_OFFSET,
    MAX_TAIL_CHARS,
    LogCursor,
    encode_offset,
    offset_from_annotations,
    tail,
)


def test_only_complete_lines_are_emitted_until_the_end() -> None:
    cursor = LogCursor()
    assert cursor.advance("a\nb") == ["a"]
    assert cursor.advance("a\nb\nc") == ["b"]
    assert cursor.advance("a\nb\nc", final=True) == ["c"]
    assert cursor.advance("a\nb\nc", final=True) == []


def test_a_new_cursor_at_the_recorded_offset_continues_without_repeats() -> None:
    first = LogCursor()
    assert first.advance("one\ntwo\n") == ["one", "two"]
    resumed = LogCursor(first.offset)  # e.g. after a deferral or a triggerer restart
    assert resumed.advance("one\ntwo\nthree\n") == ["three"]


def test_a_shorter_log_means_a_resubmitted_job_and_starts_over() -> None:
    cursor = LogCursor()
    cursor.advance("attempt 1 line\nmore\n")
    assert cursor.advance("attempt 2\n") == ["attempt 2"]
    assert cursor.restarted


@given(st.lists(st.text(alphabet="ab\n", max_size=8), max_size=8))
def test_any_growth_sequence_emits_each_line_exactly_once(chunks: list[str]) -> None:
    cursor = LogCursor()
    text, emitted = "", []
    for chunk in chunks:
        text += chunk
        emitted += cursor.advance(text)
    emitted += cursor.advance(text, final=True)
    assert emitted == text.splitlines()


def test_tail_keeps_the_last_lines_and_bounds_the_size() -> None:
    assert tail("1\n2\n3\n", 2) == ["2", "3"]
    huge = "x" * (MAX_TAIL_CHARS * 2)
    out = tail(f"first\n{huge}\nlast\n", 3)
    assert out == ["last"]
    assert tail(huge, 3)[0] == huge[-MAX_TAIL_CHARS:]


def test_the_recorded_offset_counts_only_for_the_same_try() -> None:
    annotations = {ANNOTATION_LOG_OFFSET: encode_offset(2, 120)}
    assert offset_from_annotations(annotations, 2) == 120
    assert offset_from_annotations(annotations, 3) == 0
    assert offset_from_annotations({ANNOTATION_LOG_OFFSET: "garbage"}, 2) == 0
    assert offset_from_annotations(None, 1) == 0


async def test_log_reads_back_off_while_the_driver_is_quiet_and_return_when_it_prints() -> None:
    """A quiet driver costs fewer and fewer reads; new output brings the base interval back."""
    import time
    from collections import deque

    from airflow_ray_k8s._lifecycle.logs import LogCursor
    from airflow_ray_k8s._lifecycle.waits import MAX_QUIET_LOG_INTERVAL, RayJobWait
    from airflow_ray_k8s.status import RayJobStatus

    class Logs:
        """The dashboard's answers to successive log reads (no offset annotation to record)."""

        def __init__(self, texts: list[str]) -> None:
            self.texts = deque(texts)

        async def job_logs(self, namespace: str, status: object) -> str:
            return self.texts.popleft()

        async def patch_annotations(self, *args: object) -> None:
            return None

    quiet, loud = "a\n", "a\nb\n"
    wait = RayJobWait(conn_id="c", namespace="ns", name="j", log_interval=5.0)
    wait._cursor, wait._seen, wait._recorded_offset = LogCursor(0), deque(maxlen=5), -1
    wait._kube = Logs([quiet] + [quiet] * 6 + [loud])  # type: ignore[assignment]
    status = RayJobStatus.from_object(
        {"metadata": {"name": "j", "namespace": "ns"}, "status": {"jobId": "x"}}
    )
    pauses = []
    for _ in range(8):
        before = time.monotonic()
        await wait._stream(status, final=False)
        pauses.append(round(wait._next_log_at - before))
    # First read prints "a": base interval; then quiet: 10, 20, 40, 60 (the ceiling), 60, 60; new line: 5.
    assert pauses == [5, 10, 20, 40, MAX_QUIET_LOG_INTERVAL, 60, 60, 5]
