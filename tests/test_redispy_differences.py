"""Regression tests for the differences from redis-py listed under "Why" in issue 8 (and those the
differential tests found): each one is a program written for redis-py that must behave the same
on sentinelfast.

Where the behaviour is redis-py's own (not a documented expectation), the test runs the same
steps through ``redis.Redis`` on the same server and compares."""

import threading
import time

import pytest
import redis
import redis.exceptions
from sfimpl import IMPL, no_retry, sf, sf_exceptions


@pytest.fixture
def r(topology):
    client = sf.Redis(port=topology.master.port)
    yield client
    client.close()


def outcome(call):
    """``("ok", value)`` or ``("raised", exception class name, message)``: what a user sees."""
    try:
        return ("ok", call())
    except redis.exceptions.RedisError as e:
        return ("raised", type(e).__name__, str(e))


# -- register_script with str -----------------------------------------------------------------


def test_register_script_with_str_and_bytes(r, key):
    from_str = r.register_script("return {KEYS[1], ARGV[1]}")
    from_bytes = r.register_script(b"return ARGV[1] .. ARGV[2]")
    assert from_str(keys=[key], args=["x"]) == [key.encode(), b"x"]
    assert from_bytes(args=["a", 1]) == b"a1"
    assert from_str.sha == redis.Redis().register_script("return {KEYS[1], ARGV[1]}").sha


def test_get_encoder_encodes_like_redis_py(topology):
    for kwargs in ({}, {"decode_responses": True}, {"encoding": "latin-1"}):
        ours = sf.Redis(port=topology.master.port, **kwargs)
        ref = redis.Redis(port=topology.master.port, **kwargs)
        for value in ("é", b"\xff", 12, 1.5):
            assert ours.get_encoder().encode(value) == ref.get_encoder().encode(value)
        assert ours.get_encoder().decode(b"abc") == ref.get_encoder().decode(b"abc")
        assert ours.get_encoder().decode(b"abc", force=True) == ref.get_encoder().decode(b"abc", force=True)
        ours.close()
        ref.close()


# -- response_callbacks ------------------------------------------------------------------------


def test_response_callbacks_are_case_insensitive(r):
    assert r.response_callbacks["ping"] is r.response_callbacks["PING"]
    assert "ping" in r.response_callbacks and "Ping" in r.response_callbacks
    assert r.response_callbacks.get("set") is r.response_callbacks["SET"]


def test_set_response_callback_lowercase_applies_to_the_command(topology):
    r = sf.Redis(port=topology.master.port)
    other = sf.Redis(port=topology.master.port)
    r.set_response_callback("ping", lambda reply, **options: ("pong!", reply))
    assert r.ping() == ("pong!", b"PONG")
    assert r.execute_command("PING") == ("pong!", b"PONG")
    pipe = r.pipeline()
    pipe.ping()
    assert pipe.execute() == [("pong!", b"PONG")]
    assert other.ping() is True  # one client's table only
    r.close()
    other.close()


# -- commands answered locally inside a transaction ---------------------------------------------


@pytest.mark.parametrize("transaction", [True, False])
def test_mget_of_no_keys_in_a_pipeline_gives_an_empty_list(r, key, transaction):
    pipe = r.pipeline(transaction=transaction)
    pipe.set(key, 1).mget([]).get(key)
    assert pipe.execute() == [True, [], b"1"]
    assert r.mget([]) == []


# -- NEVER_DECODE (found by the differential tests) -------------------------------------------


def test_dump_with_decode_responses_returns_bytes(topology, key):
    """redis-py's DUMP passes NEVER_DECODE=[] (a false value): its presence means "raw bytes"."""
    r = sf.Redis(port=topology.master.port, decode_responses=True)
    ref = redis.Redis(port=topology.master.port, protocol=2)
    r.rpush(key, "a", "b")
    dumped = r.dump(key)
    assert isinstance(dumped, bytes) and dumped == ref.dump(key)
    assert r.restore(key + "copy", 0, dumped) == "OK"
    assert r.lrange(key + "copy", 0, -1) == ["a", "b"]
    r.close()
    ref.close()


