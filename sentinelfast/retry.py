"""Retry policies (redis-py's ``redis.retry``).

A :class:`Retry` is data for the native retry loop: which errors to retry
(``_supported_errors``), how many times (``_retries``, negative = forever) and how long
to wait in between (``_backoff``). Commands run on a connection are retried by the C
core; :meth:`Retry.call_with_retry` runs the same loop for any Python callable.
"""
from __future__ import annotations

import socket
import time
from typing import Any, Callable, Iterable, Optional, Protocol, Tuple, Type, TypeVar

from .exceptions import ConnectionError, TimeoutError

T = TypeVar("T")

#: The failover budget when the service's down-after-milliseconds is not known, in
#: seconds: what a negative ``timeout`` means to :meth:`Retry.call_with_retry` (the C
#: loop, which knows the connection's service, uses down-after + 15 s when it can;
#: csrc/retry.c, DEFAULT_FAILOVER_BUDGET, is the same figure).
FAILOVER_BUDGET_UNKNOWN = 30.0


class BackoffLike(Protocol):
    """What a Retry needs of a backoff strategy (see :mod:`sentinelfast.backoff`)."""

    def compute(self, failures: int) -> float: ...

    def reset(self) -> None: ...


class Retry:
    """Retry up to ``retries`` times on ``supported_errors``, waiting ``backoff``.

    ``timeout`` (keyword, sentinelfast extension): a time budget for the retries of one
    command, in seconds; negative: the failover budget of a Sentinel client's service
    (see :func:`sentinelfast.failover.default_sentinel_retry`). The backoff sleeps of
    commands run in C and answer signals (Ctrl-C) within about 50 ms.
    """

    def __init__(
        self,
        backoff: BackoffLike,
        retries: int,
        supported_errors: Tuple[Type[Exception], ...] = (
            ConnectionError,
            TimeoutError,
            socket.timeout,
        ),
        *,
        timeout: Optional[float] = None,
    ) -> None:
        self._backoff = backoff
        self._retries = retries
        self._supported_errors = tuple(supported_errors)
        # sentinelfast extension: a time budget for the retries of one command.
        # None: none; seconds; negative: as long as a Sentinel failover of the
        # client's service takes (its down-after-milliseconds plus 15 s for the
        # election; 30 s while that is unknown), and zero, no retry at all, for a
        # master_for client whose service never had a known master (csrc/retry.c).
        self._timeout = timeout

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Retry):
            return NotImplemented
        return (
            self._backoff == other._backoff
            and self._retries == other._retries
            and set(self._supported_errors) == set(other._supported_errors)
        )

    def __hash__(self) -> int:
        return hash((self._backoff, self._retries, frozenset(self._supported_errors)))

    def __repr__(self) -> str:
        return f"Retry(backoff={self._backoff!r}, retries={self._retries}, timeout={self._timeout})"

    def update_supported_errors(self, specified_errors: Iterable[Type[Exception]]) -> None:
        """Also retry on ``specified_errors``."""
        self._supported_errors = tuple(set(self._supported_errors + tuple(specified_errors)))

    def get_retries(self) -> int:
        """How many retries after the first attempt (negative: no limit)."""
        return self._retries

    def update_retries(self, value: int) -> None:
        """Set how many retries follow the first attempt."""
        self._retries = value

    def call_with_retry(
        self,
        do: Callable[[], T],
        fail: Callable[..., Any],
        is_retryable: Optional[Callable[[Exception], bool]] = None,
        with_failure_count: bool = False,
    ) -> T:
        """Call ``do()`` until it succeeds or the policy gives up.

        After each supported error ``fail(error)`` (or ``fail(error, failures)``) runs;
        the error is raised once the retries are spent or the ``timeout`` budget has
        passed (a negative one: :data:`FAILOVER_BUDGET_UNKNOWN`, as no service is known
        here). The sleeps are ``time.sleep``: Ctrl-C interrupts them.
        """
        self._backoff.reset()
        failures = 0
        budget = self._timeout
        if budget is not None and budget < 0:
            budget = FAILOVER_BUDGET_UNKNOWN
        deadline = None if budget is None else time.monotonic() + budget
        while True:
            try:
                return do()
            except self._supported_errors as error:
                if is_retryable is not None and not is_retryable(error):
                    raise
                failures += 1
                if with_failure_count:
                    fail(error, failures)
                else:
                    fail(error)
                if 0 <= self._retries < failures or (
                        deadline is not None and time.monotonic() >= deadline):
                    raise error
                delay = self._backoff.compute(failures)
                if deadline is not None:
                    delay = min(delay, deadline - time.monotonic())
                if delay > 0:
                    time.sleep(delay)


__all__ = ["Retry", "FAILOVER_BUDGET_UNKNOWN"]
