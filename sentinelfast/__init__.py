"""sentinelfast: a fast, failover-safe Redis Sentinel client with a C core.

A drop-in for redis-py's Sentinel support::

    from sentinelfast import Sentinel          # instead of: from redis.sentinel import Sentinel

    sentinel = Sentinel([("10.0.0.1", 26379), ("10.0.0.2", 26379)], socket_timeout=0.5)
    master = sentinel.master_for("mymaster")
    master.set("key", "value")

For code you do not own (a framework that builds ``redis.sentinel.Sentinel`` itself),
``sentinelfast.install()``, called first thing, puts sentinelfast's classes behind
``redis.sentinel`` (see :mod:`sentinelfast.patch_redis`).

The library logs through the ``sentinelfast`` logger hierarchy (failover events at INFO,
what an operator must act on at WARNING) and adds only a ``NullHandler``: nothing is
printed unless the application configures logging.
"""
import logging as _logging

# A library never decides where log records go: without this, Python's last-resort
# handler would print WARNING records on stderr for applications that configured nothing.
_logging.getLogger("sentinelfast").addHandler(_logging.NullHandler())

from . import exceptions  # noqa: E402  (after the handler: imports may log)
from .client import Pipeline, Redis, StrictRedis
from .connection import (
    BlockingConnectionPool,
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
)
from .exceptions import (
    AuthenticationError,
    AuthorizationError,
    BusyLoadingError,
    ConnectionError,
    DataError,
    InvalidResponse,
    MaxConnectionsError,
    OutOfMemoryError,
    PubSubError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TimeoutError,
    WatchError,
)
from .patch_redis import install, uninstall
from .retry import Retry
from .sentinel import (
    MasterNotFoundError,
    ReplicaNotFoundError,
    Sentinel,
    SentinelConnectionPool,
    SentinelEvent,
    SentinelManagedConnection,
    SentinelManagedSSLConnection,
    SlaveNotFoundError,
)

from ._version import __version__  # noqa: E402


def from_url(url: str, **kwargs) -> Redis:
    """A :class:`Redis` client for ``url`` (``redis://``, ``rediss://``, ``unix://``)."""
    return Redis.from_url(url, **kwargs)


__all__ = [
    "Sentinel", "SentinelConnectionPool", "SentinelManagedConnection",
    "SentinelManagedSSLConnection", "SSLConnection",
    "MasterNotFoundError", "SlaveNotFoundError", "ReplicaNotFoundError", "SentinelEvent",
    "Redis", "StrictRedis", "Pipeline", "Connection", "UnixDomainSocketConnection",
    "ConnectionPool", "BlockingConnectionPool", "Retry", "from_url", "exceptions",
    "RedisError", "ConnectionError", "TimeoutError", "AuthenticationError",
    "AuthorizationError", "BusyLoadingError", "DataError", "InvalidResponse",
    "MaxConnectionsError", "OutOfMemoryError", "PubSubError", "ReadOnlyError",
    "ResponseError", "WatchError", "install", "uninstall",
]
