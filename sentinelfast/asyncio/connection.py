"""Async connections and the async connection pool, with redis-py's names, keywords
and defaults (``redis.asyncio.connection``).

A connection is an :class:`asyncio.BufferedProtocol`: the loop reads into one reused
buffer per connection, fed to the C reply reader (``_core.Reader``); commands are encoded in C
(``_core.encode_command``) and written in one ``transport.write``; the handshake
(AUTH, CLIENT SETNAME, SELECT) is the sync client's ``_core.Handshake``. No I/O runs
in C: the event loop owns the socket.

A command that is cancelled or times out while its reply is owed closes the
connection: it is never used again with a reply in flight.
"""
from __future__ import annotations

import asyncio
import collections
import copy
import inspect
import logging
import math
import os
import socket
import ssl
import sys
import weakref
from typing import Any, Awaitable, Callable, Deque, Iterable, List, Optional, Type

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.connection import Encoder

from .. import _core
from . import _after_fork
from ..exceptions import (
    ConnectionError,
    InvalidResponse,
    MaxConnectionsError,
    RedisError,
    TimeoutError,
)

if sys.version_info >= (3, 11):
    from asyncio import timeout as _timeout
else:   # redis-py depends on async-timeout before 3.11.3; it raises asyncio.TimeoutError
    from async_timeout import timeout as _timeout  # type: ignore[import-not-found]

logger = logging.getLogger(__name__)

DEFAULT_SOCKET_TIMEOUT = 5
DEFAULT_SOCKET_CONNECT_TIMEOUT = DEFAULT_SOCKET_TIMEOUT

_DEFAULT = object()

# Keywords redis-py's async connections accept that change nothing here.
_ACCEPTED_AND_IGNORED = frozenset({
    "parser_class", "socket_read_size", "socket_type", "lib_name", "lib_version",
    "driver_info", "redis_connect_func", "legacy_responses", "command_packer",
    "event_dispatcher", "maint_notifications_config", "maint_notifications_pool_handler",
    "oss_cluster_maint_notifications_handler", "connection_pool", "himport_registry",
    "encoder_class", "maintenance_state", "maintenance_notification_hash",
    "orig_host_address", "orig_socket_timeout", "orig_socket_connect_timeout",
})

_CLOSED_BY_SERVER = "Connection closed by server."


def _connection_retry(retry: Optional[Retry], retry_on_error: Any,
                      retry_on_timeout: bool) -> Retry:
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


def _fresh(error: BaseException) -> BaseException:
    """A new exception like ``error`` (the failure of a connection is raised to every
    reader that finds it; each gets its own instance and traceback)."""
    try:
        return type(error)(*error.args)
    except Exception:
        return ConnectionError(str(error))


def _decode(reply: Any, encoding: str, errors: str) -> Any:
    """A raw reply with its bulk and status strings decoded (decode_responses)."""
    if isinstance(reply, bytes):
        return reply.decode(encoding, errors)
    if isinstance(reply, list):
        return [_decode(item, encoding, errors) for item in reply]
    return reply


# The read buffer of a connection: 16 KiB at first, 4 times larger (up to 256 KiB) each
# time one read fills it, so that connections that get large replies read them in few
# calls and the others hold little memory.
_READ_SIZE = 16 * 1024
_READ_SIZE_MAX = 256 * 1024


