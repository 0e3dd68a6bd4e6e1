"""sentinelfast.asyncio.Redis against a real server, side by side with redis.asyncio.

Every test runs its coroutine with ``asyncio.run`` (a fresh loop per test). The same
calls go through ``redis.asyncio.Redis`` on the same server where the results are
compared, so the expected values are redis-py's own.
"""
import asyncio
import gc
import inspect
import os
import subprocess
import sys
import textwrap

import pytest
import redis.asyncio
import redis.exceptions
from aio_loop import run_on_new_loop
from sfimpl import IMPL

import sentinelfast.asyncio as aio
from sentinelfast.asyncio.connection import Connection, ConnectionPool

pytestmark = pytest.mark.skipif(IMPL != "sentinelfast",
                                reason="sentinelfast.asyncio has no redis-py twin to switch to")

TIMEOUT = 10        # bound for any single wait in these tests (generous on shared cores)


try:
    import uvloop
except ImportError:     # the test extra installs it; without it, the default loop only
    uvloop = None

LOOPS = ["asyncio"] + (["uvloop"] if uvloop is not None else [])


@pytest.fixture(params=LOOPS)
def run(request):
    """Run a coroutine to completion (bounded) on a new loop of each kind: asyncio's
    default loop, and uvloop's."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else None

    def runner(coro):
        return run_on_new_loop(asyncio.wait_for(coro, 60), factory)
    return runner


def client(server, **kwargs):
    return aio.Redis(host=server.host, port=server.port, **kwargs)


def reference(server, **kwargs):
    return redis.asyncio.Redis(host=server.host, port=server.port, **kwargs)


def test_is_a_redis_asyncio_client(plain_server, run):
    async def main():
        async with client(plain_server) as r:
            assert isinstance(r, redis.asyncio.Redis)
            assert await r.ping() is True
            assert await r.set("k", "v") is True
            assert await r.get("k") == b"v"
    run(main())


def clients_named(server, name):
    """How many connections the server has with CLIENT SETNAME ``name``."""
    listing = server.command("CLIENT", "LIST")
    if isinstance(listing, bytes):
        listing = listing.decode()
    return sum(1 for line in listing.splitlines() if f" name={name} " in line)


async def _families(r, k):
    """One call or more of each command family; the results in order."""
    out = []
    out.append(await r.set(k + "s", "v", ex=100))
    out.append(await r.get(k + "s"))
    out.append(await r.getrange(k + "s", 0, 0))
    out.append(await r.mset({k + "a": 1, k + "b": "two"}))
    out.append(await r.mget([k + "a", k + "b", k + "missing"]))
    out.append(await r.incr(k + "n", 5))
    out.append(await r.incrbyfloat(k + "f", 1.5))
    out.append(await r.exists(k + "a", k + "missing"))
    out.append(await r.ttl(k + "s") > 0)
    out.append(await r.hset(k + "h", mapping={"f1": "1", "f2": "2"}))
    out.append(await r.hgetall(k + "h"))
    out.append(await r.hmget(k + "h", ["f1", "nope"]))
    out.append(await r.rpush(k + "l", 1, 2, 3))
    out.append(await r.lrange(k + "l", 0, -1))
    out.append(await r.lpop(k + "l"))
    out.append(await r.sadd(k + "set", "x", "y"))
    out.append(sorted(await r.smembers(k + "set")))
    out.append(await r.zadd(k + "z", {"a": 1, "b": 2.5}))
    out.append(await r.zrange(k + "z", 0, -1, withscores=True))
    out.append(await r.zscore(k + "z", "b"))
    out.append(await r.xadd(k + "x", {"f": "v"}, id="1-1"))
    out.append(await r.xrange(k + "x"))
    out.append(await r.pfadd(k + "hll", "a", "b"))
    out.append(await r.pfcount(k + "hll"))
    out.append(await r.setbit(k + "bits", 7, 1))
    out.append(await r.bitcount(k + "bits"))
    out.append(await r.geoadd(k + "geo", (13.361389, 38.115556, "Palermo")))
    out.append(await r.type(k + "z"))
    out.append(await r.eval("return {#KEYS, ARGV[1]}", 1, k + "s", "arg"))
    out.append(await r.delete(k + "a", k + "b"))
    out.append(await r.echo("hé"))
    out.append(await r.config_get("maxmemory"))
    out.append(await r.client_setname("aio-diff"))
    out.append(await r.client_getname())
    out.append((await r.info("server"))["redis_version"] is not None)
    try:
        await r.lpush(k + "s", "x")
    except redis.exceptions.ResponseError as exc:
        out.append((type(exc).__name__, str(exc)))
    return out


@pytest.mark.parametrize("decode", [False, True])
def test_commands_same_as_redis_asyncio(plain_server, decode, run):
    async def main():
        async with client(plain_server, decode_responses=decode) as ours, \
                reference(plain_server, decode_responses=decode) as theirs:
            got = await _families(ours, "ours:")
            expected = await _families(theirs, "theirs:")
            assert got == expected
            assert await ours.dump("ours:s") == await theirs.dump("theirs:s")  # NEVER_DECODE
            outcomes = []
            for c in (ours, theirs):      # answered locally (EMPTY_RESPONSE) or an error
                try:
                    outcomes.append(await c.mget([]))
                except Exception as exc:
                    outcomes.append(type(exc).__name__)
            assert outcomes[0] == outcomes[1]
    run(main())


def test_error_reply_class_and_connection_kept(plain_server, run):
    async def main():
        async with client(plain_server, max_connections=1) as r:
            await r.set("str", "v")
            with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
                await r.lpush("str", "x")
            with pytest.raises(redis.exceptions.ResponseError, match="unknown command"):
                await r.execute_command("NO-SUCH-COMMAND")
            assert await r.get("str") == b"v"
            assert r.connection_pool._created_connections == 1
    run(main())


def test_large_values_and_many_fields(plain_server, run):
    async def main():
        async with client(plain_server) as r:
            big = os.urandom(3 * 1024 * 1024)
            await r.set("big", big)
            assert await r.get("big") == big
            await r.hset("wide", mapping={f"f{i}": str(i) for i in range(1000)})
            fields = await r.hgetall("wide")
            assert len(fields) == 1000 and fields[b"f999"] == b"999"
    run(main())


def test_pipeline_and_transaction(plain_server, run):
    async def main():
        async with client(plain_server) as r, reference(plain_server) as ref:
            results = []
            for c, k in ((r, "ours:"), (ref, "theirs:")):
                async with c.pipeline() as p:
                    p.set(k + "a", 1).incr(k + "a").get(k + "a").hset(k + "h", "f", "v")
                    p.hgetall(k + "h").lpush(k + "a", "x").mget([])
                    results.append(await p.execute(raise_on_error=False))
            ours, theirs = results
            assert [type(x).__name__ if isinstance(x, Exception) else x for x in ours] == \
                   [type(x).__name__ if isinstance(x, Exception) else x for x in theirs]
            assert isinstance(ours[5], redis.exceptions.ResponseError)
            assert ours[:5] == [True, 2, b"2", 1, {b"f": b"v"}]
            async with r.pipeline(transaction=False) as p:
                for i in range(100):
                    p.set(f"p{i}", i)
                for i in range(100):
                    p.get(f"p{i}")
                values = await p.execute()
            assert values[100:] == [str(i).encode() for i in range(100)]
    run(main())


def test_watch_conflict_raises_watcherror(plain_server, run):
    async def main():
        async with client(plain_server) as r, client(plain_server) as other:
            await r.set("w", 1)
            async with r.pipeline() as p:
                await p.watch("w")
                assert await p.get("w") == b"1"
                await other.set("w", 2)        # another client changes the key
                p.multi()
                p.set("w", 3)
                with pytest.raises(redis.exceptions.WatchError):
                    await p.execute()
            assert await r.get("w") == b"2"

            async def bump(pipe):
                value = int(await pipe.get("w"))
                pipe.multi()
                pipe.set("w", value + 1)
            assert await r.transaction(bump, "w") == [True]
            assert await r.get("w") == b"3"
    run(main())


def test_pubsub_subscribe_and_get_message(plain_server, run):
    async def main():
        async with client(plain_server) as r:
            p = r.pubsub()
            await p.subscribe("chan")
            await p.psubscribe("pat.*")
            first = await p.get_message(timeout=TIMEOUT)
            assert first["type"] == "subscribe" and first["channel"] == b"chan"
            second = await p.get_message(timeout=TIMEOUT)
            assert second["type"] == "psubscribe"
            assert await p.get_message(timeout=0.05) is None    # nothing published yet
            assert await r.publish("chan", "hello") == 1
            assert await r.publish("pat.x", "world") == 1
            msg = await p.get_message(timeout=TIMEOUT)
            assert (msg["type"], msg["channel"], msg["data"]) == ("message", b"chan", b"hello")
            msg = await p.get_message(timeout=TIMEOUT)
            assert (msg["type"], msg["pattern"], msg["data"]) == ("pmessage", b"pat.*", b"world")
            await p.unsubscribe("chan")
            msg = await p.get_message(timeout=TIMEOUT)
            assert msg["type"] == "unsubscribe"
            await p.aclose()
    run(main())


def test_pubsub_ignore_subscribe_messages_and_decoding(plain_server, run):
    async def main():
        async with client(plain_server, decode_responses=True) as r:
            p = r.pubsub(ignore_subscribe_messages=True)
            await p.subscribe("c2")
            assert await p.get_message(timeout=0.2) is None   # the confirmation is skipped
            await r.publish("c2", "é")
            msg = await p.get_message(timeout=TIMEOUT)
            while msg is None:
                msg = await p.get_message(timeout=TIMEOUT)
            assert msg["data"] == "é" and msg["channel"] == "c2"
            await p.aclose()
    run(main())


def test_cancelled_command_closes_its_connection(plain_server, run):
    """A BLPOP cancelled while it waits: its connection is closed (the server stops
    blocking it) and the pool's next command gets its own reply, not BLPOP's."""
    async def main():
        async with client(plain_server, max_connections=1, client_name="cancelme") as r:
            task = asyncio.create_task(r.blpop(["queue"], timeout=0))
            for _ in range(200):
                await asyncio.sleep(0.01)
                if plain_server.info("clients")["blocked_clients"] == "1":
                    break
            else:
                pytest.fail("BLPOP never blocked")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            conn = r.connection_pool._available_connections[0]
            assert not conn.is_connected
            for _ in range(200):
                if plain_server.info("clients")["blocked_clients"] == "0":
                    break
                await asyncio.sleep(0.01)
            assert plain_server.info("clients")["blocked_clients"] == "0"
            await r.rpush("queue", "item")
            assert await r.get("other") is None             # its own reply
            assert await r.lrange("queue", 0, -1) == [b"item"]   # BLPOP took nothing
    run(main())


def test_wait_for_timeout_mid_reply_is_not_reused(plain_server, run):
    async def main():
        admin = client(plain_server)
        async with client(plain_server, max_connections=1) as r:
            await r.set("k", "v")
            sleeper = asyncio.create_task(admin.execute_command("DEBUG", "SLEEP", 0.5))
            await asyncio.sleep(0.1)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(r.get("k"), 0.1)
            await sleeper
            assert await r.incr("n") == 1       # not the GET's late reply
            assert await r.get("k") == b"v"
        await admin.aclose()
    run(main())


def test_socket_timeout(plain_server, run):
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    async def main():
        async with client(plain_server, socket_timeout=0.2, retry=Retry(NoBackoff(), 0)) as r, \
                reference(plain_server, socket_timeout=0.2, retry=Retry(NoBackoff(), 0)) as ref:
            for c in (r, ref):
                with pytest.raises(redis.exceptions.TimeoutError):
                    await c.execute_command("DEBUG", "SLEEP", 0.6)
            await asyncio.sleep(0.8)
            assert await r.ping() is True
            assert await r.incr("t") == 1
    run(main())


def test_fifty_concurrent_tasks_on_one_pool(plain_server, run):
    async def main():
        async with client(plain_server) as r:
            async def worker(i):
                for j in range(20):
                    await r.set(f"task:{i}", j)
                    assert await r.get(f"task:{i}") == str(j).encode()
                    await r.incr("total")
                return i
            done = await asyncio.gather(*(worker(i) for i in range(50)))
            assert done == list(range(50))
            assert await r.get("total") == b"1000"
            assert 1 <= r.connection_pool._created_connections <= 50
    run(main())


def test_max_connections(plain_server, run):
    async def main():
        pool = ConnectionPool(host=plain_server.host, port=plain_server.port, max_connections=2)
        a = await pool.get_connection()
        b = await pool.get_connection()
        with pytest.raises(redis.exceptions.ConnectionError, match="Too many connections"):
            await pool.get_connection()
        await pool.release(a)
        c = await pool.get_connection()
        assert c is a
        await pool.release(b)
        await pool.release(c)
        await pool.aclose()
        assert not a.is_connected and not b.is_connected
    run(main())


def test_aclose_from_url_from_pool(plain_server, run):
    async def main():
        url = f"redis://{plain_server.host}:{plain_server.port}/3?client_name=fromurl"
        r = aio.Redis.from_url(url)
        assert await r.set("u", 1)
        assert clients_named(plain_server, "fromurl") == 1
        assert r.connection_pool.connection_kwargs["db"] == 3
        await r.aclose()
        for _ in range(100):
            if clients_named(plain_server, "fromurl") == 0:
                break
            await asyncio.sleep(0.01)
        assert clients_named(plain_server, "fromurl") == 0

        pool = ConnectionPool(host=plain_server.host, port=plain_server.port, db=3,
                              client_name="frompool")
        async with aio.Redis.from_pool(pool) as r2:
            assert await r2.get("u") == b"1"
        for _ in range(100):
            if clients_named(plain_server, "frompool") == 0:
                break
            await asyncio.sleep(0.01)
        assert clients_named(plain_server, "frompool") == 0

        shared = ConnectionPool(host=plain_server.host, port=plain_server.port,
                                client_name="shared")
        r3 = aio.Redis(connection_pool=shared)
        await r3.ping()
        await r3.aclose()               # a pool it was given is not closed
        assert clients_named(plain_server, "shared") == 1
        await shared.aclose()
    run(main())


def test_server_closing_the_connection_is_retried(plain_server, run):
    async def main():
        async with client(plain_server, client_name="killed") as r:
            await r.set("k", "v")
            plain_server.command("CLIENT", "KILL", "SKIPME", "yes")
            await asyncio.sleep(0.1)
            assert await r.get("k") == b"v"      # the default retry reconnects
    run(main())


def test_connection_refused_is_connectionerror(run):
    import socket as _socket
    s = _socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()

    async def main():
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        r = aio.Redis(port=port, host="127.0.0.1", retry=Retry(NoBackoff(), 0))
        with pytest.raises(redis.exceptions.ConnectionError, match=f"127.0.0.1:{port}"):
            await r.ping()
        await r.aclose()
    run(main())


def test_auth(auth_server, run):
    from conftest import AUTH_PASSWORD

    async def main():
        async with client(auth_server, password=AUTH_PASSWORD, db=2) as r:
            assert await r.ping() is True
        for c in (client(auth_server, password="wrong"), reference(auth_server, password="wrong")):
            with pytest.raises(redis.exceptions.AuthenticationError):
                await c.ping()
            await c.aclose()
    run(main())


def test_unix_socket(tmp_path, run):
    from sentinelfast import testing
    path = str(tmp_path / "redis.sock")
    server = testing.RedisServer("standalone", [f"unixsocket {path}", "unixsocketperm 700"],
                                 name="unix")
    try:
        server.start()

        async def main():
            async with aio.Redis(unix_socket_path=path) as r:
                assert await r.set("k", b"v" * 100000)
                assert await r.get("k") == b"v" * 100000
            async with aio.Redis.from_url(f"unix://{path}") as r:
                assert await r.get("k") == b"v" * 100000
        run(main())
    finally:
        server.stop()


def test_hostile_reply_is_invalidresponse(run):
    """A server that answers with bytes that are not RESP."""
    async def main():
        async def handle(reader, writer):
            await reader.read(100)
            writer.write(b"?garbage\r\n")
            await writer.drain()
            await asyncio.sleep(1)
            writer.close()
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        r = aio.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))
        with pytest.raises(redis.exceptions.InvalidResponse):
            await r.get("k")
        await r.aclose()
        server.close()
        await server.wait_closed()
    run(main())


LOOP_CLOSED_SCRIPT = textwrap.dedent("""
    import asyncio, gc, sys
    import sentinelfast.asyncio as aio
