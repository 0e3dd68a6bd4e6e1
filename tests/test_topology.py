"""The topology helper itself (sentinelfast.testing): starts what it says, cleans up everything."""

import os
import sys

import pytest
from conftest import Topology, testing


def test_shared_topology_is_ready(topology):
    master = topology.master
    assert master.info()["role"] == "master"
    assert len(topology.replicas) == 2 and len(topology.sentinels) == 3
    for replica in topology.replicas:
        info = replica.info()
        assert info["role"] == "slave"
        assert int(info["master_port"]) == master.port
        assert info["master_link_status"] == "up"
    assert topology.current_master_address() == master.address
    assert topology.sentinel_addresses == [s.address for s in topology.sentinels]
    assert topology.service_name == "mymaster"
    for s in topology.sentinels:
        state = s.command("SENTINEL", "MASTER", "mymaster")
        state = dict(zip(state[::2], state[1::2]))
        assert int(state[b"num-slaves"]) == 2
        assert int(state[b"num-other-sentinels"]) == 2
        assert int(state[b"quorum"]) == 2


def test_resp_helper_roundtrip(topology, key):
    m = topology.master
    assert m.command("SET", key + "a", "x") == b"OK"
    assert m.command("GET", key + "a") == b"x"
    assert m.command("GET", key + "missing") is None
    assert m.command("RPUSH", key + "l", "1", "2") == 2
    assert m.command("LRANGE", key + "l", 0, -1) == [b"1", b"2"]
    with pytest.raises(testing.RespError, match="WRONGTYPE"):
        m.command("GET", key + "l")


@pytest.mark.slow
def test_stop_kills_everything_and_removes_dirs():
    topo = Topology(num_replicas=1, num_sentinels=1, quorum=1).start()
    nodes = topo.nodes
    pids = [n.pid for n in nodes]
    dirs = [n.dir for n in nodes]
    assert all(pids) and all(os.path.isdir(d) for d in dirs)
    topo.replicas[0].pause()  # a stopped process must be killed too
    topo.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not any(os.path.exists(d) for d in dirs)
    assert all(not n.is_alive() for n in nodes)
    topo.stop()  # idempotent


def test_node_pause_resume_and_restart(plain_server):
    assert plain_server.is_alive()
    old_pid, port = plain_server.pid, plain_server.port
    plain_server.pause()
    with pytest.raises(OSError):
        plain_server.command("PING", timeout=0.3)
    plain_server.resume()
    assert plain_server.command("PING") == b"PONG"
    plain_server.kill()
    assert not plain_server.is_alive() and plain_server.pid is None
    plain_server.restart()
    assert plain_server.port == port and plain_server.pid != old_pid
    assert plain_server.command("PING") == b"PONG"


def test_start_on_a_port_another_server_took_moves_to_another_port(plain_server, monkeypatch):
    """Between find_free_port and the bind, another test run may start a server on the same
    port: that server answers PING while ours exits with "Address already in use". start()
    must not take the other server for ours (a test once read another server's keys)."""
    module = sys.modules[testing.RedisServer.__module__]
    real = module.find_free_port
    offered = []

    def taken_then_free(*args, **kwargs):
        port = plain_server.port if not offered else real(*args, **kwargs)
        offered.append(port)
        return port

    monkeypatch.setattr(module, "find_free_port", taken_then_free)
    ours = testing.RedisServer("standalone", name="late")
    try:
        ours.start()
        assert offered[0] == plain_server.port and len(offered) == 2
        assert ours.port == offered[1] != plain_server.port
        assert ours.info("server")["process_id"] == str(ours.pid)
        assert plain_server.info("server")["process_id"] == str(plain_server.pid)
    finally:
        ours.stop()


def _openssl(*args):
    import subprocess

    return subprocess.run(["openssl", *args], capture_output=True, text=True)


def test_make_certificates(tmp_path):
    certs = testing.make_certificates(str(tmp_path / "pki"))
    for field in ("ca_cert", "ca_key", "server_cert", "server_key", "client_cert", "client_key",
                  "other_ca_cert", "other_ca_key", "wrong_host_cert", "wrong_host_key"):
        assert os.path.isfile(getattr(certs, field)), field
    for leaf in (certs.server_cert, certs.client_cert, certs.wrong_host_cert):
        ok = _openssl("verify", "-x509_strict", "-CAfile", certs.ca_cert, leaf)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert _openssl("verify", "-CAfile", certs.other_ca_cert, leaf).returncode != 0
    san = _openssl("x509", "-in", certs.server_cert, "-noout", "-ext", "subjectAltName").stdout
    assert "DNS:localhost" in san and "IP Address:127.0.0.1" in san and "IP Address:0:0:0:0:0:0:0:1" in san
    wrong = _openssl("x509", "-in", certs.wrong_host_cert, "-noout", "-ext", "subjectAltName").stdout
    assert "DNS:wrong-host.invalid" in wrong and "127.0.0.1" not in wrong and "localhost" not in wrong
    # every call makes its own CA
    other = testing.make_certificates(str(tmp_path / "pki2"))
    assert _openssl("verify", "-CAfile", other.ca_cert, certs.server_cert).returncode != 0


def test_topology_client_kwargs_without_security():
    topo = Topology()
    assert topo.client_tls_kwargs() == {} and topo.client_kwargs() == {} and topo.sentinel_kwargs() == {}
    with pytest.raises(ValueError):
        Topology(sentinel_username="u")


@pytest.mark.slow
def test_tls_topology_restarts_nodes_and_removes_its_certificates():
    topo = Topology(num_replicas=1, num_sentinels=1, quorum=1, tls=True).start()
    try:
        certs_dir = topo.certs.directory
        assert os.path.isfile(topo.certs.ca_cert)
        replica, sentinel = topo.replicas[0], topo.sentinels[0]
        replica.restart()                 # same TLS port, same certificates
        sentinel.restart()                # Sentinel's rewritten config keeps its TLS settings
        topo.wait_until_ready(timeout=30)
        assert replica.info()["master_link_status"] == "up"
        assert topo.current_master_address() == topo.master.address
    finally:
        topo.stop()
    assert topo.certs is None and not os.path.exists(certs_dir)