class _ReplyProtocol(asyncio.BufferedProtocol):
    """The loop's side of one connection: bytes in go to the C reader, complete
    replies wait in a queue for ``read_response``.

    A buffered protocol: the loop reads into one buffer of the connection's, reused
    (no bytes object allocated per read; it grows while reads fill it), and the reader
    copies what was read.

    Read timeouts cost no timer per command: one timer per connection fires at the
    deadline of the wait in progress when it was armed; it then expires that wait if
    its deadline passed, or re-arms itself for the deadline of the wait now in
    progress, or stops when none is. Commands that complete well within
    ``socket_timeout`` (all of them, normally) never touch the loop's timer heap.

    Writes: ``pause_writing`` / ``resume_writing`` (the transport's buffer above / back
    under its high-water mark) are followed, so a writer can wait for the buffer to
    drain (:meth:`Connection._drain`)."""

    __slots__ = ("transport", "replies", "reader", "error", "paused", "_loop", "_waiter",
                 "_deadline", "_timer", "_timer_when", "_drain_waiters", "_buffer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.transport: Optional[asyncio.Transport] = None
        self.replies: Deque[Any] = collections.deque()
        self.reader = _core.Reader()
        self.error: Optional[BaseException] = None   # set once the connection is gone
        self.paused = False     # the transport's write buffer is above its high-water mark
        self._loop = loop
        self._waiter: Optional[asyncio.Future] = None
        self._deadline: Optional[float] = None      # of the wait in progress (None: none)
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_when = 0.0
        self._drain_waiters: List[asyncio.Future] = []
        self._buffer: Optional[memoryview] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        buffer = self._buffer
        if buffer is None:
            # A memoryview, not the bytearray: asyncio's TLS transport fills the rest of
            # the buffer through buf[offset:], which must be a view, not a copy.
            buffer = self._buffer = memoryview(bytearray(_READ_SIZE))
        return buffer

    def buffer_updated(self, nbytes: int) -> None:
        buffer = self._buffer
        self.data_received(buffer, nbytes)
        size = len(buffer)  # type: ignore[arg-type]
        if nbytes == size and size < _READ_SIZE_MAX:
            self._buffer = memoryview(bytearray(size * 4))

    def data_received(self, data: Any, nbytes: int = -1) -> None:
        reader = self.reader
        replies = self.replies
        try:
            reader.feed(data, 0, nbytes)
            while True:
                reply = reader.gets()
                if reply is False:
                    break
                replies.append(reply)
        except Exception as exc:  # InvalidResponse (protocol error), MemoryError
            error = exc if isinstance(exc, InvalidResponse) else InvalidResponse(str(exc))
            self._fail(error)
            if self.transport is not None:
                self.transport.abort()
            return
        if replies:
            waiter = self._waiter
            if waiter is not None:
                self._waiter = None
                if not waiter.done():
                    waiter.set_result(None)

    def eof_received(self) -> bool:
        return False        # close the transport: the server is gone

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if exc is None:
            self._fail(ConnectionError(_CLOSED_BY_SERVER))
        else:
            self._fail(ConnectionError(f"Error while reading from socket: {exc}"))

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake_drainers()

    def _wake_drainers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.stop_timer()
        self._wake()
        self._wake_drainers()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def stop_timer(self) -> None:
        """Cancel the read timer (the connection is closing)."""
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()

    def wait(self, timeout: Optional[float]) -> asyncio.Future:
        """A future done when a reply is queued or the connection failed; it fails
        with ``asyncio.TimeoutError`` if ``timeout`` seconds (None: no limit) pass
        first. Awaited by one reader at a time."""
        loop = self._loop
        waiter = loop.create_future()
        self._waiter = waiter
        if timeout is None:
            self._deadline = None
            return waiter
        deadline = loop.time() + timeout
        self._deadline = deadline
        timer = self._timer
        if timer is None or deadline < self._timer_when:
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(deadline, self._on_timer)
            self._timer_when = deadline
        return waiter

    def _on_timer(self) -> None:
        self._timer = None
        waiter, deadline = self._waiter, self._deadline
        if waiter is None or deadline is None or waiter.done():
            return      # no wait in progress: the next one arms the timer again
        loop = self._loop
        if loop.time() >= deadline - _TIMER_SLACK:
            self._waiter = None
            waiter.set_exception(asyncio.TimeoutError())
        else:
            self._timer = loop.call_at(deadline, self._on_timer)
            self._timer_when = deadline


# A timer may run this much before its time (the loop's clock resolution and rounding).
_TIMER_SLACK = 1e-6


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_exception(asyncio.TimeoutError())


# The methods the client's short paths (``Redis.execute_command``, ``Pipeline``) stand
# in for: a subclass that overrides one of them (a Sentinel connection's failover hold,
# its READONLY check) is driven through them instead.
_SHORT_PATH_METHODS = ("send_command", "send_packed_command", "read_response", "_read_raw",
                       "_read_many", "_write")


class Connection:
    """An async connection to one Redis server (redis-py's
    ``redis.asyncio.Connection``): TCP, or a unix socket with ``unix_socket_path``
    (see :class:`UnixDomainSocketConnection`)."""

    # True when this class keeps every method in _SHORT_PATH_METHODS as defined here:
    # the client may then write commands and take replies on it directly.
    _short_path = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._short_path = all(getattr(cls, name) is getattr(Connection, name)
                              for name in _SHORT_PATH_METHODS)

    def __init__(
        self,
        *,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        password: Optional[str] = None,
        socket_timeout: Optional[float] = DEFAULT_SOCKET_TIMEOUT,
        socket_connect_timeout: Optional[float] = DEFAULT_SOCKET_CONNECT_TIMEOUT,
        socket_keepalive: bool = True,
        socket_keepalive_options: Any = _DEFAULT,
        retry_on_timeout: bool = False,
        retry_on_error: Any = _DEFAULT,
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
        **ignored: Any,
    ) -> None:
        unknown = set(ignored) - _ACCEPTED_AND_IGNORED
        if ignored.get("ssl"):
            raise ValueError("ssl=True needs SSLConnection (Redis(ssl=True) and rediss:// "
                             "URLs select it)")
        unknown = {k for k in unknown if k != "ssl" and not k.startswith("ssl_")}
        if unknown:
            raise TypeError(f"Connection() got an unexpected keyword argument "
                            f"{sorted(unknown)[0]!r}")
        if protocol not in (None, 2, "2"):
            raise ValueError("sentinelfast speaks RESP2: protocol must be 2 or None")
        if credential_provider is not None and (username or password):
            raise ValueError("'username' and 'password' cannot be passed along with "
                             "'credential_provider'.")
        if int(port) < 0 or int(port) > 65535:
            raise ValueError("port must be in 0..65535")
        if db is None or int(db) < 0:
            raise ValueError("db must be a non-negative integer")
        # Checked now: an unknown codec raises LookupError here, as in redis-py.
        "".encode(encoding, encoding_errors)
        self.host = host
        self.port = int(port)
        self.db = int(db)
        self.username = username
        self.password = password
        self.client_name = client_name
        self.credential_provider = credential_provider
        self.unix_socket_path = unix_socket_path
        self.socket_timeout = socket_timeout
        self.socket_connect_timeout = (socket_timeout if socket_connect_timeout is None
                                       else socket_connect_timeout)
        self.socket_keepalive = bool(socket_keepalive)
        self.socket_keepalive_options = ({} if socket_keepalive_options in (None, _DEFAULT)
                                         else dict(socket_keepalive_options))
        self.retry_on_timeout = retry_on_timeout
        self.retry_on_error = [] if retry_on_error in (None, _DEFAULT) else list(retry_on_error)
        self.retry = _connection_retry(retry, retry_on_error, retry_on_timeout)
        self.encoding = encoding
        self.encoding_errors = encoding_errors
        self.decode_responses = bool(decode_responses)
        self.encoder = Encoder(encoding, encoding_errors, self.decode_responses)
        # _core.encode_command's defaults: the short path calls it without keywords
        self._utf8_strict = (encoding.lower().replace("_", "-") in ("utf-8", "utf8")
                             and encoding_errors == "strict")
        self.health_check_interval = float(health_check_interval or 0)
        self.next_health_check: float = -1
        self.protocol = 2
        self.pid = os.getpid()
        self._protocol: Optional[_ReplyProtocol] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._connect_callbacks: List[weakref.WeakMethod] = []
        self._should_reconnect = False
        self._connects = 0

    # -- state

    @property
    def is_connected(self) -> bool:
        """True while the transport is open."""
        proto = self._protocol
        return proto is not None and proto.error is None

    def get_protocol(self) -> int:
        """The RESP version spoken (always 2)."""
        return 2

    def __repr__(self) -> str:
        pieces = ",".join(f"{name}={value}" for name, value in self.repr_pieces())
        return f"<{type(self).__module__}.{type(self).__qualname__}({pieces})>"

    def repr_pieces(self) -> List[tuple]:
        """The (name, value) pairs of ``repr()`` (redis-py's)."""
        if self.unix_socket_path is not None:
            pieces = [("path", self.unix_socket_path), ("db", self.db)]
        else:
            pieces = [("host", self.host), ("port", self.port), ("db", self.db)]
        if self.client_name:
            pieces.append(("client_name", self.client_name))
        return pieces

    def _where(self) -> str:
        if self.unix_socket_path is not None:
            return self.unix_socket_path
        return f"{self.host}:{self.port}"

    # -- connect callbacks (redis-py: bound methods, held weakly; may be coroutines)

    def register_connect_callback(self, callback: Callable[[Any], Any]) -> None:
        """Call ``callback(connection)`` (awaited if it returns an awaitable) after
        every (re)connect; held by a weak reference, as in redis-py."""
        ref = weakref.WeakMethod(callback)
        if ref not in self._connect_callbacks:
            self._connect_callbacks.append(ref)

    def deregister_connect_callback(self, callback: Callable[[Any], Any]) -> None:
        """Stop calling a callback given to :meth:`register_connect_callback`."""
        try:
            self._connect_callbacks.remove(weakref.WeakMethod(callback))
        except ValueError:
            pass

    def clear_connect_callbacks(self) -> None:
        """Forget every connect callback."""
        self._connect_callbacks.clear()

    def mark_for_reconnect(self) -> None:
        """Ask for a reconnect after the current command (redis-py)."""
        self._should_reconnect = True

    def should_reconnect(self) -> bool:
        """True if :meth:`mark_for_reconnect` was called since the last connect."""
        return self._should_reconnect

    def reset_should_reconnect(self) -> None:
        """Forget a :meth:`mark_for_reconnect`."""
        self._should_reconnect = False

    # -- connect / disconnect

    async def connect(self) -> None:
        """Connect and run the handshake, unless already connected."""
        if self.is_connected:
            return
        self._close()
        loop = asyncio.get_running_loop()
        proto = _ReplyProtocol(loop)
        try:
            async with _timeout(self.socket_connect_timeout):
                await self._open_transport(loop, proto)
        except (asyncio.TimeoutError, TimeoutError):
            self._abort(proto)
            raise TimeoutError("Timeout connecting to server") from None
        except OSError as exc:
            self._abort(proto)
            raise ConnectionError(self._connect_error(exc)) from exc
        except BaseException:
            self._abort(proto)
            raise
        self._protocol = proto
        self._loop = loop
        self.pid = os.getpid()
        self._should_reconnect = False
        if self.unix_socket_path is None:
            self._set_socket_options(proto)
        try:
            await self.on_connect()
        except BaseException:
            self._close()
            raise
        self._connects += 1
        for ref in list(self._connect_callbacks):
            callback = ref()
            if callback is None:
                continue
            result = callback(self)
            if result is not None and inspect.isawaitable(result):
                await result

    async def _open_transport(self, loop: asyncio.AbstractEventLoop,
                              proto: _ReplyProtocol) -> None:
        """Open the socket with ``proto`` as its protocol."""
        if self.unix_socket_path is not None:
            await loop.create_unix_connection(lambda: proto, self.unix_socket_path)
        else:
            await loop.create_connection(lambda: proto, self.host, self.port)

    def _connect_error(self, exc: OSError) -> str:
        if exc.errno is None or not exc.strerror:
            return f"Error connecting to {self._where()}. {exc}."
        return f"Error {exc.errno} connecting to {self._where()}. {exc.strerror}."

    def _set_socket_options(self, proto: _ReplyProtocol) -> None:
        sock = proto.transport.get_extra_info("socket") if proto.transport else None
        if sock is None:
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.socket_keepalive:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                for option, value in self.socket_keepalive_options.items():
                    sock.setsockopt(socket.IPPROTO_TCP, option, value)
        except OSError as exc:
            self._close()
            raise ConnectionError(f"Error setting socket options on {self._where()}: "
                                  f"{exc}") from exc

    async def _credentials(self) -> tuple:
        provider = self.credential_provider
        if provider is None:
            return self.username, self.password
        get_async = getattr(provider, "get_credentials_async", None)
        creds = await get_async() if get_async is not None else provider.get_credentials()
        if len(creds) == 1:
            return None, creds[0]
        return creds[0], creds[1]

    async def on_connect(self) -> None:
        """The handshake (AUTH, CLIENT SETNAME, SELECT) in one write, judged by the
        same C code as the sync client's."""
        username, password = await self._credentials()
        check_role = self._check_role()
        handshake = _core.Handshake(username=username, password=password,
                                    client_name=self.client_name, db=self.db,
                                    check_role=check_role, encoding=self.encoding,
                                    encoding_errors=self.encoding_errors)
        count = handshake.reply_count
        if not count:
            return
        self._write(handshake.commands)
        replies = [await self._read_raw(self.socket_timeout) for _ in range(count)]
        if handshake.check(replies) == _core.HANDSHAKE_NOT_MASTER:
            self._close()
            await self._not_master()

    # -- hooks for subclasses (asked by the generic methods and the client's short paths)

    def _before_command(self) -> Optional[Awaitable[None]]:
        """An awaitable to finish before a command is written (a Sentinel master pool's
        failover hold), or None to write at once."""
        return None

    def _error_reply(self, reply: BaseException) -> BaseException:
        """The exception to raise for an error reply read on this connection (a
        Sentinel master connection turns READONLY into ConnectionError and closes)."""
        return reply

    def _check_role(self) -> bool:
        """Whether the handshake asks ROLE and requires a master (Sentinel master
        connections)."""
        return False

    async def _not_master(self) -> None:
        """ROLE said the server is not a master (only asked when :meth:`_check_role`)."""
        raise ConnectionError(f"{self._where()} is not a master")

    def _abort(self, proto: _ReplyProtocol) -> None:
        transport = proto.transport
        if transport is not None and not transport.is_closing():
            transport.abort()

    def _close(self) -> None:
        """Close the transport now (no await; safe from ``__del__`` and callbacks)."""
        proto = self._protocol
        self._protocol = None
        if proto is None:
            return
        if proto.error is None:
            proto.error = ConnectionError(_CLOSED_BY_SERVER)
        try:
            proto.stop_timer()
        except RuntimeError:    # the loop closed under us
            pass
        transport = proto.transport
        if transport is None or transport.is_closing():
            return
        loop = self._loop
        if loop is not None and loop.is_closed():
            return      # the transport closes its socket when collected
        try:
            transport.abort()
        except RuntimeError:    # the loop closed under us
            pass

    async def disconnect(self, nowait: bool = False, error: Any = None,
                         failure_count: Any = None, health_check_failed: bool = False) -> None:
        """Close the connection (redis-py's arguments are accepted)."""
        self._close()

    def __del__(self) -> None:
        try:
            self._close()
        except Exception:
            pass

    # -- writing

    def _write(self, data: Any) -> _ReplyProtocol:
        """Hand ``data`` (bytes, or a list of bytes) to the transport; the protocol
        (its ``paused`` says whether the writer must :meth:`_drain`)."""
        proto = self._protocol
        if proto is None or proto.error is not None:
            error = proto.error if proto is not None else None
            self._close()
            raise ConnectionError(str(error) if error else _CLOSED_BY_SERVER)
        transport = proto.transport
        if isinstance(data, (list, tuple)):
            transport.writelines(data)  # type: ignore[union-attr]
        else:
            transport.write(data)  # type: ignore[union-attr]
        return proto

    def _lost(self) -> BaseException:
        """Close a connection whose transport failed; the exception to raise (each
        caller gets its own instance)."""
        proto = self._protocol
        error = proto.error if proto is not None else None
        self._close()
        return _fresh(error) if error is not None else ConnectionError(_CLOSED_BY_SERVER)

    async def _drain(self, proto: _ReplyProtocol) -> None:
        """Wait until the transport's write buffer is back under its high-water mark,
        at most ``socket_timeout`` seconds. A write that times out (or is cancelled)
        closes the connection: a command is partly written, the stream is lost.
        TimeoutError("Timeout writing to socket") as in redis-py."""
        loop = proto._loop
        while proto.paused and proto.error is None:
            waiter = loop.create_future()
            proto._drain_waiters.append(waiter)
            timeout = self.socket_timeout
            timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
            try:
                await waiter
            except asyncio.TimeoutError:
                self._close()
                raise TimeoutError("Timeout writing to socket") from None
            except asyncio.CancelledError:
                self._close()
                raise
            finally:
                if timer is not None:
                    timer.cancel()
        if proto.error is not None:
            error = proto.error
            self._close()
            raise _fresh(error)

    def pack_command(self, *args: Any) -> List[bytes]:
        """One command encoded to RESP (a list of one bytes)."""
        return [_core.encode_command(*args, encoding=self.encoding, errors=self.encoding_errors)]

    def pack_commands(self, commands: Iterable[Iterable[Any]]) -> List[bytes]:
        """Many commands encoded to RESP in one bytes (a list of one)."""
        encoding, errors = self.encoding, self.encoding_errors
        return [b"".join([_core.encode_command(*args, encoding=encoding, errors=errors)
                          for args in commands])]

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        """Send already encoded bytes (one buffer or a list of buffers); waits (up to
        ``socket_timeout``) while the transport's buffer is full."""
        gate = self._before_command()
        if gate is not None:
            await gate
        if not self.is_connected:
            await self.connect()
        elif check_health and self.health_check_interval:
            await self.check_health()
        try:
            proto = self._write(command)
        except BaseException:
            self._close()
            raise
        if proto.paused:
            await self._drain(proto)

    async def send_command(self, *args: Any, **kwargs: Any) -> None:
        """Encode and send one command (connecting first if needed); waits (up to
        ``socket_timeout``) while the transport's buffer is full."""
        gate = self._before_command()
        if gate is not None:
            await gate
        proto = self._protocol
        if proto is None or proto.error is not None:
            await self.connect()
        elif self.health_check_interval and kwargs.get("check_health", True):
            await self.check_health()
        proto = self._write(_core.encode_command(*args, encoding=self.encoding,
                                                 errors=self.encoding_errors))
        if proto.paused:
            await self._drain(proto)

    # -- reading

    async def _read_raw(self, timeout: Optional[float], explicit: bool = False,
                        disconnect_on_error: bool = True) -> Any:
        """The next reply as the reader gave it (error replies as instances).
        ``timeout`` None waits for ever. When it passes: None if the caller chose it
        (``explicit``; the reply stays owed), else TimeoutError."""
        proto = self._protocol
        if proto is None:
            raise ConnectionError(_CLOSED_BY_SERVER)
        replies = proto.replies
        if not replies:
            try:
                while not replies:
                    if proto.error is not None:
                        error = proto.error
                        self._close()
                        raise _fresh(error)
                    await proto.wait(timeout)
            except asyncio.TimeoutError:
                if explicit:
                    return None
                if disconnect_on_error:
                    self._close()
                raise TimeoutError(f"Timeout reading from {self._where()}") from None
            except asyncio.CancelledError:
                self._close()       # a reply is owed: never reuse this stream
                raise
        return replies.popleft()

    async def _read_many(self, count: int) -> List[Any]:
        """The next ``count`` replies as the reader gave them (error replies as
        instances). Each wait for more is bounded by ``socket_timeout`` (as redis-py
        bounds each reply's read); a timeout or cancellation closes the connection."""
        proto = self._protocol
        if proto is None:
            raise ConnectionError(_CLOSED_BY_SERVER)
        replies = proto.replies
        if len(replies) < count:
            timeout = self.socket_timeout
            try:
                while len(replies) < count:
                    if proto.error is not None:
                        error = proto.error
                        self._close()
                        raise _fresh(error)
                    await proto.wait(timeout)
            except asyncio.TimeoutError:
                self._close()
                raise TimeoutError(f"Timeout reading from {self._where()}") from None
            except asyncio.CancelledError:
                self._close()
                raise
        pop = replies.popleft
        return [pop() for _ in range(count)]

    async def _exchange_many(self, commands: List[tuple]) -> List[Any]:
        """Send ``commands`` in one write and return their raw replies (error replies
        as exception instances, each as :meth:`_error_reply` makes it), connecting
        first if needed (pipelines)."""
        gate = self._before_command()
        if gate is not None:
            await gate
        proto = self._protocol
        if proto is None or proto.error is not None:
            await self.connect()
        encoding, errors = self.encoding, self.encoding_errors
        encode = _core.encode_command
        data = b"".join([encode(*args, encoding=encoding, errors=errors) for args in commands])
        proto = self._write(data)
        if proto.paused:
            await self._drain(proto)
        replies = await self._read_many(len(commands))
        if type(self)._error_reply is not Connection._error_reply:
            for i, reply in enumerate(replies):
                if isinstance(reply, Exception):
                    replies[i] = self._error_reply(reply)
        return replies

    async def read_response(self, disable_decoding: bool = False,
                            timeout: Optional[float] = None,
                            *, disconnect_on_error: bool = True,
                            push_request: Optional[bool] = False) -> Any:
        """Read one reply; an error reply is raised. ``timeout`` (redis-py's rules):
        None uses ``socket_timeout`` (TimeoutError when it passes, and the connection
        is closed unless ``disconnect_on_error`` is false); a number of seconds
        returns None when it passes; ``math.inf`` waits for ever."""
        if timeout is None:
            reply = await self._read_raw(self.socket_timeout, False, disconnect_on_error)
        else:
            reply = await self._read_raw(None if timeout == math.inf else timeout, True,
                                         disconnect_on_error)
            if reply is None:
                return None
        if self.health_check_interval:
            self.next_health_check = (asyncio.get_running_loop().time()
                                      + self.health_check_interval)
        if isinstance(reply, Exception):    # ResponseError, BusyLoadingError (LOADING)
            raise self._error_reply(reply)
        if self.decode_responses and not disable_decoding:
            return _decode(reply, self.encoding, self.encoding_errors)
        return reply

    async def can_read_destructive(self) -> bool:
        """True if a reply (or part of one) has arrived; ConnectionError if the server
        closed the connection."""
        if not self.is_connected:
            await self.connect()
        proto = self._protocol
        assert proto is not None    # connected
        if not proto.replies and not proto.reader.has_data():
            await asyncio.sleep(0)      # let the loop deliver what the socket holds
        if proto.replies or proto.reader.has_data():
            return True
        if proto.error is not None:
            error = proto.error
            self._close()
            raise _fresh(error)
        return False

    # -- health

    async def check_health(self) -> None:
        """PING if idle longer than ``health_check_interval`` (redis-py)."""
        if (self.health_check_interval
                and asyncio.get_running_loop().time() > self.next_health_check):
            await self.retry.call_with_retry(self._send_ping, self._ping_failed)

    async def _send_ping(self) -> None:
        await self.send_command("PING", check_health=False)
        reply = await self.read_response()
        if reply not in (b"PONG", "PONG"):
            raise ConnectionError("Bad response from PING health check")

    async def _ping_failed(self, error: Exception) -> None:
        await self.disconnect()


_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL,
              "required": ssl.CERT_REQUIRED}

