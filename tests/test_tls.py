"""TLS end to end: a TLS-only topology (every server and Sentinel on ``tls-port`` only, mutual TLS
required, replication over TLS), used through the public API with redis-py's keyword arguments.

Discovery, master_for/slave_for, pipelines, a plaintext client refused, a wrong CA and a wrong host
name failing fast with a ConnectionError-family exception, and a planned failover with a writer
thread: no error reaches the application, no acknowledged write is lost.

``SF_TEST_IMPL=redis`` runs the same tests against redis-py (the reference), except the drill,
which checks sentinelfast's failover handling.
"""

import time

import pytest
import redis
from conftest import Topology, testing
from drill_support import missing_on, run_planned_failover_drill, wait_until
from sfimpl import IMPL, no_retry, sf, sf_exceptions, sf_sentinel

SOCKET_TIMEOUT = 2.0
# A refused connection (certificate, protocol) must be reported at once, not when a timeout
# expires: the refusal tests use REFUSAL_TIMEOUT and must fail in well under it.
REFUSAL_TIMEOUT = 20.0
FAIL_FAST = 8.0            # generous on a loaded machine, still well under REFUSAL_TIMEOUT

sentinelfast_only = pytest.mark.skipif(IMPL != "sentinelfast",
                                       reason="checks sentinelfast's failover handling")


@pytest.fixture(scope="module")
def tls_topology():
    """One TLS-only topology (master, 2 replicas, 3 Sentinels) for the non-destructive tests."""
    topo = Topology(tls=True)
    try:
        topo.start()
        yield topo
    finally:
        topo.stop()


def tls_sentinel(topo, **extra):
    """A Sentinel client as a user writes it: TLS (and the passwords, if any) to the Sentinels
    in ``sentinel_kwargs``, and to the data nodes as connection keywords."""
    return sf.Sentinel(topo.sentinel_addresses,
                       sentinel_kwargs=dict(topo.sentinel_kwargs(), socket_timeout=SOCKET_TIMEOUT),
                       socket_timeout=SOCKET_TIMEOUT, **topo.client_kwargs(), **extra)


@pytest.fixture
def sentinel(tls_topology):
    s = tls_sentinel(tls_topology)
    yield s
    s.close()


def assert_connection_error(exc):
    """What redis-py raises for a refused connection: its ConnectionError family."""
    assert isinstance(exc, sf_exceptions.ConnectionError), repr(exc)
    assert isinstance(exc, redis.exceptions.ConnectionError), repr(exc)


# --------------------------------------------------------------------------------------------
# The topology really is TLS-only
# --------------------------------------------------------------------------------------------


def test_topology_is_tls_only(tls_topology):
    for node in tls_topology.nodes:
        assert node.command("PING") == b"PONG"            # the admin helper speaks TLS
    for node in tls_topology.data_nodes:
        assert node.command("CONFIG", "GET", "port") == [b"port", b"0"]
        assert node.command("CONFIG", "GET", "tls-replication") == [b"tls-replication", b"yes"]
    for replica in tls_topology.replicas:
        assert replica.info()["master_link_status"] == "up"
    # a plaintext client is refused by a TLS port (data node and Sentinel alike), quickly
    for node in (tls_topology.master, tls_topology.sentinels[0]):
        client = sf.Redis(*node.address, socket_timeout=REFUSAL_TIMEOUT, retry=no_retry())
        t0 = time.monotonic()
        with pytest.raises(sf_exceptions.ConnectionError) as excinfo:
            client.ping()
        assert time.monotonic() - t0 < FAIL_FAST
        assert_connection_error(excinfo.value)
        client.close()


def test_client_certificate_required(tls_topology):
    """Mutual TLS: without a client certificate the server refuses the connection."""
    kwargs = tls_topology.client_tls_kwargs()
    client = sf.Redis(*tls_topology.master.address, ssl=True, ssl_ca_certs=kwargs["ssl_ca_certs"],
                      socket_timeout=REFUSAL_TIMEOUT, retry=no_retry())
    with pytest.raises(sf_exceptions.ConnectionError) as excinfo:
        client.ping()
    assert_connection_error(excinfo.value)
    client.close()
    ok = sf.Redis(*tls_topology.master.address, socket_timeout=SOCKET_TIMEOUT, **kwargs)
    assert ok.ping() is True
    ok.close()


# --------------------------------------------------------------------------------------------
# Discovery, master_for / slave_for, pipelines
# --------------------------------------------------------------------------------------------


def test_discover_master_and_slaves(sentinel, tls_topology):
    assert sentinel.discover_master(tls_topology.service_name) == tls_topology.master.address
    expected = sorted(n.address for n in tls_topology.replicas)
    assert sorted(sentinel.discover_slaves(tls_topology.service_name)) == expected


