"""redis-py's own client over sentinelfast's pool and connections.

Frameworks build ``redis.Redis(connection_pool=<pool>)`` or pass ``redis_class=redis.Redis``
to ``master_for`` (kombu/Celery, django-redis); sentinelfast's Redis also runs redis-py's
PubSub, Monitor, Lock, Script and Pipeline code over them. Each behaviour is run over
sentinelfast's pool and over redis-py's own pool on the same server, and must give the
same results. Real servers throughout.
"""
import inspect
import select
import socket
import threading
import time

import pytest

redis = pytest.importorskip("redis")
from redis.exceptions import LockNotOwnedError, ResponseError, WatchError  # noqa: E402

from sfimpl import IMPL, sf, sf_exceptions, sf_sentinel  # noqa: E402

WAIT = 5.0   # generous bound for anything that should happen at once


def _pools(server, **kwargs):
    """(sentinelfast's pool, redis-py's pool) for the same server and settings."""
    host, port = server.address
    return (sf.ConnectionPool(host=host, port=port, **kwargs),
            redis.ConnectionPool(host=host, port=port, **kwargs))


def _pool(server, **kwargs):
    """A RESP2 pool of the implementation under test (sentinelfast speaks RESP2; redis-py
    8 would speak RESP3 where the replies of SUBSCRIBE are pushed differently)."""
    return sf.ConnectionPool(host=server.address[0], port=server.address[1], protocol=2,
                             **kwargs)


@pytest.fixture(params=["redis.Redis", "sentinelfast.Redis"])
def clients(plain_server, request):
    """A client over sentinelfast's pool — redis-py's own ``redis.Redis`` (what frameworks
    pass) or ``sentinelfast.Redis`` (its pubsub() is sentinelfast's PubSub) — and
    redis.Redis over redis-py's pool (the reference)."""
    ours, theirs = _pools(plain_server)
    client_class = redis.Redis if request.param == "redis.Redis" else sf.Redis
    yield client_class(connection_pool=ours), redis.Redis(connection_pool=theirs)
    ours.disconnect()
    theirs.disconnect()


def both(clients, key, scenario):
    """Run ``scenario(client, key_prefix)`` over both pools; return both results."""
    ours, theirs = clients
    return scenario(ours, key + "sf:"), scenario(theirs, key + "rp:")


# ---------------------------------------------------------------------------------------------
# Commands, pipelines, transactions
# ---------------------------------------------------------------------------------------------


def _anonymous(value, k):
    """``value`` with the key prefix ``k`` replaced by "K" (results of two prefixes compare)."""
    if isinstance(value, bytes):
        return value.replace(k.encode(), b"K")
    if isinstance(value, list):
        return [_anonymous(v, k) for v in value]
    return value


def _commands(r, k):
    out = [r.set(k + "s", "v"), r.get(k + "s"), r.mget([k + "s", k + "none"]), r.mget([]),
           r.incr(k + "n", 5), r.incrbyfloat(k + "n", 0.5), r.expire(k + "s", 100),
           0 < r.ttl(k + "s") <= 100, r.hset(k + "h", mapping={"a": 1, "b": "x"}),
           r.hgetall(k + "h"), r.zadd(k + "z", {"m1": 1, "m2": 2.5}),
           r.zrange(k + "z", 0, -1, withscores=True), r.rpush(k + "l", 1, 2, 3),
           r.lrange(k + "l", 0, -1), r.sadd(k + "set", "a", "b"), sorted(r.smembers(k + "set")),
           r.exists(k + "s", k + "none"), r.type(k + "h"), r.delete(k + "l"), r.ping(),
           sorted(r.scan_iter(match=k + "*"))]
    with pytest.raises(ResponseError) as info:
        r.lpush(k + "s", "x")                       # WRONGTYPE
    out.append(str(info.value))
    return _anonymous(out, k)


def test_commands_give_redis_pys_results(clients, key):
    ours, theirs = both(clients, key, _commands)
    assert ours == theirs
    assert ours[1] == b"v" and ours[3] == []


def test_decode_responses_over_our_pool(plain_server, key):
    ours, theirs = _pools(plain_server, decode_responses=True)
    results = [
        (r.set(key + p, "välue"), r.get(key + p), r.hset(key + p + "h", "f", "é"),
         r.hgetall(key + p + "h"))
        for r, p in ((redis.Redis(connection_pool=ours), "a"),
                     (redis.Redis(connection_pool=theirs), "b"))]
    assert results[0] == results[1] == (True, "välue", 1, {"f": "é"})


def _pipeline(r, k):
    with r.pipeline(transaction=False) as p:
        p.set(k + "a", 1).incr(k + "a").get(k + "a").lpush(k + "a", "x").get(k + "none")
        plain = p.execute(raise_on_error=False)
    plain[3] = type(plain[3]).__name__
    with r.pipeline() as p:                         # MULTI/EXEC
        p.set(k + "b", "1").incr(k + "b").mget([]).get(k + "b")
        tx = p.execute()
    return plain, tx


