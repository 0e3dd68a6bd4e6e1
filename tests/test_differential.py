"""Differential tests: every command family through ``sentinelfast.Redis`` and through redis-py's
own ``redis.Redis`` (its own pool and connections) on the same real redis-server, same results.

Each scenario is a function ``scenario(r, k)`` returning a list of results. It runs first with
redis-py, then, after the server is reset (FLUSHALL, SCRIPT FLUSH, FUNCTION FLUSH, test users
deleted), with the client under test, with the same keys; the two lists must be equal value for
value AND type for type (``assert_same``: list vs tuple, bytes vs str, int vs float...), with
``decode_responses`` off and on.

Where a value cannot be the same in two runs (client ids and addresses, times, idle times,
random picks) the scenario compares its shape instead: ``shape(value)`` keeps the structure
(dict keys, list lengths) and the type of every leaf, and each such use says why.

The server is this module's own (server-wide commands — CONFIG SET, ACL, FUNCTION FLUSH,
SCRIPT FLUSH, FLUSHALL — never touch the shared topology). redis-py speaks RESP2 here, as
sentinelfast does (see test_commands.py).
"""

import re
import subprocess
import threading
import time
import warnings

import pytest
import redis
from conftest import RedisServer
from sfimpl import IMPL, sf
from test_commands import assert_same


def _server_version():
    """(major, minor, patch) of the redis-server the fixtures start (commands newer than it
    are left out of the scenarios, not skipped)."""
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                         check=True).stdout
    version = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in version.groups())


SERVER_VERSION = _server_version()

TEST_USERS = ("dt-user", "dt-other")
SAME_PROTOCOL = {"protocol": 2} if IMPL == "redis" else {}