def test_sentinel_commands_over_tls(sentinel, tls_topology):
    one = sentinel.sentinels[0]
    masters = one.sentinel_masters()
    assert masters[tls_topology.service_name]["port"] == tls_topology.master.port
    assert masters[tls_topology.service_name]["num-other-sentinels"] == 2
    assert len(one.sentinel_slaves(tls_topology.service_name)) == 2
    assert len(one.sentinel_sentinels(tls_topology.service_name)) == 2


def test_master_for_and_slave_for(sentinel, tls_topology, key):
    master = sentinel.master_for(tls_topology.service_name)
    assert master.set(key + "a", "1") is True
    assert master.get(key + "a") == b"1"
    assert master.incr(key + "n") == 1
    # the write went to the master named by Sentinel, over TLS
    assert tls_topology.master.command("GET", key + "a") == b"1"
    replica = sentinel.slave_for(tls_topology.service_name)
    assert replica.info("server")["tcp_port"] in [n.port for n in tls_topology.replicas]
    assert replica.info("replication")["role"] == "slave"
    wait_until(lambda: replica.get(key + "a") == b"1", what="the replica to have the write")
    with pytest.raises(sf_exceptions.ReadOnlyError):
        replica.set(key + "b", "x")
    master.close()
    replica.close()


def test_pipelines(sentinel, tls_topology, key):
    master = sentinel.master_for(tls_topology.service_name)
    with master.pipeline() as pipe:                                  # MULTI/EXEC
        pipe.set(key + "p", "v").incr(key + "c").incr(key + "c").get(key + "p")
        assert pipe.execute() == [True, 1, 2, b"v"]
    with master.pipeline(transaction=False) as pipe:
        for i in range(500):
            pipe.set(f"{key}k{i}", i)
        assert pipe.execute() == [True] * 500
    with master.pipeline(transaction=False) as pipe:
        for i in range(500):
            pipe.get(f"{key}k{i}")
        assert pipe.execute() == [str(i).encode() for i in range(500)]
    replica = sentinel.slave_for(tls_topology.service_name)
    wait_until(lambda: replica.get(f"{key}k499") == b"499", what="replication")
    with replica.pipeline(transaction=False) as pipe:
        pipe.get(key + "p").mget([f"{key}k{i}" for i in range(3)])
        assert pipe.execute() == [b"v", [b"0", b"1", b"2"]]
    master.close()
    replica.close()


# --------------------------------------------------------------------------------------------
# Wrong CA, wrong host name: refused, fast, ConnectionError family
# --------------------------------------------------------------------------------------------


def test_wrong_ca_data_node_fails_fast(tls_topology):
    kwargs = dict(tls_topology.client_tls_kwargs(), ssl_ca_certs=tls_topology.certs.other_ca_cert)
    client = sf.Redis(*tls_topology.master.address, socket_timeout=REFUSAL_TIMEOUT,
                      socket_connect_timeout=REFUSAL_TIMEOUT, retry=no_retry(), **kwargs)
    # The first attempt also builds the TLS context for these settings (loading the system
    # CA store, as redis-py does; slow under ASan); the refusal itself must be fast.
    with pytest.raises(sf_exceptions.ConnectionError):
        client.ping()
    t0 = time.monotonic()
    with pytest.raises(sf_exceptions.ConnectionError) as excinfo:
        client.ping()
    assert time.monotonic() - t0 < FAIL_FAST
    assert_connection_error(excinfo.value)
    client.close()


def test_wrong_ca_sentinels_fail_fast(tls_topology):
    """Every Sentinel refused (wrong CA): discovery fails at once with MasterNotFoundError."""
    bad = dict(tls_topology.client_tls_kwargs(), ssl_ca_certs=tls_topology.certs.other_ca_cert,
               socket_timeout=REFUSAL_TIMEOUT, socket_connect_timeout=REFUSAL_TIMEOUT, retry=no_retry())
    s = sf.Sentinel(tls_topology.sentinel_addresses, sentinel_kwargs=bad,
                    socket_timeout=REFUSAL_TIMEOUT, **tls_topology.client_tls_kwargs())
    t0 = time.monotonic()
    with pytest.raises(sf_sentinel.MasterNotFoundError) as excinfo:
        s.discover_master(tls_topology.service_name)
    assert time.monotonic() - t0 < FAIL_FAST
    assert_connection_error(excinfo.value)
    s.close()


def test_wrong_ca_master_for_fails_fast(tls_topology):
    """The Sentinels are trusted but the data nodes are not (wrong CA for the data connections)."""
    s = sf.Sentinel(tls_topology.sentinel_addresses,
                    sentinel_kwargs=dict(tls_topology.client_tls_kwargs(), socket_timeout=SOCKET_TIMEOUT),
                    socket_timeout=REFUSAL_TIMEOUT, socket_connect_timeout=REFUSAL_TIMEOUT,
                    **dict(tls_topology.client_tls_kwargs(), ssl_ca_certs=tls_topology.certs.other_ca_cert))
    master = s.master_for(tls_topology.service_name, retry=no_retry())
    t0 = time.monotonic()
    with pytest.raises(sf_exceptions.ConnectionError) as excinfo:
        master.ping()
    assert time.monotonic() - t0 < FAIL_FAST
    assert_connection_error(excinfo.value)
    master.close()
    s.close()


