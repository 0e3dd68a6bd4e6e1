"""``sentinelfast.asyncio.Redis``: redis-py's async client over sentinelfast's async
connections.

:class:`Redis` subclasses ``redis.asyncio.Redis``, so every command method, parameter,
default and return shape is redis-py's. Its ``execute_command`` is a short path over
:class:`~sentinelfast.asyncio.connection.Connection` (the command encoded in C, one
write, the reply parsed in C as it arrives, sentinelfast's response callbacks).
Pipelines and Pub/Sub are redis-py's async ones running over the same connections.
"""
from __future__ import annotations

import asyncio
import copy
import inspect
from typing import Any, Dict, List, Optional

import redis.asyncio.client
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.client import CaseInsensitiveDict

from .. import _core
from ..exceptions import ExecAbortError, ResponseError, TimeoutError, WatchError
from ..response_callbacks import response_callbacks
from .connection import (
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
    _decode,
    _DEFAULT,
)

EMPTY_RESPONSE = "EMPTY_RESPONSE"
NEVER_DECODE = "NEVER_DECODE"
# Options for the client, never passed to a response callback.
_CLIENT_OPTIONS = (EMPTY_RESPONSE, NEVER_DECODE, "keys")

encode_command = _core.encode_command
_dict_get = dict.get


class _Replay:
    """``do`` for a retry policy when the first attempt was already made outside it:
    the first call raises that attempt's error, later calls run ``again()``."""

    __slots__ = ("error", "again")

    def __init__(self, error: BaseException, again: Any) -> None:
        self.error: Optional[BaseException] = error
        self.again = again

    def __call__(self) -> Any:
        error = self.error
        if error is not None:
            self.error = None
            return _raise(error)
        return self.again()


async def _raise(error: BaseException) -> Any:
    raise error

DEFAULT_SOCKET_READ_SIZE = 32768   # redis-py's default (accepted, not used)
DEFAULT_RETRY_COUNT = 10
DEFAULT_RETRY_BASE = 0.01
DEFAULT_RETRY_CAP = 1


def _default_retry() -> Retry:
    """redis-py 8's default policy for an async client that builds its own pool."""
    return Retry(ExponentialWithJitterBackoff(base=DEFAULT_RETRY_BASE, cap=DEFAULT_RETRY_CAP),
                 DEFAULT_RETRY_COUNT)


def _short_path(connection: Any) -> bool:
    """Whether a pipeline may write and read ``connection`` directly."""
    return (getattr(connection, "_short_path", False) and not connection.health_check_interval
            and getattr(connection, "himport_registry", None) is None)