def shape(value):
    """The structure of ``value`` with each leaf replaced by its type name: for values that
    legitimately differ between two runs (ids, times, addresses, random picks)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    if isinstance(value, tuple):
        return tuple(shape(v) for v in value)
    return type(value).__name__


def key_types(mapping):
    """``{key: type name}`` of a flat dict whose values change between runs."""
    return {k: type(v).__name__ for k, v in mapping.items()}


@pytest.fixture(scope="module")
def server():
    srv = RedisServer("standalone", ["slowlog-log-slower-than 1000000"], name="differential")
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


def reset(server):
    """Everything a scenario may have left on the server, gone."""
    admin = redis.Redis(port=server.port, protocol=2)
    try:
        admin.flushall()
        admin.script_flush()
        admin.function_flush()
        for user in TEST_USERS:
            admin.acl_deluser(user)
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("slowlog-log-slower-than", 1000000)
        admin.slowlog_reset()
    finally:
        admin.close()


@pytest.fixture
def run_both(server):
    made = []

    def run(scenario, decode):
        ref = redis.Redis(port=server.port, decode_responses=decode, protocol=2)
        # (SF_TEST_IMPL=redis: redis-py against itself, on RESP2 too; this checks the
        # scenarios are deterministic)
        ours = sf.Redis(port=server.port, decode_responses=decode, **SAME_PROTOCOL)
        made.extend([ref, ours])
        k = f"{scenario.__name__}:"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # redis-py deprecates a few
            reset(server)
            expected = scenario(ref, k)
            reset(server)
            got = scenario(ours, k)
        assert len(got) == len(expected)
        for i, (a, b) in enumerate(zip(got, expected)):
            assert_same(a, b, f"{scenario.__name__} step {i}")
        return got

    yield run
    for client in made:
        client.close()
    reset(server)


# ------------------------------------------------------------------------------------------------
# Scenarios, one per command family
# ------------------------------------------------------------------------------------------------


def strings(r, k):
    return [
        r.set(k + "s", "hello world"),
        r.getrange(k + "s", 0, 4),
        r.substr(k + "s", 6, -1),
        r.setrange(k + "s", 6, "redis"),
        r.get(k + "s"),
        r.strlen(k + "s"),
        r.msetnx({k + "m1": "a", k + "m2": "b"}),
        r.msetnx({k + "m1": "x", k + "m3": "c"}),
        r.mget(k + "m1", k + "m2", k + "m3"),
        r.psetex(k + "p", 100000, "v"),
        90000 <= r.pttl(k + "p") <= 100000,
        r.set(k + "a", "ohmytext"),
        r.set(k + "b", "mynewtext"),
        r.lcs(k + "a", k + "b"),
        r.lcs(k + "a", k + "b", len=True),
        r.lcs(k + "a", k + "b", idx=True, minmatchlen=2, withmatchlen=True),
        r.incrbyfloat(k + "f", "2.5e3"),
        r.getset(k + "s", "new"),
        r.get(k + "s"),
        r.set(k + "bin", b"\x00\xff\r\n"),
        r.strlen(k + "bin"),
        r.getrange(k + "bin", 0, 0),
    ]


def bitmaps(r, k):
    bf = r.bitfield(k + "bf")
    bf.set("u8", 0, 255).get("u8", 0).incrby("i5", 100, 1).overflow("SAT").incrby("u2", 102, 5)
    return [
        r.setbit(k, 7, 1),
        r.setbit(k, 7, 0),
        r.setbit(k, 100, 1),
        r.getbit(k, 100),
        r.getbit(k, 5),
        r.set(k + "s", "foobar"),
        r.bitcount(k + "s"),
        r.bitcount(k + "s", 1, 1),
        r.bitcount(k + "s", 5, 30, mode="BIT"),
        r.bitpos(k + "s", 1),
        r.bitpos(k + "s", 0, 2),
        r.bitpos(k + "s", 1, 2, -1, mode="BYTE"),
        r.bitpos(k + "none", 1),
        r.set(k + "x", "abc"),
        r.bitop("AND", k + "dest", k + "s", k + "x"),
        r.get(k + "dest"),
        r.bitop("NOT", k + "dest", k + "x"),
        bf.execute(),
        r.bitfield(k + "bf").get("u8", 0).get("i4", 4).execute(),
        r.bitfield_ro(k + "bf", "u8", 0, items=[("u4", 4)]),
    ]


def keys(r, k):
    r.rpush(k + "l", 3, 1, 2)
    r.mset({k + "w_1": 30, k + "w_2": 10, k + "w_3": 20, k + "o_1": "one", k + "o_2": "two", k + "o_3": "three"})
    dumped = r.dump(k + "l")
    out = [
        r.sort(k + "l"),
        r.sort(k + "l", desc=True, start=0, num=2),
        r.sort(k + "l", by=k + "w_*"),
        r.sort(k + "l", by=k + "w_*", get=[k + "o_*", "#"]),
        r.sort(k + "l", by=k + "w_*", get=[k + "o_*", "#"], groups=True),
        r.sort(k + "l", store=k + "sorted"),
        r.lrange(k + "sorted", 0, -1),
        r.sort_ro(k + "l", alpha=True),
        r.type(k + "l"),
        r.type(k + "w_1"),
        r.object("encoding", k + "l"),
        r.object("refcount", k + "l"),
        type(r.object("idletime", k + "l")),
        r.object("encoding", k + "w_1"),
        type(dumped),
        dumped == r.dump(k + "l"),
        r.dump(k + "none"),
        r.restore(k + "restored", 0, dumped),
        r.lrange(k + "restored", 0, -1),
        r.restore(k + "restored", 50000, dumped, replace=True),
        40 < r.ttl(k + "restored") <= 50,
        r.copy(k + "l", k + "copy"),
        r.copy(k + "l", k + "copy"),
        r.copy(k + "l", k + "copy", replace=True),
        r.copy(k + "l", k + "copy-db1", destination_db=1),
        r.expire(k + "copy", 100),
        r.expiretime(k + "copy") > time.time(),
        r.expiretime(k + "l"),
        r.pexpireat(k + "copy", int(time.time() * 1000) + 100000),
        r.expireat(k + "copy", int(time.time()) + 100, gt=True),
        r.renamenx(k + "copy", k + "l"),
        r.renamenx(k + "copy", k + "copy2"),
        r.touch(k + "l", k + "copy2", k + "none"),
        r.move(k + "copy2", 2),
        r.exists(k + "copy2"),
        r.memory_usage(k + "l"),
        r.memory_usage(k + "none"),
    ]
    cursor, found = r.scan(0, match=k + "w_*", count=1000)
    out += [type(cursor), sorted(found), sorted(r.scan_iter(match=k + "*", _type="string"))]
    r.flushdb()
    r.set(k + "only", 1)
    out += [r.randomkey(), r.swapdb(0, 1), r.dbsize(), r.swapdb(0, 1), r.flushdb(asynchronous=True)]
    return out


def hashes(r, k):
    r.hset(k, mapping={f"f{i}": i for i in range(20)})
    cursor, fields = r.hscan(k, 0, count=1000)
    pairs = r.hrandfield(k, 20, withvalues=True)  # random order: compared sorted
    return [
        r.hsetnx(k, "f1", "x"),
        r.hsetnx(k, "new", "x"),
        r.hstrlen(k, "new"),
        r.hincrbyfloat(k, "fl", 1.5),
        r.hincrbyfloat(k, "fl", -0.25),
        type(cursor),
        fields,
        dict(r.hscan_iter(k, match="f1*")),
        sorted(r.hscan_iter(k, match="f1*", no_values=True)) if SERVER_VERSION >= (7, 4) else "no NOVALUES",
        r.hrandfield(k + "none"),
        r.hrandfield(k) in r.hkeys(k),
        sorted(r.hrandfield(k, 30)),
        len(r.hrandfield(k, -30)),
        sorted(zip(pairs[::2], pairs[1::2])),
        r.hmget(k, "f3", "none"),
        r.hvals(k + "none"),
        # hash field expiry: HEXPIRE & co. (Redis >= 7.4)
        *(hash_field_expiry(r, k) if SERVER_VERSION >= (7, 4) else []),
    ]


def hash_field_expiry(r, k):
    return [
        r.hexpire(k, 100, "f1", "none"),
        r.httl(k, "f1", "f2", "none"),
        r.hpexpire(k, 50000, "f2", nx=True),
        r.hpersist(k, "f1", "f3"),
        r.hexpiretime(k, "f3"),
    ]


def lists(r, k):
    r.rpush(k, "a", "b", "c", "b", "d", "b")
    return [
        r.lpos(k, "b"),
        r.lpos(k, "b", rank=2),
        r.lpos(k, "b", rank=-1),
        r.lpos(k, "b", count=0),
        r.lpos(k, "b", count=2, maxlen=4),
        r.lpos(k, "zz"),
        r.lpos(k, "zz", count=1),
        r.lindex(k, 1),
        r.lindex(k, 100),
        r.linsert(k, "BEFORE", "c", "x"),
        r.linsert(k, "AFTER", "zz", "x"),
        r.lset(k, 0, "A"),
        r.lrem(k, 0, "b"),
        r.ltrim(k, 0, 2),
        r.lrange(k, 0, -1),
        r.lpushx(k + "none", "v"),
        r.rpushx(k, "v"),
        r.lmove(k, k + "2", "LEFT", "RIGHT"),
        r.rpoplpush(k, k + "2"),
        r.lrange(k + "2", 0, -1),
        r.rpush(k + "3", 1, 2, 3),
        r.lmpop(2, k + "none", k + "3", direction="LEFT"),
        r.lmpop(2, k + "none", k + "3", direction="RIGHT", count=5),
        r.lmpop(1, k + "none", direction="LEFT"),
        r.blmpop(1, 1, k + "2", direction="LEFT", count=2),
        r.blmpop(0.1, 1, k + "none", direction="LEFT"),
        r.blpop([k + "none"], timeout=0.1),
        r.blpop([k + "none", k + "2"], timeout=1),
        r.brpoplpush(k + "none", k + "2", timeout=0.1),
        r.blmove(k + "none", k + "2", 0.1, "LEFT", "LEFT"),
    ]


def sets(r, k):
    r.sadd(k + "a", *[f"m{i}" for i in range(30)])
    r.sadd(k + "b", "m1", "m2", "x")
    cursor, members = r.sscan(k + "a", 0, count=1000)
    return [
        type(cursor),
        sorted(members),
        sorted(r.sscan_iter(k + "a", match="m1*")),
        r.sintercard(2, [k + "a", k + "b"]),
        r.sintercard(2, [k + "a", k + "b"], limit=1),
        r.smismember(k + "b", ["m1", "zz", "x"]),
        r.smismember(k + "b", "m1", "zz"),
        r.sinter(k + "a", k + "b"),
        r.sunion(k + "b", k + "none"),
        r.sdiff(k + "b", k + "a"),
        r.sinterstore(k + "i", [k + "a", k + "b"]),
        r.sunionstore(k + "u", k + "b", k + "none"),
        r.sdiffstore(k + "d", [k + "b", k + "a"]),
        r.smembers(k + "d"),
        r.smove(k + "b", k + "c", "x"),
        r.smove(k + "b", k + "c", "zz"),
        r.spop(k + "c"),
        r.spop(k + "none"),
        sorted(r.spop(k + "i", 5)),
        len(r.srandmember(k + "u", 1)),
        r.srandmember(k + "u") in r.smembers(k + "u"),
        sorted(r.srandmember(k + "u", 10)),
        r.srandmember(k + "none"),
    ]


def sorted_sets(r, k):
    r.zadd(k + "a", {"a": 1, "b": 2, "c": 3})
    r.zadd(k + "b", {"b": 10, "c": 20, "d": 30})
    one = r.zadd(k + "one", {"only": 1.5})
    return [
        one,
        r.zadd(k + "a", {"a": 5, "z": 0}, nx=True, ch=True),
        r.zadd(k + "a", {"a": 0.5}, lt=True, ch=True),
        r.zadd(k + "a", {"a": 4}, gt=True, incr=True),
        r.zrange(k + "a", 0, -1, withscores=True),
        r.zrange(k + "a", 0, -1, withscores=True, score_cast_func=int),
        r.zrange(k + "a", "(1", "+inf", byscore=True, offset=0, num=2, withscores=True),
        r.zrange(k + "a", "[a", "[c", bylex=True),
        r.zrevrange(k + "a", 0, 1, withscores=True),
        r.zrevrangebyscore(k + "a", "+inf", 2, withscores=True),
        r.zrangebylex(k + "a", "-", "+"),
        r.zrangestore(k + "st", k + "a", 0, 1),
        r.zrangestore(k + "st", k + "a", 2, 3, byscore=True, desc=True),
        r.zrange(k + "st", 0, -1, withscores=True),
        r.zunion([k + "a", k + "b"]),
        r.zunion([k + "a", k + "b"], withscores=True),
        r.zunion({k + "a": 2, k + "b": 1}, aggregate="MAX", withscores=True),
        r.zinter([k + "a", k + "b"], withscores=True),
        r.zinter([k + "a", k + "b"], aggregate="MIN", withscores=True),
        r.zdiff([k + "a", k + "b"]),
        r.zdiff([k + "a", k + "b"], withscores=True),
        r.zunionstore(k + "us", [k + "a", k + "b"]),
        r.zinterstore(k + "is", {k + "a": 1, k + "b": 0.5}),
        r.zdiffstore(k + "ds", [k + "a", k + "b"]),
        r.zintercard(2, [k + "a", k + "b"]),
        r.zrandmember(k + "one"),
        r.zrandmember(k + "one", 1),
        r.zrandmember(k + "one", 1, withscores=True),
        sorted(r.zrandmember(k + "a", 10)),
        r.zrandmember(k + "none"),
        r.zscan(k + "b", 0),
        sorted(r.zscan_iter(k + "a")),
        r.zscan(k + "b", 0, score_cast_func=int),
        r.zmscore(k + "a", ["a", "zz", "c"]),
        r.zrank(k + "a", "c"),
        r.zrevrank(k + "a", "c"),
        r.zcount(k + "a", 1, 3),
        r.zlexcount(k + "a", "-", "+"),
        r.zpopmin(k + "b"),
        r.zpopmax(k + "b", 1),
        r.bzpopmin([k + "b"], timeout=1),
        r.bzpopmin([k + "none"], timeout=0.1),
        r.bzpopmax(k + "a", timeout=1),
        r.zmpop(1, [k + "a"], min=True, count=2),
        r.bzmpop(1, 1, [k + "a"], max=True),
        r.zremrangebyrank(k + "us", 0, 0),
        r.zremrangebyscore(k + "us", 0, 3),
        r.zremrangebylex(k + "st", "-", "+"),
    ]


def hyperloglog(r, k):
    return [
        r.pfadd(k + "a", "x", "y", "z"),
        r.pfadd(k + "a", "x"),
        r.pfadd(k + "b", "z", "w"),
        r.pfcount(k + "a"),
        r.pfcount(k + "a", k + "b"),
        r.pfmerge(k + "m", k + "a", k + "b"),
        r.pfcount(k + "m"),
        r.pfcount(k + "none"),
    ]


def geo(r, k):
    places = (13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania")
    return [
        r.geoadd(k, places),
        r.geoadd(k, (13.583333, 37.316667, "Agrigento"), nx=True),
        r.geoadd(k, (13.5, 37.3, "Agrigento"), xx=True, ch=True),
        r.geodist(k, "Palermo", "Catania"),
        r.geodist(k, "Palermo", "Catania", unit="km"),
        r.geodist(k, "Palermo", "nowhere"),
        r.geohash(k, "Palermo", "nowhere"),
        r.geopos(k, "Palermo", "nowhere"),
        r.geosearch(k, longitude=15, latitude=37, radius=200, unit="km", sort="ASC"),
        r.geosearch(k, member="Palermo", radius=200, unit="km", withcoord=True, withdist=True,
                    withhash=True, sort="ASC"),
        r.geosearch(k, longitude=15, latitude=37, width=400, height=400, unit="km",
                    withdist=True, sort="DESC", count=2),
        r.geosearchstore(k + "dest", k, longitude=15, latitude=37, radius=200, unit="km"),
        r.georadius(k, 15, 37, 200, unit="km", withdist=True, withcoord=True, sort="ASC"),
        r.georadiusbymember(k, "Palermo", 100, unit="km"),
    ]


def without_times(pending):
    """XPENDING entries without their idle time (milliseconds since delivery)."""
    return [{k: v for k, v in entry.items() if k != "time_since_delivered"} for entry in pending]


def streams(r, k):
    s = k + "s"
    out = [
        r.xadd(s, {"f": "v1"}, id="1-1"),
        r.xadd(s, {"f": "v2", "g": 2}, id="2-1"),
        r.xadd(s, {"f": "v3"}, id="3-1"),
        r.xadd(s, {"f": "v4"}, id="4-1", maxlen=10, approximate=False),
        r.xlen(s),
        r.xrange(s),
        r.xrange(s, min="2-0", max="3-9", count=1),
        r.xrevrange(s, count=2),
        r.xread({s: "2-1"}),
        r.xread({s: "$"}, block=100),
        r.xread({s: 0, k + "none": 0}, count=1),
        r.xgroup_create(s, "grp", id="0"),
        r.xgroup_create(s + "new", "grp", id="$", mkstream=True),
        r.xgroup_createconsumer(s, "grp", "alice"),
        r.xreadgroup("grp", "alice", {s: ">"}, count=2),
        r.xreadgroup("grp", "bob", {s: ">"}, count=1, noack=False),
        r.xreadgroup("grp", "alice", {s: "0"}),
        r.xack(s, "grp", "1-1", "9-9"),
        r.xpending(s, "grp"),
    ]
    # idle times and delivery counts after a claim depend on timing: shape only
    pending = r.xpending_range(s, "grp", min="-", max="+", count=10)
    out += [
        without_times(pending),
        shape(pending),
        without_times(r.xpending_range(s, "grp", "-", "+", 10, consumername="bob", idle=0)),
        r.xclaim(s, "grp", "carol", 0, ["2-1"]),
        r.xclaim(s, "grp", "carol", 0, ["3-1"], justid=True),
        r.xautoclaim(s, "grp", "dave", 0, start_id="0-0", count=1),
        r.xautoclaim(s, "grp", "dave", 0, start_id="0-0", justid=True),
        r.xinfo_stream(s),
        r.xinfo_stream(s, full=True)["entries"],
        r.xinfo_groups(s),
        # idle / inactive are milliseconds since the consumer's last action: shape only
        sorted(c["name"] for c in r.xinfo_consumers(s, "grp")),
        shape(r.xinfo_consumers(s, "grp")[0]),
        r.xgroup_setid(s, "grp", "0"),
        r.xgroup_delconsumer(s, "grp", "dave"),
        r.xtrim(s, maxlen=2, approximate=False),
        r.xtrim(s, minid="4-0"),
        r.xdel(s, "4-1", "9-9"),
        r.xlen(s),
        r.xgroup_destroy(s, "grp"),
        type(r.xadd(s, {"auto": "id"})),  # a generated id: its type only
    ]
    return out


def pubsub_commands(r, k):
    # A subscriber made with redis-py in both runs (Pub/Sub of the client under test is
    # tested elsewhere): these are the commands about channels, not the subscription.
    sub_client = redis.Redis(port=r.connection_pool.connection_kwargs["port"], protocol=2)
    sub = sub_client.pubsub()
    sub.subscribe(k + "chan")
    sub.psubscribe(k + "pat*")
    deadline = time.time() + 10
    while r.pubsub_numpat() < 1 and time.time() < deadline:
        time.sleep(0.01)
    try:
        return [
            r.publish(k + "chan", "hello"),
            r.publish(k + "nobody", "hello"),
            r.publish(k + "pattern", "hello"),
            r.pubsub_channels(),
            r.pubsub_channels(k + "c*"),
            r.pubsub_channels("nomatch*"),
            r.pubsub_numsub(k + "chan", k + "nobody"),
            r.pubsub_numsub(),
            r.pubsub_numpat(),
            r.pubsub_shardchannels(),
            r.pubsub_shardnumsub(k + "chan"),
            r.spublish(k + "shard", "x"),
        ]
    finally:
        sub.close()
        sub_client.close()


def acl(r, k):
    user = TEST_USERS[0]
    return [
        r.acl_setuser(user, enabled=True, passwords=["+pw1"], keys=["~app:*"],
                      channels=["&news"], commands=["+get", "+set", "-debug"], categories=["+@hash"]),
        r.acl_getuser(user),
        r.acl_getuser("nobody"),
        r.acl_setuser(user, passwords=["-pw1", "+pw2"], reset_keys=True, keys=["~other:*"]),
        r.acl_getuser(user)["keys"],
        r.acl_setuser(TEST_USERS[1], nopass=True, enabled=False),
        sorted(r.acl_users()),
        sorted(r.acl_list()),
        r.acl_whoami(),
        sorted(r.acl_cat()),
        sorted(r.acl_cat("hash")),
        r.acl_dryrun(user, "get", "other:1"),
        r.acl_dryrun(user, "del", "other:1") != "OK",
        len(r.acl_genpass()),
        len(r.acl_genpass(64)),
        r.acl_deluser(*TEST_USERS),
        r.acl_deluser("nobody"),
    ]


def client_commands(r, k):
    victim = type(r)(port=r.connection_pool.connection_kwargs["port"])
    victim_id = victim.client_id()
    my_id = r.client_id()
    info = r.client_info()
    mine = r.client_list(client_id=[my_id])
    out = [
        type(my_id),
        # ids, addresses, ages and buffer sizes differ between connections: keys and types
        key_types(info),
        info["id"] == my_id,
        len(mine),
        key_types(mine[0]),
        r.client_getname(),
        r.client_setname("dt-name"),
        r.client_getname(),
        r.client_list(_type="normal")[0].keys() == info.keys(),
        [c["name"] for c in r.client_list(client_id=[my_id])],
        r.client_trackinginfo(),
        r.client_tracking_on(),
        r.client_trackinginfo(),
        r.client_tracking_off(),
        r.client_no_evict("on"),
        r.client_no_evict("off"),
        r.client_no_touch("on") if SERVER_VERSION >= (7, 2) else "no NO-TOUCH",
        r.client_kill_filter(_id=victim_id),
        r.client_kill_filter(_type="pubsub"),
        r.client_kill_filter(addr="127.0.0.1:1"),
        r.client_kill_filter(_id=my_id, skipme=True),
        r.client_pause(1, all=False),
        r.client_unpause(),
        r.client_reply("ON"),
        r.client_getredir(),
    ]
    victim.close()
    return out


def server_commands(r, k):
    r.set(k + "key", "v" * 100)
    info_server = r.info("server")
    info_keyspace = r.info("keyspace")
    default_info = r.info()
    everything = r.info("everything")
    t = r.time()
    mem = r.memory_stats()
    slow_len_before = r.slowlog_len()
    r.config_set("slowlog-log-slower-than", 0)
    r.set(k + "slow", 1)
    r.config_set("slowlog-log-slower-than", 1000000)
    slow = r.slowlog_get(2)
    return [
        # values like uptime, pid and the executable's path differ: the keys and their types
        key_types(info_server),
        info_server["redis_version"],
        info_keyspace,
        sorted(default_info) == sorted(set(default_info)),
        "used_memory" in default_info,
        key_types({k2: v for k2, v in everything.items() if not k2.startswith(("cmdstat_", "errorstat_", "latency_"))}).keys() >= {"redis_version", "used_memory", "connected_clients"},
        r.info("commandstats")["cmdstat_set"].keys() if "cmdstat_set" in r.info("commandstats") else "no cmdstat",
        r.config_get("maxmemory-policy"),
        r.config_get("maxmemory*"),
        r.config_set("maxmemory-policy", "allkeys-lru"),
        r.config_get("maxmemory-policy"),
        r.config_set("maxmemory-policy", "noeviction", "hz", 10),
        r.dbsize(),
        type(t),
        [type(x) for x in t],
        abs(t[0] - time.time()) < 60,
        type(r.lastsave()),
        r.memory_usage(k + "key"),
        r.memory_usage(k + "key", samples=0),
        # allocator figures differ from one moment to the next: keys and types
        key_types(mem),
        slow_len_before,
        len(slow),
        shape(slow),
        [entry["command"] for entry in slow],
        r.slowlog_reset(),
        r.slowlog_len(),
        type(r.command_count()),
        r.command_count() > 100,
        r.command()["get"],
        r.execute_command("COMMAND INFO", "get", "set"),
        r.execute_command("COMMAND DOCS", "get"),
        sorted(r.command_list(pattern="xa*")),
        sorted(r.command_list(category="hyperloglog")),
        r.command_list(module="nomodule"),
        r.command_getkeys("MSET", "a", 1, "b", 2),
        r.command_getkeysandflags("LMOVE", "src", "dst", "LEFT", "RIGHT"),
        r.lolwut(5, 1, 1).split(b"\n\n" if isinstance(r.echo("x"), bytes) else "\n\n")[-1],  # the art is random
        r.echo("echo"),
        r.echo(b"\x00\x01"),
        r.ping(),
        r.save(),
        r.lastsave() == r.lastsave(),
    ]


def scripting(r, k):
    add = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
    sha = r.script_load(add)
    return [
        sha,
        r.eval("return {1, 'two', {3}, false, true}", 0),
        r.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, k + "a", "v"),
        r.eval("return redis.status_reply('FINE')", 0),
        r.eval("return 3.99", 0),
        r.evalsha(sha, 1, k + "n", 5),
        r.evalsha(sha, 1, k + "n", 5),
        r.script_exists(sha, "0" * 40),
        r.eval_ro("return redis.call('GET', KEYS[1])", 1, k + "a"),
        r.script_flush(),
        r.script_exists(sha),
        r.script_load(add) == sha,
        r.script_flush("SYNC"),
    ]


LIBRARY = """#!lua name=dtlib
redis.register_function('dt_set', function(keys, args) return redis.call('SET', keys[1], args[1]) end)
redis.register_function{function_name='dt_get', callback=function(keys, args) return redis.call('GET', keys[1]) end, flags={'no-writes'}}
"""


def functions(r, k):
    loaded = r.function_load(LIBRARY)
    dumped = r.function_dump()
    return [
        loaded,
        r.function_load(LIBRARY, replace=True),
        r.fcall("dt_set", 1, k + "a", "value"),
        r.fcall("dt_get", 1, k + "a"),
        r.fcall_ro("dt_get", 1, k + "a"),
        r.function_list(),
        r.function_list(library="dt*", withcode=True),
        r.function_list(library="nothing"),
        type(dumped),
        r.function_delete("dtlib"),
        r.function_list(),
        r.function_restore(dumped),
        r.fcall_ro("dt_get", 1, k + "a"),
        r.function_restore(dumped, "REPLACE"),
        r.function_flush(),
        r.function_list(),
        # FUNCTION STATS: the running script and engines; no times in it when idle
        r.function_stats(),
    ]


def pipelines(r, k):
    out = []
    for transaction in (True, False):
        p = r.pipeline(transaction=transaction)
        p.set(k + "s", "v").get(k + "s").hset(k + "h", mapping={"a": 1, "b": 2}).hgetall(k + "h")
        p.zadd(k + "z", {"m": 1, "n": 2}).zrange(k + "z", 0, -1, withscores=True)
        p.zunion([k + "z"], withscores=True).xadd(k + "x", {"f": 1}, id="1-1").xrange(k + "x")
        p.geoadd(k + "g", (13.361389, 38.115556, "Palermo")).geopos(k + "g", "Palermo")
        p.sadd(k + "set", "a").smembers(k + "set").smismember(k + "set", ["a", "b"])
        p.pfadd(k + "hll", "a").pfcount(k + "hll").setbit(k + "bits", 3, 1).bitcount(k + "bits")
        p.lpush(k + "l", 1, 2).lpos(k + "l", 1).blpop([k + "l"], timeout=1)
        p.eval("return ARGV[1]", 0, "x").config_get("maxmemory-policy").echo("e")
        p.incr(k + "s")  # an error reply inside
        p.type(k + "h").object("encoding", k + "h").ttl(k + "s").delete(k + "s", k + "h")
        if not transaction:  # raw bytes amid decoded replies (in MULTI/EXEC redis-py decodes all)
            p.dump(k + "set").slowlog_get(1).echo("after")
        out.append(p.execute(raise_on_error=False))
        error = 24  # INCR of a string: the error, as class and text
        out[-1][error] = (type(out[-1][error]).__name__, str(out[-1][error]))
        r.flushdb()
    return out


SCENARIOS = [strings, bitmaps, keys, hashes, lists, sets, sorted_sets, hyperloglog, geo, streams,
             pubsub_commands, acl, client_commands, server_commands, scripting, functions, pipelines]


@pytest.mark.parametrize("decode", [False, True], ids=["bytes", "decode_responses"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_same_results_as_redis_py(run_both, scenario, decode):
    run_both(scenario, decode)


def test_blocking_pop_waits_for_a_push_like_redis_py(run_both):
    """BLPOP / BZPOPMIN with a timeout answered by another client's push while they wait."""

    def blocking(r, k):
        port = r.connection_pool.connection_kwargs["port"]
        pusher = redis.Redis(port=port, protocol=2)
        timers = [threading.Timer(0.2, pusher.rpush, (k + "l", "late")),
                  threading.Timer(0.2, pusher.zadd, (k + "z", {"m": 3}))]
        for t in timers:
            t.start()
        try:
            return [r.blpop([k + "l"], timeout=10), r.bzpopmin([k + "z"], timeout=10)]
        finally:
            for t in timers:
                t.join()
            pusher.close()

    assert run_both(blocking, False) == [(b"blocking:l", b"late"), (b"blocking:z", b"m", 3.0)]


