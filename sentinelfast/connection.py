"""Connections and connection pools, with redis-py's names, keywords and defaults.

The work is done by the C types in ``sentinelfast._core``; the classes here turn
redis-py's keyword arguments into the native ones.
"""
from __future__ import annotations

import copy
import logging
import threading
from typing import Any, Dict, Iterable, Mapping, Optional, Type

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
        tls: Optional[_core.TLSContext] = None,
        server_hostname: Optional[str] = None,
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
            tls=tls,
            server_hostname=server_hostname,
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


# redis-py's TLS keywords that sentinelfast does not implement: refused when set,
# never silently ignored.
_UNSUPPORTED_SSL = ("ssl_validate_ocsp", "ssl_validate_ocsp_stapled", "ssl_ocsp_context",
                    "ssl_ocsp_expected_cert")

_tls_contexts: Dict[Any, _core.TLSContext] = {}
_tls_contexts_lock = threading.Lock()


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(int(v) for v in value)
    return value


def tls_context(
    ssl_keyfile: Optional[str] = None,
    ssl_certfile: Optional[str] = None,
    ssl_cert_reqs: Any = "required",
    ssl_include_verify_flags: Optional[Iterable[Any]] = None,
    ssl_exclude_verify_flags: Optional[Iterable[Any]] = None,
    ssl_ca_certs: Optional[str] = None,
    ssl_ca_data: Any = None,
    ssl_check_hostname: bool = True,
    ssl_ca_path: Optional[str] = None,
    ssl_password: Any = None,
    ssl_min_version: Any = None,
    ssl_ciphers: Optional[str] = None,
    **unsupported: Any,
) -> _core.TLSContext:
    """The :class:`_core.TLSContext` for redis-py's ``ssl_*`` keywords (same names,
    defaults and meaning as ``redis.connection.SSLConnection``).

    One context is made per distinct set of settings and shared by every connection
    that uses it; files are read at the first connect. ``ssl_validate_ocsp*`` and
    ``ssl_ocsp_*`` (OCSP) are not supported: setting one raises ValueError. An
    unknown keyword raises TypeError.
    """
    for name in _UNSUPPORTED_SSL:
        if unsupported.pop(name, None):
            raise ValueError(f"{name}: OCSP validation is not supported by sentinelfast")
    if unsupported:
        raise TypeError(f"unexpected TLS keyword argument {sorted(unsupported)[0]!r}")
    settings = dict(certfile=ssl_certfile, keyfile=ssl_keyfile, password=ssl_password,
                    cert_reqs=ssl_cert_reqs, ca_certs=ssl_ca_certs, ca_path=ssl_ca_path,
                    ca_data=ssl_ca_data, check_hostname=bool(ssl_check_hostname),
                    min_version=None if ssl_min_version is None else int(ssl_min_version),
                    ciphers=ssl_ciphers, include_verify_flags=ssl_include_verify_flags,
                    exclude_verify_flags=ssl_exclude_verify_flags)
    try:
        key: Any = tuple(sorted((k, _freeze(v)) for k, v in settings.items()))
        hash(key)
    except (TypeError, ValueError):
        key = None          # not hashable (or bad flags): no sharing; TLSContext says what is wrong
    if key is not None:
        with _tls_contexts_lock:
            context = _tls_contexts.get(key)
        if context is not None:
            return context
    context = _core.TLSContext(**settings)
    if key is not None:
        with _tls_contexts_lock:
            context = _tls_contexts.setdefault(key, context)
    return context


def tls_context_from_kwargs(kwargs: Mapping[str, Any]) -> Optional[_core.TLSContext]:
    """The TLSContext that keyword arguments such as ``Sentinel(sentinel_kwargs=...)``
    ask for (``ssl=True`` with ``ssl_*`` keywords), or None when ``ssl`` is not set."""
    if not kwargs.get("ssl"):
        return None
    return tls_context(**{k: v for k, v in kwargs.items() if k.startswith("ssl_")})


def _check_ignored(ignored: Mapping[str, Any]) -> None:
    unknown = set(ignored) - _ACCEPTED_AND_IGNORED
    if ignored.get("ssl"):
        raise ValueError("ssl=True needs SSLConnection (Redis(ssl=True) and rediss:// URLs "
                         "select it)")
    # ssl=False (or absent) with ssl_* keywords: TLS is off, the keywords say nothing
    unknown = {k for k in unknown if k != "ssl" and not k.startswith("ssl_")}
    if unknown:
        name = sorted(unknown)[0]
        raise TypeError(f"Connection() got an unexpected keyword argument {name!r}")


class SSLConnection(Connection):
    """A TLS connection to one Redis server (redis-py's ``SSLConnection``).

    Takes redis-py's ``ssl_*`` keywords (see :func:`tls_context`) besides the
    ``Connection`` ones; ``ssl_check_hostname`` (default True, ignored when
    ``ssl_cert_reqs`` is ``"none"``) checks the certificate against the host dialled.
    TLS runs in C through OpenSSL.
    """

    def __init__(
        self,
        ssl_keyfile: Optional[str] = None,
        ssl_certfile: Optional[str] = None,
        ssl_cert_reqs: Any = "required",
        ssl_include_verify_flags: Optional[Iterable[Any]] = None,
        ssl_exclude_verify_flags: Optional[Iterable[Any]] = None,
        ssl_ca_certs: Optional[str] = None,
        ssl_ca_data: Any = None,
        ssl_check_hostname: bool = True,
        ssl_ca_path: Optional[str] = None,
        ssl_password: Any = None,
        ssl_validate_ocsp: bool = False,
        ssl_validate_ocsp_stapled: bool = False,
        ssl_ocsp_context: Any = None,
        ssl_ocsp_expected_cert: Optional[str] = None,
        ssl_min_version: Any = None,
        ssl_ciphers: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("ssl", None)
        tls = tls_context(
            ssl_keyfile=ssl_keyfile, ssl_certfile=ssl_certfile, ssl_cert_reqs=ssl_cert_reqs,
            ssl_include_verify_flags=ssl_include_verify_flags,
            ssl_exclude_verify_flags=ssl_exclude_verify_flags, ssl_ca_certs=ssl_ca_certs,
            ssl_ca_data=ssl_ca_data, ssl_check_hostname=ssl_check_hostname,
            ssl_ca_path=ssl_ca_path, ssl_password=ssl_password,
            ssl_validate_ocsp=ssl_validate_ocsp,
            ssl_validate_ocsp_stapled=ssl_validate_ocsp_stapled,
            ssl_ocsp_context=ssl_ocsp_context, ssl_ocsp_expected_cert=ssl_ocsp_expected_cert,
            ssl_min_version=ssl_min_version, ssl_ciphers=ssl_ciphers)
        # redis-py's attribute names
        self.keyfile = ssl_keyfile
        self.certfile = ssl_certfile
        self.cert_reqs = tls.cert_reqs
        self.ca_certs = ssl_ca_certs
        self.ca_data = ssl_ca_data
        self.ca_path = ssl_ca_path
        self.check_hostname = tls.check_hostname
        self.certificate_password = ssl_password
        self.ssl_min_version = ssl_min_version
        self.ssl_ciphers = ssl_ciphers
        self.ssl_include_verify_flags = ssl_include_verify_flags
        self.ssl_exclude_verify_flags = ssl_exclude_verify_flags
        super().__init__(tls=tls, **kwargs)


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


__all__ = ["Connection", "SSLConnection", "UnixDomainSocketConnection", "ConnectionPool",
           "BlockingConnectionPool", "tls_context"]
