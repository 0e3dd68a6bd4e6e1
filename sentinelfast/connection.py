"""Connections and connection pools, with redis-py's names, keywords and defaults.

The work is done by the C types in ``sentinelfast._core``; the classes here turn
redis-py's keyword arguments into the native ones.
"""
from __future__ import annotations

import copy
import logging
from typing import Any, Iterable, Mapping, Optional, Type

from . import _core
from .backoff import NoBackoff
from .exceptions import TimeoutError
from .retry import Retry

logger = logging.getLogger(__name__)

DEFAULT_SOCKET_TIMEOUT = 5
DEFAULT_SOCKET_CONNECT_TIMEOUT = DEFAULT_SOCKET_TIMEOUT

_DEFAULT = object()   # "argument not given", where None has a meaning of its own

# Keywords redis-py accepts that change nothing here (the parser, buffer sizes,
# RESP2-only features, driver metadata).
_ACCEPTED_AND_IGNORED = frozenset({
    "parser_class", "socket_read_size", "socket_type", "lib_name", "lib_version",
    "driver_info", "redis_connect_func", "legacy_responses", "command_packer",
    "event_dispatcher", "maint_notifications_config", "maint_notifications_pool_handler",
    "oss_cluster_maint_notifications_handler", "connection_pool",
})


def _connection_retry(retry: Optional[Retry], retry_on_error, retry_on_timeout: bool) -> Retry:
    """The policy a connection runs under, built as redis-py builds it."""
    errors = [] if retry_on_error in (None, _DEFAULT) else list(retry_on_error)
    if retry_on_timeout:
        errors.append(TimeoutError)
    if retry is None and not errors:
        return Retry(NoBackoff(), 0)
    policy = Retry(NoBackoff(), 1) if retry is None else copy.deepcopy(retry)
    if errors:
        policy.update_supported_errors(errors)
    return policy


