"""After ``fork()``: the child lets go of the asyncio connections it inherited.

An async connection's socket is driven by the parent's event loop: its transport is
registered with that loop's selector, whose epoll instance the child shares with the
parent. The child must neither use such a connection (its replies would be read by
whichever process reads first) nor close it through that loop (which would remove the
parent's registration). So, in the child, right after ``fork()``, every pool made
before the fork forgets its connections, idle and in use, and each of them is
detached: it holds no transport any more, its next command opens a new socket on the
child's own loop, and closing it touches nothing. The inherited file descriptors are
closed, in the child only, when their transports are collected (as redis-py's
blocking pools leave theirs). A pool's loop-bound state (the loop failover events are
sent to, a failover hold, a blocking pool's condition) is dropped too.

No check runs on the command path: the work is done once, by ``os.register_at_fork``.
"""
from __future__ import annotations

import os
import weakref
from typing import Any

_pools: "weakref.WeakSet[Any]" = weakref.WeakSet()


def track(pool: Any) -> None:
    """Have ``pool`` forget its connections in a child process after ``fork()``."""
    _pools.add(pool)


def _detach(connection: Any) -> None:
    connection._protocol = None     # no transport: closing it does nothing
    connection._loop = None
    connection.pid = os.getpid()


def _after_fork_in_child() -> None:
    for pool in list(_pools):
        connections = list(pool._available_connections) + list(pool._in_use_connections)
        for connection in connections:
            _detach(connection)
        pool.reset()
        if hasattr(pool, "_condition"):     # BlockingConnectionPool: bound to a loop
            pool._condition = None
        forget = getattr(pool, "_after_fork_in_child", None)
        if forget is not None:
            forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
