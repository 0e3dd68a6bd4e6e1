"""sentinelfast.asyncio as a drop-in for redis.asyncio / redis.asyncio.sentinel, checked the way a
new user would: the names, signatures, defaults and awaitables of redis-py's classes are compared
programmatically with ours (inspect.signature), and an application written for
``redis.asyncio.sentinel`` runs unchanged against the real topology (master_for / slave_for /
replica_for, from_url, from_pool, aclose, ``async with``, pipelines with WATCH, PubSub, Lock,
exceptions).

What redis-py has and we do not is listed below with the reason; anything else missing or
different fails the test.
"""
import asyncio
import inspect
import ssl

import pytest
import redis.asyncio
import redis.asyncio.client
import redis.asyncio.sentinel
import redis.exceptions
from sfimpl import IMPL

pytestmark = pytest.mark.skipif(IMPL != "sentinelfast",
                                reason="sentinelfast.asyncio has no redis-py twin to switch to")

if IMPL == "sentinelfast":
    import sentinelfast.asyncio as aio
    import sentinelfast.asyncio.sentinel as aio_sentinel


def run(coro, bound=60):
    return asyncio.run(asyncio.wait_for(coro, bound))


# ------------------------------------------------------------------------------------------
# What redis-py 8.x has that sentinelfast.asyncio deliberately has not (with the reason)
# ------------------------------------------------------------------------------------------

# Redis Enterprise maintenance notifications, OpenTelemetry metrics, streaming-credential
# re-authentication, client-side caching: redis-py features sentinelfast does not implement.
NOT_IMPLEMENTED_POOL = {
    "OMIT_REPR_KEYS", "SENSITIVE_REPR_KEYS", "apply_moving_notification",
    "cleanup_moving_notification", "maint_notifications_enabled", "set_in_maintenance",
    "update_maint_notifications_config", "run_proactive_reconnect",
    "update_active_connections_for_reconnect", "update_connection_settings",
    "update_connections_settings", "re_auth_callback", "get_connection_count",
    # redis-py 8.1's HIMPORT fieldset registry (client-side state of the HIMPORT commands)
    "himport_registry",
}
NOT_IMPLEMENTED_CONNECTION = {
    "activate_maint_notifications_handling_if_enabled", "add_maint_start_notification",
    "add_skipped_end_notification", "get_processed_start_notifications",
    "get_skipped_end_notifications", "maintenance_state", "reset_received_notifications",
    "set_maint_notifications_cluster_handler_for_connection",
    "set_maint_notifications_pool_handler_for_connection", "set_tmp_settings",
    "reset_tmp_settings", "update_current_socket_timeout", "get_resolved_ip",
    "re_auth", "set_re_auth_token", "process_invalidation_messages",
    # redis-py's parser plumbing: ours is the C reader, not replaceable
    "set_parser",
    # redis-py's internals of connect() and of the pool's readiness check
    "connect_check_health", "on_connect_check_health", "can_read", "getpeername",
    "last_active_at", "lib_name", "lib_version", "redis_connect_func",
    # redis-py keeps these constructor keywords as attributes; ours accepts and ignores them
    "driver_info", "himport_registry", "legacy_responses", "maint_notifications_config",
    "maintenance_notification_hash", "socket_type",
    # None on redis-py's plain (non-TLS) connections; only SSLConnection has one here
    "ssl_context",
}
# redis.asyncio names that are not a Sentinel client's business
NOT_EXPORTED = {"RedisCluster", "AsyncClusterKeyspaceNotifications"}
# Constructor keywords redis-py names and ours takes through **kwargs (accepted: passed on
# to the pool and the connections, TLS keywords to SSLConnection; the ones for features
# sentinelfast lacks are accepted and change nothing). Checked by building with them.
CONNECTION_INIT_THROUGH_KWARGS = {
    "socket_type", "socket_read_size", "lib_name", "lib_version", "driver_info",
    "redis_connect_func", "event_dispatcher", "legacy_responses", "parser_class",
    "encoder_class", "himport_registry", "maint_notifications_config",
    "maint_notifications_pool_handler", "oss_cluster_maint_notifications_handler",
    "maintenance_state", "maintenance_notification_hash", "orig_host_address",
    "orig_socket_timeout", "orig_socket_connect_timeout",
}
# pools pass what they do not take themselves on to their connections
POOL_INIT_THROUGH_KWARGS = {"oss_cluster_maint_notifications_handler"}
THROUGH_KWARGS = {"Redis": set()}      # Redis() names every keyword redis-py's does
# redis-py exposes these as properties; ours are instance attributes (checked on an instance)
INSTANCE_ATTRIBUTES = {"connection_kwargs"}


