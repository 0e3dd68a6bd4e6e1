"""Response callbacks for data commands, reproducing redis-py's RESP2 legacy shapes.

Every callback has the form ``callback(response, **options)``; ``options`` are
the keyword options the command method passed to ``execute_command``. Replies
are bytes, or str when the client decodes responses.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple, Union

from .. import _core


def str_if_bytes(value: Any) -> Any:
    """Decode bytes as UTF-8 (replacing invalid sequences); return anything else unchanged."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def to_bool(response: Any, **options: Any) -> bool:
    """Integer reply 0/1 -> bool."""
    return bool(response)


def to_float(response: Any, **options: Any) -> float:
    """Number reply (bytes/str) -> float."""
    return float(response)


def float_or_none(response: Any, **options: Any) -> Optional[float]:
    """Number reply -> float; nil -> None."""
    if response is None:
        return None
    return float(response)


def ok_to_bool(response: Any, **options: Any) -> bool:
    """Status reply -> True when it is "OK"."""
    return str_if_bytes(response) == "OK"


def always_true(response: Any, **options: Any) -> bool:
    """Any reply -> True (BGSAVE / BGREWRITEAOF status texts vary)."""
    return True


def pong_to_bool(response: Any, **options: Any) -> bool:
    """PING reply -> True when it is "PONG"."""
    return str_if_bytes(response) == "PONG"


def decode_string(response: Any, **options: Any) -> Any:
    """Bulk reply -> str (None stays None)."""
    return str_if_bytes(response)


def list_to_set(response: Any, **options: Any) -> set:
    """Array reply -> set (nil or empty -> empty set)."""
    return response and set(response) or set()


def list_to_tuple_or_none(response: Any, **options: Any) -> Optional[tuple]:
    """Array reply -> tuple; nil (timeout) -> None."""
    return response and tuple(response) or None


def list_of_bools(response: Any, **options: Any) -> List[bool]:
    """Array of 0/1 -> list of bool."""
    return [bool(item) for item in response]


def parse_scan(response: Any, **options: Any) -> Tuple[int, Any]:
    """SCAN / SSCAN -> ``(int cursor, list)``."""
    cursor, items = response
    return int(cursor), items


def parse_hscan(response: Any, **options: Any) -> Tuple[int, Any]:
    """HSCAN -> ``(int cursor, dict)``, or ``(int cursor, list of fields)`` with ``no_values``."""
    cursor, items = response
    if options.get("no_values", False):
        return int(cursor), items or []
    return int(cursor), items and pairs_to_dict(items) or {}


def score_caster(score_cast_func: Any) -> Callable[[Any], Any]:
    """``score_cast_func`` made tolerant of scores in exponent form (e.g. b"1.5e+18").

    A custom function that raises ValueError/TypeError on the raw score is
    retried with the score converted to float first, as redis-py does.
    """
    if score_cast_func is float:
        return float

    def cast(score: Any) -> Any:
        try:
            return score_cast_func(score)
        except (ValueError, TypeError):
            return score_cast_func(float(score))

    return cast


def _member_score_pairs(response: Any, score_cast_func: Any) -> List[tuple]:
    """``[m1, s1, m2, s2, ...]`` -> ``[(m1, cast(s1)), ...]``, by the C ZRANGE parser."""
    return _core.parse_zset_range(response, withscores=True, score_cast_func=score_cast_func)


def parse_zpop(response: Any, **options: Any) -> Any:
    """ZPOPMIN / ZPOPMAX -> list of ``(member, score)`` tuples."""
    if not response:
        return response
    return _member_score_pairs(response, options.get("score_cast_func", float))


def parse_zrank(response: Any, **options: Any) -> Any:
    """ZRANK / ZREVRANK -> rank, or ``[rank, score]`` with ``withscore``."""
    if not response or not options.get("withscore"):
        return response
    cast = score_caster(options.get("score_cast_func", float))
    return [response[0], cast(response[1])]


def parse_zscan(response: Any, **options: Any) -> Tuple[int, List[tuple]]:
    """ZSCAN -> ``(int cursor, [(member, score), ...])``."""
    cursor, items = response
    return int(cursor), _member_score_pairs(items, options.get("score_cast_func", float))


def parse_zadd(response: Any, **options: Any) -> Union[int, float, None]:
    """ZADD -> int count, or the float score with INCR (``as_score``); nil -> None."""
    if response is None:
        return None
    if options.get("as_score"):
        return float(response)
    return int(response)


def parse_zmscore(response: Any, **options: Any) -> List[Optional[float]]:
    """ZMSCORE -> list of float or None."""
    return [None if score is None else float(score) for score in response]


def parse_time(response: Any, **options: Any) -> Tuple[int, int]:
    """TIME -> ``(seconds, microseconds)`` as ints."""
    return int(response[0]), int(response[1])


def parse_bzpop(response: Any, **options: Any) -> Optional[tuple]:
    """BZPOPMIN / BZPOPMAX -> ``(key, member, float score)`` or None."""
    return response and (response[0], response[1], float(response[2])) or None


def parse_client_kill(response: Any, **options: Any) -> Union[int, bool]:
    """CLIENT KILL -> number killed (new form) or bool (old form)."""
    if isinstance(response, int):
        return response
    return str_if_bytes(response) == "OK"


def decode_list(response: Any, **options: Any) -> List[Any]:
    """Array of bulk strings -> list of str."""
    return [str_if_bytes(item) for item in response]


# The hot ones run in C (csrc/reply_parsers.c), with the same behaviour:
#   pairs_to_dict: flat [k1, v1, ...] -> {k1: v1, ...} (nil -> {})
#   parse_set_result: SET -> True / None, or the old value with get=True
#   parse_zset_range: ZRANGE family -> members, or (member, score_cast_func(score))
#     pairs with withscores (a ValueError/TypeError is retried on float(score))
pairs_to_dict = _core.pairs_to_dict
parse_set_result = _core.parse_set_result
parse_zset_range = _core.parse_zset_range
