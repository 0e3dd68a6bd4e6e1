"""``Redis``: the client returned by ``Sentinel.master_for`` / ``slave_for``, also usable
directly, and its ``Pipeline``.

Both are built on redis-py's own classes, so every command method, parameter, default
and return shape is redis-py's (a new redis-py release brings its new commands):

- :class:`Redis` subclasses ``redis.Redis``. Its ``execute_command`` is native
  (``sentinelfast._core.Client``: pool, retries, failover holds and the response
  callback run in C); everything else — the command mixins, ``lock()``,
  ``transaction()``, ``monitor()``, ``client()``, ``register_script`` — is redis-py's
  code running over sentinelfast's pool and connections.
- :class:`Pipeline` subclasses ``redis.client.Pipeline``: buffering, WATCH/MULTI,
  scripts and ``discard`` are redis-py's; the buffered commands go out in one write and
  their replies are parsed in C.
"""
from __future__ import annotations

import itertools
import logging
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple

import redis
import redis.client
from redis.client import CaseInsensitiveDict

from . import _core
from .backoff import ExponentialWithJitterBackoff
from .connection import ConnectionPool, SSLConnection, UnixDomainSocketConnection, _DEFAULT
from .exceptions import (
    ConnectionError,
    ExecAbortError,
    ResponseError,
    TimeoutError,
    WatchError,
)
from .pubsub import PubSub
from .response_callbacks import response_callbacks
from .retry import Retry

logger = logging.getLogger(__name__)

DEFAULT_RETRY_COUNT = 10
DEFAULT_RETRY_BASE = 0.01
DEFAULT_RETRY_CAP = 1

EMPTY_RESPONSE = "EMPTY_RESPONSE"
NEVER_DECODE = "NEVER_DECODE"

try:  # redis-py >= 5.1
    from redis.event import EventDispatcher as _EventDispatcher
except ImportError:  # pragma: no cover - older redis-py
    _EventDispatcher = None  # type: ignore[misc, assignment]


def _default_retry() -> Retry:
    """redis-py 8's default policy for a ``Redis`` client that builds its own pool."""
    return Retry(ExponentialWithJitterBackoff(base=DEFAULT_RETRY_BASE, cap=DEFAULT_RETRY_CAP),
                 DEFAULT_RETRY_COUNT)


