"""``RESPONSE_CALLBACKS``: upper-case command name -> callback(response, **options).

The table reproduces what redis-py 8.1 returns on a RESP2 connection with its
default ``legacy_responses=True`` (``_RedisCallbacks`` + ``_RedisCallbacksRESP2``)
for the commands sentinelfast implements, plus the simply-typed commands a
client or pipeline may send itself (AUTH, SELECT, WATCH, ...). Commands not
listed are returned as the raw reply.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

from . import parsers as p
from . import sentinel_parsers as sp
from . import server_parsers as srv

Callback = Callable[..., Any]


def _same(callback: Callback, names: str) -> Dict[str, Callback]:
    return dict.fromkeys(names.split(), callback)


RESPONSE_CALLBACKS: Dict[str, Callback] = {
    # integer 0/1 -> bool
    **_same(
        p.to_bool,
        "AUTH COPY EXPIRE EXPIREAT HEXISTS HMSET MOVE MSETNX PERSIST PSETEX "
        "PEXPIRE PEXPIREAT RENAMENX SETEX SETNX SMOVE",
    ),
    "CLIENT UNBLOCK": p.to_bool,
    # "OK" -> True
    **_same(
        p.ok_to_bool,
        "FLUSHALL FLUSHDB LSET LTRIM MSET PFMERGE READONLY READWRITE RENAME "
        "SAVE SELECT SHUTDOWN SLAVEOF SWAPDB WATCH UNWATCH QUIT",
    ),
    **_same(p.always_true, "BGREWRITEAOF BGSAVE"),
    "CLIENT PAUSE": p.ok_to_bool,
    "CLIENT SETINFO": p.ok_to_bool,
    "CLIENT SETNAME": p.ok_to_bool,
    "CONFIG RESETSTAT": p.ok_to_bool,
    "CONFIG SET": p.ok_to_bool,
    "SCRIPT FLUSH": p.ok_to_bool,
    "SCRIPT KILL": p.ok_to_bool,
    "SLOWLOG RESET": p.ok_to_bool,
    # numbers
    **_same(p.to_float, "HINCRBYFLOAT INCRBYFLOAT"),
    **_same(p.float_or_none, "ZINCRBY ZSCORE"),
    # strings
    "SET": p.parse_set_result,
    "PING": p.pong_to_bool,
    "RESET": p.decode_string,
    "CLIENT GETNAME": p.decode_string,
    "SCRIPT LOAD": p.decode_string,
    "SCRIPT EXISTS": p.list_of_bools,
    # keys / hashes / lists / sets
    "SCAN": p.parse_scan,
    "SSCAN": p.parse_scan,
    "HSCAN": p.parse_hscan,
    "HGETALL": p.pairs_to_dict,
    **_same(p.list_to_tuple_or_none, "BLPOP BRPOP"),
    **_same(p.list_to_set, "SDIFF SINTER SMEMBERS SUNION"),
    # sorted sets
    "ZADD": p.parse_zadd,
    **_same(p.parse_zset_range, "ZRANGE ZRANGEBYSCORE ZREVRANGE ZREVRANGEBYSCORE"),
    **_same(p.parse_zpop, "ZPOPMAX ZPOPMIN"),
    **_same(p.parse_zrank, "ZRANK ZREVRANK"),
    **_same(p.parse_bzpop, "BZPOPMAX BZPOPMIN"),
    "ZMSCORE": p.parse_zmscore,
    "ZSCAN": p.parse_zscan,
    # server
    "INFO": srv.parse_info,
    "TIME": p.parse_time,
    "LASTSAVE": srv.timestamp_to_datetime,
    "CONFIG GET": srv.parse_config_get,
    "CLIENT LIST": srv.parse_client_list,
    "CLIENT INFO": srv.parse_client_info,
    "CLIENT KILL": p.parse_client_kill,
    # sentinel
    "SENTINEL GET-MASTER-ADDR-BY-NAME": sp.parse_sentinel_get_master,
    "SENTINEL MASTER": sp.parse_sentinel_master,
    "SENTINEL MASTERS": sp.parse_sentinel_masters,
    "SENTINEL SENTINELS": sp.parse_sentinel_slaves_and_sentinels,
    "SENTINEL SLAVES": sp.parse_sentinel_slaves_and_sentinels,
    **{
        f"SENTINEL {sub}": p.ok_to_bool
        for sub in ("CKQUORUM", "FAILOVER", "FLUSHCONFIG", "MONITOR", "RESET", "REMOVE", "SET")
    },
}
