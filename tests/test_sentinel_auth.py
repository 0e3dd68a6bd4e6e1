"""Password-protected topologies: data nodes with ``requirepass``, Sentinels that require a password
from their clients (``requirepass``, or an ACL user), used as redis-py users write it::

    Sentinel(addresses, sentinel_kwargs={"password": SENTINEL_PASSWORD}, password=DATA_PASSWORD)

redis-py's rule: the Sentinels get ``sentinel_kwargs``, the data nodes the connection keywords.
The monitor must dial the Sentinels with those credentials: in a planned failover the client learns
the switch from the monitor (a ``switch-master`` event) and loses no acknowledged write. A Sentinel
that refuses the credentials is logged (WARNING on ``sentinelfast.failover``) and counted in
``Sentinel.stats()["monitor"]["sentinel_auth_failures"]``, and the other Sentinels keep the client
informed.

``SF_TEST_IMPL=redis`` runs the discovery and client tests against redis-py; the drill and the
monitor's log/counter are sentinelfast's own and are skipped there.
"""

import logging

import pytest
from conftest import Topology
from sfimpl import IMPL, no_retry, sf, sf_exceptions, sf_sentinel
from drill_support import missing_on, run_planned_failover_drill, wait_until

DATA_PASSWORD = "data-s3cret"
SENTINEL_PASSWORD = "sentinel-s3cret"
SENTINEL_USER = "sentinel-client"
SOCKET_TIMEOUT = 0.5

sentinelfast_only = pytest.mark.skipif(IMPL != "sentinelfast",
                                       reason="checks sentinelfast's monitor (events, stats, logs)")


def protected_topology(sentinel_username=None):
    return Topology(password=DATA_PASSWORD, sentinel_password=SENTINEL_PASSWORD,
                    sentinel_username=sentinel_username)


@pytest.fixture(scope="module")
def auth_topology():
    """One protected topology (master, 2 replicas, 3 Sentinels) for the non-destructive tests."""
    topo = protected_topology()
    try:
        topo.start()
        yield topo
    finally:
        topo.stop()


def protected_sentinel(topo, **sentinel_overrides):
    """A Sentinel client as a user writes it: Sentinel credentials in ``sentinel_kwargs``,
    the data nodes' password as a connection keyword."""
    sentinel_kwargs = dict(topo.sentinel_kwargs(), socket_timeout=SOCKET_TIMEOUT)
    sentinel_kwargs.update(sentinel_overrides)
    return sf.Sentinel(topo.sentinel_addresses, sentinel_kwargs=sentinel_kwargs,
                       socket_timeout=SOCKET_TIMEOUT, **topo.client_kwargs())


# --------------------------------------------------------------------------------------------
# Discovery and clients (redis-py's meaning)
# --------------------------------------------------------------------------------------------


def test_sentinels_require_their_password(auth_topology):
    topo = auth_topology
    # without sentinel_kwargs the Sentinels get only the socket_* keywords: no password
    no_password = sf.Sentinel(topo.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT,
                              password=DATA_PASSWORD)
    with pytest.raises(sf_sentinel.MasterNotFoundError) as excinfo:
        no_password.discover_master(topo.service_name)
    assert isinstance(excinfo.value, sf_exceptions.ConnectionError)
    no_password.close()
    wrong = protected_sentinel(topo, password="not-the-password", retry=no_retry())
    with pytest.raises(sf_sentinel.MasterNotFoundError):
        wrong.discover_master(topo.service_name)
    wrong.close()
    right = protected_sentinel(topo)
    assert right.discover_master(topo.service_name) == topo.master.address
    assert sorted(right.discover_slaves(topo.service_name)) == sorted(n.address for n in topo.replicas)
    right.close()


def test_master_for_and_slave_for_with_passwords(auth_topology, key):
    topo = auth_topology
    sentinel = protected_sentinel(topo)
    master = sentinel.master_for(topo.service_name)
    assert master.set(key + "a", "1") is True
    assert master.get(key + "a") == b"1"
    assert topo.master.command("GET", key + "a") == b"1"
    with master.pipeline() as pipe:
        pipe.incr(key + "n").incr(key + "n").get(key + "a")
        assert pipe.execute() == [1, 2, b"1"]
    replica = sentinel.slave_for(topo.service_name)
    wait_until(lambda: replica.get(key + "a") == b"1", what="the replica to have the write")
    assert replica.info("replication")["role"] == "slave"
    master.close()
    replica.close()
    sentinel.close()


def test_data_nodes_require_their_password(auth_topology):
    """Sentinel credentials right, data password missing: the data node refuses the client."""
    topo = auth_topology
    sentinel = sf.Sentinel(topo.sentinel_addresses,
                           sentinel_kwargs=dict(topo.sentinel_kwargs(), socket_timeout=SOCKET_TIMEOUT),
                           socket_timeout=SOCKET_TIMEOUT)
    assert sentinel.discover_master(topo.service_name) == topo.master.address
    master = sentinel.master_for(topo.service_name, retry=no_retry())
    with pytest.raises(sf_exceptions.AuthenticationError):
        master.set("k", "v")
    master.close()
    sentinel.close()