def test_dump_in_a_pipeline_with_decode_responses(topology, key):
    """A pipeline (not a transaction) reads each reply with its own decoding, as redis-py does:
    DUMP's raw bytes next to decoded replies."""
    r = sf.Redis(port=topology.master.port, decode_responses=True)
    ref = redis.Redis(port=topology.master.port, protocol=2)
    r.rpush(key, "a")
    pipe = r.pipeline(transaction=False)
    pipe.get(key + "s").dump(key).set(key + "s", "é").dump(key).dump(key + "none").get(key + "s")
    dumped = ref.dump(key)
    assert pipe.execute() == [None, dumped, True, dumped, None, "é"]
    # with watch (the pipeline's own connection), immediate mode
    with r.pipeline(transaction=False) as pipe:
        pipe.watch(key)
        assert pipe.dump(key) == dumped
        pipe.multi()
        pipe.get(key + "s")
        assert pipe.execute() == ["é"]
    r.close()
    ref.close()


def test_slowlog_get_with_decode_responses(plain_server):
    """redis-py reads SLOWLOG GET undecoded (NEVER_DECODE) with decode_responses: the command
    is bytes."""
    r = sf.Redis(port=plain_server.port, decode_responses=True)
    r.config_set("slowlog-log-slower-than", 0)
    r.set("k", "é")
    entries = r.slowlog_get()
    assert any(e["command"] == "SET k é".encode() for e in entries), entries
    assert all(isinstance(e["command"], bytes) for e in entries)
    r.close()


# -- LOADING inside MULTI/EXEC ------------------------------------------------------------------


def test_loading_error_inside_a_transaction_raises_busy_loading_error(plain_server):
    """A real LOADING state: the server reloads a dataset slowly (key-load-delay) and answers
    other clients between keys (loading-process-events-interval-bytes); a transaction sent
    meanwhile raises BusyLoadingError (a LOADING reply to a queued command), it is not
    swallowed, and the connection stays usable."""
    admin = redis.Redis(port=plain_server.port, protocol=2, socket_timeout=60)
    with admin.pipeline(transaction=False) as fill:
        for i in range(3000):
            fill.set(f"k{i}", i)
        fill.execute()
    admin.config_set("loading-process-events-interval-bytes", 1024)
    admin.config_set("key-load-delay", 1000)  # microseconds per key: about 3 s of loading
    r = sf.Redis(port=plain_server.port, retry=no_retry())
    r.ping()  # connected before the reload
    probe = redis.Redis(port=plain_server.port, protocol=2, retry=None)
    probe.ping()
    reloader = threading.Thread(target=admin.execute_command, args=("DEBUG", "RELOAD"))
    reloader.start()
    try:
        deadline = time.monotonic() + 30
        loading = False
        while not loading and time.monotonic() < deadline:
            try:
                probe.get("k1")
                time.sleep(0.01)
            except redis.exceptions.BusyLoadingError:
                loading = True
        assert loading, "the server never answered LOADING"
        with r.pipeline(transaction=True) as pipe:
            pipe.set("during", 1).get("k1")
            with pytest.raises(sf_exceptions.BusyLoadingError) as raised:
                pipe.execute()
        assert isinstance(raised.value, redis.exceptions.BusyLoadingError)
        assert "loading" in str(raised.value).lower()
    finally:
        reloader.join(60)
    admin.config_set("key-load-delay", 0)
    assert r.get("during") is None          # nothing of the transaction ran
    assert r.get("k1") == b"1" and r.dbsize() == 3000
    for c in (r, probe, admin):
        c.close()


# -- set_retry / check_health --------------------------------------------------------------------