class Redis(_core.Client, redis.Redis):  # type: ignore[misc]
    """A Redis client with redis-py's constructor, command methods and helpers
    (``isinstance(client, redis.Redis)`` holds).

    Without ``connection_pool`` it builds a :class:`ConnectionPool` from the keyword
    arguments (and owns it: :meth:`close` disconnects it).
    """

    connection_pool: ConnectionPool  # type: ignore[assignment]

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> "Redis":
        """A client for a ``redis://``, ``rediss://`` or ``unix://`` URL."""
        single_connection_client = kwargs.pop("single_connection_client", False)
        pool = ConnectionPool.from_url(url, **kwargs)
        client = cls(connection_pool=pool, single_connection_client=single_connection_client)
        client.auto_close_connection_pool = True
        return client

    @classmethod
    def from_pool(cls, connection_pool: ConnectionPool) -> "Redis":  # type: ignore[override]
        """A client that owns ``connection_pool`` (closed with the client)."""
        client = cls(connection_pool=connection_pool)
        client.auto_close_connection_pool = True
        return client

    def __init__(
        self,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        password: Optional[str] = None,
        socket_timeout: Optional[float] = 5,
        socket_connect_timeout: Optional[float] = 5,
        socket_keepalive: Optional[bool] = True,
        socket_keepalive_options: Any = _DEFAULT,
        connection_pool: Optional[ConnectionPool] = None,
        unix_socket_path: Optional[str] = None,
        encoding: str = "utf-8",
        encoding_errors: str = "strict",
        decode_responses: bool = False,
        retry_on_timeout: bool = False,
        retry: Optional[Retry] = _DEFAULT,  # type: ignore[assignment]
        retry_on_error: Optional[list] = None,
        max_connections: Optional[int] = None,
        single_connection_client: bool = False,
        health_check_interval: float = 0,
        client_name: Optional[str] = None,
        username: Optional[str] = None,
        credential_provider: Any = None,
        protocol: Optional[int] = None,
        event_dispatcher: Any = None,
        **ignored: Any,
    ) -> None:
        if connection_pool is None:
            kwargs: Dict[str, Any] = {
                "db": db,
                "username": username,
                "password": password,
                "socket_timeout": socket_timeout,
                "encoding": encoding,
                "encoding_errors": encoding_errors,
                "decode_responses": decode_responses,
                "retry_on_error": retry_on_error,
                "retry_on_timeout": retry_on_timeout,
                "retry": _default_retry() if retry is _DEFAULT else retry,
                "max_connections": max_connections,
                "health_check_interval": health_check_interval,
                "client_name": client_name,
                "credential_provider": credential_provider,
                "protocol": protocol,
            }
            if unix_socket_path is not None:
                kwargs.update(path=unix_socket_path, connection_class=UnixDomainSocketConnection)
            else:
                kwargs.update(
                    host=host,
                    port=port,
                    socket_connect_timeout=socket_connect_timeout,
                    socket_keepalive=socket_keepalive,
                    socket_keepalive_options=socket_keepalive_options,
                )
                if ignored.get("ssl"):
                    # TLS (redis-py's ssl=True and ssl_* keywords): SSLConnection
                    kwargs["connection_class"] = SSLConnection
                    kwargs.update((k, v) for k, v in ignored.items() if k.startswith("ssl_"))
            connection_pool = ConnectionPool(**kwargs)
            self.auto_close_connection_pool = True
        else:
            self.auto_close_connection_pool = False
        if _EventDispatcher is not None:
            self._event_dispatcher = event_dispatcher or _EventDispatcher()
        self.connection_pool = connection_pool
        self.response_callbacks = response_callbacks()
        self.single_connection_lock = threading.RLock()
        self._single_connection_client = single_connection_client
        self.single_connection_client = single_connection_client
        if single_connection_client:
            self.connection = connection_pool.get_connection()

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__}({self.connection_pool!r})>"

    # The hottest commands: called with just their required arguments, they go to
    # execute_command directly (what redis-py's method would send: GET name,
    # SET name value; MGET with a list or tuple of keys); with options or keywords,
    # redis-py's method runs.
    get = _core.FastCommand("GET", redis.Redis.get, 1)
    set = _core.FastCommand("SET", redis.Redis.set, 2)
    mget = _core.FastCommand("MGET", redis.Redis.mget, 1, keys=True)

    def set_retry(self, retry: Retry) -> None:  # type: ignore[override]
        """Use ``retry`` for new connections and for those already in the pool (and
        the dedicated one, if any)."""
        self.get_connection_kwargs().update({"retry": retry})
        self.connection_pool.set_retry(retry)
        if self.connection is not None:
            self.connection.retry = retry

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> "Pipeline":
        """A :class:`Pipeline`: buffered commands sent in one write by ``execute()``;
        wrapped in MULTI/EXEC when ``transaction`` is true."""
        return Pipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)

    def pubsub(self, **kwargs: Any) -> PubSub:
        """A :class:`~sentinelfast.pubsub.PubSub` (redis-py's API); on a ``master_for``
        client it follows the master through failovers."""
        return PubSub(self.connection_pool, **kwargs)

    def close(self) -> None:
        """Give back the dedicated connection and close an owned pool."""
        conn = self.connection
        if conn is not None:
            self.connection = None
            self.connection_pool.release(conn)
        if self.auto_close_connection_pool:
            self.connection_pool.disconnect()

    def __del__(self) -> None:
        try:
            conn = self.connection
            if conn is not None:
                self.connection = None
                self.connection_pool.release(conn)
        except Exception:
            pass


StrictRedis = Redis

_Command = Tuple[Tuple[Any, ...], Dict[str, Any]]


def _annotate(exc: Exception, number: int, args: Sequence[Any]) -> None:
    """Prefix ``exc``'s message with the failing command, as redis-py does."""
    cmd = " ".join(a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a)
                   for a in args)
    if len(cmd) > 100:
        cmd = cmd[:97] + "..."
    first = exc.args[0] if exc.args else ""
    exc.args = (f"Command # {number} ({cmd}) of pipeline caused error: {first}",) + exc.args[1:]


_RedisPyPipeline = redis.client.Pipeline