@pytest.fixture(scope="module")
def wrong_host_pair(tls_topology):
    """A TLS server and a TLS Sentinel (monitoring it as ``wronghost``) that both present a
    certificate of the good CA for ``wrong-host.invalid`` instead of 127.0.0.1/localhost."""
    certs = tls_topology.certs
    server = testing.RedisServer("standalone", [], name="wrong-host-server", tls=certs,
                                 tls_cert_file=certs.wrong_host_cert, tls_key_file=certs.wrong_host_key)
    sentinel = None
    try:
        server.start()
        sentinel = testing.RedisServer(
            "sentinel",
            [f"sentinel monitor wronghost {server.host} {server.port} 1",
             "sentinel down-after-milliseconds wronghost 1000"],
            sentinel=True, name="wrong-host-sentinel", tls=certs,
            tls_cert_file=certs.wrong_host_cert, tls_key_file=certs.wrong_host_key)
        sentinel.start()
        deadline = time.monotonic() + 10
        while sentinel.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "wronghost") is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield server, sentinel
    finally:
        if sentinel is not None:
            sentinel.stop()
        server.stop()


def test_wrong_hostname_data_node_fails_fast(tls_topology, wrong_host_pair):
    server, _ = wrong_host_pair
    kwargs = dict(tls_topology.client_tls_kwargs(), socket_timeout=REFUSAL_TIMEOUT,
                  socket_connect_timeout=REFUSAL_TIMEOUT, retry=no_retry())
    client = sf.Redis(*server.address, ssl_check_hostname=True, **kwargs)
    t0 = time.monotonic()
    with pytest.raises(sf_exceptions.ConnectionError) as excinfo:
        client.ping()
    assert time.monotonic() - t0 < FAIL_FAST
    assert_connection_error(excinfo.value)
    client.close()
    # the same server, certificate chain accepted, host name not checked: it is only the name
    unchecked = sf.Redis(*server.address, ssl_check_hostname=False, **kwargs)
    assert unchecked.ping() is True
    unchecked.close()


def test_wrong_hostname_sentinel_fails_fast(tls_topology, wrong_host_pair):
    server, wrong_sentinel = wrong_host_pair
    kwargs = dict(tls_topology.client_tls_kwargs(), socket_timeout=REFUSAL_TIMEOUT,
                  socket_connect_timeout=REFUSAL_TIMEOUT, retry=no_retry())
    s = sf.Sentinel([wrong_sentinel.address], sentinel_kwargs=dict(kwargs, ssl_check_hostname=True))
    t0 = time.monotonic()
    with pytest.raises(sf_sentinel.MasterNotFoundError) as excinfo:
        s.discover_master("wronghost")
    assert time.monotonic() - t0 < FAIL_FAST
    assert_connection_error(excinfo.value)
    s.close()
    unchecked = sf.Sentinel([wrong_sentinel.address], sentinel_kwargs=dict(kwargs, ssl_check_hostname=False))
    assert unchecked.discover_master("wronghost") == server.address
    unchecked.close()


# --------------------------------------------------------------------------------------------
# Planned failover over TLS
# --------------------------------------------------------------------------------------------


@pytest.fixture(params=["tls", "tls+passwords"])
def fresh_tls_topology(request):
    """A new TLS-only topology; with ``tls+passwords`` the data nodes and the Sentinels also
    require passwords (the monitor's Sentinel links then need TLS and AUTH)."""
    if request.param == "tls":
        topo = Topology(tls=True)
    else:
        topo = Topology(tls=True, password="data-s3cret", sentinel_password="sentinel-s3cret")
    try:
        topo.start()
        yield topo
    finally:
        topo.stop()


@sentinelfast_only
@pytest.mark.slow
@pytest.mark.destructive
def test_planned_failover_over_tls_loses_nothing(fresh_tls_topology):
    topo = fresh_tls_topology
    sentinel = tls_sentinel(topo)
    events = []
    sentinel.add_event_listener(events.append)
    master = sentinel.master_for(topo.service_name)
    master.ping()
    old = topo.master.address
    writer, new_node = run_planned_failover_drill(topo, master)
    assert new_node.address != old
    assert writer.errors == [], f"errors reached the application: {writer.errors[:3]}"
    # the monitor followed the switch over its TLS links to the Sentinels
    stats = sentinel.stats()
    assert all(link["up"] for link in stats["monitor"]["sentinels"]), stats["monitor"]
    assert [e for e in events if e.kind == "switch-master"], [e.kind for e in events]
    assert stats["services"][topo.service_name]["master"] == new_node.address
    assert stats["services"][topo.service_name]["switches"] == 1
    # planned failover: not one acknowledged write lost
    assert missing_on(new_node, writer) == []
    # the client still writes to the new master only
    assert master.set("drill:after", "x") is True
    assert new_node.command("GET", "drill:after") == b"x"
    sentinel.close()
    master.close()