def test_pipeline_and_transaction(clients, key):
    ours, theirs = both(clients, key, _pipeline)
    assert ours == theirs
    assert ours == ([True, 2, b"2", "ResponseError", None], [True, 2, [], b"2"])


def _watch(r, k):
    r.set(k + "w", 1)
    other = redis.Redis(**{n: r.connection_pool.connection_kwargs[n] for n in ("host", "port")})
    seen = []

    with r.pipeline() as p:                         # a WATCHed key changed: WatchError
        p.watch(k + "w")
        seen.append(p.get(k + "w"))                 # immediate execution while watching
        other.set(k + "w", 100)
        p.multi()
        p.incr(k + "w")
        with pytest.raises(WatchError):
            p.execute()

    calls = []

    def bump(pipe):                                 # redis-py's transaction() helper
        calls.append(1)
        value = int(pipe.get(k + "w"))
        if len(calls) == 1:
            other.set(k + "w", value + 1000)       # first attempt loses the race
        pipe.multi()
        pipe.set(k + "w", value + 1)

    seen.append(r.transaction(bump, k + "w"))
    seen += [len(calls), r.get(k + "w")]
    other.close()
    return seen


def test_watch_transaction(clients, key):
    ours, theirs = both(clients, key, _watch)
    assert ours == theirs == [b"1", [True], 2, b"1101"]


def test_pipeline_after_watch_gives_the_connection_back(clients, key):
    r = clients[0]
    pool = r.connection_pool
    with r.pipeline() as p:
        p.watch(key)
        p.unwatch()
    assert not pool._in_use_connections
    assert r.set(key, "after") is True and r.get(key) == b"after"


# ---------------------------------------------------------------------------------------------
# Pub/Sub, Monitor
# ---------------------------------------------------------------------------------------------


def _pubsub(r, k):
    out = []
    p = r.pubsub()
    p.subscribe(k + "ch")
    out.append(p.get_message(timeout=WAIT))
    p.psubscribe(k + "pat*")
    out.append(p.get_message(timeout=WAIT))
    out.append(p.get_message(timeout=0.05))         # nothing waiting: None after the timeout
    r.publish(k + "ch", "one")
    r.publish(k + "pat1", "two")
    out.append(p.get_message(timeout=WAIT))
    out.append(p.get_message(timeout=WAIT))
    p.ping("hi")
    out.append(p.get_message(timeout=WAIT))
    p.unsubscribe(k + "ch")
    out.append(p.get_message(timeout=WAIT))
    p.punsubscribe()
    out.append(p.get_message(timeout=WAIT))
    out.append(p.subscribed)
    p.close()
    return [_strip(m, k) for m in out]


def _sharded_and_decoded(r, k):
    """SSUBSCRIBE / SPUBLISH / SUNSUBSCRIBE (Redis 7) with decode_responses=True."""
    out = []
    p = r.pubsub()
    p.ssubscribe(k + "shard")
    out.append(p.get_message(timeout=WAIT))
    r.spublish(k + "shard", "é-one")
    out.append(p.get_message(timeout=WAIT))
    p.sunsubscribe(k + "shard")
    out.append(p.get_message(timeout=WAIT))
    p.close()
    return [{n: v.replace(k, "K") if isinstance(v, str) else v for n, v in m.items()}
            for m in out]


@pytest.mark.parametrize("client_class", ["redis.Redis", "sentinelfast.Redis"])
def test_pubsub_sharded_channels_decoded(plain_server, key, client_class):
    ours, theirs = _pools(plain_server, decode_responses=True)
    cls = redis.Redis if client_class == "redis.Redis" else sf.Redis
    results = [_sharded_and_decoded(c(connection_pool=pool), key + tag)
               for c, pool, tag in ((cls, ours, "sf"), (redis.Redis, theirs, "rp"))]
    assert results[0] == results[1]
    assert results[0][1] == {"type": "smessage", "pattern": None, "channel": "Kshard",
                             "data": "é-one"}


def _strip(message, k):
    if not isinstance(message, dict):
        return message
    return {n: v.replace(k.encode(), b"K") if isinstance(v, bytes) else v
            for n, v in message.items()}


def test_pubsub(clients, key):
    ours, theirs = both(clients, key, _pubsub)
    assert ours == theirs
    assert ours[3] == {"type": "message", "pattern": None, "channel": b"Kch", "data": b"one"}
    assert ours[4]["type"] == "pmessage" and ours[4]["data"] == b"two"


