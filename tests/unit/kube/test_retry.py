"""The retry policy's decisions, and the same policy driving tenacity's sync and async loops."""

from __future__ import annotations

import time

import pytest
import tenacity

from airflow_ray_k8s.exceptions import (
    KubeConflictError,
    KubeForbiddenError,
    KubeGoneError,
    KubeNotFoundError,
    KubeTimeoutError,
    KubeTransientError,
)
from airflow_ray_k8s.kube.retry import NO_RETRY, RetryPolicy

POLICY = RetryPolicy(max_attempts=4, backoffs=(0.1, 0.2, 0.4), max_delay=2.0, deadline=10.0, jitter=0.0)


def test_only_transient_errors_and_timeouts_are_retried() -> None:
    assert POLICY.is_retryable(KubeTransientError("x", status=503))
    assert POLICY.is_retryable(KubeTimeoutError("x"))
    for error in (
        KubeNotFoundError("x"),
        KubeConflictError("x"),
        KubeForbiddenError("x"),
        KubeGoneError("x"),
    ):
        assert not POLICY.is_retryable(error)
        assert POLICY.next_delay(error, 1, 0.0) is None
    assert not POLICY.is_retryable(ValueError("x"))


def test_capped_backoff_sequence() -> None:
    err = KubeTransientError("x", status=500)
    assert [POLICY.delay(err, n) for n in range(1, 6)] == [0.1, 0.2, 0.4, 0.4, 0.4]
    assert POLICY.next_delay(err, 3, 0.0) == 0.4
    assert POLICY.next_delay(err, 4, 0.0) is None  # max_attempts reached
    assert POLICY.next_delay(err, 1, 9.95) is None  # would pass the deadline


def test_retry_after_wins_and_is_capped() -> None:
    assert POLICY.delay(KubeTransientError("x", status=429, retry_after=1.5), 1) == 1.5
    assert POLICY.delay(KubeTransientError("x", status=429, retry_after=0.0), 3) == 0.0
    assert POLICY.delay(KubeTransientError("x", status=429, retry_after=600), 1) == 2.0


def test_jitter_only_adds() -> None:
    policy = RetryPolicy(backoffs=(1.0,), jitter=0.5)
    waits = [policy.delay(KubeTransientError("x", retry_after=1.0), 1) for _ in range(200)]
    assert min(waits) >= 1.0
    assert max(waits) <= 1.5
    assert len(set(waits)) > 1


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="backoffs"):
        RetryPolicy(backoffs=())


def _flaky(errors: list[BaseException]) -> tuple[list[int], object]:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return "ok"

    return calls, call


def test_tenacity_sync_loop_retries_then_succeeds() -> None:
    policy = RetryPolicy(backoffs=(0.0,), jitter=0.0)
    calls, fn = _flaky([KubeTransientError("a", status=503), KubeTimeoutError("b")])
    assert tenacity.Retrying(**policy.tenacity_kwargs())(fn) == "ok"
    assert len(calls) == 3


def test_tenacity_sync_loop_gives_up_with_the_last_error() -> None:
    policy = RetryPolicy(max_attempts=2, backoffs=(0.0,), jitter=0.0)
    calls, fn = _flaky([KubeTransientError("a", status=503)] * 5)
    with pytest.raises(KubeTransientError, match="a"):
        tenacity.Retrying(**policy.tenacity_kwargs())(fn)
    assert len(calls) == 2


def test_tenacity_does_not_retry_answers() -> None:
    calls, fn = _flaky([KubeConflictError("exists")])
    with pytest.raises(KubeConflictError):
        tenacity.Retrying(**RetryPolicy(backoffs=(0.0,)).tenacity_kwargs())(fn)
    assert len(calls) == 1


async def test_tenacity_async_loop_uses_the_same_policy() -> None:
    policy = RetryPolicy(max_attempts=3, backoffs=(0.0,), jitter=0.0)
    calls: list[int] = []

    async def fn() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise KubeTransientError("x", status=429, retry_after=0.0)
        return "ok"

    assert await tenacity.AsyncRetrying(**policy.tenacity_kwargs())(fn) == "ok"
    assert len(calls) == 3


def test_no_retry_policy() -> None:
    assert NO_RETRY.next_delay(KubeTransientError("x"), 1, 0.0) is None


def test_a_callers_deadline_stops_retries_that_would_start_after_it() -> None:
    err = KubeTransientError("x", status=429, retry_after=3.0)
    assert POLICY.next_delay(err, 1, 0.0) == 2.0  # capped Retry-After, no caller deadline
    assert POLICY.next_delay(err, 1, 0.0, time_left=1.0) is None  # the wait would end too late
    assert POLICY.next_delay(KubeTransientError("x", status=503), 1, 0.0, time_left=1.0) == 0.1
    assert POLICY.gives_up(1, 0.0, 0.0, time_left=-0.1)  # already past it


def test_tenacity_stops_at_the_callers_deadline() -> None:
    policy = RetryPolicy(backoffs=(0.3,), jitter=0.0)
    calls, fn = _flaky([KubeTransientError("a", status=503)] * 10)
    deadline = time.monotonic() + 0.5
    started = time.monotonic()
    with pytest.raises(KubeTransientError):
        tenacity.Retrying(**policy.tenacity_kwargs(deadline))(fn)
    assert len(calls) == 2  # 0 s and 0.3 s; a third attempt would start at 0.6 s
    assert time.monotonic() - started < 0.5


def test_the_declared_tenacity_floor_has_the_wait_before_stop_order() -> None:
    # _stop reads RetryCallState.upcoming_sleep, computed before the stop check since tenacity
    # 8.3.0 (8.2.x checked stop first and has no upcoming_sleep: every retry loop would fail).
    import re
    from pathlib import Path

    pyproject = (Path(__file__).resolve().parents[3] / "pyproject.toml").read_text()
    floor = re.search(r'"tenacity>=([0-9.]+)"', pyproject)
    assert floor is not None
    assert tuple(int(p) for p in floor.group(1).split(".")) >= (8, 3)
    assert hasattr(tenacity.RetryCallState(tenacity.Retrying(), None, (), {}), "upcoming_sleep")