class Pipeline(redis.asyncio.client.Pipeline):
    """redis-py's async pipeline (buffering, MULTI/EXEC, WATCH, scripts) over
    sentinelfast's async connections: the buffered commands go out in one write.

    On sentinelfast's connections the replies are awaited all at once (not one
    coroutine per reply) and the response callbacks run in C
    (``_core.apply_callbacks``); the results, errors and WATCH state are redis-py's.
    """

    async def _execute_pipeline(self, connection: Any, commands: Any,
                                raise_on_error: bool) -> List[Any]:
        if not _short_path(connection) or (connection.decode_responses and any(
                NEVER_DECODE in options for _, options in commands)):
            return await super()._execute_pipeline(connection, commands, raise_on_error)
        replies = await connection._exchange_many([args for args, _ in commands])
        for reply in replies:       # LOADING (BusyLoadingError): raised, as redis-py does
            if isinstance(reply, Exception) and not isinstance(reply, ResponseError):
                raise reply
        if connection.decode_responses:
            encoding, errors = connection.encoding, connection.encoding_errors
            replies = [_decode(reply, encoding, errors) for reply in replies]
        results = _core.apply_callbacks(commands, replies, self.response_callbacks,
                                        ResponseError)
        if self.watching:   # (redis-py sends WATCH and commands while watching at once,
            #                   never buffered: kept for parity with its parse_response)
            for (args, _), result in zip(commands, results):
                name = args[0]
                if name == "WATCH" or name in self.UNWATCH_COMMANDS:
                    if not isinstance(result, ResponseError):
                        self.watching = name == "WATCH"
        if raise_on_error:
            self.raise_first_error(commands, results)
        return results

    async def _execute_transaction(self, connection: Any, commands: Any,
                                   raise_on_error: bool) -> List[Any]:
        if not _short_path(connection):
            return await super()._execute_transaction(connection, commands, raise_on_error)
        sent = [args for args, options in commands if EMPTY_RESPONSE not in options]
        replies = await connection._exchange_many([("MULTI",), *sent, ("EXEC",)])
        for reply in replies[:-1]:  # LOADING (BusyLoadingError): raised, as redis-py does
            if isinstance(reply, Exception) and not isinstance(reply, ResponseError):
                raise reply
        errors: List[Any] = []
        if isinstance(replies[0], ResponseError):
            errors.append((0, replies[0]))
        queued = iter(replies[1:-1])
        for i, (args, options) in enumerate(commands):
            if EMPTY_RESPONSE in options:
                errors.append((i, options[EMPTY_RESPONSE]))
                continue
            reply = next(queued)
            if isinstance(reply, ResponseError):
                self.annotate_exception(reply, i + 1, args)
                errors.append((i, reply))
        response = replies[-1]
        if isinstance(response, ExecAbortError):
            if errors:
                raise errors[0][1] from response
            raise response
        if isinstance(response, Exception):
            raise response
        self.watching = False       # EXEC clears any watched keys
        if response is None:
            raise WatchError("Watched variable changed.") from None
        if connection.decode_responses:
            response = _decode(response, connection.encoding, connection.encoding_errors)
        for i, e in errors:
            response.insert(i, e)
        if len(response) != len(commands):
            if self.connection:
                await self.connection.disconnect()
            raise ResponseError("Wrong number of response items from pipeline execution") \
                from None
        if raise_on_error:
            self.raise_first_error(commands, response)
        return _core.apply_callbacks(commands, response, self.response_callbacks, None)


class PubSub(redis.asyncio.client.PubSub):
    """redis-py's async Pub/Sub over a sentinelfast async connection."""