def _pubsub_listen_and_handlers(r, k):
    got = []
    p = r.pubsub(ignore_subscribe_messages=True)
    p.subscribe(**{k + "h": lambda m: got.append(("handler", m["data"]))})
    p.subscribe(k + "plain")
    deadline = time.monotonic() + WAIT
    while p.get_message(timeout=0.05) is None and time.monotonic() < deadline:
        pass                                         # subscribe replies are swallowed
    # listen() blocks without a bound (redis-py 8 reads with timeout=None): it must
    # outlast socket_timeout (0.3 s here) and return the message published later.
    timer = threading.Timer(0.8, r.publish, (k + "plain", "late"))
    timer.start()
    for message in p.listen():
        if message["type"] == "message":
            got.append(("listen", message["data"]))
            break
    timer.join(WAIT)
    r.publish(k + "h", "to-handler")
    deadline = time.monotonic() + WAIT
    while len(got) < 2 and time.monotonic() < deadline:
        p.get_message(timeout=0.1)
    p.close()
    return got


def test_pubsub_listen_handlers_and_ignore_subscribe_messages(plain_server, key):
    # redis-py 8's listen() reads without a bound; older releases are bounded by
    # socket_timeout (with either pool), so the short socket_timeout is for redis-py 8.
    # (redis-py 8.0 passes its SENTINEL, the socket timeout; 8.1 passes None: no bound)
    unbounded = "read_timeout = None" in inspect.getsource(redis.client.PubSub.parse_response)
    ours, theirs = _pools(plain_server, socket_timeout=0.3 if unbounded else None)
    results = [_pubsub_listen_and_handlers(redis.Redis(connection_pool=pool), key + tag)
               for pool, tag in ((ours, "sf"), (theirs, "rp"))]
    assert results[0] == results[1] == [("listen", b"late"), ("handler", b"to-handler")]


def test_pubsub_run_in_thread(clients, key):
    r = clients[0]
    got = threading.Event()
    p = r.pubsub()
    p.subscribe(**{key: lambda m: got.set()})
    worker = p.run_in_thread(sleep_time=0.05, daemon=True)
    try:
        deadline = time.monotonic() + WAIT
        while not got.is_set() and time.monotonic() < deadline:
            r.publish(key, "x")
            got.wait(0.1)
        assert got.is_set()
    finally:
        worker.stop()
        worker.join(WAIT)
    assert not worker.is_alive()


def test_pubsub_health_check_interval(plain_server, key):
    """health_check_interval: the PubSub PINGs when the connection was idle that long and
    swallows the reply; messages still arrive in order."""
    ours, theirs = _pools(plain_server, health_check_interval=0.2)
    results = []
    for pool, k in ((ours, key + "sf"), (theirs, key + "rp")):
        r = redis.Redis(connection_pool=pool)
        p = r.pubsub()
        p.subscribe(k)
        first = p.get_message(timeout=WAIT)
        time.sleep(0.4)                              # past the interval: a PING goes out
        assert p.get_message(timeout=0.3) is None    # its reply is swallowed
        conn = p.connection
        assert conn.next_health_check > _health_clock()()
        r.publish(k, "m")
        message = p.get_message(timeout=WAIT)
        results.append((first["type"], message["data"]))
        p.close()
    assert results[0] == results[1] == ("subscribe", b"m")


def _health_clock():
    """The clock redis-py's PubSub compares next_health_check with (5.x: time.time)."""
    from redis.client import PubSub

    return time.monotonic if "monotonic" in PubSub.check_health.__code__.co_names else time.time


def test_pubsub_resubscribes_after_reconnect(clients, key):
    """The connection runs redis-py's connect callback: after the server drops the
    subscriber, the next read reconnects and re-subscribes."""
    r = clients[0]
    p = r.pubsub()
    p.subscribe(key)
    assert p.get_message(timeout=WAIT)["type"] == "subscribe"
    assert r.client_kill_filter(_type="pubsub") == 1
    deadline = time.monotonic() + WAIT
    resubscribed = None
    while time.monotonic() < deadline:
        try:
            message = p.get_message(timeout=0.1)
        except redis.exceptions.ConnectionError:
            continue
        if message and message["type"] == "subscribe":
            resubscribed = message
            break
    assert resubscribed is not None
    r.publish(key, "after")
    assert p.get_message(timeout=WAIT)["data"] == b"after"
    p.close()


def test_monitor(clients, key):
    results = []
    for r in clients:
        with r.monitor() as m:
            other = redis.Redis(**{n: r.connection_pool.connection_kwargs[n]
                                   for n in ("host", "port")})
            timer = threading.Timer(0.1, other.get, (key + "mon",))
            timer.start()
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                command = m.next_command()
                if command["command"] == f"GET {key}mon":
                    results.append((command["command"], command["db"], command["client_type"]))
                    break
            timer.join(WAIT)
            other.close()
        assert not r.connection_pool._in_use_connections
    assert results[0] == results[1] == (f"GET {key}mon", 0, "tcp")
    assert clients[0].get(key) is None              # the pool's next connection is fine


# ---------------------------------------------------------------------------------------------
# Lock, scripts
# ---------------------------------------------------------------------------------------------


