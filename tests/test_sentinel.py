"""The redis.sentinel API against a real topology: discovery, master_for/slave_for, dead and hung
Sentinels, unknown services, sentinel_* commands, close().

Tests that kill/pause/fail over use ``fresh_topology`` (marked destructive + slow automatically)."""

import time

import pytest
import redis
import redis.sentinel
from sfimpl import IMPL, no_retry, sf, sf_exceptions, sf_sentinel

SOCKET_TIMEOUT = 1.0

# Known redis-py faults the issue asks sentinelfast to fix (reference: redis-py-sentinel.md). With
# SF_TEST_IMPL=redis these tests must FAIL (strict xfail), which shows they detect the fault.
redis_py_fault = pytest.mark.xfail(
    IMPL == "redis",
    strict=True,
    reason="known redis-py fault: a dead/hung Sentinel costs retries with backoff or a timeout per discovery",
)


@pytest.fixture
def sentinel(topology):
    s = sf.Sentinel(topology.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT)
    yield s
    s.close()


def port_of(client):
    return client.info("server")["tcp_port"]


# --------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------


def test_import_paths():
    assert sf.Sentinel is sf_sentinel.Sentinel
    for name in ("SentinelConnectionPool", "SentinelManagedConnection", "MasterNotFoundError",
                 "SlaveNotFoundError", "ReplicaNotFoundError"):  # fmt: skip
        assert hasattr(sf_sentinel, name), name


def test_discover_master(sentinel, topology):
    address = sentinel.discover_master(topology.service_name)
    assert address == topology.master.address
    host, port = address
    assert isinstance(host, str) and isinstance(port, int)


def test_discover_slaves(sentinel, topology):
    expected = sorted(n.address for n in topology.replicas)
    assert sorted(sentinel.discover_slaves(topology.service_name)) == expected
    assert sorted(sentinel.discover_replicas(topology.service_name)) == expected
    assert all(isinstance(h, str) and isinstance(p, int) for h, p in sentinel.discover_slaves(topology.service_name))


def test_filter_slaves(sentinel):
    states = [
        {"ip": "10.0.0.1", "port": 1, "is_odown": False, "is_sdown": False},
        {"ip": "10.0.0.2", "port": 2, "is_odown": False, "is_sdown": True},
        {"ip": "10.0.0.3", "port": 3, "is_odown": True, "is_sdown": False},
        {"ip": "10.0.0.4", "port": 4, "is_odown": False, "is_sdown": False},
    ]
    assert sentinel.filter_slaves(states) == [("10.0.0.1", 1), ("10.0.0.4", 4)]
    assert sentinel.filter_replicas(states) == [("10.0.0.1", 1), ("10.0.0.4", 4)]
    assert sentinel.filter_slaves([]) == []


def test_check_master_state(sentinel, topology):
    state = sentinel.sentinels[0].sentinel_masters()[topology.service_name]
    assert sentinel.check_master_state(state, topology.service_name) is True
    assert sentinel.check_master_state(dict(state, is_master=False), topology.service_name) is False
    assert sentinel.check_master_state(dict(state, is_sdown=True), topology.service_name) is False
    assert sentinel.check_master_state(dict(state, is_odown=True), topology.service_name) is False
    strict = sf.Sentinel(topology.sentinel_addresses, min_other_sentinels=3, socket_timeout=SOCKET_TIMEOUT)
    assert strict.check_master_state(state, topology.service_name) is False
    with pytest.raises(sf_sentinel.MasterNotFoundError):
        strict.discover_master(topology.service_name)
    ok = sf.Sentinel(topology.sentinel_addresses, min_other_sentinels=2, socket_timeout=SOCKET_TIMEOUT)
    assert ok.discover_master(topology.service_name) == topology.master.address


def test_unknown_service(sentinel):
    with pytest.raises(sf_sentinel.MasterNotFoundError) as excinfo:
        sentinel.discover_master("no-such-service")
    assert str(excinfo.value).startswith("No master found for 'no-such-service'")
    assert isinstance(excinfo.value, sf_exceptions.ConnectionError)
    assert isinstance(excinfo.value, redis.exceptions.ConnectionError)
    assert sentinel.discover_slaves("no-such-service") == []
    with pytest.raises(sf_sentinel.MasterNotFoundError):
        sentinel.master_for("no-such-service").get("k")
    with pytest.raises(sf_sentinel.SlaveNotFoundError) as excinfo:
        sentinel.slave_for("no-such-service").get("k")
    assert str(excinfo.value) == "No slave found for 'no-such-service'"
    assert isinstance(excinfo.value, sf_exceptions.ConnectionError)