""") + inspect.getsource(run_on_new_loop) + textwrap.dedent("""

    clients = []

    async def main():
        r = aio.Redis(host=sys.argv[1], port=int(sys.argv[2]))
        clients.append(r)
        await asyncio.gather(*(r.incr("n") for _ in range(10)))
        p = r.pubsub()
        clients.append(p)
        await p.subscribe("c")
        await p.get_message(timeout=1)
        single = r.client()
        clients.append(single)
        await single.ping()

    factory = None
    if sys.argv[3] == "uvloop":
        import uvloop
        factory = uvloop.new_event_loop
    run_on_new_loop(main(), factory)
    gc.collect()
    del clients[:]
    gc.collect()
    print("done")
""")


@pytest.mark.parametrize("loop", LOOPS)
def test_loop_closed_with_connections_open(plain_server, tmp_path, loop):
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-c", LOOP_CLOSED_SCRIPT, plain_server.host,
         str(plain_server.port), loop],
        capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    assert "Event loop is closed" not in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Exception ignored" not in proc.stderr


def test_lock_and_scripts(plain_server, run):
    """redis-py's async Lock and Script over sentinelfast's connections."""
    async def main():
        async with client(plain_server) as r, client(plain_server) as other:
            lock = r.lock("lk", timeout=5)
            assert await lock.acquire(blocking=False) is True
            contender = other.lock("lk", timeout=5)
            assert await contender.acquire(blocking=False) is False
            assert await lock.extend(5) is True
            await lock.release()
            assert await contender.acquire(blocking=False) is True
            with pytest.raises(redis.exceptions.LockError):
                await lock.release()            # released already
            await other.set("lk", "someone-else")
            with pytest.raises(redis.exceptions.LockNotOwnedError):
                await contender.release()       # the key is not its token any more

            script = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
            await r.script_flush()              # NOSCRIPT: the script is loaded again
            assert await script(keys=["sc"], args=[5]) == 5
            async with r.pipeline() as p:
                await script(keys=["sc"], args=[2], client=p)
                assert await p.execute() == [7]
    run(main())


def test_blocking_pool_waits_for_a_connection(plain_server, run):
    async def main():
        pool = aio.BlockingConnectionPool(host=plain_server.host, port=plain_server.port,
                                          max_connections=2, timeout=TIMEOUT)
        r = aio.Redis(connection_pool=pool)
        results = await asyncio.gather(*(r.incr("b") for _ in range(30)))
        assert sorted(results) == list(range(1, 31))
        assert pool._created_connections <= 2
        a = await pool.get_connection()
        b = await pool.get_connection()
        waiter = asyncio.create_task(pool.get_connection())
        await asyncio.sleep(0.1)
        assert not waiter.done()                # waits while both are in use
        await pool.release(a)
        assert await asyncio.wait_for(waiter, TIMEOUT) is a
        pool.timeout = 0.1
        with pytest.raises(redis.exceptions.ConnectionError, match="No connection available"):
            await pool.get_connection()
        await pool.release(a)
        await pool.release(b)
        await pool.aclose()
    run(main())


def test_redis_py_client_over_our_pool(plain_server, run):
    """Frameworks pass their own class: redis.asyncio.Redis, its pipeline and Pub/Sub
    over a sentinelfast pool."""
    async def main():
        pool = ConnectionPool(host=plain_server.host, port=plain_server.port)
        r = redis.asyncio.Redis(connection_pool=pool)
        assert await r.set("k", "v") is True
        assert await r.get("k") == b"v"
        async with r.pipeline() as p:
            p.incr("n").incr("n")
            assert await p.execute() == [1, 2]
        ps = r.pubsub(ignore_subscribe_messages=True)
        await ps.subscribe("c")
        await r.publish("c", "m")
        msg = None
        for _ in range(50):
            msg = await ps.get_message(timeout=0.2)
            if msg is not None:
                break
        assert msg is not None and msg["data"] == b"m"
        await ps.aclose()
        await r.aclose()
        await pool.aclose()
    run(main())