def _init_keywords(cls):
    """{name: default} of every keyword ``cls(...)`` takes by name (following **kwargs up
    the MRO, as redis-py's constructors pass them on), and whether it ends in **kwargs."""
    keywords, open_ended = {}, False
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        open_ended = False
        for p in params:
            if p.kind is p.VAR_KEYWORD:
                open_ended = True
            elif p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self":
                keywords.setdefault(p.name, p.default)
        if not open_ended:
            break
    return keywords, open_ended


def _pairs():
    import redis.asyncio.connection as rc
    return [
        (redis.asyncio.sentinel.Sentinel, aio.Sentinel),
        (redis.asyncio.sentinel.SentinelConnectionPool, aio.SentinelConnectionPool),
        (redis.asyncio.sentinel.SentinelManagedConnection, aio.SentinelManagedConnection),
        (redis.asyncio.sentinel.SentinelManagedSSLConnection, aio.SentinelManagedSSLConnection),
        (redis.asyncio.Redis, aio.Redis),
        (rc.ConnectionPool, aio.ConnectionPool),
        (rc.BlockingConnectionPool, aio.BlockingConnectionPool),
        (rc.Connection, aio.Connection),
        (rc.SSLConnection, aio.SSLConnection),
        (rc.UnixDomainSocketConnection, aio.UnixDomainSocketConnection),
        (redis.asyncio.client.Pipeline, aio.Pipeline),
        (redis.asyncio.client.PubSub, aio.PubSub),
    ]


def _public(cls):
    dunders = {"__init__", "__aenter__", "__aexit__", "__await__", "__aiter__",
               "__anext__", "__enter__", "__exit__"}
    return {n for n in dir(cls) if not n.startswith("_") or n in dunders}


def _default(value, theirs_default=inspect.Parameter.empty):
    if value is inspect.Parameter.empty:
        return "required"
    if isinstance(value, type):
        # our class for theirs: a subclass, or our twin of the same name
        if isinstance(theirs_default, type) and (
                issubclass(value, theirs_default) or value.__name__ == theirs_default.__name__):
            return f"class {theirs_default.__name__}"
        return f"class {value.__name__}"
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return repr(value)
    return "an object"      # sentinels, Retry instances: compared by behaviour elsewhere


def _shape(func, other=None):
    """[(name, kind, default)] of a callable's parameters, without annotations."""
    params = inspect.signature(func).parameters
    theirs = inspect.signature(other).parameters if other is not None else {}
    shape = []
    for p in params.values():
        t = theirs.get(p.name)
        shape.append((p.name, p.kind.name,
                      _default(p.default, t.default if t is not None else inspect.Parameter.empty)))
    return shape


def _unwrap(cls, name):
    attr = inspect.getattr_static(cls, name)
    if isinstance(attr, (classmethod, staticmethod)):
        return getattr(cls, name)
    return attr


def _kind(attr):
    if isinstance(attr, property):
        return "property"
    if inspect.isasyncgenfunction(attr):
        return "async generator"
    if inspect.iscoroutinefunction(attr):
        return "coroutine"
    if callable(attr):
        return "function"
    return "attribute"


def test_module_names():
    missing_sentinel = sorted(
        n for n in dir(redis.asyncio.sentinel)
        if not n.startswith("_") and (n.endswith("Error") or n.startswith("Sentinel"))
        and not hasattr(aio_sentinel, n))
    assert missing_sentinel == []
    missing = sorted(set(redis.asyncio.__all__) - set(aio.__all__) - NOT_EXPORTED)
    assert missing == []
    for name in aio.__all__:
        assert hasattr(aio, name), name
    # exceptions are (subclasses of) redis-py's, so `except redis...Error` catches ours
    for name in aio.__all__:
        ours = getattr(aio, name)
        if isinstance(ours, type) and issubclass(ours, Exception):
            theirs = (getattr(redis.asyncio, name, None)
                      or getattr(redis.asyncio.sentinel, name, None)
                      or getattr(redis.exceptions, name, None))
            if theirs is None:     # a name newer than the installed redis-py (8.0 lacks some)
                continue
            assert issubclass(ours, theirs), name
    assert issubclass(aio.ReplicaNotFoundError, redis.asyncio.sentinel.SlaveNotFoundError)