def _lock(r, k):
    out = []
    lock = r.lock(k + "lock", timeout=5, blocking_timeout=0.2)
    out.append(lock.acquire())
    out.append(r.lock(k + "lock", blocking_timeout=0.1).acquire())      # held: False
    out.append(lock.owned())
    out.append(lock.extend(5))
    out.append(3 < r.pttl(k + "lock") / 1000 <= 10)
    out.append(lock.reacquire())
    lock.release()
    out.append(lock.locked())
    stolen = r.lock(k + "lock2", timeout=5)
    stolen.acquire()
    r.set(k + "lock2", "someone-else")
    with pytest.raises(LockNotOwnedError):
        stolen.release()
    with r.lock(k + "lock3", timeout=5) as held:
        out.append(held.locked())
    return out


def test_lock(clients, key):
    ours, theirs = both(clients, key, _lock)
    assert ours == theirs == [True, False, True, True, True, True, False, True]


def _scripts(r, k):
    get = r.register_script("return redis.call('GET', KEYS[1])")        # a str script
    incr = r.register_script(b"return redis.call('INCRBY', KEYS[1], ARGV[1])")
    r.set(k + "s", "value")
    out = [get(keys=[k + "s"]), incr(keys=[k + "n"], args=[3])]
    r.script_flush()                                 # NOSCRIPT: loaded again
    out.append(incr(keys=[k + "n"], args=[4]))
    with r.pipeline() as p:
        incr(keys=[k + "n"], args=[1], client=p)
        get(keys=[k + "s"], client=p)
        out.append(p.execute())
    return out


def test_register_script(clients, key):
    ours, theirs = both(clients, key, _scripts)
    assert ours == theirs == [b"value", 3, 7, [8, b"value"]]


# ---------------------------------------------------------------------------------------------
# Sentinel: master_for(redis_class=redis.Redis)
# ---------------------------------------------------------------------------------------------


def test_master_for_with_redis_pys_client(topology, key):
    sentinel = sf.Sentinel(topology.sentinel_addresses, socket_timeout=1.0)
    try:
        master = sentinel.master_for(topology.service_name, redis_class=redis.Redis,
                                     socket_timeout=1.0)
        assert type(master) is redis.Redis
        assert master.set(key, "v") is True
        assert master.get(key) == b"v"
        assert master.info("server")["tcp_port"] == topology.master.port
        with master.pipeline() as p:
            assert p.incr(key + "n").incr(key + "n").execute() == [1, 2]
        p = master.pubsub()
        p.subscribe(key + "ch")
        assert p.get_message(timeout=WAIT)["type"] == "subscribe"
        assert master.publish(key + "ch", "hello") == 1
        assert p.get_message(timeout=WAIT)["data"] == b"hello"
        p.close()
        lock = master.lock(key + "lock", timeout=5)
        assert lock.acquire() and lock.release() is None
        assert master.get(key) == b"v"
        replica = sentinel.slave_for(topology.service_name, redis_class=redis.Redis,
                                     socket_timeout=1.0)
        assert type(replica) is redis.Redis
        master.wait(len(topology.replicas), 5000)        # replicated before it is read
        assert replica.get(key) == b"v"
        assert replica.info("replication")["role"] == "slave"
        with pytest.raises(redis.exceptions.ReadOnlyError):
            replica.set(key, "x")
    finally:
        sentinel.close()


# ---------------------------------------------------------------------------------------------
# The pool and connection interface itself
# ---------------------------------------------------------------------------------------------


def test_get_encoder_is_redis_pys_encoder(plain_server):
    pool = _pool(plain_server, encoding="latin-1", decode_responses=True)
    encoder = pool.get_encoder()
    assert isinstance(encoder, redis.connection.Encoder)
    assert encoder.encode("é") == "é".encode("latin-1")
    assert encoder.encode(12) == b"12"
    assert encoder.decode(b"\xe9") == "é"
    conn = pool.get_connection()
    try:
        assert isinstance(conn.encoder, redis.connection.Encoder)
        assert conn.encoder.decode(b"\xe9", force=True) == "é"
    finally:
        pool.release(conn)


def test_set_retry_reaches_pooled_connections(plain_server):
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    pool = _pool(plain_server)
    r = redis.Redis(connection_pool=pool)
    idle = pool.get_connection()
    busy = pool.get_connection()
    pool.release(idle)
    policy = Retry(NoBackoff(), 7)
    r.set_retry(policy)
    assert idle.retry is policy and busy.retry is policy
    pool.release(busy)
    taken = [pool.get_connection() for _ in range(3)]   # the third is new: from the kwargs
    assert [c.retry._retries for c in taken] == [7, 7, 7]
    for c in taken:
        pool.release(c)
    assert r.get_retry() is policy


def test_check_health_advances_next_health_check(plain_server):
    pool = _pool(plain_server, health_check_interval=0.2)
    conn = pool.get_connection()
    try:
        conn.connect()
        first = conn.next_health_check
        assert first > _health_clock()()
        time.sleep(0.3)
        conn.check_health()                          # due: PING, then the next one later
        assert conn.next_health_check > _health_clock()() + 0.1
        assert conn.next_health_check > first
        conn.send_command("GET", "x")
        before = conn.next_health_check
        time.sleep(0.01)
        assert conn.read_response() is None
        assert conn.next_health_check > before       # every reply read advances it
    finally:
        pool.release(conn)


