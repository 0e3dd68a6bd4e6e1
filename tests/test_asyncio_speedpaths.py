"""sentinelfast.asyncio's short paths and their timeouts, against real redis-server
processes: the command path of ``Redis.execute_command`` (one write, the queued reply,
its first failure replayed into the retry policy), pipelines that read every reply at
once, the per-connection read timer, and writes bounded by ``socket_timeout`` when the
server stops reading (SIGSTOP: the kernel buffers fill, the transport pauses writing).

Each test runs on asyncio's default loop and on uvloop (when installed); the same calls
go through redis.asyncio where behaviours are compared.
"""
import asyncio
import time

import pytest
import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from aio_loop import run_on_new_loop
from sfimpl import IMPL

import sentinelfast.asyncio as aio

pytestmark = pytest.mark.skipif(IMPL != "sentinelfast",
                                reason="sentinelfast.asyncio has no redis-py twin to switch to")

try:
    import uvloop
except ImportError:     # the test extra installs it; without it, the default loop only
    uvloop = None

LOOPS = ["asyncio"] + (["uvloop"] if uvloop is not None else [])


@pytest.fixture(params=LOOPS)
def run(request):
    """Run a coroutine to completion (bounded) on a new loop of each kind."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else None

    def runner(coro):
        return run_on_new_loop(asyncio.wait_for(coro, 60), factory)
    return runner


def client(server, **kwargs):
    return aio.Redis(host=server.host, port=server.port, **kwargs)


def reference(server, **kwargs):
    return redis.asyncio.Redis(host=server.host, port=server.port, **kwargs)


def no_retry():
    return Retry(NoBackoff(), 0)


# ------------------------------------------------------------------------------------------
# Writes bounded by socket_timeout
# ------------------------------------------------------------------------------------------

BIG = b"x" * (32 << 20)     # far more than the socket buffers and the transport's high-water mark


def test_write_to_a_stopped_server_times_out_and_closes(plain_server, run):
    """A SET too large for the kernel's buffers to a SIGSTOPped server: the write waits
    for the transport to drain, at most socket_timeout, then TimeoutError("Timeout
    writing to socket") (redis-py's class and words); the connection is closed, never
    used again, and the next command after SIGCONT runs on a new one."""
    async def main():
        async with client(plain_server, socket_timeout=0.5, retry=no_retry(),
                          max_connections=1) as r:
            assert await r.ping() is True
            conn = r.connection_pool._available_connections[0]
            plain_server.pause()
            try:
                t0 = time.monotonic()
                with pytest.raises(redis.exceptions.TimeoutError, match="writing"):
                    await r.set("big", BIG)
                elapsed = time.monotonic() - t0
                assert not conn.is_connected
                assert conn._protocol is None
            finally:
                plain_server.resume()
            assert 0.4 < elapsed < 10
            assert await r.set("small", b"v") is True      # a new connection
            assert await r.get("small") == b"v"
            assert await r.exists("big") == 0          # the cut command was never run
            assert r.connection_pool._available_connections == [conn]
            assert conn.is_connected    # reconnected by its next command
    run(main())


def test_write_timeout_in_a_pipeline(plain_server, run):
    """The same through a pipeline's single write (the pipeline short path)."""
    async def main():
        async with client(plain_server, socket_timeout=0.5, retry=no_retry()) as r:
            assert await r.ping() is True
            plain_server.pause()
            try:
                with pytest.raises(redis.exceptions.TimeoutError, match="writing"):
                    async with r.pipeline(transaction=False) as p:
                        p.set("big", BIG).get("big")
                        await p.execute()
            finally:
                plain_server.resume()
            assert await r.ping() is True
    run(main())


def test_write_to_a_stopped_server_redis_asyncio_agrees(plain_server, run):
    """redis.asyncio raises the same class for the same write (the behaviour we copy)."""
    async def main():
        async with reference(plain_server, socket_timeout=0.5, retry=no_retry()) as ref:
            assert await ref.ping() is True
            plain_server.pause()
            try:
                with pytest.raises(redis.exceptions.TimeoutError):
                    await ref.set("big", BIG)
            finally:
                plain_server.resume()
    run(main())


def test_cancelled_while_waiting_to_write_closes_the_connection(plain_server, run):
    async def main():
        async with client(plain_server, socket_timeout=30, max_connections=1) as r:
            assert await r.ping() is True
            conn = r.connection_pool._available_connections[0]
            plain_server.pause()
            try:
                task = asyncio.create_task(r.set("big", BIG))
                await asyncio.sleep(0.3)
                assert not task.done()              # waiting for the buffer to drain
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert not conn.is_connected
            finally:
                plain_server.resume()
            assert await r.incr("after") == 1
    run(main())


# ------------------------------------------------------------------------------------------
# The read timer (one per connection, re-armed lazily)
# ------------------------------------------------------------------------------------------

def test_read_timeout_after_many_quick_commands(plain_server, run):
    """Quick commands for longer than socket_timeout (the timer fires and re-arms for
    the command then in progress), then a slow one: TimeoutError after about
    socket_timeout, not later; the connection is closed and the late reply never seen."""
    async def main():
        admin = client(plain_server)
        async with client(plain_server, socket_timeout=0.3, retry=no_retry(),
                          max_connections=1) as r:
            t_end = time.monotonic() + 1.0
            n = 0
            while time.monotonic() < t_end:
                assert await r.incr("n") == n + 1
                n += 1
            sleeper = asyncio.create_task(admin.execute_command("DEBUG", "SLEEP", 1.5))
            await asyncio.sleep(0.1)
            t0 = time.monotonic()
            with pytest.raises(redis.exceptions.TimeoutError, match="reading"):
                await r.get("n")
            assert 0.25 < time.monotonic() - t0 < 1.3
            await sleeper
            assert await r.incr("n") == n + 1       # its own reply, not the GET's
        await admin.aclose()
    run(main())


def test_shorter_read_timeout_after_a_longer_one(plain_server, run):
    """A read with a short explicit timeout right after commands armed the timer for
    a longer socket_timeout: the short one still ends on time (None, as redis-py)."""
    async def main():
        async with client(plain_server, socket_timeout=20, max_connections=1) as r:
            assert await r.ping() is True
            conn = await r.connection_pool.get_connection()
            try:
                await conn.send_command("BLPOP", "nothing-here", 0)
                t0 = time.monotonic()
                assert await conn.read_response(timeout=0.3) is None
                assert time.monotonic() - t0 < 5
                await conn.disconnect()     # the BLPOP reply is still owed
            finally:
                await r.connection_pool.release(conn)
            assert await r.ping() is True
    run(main())


def test_blocking_command_longer_than_socket_timeout_times_out(plain_server, run):
    async def main():
        async with client(plain_server, socket_timeout=0.3, retry=no_retry()) as r, \
                reference(plain_server, socket_timeout=0.3, retry=no_retry()) as ref:
            for c in (r, ref):
                with pytest.raises(redis.exceptions.TimeoutError):
                    await c.blpop(["empty"], timeout=2)
            await r.rpush("empty", "x")
            assert await r.blpop(["empty"], timeout=0.1) == (b"empty", b"x")
    run(main())


# ------------------------------------------------------------------------------------------
# The command short path and the retry policy
# ------------------------------------------------------------------------------------------

def test_first_failure_goes_to_the_retry_policy(plain_server, run):
    """The server closes the connection while the loop has not yet seen it (killed from
    a blocking client, no await in between): the command is written and fails on the
    short path. With no retries it raises ConnectionError (one attempt, as
    redis.asyncio); with one retry it succeeds on a new connection."""
    admin = redis.Redis(host=plain_server.host, port=plain_server.port)

    async def main():
        for retries, expect_error in ((0, True), (1, False)):
            async with client(plain_server, retry=Retry(NoBackoff(), retries)) as r, \
                    reference(plain_server, retry=Retry(NoBackoff(), retries)) as ref:
                for c in (r, ref):
                    assert await c.ping() is True
                    admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
                    if expect_error:
                        with pytest.raises(redis.exceptions.ConnectionError):
                            await c.get("k")
                    else:
                        assert await c.get("k") is None
    try:
        run(main())
    finally:
        admin.close()


def test_loading_reply_is_busyloadingerror(plain_server, run):
    """An error reply LOADING raises BusyLoadingError (a ConnectionError, so the retry
    policy retries it), as redis.asyncio does; the connection is not lost for it."""
    script = "return redis.error_reply('LOADING Redis is loading the dataset in memory')"

    async def main():
        async with client(plain_server, retry=no_retry()) as r, \
                reference(plain_server, retry=no_retry()) as ref:
            for c in (r, ref):
                with pytest.raises(redis.exceptions.BusyLoadingError):
                    await c.eval(script, 0)
            async with r.pipeline(transaction=False) as p:
                p.set("a", 1).eval(script, 0)
                with pytest.raises(redis.exceptions.BusyLoadingError):
                    await p.execute()
            assert await r.get("a") == b"1"
    run(main())


def test_error_replies_empty_response_and_options(plain_server, run):
    """Error replies, EMPTY_RESPONSE, NEVER_DECODE and callback options through the short
    path give redis.asyncio's results."""
    async def main():
        for decode in (False, True):
            async with client(plain_server, decode_responses=decode) as r, \
                    reference(plain_server, decode_responses=decode, protocol=2) as ref:
                out = []
                for c, k in ((r, "ours"), (ref, "theirs")):
                    await c.delete(k, k + ":z", k + ":h")
                    await c.set(k, "v")
                    row = [await c.get(k), await c.mget([]), await c.set(k, "w", get=True),
                           await c.zadd(k + ":z", {"m": 1.5}),
                           await c.zrange(k + ":z", 0, -1, withscores=True),
                           await c.hset(k + ":h", mapping={"f": "x"}), await c.hgetall(k + ":h"),
                           await c.dump(k) is not None]
                    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
                        await c.lpush(k, "x")
                    out.append(row)
                assert out[0] == out[1]
    run(main())


def test_pipeline_short_path_same_as_redis_asyncio(plain_server, run):
    """Pipelines and transactions with error replies, decode_responses, a queued
    command that fails (EXECABORT) and a command that fails inside EXEC."""
    async def main():
        for decode in (False, True):
            async with client(plain_server, decode_responses=decode) as r, \
                    reference(plain_server, decode_responses=decode, protocol=2) as ref:
                out = []
                for c, k in ((r, "o:"), (ref, "t:")):
                    await c.flushdb()
                    async with c.pipeline(transaction=False) as p:
                        p.set(k + "a", 1).incr(k + "a").lpush(k + "a", 1).hset(k + "h", "f", "v")
                        p.hgetall(k + "h").zadd(k + "z", {"m": 2}).zrange(k + "z", 0, -1,
                                                                          withscores=True)
                        res = await p.execute(raise_on_error=False)
                    row = [type(x).__name__ if isinstance(x, Exception) else x for x in res]
                    async with c.pipeline() as p:
                        p.set(k + "b", 1).lpush(k + "b", 2).get(k + "b")
                        res = await p.execute(raise_on_error=False)
                    row.append([type(x).__name__ if isinstance(x, Exception) else x for x in res])
                    async with c.pipeline() as p:
                        p.set(k + "c", 1).execute_command("NO-SUCH-COMMAND").get(k + "c")
                        with pytest.raises(redis.exceptions.ResponseError) as info:
                            await p.execute()
                    row.append(type(info.value).__name__)
                    async with c.pipeline() as p:
                        p.set(k + "d", 1).lpush(k + "d", 2)
                        with pytest.raises(redis.exceptions.ResponseError) as info:
                            await p.execute()
                    row.append(str(info.value).split(" ", 1)[0])
                    out.append(row)
                assert out[0] == out[1]
    run(main())


def test_subclass_hooks_and_overrides_are_honoured(plain_server, run):
    """A connection class that overrides the hooks keeps the short path and each
    command asks them (the gate before the write, the error reply mapping); one that
    overrides send_command (as a Sentinel connection may) is driven through it."""
    from sentinelfast.asyncio.connection import Connection, ConnectionPool

    class Gated(Connection):
        gates = 0

        def _before_command(self):
            type(self).gates += 1
            return asyncio.sleep(0)

        def _error_reply(self, reply):
            if "WRONGTYPE" in str(reply):
                return redis.exceptions.DataError("mapped")
            return reply

    class Overriding(Connection):
        sends = 0

        async def send_command(self, *args, **kwargs):
            type(self).sends += 1
            await super().send_command(*args, **kwargs)

    assert Connection._short_path and Gated._short_path and not Overriding._short_path

    async def main():
        pool = ConnectionPool(connection_class=Gated, host=plain_server.host,
                              port=plain_server.port)
        async with aio.Redis(connection_pool=pool) as r:
            assert await r.set("s", "v") is True
            assert await r.get("s") == b"v"
            assert Gated.gates >= 2
            with pytest.raises(redis.exceptions.DataError, match="mapped"):
                await r.lpush("s", "x")
            before = Gated.gates
            async with r.pipeline(transaction=False) as p:
                assert await p.get("s").get("s").execute() == [b"v", b"v"]
            assert Gated.gates == before + 1        # one write, one gate
        await pool.aclose()
        pool = ConnectionPool(connection_class=Overriding, host=plain_server.host,
                              port=plain_server.port)
        async with aio.Redis(connection_pool=pool) as r:
            assert await r.get("s") == b"v"
            assert await r.get("s") == b"v"
            assert Overriding.sends >= 2
        await pool.aclose()
    run(main())


def test_replies_of_every_size_through_the_read_buffer(plain_server, run):
    """Replies smaller and larger than the connection's read buffer, as it grows
    (16 KiB up to 256 KiB), and many replies in one read, come back intact."""
    import os

    sizes = [0, 1, 16383, 16384, 16385, 65536, 65537, 262144, 262145, 4 << 20]

    async def main():
        async with client(plain_server, max_connections=1) as r:
            values = {n: os.urandom(n) for n in sizes}
            for n, v in values.items():
                assert await r.set(f"v{n}", v) is True
            for n in sizes + sizes[::-1]:
                assert await r.get(f"v{n}") == values[n]
            async with r.pipeline(transaction=False) as p:
                for n in sizes:
                    p.get(f"v{n}")
                for i in range(2000):
                    p.echo(b"%d" % i)
                out = await p.execute()
            assert out[:len(sizes)] == [values[n] for n in sizes]
            assert out[len(sizes):] == [b"%d" % i for i in range(2000)]
    run(main())