@pytest.mark.parametrize("index", range(12))
def test_class_names_signatures_defaults_and_awaitables(index):
    theirs, ours = _pairs()[index]
    not_implemented = set()
    if issubclass(theirs, redis.asyncio.ConnectionPool):
        not_implemented = NOT_IMPLEMENTED_POOL
    if hasattr(theirs, "send_command"):
        not_implemented = NOT_IMPLEMENTED_CONNECTION
    problems = []
    for name in sorted(_public(theirs) - not_implemented):
        if not hasattr(ours, name):
            if name not in _slot_names(theirs) and name not in INSTANCE_ATTRIBUTES:
                problems.append(f"{name}: missing")
            continue
        a, b = _unwrap(theirs, name), _unwrap(ours, name)
        if _kind(a) != _kind(b) and not (_kind(a) == "attribute" or _kind(b) == "attribute"):
            problems.append(f"{name}: {_kind(a)} in redis-py, {_kind(b)} here")
            continue
        if not callable(a) or not callable(b) or isinstance(a, type):
            continue
        if name == "__del__":
            continue        # redis-py's binds the warnings module as a default
        if name == "__init__":
            problems += _compare_init(theirs, ours)
            continue
        theirs_shape, ours_shape = _shape(a), _shape(b, a)
        if theirs_shape != ours_shape:
            problems.append(f"{name}: redis-py {theirs_shape}\n    ours {ours_shape}")
    assert problems == [], f"{ours.__name__}:\n  " + "\n  ".join(problems)


def _compare_init(theirs, ours):
    """Problems between two constructors: a keyword redis-py takes that ours does not
    take (by name, or through **kwargs where listed as such), a different default, or a
    different order of the positional parameters."""
    problems = []
    t_kw, _ = _init_keywords(theirs)
    o_kw, o_open = _init_keywords(ours)
    if ours.__name__ in THROUGH_KWARGS:
        absorbed = THROUGH_KWARGS[ours.__name__]
    elif hasattr(theirs, "send_command"):
        absorbed = CONNECTION_INIT_THROUGH_KWARGS
    elif hasattr(theirs, "get_connection"):
        absorbed = POOL_INIT_THROUGH_KWARGS
    else:
        absorbed = set()
    for name, default in t_kw.items():
        if name in o_kw:
            if _default(o_kw[name], default) != _default(default):
                problems.append(f"__init__({name}=...): default {_default(default)} in "
                                f"redis-py, {_default(o_kw[name], default)} here")
        elif not (o_open and name in absorbed):
            problems.append(f"__init__({name}=...): not taken")
    positional = [p.name for p in inspect.signature(theirs.__init__).parameters.values()
                  if p.kind is p.POSITIONAL_OR_KEYWORD]
    ours_positional = [p.name for p in inspect.signature(ours.__init__).parameters.values()
                       if p.kind is p.POSITIONAL_OR_KEYWORD]
    if positional != ours_positional[:len(positional)]:
        problems.append(f"__init__ positional order: {positional} in redis-py, "
                        f"{ours_positional} here")
    return problems


def _slot_names(cls):
    names = set()
    for klass in cls.__mro__:
        names.update(getattr(klass, "__slots__", ()))
    return names


@pytest.mark.parametrize("which", ["Connection", "SSLConnection", "UnixDomainSocketConnection"])
def test_connection_instance_attributes(which):
    """The public attributes of a new redis-py connection are on ours too."""
    kwargs = {"path": "/tmp/x.sock"} if which == "UnixDomainSocketConnection" else {}
    theirs = getattr(redis.asyncio, which)(**kwargs)
    ours = getattr(aio, which)(**kwargs)
    missing = sorted(n for n in dir(theirs)
                     if not n.startswith("_") and not hasattr(ours, n)
                     and n not in NOT_IMPLEMENTED_CONNECTION)
    assert missing == []
    pool_theirs, pool_ours = redis.asyncio.ConnectionPool(), aio.ConnectionPool()
    missing = sorted(n for n in dir(pool_theirs)
                     if not n.startswith("_") and not hasattr(pool_ours, n)
                     and n not in NOT_IMPLEMENTED_POOL)
    assert missing == []