@pytest.mark.parametrize("decode", [False, True], ids=["bytes", "decode_responses"])
def test_same_errors_as_redis_py(run_both, decode):
    """The same exception classes and messages for bad calls and error replies."""

    def errors(r, k):
        r.set(k + "s", "v")
        out = []
        calls = [
            lambda: r.incr(k + "s"),
            lambda: r.lpush(k + "s", 1),
            lambda: r.evalsha("0" * 40, 0),
            lambda: r.fcall("nofunc", 0),
            lambda: r.xreadgroup("nogroup", "c", {k + "s": ">"}),
            lambda: r.execute_command("NOSUCHCOMMAND"),
            lambda: r.zadd(k + "z", {"a": 1}, nx=True, xx=True),
            lambda: r.lmpop(1, k + "l", direction="SIDEWAYS"),
            lambda: r.config_set("no-such-parameter", 1),
            lambda: r.command_info(),
        ]
        for call in calls:
            try:
                out.append(("returned", call()))
            except Exception as e:  # the class (a redis-py one, or its subclass) and message
                redis_class = getattr(redis.exceptions, type(e).__name__, type(e))
                out.append((type(e).__name__, isinstance(e, redis_class), str(e)))
        return out

    run_both(errors, decode)


MASTER_FOR_SCENARIOS = [strings, hashes, lists, sets, sorted_sets, hyperloglog, geo, streams]


@pytest.mark.parametrize("decode", [False, True], ids=["bytes", "decode_responses"])
def test_master_for_client_same_results_as_redis_py(topology, key, decode):
    """The client ``Sentinel.master_for`` returns (its pool follows Sentinel) gives the same
    results as redis-py's plain client on that master. The shared topology is not flushed:
    the scenarios' keys live under this test's prefix and are deleted between the runs."""
    sentinel = sf.Sentinel(topology.sentinel_addresses, socket_timeout=5)
    ours = sentinel.master_for(topology.service_name, decode_responses=decode, **SAME_PROTOCOL)
    ref = redis.Redis(port=topology.master.port, decode_responses=decode, protocol=2)

    def clear():
        names = list(ref.scan_iter(match=key + "*", count=1000))
        if names:
            ref.delete(*names)

    try:
        for scenario in MASTER_FOR_SCENARIOS:
            k = f"{key}{scenario.__name__}:"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                expected = scenario(ref, k)
                clear()
                got = scenario(ours, k)
                clear()
            assert len(got) == len(expected)
            for i, (a, b) in enumerate(zip(got, expected)):
                assert_same(a, b, f"{scenario.__name__} step {i}")
    finally:
        clear()
        ours.close()
        ref.close()