@redis_py_fault
def test_all_sentinels_unreachable():
    from conftest import testing

    addresses = [("127.0.0.1", testing.find_free_port()) for _ in range(2)]
    s = sf.Sentinel(addresses, socket_timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(sf_sentinel.MasterNotFoundError) as excinfo:
        s.discover_master("mymaster")
    assert time.monotonic() - t0 < 2.0
    assert str(excinfo.value).startswith("No master found for 'mymaster' : ")  # with the collected errors


def test_force_master_ip(topology):
    s = sf.Sentinel(topology.sentinel_addresses, force_master_ip="localhost", socket_timeout=SOCKET_TIMEOUT)
    assert s.discover_master(topology.service_name) == ("localhost", topology.master.port)
    assert s.master_for(topology.service_name).ping() is True


def test_connection_kwargs_not_sent_to_sentinels(topology):
    """Without sentinel_kwargs only socket_* options go to the Sentinels: a password meant for the
    data nodes must not be sent to the (password-less) Sentinels."""
    s = sf.Sentinel(topology.sentinel_addresses, password="for-the-master-only", socket_timeout=SOCKET_TIMEOUT)
    assert s.discover_master(topology.service_name) == topology.master.address
    assert sorted(s.discover_slaves(topology.service_name)) == sorted(n.address for n in topology.replicas)


# --------------------------------------------------------------------------------------------
# master_for / slave_for
# --------------------------------------------------------------------------------------------


def test_master_for(sentinel, topology, key):
    master = sentinel.master_for(topology.service_name)
    assert isinstance(master, sf.Redis)
    assert isinstance(master.connection_pool, sf_sentinel.SentinelConnectionPool)
    assert master.set(key, "v") is True
    assert master.get(key) == b"v"
    assert port_of(master) == topology.master.port
    assert master.info("replication")["role"] == "master"


def test_master_for_options(sentinel, topology, key):
    class MyRedis(sf.Redis):
        pass

    master = sentinel.master_for(topology.service_name, redis_class=MyRedis, decode_responses=True, db=2)
    assert isinstance(master, MyRedis)
    master.set(key, "v")
    assert master.get(key) == "v"
    assert sf.Redis(port=topology.master.port, db=2).get(key) == b"v"


def test_slave_for_reads_from_a_replica(sentinel, topology, key):
    master = sentinel.master_for(topology.service_name)
    master.set(key, "replicated")
    master.execute_command("WAIT", 2, 2000)
    for factory in (sentinel.slave_for, sentinel.replica_for):
        replica = factory(topology.service_name)
        assert replica.get(key) == b"replicated"
        assert port_of(replica) in {n.port for n in topology.replicas}
        assert replica.info("replication")["role"] == "slave"


def test_writing_through_slave_for_is_read_only_error(sentinel, topology, key):
    replica = sentinel.slave_for(topology.service_name)
    with pytest.raises(sf_exceptions.ReadOnlyError):
        replica.set(key, "x")


def test_slave_for_round_robins_over_replicas(sentinel, topology):
    replica = sentinel.slave_for(topology.service_name)
    ports = []
    for _ in range(6):
        ports.append(port_of(replica))
        replica.connection_pool.disconnect()  # the next command needs a new connection
    replica_ports = {n.port for n in topology.replicas}
    assert set(ports) == replica_ports, f"replicas used: {ports}"
    assert all(a != b for a, b in zip(ports, ports[1:])), f"not round robin: {ports}"


# --------------------------------------------------------------------------------------------
# Sentinel.execute_command, sentinel_* commands, close()
# --------------------------------------------------------------------------------------------


def test_execute_command_on_every_sentinel_or_once(sentinel):
    assert sentinel.execute_command("PING") is True
    assert sentinel.execute_command("PING", once=True) is True
    assert sentinel.execute_command("PING", return_responses=True) == [True, True, True]
    assert sentinel.execute_command("PING", once=True, return_responses=True) == [True]


def _stable(state):
    keep = ("name", "ip", "port", "flags", "num-slaves", "num-other-sentinels", "quorum", "is_master",
            "is_slave", "is_sdown", "is_odown", "down-after-milliseconds", "master-port", "master-host")  # fmt: skip
    return {k: v for k, v in state.items() if k in keep}


def _shape(value):
    if isinstance(value, dict):
        return {k: type(v).__name__ for k, v in value.items() if not k.startswith("last-")}
    if isinstance(value, (list, tuple)):
        return [type(value).__name__] + [_shape(v) for v in value]
    return type(value).__name__


def test_sentinel_commands_same_as_redis_py(sentinel, topology):
    """Sentinel.sentinel_* (on every Sentinel / once, bool unless return_responses) and the same
    commands on one Sentinel client (``Sentinel.sentinels[i]``, a Redis client) return what redis-py
    returns."""
    ref = redis.sentinel.Sentinel(topology.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT)
    name = topology.service_name
    for method, args, kwargs in [
        ("sentinel_get_master_addr_by_name", (name,), {}),
        ("sentinel_get_master_addr_by_name", (name,), {"return_responses": True}),
        ("sentinel_master", (name,), {}),
        ("sentinel_masters", (), {}),
        ("sentinel_slaves", (name,), {}),
        ("sentinel_sentinels", (name,), {}),
        ("sentinel_ckquorum", (name,), {}),
        ("sentinel_flushconfig", (), {}),
        ("sentinel_set", (name, "down-after-milliseconds", topology.down_after_ms), {}),
    ]:
        ours = getattr(sentinel, method)(*args, **kwargs)
        theirs = getattr(ref, method)(*args, **kwargs)
        assert ours == theirs and type(ours) is type(theirs), (method, ours, theirs)
    assert sentinel.sentinel_get_master_addr_by_name(name, return_responses=True) == [
        (topology.master.host.encode(), topology.master.port)
    ]

    detailed = sentinel.sentinel_master(name, return_responses=True)
    ref_detailed = ref.sentinel_master(name, return_responses=True)
    assert [_stable(s) for s in detailed] == [_stable(s) for s in ref_detailed]
    assert [_shape(s) for s in detailed] == [_shape(s) for s in ref_detailed]
    assert all(s["port"] == topology.master.port and s["is_master"] is True for s in detailed)

    one, ref_one = sentinel.sentinels[0], ref.sentinels[0]
    masters, ref_masters = one.sentinel_masters(), ref_one.sentinel_masters()
    assert set(masters) == set(ref_masters) == {name}
    assert _stable(masters[name]) == _stable(ref_masters[name])
    assert _shape(masters[name]) == _shape(ref_masters[name])

    slaves, ref_slaves = one.sentinel_slaves(name), ref_one.sentinel_slaves(name)
    by_port = lambda s: s["port"]  # noqa: E731
    assert [_stable(s) for s in sorted(slaves, key=by_port)] == [_stable(s) for s in sorted(ref_slaves, key=by_port)]
    assert sorted(s["port"] for s in slaves) == sorted(n.port for n in topology.replicas)

    others, ref_others = one.sentinel_sentinels(name), ref_one.sentinel_sentinels(name)
    assert sorted(s["port"] for s in others) == sorted(s["port"] for s in ref_others)
    assert len(others) == 2
    if hasattr(ref, "close"):   # redis-py's Sentinel.close(): 8.1 and later
        ref.close()


def test_sentinel_monitor_and_remove(sentinel, topology):
    name = "sf-extra-service"
    try:
        assert sentinel.sentinel_monitor(name, topology.master.host, topology.master.port, 2) is True
        assert name in sentinel.sentinels[0].sentinel_masters()
        for node in topology.sentinels:
            assert node.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)[1] == str(topology.master.port).encode()
    finally:
        for node in topology.sentinels:
            try:
                node.command("SENTINEL", "REMOVE", name)
            except Exception:
                pass
    assert sentinel.sentinel_monitor(name, topology.master.host, topology.master.port, 2) is True
    assert sentinel.sentinel_remove(name) is True
    assert all(name not in one.sentinel_masters() for one in sentinel.sentinels)


