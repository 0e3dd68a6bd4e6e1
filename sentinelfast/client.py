"""``Redis``: the client returned by ``Sentinel.master_for`` / ``slave_for``, also usable
directly, and its ``Pipeline``. Same names, keywords and return values as redis-py's.

``execute_command`` is native (``sentinelfast._core.Client``): pool, retries and the
response callback run in C; the command methods come from :mod:`sentinelfast.commands`.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import _core
from .backoff import ExponentialWithJitterBackoff
from .commands import RESPONSE_CALLBACKS, CoreCommands, SentinelCommands
from .connection import ConnectionPool, SSLConnection, UnixDomainSocketConnection, _DEFAULT
from .exceptions import (
    ConnectionError,
    ExecAbortError,
    RedisError,
    ResponseError,
    TimeoutError,
    WatchError,
)
from .retry import Retry

logger = logging.getLogger(__name__)

DEFAULT_RETRY_COUNT = 10
DEFAULT_RETRY_BASE = 0.01
DEFAULT_RETRY_CAP = 1


def _default_retry() -> Retry:
    """redis-py 8's default policy for a ``Redis`` client that builds its own pool."""
    return Retry(ExponentialWithJitterBackoff(base=DEFAULT_RETRY_BASE, cap=DEFAULT_RETRY_CAP),
                 DEFAULT_RETRY_COUNT)


class Redis(_core.Client, CoreCommands, SentinelCommands):
    """A Redis client with redis-py's constructor and command methods.

    Without ``connection_pool`` it builds a :class:`ConnectionPool` from the keyword
    arguments (and owns it: :meth:`close` disconnects it).
    """

    connection_pool: ConnectionPool

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> "Redis":
        """A client for a ``redis://``, ``rediss://`` or ``unix://`` URL."""
        single_connection_client = kwargs.pop("single_connection_client", False)
        pool = ConnectionPool.from_url(url, **kwargs)
        client = cls(connection_pool=pool, single_connection_client=single_connection_client)
        client.auto_close_connection_pool = True
        return client

    @classmethod
    def from_pool(cls, connection_pool: ConnectionPool) -> "Redis":
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
        self.connection_pool = connection_pool
        self.response_callbacks = dict(RESPONSE_CALLBACKS)
        self.single_connection_client = single_connection_client
        if single_connection_client:
            self.connection = connection_pool.get_connection()

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__}({self.connection_pool!r})>"

    def get_encoder(self):
        """The pool's encoding settings (redis-py's ``Encoder`` attributes)."""
        return self.connection_pool.get_encoder()

    def get_connection_kwargs(self) -> Dict[str, Any]:
        """The keyword arguments new connections are made with."""
        return self.connection_pool.connection_kwargs

    def get_retry(self) -> Optional[Retry]:
        """The retry policy of this client's connections."""
        return self.get_connection_kwargs().get("retry")

    def set_retry(self, retry: Retry) -> None:
        """Use ``retry`` for new connections (and the dedicated one, if any)."""
        self.get_connection_kwargs().update({"retry": retry})
        if self.connection is not None:
            self.connection.retry = retry

    def set_response_callback(self, command: str, callback: Callable) -> None:
        """Parse replies to ``command`` with ``callback(reply, **options)``."""
        self.response_callbacks[command] = callback

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> "Pipeline":
        """A :class:`Pipeline`: buffered commands sent in one write by ``execute()``;
        wrapped in MULTI/EXEC when ``transaction`` is true."""
        return Pipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)

    def transaction(self, func: Callable[["Pipeline"], Any], *watches: Any,
                    shard_hint: Any = None, value_from_callable: bool = False,
                    watch_delay: Optional[float] = None) -> Any:
        """Run ``func(pipe)`` in a WATCH/MULTI/EXEC transaction, again on WatchError."""
        with self.pipeline(True, shard_hint) as pipe:
            while True:
                try:
                    if watches:
                        pipe.watch(*watches)
                    func_value = func(pipe)
                    exec_value = pipe.execute()
                    return func_value if value_from_callable else exec_value
                except WatchError:
                    if watch_delay is not None and watch_delay > 0:
                        time.sleep(watch_delay)
                    continue

    def close(self) -> None:
        """Give back the dedicated connection and close an owned pool."""
        conn = self.connection
        if conn is not None:
            self.connection = None
            self.connection_pool.release(conn)
        if self.auto_close_connection_pool:
            self.connection_pool.disconnect()

    def __enter__(self) -> "Redis":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

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


