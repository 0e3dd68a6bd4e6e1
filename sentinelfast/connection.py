"""Connections and connection pools, with redis-py's names, keywords and defaults.

The work is done by the C types in ``sentinelfast._core``; the classes here turn
redis-py's keyword arguments into the native ones.
"""
from __future__ import annotations

import copy
import functools
import logging
import os
import threading
import time
import weakref
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Type

import redis.connection
import redis.sentinel
from redis.client import PubSub as _RedisPyPubSub
from redis.connection import Encoder   # redis-py's own: its helpers get what they expect

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
    "oss_cluster_maint_notifications_handler", "connection_pool", "himport_registry",
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


@functools.lru_cache(maxsize=None)
def _redis_py_clock_offset_needed() -> bool:
    """Whether the installed redis-py compares ``next_health_check`` with the wall clock
    (``time.time()``: redis-py 5.x) rather than ``time.monotonic()`` (redis-py 6 on)."""
    names = _RedisPyPubSub.check_health.__code__.co_names
    return "monotonic" not in names and "time" in names


def _clock_offset() -> float:
    """What to add to a monotonic time to get it on redis-py's health-check clock."""
    if _redis_py_clock_offset_needed():
        return time.time() - time.monotonic()
    return 0.0


# redis-py's own connection classes, by the name of sentinelfast's equivalent.
_REDIS_PY_CLASSES = {
    redis.connection.Connection: "Connection",
    redis.connection.SSLConnection: "SSLConnection",
    redis.connection.UnixDomainSocketConnection: "UnixDomainSocketConnection",
    redis.sentinel.SentinelManagedConnection: "SentinelManagedConnection",
    redis.sentinel.SentinelManagedSSLConnection: "SentinelManagedSSLConnection",
}


def _native_equivalent(connection_class: type) -> Optional[type]:
    """sentinelfast's class for one of redis-py's own connection classes, else None."""
    name = _REDIS_PY_CLASSES.get(connection_class)
    if name is None:
        return None
    if name.startswith("Sentinel"):
        from . import sentinel

        return getattr(sentinel, name)
    return globals()[name]


def _replace_redis_py_bases(cls: type) -> None:
    """Put sentinelfast's equivalents in place of redis-py's connection classes among
    the direct bases of ``cls`` (a subclass of sentinelfast's Connection)."""
    bases = cls.__bases__
    native = tuple(_native_equivalent(base) or base for base in bases)
    if native == bases:
        return
    # a base named twice (redis.Connection next to ours) is named once, and a base that
    # another one derives from (our Connection next to redis.SSLConnection) is left out
    unique = tuple(base for i, base in enumerate(native) if base not in native[:i])
    unique = tuple(base for base in unique
                   if not any(other is not base and issubclass(other, base) for other in unique))
    try:
        cls.__bases__ = unique
    except TypeError as e:
        raise TypeError(
            f"{cls.__module__}.{cls.__qualname__} mixes sentinelfast's and redis-py's "
            f"connection classes, and redis-py's cannot be replaced: {e}") from None
    logger.debug("%s.%s: redis-py's connection bases replaced by sentinelfast's: %s",
                 cls.__module__, cls.__qualname__, ", ".join(b.__qualname__ for b in unique))


# The methods after which the C layer may have closed the connection itself (an I/O or
# protocol failure): a subclass that overrides ``disconnect`` hears of it through a call
# to its ``disconnect``, as redis-py's connections call theirs.
_MAY_CLOSE = ("connect", "send_command", "send_packed_command", "read_response", "can_read",
              "check_health")


