"""sentinelfast.install() behind redis.asyncio.sentinel: asyncio code that builds redis-py's
Sentinel itself (``from redis.asyncio.sentinel import Sentinel`` at call time) gets
sentinelfast.asyncio's, which rides a planned failover; uninstall() restores redis-py's."""
import asyncio
import threading

import pytest
import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.exceptions
import redis.sentinel
from asyncio_drill import WriterTasks
from sfimpl import IMPL

pytestmark = pytest.mark.skipif(IMPL != "sentinelfast", reason="sentinelfast.install()")

if IMPL == "sentinelfast":
    import sentinelfast
    import sentinelfast.asyncio as aio

NAMES = ("Sentinel", "SentinelConnectionPool", "SentinelManagedConnection",
         "SentinelManagedSSLConnection")
ORIGINAL = {(module.__name__, name): getattr(module, name)
            for module in (redis.asyncio.sentinel, redis.asyncio, redis.sentinel, redis)
            for name in NAMES}


@pytest.fixture(autouse=True)
def always_uninstalled():
    sentinelfast.uninstall()
    yield
    sentinelfast.uninstall()
    for (module_name, name), cls in ORIGINAL.items():   # nothing of ours left behind
        module = {"redis.asyncio.sentinel": redis.asyncio.sentinel,
                  "redis.asyncio": redis.asyncio, "redis.sentinel": redis.sentinel,
                  "redis": redis}[module_name]
        assert getattr(module, name) is cls, (module_name, name)


def run(coro, bound=120):
    return asyncio.run(asyncio.wait_for(coro, bound))


def test_install_replaces_the_asyncio_names_and_uninstall_restores_them():
    sentinelfast.install()
    for name in NAMES:
        assert getattr(redis.asyncio.sentinel, name) is getattr(aio, name)
        assert getattr(redis.asyncio, name) is getattr(aio, name)
        assert getattr(redis.sentinel, name) is getattr(sentinelfast, name)   # sync too
    sentinelfast.uninstall()
    for name in NAMES:
        assert getattr(redis.asyncio.sentinel, name) is \
            ORIGINAL[("redis.asyncio.sentinel", name)]
        assert getattr(redis.asyncio, name) is ORIGINAL[("redis.asyncio", name)]


def test_uninstall_leaves_a_later_asyncio_replacement_alone():
    sentinelfast.install()

    class SomeoneElses(ORIGINAL[("redis.asyncio.sentinel", "Sentinel")]):
        pass

    redis.asyncio.sentinel.Sentinel = SomeoneElses
    try:
        sentinelfast.uninstall()
        assert redis.asyncio.sentinel.Sentinel is SomeoneElses
        assert redis.asyncio.sentinel.SentinelConnectionPool is \
            ORIGINAL[("redis.asyncio.sentinel", "SentinelConnectionPool")]
    finally:
        redis.asyncio.sentinel.Sentinel = ORIGINAL[("redis.asyncio.sentinel", "Sentinel")]


def test_concurrent_install_and_uninstall_end_consistent():
    """Threads racing install()/uninstall(): afterwards the names of the four modules are
    all sentinelfast's or all redis-py's, as installed() says; never a mix."""
    barrier = threading.Barrier(8)
    errors = []

    def worker(i):
        try:
            barrier.wait()
            for _ in range(200):
                (sentinelfast.install if i % 2 else sentinelfast.uninstall)()
        except Exception as exc:    # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ours = [getattr(module, name) is getattr(twin, name)
            for module, twin in ((redis.asyncio.sentinel, aio), (redis.asyncio, aio),
                                 (redis.sentinel, sentinelfast), (redis, sentinelfast))
            for name in NAMES]
    assert all(ours) or not any(ours), ours
    assert all(ours) == sentinelfast.patch_redis.installed()


def library_sentinel(addresses):
    """What an asyncio framework does: import redis-py's Sentinel at call time."""
    from redis.asyncio.sentinel import Sentinel

    return Sentinel(addresses, socket_timeout=0.5)


def test_library_code_gets_ours_and_rides_a_planned_failover(fresh_topology):
    """20 writer tasks on a master_for client the library built from
    redis.asyncio.sentinel after install(): through SENTINEL FAILOVER no exception reaches
    them and every acknowledged write is on the new master."""
    topo = fresh_topology
    sentinelfast.install()

    async def main():
        sentinel = library_sentinel(topo.sentinel_addresses)
        assert isinstance(sentinel, aio.Sentinel)
        master = sentinel.master_for(topo.service_name)
        assert isinstance(master.connection_pool, aio.SentinelConnectionPool)
        writers = WriterTasks(master, 20).start()
        await asyncio.sleep(0.5)
        old = topo.master.address
        new = await asyncio.to_thread(topo.failover)
        assert tuple(new) != tuple(old)
        await asyncio.sleep(1.5)
        await writers.stop()
        assert writers.errors == []
        assert all(len(v) > 10 for v in writers.acked.values())
        missing = writers.missing_on(topo.node_by_address(tuple(new)))
        assert missing == [], f"{len(missing)} acknowledged writes missing on the new master"
        with pytest.raises(redis.asyncio.sentinel.MasterNotFoundError):
            await sentinel.discover_master("no-such-service")
        await master.aclose()
        await sentinel.aclose()
    run(main(), bound=150)

    sentinelfast.uninstall()
    sentinel = library_sentinel(topo.sentinel_addresses)
    assert type(sentinel) is ORIGINAL[("redis.asyncio.sentinel", "Sentinel")]