class Pipeline(_core.PipelineCore, Redis, _RedisPyPipeline):  # type: ignore[misc]
    """Buffers commands and sends them in one write on ``execute()``
    (``isinstance(pipe, redis.client.Pipeline)`` holds).

    With ``transaction=True`` they are wrapped in MULTI/EXEC. ``watch()`` puts the
    pipeline in immediate mode on a dedicated connection until ``multi()``.

    The hot path is native (``_core.PipelineCore``): ``__init__``, ``execute_command``
    / ``pipeline_execute_command`` (buffering), ``execute`` (one write, replies and
    response callbacks in C), ``reset``, ``__enter__`` / ``__exit__`` / ``__del__``, and
    the pipeline's state (``command_stack``, ``watching``, ``explicit_transaction``,
    ``transaction``, ``shard_hint``, ``scripts``). The methods below are the rare
    paths the native code calls back into.
    """

    # redis-py's pipeline behaviour, where Redis would shadow it
    __bool__ = _RedisPyPipeline.__bool__
    close = _RedisPyPipeline.close
    # reset() with a connection of the pipeline's own (WATCH): UNWATCH, give it back
    _reset_watched = _RedisPyPipeline.reset

    def annotate_exception(self, exception: Exception, number: int, command: Sequence[Any]) -> None:
        """Prefix ``exception``'s message with the failing command (redis-py's wording)."""
        _annotate(exception, number, command)

    def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        """Run a command now, on the pipeline's own connection (used while WATCHing,
        before ``multi()``). A connection error while watching raises WatchError."""
        conn = self.connection
        if conn is None:
            conn = self.connection = self.connection_pool.get_connection()
        never_decode = NEVER_DECODE in options  # present, whatever its value (redis-py)

        def run() -> Any:
            return conn.execute(*args, never_decode=never_decode)

        def failed(error: Exception, *failures: Any) -> None:
            conn.disconnect()
            if self.watching:
                self.reset()
                raise WatchError(
                    f"A {type(error).__name__} occurred while watching one or more keys"
                ) from error

        try:
            reply = conn.retry.call_with_retry(run, failed)  # type: ignore[union-attr]
        except ResponseError:
            if EMPTY_RESPONSE in options:
                return options[EMPTY_RESPONSE]
            raise
        name = args[0]
        if name == "WATCH":
            self.watching = True
        elif name in self.UNWATCH_COMMANDS:
            self.watching = False
        return _core.apply_callbacks([(args, options)], [reply], self.response_callbacks,
                                     None)[0]

    def _send(self, commands: List[Tuple[Any, ...]]) -> List[Any]:
        """Send ``commands`` in one write and return their raw replies."""
        conn = self.connection
        if conn is None:
            return Redis._execute_many(self, commands)
        try:
            return conn.execute_many(commands)
        except (ConnectionError, TimeoutError) as error:
            conn.disconnect()
            if self.watching:
                raise WatchError(
                    f"A {type(error).__name__} occurred while watching one or more keys"
                ) from error
            raise

    def _send_undecoded_apart(self, stack: List[_Command]) -> List[Any]:
        """Send ``stack`` on one connection, the runs of commands whose replies must not
        be decoded (NEVER_DECODE) apart from the others, as redis-py reads each reply
        with its own decoding. Only pipelines holding such a command come here."""
        conn = self.connection
        own = conn is None
        if own:
            conn = self.connection_pool.get_connection()

        def run() -> List[Any]:
            replies: List[Any] = []
            for undecoded, run_ in itertools.groupby(stack, lambda c: NEVER_DECODE in c[1]):
                replies += conn.execute_many([args for args, _ in run_], never_decode=undecoded)  # type: ignore[union-attr]
            return replies

        def failed(error: Exception, *failures: Any) -> None:
            conn.disconnect()  # type: ignore[union-attr]
            if self.watching:  # the WATCH died with the connection: never resent
                raise WatchError(
                    f"A {type(error).__name__} occurred while watching one or more keys"
                ) from error

        try:
            return conn.retry.call_with_retry(run, failed)  # type: ignore[union-attr]
        finally:
            if own:
                self.connection_pool.release(conn)  # type: ignore[arg-type]

    @staticmethod
    def _raise_first_error(stack: List[_Command], results: List[Any]) -> None:
        for i, r in enumerate(results):
            if isinstance(r, ResponseError):
                _annotate(r, i + 1, stack[i][0])
                raise r


__all__ = ["Redis", "StrictRedis", "Pipeline"]
