"""sentinelfast.asyncio after fork() and with health_check_interval.

Fork: a pool (and the Sentinel's own clients) used in a child process after os.fork() does not
reuse the parent's sockets: the child opens its own (a new CLIENT ID on the server), its
commands get their own replies, and the parent's connection is neither closed nor read from by
the child (the parent's next command runs on the same connection, with its own reply).

Health checks: with ``health_check_interval`` a connection idle longer than the interval sends
PING before its next command (not before one issued sooner), on plain clients, pipelines and
master_for clients; a connection the server closed while idle is replaced without an error
reaching the caller.
"""
import asyncio
import json
import os

import pytest
import redis.exceptions
from asyncio_drill import WriterTasks
from aio_loop import run_on_new_loop
from sfimpl import IMPL

pytestmark = pytest.mark.skipif(IMPL != "sentinelfast",
                                reason="sentinelfast.asyncio has no redis-py twin to switch to")

if IMPL == "sentinelfast":
    import sentinelfast.asyncio as aio


try:
    import uvloop
except ImportError:     # the test extra installs it; without it, the default loop only
    uvloop = None

LOOPS = ["asyncio"] + (["uvloop"] if uvloop is not None else [])


def run(coro, bound=60, loop="asyncio"):
    factory = uvloop.new_event_loop if loop == "uvloop" else None
    return run_on_new_loop(asyncio.wait_for(coro, bound), factory)


def _in_child(work, loop="asyncio"):
    """Fork; in the child run ``work()`` (a coroutine function) on a new event loop (of
    the kind ``loop``) and report its result (or its exception) as JSON through a pipe.
    Returns what the child reported."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:        # the child
        os.close(read_end)
        try:
            result = {"ok": run(work(), 90, loop)}
        except BaseException as exc:    # reported to the parent, never raised here
            result = {"error": repr(exc)}
        os.write(write_end, json.dumps(result).encode())
        os._exit(0)
    os.close(write_end)
    chunks = []
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    return json.loads(b"".join(chunks) or b'{"error": "the child reported nothing"}')


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("kind", ["plain", "master_for"])
def test_child_after_fork_opens_its_own_connections(topology, key, kind, loop):
    """Fork while the parent's loop runs, with the parent's connection idle in the pool."""
    async def main():
        sentinel = None
        if kind == "plain":
            client = aio.Redis(host=topology.master.host, port=topology.master.port,
                               socket_timeout=5)
        else:
            sentinel = aio.Sentinel(topology.sentinel_addresses, socket_timeout=5)
            client = sentinel.master_for(topology.service_name, socket_timeout=5)
        await client.set(key + "k", "parent")
        parent_id = await client.client_id()

        async def child_work():
            echoes = [(await client.echo(f"child-{i}")).decode() for i in range(3)]
            assert echoes == ["child-0", "child-1", "child-2"], echoes
            ids = {await client.client_id() for _ in range(3)}
            values = [await client.get(key + "k") for _ in range(3)]
            await client.set(key + "child", "wrote")
            if sentinel is not None:
                assert await sentinel.discover_master(topology.service_name) == \
                    topology.master.address
            await client.aclose()
            return {"ids": sorted(ids), "values": [v.decode() for v in values]}

        report = await asyncio.to_thread(_in_child, child_work, loop)
        assert "error" not in report, report["error"]
        child = report["ok"]
        assert len(child["ids"]) == 1 and child["ids"][0] != parent_id, (child, parent_id)
        assert child["values"] == ["parent"] * 3
        # the parent's connection is untouched: same connection, in step with its replies
        # (had the child written on it, the child's replies would be queued here)
        assert await client.echo("parent") == b"parent"
        assert await client.client_id() == parent_id
        assert await client.get(key + "child") == b"wrote"
        assert await client.get(key + "k") == b"parent"
        await client.aclose()
        if sentinel is not None:
            await sentinel.aclose()
    run(main(), loop=loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_child_after_fork_with_a_pubsub_and_a_blocking_pool(plain_server, loop):
    """A subscriber's connection and a BlockingConnectionPool made in the parent: the child
    subscribes on a connection of its own; the parent's subscription still delivers."""
    async def main():
        pool = aio.BlockingConnectionPool(host=plain_server.host, port=plain_server.port,
                                          max_connections=2, timeout=5)
        client = aio.Redis(connection_pool=pool)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe("parent-chan")
        await client.ping()

        async def child_work():
            child_pubsub = client.pubsub(ignore_subscribe_messages=True)
            await child_pubsub.subscribe("child-chan")
            assert await client.publish("child-chan", "to-child") == 1
            message = await _next_message(child_pubsub)
            await child_pubsub.aclose()
            return message["data"].decode()

        report = await asyncio.to_thread(_in_child, child_work, loop)
        assert report == {"ok": "to-child"}
        assert await client.publish("parent-chan", "to-parent") == 1
        message = await _next_message(pubsub)
        assert message["data"] == b"to-parent"
        await pubsub.aclose()
        await client.aclose()
        await pool.aclose()
    run(main(), loop=loop)


async def _next_message(pubsub):
    """The next data message (get_message returns None for a skipped subscribe reply)."""
    for _ in range(50):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            return message
    raise AssertionError("no message within 5 s")