@pytest.mark.parametrize("command", [("SUBSCRIBE", "c"), ("PSUBSCRIBE", "c*"), ("MONITOR",),
                                     ("subscribe", "c"), ("SSUBSCRIBE", "c"),
                                     (b"Subscribe", "c")])
def test_a_connection_in_push_mode_is_never_reused_for_commands(plain_server, key, command):
    if IMPL != "sentinelfast":
        pytest.skip("push mode is sentinelfast's protection")
    pool = _pool(plain_server, max_connections=1)
    r = redis.Redis(connection_pool=pool)
    conn = pool.get_connection()
    conn.send_command(*command)
    assert conn.read_response() is not None          # every reply owed has been read...
    pool.release(conn)                               # ...but the server still pushes:
    assert not conn.is_connected                     # closed as it comes back
    publisher = redis.Redis(*plain_server.address)
    publisher.publish("c", "pushed")
    publisher.set(key, "real")
    publisher.close()
    time.sleep(0.1)                                  # the pushed message is on its way
    assert r.get(key) == b"real"                     # not the pushed message
    assert r.get(key) == b"real"


def test_a_packed_subscribe_is_push_mode_too(plain_server, key):
    if IMPL != "sentinelfast":
        pytest.skip("push mode is sentinelfast's protection")
    pool = _pool(plain_server)
    conn = pool.get_connection()
    conn.send_packed_command(conn.pack_commands([("PING",), ("SUBSCRIBE", "c")]))
    assert conn.read_response() == b"PONG"
    assert conn.read_response()[0] == b"subscribe"
    assert conn._push_mode
    pool.release(conn)
    again = pool.get_connection()
    assert again is conn and not conn.is_connected   # closed, reconnects when used
    again.send_command("PING")
    assert again.read_response() == b"PONG"
    assert not again._push_mode
    pool.release(again)


def test_can_read(plain_server):
    pool = _pool(plain_server)
    conn = pool.get_connection()
    try:
        conn.connect()
        assert conn.can_read() is False
        started = time.monotonic()
        assert conn.can_read(timeout=0.2) is False
        assert time.monotonic() - started >= 0.15
        conn.send_command("PING")
        assert conn.can_read(timeout=WAIT) is True
        assert conn.read_response() == b"PONG"
        assert conn.can_read(timeout=0) is False
    finally:
        pool.release(conn)


def test_can_read_on_a_connection_the_server_closed(plain_server):
    pool = _pool(plain_server)
    conn = pool.get_connection()
    conn.connect()
    conn.send_command("CLIENT", "ID")
    client_id = conn.read_response()
    admin = redis.Redis(*plain_server.address)
    assert admin.client_kill_filter(_id=client_id) == 1
    admin.close()
    deadline = time.monotonic() + WAIT
    with pytest.raises(sf_exceptions.ConnectionError):
        while time.monotonic() < deadline:
            conn.can_read(timeout=0.1)
    pool.release(conn)
    assert redis.Redis(connection_pool=pool).ping() is True


def test_read_response_timeouts(plain_server):
    pool = _pool(plain_server, socket_timeout=0.2)
    conn = pool.get_connection()
    try:
        conn.send_command("SUBSCRIBE", "c")
        conn.read_response()
        started = time.monotonic()
        with pytest.raises(sf_exceptions.TimeoutError):
            conn.read_response(timeout=0.1, disconnect_on_error=False)
        assert 0.05 <= time.monotonic() - started < WAIT
        assert conn.is_connected                     # disconnect_on_error=False keeps it
        # timeout=None: no bound, longer than socket_timeout
        publisher = redis.Redis(*plain_server.address)
        timer = threading.Timer(0.6, lambda: publisher.publish("c", "late"))
        timer.start()
        assert conn.read_response(timeout=None) == [b"message", b"c", b"late"]
        timer.join(WAIT)
        publisher.close()
        with pytest.raises(sf_exceptions.TimeoutError):
            conn.read_response()                     # the default: socket_timeout
    finally:
        conn.disconnect()
        pool.release(conn)


class _Interrupted(Exception):
    pass


@pytest.mark.parametrize("wait", ["can_read", "read_response"])
def test_unbounded_waits_are_interruptible(plain_server, wait):
    """can_read(timeout=None) and read_response(timeout=None) wait with the GIL released
    and run signal handlers (Ctrl-C) at once."""
    import signal

    pool = _pool(plain_server)
    conn = pool.get_connection()
    conn.send_command("SUBSCRIBE", "nothing-comes")
    conn.read_response()

    def handler(signum, frame):
        raise _Interrupted()

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        started = time.monotonic()
        with pytest.raises(_Interrupted):
            if wait == "can_read":
                conn.can_read(timeout=None)
            else:
                conn.read_response(timeout=None)
        assert time.monotonic() - started < WAIT
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        conn.disconnect()
        pool.release(conn)


