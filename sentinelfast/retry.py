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


class BackoffLike(Protocol):
    """What a Retry needs of a backoff strategy (see :mod:`sentinelfast.backoff`)."""

    def compute(self, failures: int) -> float: ...

    def reset(self) -> None: ...


class Retry:
    """Retry up to ``retries`` times on ``supported_errors``, waiting ``backoff``."""

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
        # election; 30 s while that is unknown).
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
        the error is raised once the retries are spent.
        """
        self._backoff.reset()
        failures = 0
        deadline = None if self._timeout is None or self._timeout < 0 else (
            time.monotonic() + self._timeout)
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
                if delay > 0:
                    time.sleep(delay)


__all__ = ["Retry"]
