"""The response callbacks of a client: redis-py's own RESP2 table, with the hot
parsers swapped for their C equivalents.

redis-py keeps one table per protocol (command name -> ``callback(reply, **options)``);
sentinelfast speaks RESP2, so it takes redis-py's RESP2 table of the installed release,
whatever that release's commands are. Where a callback is one of the few that large
replies go through, the same function written in C (``csrc/reply_parsers.c``) is used
instead; the differential tests compare the results with redis-py's.
"""
from __future__ import annotations

from typing import Any, Callable, Dict

from redis.client import CaseInsensitiveDict

from . import _core

Callback = Callable[..., Any]


def _redispy_resp2_table() -> Dict[str, Callback]:
    """redis-py's response callbacks for a RESP2 connection (legacy shapes)."""
    try:  # redis-py >= 8
        from redis._parsers.response_callbacks import get_response_callbacks
    except ImportError:
        from redis._parsers.helpers import _RedisCallbacks, _RedisCallbacksRESP2

        table = dict(_RedisCallbacks)
        table.update(_RedisCallbacksRESP2)
        return table
    return dict(get_response_callbacks(user_protocol=2, legacy_responses=True))


def _redispy_wraps_score_cast_func() -> bool:
    import redis._parsers.helpers as helpers

    return hasattr(helpers, "_wrap_score_cast_func")


def _with_native_parsers(table: Dict[str, Callback]) -> Dict[str, Callback]:
    """Swap the hot callbacks for the C ones where redis-py's is the known function."""
    native = dict(table)

    def named(command: str, *names: str) -> bool:
        return getattr(table.get(command), "__name__", None) in names

    if named("SET", "parse_set_result"):
        native["SET"] = _core.parse_set_result
    if "HGETALL" in table:      # redis-py: `r and pairs_to_dict(r) or {}`, a lambda
        native["HGETALL"] = _core.pairs_to_dict
    # The C parser retries a score_cast_func that refuses a raw score on float(score), as
    # redis-py does from 8.0 (its _wrap_score_cast_func); older releases call it once.
    if _redispy_wraps_score_cast_func():
        for command in ("ZRANGE", "ZRANGEBYSCORE", "ZREVRANGE", "ZREVRANGEBYSCORE"):
            if named(command, "zset_score_pairs"):
                native[command] = _core.parse_zset_range
    return native


_TABLE: Dict[str, Callback] = {
    name.upper(): callback for name, callback in _with_native_parsers(_redispy_resp2_table()).items()
}


def response_callbacks() -> CaseInsensitiveDict:
    """A new table for one client (``set_response_callback`` changes only that client),
    case-insensitive as redis-py's."""
    table = CaseInsensitiveDict({})
    dict.update(table, _TABLE)      # keys are upper case already
    return table


__all__ = ["response_callbacks"]