def test_connection_keywords_redis_py_names_are_accepted():
    """Every constructor keyword of redis-py's connections that ours takes through **kwargs
    is accepted."""
    keywords, _ = _init_keywords(redis.asyncio.Connection)
    kwargs = {name: keywords[name] for name in CONNECTION_INIT_THROUGH_KWARGS if name in keywords}
    conn = aio.Connection(**kwargs)
    assert not conn.is_connected


def test_redis_init_keywords_behave_as_redis_pys():
    """Redis(): an unknown keyword is refused at once (TypeError, as redis-py), ssl=True
    with the ssl_* keywords selects SSLConnection with them, and the keywords of redis-py
    features sentinelfast lacks are accepted at their defaults."""
    with pytest.raises(TypeError):
        redis.asyncio.Redis(no_such_keyword=1)
    with pytest.raises(TypeError):
        aio.Redis(no_such_keyword=1)
    r = aio.Redis(ssl=True, ssl_cert_reqs="none", ssl_ca_path="/nonexistent", ssl_ciphers="HIGH")
    assert r.connection_pool.connection_class is aio.SSLConnection
    conn = r.connection_pool.make_connection()
    assert conn.ssl_context.ca_path == "/nonexistent" and conn.ssl_context.ciphers == "HIGH"
    assert conn.cert_reqs == ssl.CERT_NONE and conn.check_hostname is False
    sig = inspect.signature(redis.asyncio.Redis.__init__).parameters
    lacking = ("socket_read_size", "lib_name", "lib_version", "driver_info",
               "redis_connect_func", "legacy_responses", "maint_notifications_config")
    r = aio.Redis(**{name: sig[name].default for name in lacking if name in sig})
    assert r.connection_pool.connection_class is aio.Connection


def test_sentinel_application_runs_unchanged(topology, key):
    """An application written for redis.asyncio.sentinel, with only its import changed."""
    async def application(Sentinel):
        async with Sentinel(topology.sentinel_addresses, socket_timeout=1) as sentinel:
            assert await sentinel.discover_master(topology.service_name) == \
                topology.master.address
            replicas = await sentinel.discover_replicas(topology.service_name)
            assert sorted(replicas) == sorted(await sentinel.discover_slaves(
                topology.service_name))
            assert await sentinel.sentinel_master(topology.service_name)
            async with sentinel.master_for(topology.service_name) as master:
                assert await master.set(key + "k", "1") is True
                # pipeline, transaction with WATCH
                async with master.pipeline() as pipe:
                    await pipe.watch(key + "k")
                    value = int(await pipe.get(key + "k"))
                    pipe.multi()
                    pipe.set(key + "k", value + 1)
                    assert await pipe.execute() == [True]
                async with master.pipeline() as pipe:
                    await pipe.watch(key + "k")
                    await master.set(key + "k", "changed")   # someone else writes
                    pipe.multi()
                    pipe.set(key + "k", "mine")
                    with pytest.raises(redis.exceptions.WatchError):
                        await pipe.execute()
                assert await master.get(key + "k") == b"changed"
                # Lock
                lock = master.lock(key + "lock", timeout=5, blocking_timeout=1)
                async with lock:
                    assert await master.exists(key + "lock") == 1
                    other = master.lock(key + "lock", blocking_timeout=0.1)
                    assert await other.acquire() is False
                assert await master.exists(key + "lock") == 0
                # PubSub
                async with master.pubsub() as pubsub:
                    await pubsub.subscribe(key + "chan")
                    msg = await pubsub.get_message(timeout=2)
                    assert msg["type"] == "subscribe"
                    assert await master.publish(key + "chan", "hello") == 1
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
                    assert msg["data"] == b"hello"
                # a client of redis-py's class over the same kind of pool
                r2 = redis.asyncio.Redis.from_pool(
                    type(master.connection_pool)(topology.service_name, sentinel))
                assert await r2.get(key + "k") == b"changed"
                await r2.aclose()
            for make in (sentinel.slave_for, sentinel.replica_for):
                replica = make(topology.service_name, decode_responses=True)
                for _ in range(100):
                    if await replica.get(key + "k") == "changed":
                        break
                    await asyncio.sleep(0.05)
                assert await replica.get(key + "k") == "changed"
                with pytest.raises(redis.exceptions.ReadOnlyError):
                    await replica.set(key + "k", "x")
                await replica.aclose()
            with pytest.raises(redis.asyncio.sentinel.MasterNotFoundError):
                await sentinel.discover_master("no-such-service")
        # from_url and redis.asyncio's module-level names
        r = aio.from_url(f"redis://{topology.master.host}:{topology.master.port}/0")
        async with r:
            assert await r.get(key + "k") == b"changed"
        pool = aio.ConnectionPool(host=topology.master.host, port=topology.master.port)
        async with pool:
            r = aio.Redis.from_pool(pool)
            assert await r.ping() is True
            conn = pool.get_available_connection()      # redis-py's two steps
            await pool.ensure_connection(conn)
            assert conn.is_connected
            await pool.release(conn)
            pool.update_connection_kwargs(client_name="renamed")
            conn = pool.make_connection()
            assert conn.client_name == "renamed"
    run(application(aio.Sentinel))