def _tells_disconnect(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: "Connection", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            if not self.is_connected:
                self.disconnect()
            raise
    call._tells_disconnect = True  # type: ignore[attr-defined]
    return call


class Connection(_core.Connection):
    """A TCP connection to one Redis server (redis-py's ``Connection``).

    Sockets, the handshake (AUTH, CLIENT SETNAME, SELECT in one round trip), RESP
    encoding and reply parsing run in C. Use through a pool or a client.

    A subclass may override ``disconnect`` (kombu does, to unregister the socket from
    its poller): it is then also called when a failure closed the connection, as in
    redis-py.

    A subclass that also names one of redis-py's connection classes as a base (kombu's
    TLS Sentinel connection is ``SentinelManagedConnection`` + ``redis.SSLConnection``)
    gets sentinelfast's equivalent in its place: ``class C(SentinelManagedConnection,
    redis.SSLConnection)`` is a ``SentinelManagedConnection`` and sentinelfast's
    ``SSLConnection``, with redis-py's classes out of its MRO.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _replace_redis_py_bases(cls)
        if "disconnect" in cls.__dict__:
            for name in _MAY_CLOSE:
                method = getattr(cls, name)
                if not getattr(method, "_tells_disconnect", False):
                    setattr(cls, name, _tells_disconnect(method))

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

    # -- redis-py's Connection interface beyond commands (PubSub, Monitor, Lock, Script,
    #    frameworks that drive connections themselves)

    @property
    def next_health_check(self) -> float:
        """When the next command PINGs first, on the clock redis-py's PubSub compares
        it with (``time.monotonic()``; ``time.time()`` under redis-py 5)."""
        return _core.Connection.next_health_check.__get__(self) + _clock_offset()  # type: ignore[attr-defined]

    @next_health_check.setter
    def next_health_check(self, value: float) -> None:
        _core.Connection.next_health_check.__set__(self, value - _clock_offset())  # type: ignore[attr-defined]

    @property
    def encoder(self) -> Encoder:
        """A ``redis.connection.Encoder`` for this connection's encoding settings."""
        encoder = self.__dict__.get("_encoder")
        if encoder is None:
            encoder = Encoder(self.encoding, self.encoding_errors, self.decode_responses)
            self.__dict__["_encoder"] = encoder
        return encoder

    def register_connect_callback(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(connection)`` after every (re)connect. As in redis-py the
        callback must be a bound method, and it is held by a weak reference."""
        ref = weakref.WeakMethod(callback)
        callbacks = self._connect_callbacks
        if ref not in callbacks:
            callbacks.append(ref)

    def deregister_connect_callback(self, callback: Callable[[Any], None]) -> None:
        """Stop calling a callback given to :meth:`register_connect_callback`."""
        try:
            self._connect_callbacks.remove(weakref.WeakMethod(callback))
        except ValueError:
            pass

    def clear_connect_callbacks(self) -> None:
        """Forget every connect callback."""
        self._connect_callbacks.clear()

    # redis-py before 5.0.2 called them by these names
    _register_connect_callback = register_connect_callback
    _deregister_connect_callback = deregister_connect_callback

    @property
    def _sock(self) -> Optional["SocketHandle"]:
        """The live socket as pollers need it (an object with ``fileno()``, the same
        one until the connection closes), or None when disconnected. Do not read or
        write through it: the connection owns the stream."""
        fd = self._fileno
        if fd < 0:
            return None
        key = (self._connects, fd)
        cached = self.__dict__.get("_sock_handle")
        if cached is None or cached[0] != key:
            cached = (key, SocketHandle(self, key))
            self.__dict__["_sock_handle"] = cached
        return cached[1]

    def set_re_auth_token(self, token: Any) -> None:
        """Remember a renewed token to AUTH with at :meth:`re_auth` (redis-py)."""
        self.__dict__["_re_auth_token"] = token

    def re_auth(self) -> None:
        """AUTH with the token given to :meth:`set_re_auth_token`, if any (redis-py)."""
        token = self.__dict__.pop("_re_auth_token", None)
        if token is not None:
            self.send_command("AUTH", token.try_get("oid"), token.get_value())
            self.read_response()

    def __repr__(self) -> str:
        pieces = ",".join(f"{name}={value}" for name, value in self.repr_pieces())
        return f"<{type(self).__module__}.{type(self).__qualname__}({pieces})>"

    def repr_pieces(self) -> List[Tuple[str, Any]]:
        """The (name, value) pairs of ``repr()`` (redis-py's)."""
        if self.unix_socket_path is not None:
            pieces: List[Tuple[str, Any]] = [("path", self.unix_socket_path), ("db", self.db)]
        else:
            pieces = [("host", self.host), ("port", self.port), ("db", self.db)]
        if self.client_name:
            pieces.append(("client_name", self.client_name))
        return pieces

    def extract_connection_details(self) -> str:
        """A line for debug logs: where the connection goes (redis-py's)."""
        fd = self._fileno
        if fd < 0:
            return "not connected"
        import socket

        try:
            with socket.socket(fileno=os.dup(fd)) as sock:
                local = sock.getsockname()
                peer = sock.getpeername()
        except OSError:
            return "connected"
        local_port = local[1] if isinstance(local, tuple) else local
        peer_ip = peer[0] if isinstance(peer, tuple) else peer
        return f"connected to ip {peer_ip}, local socket port: {local_port}"


class SocketHandle:
    """``connection._sock``: the descriptor of a connection's socket, for event loops
    that poll it (kombu registers ``client.connection._sock`` with its poller).

    Like a closed ``socket.socket``, it answers ``fileno()`` with -1 once the socket it
    stands for is closed: a poller that unregisters it then gets ValueError (which kombu
    ignores), never EBADF for a descriptor closed meanwhile, nor the registration of
    another socket that reuses the number."""

    __slots__ = ("_connection", "_key")

    def __init__(self, connection: "Connection", key: Tuple[int, int]) -> None:
        self._connection = weakref.ref(connection)
        self._key = key          # (connects, fd) when it was made

    def fileno(self) -> int:
        """The socket's descriptor, or -1 once it is closed."""
        connection = self._connection()
        if connection is None or (connection._connects, connection._fileno) != self._key:
            return -1
        return self._key[1]

    def __repr__(self) -> str:
        return f"<sentinelfast socket fd={self.fileno()}>"


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


def native_connection_class(connection_class: Any) -> Any:
    """sentinelfast's class for one of redis-py's own connection classes (a pool given
    ``redis.sentinel.SentinelManagedConnection`` by a framework makes sentinelfast's);
    any other class or factory as it is. A *subclass* of a redis-py connection class
    cannot run on sentinelfast's core: TypeError at once, rather than at the first
    command."""
    if not isinstance(connection_class, type) or issubclass(connection_class, _core.Connection):
        return connection_class
    native = _native_equivalent(connection_class)
    if native is not None:
        return native
    if issubclass(connection_class, redis.connection.AbstractConnection):
        raise TypeError(
            f"connection_class {connection_class.__module__}.{connection_class.__qualname__} "
            "derives from redis-py's connection classes; sentinelfast's pools need "
            "sentinelfast's (for code you do not own, put sentinelfast in place before "
            "that code is imported)")
    return connection_class


def _speak_resp2(connection_kwargs: Dict[str, Any]) -> None:
    """Say ``protocol=2`` in the pool's keywords when none was chosen: redis-py's
    clients read it there to pick their reply callbacks, and redis-py 8 assumes RESP3
    when it is missing; sentinelfast's connections speak RESP2."""
    if connection_kwargs.get("protocol") is None:
        connection_kwargs["protocol"] = 2


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
        connection_class = native_connection_class(connection_class)
        _speak_resp2(connection_kwargs)
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

    def get_encoder(self) -> Encoder:
        """A ``redis.connection.Encoder`` for this pool's encoding settings (what
        redis-py's Script, Lock and PubSub encode and decode with)."""
        kw = self.connection_kwargs
        return Encoder(encoding=kw.get("encoding", "utf-8"),
                       encoding_errors=kw.get("encoding_errors", "strict"),
                       decode_responses=kw.get("decode_responses", False))

    def set_retry(self, retry: Retry) -> None:
        """Use ``retry`` for new connections and for those already made, idle or in
        use (redis-py's ``ConnectionPool.set_retry``)."""
        self.connection_kwargs["retry"] = retry
        for connection in self._available_connections:
            connection.retry = retry
        for connection in self._in_use_connections:
            connection.retry = retry

    def re_auth_callback(self, token: Any) -> None:
        """A streaming credential provider renewed its token (redis-py calls this):
        idle connections close now and in-use ones when they come back; each
        reconnects with the provider's current credentials."""
        self._retire_connections()

    #: redis-py's client-side cache (RESP3 only): never set here.
    cache = None

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
        connection_class = native_connection_class(connection_class)
        _speak_resp2(connection_kwargs)
        _core.Pool.__init__(self, connection_class, connection_kwargs, max_connections,
                            True, timeout)


__all__ = ["Connection", "SSLConnection", "UnixDomainSocketConnection", "ConnectionPool",
           "BlockingConnectionPool", "tls_context"]