def test_set_retry_reaches_connections_already_in_the_pool(topology):
    r = sf.Redis(port=topology.master.port)
    r.ping()  # a connection is now idle in the pool
    busy = r.connection_pool.get_connection()  # and one is in use
    if IMPL == "redis":
        from redis.backoff import ConstantBackoff
        from redis.retry import Retry
    else:
        from sentinelfast.backoff import ConstantBackoff
        from sentinelfast.retry import Retry
    retry = Retry(ConstantBackoff(0.01), 7)
    r.set_retry(retry)
    assert r.get_retry() is retry
    assert busy.retry.get_retries() == 7
    r.connection_pool.release(busy)
    idle = r.connection_pool.get_connection()
    assert idle.retry.get_retries() == 7
    r.connection_pool.release(idle)
    fresh = [r.connection_pool.get_connection() for _ in range(3)]  # new ones too
    assert [c.retry.get_retries() for c in fresh] == [7, 7, 7]
    for c in fresh:
        r.connection_pool.release(c)
    r.close()


def commandstats(server):
    stats = {}
    for line in server.command("INFO", "commandstats").decode().splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line[len("cmdstat_"):].partition(":")
            stats[name] = int(rest.split("calls=")[1].split(",")[0])
    return stats


def test_check_health_pings_when_due_and_advances_next_health_check(plain_server):
    r = sf.Redis(port=plain_server.port, health_check_interval=1)
    conn = r.connection_pool.get_connection()
    conn.check_health()      # just connected: not due
    pings = commandstats(plain_server).get("ping", 0)
    conn.check_health()
    assert commandstats(plain_server).get("ping", 0) == pings  # not due yet: no PING
    time.sleep(1.2)
    before = time.monotonic()
    conn.check_health()
    assert commandstats(plain_server).get("ping", 0) == pings + 1
    assert conn.next_health_check >= before + 0.9
    conn.check_health()      # advanced: not due again
    assert commandstats(plain_server).get("ping", 0) == pings + 1
    r.connection_pool.release(conn)
    r.close()


# -- client(), immediate_execute_command, discard ----------------------------------------------


def test_client_is_a_single_connection_client_on_the_same_pool(r):
    single = r.client()
    assert type(single) is type(r)
    assert single.connection_pool is r.connection_pool
    assert single.connection is not None
    ids = {single.client_id() for _ in range(5)}
    assert len(ids) == 1
    single.client_setname("single")
    assert single.client_getname() == "single"  # redis-py's callback makes it str
    single.close()
    assert single.connection is None
    assert r.ping() is True  # the pool is not closed by the single client


def test_immediate_execute_command(r, key):
    pipe = r.pipeline()
    assert pipe.immediate_execute_command("SET", key, "v") is True  # SET's callback applied
    assert pipe.immediate_execute_command("GET", key) == b"v"
    assert len(pipe) == 0  # nothing buffered
    with pytest.raises(redis.exceptions.ResponseError):
        pipe.immediate_execute_command("INCR", key)
    pipe.reset()
    assert r.get(key) == b"v"


def discard_steps(client, k):
    """What redis-py's Pipeline.discard does, step by step (DISCARD is buffered like any command
    in a MULTI block, and sent at once while watching)."""
    steps = []
    pipe = client.pipeline()
    pipe.multi()
    pipe.set(k + "a", 1)
    pipe.discard()
    steps.append(len(pipe))
    steps.append(outcome(pipe.execute))
    steps.append(client.get(k + "a"))
    pipe.watch(k + "a")
    steps.append(outcome(pipe.discard))
    pipe.reset()
    pipe.set(k + "b", 2)
    steps.append(pipe.execute())  # the pipeline is usable again
    steps.append(client.get(k + "b"))
    return steps


def test_discard_behaves_as_redis_py(topology, key):
    ours = sf.Redis(port=topology.master.port)
    ref = redis.Redis(port=topology.master.port, protocol=2)
    expected = discard_steps(ref, key + "ref:")
    got = discard_steps(ours, key + "ours:")
    assert got == expected
    assert got[2] is None  # the discarded SET did not run
    ours.close()
    ref.close()