# generous: a command "at once" after another must not find the interval passed, even on
# busy shared cores
INTERVAL = 2.5


def _pings(server):
    stats = server.command("INFO", "commandstats", timeout=5).decode()
    for line in stats.splitlines():
        if line.startswith("cmdstat_ping:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


def test_health_check_pings_before_use_when_due(plain_server):
    async def main():
        r = aio.Redis(host=plain_server.host, port=plain_server.port,
                      health_check_interval=INTERVAL)
        await r.set("k", "v")
        base = _pings(plain_server)
        await r.get("k")                    # used just now: no PING
        assert _pings(plain_server) == base
        await asyncio.sleep(INTERVAL + 0.5)
        assert await r.get("k") == b"v"     # idle longer than the interval: PING first
        assert _pings(plain_server) == base + 1
        await r.get("k")
        assert _pings(plain_server) == base + 1
        await asyncio.sleep(INTERVAL + 0.5)
        async with r.pipeline() as p:       # pipelines too
            p.get("k").get("k")
            assert await p.execute() == [b"v", b"v"]
        assert _pings(plain_server) == base + 2
        await r.aclose()
        # without an interval: never
        r = aio.Redis(host=plain_server.host, port=plain_server.port)
        await r.get("k")
        base = _pings(plain_server)
        await asyncio.sleep(INTERVAL + 0.5)
        await r.get("k")
        assert _pings(plain_server) == base
        await r.aclose()
    run(main())


def test_health_check_replaces_a_connection_closed_while_idle(plain_server):
    """The server closes the idle connection (CLIENT KILL): the next command, after the
    health check, runs on a new connection without an error, even with no retries."""
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    async def main():
        r = aio.Redis(host=plain_server.host, port=plain_server.port, health_check_interval=1,
                      retry=Retry(NoBackoff(), 0))
        first = await r.client_id()
        await asyncio.sleep(1.3)
        plain_server.command("CLIENT", "KILL", "ID", str(first), timeout=5)
        await asyncio.sleep(0.2)
        second = await r.client_id()
        assert second != first
        await r.aclose()
    run(main())


def test_health_check_on_master_for_connections(topology, key):
    """master_for(..., health_check_interval=...): the server sees (MONITOR) a PING on our
    connection before the command that follows an idle interval, and none before one that
    follows at once."""
    async def main():
        sentinel = aio.Sentinel(topology.sentinel_addresses, socket_timeout=1)
        master = sentinel.master_for(topology.service_name, health_check_interval=INTERVAL)
        await master.set(key + "k", "v")
        conn = master.connection_pool._available_connections[0]
        port = conn._protocol.transport.get_extra_info("sockname")[1]
        node = topology.master
        seen = []
        watching = asyncio.Event()

        async def watch():
            monitor_client = aio.Redis(host=node.host, port=node.port)
            async with monitor_client.monitor() as m:
                watching.set()
                async for command in m.listen():
                    if int(command.get("client_port") or 0) == port:
                        seen.append(command["command"].split()[0].upper())
            await monitor_client.aclose()

        watcher = asyncio.create_task(watch())
        await asyncio.wait_for(watching.wait(), 5)
        await asyncio.sleep(0.2)
        await master.get(key + "k")
        await asyncio.sleep(INTERVAL + 0.5)
        await master.get(key + "k")
        for _ in range(50):
            if len(seen) >= 3:
                break
            await asyncio.sleep(0.05)
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        assert seen == ["GET", "PING", "GET"]
        await master.aclose()
        await sentinel.aclose()
    run(main())


def test_child_after_fork_rides_a_planned_failover(fresh_topology):
    """A master_for client made and used in the parent, then used by 10 writer tasks in a
    forked child while the parent runs SENTINEL FAILOVER: the child's monitor thread and
    loop get the failover events (writes held from its start to the switch), so no
    exception reaches the tasks and no acknowledged write is missing on the new master."""
    topo = fresh_topology

    async def main():
        sentinel = aio.Sentinel(topo.sentinel_addresses, socket_timeout=0.5)
        master = sentinel.master_for(topo.service_name, socket_timeout=0.5)
        await master.set("parent", "1")
        stop_r, stop_w = os.pipe()      # the parent says when the failover is over

        async def child_work():
            writers = WriterTasks(master, 10, prefix="c:").start()
            host, port = (await asyncio.to_thread(os.read, stop_r, 100)).decode().split()
            await writers.stop()
            missing = writers.missing_on(topo.node_by_address((host, int(port))))
            await master.aclose()
            await sentinel.aclose()
            return {"errors": writers.errors[:3], "lost": len(missing),
                    "acked": writers.total()}

        child = asyncio.create_task(asyncio.to_thread(_in_child, child_work))
        await asyncio.sleep(1.0)
        new = tuple(await asyncio.to_thread(topo.failover))
        await asyncio.sleep(1.5)
        os.write(stop_w, f"{new[0]} {new[1]}".encode())
        report = await child
        os.close(stop_r)
        os.close(stop_w)
        assert "error" not in report, report["error"]
        result = report["ok"]
        assert result["errors"] == [] and result["acked"] > 100 and result["lost"] == 0, result
        await master.aclose()
        await sentinel.aclose()
    run(main(), bound=120)