# --------------------------------------------------------------------------------------------
# The monitor authenticates: a planned failover is followed, nothing is lost
# --------------------------------------------------------------------------------------------


@sentinelfast_only
@pytest.mark.slow
@pytest.mark.destructive
@pytest.mark.parametrize("sentinel_username", [None, SENTINEL_USER], ids=["requirepass", "acl-user"])
def test_planned_failover_with_sentinel_password(sentinel_username):
    topo = protected_topology(sentinel_username)
    try:
        topo.start()
        sentinel = protected_sentinel(topo)
        events = []
        sentinel.add_event_listener(events.append)
        master = sentinel.master_for(topo.service_name)
        master.ping()
        # the monitor's links to the Sentinels authenticate
        wait_until(lambda: all(link["up"] for link in sentinel.stats()["monitor"]["sentinels"]),
                   what="the monitor's Sentinel links to be up")
        old = topo.master.address
        writer, new_node = run_planned_failover_drill(topo, master)
        assert new_node.address != old
        assert writer.errors == [], f"errors reached the application: {writer.errors[:3]}"
        # the client learnt the switch from the monitor, not by hitting the demoted master
        switches = [e for e in events if e.kind == "switch-master"]
        assert switches, f"no switch-master event; events: {[e.kind for e in events]}"
        stats = sentinel.stats()
        service = stats["services"][topo.service_name]
        assert service["master"] == new_node.address and service["switches"] == 1
        assert stats["monitor"]["events"].get("switch-master", 0) >= 1
        assert stats["monitor"]["sentinel_auth_failures"] == 0
        # planned failover: not one acknowledged write lost
        assert missing_on(new_node, writer) == []
        sentinel.close()
        master.close()
    finally:
        topo.stop()


# --------------------------------------------------------------------------------------------
# A Sentinel that refuses the credentials: logged, counted, the others still serve
# --------------------------------------------------------------------------------------------


@sentinelfast_only
@pytest.mark.slow
@pytest.mark.destructive
def test_wrong_sentinel_credentials_logged_and_counted(caplog):
    caplog.set_level(logging.WARNING, logger="sentinelfast.failover")
    topo = protected_topology()
    try:
        topo.start()
        # one Sentinel's password is changed by its operator: the client's credentials are wrong there
        odd = topo.sentinels[2]
        odd.command("ACL", "SETUSER", "default", "resetpass", ">rotated-password")
        odd.password = "rotated-password"
        sentinel = protected_sentinel(topo)
        master = sentinel.master_for(topo.service_name)
        assert master.set("auth:k", "v") is True

        def refused():
            monitor = sentinel.stats()["monitor"]
            return monitor if monitor and monitor["sentinel_auth_failures"] >= 1 else None

        monitor = wait_until(refused, timeout=15, what="the refused Sentinel to be counted")
        links = {link["address"]: link for link in monitor["sentinels"]}
        assert links[odd.address]["up"] is False
        wait_until(lambda: all(link["up"] for link in sentinel.stats()["monitor"]["sentinels"]
                               if link["address"] != odd.address),
                   what="the other Sentinel links to be up")
        # (the counter is raised in C before the monitor thread logs the event)
        def warned():
            return [r for r in caplog.records
                    if r.name == "sentinelfast.failover" and r.levelno == logging.WARNING
                    and str(odd.port) in r.getMessage()]
        wait_until(warned, timeout=15, what="the refusal's WARNING for the rotated Sentinel")
        # operators need the address, never the secret
        assert not [r for r in caplog.records if SENTINEL_PASSWORD in r.getMessage()]
        # the client keeps working, and the monitor still follows a failover through the others
        events = []
        sentinel.add_event_listener(events.append)
        old = topo.master.address
        writer, new_node = run_planned_failover_drill(topo, master)
        assert new_node.address != old
        assert writer.errors == [], f"errors reached the application: {writer.errors[:3]}"
        assert [e for e in events if e.kind == "switch-master"], [e.kind for e in events]
        assert missing_on(new_node, writer) == []
        # the operator puts the password back: the monitor reconnects by itself
        odd.command("ACL", "SETUSER", "default", "resetpass", f">{SENTINEL_PASSWORD}")
        odd.password = SENTINEL_PASSWORD
        wait_until(lambda: all(link["up"] for link in sentinel.stats()["monitor"]["sentinels"]),
                   timeout=20, what="the monitor to reconnect to the fixed Sentinel")
        sentinel.close()
        master.close()
    finally:
        topo.stop()