class Connection(_core.Connection):
    """A TCP connection to one Redis server (redis-py's ``Connection``).

    Sockets, the handshake (AUTH, CLIENT SETNAME, SELECT in one round trip), RESP
    encoding and reply parsing run in C. Use through a pool or a client.
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        password: Optional[str] = None,
        socket_timeout: Optional[float] = DEFAULT_SOCKET_TIMEOUT,
        socket_connect_timeout: Optional[float] = DEFAULT_SOCKET_CONNECT_TIMEOUT,
        socket_keepalive: bool = True,
        socket_keepalive_options: Optional[Mapping[int, int]] = _DEFAULT,  # type: ignore[assignment]
        retry_on_timeout: bool = False,
        retry_on_error: Optional[Iterable[Type[Exception]]] = _DEFAULT,  # type: ignore[assignment]
        encoding: str = "utf-8",
        encoding_errors: str = "strict",
        decode_responses: bool = False,
        health_check_interval: float = 0,
        client_name: Optional[str] = None,
        username: Optional[str] = None,
        retry: Optional[Retry] = None,
        credential_provider: Any = None,
        protocol: Optional[int] = None,
        unix_socket_path: Optional[str] = None,
        address_provider: Any = None,
        **ignored: Any,
    ) -> None:
        _check_ignored(ignored)
        if protocol not in (None, 2, "2"):
            raise ValueError("sentinelfast speaks RESP2: protocol must be 2 or None")
        if credential_provider is not None and (username or password):
            raise ValueError("'username' and 'password' cannot be passed along with "
                             "'credential_provider'.")
        if socket_connect_timeout is None:
            socket_connect_timeout = socket_timeout
        if socket_keepalive_options is _DEFAULT:
            socket_keepalive_options = None      # the C layer applies redis-py's defaults
        elif socket_keepalive_options is not None:
            socket_keepalive_options = dict(socket_keepalive_options)
        self.retry_on_timeout = retry_on_timeout
        self.retry_on_error = [] if retry_on_error in (None, _DEFAULT) else list(retry_on_error)
        self.socket_keepalive_options = socket_keepalive_options or {}
        self.credential_provider = credential_provider
        super().__init__(
            host=host,
            port=int(port),
            db=int(db),
            username=username,
            password=password,
            client_name=client_name,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_connect_timeout,
            socket_keepalive=bool(socket_keepalive),
            socket_keepalive_options=socket_keepalive_options,
            encoding=encoding,
            encoding_errors=encoding_errors,
            decode_responses=bool(decode_responses),
            health_check_interval=float(health_check_interval or 0),
            unix_socket_path=unix_socket_path,
            retry=_connection_retry(retry, retry_on_error, retry_on_timeout),
            credential_provider=credential_provider,
            address_provider=address_provider,
        )

    def __del__(self) -> None:  # the C dealloc closes the socket; nothing to send
        pass

    def get_protocol(self) -> int:
        """The RESP version spoken (always 2)."""
        return 2


class UnixDomainSocketConnection(Connection):
    """A connection over a unix domain socket (redis-py's ``UnixDomainSocketConnection``)."""

    def __init__(self, path: str = "", socket_timeout: Optional[float] = DEFAULT_SOCKET_TIMEOUT,
                 **kwargs: Any) -> None:
        self.path = path
        super().__init__(unix_socket_path=path, socket_timeout=socket_timeout, **kwargs)


def _check_ignored(ignored: Mapping[str, Any]) -> None:
    unknown = set(ignored) - _ACCEPTED_AND_IGNORED
    if any(k.startswith("ssl") for k in unknown) and ignored.get("ssl", True):
        raise ValueError("ssl=True: TLS connections are not supported by sentinelfast (yet)")
    if unknown:
        name = sorted(unknown)[0]
        raise TypeError(f"Connection() got an unexpected keyword argument {name!r}")


class ConnectionPool(_core.Pool):
    """A thread-safe, fork-safe pool of connections (redis-py's ``ConnectionPool``).

    Hands out the most recently used idle connection first. Creating more than
    ``max_connections`` (default 100) raises :class:`MaxConnectionsError`.
    """

    def __init__(self, connection_class: type = Connection, max_connections: Optional[int] = None,
                 **connection_kwargs: Any) -> None:
        max_connections = max_connections or 100
        if not isinstance(max_connections, int) or max_connections < 0:
            raise ValueError('"max_connections" must be a positive integer')
        super().__init__(connection_class, connection_kwargs, max_connections)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> "ConnectionPool":
        """A pool for ``redis://``, ``rediss://`` or ``unix://`` URLs (see redis-py)."""
        from .url import parse_url

        url_options = parse_url(url)
        if "connection_class" in kwargs:
            url_options["connection_class"] = kwargs["connection_class"]
        kwargs.update(url_options)
        return cls(**kwargs)

    def __repr__(self) -> str:
        conn = ", ".join(f"{k}={v}" for k, v in self.connection_kwargs.items()
                         if k in ("host", "port", "db", "path"))
        return f"<{type(self).__module__}.{type(self).__name__}({conn})>"

    def __enter__(self) -> "ConnectionPool":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.disconnect()

    def close(self) -> None:
        """Close every connection of the pool."""
        self.disconnect()

    def get_encoder(self):
        """An object with redis-py's ``Encoder`` attributes for this pool's settings."""
        from types import SimpleNamespace

        kw = self.connection_kwargs
        return SimpleNamespace(encoding=kw.get("encoding", "utf-8"),
                               encoding_errors=kw.get("encoding_errors", "strict"),
                               decode_responses=kw.get("decode_responses", False))

    def get_protocol(self) -> int:
        """The RESP version spoken (always 2)."""
        return 2

    @property
    def pid(self) -> int:
        import os

        return os.getpid()


class BlockingConnectionPool(ConnectionPool):
    """A pool that waits up to ``timeout`` seconds for a free connection
    (redis-py's ``BlockingConnectionPool``; ``timeout=None`` waits forever) and then
    raises ``ConnectionError("No connection available.")``."""

    def __init__(self, max_connections: int = 50, timeout: Optional[float] = 20,
                 connection_class: type = Connection, queue_class: Any = None,
                 **connection_kwargs: Any) -> None:
        if not isinstance(max_connections, int) or max_connections < 0:
            raise ValueError('"max_connections" must be a positive integer')
        _core.Pool.__init__(self, connection_class, connection_kwargs, max_connections,
                            True, timeout)


__all__ = ["Connection", "UnixDomainSocketConnection", "ConnectionPool",
           "BlockingConnectionPool"]