def _sentinel_client_count(topology, name):
    total = 0
    for node in topology.sentinels:
        text = node.command("CLIENT", "LIST").decode()
        total += sum(1 for line in text.splitlines() if f" name={name} " in f" {line} ")
    return total


def test_close_and_context_manager(topology):
    kwargs = {"client_name": "sf-sentinel-close", "socket_timeout": SOCKET_TIMEOUT}
    s = sf.Sentinel(topology.sentinel_addresses, sentinel_kwargs=kwargs)
    s.execute_command("PING")
    assert _sentinel_client_count(topology, "sf-sentinel-close") == 3
    master = s.master_for(topology.service_name)
    assert master.ping() is True
    s.close()
    deadline = time.monotonic() + 2
    while _sentinel_client_count(topology, "sf-sentinel-close") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _sentinel_client_count(topology, "sf-sentinel-close") == 0
    assert master.ping() is True  # clients handed out are not closed

    with sf.Sentinel(topology.sentinel_addresses, sentinel_kwargs=dict(kwargs, client_name="sf-ctx")) as s2:
        assert isinstance(s2, sf.Sentinel)
        assert s2.discover_master(topology.service_name) == topology.master.address
        assert _sentinel_client_count(topology, "sf-ctx") >= 1
    deadline = time.monotonic() + 2
    while _sentinel_client_count(topology, "sf-ctx") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _sentinel_client_count(topology, "sf-ctx") == 0


