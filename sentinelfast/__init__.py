"""sentinelfast: a fast, failover-safe Redis Sentinel client with a C core.

A drop-in for redis-py's Sentinel support::

    from sentinelfast import Sentinel          # instead of: from redis.sentinel import Sentinel

    sentinel = Sentinel([("10.0.0.1", 26379), ("10.0.0.2", 26379)], socket_timeout=0.5)
    master = sentinel.master_for("mymaster")
    master.set("key", "value")
"""
from . import exceptions
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

__version__ = "0.1.0"


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
    "ResponseError", "WatchError",
]
