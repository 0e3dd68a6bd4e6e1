"""Connections: addresses (IPv4/IPv6), timeouts, keepalive, handshake (AUTH, CLIENT SETNAME, SELECT)."""

import socket
import subprocess
import threading
import time

import pytest
from conftest import ACL_USERS, AUTH_PASSWORD, testing
from sfimpl import NO_CWD_FLAG, no_retry, sf, sf_exceptions


def client_entry(server, name):
    """The CLIENT LIST entry (as a dict) of the connection named ``name``, asked with raw RESP."""
    text = server.command("CLIENT", "LIST", timeout=2).decode()
    for line in text.splitlines():
        fields = dict(f.split("=", 1) for f in line.split(" ") if "=" in f)
        if fields.get("name") == name:
            return fields
    return None


def auth_command(server, *args):
    """Run a command on the password-protected server with raw RESP (AUTH in the same connection)."""
    host, port = server.address
    with socket.create_connection((host, port), timeout=2) as s:
        s.sendall(testing.topology._encode_command(["AUTH", AUTH_PASSWORD]))
        s.sendall(testing.topology._encode_command(list(args)))
        with s.makefile("rb") as f:
            assert testing.topology._read_reply(f) == b"OK"
            reply = testing.topology._read_reply(f)
    if isinstance(reply, Exception):
        raise reply
    return reply


# --------------------------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------------------------


def test_connect_ipv4(topology, key):
    r = sf.Redis(host="127.0.0.1", port=topology.master.port, client_name="sf-ipv4")
    assert r.ping() is True
    assert r.set(key + "a", "1") is True
    assert r.get(key + "a") == b"1"
    entry = client_entry(topology.master, "sf-ipv4")
    assert entry is not None and entry["addr"].startswith("127.0.0.1:")
    r.close()


def test_connect_by_hostname_localhost(topology):
    r = sf.Redis(host="localhost", port=topology.master.port)
    assert r.ping() is True
    assert r.echo("via getaddrinfo") == b"via getaddrinfo"
    r.close()


@pytest.mark.skipif(not testing.ipv6_loopback_available(), reason="this machine has no IPv6 loopback (::1)")
def test_connect_ipv6_loopback(topology, key):
    r = sf.Redis(host="::1", port=topology.master.port, client_name="sf-ipv6")
    assert r.ping() is True
    assert r.set(key + "v6", "yes") is True
    assert r.get(key + "v6") == b"yes"
    entry = client_entry(topology.master, "sf-ipv6")
    assert entry is not None
    assert entry["addr"].startswith("::1:") or entry["addr"].startswith("[::1]:"), entry["addr"]
    r.close()


def test_connection_refused_raises_connection_error():
    port = testing.find_free_port()
    r = sf.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1, retry=no_retry())
    t0 = time.monotonic()
    with pytest.raises(sf_exceptions.ConnectionError):
        r.ping()
    assert time.monotonic() - t0 < 1.0  # refused is immediate, not a timeout