def test_connect_callbacks(plain_server):
    pool = _pool(plain_server)
    conn = pool.get_connection()
    seen = []

    class Listener:
        def on_connect(self, connection):
            seen.append(connection)
            connection.send_command("CLIENT", "SETNAME", "from-callback")
            connection.read_response()

    listener = Listener()
    conn.disconnect()
    conn.register_connect_callback(listener.on_connect)
    conn.register_connect_callback(listener.on_connect)        # once only
    conn.connect()
    assert seen == [conn]
    conn.send_command("CLIENT", "GETNAME")
    assert conn.read_response() == b"from-callback"
    conn.disconnect()
    conn.send_command("PING")                                   # reconnects: called again
    assert conn.read_response() == b"PONG" and seen == [conn, conn]
    conn.deregister_connect_callback(listener.on_connect)
    conn.disconnect()
    conn.connect()
    assert len(seen) == 2
    conn.register_connect_callback(listener.on_connect)
    del listener                                               # held weakly
    conn.disconnect()
    conn.connect()
    assert len(seen) == 2
    with pytest.raises(TypeError):
        conn.register_connect_callback(lambda c: None)          # redis-py: methods only
    pool.release(conn)


def test_sock_for_pollers(plain_server):
    """kombu registers ``client.connection._sock`` with its poller."""
    pool = _pool(plain_server)
    r = redis.Redis(connection_pool=pool)
    conn = pool.get_connection()
    try:
        conn.disconnect()
        assert conn._sock is None
        conn.connect()
        sock = conn._sock
        assert sock is not None and sock is conn._sock
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        assert poller.poll(0) == []
        conn.send_command("BRPOP", "no-such-list", 1)
        r.rpush("no-such-list", "x")
        assert poller.poll(WAIT * 1000)[0][0] == sock.fileno()
        assert r.parse_response(conn, "BRPOP") == (b"no-such-list", b"x")
        conn.disconnect()
        assert conn._sock is None
    finally:
        pool.release(conn)


def test_sock_of_a_closed_connection_is_a_closed_socket(plain_server):
    """A poller unregisters ``_sock`` after the connection closed (kombu's channel close).
    Our handle must then act as a closed ``socket.socket`` (fileno() -1, so epoll raises
    ValueError, which kombu ignores). Found by the kombu drill: the handle kept the old
    descriptor number, epoll raised EBADF, kombu's poller close raised, and kombu (which
    swallows connection errors there) never closed its channels, so the BRPOP reply in
    flight was never read back into the queue and the job was lost."""
    from kombu.utils.eventio import poll as kombu_poll
    pool = _pool(plain_server)
    conn = pool.get_connection()
    try:
        conn.connect()
        handle = conn._sock
        fd = handle.fileno()
        assert fd >= 0
        epoll = select.epoll()
        epoll.register(handle, select.EPOLLIN)
        kombu_poller = kombu_poll()
        kombu_poller.register(handle, select.EPOLLIN)
        conn.disconnect()
        assert handle.fileno() == -1
        # what a closed socket.socket gives
        closed = socket.socket()
        closed.close()
        for sock in (closed, handle):
            with pytest.raises(ValueError):
                epoll.unregister(sock)
        kombu_poller.unregister(handle)            # ignores ValueError, raised EBADF
        conn.connect()                             # may reuse the descriptor number
        assert handle.fileno() == -1
        assert conn._sock is not handle and conn._sock.fileno() == conn._fileno
        epoll.close()
        kombu_poller.close()
    finally:
        pool.release(conn)


def test_connection_interface_members(plain_server):
    pool = _pool(plain_server, db=3, client_name="me")
    conn = pool.get_connection("GET", "key")                   # redis-py 5's arguments
    try:
        assert conn.get_protocol() in (2, "2", None)
        assert conn.should_reconnect() is False
        conn.mark_for_reconnect()
        assert conn.should_reconnect() is True
        conn.disconnect()
        assert conn.should_reconnect() is False
        assert ("db", 3) in conn.repr_pieces()
        assert repr(conn) == (f"<{type(conn).__module__}.{type(conn).__qualname__}("
                              f"host={plain_server.address[0]},port={plain_server.address[1]},"
                              f"db=3,client_name=me)>")
        assert conn.extract_connection_details() == "not connected"
        conn.connect()
        assert "connected to" in conn.extract_connection_details()
        chunks = conn.pack_commands([("SET", "k", "v"), ("GET", "k")])
        assert b"".join(chunks) == b"".join(conn.pack_command("SET", "k", "v")
                                            + conn.pack_command("GET", "k"))
        conn.send_packed_command(chunks, check_health=False)
        assert conn.read_response() == b"OK" and conn.read_response() == b"v"
        assert pool.cache is None and pool.get_protocol() in (2, "2", None)
        assert pool.owns_connection(conn)
    finally:
        pool.release(conn)


