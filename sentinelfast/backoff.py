"""Backoff strategies for :class:`sentinelfast.retry.Retry` (redis-py's ``redis.backoff``).

``compute(failures)`` returns the seconds to wait before the next attempt; ``failures``
counts from 1. The C retry loop calls ``reset()`` once per command and ``compute`` only
after a failure.
"""
from __future__ import annotations

import random
from abc import ABC, abstractmethod

DEFAULT_CAP = 0.512
DEFAULT_BASE = 0.008


class AbstractBackoff(ABC):
    """Interface of a backoff strategy."""

    def reset(self) -> None:
        """Forget state kept between failures of one operation."""

    @abstractmethod
    def compute(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure."""


class ConstantBackoff(AbstractBackoff):
    """Always wait ``backoff`` seconds."""

    def __init__(self, backoff: float) -> None:
        self._backoff = backoff

    def __hash__(self) -> int:
        return hash((self._backoff,))

    def __eq__(self, other) -> bool:
        if not isinstance(other, ConstantBackoff):
            return NotImplemented
        return self._backoff == other._backoff

    def compute(self, failures: int) -> float:
        return self._backoff


class NoBackoff(ConstantBackoff):
    """Retry at once."""

    def __init__(self) -> None:
        super().__init__(0)


class _CappedBackoff(AbstractBackoff):
    """A strategy shaped by ``base`` (first delay) and ``cap`` (longest delay)."""

    def __init__(self, cap: float = DEFAULT_CAP, base: float = DEFAULT_BASE) -> None:
        self._cap = cap
        self._base = base

    def __hash__(self) -> int:
        return hash((self._base, self._cap))

    def __eq__(self, other) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._base == other._base and self._cap == other._cap

    def _exponential(self, failures: int) -> float:
        return min(self._cap, self._base * 2**failures)


class ExponentialBackoff(_CappedBackoff):
    """``min(cap, base * 2**failures)``."""

    def compute(self, failures: int) -> float:
        return self._exponential(failures)


class FullJitterBackoff(_CappedBackoff):
    """A uniform draw between 0 and the exponential delay."""

    def compute(self, failures: int) -> float:
        return random.uniform(0, self._exponential(failures))


class EqualJitterBackoff(_CappedBackoff):
    """Half the exponential delay plus a uniform draw over the other half."""

    def compute(self, failures: int) -> float:
        half = self._exponential(failures) / 2
        return half + random.uniform(0, half)


class DecorrelatedJitterBackoff(_CappedBackoff):
    """A draw between ``base`` and three times the previous delay, capped."""

    def __init__(self, cap: float = DEFAULT_CAP, base: float = DEFAULT_BASE) -> None:
        super().__init__(cap, base)
        self._previous_backoff = 0.0

    def reset(self) -> None:
        self._previous_backoff = 0.0

    def compute(self, failures: int) -> float:
        upper = max(self._base, self._previous_backoff * 3)
        self._previous_backoff = min(self._cap, random.uniform(self._base, upper))
        return self._previous_backoff


class ExponentialWithJitterBackoff(_CappedBackoff):
    """``min(cap, random() * base * 2**failures)`` (redis-py 8's client default)."""

    def compute(self, failures: int) -> float:
        return min(self._cap, random.random() * self._base * 2**failures)


def default_backoff() -> AbstractBackoff:
    """redis-py's default: :class:`EqualJitterBackoff` with the default cap and base."""
    return EqualJitterBackoff()


__all__ = [
    "AbstractBackoff", "ConstantBackoff", "NoBackoff", "ExponentialBackoff",
    "FullJitterBackoff", "EqualJitterBackoff", "DecorrelatedJitterBackoff",
    "ExponentialWithJitterBackoff", "default_backoff", "DEFAULT_CAP", "DEFAULT_BASE",
]
