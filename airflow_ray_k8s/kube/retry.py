"""One retry policy for the sync and async transports.

Retried: 429 (honouring ``Retry-After``), 5xx, connection resets and client-side timeouts
(:class:`~airflow_ray_k8s.exceptions.KubeTransientError`,
:class:`~airflow_ray_k8s.exceptions.KubeTimeoutError`).
Everything else (404, 409, 403, 422, 410) is an answer, not a hiccup, and goes straight to the caller.
Retrying a create is safe: a create whose first attempt landed answers 409, which the create
operation turns into a re-attach.

The decisions are pure (:meth:`RetryPolicy.delay`, :meth:`RetryPolicy.next_delay`,
:meth:`RetryPolicy.gives_up`); tenacity runs the loop, ``Retrying`` for the sync transport and
``AsyncRetrying`` for the async one, from the same arguments (:meth:`RetryPolicy.tenacity_kwargs`).

A call made inside an operation with a deadline (a wait) also stops retrying when the next attempt
would start after that deadline: the policy's own ``deadline`` bounds one call, the operation's
bounds the whole wait.

The stop callback reads ``RetryCallState.upcoming_sleep``, i.e. it relies on tenacity computing the
wait *before* the stop check. tenacity does so since 8.3.0 (the release that added
``stop_before_delay``); 8.2 checked stop first and has no ``upcoming_sleep``, hence the floor in
``pyproject.toml``.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_ray_k8s.exceptions import KubeTimeoutError, KubeTransientError

if TYPE_CHECKING:
    import tenacity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying a call again.

    :param max_attempts: attempts in total, the first included.
    :param backoffs: wait before the 2nd, 3rd... attempt; the last value repeats (capped backoff).
    :param max_delay: the longest single wait, also when ``Retry-After`` asks for more.
    :param deadline: stop retrying once this many seconds have passed since the first attempt.
    :param jitter: up to this fraction is added to each wait, so that many clients do not retry
        in lockstep (never subtracted: a ``Retry-After`` is a minimum).
    """

    max_attempts: int = 6
    backoffs: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 5.0)
    max_delay: float = 15.0
    deadline: float = 60.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or not self.backoffs or min(self.backoffs) < 0:
            raise ValueError("RetryPolicy needs max_attempts >= 1 and non-negative backoffs")

    @staticmethod
    def is_retryable(error: BaseException) -> bool:
        """Transient API errors and client-side timeouts are retried; nothing else."""
        return isinstance(error, KubeTransientError | KubeTimeoutError)

    def delay(self, error: BaseException, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        A server's ``Retry-After`` wins over the backoff sequence; both are capped by ``max_delay``.
        """
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float):
            base = float(retry_after)
        else:
            base = self.backoffs[min(max(attempt, 1), len(self.backoffs)) - 1]
        base = min(base, self.max_delay)
        return base + base * self.jitter * random.random()

    def gives_up(self, attempt: int, elapsed: float, wait: float, time_left: float | None = None) -> bool:
        """Whether a call that failed ``attempt`` times over ``elapsed`` seconds stops instead of
        waiting ``wait`` seconds: attempts used up, past the policy's deadline, or (``time_left``,
        the caller's own deadline) the next attempt would start after the caller stopped waiting.
        """
        if attempt >= self.max_attempts or elapsed + wait > self.deadline:
            return True
        return time_left is not None and wait >= time_left

    def next_delay(
        self, error: BaseException, attempt: int, elapsed: float, time_left: float | None = None
    ) -> float | None:
        """The wait before the next attempt, or ``None`` when the call should fail now."""
        if not self.is_retryable(error):
            return None
        wait = self.delay(error, attempt)
        return None if self.gives_up(attempt, elapsed, wait, time_left) else wait

    # --- tenacity adapters ----------------------------------------------------------------------------

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return self.delay(error, state.attempt_number) if error else 0.0

    def _stop(self, state: tenacity.RetryCallState, deadline: float | None = None) -> bool:
        # upcoming_sleep is this attempt's wait: tenacity >= 8.3 computes it before calling stop.
        upcoming = state.upcoming_sleep or 0.0
        elapsed = state.seconds_since_start or 0.0
        time_left = None if deadline is None else deadline - time.monotonic()
        return self.gives_up(state.attempt_number, elapsed, upcoming, time_left)

    @staticmethod
    def _before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        # The error's message is already secret-free and truncated (kube/errors.py).
        log.info(
            "retrying in %.2fs (attempt %d failed): %s", state.upcoming_sleep, state.attempt_number, error
        )

    def tenacity_kwargs(self, deadline: float | None = None) -> dict[str, Any]:
        """Arguments for ``tenacity.Retrying`` / ``tenacity.AsyncRetrying``.

        :param deadline: the calling operation's deadline (``time.monotonic()``), if it has one:
            no attempt starts after it (the last error is raised instead).
        """
        import tenacity

        return {
            "retry": tenacity.retry_if_exception(self.is_retryable),
            "wait": self._wait,
            "stop": functools.partial(self._stop, deadline=deadline),
            "before_sleep": self._before_sleep,
            "reraise": True,
        }


def attempts_made(retrying: Any) -> int:
    """How many attempts a finished ``tenacity.Retrying`` / ``AsyncRetrying`` call made.

    The clients stamp it on the error they raise (``KubeApiError.attempts``): a 404 to a retried
    DELETE may answer the first attempt's own, unacknowledged, deletion.
    """
    return int(retrying.statistics.get("attempt_number") or 1)


#: The default policy of every client.
DEFAULT_RETRY_POLICY = RetryPolicy()
#: A policy that never retries (tests, and callers that retry themselves).
NO_RETRY = RetryPolicy(max_attempts=1)
