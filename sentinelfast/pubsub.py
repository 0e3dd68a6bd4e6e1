"""Pub/Sub: redis-py's ``PubSub`` over sentinelfast's connections.

The API (subscribe / psubscribe / ssubscribe, get_message, listen, handlers,
run_in_thread, ping, health checks) is redis-py's own class. A subscriber of a
``master_for`` client follows the master:

- when the failover monitor sees the switch it shuts the subscriber's socket down at once
  (it does so for every connection to the old master), instead of leaving it subscribed
  on the demoted master until Sentinel kills it there 8 s or more later;
- the next read reconnects to the master Sentinel names, waiting out the failover under
  the connection's retry policy (the default policy of ``master_for`` clients lasts as
  long as a failover takes), and redis-py's connect callback subscribes again to every
  channel, pattern and shard channel.

redis-py's own subscriber gives up when that reconnection fails (the master is down and
no new one is elected yet), so a killed master reaches the application as a
``ConnectionError`` for every read until the election; here the reconnection is retried
like any command of the client.
"""
from __future__ import annotations

from typing import Any, Callable

import redis.client


class PubSub(redis.client.PubSub):
    """redis-py's ``PubSub`` on a sentinelfast pool; on a Sentinel master pool it
    follows the master through failovers (see the module's documentation)."""

    def __init__(self, connection_pool: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(connection_pool, *args, **kwargs)
        self._follows_master = bool(getattr(connection_pool, "is_master", False)
                                    and hasattr(connection_pool, "service_name"))

    def _execute(self, conn: Any, command: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._follows_master:
            return super()._execute(conn, command, *args, **kwargs)

        def attempt() -> Any:
            if not conn.is_connected:
                conn.connect()      # to the current master; callbacks subscribe again
            return command(*args, **kwargs)

        def failed(error: Exception, *failures: Any) -> None:
            conn.disconnect()

        return conn.retry.call_with_retry(attempt, failed)


__all__ = ["PubSub"]
