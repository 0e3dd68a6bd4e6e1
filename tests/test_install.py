"""sentinelfast.install(): sentinelfast behind redis.sentinel for code the application does not own.

After install(), code that looks up ``redis.sentinel.Sentinel`` (or ``redis.Sentinel``) at call
time builds sentinelfast's Sentinel, and its master_for / slave_for clients work against a real
topology; uninstall() puts redis-py's classes back. Both are idempotent and thread-safe.
"""

import logging
import threading

import pytest
import redis
import redis.sentinel
from sfimpl import IMPL

pytestmark = pytest.mark.skipif(IMPL != "sentinelfast", reason="sentinelfast.install()")

if IMPL == "sentinelfast":
    import sentinelfast
    import sentinelfast.sentinel
    from sentinelfast.patch_redis import REPLACED_NAMES, installed

ORIGINAL = {name: getattr(redis.sentinel, name) for name in
            ("Sentinel", "SentinelConnectionPool", "SentinelManagedConnection",
             "SentinelManagedSSLConnection")}


@pytest.fixture(autouse=True)
def always_uninstalled():
    sentinelfast.uninstall()
    yield
    sentinelfast.uninstall()
    for name, cls in ORIGINAL.items():   # nothing of ours left behind for other tests
        assert getattr(redis.sentinel, name) is cls
        assert getattr(redis, name) is cls


def library_code(addresses, service_name):
    """What a framework does: import redis-py's Sentinel at call time and use it."""
    from redis.sentinel import Sentinel

    sentinel = Sentinel(addresses, socket_timeout=1.0)
    return sentinel, sentinel.master_for(service_name), sentinel.slave_for(service_name)


def test_install_replaces_the_names_and_uninstall_restores_them():
    assert set(REPLACED_NAMES) == set(ORIGINAL)
    sentinelfast.install()
    assert installed()
    for name in ORIGINAL:
        assert getattr(redis.sentinel, name) is getattr(sentinelfast.sentinel, name)
        assert getattr(redis, name) is getattr(sentinelfast.sentinel, name)
    sentinelfast.uninstall()
    assert not installed()
    for name, cls in ORIGINAL.items():
        assert getattr(redis.sentinel, name) is cls
        assert getattr(redis, name) is cls


def test_library_code_gets_sentinelfast_and_works(topology, key):
    sentinelfast.install()
    sentinel, master, replica = library_code(topology.sentinel_addresses, topology.service_name)
    try:
        assert isinstance(sentinel, sentinelfast.Sentinel)
        assert isinstance(master.connection_pool, sentinelfast.SentinelConnectionPool)
        assert master.set(key + "a", "1") is True
        assert master.get(key + "a") == b"1"
        assert sentinel.discover_master(topology.service_name) == topology.master.address
        assert replica.ping() is True
        # errors are still caught by redis-py's classes
        with pytest.raises(redis.sentinel.MasterNotFoundError):
            sentinel.discover_master("no-such-service")
    finally:
        sentinel.close()
    sentinelfast.uninstall()
    sentinel, master, _ = library_code(topology.sentinel_addresses, topology.service_name)
    try:
        assert type(sentinel) is ORIGINAL["Sentinel"]
        assert master.get(key + "a") == b"1"      # redis-py's own client again
    finally:
        if hasattr(sentinel, "close"):   # redis-py's Sentinel.close(): 8.1 and later
            sentinel.close()


def test_install_is_idempotent_and_logged(caplog):
    with caplog.at_level(logging.INFO, logger="sentinelfast.patch_redis"):
        sentinelfast.install()
        sentinelfast.install()
        assert redis.sentinel.Sentinel is sentinelfast.Sentinel
        sentinelfast.uninstall()
        sentinelfast.uninstall()
    assert redis.sentinel.Sentinel is ORIGINAL["Sentinel"]
    messages = [r.getMessage() for r in caplog.records if r.name == "sentinelfast.patch_redis"]
    assert len(messages) == 2, messages           # one install, one uninstall: the repeats do nothing
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "sentinelfast.patch_redis")


def test_uninstall_leaves_a_later_replacement_alone():
    sentinelfast.install()

    class SomeoneElses(ORIGINAL["Sentinel"]):
        pass

    redis.sentinel.Sentinel = SomeoneElses
    try:
        sentinelfast.uninstall()
        assert redis.sentinel.Sentinel is SomeoneElses
        assert redis.sentinel.SentinelConnectionPool is ORIGINAL["SentinelConnectionPool"]
    finally:
        redis.sentinel.Sentinel = ORIGINAL["Sentinel"]


def test_concurrent_install_and_uninstall_end_consistent():
    """Threads racing install()/uninstall(): afterwards every name is either all ours or all
    redis-py's, as the last call says — never a mix."""
    barrier = threading.Barrier(8)
    errors = []

    def worker(i):
        try:
            barrier.wait()
            for _ in range(200):
                (sentinelfast.install if i % 2 else sentinelfast.uninstall)()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ours = [getattr(module, name) is getattr(sentinelfast.sentinel, name)
            for module in (redis.sentinel, redis) for name in ORIGINAL]
    assert all(ours) or not any(ours), ours
    assert all(ours) == installed()