class Pipeline(Redis):
    """Buffers commands and sends them in one write on ``execute()``.

    With ``transaction=True`` they are wrapped in MULTI/EXEC. ``watch()`` puts the
    pipeline in immediate mode on a dedicated connection until ``multi()``.
    """

    transaction: bool  # type: ignore[assignment]  # redis-py: a bool on pipelines

    def __init__(self, connection_pool: ConnectionPool, response_callbacks: Dict[str, Callable],
                 transaction: bool, shard_hint: Any = None) -> None:
        self.connection_pool = connection_pool
        self.response_callbacks = response_callbacks
        self.transaction = transaction
        self.shard_hint = shard_hint
        self.auto_close_connection_pool = False
        self.watching = False
        self.explicit_transaction = False
        self.command_stack: List[_Command] = []
        self._watch_connection: Optional[_core.Connection] = None

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__}({self.connection_pool!r})>"

    def __len__(self) -> int:
        return len(self.command_stack)

    def __bool__(self) -> bool:
        return True

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.reset()

    def __del__(self) -> None:
        try:
            self.reset()
        except Exception:
            pass

    def reset(self) -> None:
        """Drop buffered commands, UNWATCH if watching, give back the connection."""
        self.command_stack = []
        conn = self._watch_connection
        if conn is not None:
            self._watch_connection = None
            if self.watching:
                try:
                    conn.execute("UNWATCH")
                except (ConnectionError, TimeoutError):
                    conn.disconnect()
            self.connection_pool.release(conn)
        self.watching = False
        self.explicit_transaction = False

    close = reset

    def multi(self) -> None:
        """Start buffering the transaction after ``watch()``."""
        if self.explicit_transaction:
            raise RedisError("Cannot issue nested calls to MULTI")
        if self.command_stack:
            raise RedisError("Commands without an initial WATCH have already been issued")
        self.explicit_transaction = True

    def execute_command(self, *args: Any, **options: Any) -> Any:
        if (self.watching or args[0] == "WATCH") and not self.explicit_transaction:
            return self._immediate(*args, **options)
        self.command_stack.append((args, options))
        return self

    pipeline_execute_command = execute_command

    def _immediate(self, *args: Any, **options: Any) -> Any:
        conn = self._watch_connection
        if conn is None:
            conn = self._watch_connection = self.connection_pool.get_connection()
        try:
            reply = conn.execute(*args, never_decode=bool(options.get("NEVER_DECODE")))
        except (ConnectionError, TimeoutError):
            conn.disconnect()
            if self.watching:
                self.reset()
                raise WatchError("A ConnectionError occurred on while watching one or more keys")
            raise
        if args[0] == "WATCH":
            self.watching = True
        elif args[0] == "UNWATCH":
            self.watching = False
        return self._parse(args, options, reply)

    def _parse(self, args: Sequence[Any], options: Dict[str, Any], reply: Any) -> Any:
        return _core.apply_callbacks([(args, options)], [reply], self.response_callbacks,
                                     None)[0]

    def watch(self, *names: Any) -> Any:
        """WATCH keys (immediately, on this pipeline's own connection)."""
        if self.explicit_transaction:
            raise RedisError("Cannot issue a WATCH after a MULTI")
        return self.execute_command("WATCH", *names)

    def unwatch(self) -> Any:
        """UNWATCH all keys (nothing to send when not watching)."""
        if not self.watching:
            return True
        return self.execute_command("UNWATCH") or True   # as redis-py: never falsy

    def _send(self, commands: List[Tuple[Any, ...]]) -> List[Any]:
        conn = self._watch_connection
        if conn is not None:
            return conn.execute_many(commands)
        return Redis._execute_many(self, commands)

    def execute(self, raise_on_error: bool = True) -> List[Any]:
        """Send the buffered commands and return their replies, in order."""
        stack = self.command_stack
        if not stack and not self.watching:
            return []
        try:
            if self.transaction or self.explicit_transaction:
                return self._execute_transaction(stack, raise_on_error)
            return self._execute_pipeline(stack, raise_on_error)
        finally:
            self.reset()

    def _execute_pipeline(self, stack: List[_Command], raise_on_error: bool) -> List[Any]:
        replies = self._send([args for args, _ in stack])
        results = _core.apply_callbacks(stack, replies, self.response_callbacks, ResponseError)
        if raise_on_error:
            self._raise_first_error(stack, results)
        return results

    def _execute_transaction(self, stack: List[_Command], raise_on_error: bool) -> List[Any]:
        commands = [("MULTI",), *(args for args, _ in stack), ("EXEC",)]
        replies = self._send(commands)
        errors: List[Tuple[int, Exception]] = []
        if isinstance(replies[0], ResponseError):
            errors.append((0, replies[0]))
        for i, ((args, options), queued) in enumerate(zip(stack, replies[1:-1])):
            if "EMPTY_RESPONSE" in options:
                errors.append((i, options["EMPTY_RESPONSE"]))
            elif isinstance(queued, ResponseError):
                _annotate(queued, i + 1, args)
                errors.append((i, queued))
        response = replies[-1]
        if isinstance(response, ExecAbortError):
            if errors:
                raise errors[0][1]
            raise response
        if isinstance(response, Exception):
            raise response
        self.watching = False
        if response is None:
            raise WatchError("Watched variable changed.")
        for i, e in errors:
            response.insert(i, e)
        if len(response) != len(stack):
            raise ResponseError("Wrong number of response items from pipeline execution")
        if raise_on_error:
            self._raise_first_error(stack, response)
        return _core.apply_callbacks(stack, response, self.response_callbacks, None)

    @staticmethod
    def _raise_first_error(stack: List[_Command], results: List[Any]) -> None:
        for i, r in enumerate(results):
            if isinstance(r, ResponseError):
                _annotate(r, i + 1, stack[i][0])
                raise r


__all__ = ["Redis", "StrictRedis", "Pipeline"]