@pytest.fixture
def blackhole_port():
    """A loopback port whose accept queue is full: new connections hang in SYN_SENT."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    # fill the accept queue (never accepted), until a connect attempt does not complete
    for _ in range(8):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(0.3)
    try:
        probe.connect(("127.0.0.1", port))
        hangs = False
    except (socket.timeout, OSError):
        hangs = True
    finally:
        probe.close()
    try:
        if not hangs:
            pytest.fail("could not build a port on which connect() hangs (accept queue trick)")
        yield port
    finally:
        for s in fillers:
            s.close()
        listener.close()


def test_socket_connect_timeout(blackhole_port):
    r = sf.Redis(
        host="127.0.0.1", port=blackhole_port, socket_connect_timeout=0.5, socket_timeout=10, retry=no_retry()
    )
    t0 = time.monotonic()
    with pytest.raises((sf_exceptions.TimeoutError, sf_exceptions.ConnectionError)):
        r.ping()
    elapsed = time.monotonic() - t0
    assert 0.4 <= elapsed < 2.0, f"connect took {elapsed:.2f}s with socket_connect_timeout=0.5"


# --------------------------------------------------------------------------------------------
# socket_timeout on a hung (SIGSTOPped) server
# --------------------------------------------------------------------------------------------


def test_read_timeout_on_paused_server(plain_server):
    r = sf.Redis(port=plain_server.port, socket_timeout=0.5, retry=no_retry())
    assert r.set("a", "1") is True
    plain_server.pause()
    try:
        t0 = time.monotonic()
        with pytest.raises(sf_exceptions.TimeoutError):
            r.get("a")
        elapsed = time.monotonic() - t0
        assert 0.4 <= elapsed < 1.5, f"GET on a hung server took {elapsed:.2f}s with socket_timeout=0.5"
    finally:
        plain_server.resume()


def test_timed_out_connection_is_not_reused(plain_server):
    """After a timeout the reply still in flight must never be read as the answer to a later command."""
    r = sf.Redis(port=plain_server.port, socket_timeout=0.5, retry=no_retry())
    r.set("a", "value-of-a")
    r.set("b", "value-of-b")
    plain_server.pause()
    try:
        with pytest.raises(sf_exceptions.TimeoutError):
            r.get("a")
    finally:
        plain_server.resume()
    time.sleep(0.2)  # the server now answers the GET a that timed out
    assert r.get("b") == b"value-of-b"
    assert r.get("a") == b"value-of-a"


def test_write_timeout_on_paused_server(plain_server):
    """A write that cannot complete (peer stopped, buffers full) also times out."""
    r = sf.Redis(port=plain_server.port, socket_timeout=0.5, retry=no_retry())
    assert r.ping() is True
    big = b"x" * (64 * 1024 * 1024)  # far more than the loopback socket buffers
    plain_server.pause()
    try:
        t0 = time.monotonic()
        with pytest.raises(sf_exceptions.TimeoutError):
            r.set("big", big)
        elapsed = time.monotonic() - t0
        assert elapsed < 3.0, f"SET of 64 MB to a hung server took {elapsed:.2f}s with socket_timeout=0.5"
    finally:
        plain_server.resume()
    assert r.ping() is True


def test_socket_timeout_none_waits_until_server_answers(plain_server):
    r = sf.Redis(port=plain_server.port, socket_timeout=None, retry=no_retry())
    r.set("a", "patience")
    result = {}

    def reader():
        try:
            result["value"] = r.get("a")
        except BaseException as e:  # pragma: no cover - reported below
            result["error"] = e

    plain_server.pause()
    try:
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(1.5)
        assert t.is_alive(), f"socket_timeout=None returned early: {result}"
    finally:
        plain_server.resume()
    t.join(5)
    assert not t.is_alive()
    assert result == {"value": b"patience"}


def test_server_side_blocking_command_longer_than_default(plain_server):
    """socket_timeout bounds each read: a server that answers in time is fine, one that is late is not."""
    r = sf.Redis(port=plain_server.port, socket_timeout=1.0, retry=no_retry())
    assert r.execute_command("DEBUG", "SLEEP", "0.3") in (True, b"OK")
    with pytest.raises(sf_exceptions.TimeoutError):
        r.execute_command("DEBUG", "SLEEP", "1.5")


# --------------------------------------------------------------------------------------------
# Handshake: AUTH, CLIENT SETNAME, SELECT
# --------------------------------------------------------------------------------------------


def _auth_client_entry(server, name):
    for line in auth_command(server, "CLIENT", "LIST").decode().splitlines():
        fields = dict(f.split("=", 1) for f in line.split(" ") if "=" in f)
        if fields.get("name") == name:
            return fields
    return None


def test_auth_with_password(auth_server):
    r = sf.Redis(port=auth_server.port, password=AUTH_PASSWORD, client_name="sf-auth-default")
    assert r.ping() is True
    assert r.set("default-key", "v") is True
    assert _auth_client_entry(auth_server, "sf-auth-default")["user"] == "default"


def test_auth_with_username_and_password(auth_server):
    r = sf.Redis(port=auth_server.port, username="alice", password=ACL_USERS["alice"], client_name="sf-auth-alice")
    assert r.set("alice-key", "v") is True
    assert r.get("alice-key") == b"v"
    assert _auth_client_entry(auth_server, "sf-auth-alice")["user"] == "alice"


def test_auth_wrong_password(auth_server):
    r = sf.Redis(port=auth_server.port, password="wrong", retry=no_retry())
    with pytest.raises(sf_exceptions.AuthenticationError):
        r.ping()
    r = sf.Redis(port=auth_server.port, username="alice", password="wrong", retry=no_retry())
    with pytest.raises(sf_exceptions.AuthenticationError):
        r.ping()


def test_auth_missing_password(auth_server):
    r = sf.Redis(port=auth_server.port, retry=no_retry())
    with pytest.raises(sf_exceptions.AuthenticationError):
        r.get("x")


def test_client_name_visible_in_client_list(topology):
    r = sf.Redis(port=topology.master.port, client_name="sf-named-client")
    assert r.ping() is True
    entry = client_entry(topology.master, "sf-named-client")
    assert entry is not None, "CLIENT SETNAME not sent during the handshake"
    r.close()


def test_client_name_with_auth(auth_server):
    r = sf.Redis(port=auth_server.port, username="alice", password=ACL_USERS["alice"], client_name="sf-auth-named")
    assert r.ping() is True
    entry = _auth_client_entry(auth_server, "sf-auth-named")
    assert entry is not None and entry["user"] == "alice"


def test_db_selection(topology, key):
    master = topology.master
    r3 = sf.Redis(port=master.port, db=3, client_name="sf-db3")
    r0 = sf.Redis(port=master.port, db=0)
    assert r3.set(key + "db", "in-db-3") is True
    assert r3.get(key + "db") == b"in-db-3"
    assert r0.get(key + "db") is None
    assert client_entry(master, "sf-db3")["db"] == "3"
    r3.delete(key + "db")


def test_db_selection_with_auth_and_name(auth_server):
    r = sf.Redis(port=auth_server.port, password=AUTH_PASSWORD, db=5, client_name="sf-db5")
    r.set("k5", "five")
    assert sf.Redis(port=auth_server.port, password=AUTH_PASSWORD, db=0).get("k5") is None
    entry = _auth_client_entry(auth_server, "sf-db5")
    assert entry is not None and entry["db"] == "5" and entry["user"] == "default"


# --------------------------------------------------------------------------------------------
# Socket options
# --------------------------------------------------------------------------------------------


def _keepalive_timer(local_port):
    """The keepalive timer `ss` shows for the TCP connection from local_port, or None."""
    out = subprocess.run(
        ["ss", "-tnoH", "state", "established", f"( sport = :{local_port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "timer:(keepalive" not in out:
        return None
    part = out.split("timer:(keepalive,", 1)[1].split(",", 1)[0]  # e.g. "6.9sec" or "1min29sec"
    seconds = 0.0
    if "min" in part:
        mins, part = part.split("min", 1)
        seconds += 60 * float(mins)
    if part.endswith("sec"):
        seconds += float(part[:-3] or 0)
    elif part.endswith("ms"):
        seconds += float(part[:-2]) / 1000
    return seconds


def _local_port(server, name):
    return int(client_entry(server, name)["addr"].rsplit(":", 1)[1])


@pytest.mark.skipif(not hasattr(socket, "TCP_KEEPIDLE"), reason="TCP_KEEPIDLE is Linux-only")
def test_socket_keepalive_options_applied(topology):
    r = sf.Redis(
        port=topology.master.port,
        client_name="sf-keepalive",
        socket_keepalive=True,
        socket_keepalive_options={socket.TCP_KEEPIDLE: 7, socket.TCP_KEEPINTVL: 2, socket.TCP_KEEPCNT: 2},
    )
    assert r.ping() is True
    timer = _keepalive_timer(_local_port(topology.master, "sf-keepalive"))
    assert timer is not None, "socket_keepalive=True but no keepalive timer on the socket"
    assert timer <= 7.0, f"TCP_KEEPIDLE=7 not applied (keepalive timer {timer}s)"
    r.close()


def test_socket_keepalive_false(topology):
    r = sf.Redis(port=topology.master.port, client_name="sf-no-keepalive", socket_keepalive=False)
    assert r.ping() is True
    assert _keepalive_timer(_local_port(topology.master, "sf-no-keepalive")) is None
    r.close()


_BLOCKED_READ_CHILD = r"""
import signal
import sys
import sentinelfast as sf
# Ctrl-C raises KeyboardInterrupt, as Python sets it up at startup, even when the test run
# itself was started with SIGINT ignored (a background job of a non-interactive shell:
# Python then keeps it ignored, and so would this child)
signal.signal(signal.SIGINT, signal.default_int_handler)
r = sf.Redis(port=int(sys.argv[1]), socket_timeout=None, retry=None)
r.ping()
print("ready", flush=True)
sys.stdin.readline()                 # the parent pauses the server, then says go
try:
    r.get("anything")                # blocks: the server is stopped, no timeout
    print("returned", flush=True)
except KeyboardInterrupt:
    conn = r.connection_pool._available_connections[0]
    print("interrupted", "connected" if conn.is_connected else "closed", flush=True)
"""


def test_ctrl_c_interrupts_a_blocked_read(plain_server):
    """SIGINT during a read with no timeout raises KeyboardInterrupt at once, and the
    connection it broke is closed, not reused."""
    import signal
    import sys

    import os

    # The child imports the very sentinelfast this test imported (installed or built in
    # place): -P keeps the current directory off sys.path, PYTHONPATH points at it.
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(sf.__file__)))
    child = subprocess.Popen([sys.executable, NO_CWD_FLAG, "-c", _BLOCKED_READ_CHILD, str(plain_server.port)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout.readline().strip() == "ready"
        plain_server.pause()
        child.stdin.write("go\n")
        child.stdin.flush()
        time.sleep(0.5)                  # let it block in recv()
        assert child.poll() is None, "the read returned although the server is stopped"
        started = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=10)
        assert time.monotonic() - started < 5
        assert out.strip() == "interrupted closed"
    finally:
        plain_server.resume()
        if child.poll() is None:
            child.kill()
            child.wait()