def test_redis_pys_client_from_master_for_rides_out_a_planned_failover(fresh_topology, key):
    """redis-py's client, Pipeline and PubSub over a master_for pool follow the switch:
    no error reaches the writer, writes after the switch are on the new master, and the
    subscriber (re-subscribed by its connect callback) gets what is published there."""
    if IMPL != "sentinelfast":
        pytest.skip("sentinelfast's failover handling")
    topo = fresh_topology
    sentinel = sf.Sentinel(topo.sentinel_addresses, socket_timeout=0.5)
    master = sentinel.master_for(topo.service_name, redis_class=redis.Redis, socket_timeout=0.5)
    subscriber = master.pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe(key + "ch")
    acked, errors, halt = [], [], threading.Event()

    def write():
        n = 0
        while not halt.is_set():
            try:
                with master.pipeline() as p:
                    p.set(f"{key}{n}", n).get(f"{key}{n}")
                    assert p.execute() == [True, str(n).encode()]
                acked.append(n)
            except Exception as e:     # what reaches the application
                errors.append(repr(e))
                time.sleep(0.05)
            n += 1

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        old = topo.master.address
        deadline = time.monotonic() + 10
        while len(acked) < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        new = topo.failover()
        assert new != old
        count = len(acked)
        deadline = time.monotonic() + 10
        while len(acked) < count + 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(acked) >= count + 100, "writes did not resume after the switch"
        # the subscriber follows: a message published on the new master arrives
        got, deadline = None, time.monotonic() + 20
        while got is None and time.monotonic() < deadline:
            master.publish(key + "ch", "on-new-master")
            try:
                message = subscriber.get_message(timeout=0.2)
            except redis.exceptions.ConnectionError:
                continue
            if message and message["type"] == "message":
                got = message["data"]
        assert got == b"on-new-master"
        assert master.info("server")["tcp_port"] == new[1]
    finally:
        halt.set()
        writer.join(30)
        subscriber.close()
        sentinel.close()
    assert not writer.is_alive()
    assert errors == []
    last = acked[-1]
    assert _get_directly(new, f"{key}{last}") == str(last).encode()


def _get_directly(address, name):
    """GET on one node directly (not through any pool)."""
    from conftest import testing

    return testing.resp_command(address, "GET", name, timeout=5)


def test_re_auth_callback_reconnects_with_the_providers_credentials(auth_server):
    """redis-py calls pool.re_auth_callback(token) when a streaming credential provider
    renews its token: every connection authenticates again with the new credentials."""
    from conftest import ACL_USERS

    class Provider:
        user = "alice"

        def get_credentials(self):
            return self.user, ACL_USERS[self.user]

    provider = Provider()
    pool = sf.ConnectionPool(host=auth_server.address[0], port=auth_server.address[1],
                             credential_provider=provider, protocol=2)
    r = redis.Redis(connection_pool=pool)
    held = pool.get_connection()                     # in use while the token changes
    held.connect()
    assert r.client_info()["user"] == "alice"
    class Token:                                     # what redis-py's tokens offer
        def try_get(self, name):
            return {"oid": "reader"}.get(name)

        def get_value(self):
            return ACL_USERS["reader"]

    provider.user = "reader"
    pool.re_auth_callback(Token())
    assert r.client_info()["user"] == "reader"       # the idle connection was replaced
    pool.release(held)
    taken = [pool.get_connection() for _ in range(2)]
    try:
        for conn in taken:
            conn.send_command("CLIENT", "INFO")
            assert r.parse_response(conn, "CLIENT INFO")["user"] == "reader"
    finally:
        for conn in taken:
            pool.release(conn)


def test_redis_pys_connection_classes_are_taken_as_ours(topology, key):
    """A framework that passes redis-py's classes (kombu's Sentinel channel passes
    ``redis.sentinel.SentinelManagedConnection``) gets sentinelfast's equivalents."""
    if IMPL != "sentinelfast":
        pytest.skip("sentinelfast's pools")
    pool = sf.ConnectionPool(host=topology.master.address[0], port=topology.master.address[1],
                             connection_class=redis.Connection)
    assert pool.connection_class is sf.Connection
    assert redis.Redis(connection_pool=pool).ping() is True
    sentinel = sf.Sentinel(topology.sentinel_addresses, socket_timeout=1.0)
    try:
        master = sentinel.master_for(
            topology.service_name, redis_class=redis.Redis,
            connection_class=redis.sentinel.SentinelManagedConnection)
        assert master.connection_pool.connection_class is sf_sentinel.SentinelManagedConnection
        assert master.set(key, "v") is True and master.get(key) == b"v"

        class Derived(redis.Connection):
            pass

        with pytest.raises(TypeError, match="redis-py's connection classes"):
            sf.ConnectionPool(connection_class=Derived)
    finally:
        sentinel.close()


