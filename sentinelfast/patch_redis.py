"""Put sentinelfast behind ``redis.sentinel`` and ``redis.asyncio.sentinel`` for code the
application does not own.

Libraries and frameworks (kombu/Celery, django-redis, RQ, ...) build their Sentinel client
from redis-py's module: ``redis.sentinel.Sentinel(...)``, or ``from redis.sentinel import
Sentinel`` inside a function. :func:`install` replaces, in ``redis.sentinel`` and in the
``redis`` package, the names

    ``Sentinel``, ``SentinelConnectionPool``, ``SentinelManagedConnection``,
    ``SentinelManagedSSLConnection``

with sentinelfast's classes, and the same names in ``redis.asyncio.sentinel`` and the
``redis.asyncio`` package with :mod:`sentinelfast.asyncio`'s, so that such code (blocking
or asyncio) gets sentinelfast without a change (a
class that such code builds at import from ``SentinelManagedConnection`` and redis-py's
``SSLConnection``, as kombu does for TLS, gets sentinelfast's ``SSLConnection`` in place of
redis-py's: see ``sentinelfast.connection.Connection``);
:func:`uninstall` puts redis-py's classes back. The exception classes are not replaced:
sentinelfast's ``MasterNotFoundError`` and the others subclass redis-py's, so
``except redis.sentinel.MasterNotFoundError`` (or ``redis.asyncio.sentinel``'s) already
catches them.
"""
from __future__ import annotations

import logging
import sys
import threading
from types import ModuleType
from typing import Any, Dict, List, Tuple

logger = logging.getLogger("sentinelfast.patch_redis")

#: The names replaced in ``redis.sentinel`` (and in ``redis``, which re-exports them), and in
#: ``redis.asyncio.sentinel`` (and ``redis.asyncio``).
REPLACED_NAMES = ("Sentinel", "SentinelConnectionPool", "SentinelManagedConnection",
                  "SentinelManagedSSLConnection")

_lock = threading.Lock()
# (module name, attribute) -> (what was there before install(), what install() put
# there), while installed
_saved: Dict[Tuple[str, str], Tuple[Any, Any]] = {}


def _targets() -> List[Tuple[ModuleType, ModuleType]]:
    """(redis-py module, the sentinelfast module whose classes replace its names)."""
    import redis
    import redis.asyncio
    import redis.asyncio.sentinel
    import redis.sentinel

    from . import asyncio as ours_async
    from . import sentinel as ours

    return [(redis.sentinel, ours), (redis, ours),
            (redis.asyncio.sentinel, ours_async), (redis.asyncio, ours_async)]


def install() -> None:
    """Make ``redis.sentinel.Sentinel`` (and ``SentinelConnectionPool``,
    ``SentinelManagedConnection``, ``SentinelManagedSSLConnection``; the same names in
    the ``redis`` package) sentinelfast's classes, and the same names in
    ``redis.asyncio.sentinel`` and ``redis.asyncio`` those of :mod:`sentinelfast.asyncio`.

    Call it first thing, before the code that uses Sentinel is imported: a name that
    module already bound with ``from redis.sentinel import Sentinel`` (or ``from redis
    import Sentinel``) before the call keeps redis-py's class. Code that looks the name
    up at call time (``redis.sentinel.Sentinel(...)``, or the ``from`` import inside a
    function) gets sentinelfast's. The same holds for ``redis.asyncio.sentinel``.

    Idempotent (a second call does nothing) and thread-safe. Logged at INFO.
    """
    targets = _targets()
    with _lock:
        if _saved:
            return
        for module, ours in targets:
            for name in REPLACED_NAMES:
                if hasattr(module, name):
                    _saved[(module.__name__, name)] = (getattr(module, name), getattr(ours, name))
                    setattr(module, name, getattr(ours, name))
    logger.info("sentinelfast installed behind redis.sentinel and redis.asyncio.sentinel: %s",
                ", ".join(REPLACED_NAMES))


def uninstall() -> None:
    """Put back what :func:`install` replaced. A name that was changed again after
    :func:`install` (by someone else) is left as it is. Idempotent, thread-safe, logged
    at INFO."""
    with _lock:
        if not _saved:
            return
        for (module_name, name), (previous, ours) in _saved.items():
            module = sys.modules.get(module_name)
            if module is not None and getattr(module, name, None) is ours:
                setattr(module, name, previous)
        _saved.clear()
    logger.info("sentinelfast removed from behind redis.sentinel and redis.asyncio.sentinel: "
                "redis-py's classes restored")


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    with _lock:
        return bool(_saved)


__all__ = ["install", "uninstall", "installed", "REPLACED_NAMES"]