def test_sentinel_and_pool_context_managers_close(topology):
    async def main():
        sentinel = aio.Sentinel(topology.sentinel_addresses, socket_timeout=1)
        master = sentinel.master_for(topology.service_name, socket_timeout=1)
        await master.ping()
        pool = master.connection_pool
        conn = pool._available_connections[0]
        assert conn.is_connected
        async with pool:
            pass
        assert not conn.is_connected
        async with sentinel:
            await sentinel.discover_master(topology.service_name)
        assert not any(c.is_connected for s in sentinel.sentinels
                       for c in s.connection_pool._available_connections)
    run(main())


def _last_command_of(node, conn):
    """The ``cmd`` field of CLIENT LIST on ``node`` for our connection ``conn``."""
    host, port = conn._protocol.transport.get_extra_info("sockname")[:2]
    listing = node.command("CLIENT", "LIST", timeout=5).decode()
    for line in listing.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if fields.get("addr") == f"{host}:{port}":
            return fields.get("cmd")
    raise AssertionError(f"our connection {host}:{port} is not in CLIENT LIST")


@pytest.mark.parametrize("check", [True, False])
def test_check_connection_pings_after_connecting(topology, check):
    """slave_for(..., check_connection=True): a PING right after connecting (redis-py's
    connect_to); without it, nothing is sent until the first command."""
    async def main():
        sentinel = aio.Sentinel(topology.sentinel_addresses, socket_timeout=1)
        replica = sentinel.slave_for(topology.service_name, check_connection=check)
        pool = replica.connection_pool
        conn = await pool.get_connection()
        node = topology.node_by_address((conn.host, conn.port))
        assert _last_command_of(node, conn) == ("ping" if check else "NULL")
        await pool.release(conn)
        assert await replica.ping() is True
        await replica.aclose()
        await sentinel.aclose()
    run(main())


@pytest.mark.skipif(not hasattr(redis.asyncio, "AsyncKeyspaceNotifications"),
                    reason="redis-py 8.1 and later")
def test_keyspace_notifications_helper_over_our_client(plain_server):
    """redis-py's keyspace notification helper (re-exported) runs over our client."""
    plain_server.command("CONFIG", "SET", "notify-keyspace-events", "KEA", timeout=5)

    async def main():
        async with aio.Redis(host=plain_server.host, port=plain_server.port) as r:
            notes = aio.AsyncKeyspaceNotifications(r)
            await notes.subscribe_keyspace("watched")
            await r.set("watched", "1")
            note = None
            for _ in range(50):
                note = await notes.get_message(timeout=0.1)
                if note is not None:
                    break
            assert note is not None
            assert note.key in ("watched", b"watched") and note.event_type in ("set", b"set")
            await notes.aclose()
    run(main())