class Redis(redis.asyncio.Redis):
    """An async Redis client with redis-py's constructor and command methods
    (``isinstance(client, redis.asyncio.Redis)`` holds).

    Without ``connection_pool`` it builds a sentinelfast
    :class:`~sentinelfast.asyncio.connection.ConnectionPool` from the keyword arguments
    and owns it (:meth:`aclose` closes it).
    """

    @classmethod
    def from_url(cls, url: str, single_connection_client: bool = False,
                 auto_close_connection_pool: Optional[bool] = None, **kwargs: Any) -> "Redis":
        """A client for a ``redis://``, ``rediss://`` or ``unix://`` URL (owns its
        pool)."""
        pool = ConnectionPool.from_url(url, **kwargs)
        client = cls(connection_pool=pool, single_connection_client=single_connection_client)
        client.auto_close_connection_pool = (True if auto_close_connection_pool is None
                                             else auto_close_connection_pool)
        return client

    @classmethod
    def from_pool(cls, connection_pool: ConnectionPool) -> "Redis":  # type: ignore[override]
        """A client that owns ``connection_pool`` (closed by :meth:`aclose`)."""
        client = cls(connection_pool=connection_pool)
        client.auto_close_connection_pool = True
        return client

    def __init__(
        self,
        *,
        host: str = "localhost",
        port: int = 6379,
        db: Any = 0,
        password: Optional[str] = None,
        socket_timeout: Optional[float] = 5,
        socket_connect_timeout: Optional[float] = 5,
        socket_read_size: int = DEFAULT_SOCKET_READ_SIZE,
        socket_keepalive: Optional[bool] = True,
        socket_keepalive_options: Any = _DEFAULT,
        connection_pool: Optional[ConnectionPool] = None,
        unix_socket_path: Optional[str] = None,
        encoding: str = "utf-8",
        encoding_errors: str = "strict",
        decode_responses: bool = False,
        retry_on_timeout: bool = False,
        retry: Any = _DEFAULT,
        retry_on_error: Optional[list] = None,
        ssl: bool = False,
        ssl_keyfile: Optional[str] = None,
        ssl_certfile: Optional[str] = None,
        ssl_cert_reqs: Any = "required",
        ssl_include_verify_flags: Any = None,
        ssl_exclude_verify_flags: Any = None,
        ssl_ca_certs: Optional[str] = None,
        ssl_ca_data: Any = None,
        ssl_ca_path: Optional[str] = None,
        ssl_check_hostname: bool = True,
        ssl_min_version: Any = None,
        ssl_ciphers: Optional[str] = None,
        ssl_password: Any = None,
        max_connections: Optional[int] = None,
        single_connection_client: bool = False,
        health_check_interval: float = 0,
        client_name: Optional[str] = None,
        lib_name: Any = _DEFAULT,
        lib_version: Any = _DEFAULT,
        driver_info: Any = _DEFAULT,
        username: Optional[str] = None,
        auto_close_connection_pool: Optional[bool] = None,
        redis_connect_func: Any = None,
        credential_provider: Any = None,
        protocol: Optional[int] = None,
        legacy_responses: bool = True,
        event_dispatcher: Any = None,
        maint_notifications_config: Any = None,
    ) -> None:
        # redis-py's keywords, names, order and defaults. Accepted and without effect:
        # socket_read_size (the C reader takes what arrives), lib_name / lib_version /
        # driver_info (no CLIENT SETINFO), redis_connect_func, legacy_responses (RESP2
        # only), maint_notifications_config (not implemented).
        owns_pool = connection_pool is None
        if connection_pool is None:
            kwargs: Dict[str, Any] = {
                "db": db,
                "username": username,
                "password": password,
                "credential_provider": credential_provider,
                "socket_timeout": socket_timeout,
                "encoding": encoding,
                "encoding_errors": encoding_errors,
                "decode_responses": decode_responses,
                "retry_on_error": retry_on_error or [],
                "retry": copy.deepcopy(_default_retry() if retry is _DEFAULT else retry),
                "retry_on_timeout": retry_on_timeout,
                "max_connections": max_connections,
                "health_check_interval": health_check_interval,
                "client_name": client_name,
                "protocol": protocol,
            }
            if unix_socket_path is not None:
                kwargs.update(path=unix_socket_path,
                              connection_class=UnixDomainSocketConnection)
            else:
                kwargs.update(host=host, port=port,
                              socket_connect_timeout=socket_connect_timeout,
                              socket_keepalive=socket_keepalive,
                              socket_keepalive_options=socket_keepalive_options)
                if ssl:
                    kwargs.update(
                        connection_class=SSLConnection, ssl_keyfile=ssl_keyfile,
                        ssl_certfile=ssl_certfile, ssl_cert_reqs=ssl_cert_reqs,
                        ssl_include_verify_flags=ssl_include_verify_flags,
                        ssl_exclude_verify_flags=ssl_exclude_verify_flags,
                        ssl_ca_certs=ssl_ca_certs, ssl_ca_data=ssl_ca_data,
                        ssl_ca_path=ssl_ca_path, ssl_check_hostname=ssl_check_hostname,
                        ssl_min_version=ssl_min_version, ssl_ciphers=ssl_ciphers,
                        ssl_password=ssl_password)
            connection_pool = ConnectionPool(**kwargs)
        super().__init__(connection_pool=connection_pool,  # type: ignore[arg-type]
                         single_connection_client=single_connection_client,
                         event_dispatcher=event_dispatcher)
        self.auto_close_connection_pool = (
            (True if auto_close_connection_pool is None else auto_close_connection_pool)
            if owns_pool else False)
        self.response_callbacks = CaseInsensitiveDict(response_callbacks())

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__}({self.connection_pool!r})>"

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        """A :class:`Pipeline` (MULTI/EXEC around its commands unless
        ``transaction`` is false)."""
        return Pipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)

    def pubsub(self, **kwargs: Any) -> PubSub:
        """A :class:`PubSub` on a connection of this client's pool."""
        return PubSub(self.connection_pool, event_dispatcher=self._event_dispatcher, **kwargs)

    def client(self) -> "Redis":
        """A client with one connection of its own from the same pool."""
        return type(self)(connection_pool=self.connection_pool, single_connection_client=True)  # type: ignore[arg-type]

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        """Send one command on a pooled connection and return its parsed reply,
        under the connection's retry policy.

        The short path (a connected sentinelfast connection whose class keeps the
        base read/write methods, no health checks): encode, one ``transport.write``,
        await the reply the protocol queued, apply the callback; no coroutine per
        layer. Its first failure is handed to the retry policy as if the policy had
        made that attempt (the policy then decides, backs off and retries on the
        generic path), so retries behave exactly as redis-py's."""
        if self.single_connection_client:
            return await super().execute_command(*args, **options)
        pool = self.connection_pool
        take = getattr(pool, "_take", None)
        if take is not None and pool.can_get_connection():
            conn = take()   # connected by the first attempt, under the retry policy
        else:
            conn = await pool.get_connection()
        put_back = (pool._put_back if type(pool).release is ConnectionPool.release  # type: ignore[attr-defined]
                    else None)
        try:
            proto = getattr(conn, "_protocol", None)
            if (proto is None or proto.error is not None or not conn._short_path
                    or conn.health_check_interval):
                return await conn.retry.call_with_retry(
                    lambda: self._send_and_parse(conn, args, options), conn.disconnect)
            try:
                gate = conn._before_command()
                if gate is not None:
                    await gate
                    if conn._protocol is not proto or proto.error is not None:
                        raise conn._lost()      # closed during the hold: the policy retries
                if conn._utf8_strict:
                    data = encode_command(*args)
                else:
                    data = encode_command(*args, encoding=conn.encoding,
                                          errors=conn.encoding_errors)
                proto.transport.write(data)
                if proto.paused:
                    await conn._drain(proto)
                replies = proto.replies
                if not replies:
                    try:
                        while not replies:
                            if proto.error is not None:
                                raise conn._lost()
                            await proto.wait(conn.socket_timeout)
                    except asyncio.TimeoutError:
                        conn._close()
                        raise TimeoutError(f"Timeout reading from {conn._where()}") from None
                    except asyncio.CancelledError:
                        conn._close()       # a reply is owed: never reuse this stream
                        raise
                reply = replies.popleft()
                if isinstance(reply, Exception):
                    reply = conn._error_reply(reply)
                    if EMPTY_RESPONSE in options and isinstance(reply, ResponseError):
                        return options[EMPTY_RESPONSE]
                    raise reply
            except Exception as error:      # (DataError from the encoder included)
                return await conn.retry.call_with_retry(
                    _Replay(error, lambda: self._send_and_parse(conn, args, options)),
                    conn.disconnect)
            if options:
                if conn.decode_responses and NEVER_DECODE not in options:
                    reply = _decode(reply, conn.encoding, conn.encoding_errors)
                for option in _CLIENT_OPTIONS:
                    options.pop(option, None)
            elif conn.decode_responses:
                reply = _decode(reply, conn.encoding, conn.encoding_errors)
            callbacks = self.response_callbacks
            name = args[0]
            # redis-py's table stores names upper-case and the command mixins send them
            # so: a plain dict look-up then, without CaseInsensitiveDict's str.upper().
            if type(callbacks) is CaseInsensitiveDict and type(name) is str and name.isupper():
                callback = _dict_get(callbacks, name)
            else:
                callback = callbacks.get(name)
            if callback is None:
                return reply
            result = callback(reply, **options)
            if inspect.isawaitable(result):
                return await result
            return result
        finally:
            if put_back is not None:
                put_back(conn)
            else:
                await pool.release(conn)

    async def _send_and_parse(self, conn: Any, args: tuple, options: Dict[str, Any]) -> Any:
        await conn.send_command(*args)
        return await self.parse_response(conn, args[0], **options)

    async def parse_response(self, connection: Any, command_name: Any, **options: Any) -> Any:
        """Read one reply and apply the command's response callback."""
        try:
            if NEVER_DECODE in options:
                response = await connection.read_response(disable_decoding=True)
                del options[NEVER_DECODE]
            else:
                response = await connection.read_response()
        except ResponseError:
            if EMPTY_RESPONSE in options:
                return options[EMPTY_RESPONSE]
            raise
        if options:
            options.pop(EMPTY_RESPONSE, None)
            options.pop("keys", None)
        callback = self.response_callbacks.get(command_name)
        if callback is None:
            return response
        result = callback(response, **options)
        if inspect.isawaitable(result):
            return await result
        return result


StrictRedis = Redis
