"""sentinelfast.asyncio.Sentinel against the real topology (master, 2 replicas,
3 Sentinels): discovery, replicas, and writer tasks through a planned failover."""
import asyncio
import time

import pytest
import redis.asyncio.sentinel
import redis.exceptions
from asyncio_drill import WriterTasks
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


def run(coro, bound=120, loop="asyncio"):
    factory = uvloop.new_event_loop if loop == "uvloop" else None
    return run_on_new_loop(asyncio.wait_for(coro, bound), factory)


def test_master_and_replicas(topology, key):
    async def main():
        sentinel = aio.Sentinel(topology.sentinel_addresses, socket_timeout=1)
        assert await sentinel.discover_master(topology.service_name) == topology.master.address
        replicas = await sentinel.discover_slaves(topology.service_name)
        assert sorted(replicas) == sorted(r.address for r in topology.replicas)
        master = sentinel.master_for(topology.service_name, socket_timeout=1)
        assert isinstance(master, redis.asyncio.Redis)
        assert await master.set(key, "v") is True
        replica = sentinel.slave_for(topology.service_name, socket_timeout=1)
        for _ in range(100):
            if await replica.get(key) == b"v":
                break
            await asyncio.sleep(0.05)
        assert await replica.get(key) == b"v"
        with pytest.raises(redis.exceptions.ReadOnlyError):
            await replica.set(key, "x")
        with pytest.raises(redis.exceptions.ConnectionError) as info:
            await sentinel.discover_master("no-such-service")
        assert isinstance(info.value, redis.asyncio.sentinel.MasterNotFoundError)
        unknown = sentinel.master_for("no-such-service", socket_timeout=1)
        started = time.monotonic()
        with pytest.raises(redis.asyncio.sentinel.MasterNotFoundError):
            await unknown.ping()        # never known: fails at once, as redis-py
        assert time.monotonic() - started < 5
        for c in (master, replica, unknown):
            await c.aclose()
        await sentinel.aclose()
    run(main())


@pytest.mark.parametrize("loop", LOOPS)
def test_planned_failover_with_writer_tasks(fresh_topology, loop):
    """20 writer tasks through SENTINEL FAILOVER: no exception reaches them, every
    acknowledged write is on the new master (commands are held, awaited, from the
    start of the failover to the switch), and the pool's connections end up on the
    new master; on asyncio's default loop and on uvloop."""
    topo = fresh_topology

    async def main():
        sentinel = aio.Sentinel(topo.sentinel_addresses, socket_timeout=0.5)
        master = sentinel.master_for(topo.service_name, socket_timeout=0.5)
        old = await sentinel.discover_master(topo.service_name)
        writers = WriterTasks(master, 20).start()
        await asyncio.sleep(0.5)
        new = await asyncio.to_thread(topo.failover)
        switched_at = time.monotonic()
        assert new != old
        await asyncio.sleep(2.0)
        await writers.stop()
        assert writers.errors == []
        assert all(len(v) > 10 for v in writers.acked.values())
        assert all(t > switched_at + 1.0 for v in writers.acked.values() for _, t in v[-1:])
        missing = writers.missing_on(topo.node_by_address(tuple(new)))
        print(f"\nacknowledged writes missing on the new master: {len(missing)} in all, "
              f"{sum(1 for _, _, t in missing if t > switched_at)} after the switch was seen")
        # writes are held from the start of the failover to the switch: none acknowledged
        # by the old master after it stopped being the master (redis-py loses seconds of them)
        assert missing == []
        pool = master.connection_pool
        assert pool.master_address == tuple(new)
        for conn in pool._available_connections:
            assert not conn.is_connected or (conn.host, conn.port) == tuple(new)
        await master.aclose()
        await sentinel.aclose()
    run(main(), loop=loop)


class _PoolStandIn:
    """What a SentinelManagedConnection asks of its pool, pointing at one server."""

    is_master = True
    service_name = "stand-in"
    check_connection = False
    _hold = None
    service = None          # no failover monitor behind it

    def __init__(self, address):
        self.address = address
        self.forgotten = 0

    async def get_master_address(self):
        return self.address

    def _forget_master(self):
        self.forgotten += 1


def test_demoted_master_readonly_and_role_refusal(plain_server):
    """A master connection whose server becomes a replica: READONLY closes it with
    ConnectionError("The previous master is now a slave") and the pool asks Sentinel
    again; a new connection there is refused by the ROLE check of the handshake."""
    from sentinelfast import testing
    other = testing.RedisServer("standalone", name="other-master")
    other.start()
    try:
        async def main():
            pool = _PoolStandIn(plain_server.address)
            conn = aio.SentinelManagedConnection(connection_pool=pool, socket_timeout=2)
            await conn.send_command("SET", "k", "v")
            assert await conn.read_response() == b"OK"
            plain_server.command("REPLICAOF", other.host, str(other.port))
            await conn.send_command("SET", "k", "w")
            with pytest.raises(redis.exceptions.ConnectionError,
                               match="previous master is now a slave"):
                await conn.read_response()
            assert not conn.is_connected and pool.forgotten == 1
            fresh = aio.SentinelManagedConnection(connection_pool=pool, socket_timeout=2)
            with pytest.raises(redis.exceptions.ConnectionError,
                               match="previous master is now a slave"):
                await fresh.connect()
            assert not fresh.is_connected and pool.forgotten == 2
        run(main(), bound=30)
    finally:
        other.stop()


# Pub/Sub through a failover: tests/test_asyncio_pubsub_failover.py


@pytest.mark.parametrize("fault", ["sigkill", "sigstop"])
def test_writer_tasks_through_a_master_fault(fresh_topology, fault):
    """50 writer tasks while the master is killed (SIGKILL) or hung (SIGSTOP): no
    exception reaches them (the failover shows as a pause), and every write
    acknowledged after the switch is on the new master. The pause is reported."""
    topo = fresh_topology

    async def main():
        sentinel = aio.Sentinel(topo.sentinel_addresses, socket_timeout=0.5)
        master = sentinel.master_for(topo.service_name, socket_timeout=0.5)
        writers = WriterTasks(master, 50, pause=0.01).start()
        await asyncio.sleep(0.5)
        old_node = topo.master
        old = old_node.address
        fault_at = time.monotonic()
        if fault == "sigkill":
            old_node.kill()
        else:
            old_node.pause()
        try:
            new = await asyncio.to_thread(topo.wait_for_master_change, old, 60)
            switched_at = time.monotonic()
            await asyncio.sleep(2.0)
            await writers.stop()
        finally:
            if fault == "sigstop":
                old_node.resume()
        assert writers.errors == []
        assert all(any(t > switched_at for _, t in v) for v in writers.acked.values())
        assert writers.missing_on(topo.node_by_address(tuple(new)), since=switched_at) == []
        print(f"\n{fault}: switch seen {switched_at - fault_at:.1f} s after the fault; "
              f"longest pause of a writer task {writers.longest_pause():.1f} s")
        await master.aclose()
        await sentinel.aclose()
    run(main(), bound=150)


def test_master_for_with_redis_py_class(topology, key):
    async def main():
        sentinel = aio.Sentinel(topology.sentinel_addresses, socket_timeout=1)
        master = sentinel.master_for(topology.service_name, socket_timeout=1,
                                     redis_class=redis.asyncio.Redis)
        assert type(master) is redis.asyncio.Redis
        assert await master.set(key, "v") is True
        assert await master.get(key) == b"v"
        await master.aclose()
        await sentinel.aclose()
    run(main())