# redis-py's OCSP keywords: not implemented, refused when set (never silently ignored).
_UNSUPPORTED_SSL = ("ssl_validate_ocsp", "ssl_validate_ocsp_stapled", "ssl_ocsp_context",
                    "ssl_ocsp_expected_cert")


class TLSSettings:
    """redis-py's ``ssl_*`` settings and the :class:`ssl.SSLContext` made from them at
    the first connect (asyncio's TLS runs on Python's ``ssl`` module)."""

    def __init__(self, keyfile: Optional[str] = None, certfile: Optional[str] = None,
                 cert_reqs: Any = "required", include_verify_flags: Any = None,
                 exclude_verify_flags: Any = None, ca_certs: Optional[str] = None,
                 ca_data: Any = None, check_hostname: bool = True,
                 min_version: Any = None, ciphers: Optional[str] = None,
                 password: Any = None, ca_path: Optional[str] = None) -> None:
        if cert_reqs is None:
            cert_reqs = ssl.CERT_NONE
        elif isinstance(cert_reqs, str):
            if cert_reqs.lower() not in _CERT_REQS:
                raise RedisError(f"Invalid SSL Certificate Requirements Flag: {cert_reqs}")
            cert_reqs = _CERT_REQS[cert_reqs.lower()]
        self.cert_reqs = ssl.VerifyMode(cert_reqs)
        self.check_hostname = bool(check_hostname) and self.cert_reqs != ssl.CERT_NONE
        self.keyfile, self.certfile, self.password = keyfile, certfile, password
        self.ca_certs, self.ca_data, self.ca_path = ca_certs, ca_data, ca_path
        self.include_verify_flags = list(include_verify_flags or ())
        self.exclude_verify_flags = list(exclude_verify_flags or ())
        self.min_version = min_version
        self.ciphers = ciphers
        self._context: Optional[ssl.SSLContext] = None

    def get(self) -> ssl.SSLContext:
        """The SSLContext (built on first use; ConnectionError if a file is missing
        or bad)."""
        if self._context is None:
            try:
                self._context = self._build()
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise ConnectionError(f"TLS settings could not be loaded: {exc}") from exc
        return self._context

    def _build(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = self.check_hostname
        context.verify_mode = self.cert_reqs
        for flag in self.include_verify_flags:
            context.verify_flags |= flag
        for flag in self.exclude_verify_flags:
            context.verify_flags &= ~flag
        if self.certfile:
            context.load_cert_chain(self.certfile, self.keyfile, self.password)
        if self.ca_certs or self.ca_data or self.ca_path:
            context.load_verify_locations(self.ca_certs, self.ca_path, self.ca_data)
        elif self.cert_reqs != ssl.CERT_NONE:
            context.load_default_certs()
        context.minimum_version = (ssl.TLSVersion.TLSv1_2 if self.min_version is None
                                   else self.min_version)
        if self.ciphers:
            context.set_ciphers(self.ciphers)
        return context


class SSLConnection(Connection):
    """An async TLS connection (redis-py's ``redis.asyncio.SSLConnection``), with
    redis-py's ``ssl_*`` keywords, names and defaults; ``ssl_check_hostname`` (on
    unless ``ssl_cert_reqs`` is ``"none"``) checks the certificate against the host
    dialled. OCSP keywords are refused (ValueError)."""

    def __init__(self, ssl_keyfile: Optional[str] = None, ssl_certfile: Optional[str] = None,
                 ssl_cert_reqs: Any = "required", ssl_include_verify_flags: Any = None,
                 ssl_exclude_verify_flags: Any = None, ssl_ca_certs: Optional[str] = None,
                 ssl_ca_data: Any = None, ssl_ca_path: Optional[str] = None,
                 ssl_check_hostname: bool = True, ssl_min_version: Any = None,
                 ssl_ciphers: Optional[str] = None, ssl_password: Any = None,
                 **kwargs: Any) -> None:
        for name in _UNSUPPORTED_SSL:
            if kwargs.pop(name, None):
                raise ValueError(f"{name}: OCSP validation is not supported by sentinelfast")
        kwargs.pop("ssl", None)
        self.ssl_context = TLSSettings(
            keyfile=ssl_keyfile, certfile=ssl_certfile, cert_reqs=ssl_cert_reqs,
            include_verify_flags=ssl_include_verify_flags,
            exclude_verify_flags=ssl_exclude_verify_flags, ca_certs=ssl_ca_certs,
            ca_data=ssl_ca_data, check_hostname=ssl_check_hostname,
            min_version=ssl_min_version, ciphers=ssl_ciphers, password=ssl_password,
            ca_path=ssl_ca_path)
        super().__init__(**kwargs)

    async def _open_transport(self, loop: asyncio.AbstractEventLoop,
                              proto: _ReplyProtocol) -> None:
        settings = self.ssl_context
        await loop.create_connection(
            lambda: proto, self.host, self.port, ssl=settings.get(),
            server_hostname=self.host if settings.check_hostname else None)


# redis-py's SSLConnection shows its TLS settings as read-only attributes
for _name in ("keyfile", "certfile", "cert_reqs", "include_verify_flags",
              "exclude_verify_flags", "ca_certs", "ca_data", "check_hostname",
              "min_version"):
    setattr(SSLConnection, _name,
            property(lambda self, _name=_name: getattr(self.ssl_context, _name)))  # type: ignore[misc]


class UnixDomainSocketConnection(Connection):
    """An async connection over a unix domain socket (redis-py's
    ``UnixDomainSocketConnection``)."""

    def __init__(self, *, path: str = "", **kwargs: Any) -> None:
        kwargs.pop("socket_keepalive", None)
        kwargs.pop("socket_keepalive_options", None)
        kwargs.pop("host", None)
        kwargs.pop("port", None)
        self.path = path
        super().__init__(unix_socket_path=path, **kwargs)


class ConnectionPool:
    """A LIFO pool of async connections (redis-py's ``redis.asyncio.ConnectionPool``).

    ``get_connection`` connects the connection it hands out; ``release`` gives it
    back. More than ``max_connections`` in use raises MaxConnectionsError.
    """

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> "ConnectionPool":
        """A pool for ``redis://``, ``rediss://`` or ``unix://`` URLs (redis-py's
        rules)."""
        from ..url import parse_url

        url_options = parse_url(url)
        url_class = url_options.pop("connection_class", None)
        if "connection_class" not in kwargs:
            name = getattr(url_class, "__name__", "")
            if name == "UnixDomainSocketConnection":
                kwargs["connection_class"] = UnixDomainSocketConnection
            elif name == "SSLConnection":
                kwargs["connection_class"] = SSLConnection
        kwargs.update(url_options)
        return cls(**kwargs)

    def __init__(self, connection_class: Type[Connection] = Connection,
                 max_connections: Optional[int] = None,
                 maint_notifications_config: Any = None,  # redis-py's; not implemented
                 **connection_kwargs: Any) -> None:
        max_connections = max_connections or 2**31
        if not isinstance(max_connections, int) or max_connections < 0:
            raise ValueError('"max_connections" must be a positive integer')
        self.connection_class = connection_class
        self.connection_kwargs = connection_kwargs
        self.max_connections = max_connections
        self._available_connections: List[Connection] = []
        self._in_use_connections: set = set()
        self._created_connections = 0
        self.encoder_class = Encoder
        _after_fork.track(self)     # a child process after fork() forgets the connections

    def __repr__(self) -> str:
        conn = ", ".join(f"{k}={v}" for k, v in self.connection_kwargs.items()
                         if k in ("host", "port", "db", "path"))
        return f"<{type(self).__module__}.{type(self).__name__}({conn})>"

    def reset(self) -> None:
        """Forget every connection (without closing them)."""
        self._available_connections = []
        self._in_use_connections = set()
        self._created_connections = 0

    def can_get_connection(self) -> bool:
        """True if a connection is idle or another may be made."""
        return bool(self._available_connections) or (
            self._created_connections < self.max_connections)

    def make_connection(self) -> Connection:
        """A new connection counted against ``max_connections``."""
        if self._created_connections >= self.max_connections:
            raise MaxConnectionsError("Too many connections")
        self._created_connections += 1
        return self.connection_class(**self.connection_kwargs)

    def _take(self) -> Connection:
        """An idle connection (most recently used first) or a new one, marked in
        use, not necessarily connected (its first command connects it)."""
        if self._available_connections:
            connection = self._available_connections.pop()
        else:
            connection = self.make_connection()
        self._in_use_connections.add(connection)
        return connection

    async def get_connection(self, command_name: Any = None, *keys: Any,
                             **options: Any) -> Connection:
        """Take a connection (most recently used first), connected under its
        retry policy."""
        return await self._connected(self._take())

    async def _connected(self, connection: Connection) -> Connection:
        """``connection``, taken by :meth:`_take`, connected under its retry policy;
        released again if that fails."""
        try:
            if not connection.is_connected:
                await connection.retry.call_with_retry(connection.connect,
                                                       connection.disconnect)  # type: ignore[arg-type]
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def release(self, connection: Connection) -> None:
        """Give a connection back; one still owing replies or not from this pool is
        closed (a cancelled command closes its connection itself)."""
        self._put_back(connection)

    def _put_back(self, connection: Connection) -> None:
        """:meth:`release` without an await (the client's short path uses it when
        ``release`` is this class's own)."""
        try:
            self._in_use_connections.remove(connection)
        except KeyError:
            return      # not ours (or released twice)
        proto = connection._protocol
        if proto is not None and (proto.replies or proto.reader.has_data()):
            connection._close()     # unread replies: the stream is out of step
        self._available_connections.append(connection)

    def owns_connection(self, connection: Connection) -> bool:
        """True if the connection was made in this process."""
        return getattr(connection, "pid", None) == os.getpid()

    async def disconnect(self, inuse_connections: bool = True) -> None:
        """Close the idle connections, and the in-use ones unless told not to."""
        connections: List[Connection] = list(self._available_connections)
        if inuse_connections:
            connections.extend(self._in_use_connections)
        for connection in connections:
            await connection.disconnect()

    async def aclose(self) -> None:
        """Close every connection of the pool."""
        await self.disconnect()

    async def __aenter__(self) -> "ConnectionPool":
        return self

    async def __aexit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        await self.aclose()

    def get_protocol(self) -> Any:
        """The RESP version asked for (``protocol``; None: the server's default)."""
        return self.connection_kwargs.get("protocol")

    def get_available_connection(self) -> Connection:
        """A connection marked in use, not necessarily connected (redis-py's)."""
        return self._take()

    async def ensure_connection(self, connection: Connection) -> None:
        """Connect ``connection`` unless it is connected (redis-py's)."""
        await connection.connect()

    def update_connection_kwargs(self, **kwargs: Any) -> None:
        """Change the keyword arguments new connections are made with (redis-py's)."""
        self.connection_kwargs.update(kwargs)

    def get_encoder(self) -> Encoder:
        """A ``redis.connection.Encoder`` for the pool's encoding settings."""
        kwargs = self.connection_kwargs
        return self.encoder_class(encoding=kwargs.get("encoding", "utf-8"),
                                  encoding_errors=kwargs.get("encoding_errors", "strict"),
                                  decode_responses=kwargs.get("decode_responses", False))

    def set_retry(self, retry: Retry) -> None:
        """Use ``retry`` for new connections and for every existing one."""
        self.connection_kwargs["retry"] = retry
        for connection in self._available_connections:
            connection.retry = retry
        for connection in self._in_use_connections:
            connection.retry = retry


class BlockingConnectionPool(ConnectionPool):
    """A pool that waits for a connection when ``max_connections`` are in use
    (redis-py's ``redis.asyncio.BlockingConnectionPool``): up to ``timeout`` seconds
    (None: for ever), then ConnectionError("No connection available.")."""

    def __init__(self, max_connections: int = 50, timeout: Optional[float] = 20,
                 connection_class: Type[Connection] = Connection,
                 queue_class: Any = asyncio.LifoQueue, **connection_kwargs: Any) -> None:
        super().__init__(connection_class=connection_class, max_connections=max_connections,
                         **connection_kwargs)
        self.timeout = timeout
        self._condition: Optional[asyncio.Condition] = None

    def _cond(self) -> asyncio.Condition:
        if self._condition is None:
            self._condition = asyncio.Condition()
        return self._condition

    async def get_connection(self, command_name: Any = None, *keys: Any,
                             **options: Any) -> Connection:
        """Take a connection, waiting up to ``timeout`` for one to be released."""
        condition = self._cond()
        async with condition:
            try:
                async with _timeout(self.timeout):
                    await condition.wait_for(self.can_get_connection)
            except asyncio.TimeoutError:
                raise ConnectionError("No connection available.") from None
            connection = self._take()
        return await self._connected(connection)

    async def release(self, connection: Connection) -> None:
        """Give a connection back and wake one waiting task."""
        await super().release(connection)
        condition = self._condition
        if condition is not None:
            async with condition:
                condition.notify()
