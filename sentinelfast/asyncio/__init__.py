"""sentinelfast.asyncio: the asyncio client, mirroring ``redis.asyncio`` and
``redis.asyncio.sentinel`` (first part).

What works: :class:`Redis` (every command of ``redis.asyncio.Redis``, ``from_url``,
``from_pool``, ``aclose``, ``async with``), its :class:`Pipeline` (transactions,
WATCH), :class:`PubSub`, the async :class:`Connection`,
:class:`UnixDomainSocketConnection`, :class:`ConnectionPool` and
:class:`BlockingConnectionPool` they run on (the event loop owns the socket; the C
core encodes commands, parses replies and judges the handshake), and
:class:`Sentinel` / :class:`SentinelConnectionPool` /
:class:`SentinelManagedConnection`, which follow the same failover monitor as the
sync client (commands held, awaited, during a failover); TLS with redis-py's
``ssl_*`` keywords (:class:`SSLConnection`). Not yet: RESP3.

The other names of ``redis.asyncio`` that are not tied to a connection
(``default_backoff`` and, with redis-py 8.1 and later, ``Subscription`` and the
keyspace notification helpers, which take any async client) are redis-py's own, re-exported;
``RedisCluster`` is not (sentinelfast is a Sentinel client).
"""
import redis.asyncio as _redis_asyncio
from redis.backoff import default_backoff

from ..exceptions import (
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    BusyLoadingError,
    ChildDeadlockedError,
    ConnectionError,
    DataError,
    InvalidResponse,
    OutOfMemoryError,
    PubSubError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TimeoutError,
    WatchError,
)
from .client import Pipeline, PubSub, Redis, StrictRedis
from .connection import (
    BlockingConnectionPool,
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
)
from .sentinel import (
    MasterNotFoundError,
    ReplicaNotFoundError,
    Sentinel,
    SentinelConnectionPool,
    SentinelManagedConnection,
    SentinelManagedSSLConnection,
    SlaveNotFoundError,
)


# redis-py's own, where the installed release has them (8.1 and later)
_REEXPORTED_NAMES = ("Subscription", "AsyncKeyspaceNotifications",
                     "AsyncKeyspaceNotificationsInterface")
for _name in _REEXPORTED_NAMES:
    if hasattr(_redis_asyncio, _name):
        globals()[_name] = getattr(_redis_asyncio, _name)


def from_url(url: str, **kwargs: object) -> Redis:
    """A :class:`Redis` client for a ``redis://``, ``rediss://`` or ``unix://`` URL."""
    return Redis.from_url(url, **kwargs)  # type: ignore[arg-type]


__all__ = [
    "AuthenticationError",
    "AuthenticationWrongNumberOfArgsError",
    "BlockingConnectionPool",
    "BusyLoadingError",
    "ChildDeadlockedError",
    "Connection",
    "ConnectionError",
    "ConnectionPool",
    "DataError",
    "InvalidResponse",
    "OutOfMemoryError",
    "Pipeline",
    "PubSubError",
    "PubSub",
    "ReadOnlyError",
    "MasterNotFoundError",
    "ReplicaNotFoundError",
    "Sentinel",
    "SentinelConnectionPool",
    "SentinelManagedConnection",
    "SentinelManagedSSLConnection",
    "SSLConnection",
    "SlaveNotFoundError",
    "Redis",
    "RedisError",
    "ResponseError",
    "StrictRedis",
    "TimeoutError",
    "UnixDomainSocketConnection",
    "WatchError",
    "default_backoff",
    "from_url",
] + [_name for _name in _REEXPORTED_NAMES if _name in globals()]