# --------------------------------------------------------------------------------------------
# Destructive: dead / hung Sentinels and nodes, failover (fresh topology each)
# --------------------------------------------------------------------------------------------


@redis_py_fault
def test_first_sentinel_dead(fresh_topology, key):
    topo = fresh_topology
    topo.sentinels[0].kill()
    s = sf.Sentinel(topo.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT)
    t0 = time.monotonic()
    assert s.discover_master(topo.service_name) == topo.master.address
    assert time.monotonic() - t0 < SOCKET_TIMEOUT, "a refused connection must not cost a timeout"
    assert sorted(s.discover_slaves(topo.service_name)) == sorted(n.address for n in topo.replicas)
    master = s.master_for(topo.service_name, socket_timeout=SOCKET_TIMEOUT)
    assert master.set(key, "v") is True
    assert master.get(key) == b"v"
    s.close()


@redis_py_fault
def test_first_sentinel_hung(fresh_topology, key):
    topo = fresh_topology
    topo.sentinels[0].pause()
    s = sf.Sentinel(topo.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT)
    t0 = time.monotonic()
    assert s.discover_master(topo.service_name) == topo.master.address
    first = time.monotonic() - t0
    assert first < SOCKET_TIMEOUT + 0.5, f"first discovery took {first:.2f}s (sentinel socket_timeout {SOCKET_TIMEOUT})"
    # later discoveries must not pay the hung Sentinel again each time
    t0 = time.monotonic()
    for _ in range(5):
        assert s.discover_master(topo.service_name) == topo.master.address
    later = time.monotonic() - t0
    assert later < SOCKET_TIMEOUT, f"5 more discoveries took {later:.2f}s: the hung Sentinel is asked every time"
    # a client doing many commands (and reconnecting) does not pay it per command either
    master = s.master_for(topo.service_name, socket_timeout=SOCKET_TIMEOUT)
    t0 = time.monotonic()
    for i in range(20):
        master.set(f"{key}{i}", i)
        if i % 5 == 0:
            master.connection_pool.disconnect()
    elapsed = time.monotonic() - t0
    assert elapsed < 2 * SOCKET_TIMEOUT, f"20 commands with 4 reconnects took {elapsed:.2f}s"
    assert master.get(f"{key}19") == b"19"
    s.close()


def test_timeout_on_hung_master(fresh_topology, key):
    """Without retries, a hung master surfaces as TimeoutError after socket_timeout.
    (The default policy of master_for clients rides it out: see test_failover_drills.)"""
    topo = fresh_topology
    s = sf.Sentinel(topo.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT)
    master = s.master_for(topo.service_name, socket_timeout=0.5, retry=no_retry())
    master.set(key, "v")
    topo.master.pause()
    try:
        t0 = time.monotonic()
        with pytest.raises((sf_exceptions.TimeoutError, sf_exceptions.ConnectionError)) as excinfo:
            master.get(key)
        elapsed = time.monotonic() - t0
        assert isinstance(excinfo.value, sf_exceptions.TimeoutError), repr(excinfo.value)
        assert elapsed < 1.5, f"GET on a hung master took {elapsed:.2f}s with socket_timeout=0.5"
    finally:
        topo.master.resume()


