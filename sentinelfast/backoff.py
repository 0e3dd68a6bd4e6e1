"""Backoff strategies for :class:`sentinelfast.retry.Retry` (redis-py's ``redis.backoff``).

``compute(failures)`` returns the seconds to wait before the next attempt; ``failures``
counts from 1. The retry loop calls ``reset()`` once per operation and ``compute`` only
after a failure.

The strategies are implemented in C (``sentinelfast._core``); the C retry loop calls
them directly, without Python method calls. They keep redis-py's API: constructor
arguments, ``compute``/``reset``, equality and hashing, and the private attributes
(``_cap``, ``_base``, ``_backoff``, ``_previous_backoff``). They can be subclassed, and
are virtual subclasses of :class:`AbstractBackoff`, which a user-defined strategy
written in Python derives from.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

from . import _core

#: Longest delay of the capped strategies, in seconds.
DEFAULT_CAP = 0.512
#: First (shortest) delay of the capped strategies, in seconds.
DEFAULT_BASE = 0.008


class AbstractBackoff(ABC):
    """Interface of a backoff strategy.

    Derive from it to write a strategy in Python: implement :meth:`compute`, and
    :meth:`reset` when the strategy keeps state between failures.
    """

    def reset(self) -> None:
        """Forget state kept between failures of one operation.

        Called once at the beginning of every retried operation.
        """

    @abstractmethod
    def compute(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure."""


#: Always wait ``backoff`` seconds.
ConstantBackoff = _core.ConstantBackoff
#: Retry at once (a :class:`ConstantBackoff` of 0).
NoBackoff = _core.NoBackoff
#: ``min(cap, base * 2**failures)``.
ExponentialBackoff = _core.ExponentialBackoff
#: A uniform draw between 0 and ``min(cap, base * 2**failures)``.
FullJitterBackoff = _core.FullJitterBackoff
#: Half of ``min(cap, base * 2**failures)`` plus a uniform draw over the other half.
EqualJitterBackoff = _core.EqualJitterBackoff
#: ``min(cap, uniform(base, max(base, 3 * previous)))``; ``reset()`` forgets ``previous``.
DecorrelatedJitterBackoff = _core.DecorrelatedJitterBackoff
#: ``min(cap, random() * base * 2**failures)`` (redis-py 8's client default).
ExponentialWithJitterBackoff = _core.ExponentialWithJitterBackoff

for _cls in (ConstantBackoff, NoBackoff, ExponentialBackoff, FullJitterBackoff,
             EqualJitterBackoff, DecorrelatedJitterBackoff, ExponentialWithJitterBackoff):
    AbstractBackoff.register(_cls)
del _cls


def default_backoff() -> "EqualJitterBackoff":
    """redis-py's default: :class:`EqualJitterBackoff` with the default cap and base."""
    return EqualJitterBackoff()


__all__ = [
    "AbstractBackoff", "ConstantBackoff", "NoBackoff", "ExponentialBackoff",
    "FullJitterBackoff", "EqualJitterBackoff", "DecorrelatedJitterBackoff",
    "ExponentialWithJitterBackoff", "default_backoff", "DEFAULT_CAP", "DEFAULT_BASE",
]
