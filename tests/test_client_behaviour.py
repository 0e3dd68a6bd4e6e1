"""What programs written for redis-py do with a client beyond single commands: locks, WATCH
transactions, scripts, functions, MONITOR, AUTH, single-connection clients, pools and closing.

The expectations are redis-py's documented behaviour (exception classes are redis-py's, or
sentinelfast's subclasses of them)."""

import threading
import time

import pytest
import redis
import redis.exceptions
from conftest import ACL_USERS, AUTH_PASSWORD
from sfimpl import sf, sf_exceptions


@pytest.fixture
def r(topology):
    client = sf.Redis(port=topology.master.port)
    yield client
    client.close()


@pytest.fixture
def other(topology):
    """Another client of the same server (another program, as far as the test is concerned)."""
    client = sf.Redis(port=topology.master.port)
    yield client
    client.close()


def wait_for(predicate, timeout=10.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# ================================================================================================
# Lock
# ================================================================================================


def test_lock_blocking_and_non_blocking_acquire(r, other, key):
    first = r.lock(key + "lock", thread_local=False)  # released below by a timer thread
    second = other.lock(key + "lock")
    assert first.acquire(blocking=False) is True
    assert first.locked() and first.owned()
    assert second.locked() and not second.owned()
    assert second.acquire(blocking=False) is False
    started = time.monotonic()
    assert second.acquire(blocking_timeout=0.3) is False  # gives up after about 0.3 s
    assert 0.15 <= time.monotonic() - started < 5
    threading.Timer(0.2, first.release).start()
    assert second.acquire(blocking_timeout=10) is True  # blocks until the holder releases
    assert second.owned() and not first.owned()
    second.release()
    assert not r.exists(key + "lock")


def test_lock_blocking_timeout_given_to_lock(r, other, key):
    holder = r.lock(key + "lock")
    assert holder.acquire()
    waiter = other.lock(key + "lock", blocking_timeout=0.2, sleep=0.05)
    started = time.monotonic()
    assert waiter.acquire() is False
    assert time.monotonic() - started < 5
    with pytest.raises(redis.exceptions.LockError, match="Unable to acquire lock"):
        with other.lock(key + "lock", blocking=False):
            pass
    holder.release()


def test_lock_timeout_expires_and_the_old_holder_no_longer_owns_it(r, other, key):
    first = r.lock(key + "lock", timeout=0.5)
    assert first.acquire()
    assert 0 < r.pttl(key + "lock") <= 500
    second = other.lock(key + "lock")
    assert second.acquire(blocking_timeout=10) is True  # after the expiry
    assert not first.owned()
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        first.release()
    second.release()


def test_lock_extend_and_reacquire(r, key):
    lock = r.lock(key + "lock", timeout=10)
    with pytest.raises(redis.exceptions.LockError, match="unlocked"):
        lock.extend(5)
    with pytest.raises(redis.exceptions.LockError, match="unlocked"):
        lock.reacquire()
    assert lock.acquire()
    assert lock.extend(20) is True
    assert 25_000 < r.pttl(key + "lock") <= 30_000
    assert lock.extend(5, replace_ttl=True) is True
    assert 0 < r.pttl(key + "lock") <= 5_000
    assert lock.reacquire() is True
    assert 5_000 < r.pttl(key + "lock") <= 10_000
    r.set(key + "lock", "someone else's token")  # the lock was lost
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        lock.extend(5)
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        lock.reacquire()
    no_timeout = r.lock(key + "forever")
    assert no_timeout.acquire()
    with pytest.raises(redis.exceptions.LockError, match="no timeout"):
        no_timeout.extend(1)
    no_timeout.release()


def test_lock_tokens_are_thread_local(r, key):
    """redis-py's timeline: thread 1's lock expires, thread 2 acquires the same Lock object;
    thread 1's release must not free thread 2's lock (each thread sees its own token)."""
    lock = r.lock(key + "lock", timeout=0.3)
    assert lock.acquire()
    acquired, may_release, seen = threading.Event(), threading.Event(), {}

    def second_thread():
        seen["acquired"] = lock.acquire(blocking_timeout=10)  # once thread 1's lock expired
        seen["owned"] = lock.owned()
        acquired.set()
        may_release.wait(10)
        lock.release()
        seen["released"] = True

    t = threading.Thread(target=second_thread)
    t.start()
    assert acquired.wait(15)
    assert seen["acquired"] is True and seen["owned"] is True
    assert lock.owned() is False  # this thread's token is not the one stored
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        lock.release()
    assert r.exists(key + "lock")  # thread 2 still holds it
    may_release.set()
    t.join(10)
    assert seen.get("released") and not r.exists(key + "lock")

    shared = r.lock(key + "shared", thread_local=False)
    assert shared.acquire()
    t = threading.Thread(target=shared.release)  # without thread-local tokens another can
    t.start()
    t.join(10)
    assert not r.exists(key + "shared")


def test_lock_context_manager(r, key):
    with r.lock(key + "lock", timeout=10) as lock:
        assert lock.owned()
        assert r.get(key + "lock") == lock.local.token
    assert not r.exists(key + "lock")
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        with r.lock(key + "lock", timeout=10):
            r.delete(key + "lock")  # lost inside the block: raised on exit
    with r.lock(key + "lock", timeout=10, raise_on_release_error=False):
        r.delete(key + "lock")  # not raised


def test_lock_error_classes_are_redis_pys(r, key):
    lock = r.lock(key + "lock")
    with pytest.raises(redis.exceptions.LockError) as raised:
        lock.release()
    assert isinstance(raised.value, redis.exceptions.RedisError)
    assert raised.value.lock_name == key + "lock"
    assert issubclass(redis.exceptions.LockNotOwnedError, redis.exceptions.LockError)


def test_lock_with_decode_responses(topology, key):
    client = sf.Redis(port=topology.master.port, decode_responses=True)
    lock = client.lock(key + "lock", timeout=5)
    assert lock.acquire(token="my-token")
    assert lock.owned()
    assert client.get(key + "lock") == "my-token"
    lock.release()
    client.close()


# ================================================================================================
# Transactions: WATCH / MULTI / EXEC
# ================================================================================================


def test_watch_then_multi_exec(r, key):
    r.set(key, 10)
    with r.pipeline() as pipe:
        pipe.watch(key)
        assert pipe.watching
        current = int(pipe.get(key))  # immediate mode while watching
        pipe.multi()
        pipe.set(key, current + 1).get(key)
        assert pipe.execute() == [True, b"11"]
        assert not pipe.watching


def test_watch_error_when_another_client_changes_the_key(r, other, key):
    r.set(key, 1)
    with r.pipeline() as pipe:
        pipe.watch(key)
        other.set(key, 2)
        pipe.multi()
        pipe.set(key, 3)
        with pytest.raises(sf_exceptions.WatchError) as raised:
            pipe.execute()
        assert isinstance(raised.value, redis.exceptions.WatchError)
    assert r.get(key) == b"2"


def test_unwatch(r, other, key):
    r.set(key, 1)
    with r.pipeline() as pipe:
        pipe.watch(key)
        assert pipe.unwatch() is True
        assert not pipe.watching
        other.set(key, 2)  # no longer watched: no WatchError
        pipe.multi()
        pipe.set(key, 3)
        assert pipe.execute() == [True]
    assert r.get(key) == b"3"


def test_transaction_retries_on_watch_error(r, other, key):
    r.set(key, 0)
    attempts = []

    def increment(pipe):
        value = int(pipe.get(key))
        attempts.append(value)
        if len(attempts) == 1:
            other.incr(key, 100)  # another client wins the first round
        pipe.multi()
        pipe.set(key, value + 1)

    assert r.transaction(increment, key) == [True]
    assert attempts == [0, 100]
    assert r.get(key) == b"101"


def test_transaction_value_from_callable_and_watch_delay(r, other, key):
    r.set(key, 5)
    calls = []

    def read_and_double(pipe):
        value = int(pipe.get(key))
        calls.append(value)
        if len(calls) == 1:
            other.set(key, 7)
        pipe.multi()
        pipe.set(key, value * 2)
        return value * 2

    assert r.transaction(read_and_double, key, value_from_callable=True, watch_delay=0.01) == 14
    assert r.get(key) == b"14"


def test_pipeline_reused_after_execute(r, key):
    pipe = r.pipeline()
    pipe.set(key, 1).incr(key)
    assert pipe.execute() == [True, 2]
    pipe.watch(key)
    pipe.multi()
    pipe.incr(key)
    assert pipe.execute() == [3]
    pipe.incr(key).get(key)
    assert pipe.execute() == [4, b"4"]
    pipe.reset()
    assert pipe.execute() == []


def test_multi_errors(r, key):
    pipe = r.pipeline()
    pipe.multi()
    with pytest.raises(redis.exceptions.RedisError, match="nested"):
        pipe.multi()
    pipe.reset()
    pipe.set(key, 1)
    with pytest.raises(redis.exceptions.RedisError, match="already been issued"):
        pipe.multi()
    pipe.reset()
    pipe.multi()
    with pytest.raises(redis.exceptions.RedisError, match="WATCH after a MULTI"):
        pipe.watch(key)
    pipe.reset()


def test_immediate_execute_command_while_watching(r, key):
    r.rpush(key, "a", "b")
    with r.pipeline() as pipe:
        pipe.watch(key)
        assert pipe.lrange(key, 0, -1) == [b"a", b"b"]  # answered now, not buffered
        assert pipe.immediate_execute_command("LLEN", key) == 2
        assert len(pipe) == 0
        pipe.multi()
        pipe.rpush(key, "c")
        assert pipe.execute() == [3]


def test_transaction_syntax_error_aborts_all(r, key):
    pipe = r.pipeline()
    pipe.set(key, 1)
    pipe.execute_command("SET")  # wrong number of arguments: EXECABORT
    with pytest.raises(redis.exceptions.ResponseError, match="Command # 2"):
        pipe.execute()
    assert r.get(key) is None


# ================================================================================================
# Scripts
# ================================================================================================


def test_register_script_str_bytes_and_noscript_fallback(plain_server):
    r = sf.Redis(port=plain_server.port)
    add = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    echo = r.register_script(b"return ARGV[1]")
    assert add(keys=["n"], args=[2]) == 2
    assert echo(args=["x"]) == b"x"
    assert r.script_exists(add.sha, echo.sha) == [True, True]
    assert r.script_flush() is True
    assert r.script_exists(add.sha) == [False]
    assert add(keys=["n"], args=[3]) == 5  # NOSCRIPT: loaded again and run
    assert r.script_exists(add.sha) == [True]
    other = sf.Redis(port=plain_server.port, decode_responses=True)
    assert add(keys=["n"], args=[1], client=other) == 6
    assert echo(args=["y"], client=other) == "y"
    r.close()
    other.close()


@pytest.mark.parametrize("transaction", [True, False])
def test_scripts_in_a_pipeline_are_loaded_before_execute(plain_server, transaction):
    r = sf.Redis(port=plain_server.port)
    add = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    r.script_flush()
    pipe = r.pipeline(transaction=transaction)
    add(keys=["n"], args=[5], client=pipe)
    pipe.get("n")
    add(keys=["n"], args=[1], client=pipe)
    assert pipe.execute() == [5, b"5", 6]
    assert r.script_exists(add.sha) == [True]
    r.close()


def test_script_error_is_a_response_error(plain_server):
    r = sf.Redis(port=plain_server.port)
    bad = r.register_script("return redis.call('NOSUCHCOMMAND')")
    with pytest.raises(redis.exceptions.ResponseError):
        bad()
    r.close()


# ================================================================================================
# Functions
# ================================================================================================

LIBRARY = """#!lua name=behaviourlib
redis.register_function('bl_incr', function(keys, args) return redis.call('INCRBY', keys[1], args[1]) end)
redis.register_function{function_name='bl_get', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}
"""


def test_functions_load_call_list(plain_server):
    r = sf.Redis(port=plain_server.port)
    assert r.function_load(LIBRARY) == b"behaviourlib"
    with pytest.raises(redis.exceptions.ResponseError, match="already exists"):
        r.function_load(LIBRARY)
    assert r.fcall("bl_incr", 1, "n", 4) == 4
    assert r.fcall_ro("bl_get", 1, "n") == b"4"
    with pytest.raises(redis.exceptions.ResponseError):
        r.fcall_ro("bl_incr", 1, "n", 1)  # a function without no-writes
    (library,) = r.function_list()  # redis-py on RESP2: flat [name, value, ...] lists
    library = dict(zip(library[::2], library[1::2]))
    assert library[b"library_name"] == b"behaviourlib"
    assert sorted(f[1] for f in library[b"functions"]) == [b"bl_get", b"bl_incr"]
    dumped = r.function_dump()
    assert r.function_flush() is True
    assert r.function_list() == []
    assert r.function_restore(dumped) is True
    pipe = r.pipeline()
    pipe.fcall("bl_incr", 1, "n", 1).fcall_ro("bl_get", 1, "n")
    assert pipe.execute() == [5, b"5"]
    assert r.function_delete("behaviourlib") is True
    r.close()


# ================================================================================================
# Monitor (needs the connection's encoder and reading pushed replies: the connection interface)
# ================================================================================================


def test_monitor_sees_a_command_another_client_runs(plain_server):
    r = sf.Redis(port=plain_server.port)
    writer = sf.Redis(port=plain_server.port, db=3)
    with r.monitor() as monitor:
        writer.set("monitored-key", "monitored value")
        seen = None
        for _ in range(50):
            command = monitor.next_command()
            if "monitored-key" in command["command"]:
                seen = command
                break
    assert seen is not None
    assert seen["command"] == "SET monitored-key monitored value"
    assert seen["db"] == 3
    assert seen["client_type"] == "tcp" and seen["client_address"] == "127.0.0.1"
    assert abs(seen["time"] - time.time()) < 60
    assert r.ping() is True  # the pool is fine after the monitor
    r.close()
    writer.close()


# ================================================================================================
# auth(), client(), from_pool, close, context manager, get_encoder()
# ================================================================================================


def test_auth_switches_user(auth_server):
    r = sf.Redis(port=auth_server.port, password=AUTH_PASSWORD)
    single = r.client()
    assert single.acl_whoami() == "default"
    assert single.auth(ACL_USERS["reader"], "reader") is True
    assert single.get("any") is None  # reader may GET
    with pytest.raises(redis.exceptions.NoPermissionError):
        single.set("any", 1)
    assert single.auth(ACL_USERS["alice"], username="alice") is True
    assert single.acl_whoami() == "alice"
    with pytest.raises(redis.exceptions.AuthenticationError):
        single.auth("wrong", "alice")
    single.close()
    r.close()


def count_clients(server, name):
    listing = server.command("CLIENT", "LIST").decode()
    return sum(1 for line in listing.splitlines() if f" name={name} " in f" {line} ")


def test_from_pool_owns_the_pool(plain_server):
    pool = sf.ConnectionPool(port=plain_server.port, client_name="from-pool")
    client = sf.Redis.from_pool(pool)
    client.ping()
    assert count_clients(plain_server, "from-pool") == 1
    client.close()
    assert wait_for(lambda: count_clients(plain_server, "from-pool") == 0)


def test_a_client_does_not_close_a_pool_it_was_given(plain_server):
    pool = sf.ConnectionPool(port=plain_server.port, client_name="given-pool")
    client = sf.Redis(connection_pool=pool)
    client.ping()
    client.close()
    time.sleep(0.1)
    assert count_clients(plain_server, "given-pool") == 1
    assert sf.Redis(connection_pool=pool).ping() is True
    pool.disconnect()


def test_context_manager_closes_its_own_pool(plain_server):
    with sf.Redis(port=plain_server.port, client_name="ctx-client") as client:
        assert client.ping() is True
        with client.pipeline() as pipe:
            pipe.set("a", 1).get("a")
            assert pipe.execute() == [True, b"1"]
        assert count_clients(plain_server, "ctx-client") == 1
    assert wait_for(lambda: count_clients(plain_server, "ctx-client") == 0)


def test_single_connection_client(plain_server):
    r = sf.Redis(port=plain_server.port, single_connection_client=True)
    ids = {r.client_id() for _ in range(3)}
    assert len(ids) == 1
    r.client_setname("single")
    assert r.client_getname() == "single"
    results = []
    threads = [threading.Thread(target=lambda: results.append(r.incr("n"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results) == list(range(1, 9))
    r.close()


def test_get_encoder(topology):
    plain = sf.Redis(port=topology.master.port)
    decoding = sf.Redis(port=topology.master.port, decode_responses=True, encoding="latin-1")
    assert plain.get_encoder().encode("é") == "é".encode()
    assert plain.get_encoder().encode(3) == b"3"
    assert decoding.get_encoder().encode("é") == "é".encode("latin-1")
    assert decoding.get_encoder().decode(b"\xe9") == "é"
    assert plain.get_encoder().decode(b"x") == b"x"
    with pytest.raises(redis.exceptions.DataError):
        plain.get_encoder().encode({"not": "encodable"})
    plain.close()
    decoding.close()