def test_slave_for_falls_back_to_master_when_replicas_are_down(fresh_topology, key):
    topo = fresh_topology
    s = sf.Sentinel(topo.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT)
    master = s.master_for(topo.service_name)
    master.set(key, "from-master")
    for node in topo.replicas:
        node.kill()
    replica = s.slave_for(topo.service_name, socket_timeout=SOCKET_TIMEOUT)
    # right away (Sentinel still lists the dead replicas): connection refused, then the master
    assert replica.get(key) == b"from-master"
    assert port_of(replica) == topo.master.port
    # once Sentinel flags them down, discovery returns no replica at all
    deadline = time.monotonic() + 15
    while s.discover_slaves(topo.service_name) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert s.discover_slaves(topo.service_name) == []
    replica.connection_pool.disconnect()
    assert replica.get(key) == b"from-master"
    assert port_of(replica) == topo.master.port
    s.close()


def test_master_for_follows_failover(fresh_topology, key):
    topo = fresh_topology
    s = sf.Sentinel(topo.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT)
    master = s.master_for(topo.service_name, socket_timeout=SOCKET_TIMEOUT)
    assert master.set(key, "before") is True
    old_port = topo.master.port
    new_address = topo.failover()
    assert new_address[1] != old_port
    deadline = time.monotonic() + 20
    last_error = None
    while time.monotonic() < deadline:
        try:
            master.set(key, "after")
            if port_of(master) == new_address[1]:
                break
        except (sf_exceptions.ConnectionError, sf_exceptions.TimeoutError, sf_exceptions.ReadOnlyError) as e:
            last_error = e
        time.sleep(0.1)
    else:
        pytest.fail(f"master_for client never reached the new master {new_address}: {last_error!r}")
    assert s.discover_master(topo.service_name) == new_address
    assert master.get(key) == b"after"
    assert master.info("replication")["role"] == "master"


def test_sentinel_failover_and_reset_commands(fresh_topology):
    topo = fresh_topology
    s = sf.Sentinel(topo.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT)
    old = topo.master.address
    assert s.sentinel_failover(topo.service_name) is True
    new = topo.wait_for_master_change(old, timeout=60)  # generous: a loaded machine (ASan run)
    assert discovered_within(s, topo.service_name, 10) == new
    ref = redis.sentinel.Sentinel(topo.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT)
    ours = s.sentinel_reset(topo.service_name)
    theirs = ref.sentinel_reset(topo.service_name)
    assert ours == theirs and type(ours) is type(theirs)
    topo.wait_until_ready(timeout=40)  # the Sentinels rediscover replicas and each other
    # right after a reset the Sentinels rebuild their view: the master is found again
    # (and it is the new one) within a few seconds
    assert discovered_within(s, topo.service_name, 10) == new
    if hasattr(ref, "close"):   # redis-py's Sentinel.close(): 8.1 and later
        ref.close()


def discovered_within(sentinel, service_name, seconds):
    """discover_master, asked again until it answers or `seconds` pass (then re-raised)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return sentinel.discover_master(service_name)
        except sf_sentinel.MasterNotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_retry_none_master_for_after_master_killed(fresh_topology, key):
    """A killed master: commands fail with ConnectionError (never hang), then work after failover."""
    topo = fresh_topology
    s = sf.Sentinel(topo.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT)
    master = s.master_for(topo.service_name, socket_timeout=SOCKET_TIMEOUT, retry=no_retry())
    master.set(key, "v")
    old = topo.master
    old.kill()
    t0 = time.monotonic()
    with pytest.raises(sf_exceptions.ConnectionError):
        master.get(key)
    assert time.monotonic() - t0 < 2 * SOCKET_TIMEOUT
    new = topo.wait_for_master_change(old.address, timeout=30)
    deadline = time.monotonic() + 10
    while True:
        try:
            assert master.set(key, "new") is True
            break
        except sf_exceptions.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert port_of(master) == new[1]