def test_redis_pys_class_mixed_into_ours_is_replaced_by_ours(plain_server):
    """kombu's TLS Sentinel connection is ``class C(redis.sentinel.SentinelManagedConnection,
    redis.SSLConnection)``, built at import: after sentinelfast.install() its first base is
    ours, and redis-py's SSLConnection gives way to sentinelfast's, so the ``ssl_*``
    keywords make TLS connections (not plain ones, nor a half redis-py object)."""
    if IMPL != "sentinelfast":
        pytest.skip("sentinelfast's connection classes")

    class KombuLike(sf_sentinel.SentinelManagedConnection, redis.SSLConnection):
        pass

    class Async(KombuLike):            # kombu's asynchronous subclass
        def disconnect(self, *args, **kwargs):
            super().disconnect(*args, **kwargs)

    for cls in (KombuLike, Async):
        mro = cls.__mro__
        assert sf.SSLConnection in mro and sf_sentinel.SentinelManagedConnection in mro
        assert not any(c.__module__.startswith("redis.") for c in mro), mro
    assert issubclass(Async, sf.SSLConnection)

    class Plain(sf.Connection, redis.Connection):
        pass

    assert Plain.__mro__ == (Plain, sf.Connection) + sf.Connection.__mro__[1:]
    conn = Plain(host=plain_server.address[0], port=plain_server.address[1], protocol=2)
    try:
        conn.send_command("PING")
        assert conn.read_response() == b"PONG"
    finally:
        conn.disconnect()

    # the TLS settings reach sentinelfast's TLS layer
    class TLSMix(sf.Connection, redis.SSLConnection):
        pass

    assert issubclass(TLSMix, sf.SSLConnection)
    pool = sf.ConnectionPool(host=plain_server.address[0], port=plain_server.address[1],
                             connection_class=TLSMix, ssl_cert_reqs="none",
                             socket_timeout=1, socket_connect_timeout=1)
    # a plain connection would get PONG; the TLS handshake gets no answer from this server
    with pytest.raises((redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        redis.Redis(connection_pool=pool).ping()
    pool.disconnect()


def test_a_subclass_overriding_disconnect_hears_of_every_close(plain_server):
    """As with redis-py's connections (kombu relies on it to unregister the socket from
    its poller): a failure that closes the connection calls the subclass's disconnect."""
    closed = []

    class Watched(sf.Connection):
        def disconnect(self, *args, **kwargs):
            super().disconnect(*args, **kwargs)
            closed.append(self)

    pool = sf.ConnectionPool(host=plain_server.address[0], port=plain_server.address[1],
                             connection_class=Watched, protocol=2)
    conn = pool.get_connection()
    conn.connect()
    conn.send_command("CLIENT", "ID")
    client_id = conn.read_response()
    conn.send_command("BLPOP", "nothing", 0)
    admin = redis.Redis(*plain_server.address)
    assert admin.client_kill_filter(_id=client_id) == 1
    admin.close()
    with pytest.raises(redis.exceptions.ConnectionError):
        conn.read_response()
    assert closed == [conn] and not conn.is_connected
    conn.send_command("PING")                        # reconnects; no more calls
    assert conn.read_response() == b"PONG" and closed == [conn]
    conn.disconnect()
    assert closed == [conn, conn]
    pool.release(conn)


@pytest.mark.parametrize("chunks, push", [
    ([b"*2\r\n$9\r\nSUBS", b"CRIBE\r\n$1\r\nc\r\n"], True),     # the name split across writes
    ([b"*2\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n"], True),
    ([b"*2\r\n$4\r\nECHO\r\n$9\r\nSUBSCRIBE\r\n"], False),      # an argument, not the name
    ([b"*2\r\n$4\r\nPING\r\n$9\r\nSUBSCRIBE\r\n"], False),
    ([b"*1\r\n$", b"7\r\nMONITOR\r\n"], True),
])
def test_push_mode_from_packed_data(plain_server, chunks, push):
    if IMPL != "sentinelfast":
        pytest.skip("push mode is sentinelfast's protection")
    pool = _pool(plain_server)
    conn = pool.get_connection()
    try:
        conn.send_packed_command(chunks)
        assert conn.read_response() is not None
        assert conn._push_mode is push
    finally:
        conn.disconnect()
        pool.release(conn)


def test_single_connection_client_and_client(clients, key):
    """redis-py's single_connection_client and Redis.client() hold one of our connections
    for their lifetime and give it back on close."""
    pool = clients[0].connection_pool
    with redis.Redis(connection_pool=pool, single_connection_client=True) as r:
        assert r.connection in pool._in_use_connections
        first = r.client_id()
        assert r.set(key, "x") is True and r.get(key) == b"x"
        assert r.client_id() == first                 # the same connection throughout
    assert not pool._in_use_connections
    with clients[0].client() as dedicated:
        assert dedicated.connection is not None and dedicated.ping() is True
    assert not pool._in_use_connections
