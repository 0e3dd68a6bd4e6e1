"""TLS connections to single redis-server processes (csrc/transport.c, csrc/tls_context.c):
plain and mutual TLS, certificate and host name verification, rediss:// URLs, pipelines,
timeouts, TLS settings with redis-py's meaning, and fork safety of TLS sessions.

The TLS-only Sentinel topology (discovery, failover) is tested in tests/test_tls.py.
"""
import os
import ssl
import subprocess
import tempfile
import time

import pytest

import sentinelfast as sf
from conftest import testing
from sentinelfast import _core
from sentinelfast.backoff import NoBackoff
from sentinelfast.connection import SSLConnection
from sentinelfast.exceptions import ConnectionError, RedisError, TimeoutError
from sentinelfast.retry import Retry
from sentinelfast.testing.certs import WRONG_HOST_NAME, make_certificates
from sfimpl import NO_CWD_FLAG


def no_retry():
    return Retry(NoBackoff(), 0)


@pytest.fixture(scope="module")
def certs():
    with tempfile.TemporaryDirectory(prefix="sf-tls-") as directory:
        yield make_certificates(directory)


def _tls_server(certs, *config, **kwargs):
    server = testing.RedisServer("standalone", list(config), tls=certs, name="tls", **kwargs)
    server.start()
    return server


@pytest.fixture(scope="module")
def tls_server(certs):
    """TLS only, client certificates not asked for."""
    server = _tls_server(certs, "tls-auth-clients no")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def mtls_server(certs):
    """TLS only, a client certificate signed by the test CA required."""
    server = _tls_server(certs)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def wrong_host_server(certs):
    """Presents a certificate of the good CA for another name only."""
    server = _tls_server(certs, "tls-auth-clients no", tls_cert_file=certs.wrong_host_cert,
                         tls_key_file=certs.wrong_host_key)
    try:
        yield server
    finally:
        server.stop()


def tls_client(server, certs, **kwargs):
    kwargs.setdefault("ssl_ca_certs", certs.ca_cert)
    kwargs.setdefault("retry", no_retry())
    return sf.Redis(host=kwargs.pop("host", "localhost"), port=server.port, ssl=True, **kwargs)


def test_plain_tls(tls_server, certs, key):
    r = tls_client(tls_server, certs)
    assert r.set(key, "v")
    assert r.get(key) == b"v"
    conn = r.connection_pool.get_connection()
    try:
        assert isinstance(conn, SSLConnection)
        assert conn.tls is not None and conn.tls.check_hostname
    finally:
        r.connection_pool.release(conn)


def test_tls_by_ip_address_checks_the_ip_in_the_certificate(tls_server, certs):
    assert tls_client(tls_server, certs, host="127.0.0.1").ping() is True


def test_large_values_and_pipelines(tls_server, certs, key):
    """Values larger than a TLS record and a socket buffer, pipelines and transactions."""
    r = tls_client(tls_server, certs)
    big = os.urandom(3 * 1024 * 1024)
    assert r.set(key, big)
    assert r.get(key) == big
    with r.pipeline(transaction=False) as p:
        for i in range(500):
            p.set(f"{key}{i}", i)
        for i in range(500):
            p.get(f"{key}{i}")
        replies = p.execute()
    assert replies[:500] == [True] * 500
    assert replies[500:] == [str(i).encode() for i in range(500)]
    with r.pipeline() as p:
        p.incr(key + "n").incr(key + "n").get(key + "n")
        assert p.execute() == [1, 2, b"2"]


def test_mutual_tls(mtls_server, certs, key):
    r = tls_client(mtls_server, certs, ssl_certfile=certs.client_cert,
                   ssl_keyfile=certs.client_key)
    assert r.set(key, "v") and r.get(key) == b"v"


def test_mutual_tls_without_a_client_certificate_is_refused(mtls_server, certs):
    r = tls_client(mtls_server, certs, socket_timeout=5)
    with pytest.raises(ConnectionError):
        r.ping()


def test_encrypted_client_key_with_ssl_password(mtls_server, certs, tmp_path):
    encrypted = tmp_path / "client-encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", certs.client_key, "-aes256", "-passout",
                    "pass:s3cret", "-out", str(encrypted)], check=True, capture_output=True)
    r = tls_client(mtls_server, certs, ssl_certfile=certs.client_cert,
                   ssl_keyfile=str(encrypted), ssl_password="s3cret")
    assert r.ping() is True
    wrong = tls_client(mtls_server, certs, ssl_certfile=certs.client_cert,
                       ssl_keyfile=str(encrypted), ssl_password="wrong")
    with pytest.raises(ConnectionError):
        wrong.ping()
    missing = tls_client(mtls_server, certs, ssl_certfile=certs.client_cert,
                         ssl_keyfile=str(encrypted))   # no password: no prompt, an error
    with pytest.raises(ConnectionError):
        missing.ping()


def test_wrong_ca_fails_fast(tls_server, certs):
    r = tls_client(tls_server, certs, ssl_ca_certs=certs.other_ca_cert, socket_timeout=10,
                   socket_connect_timeout=10)
    # The first attempt also builds the TLS context (the system CA store is loaded, as
    # redis-py's create_default_context does: slow under ASan's malloc tracing); what must
    # be fast is the refusal itself, well before the 10 s timeouts.
    with pytest.raises(ConnectionError, match="certificate verify failed"):
        r.ping()
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="certificate verify failed"):
        r.ping()
    assert time.monotonic() - started < 2


def test_wrong_hostname_fails_fast(wrong_host_server, certs):
    r = tls_client(wrong_host_server, certs, socket_timeout=10, socket_connect_timeout=10)
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="certificate verify failed: [Hh]ostname mismatch"):
        r.ping()
    assert time.monotonic() - started < 2


def test_wrong_hostname_accepted_without_check_hostname(wrong_host_server, certs):
    assert tls_client(wrong_host_server, certs, ssl_check_hostname=False).ping() is True
    # cert_reqs "none" turns the host name check off too (redis-py's rule)
    assert tls_client(wrong_host_server, certs, ssl_cert_reqs="none",
                      ssl_ca_certs=None).ping() is True


def test_server_hostname_names_the_certificate_to_expect(wrong_host_server, certs):
    conn = SSLConnection(host="127.0.0.1", port=wrong_host_server.port,
                         ssl_ca_certs=certs.ca_cert, server_hostname=WRONG_HOST_NAME)
    try:
        conn.connect()
        assert conn.execute("PING") == b"PONG"
    finally:
        conn.disconnect()


def test_ca_data(tls_server, certs):
    with open(certs.ca_cert) as f:
        pem = f.read()
    assert tls_client(tls_server, certs, ssl_ca_certs=None, ssl_ca_data=pem).ping() is True
    der = ssl.PEM_cert_to_DER_cert(pem)
    assert tls_client(tls_server, certs, ssl_ca_certs=None, ssl_ca_data=der).ping() is True


def test_ca_path(tls_server, certs, tmp_path):
    subject_hash = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", certs.ca_cert],
                                  check=True, capture_output=True, text=True).stdout.strip()
    (tmp_path / f"{subject_hash}.0").write_bytes(open(certs.ca_cert, "rb").read())
    assert tls_client(tls_server, certs, ssl_ca_certs=None,
                      ssl_ca_path=str(tmp_path)).ping() is True


def test_min_version_above_the_server_fails(certs):
    server = _tls_server(certs, "tls-auth-clients no", "tls-protocols TLSv1.2")
    try:
        assert tls_client(server, certs, ssl_min_version=ssl.TLSVersion.TLSv1_2).ping() is True
        r = tls_client(server, certs, ssl_min_version=ssl.TLSVersion.TLSv1_3)
        with pytest.raises(ConnectionError):
            r.ping()
    finally:
        server.stop()


def test_ciphers(certs):
    server = _tls_server(certs, "tls-auth-clients no", "tls-protocols TLSv1.2")
    try:
        ok = tls_client(server, certs, ssl_ciphers="ECDHE-ECDSA-AES256-GCM-SHA384")
        assert ok.ping() is True
        bad = tls_client(server, certs, ssl_ciphers="no-such-cipher")
        with pytest.raises(ConnectionError, match="No cipher can be selected"):
            bad.ping()
    finally:
        server.stop()


def test_rediss_url(tls_server, certs, key):
    r = sf.Redis.from_url(f"rediss://localhost:{tls_server.port}/0?ssl_ca_certs={certs.ca_cert}")
    assert r.set(key, "u") and r.get(key) == b"u"
    insecure = sf.from_url(f"rediss://localhost:{tls_server.port}?ssl_cert_reqs=none")
    assert insecure.ping() is True
    unchecked = sf.from_url(f"rediss://127.0.0.1:{tls_server.port}?ssl_check_hostname=false"
                            f"&ssl_ca_certs={certs.ca_cert}")
    assert unchecked.connection_pool.get_connection().check_hostname is False


def test_plain_client_on_a_tls_port_fails(tls_server):
    r = sf.Redis(port=tls_server.port, socket_timeout=1, retry=no_retry())
    with pytest.raises((ConnectionError, TimeoutError)):
        r.ping()


def test_tls_read_timeout(certs):
    server = _tls_server(certs, "tls-auth-clients no")
    try:
        r = tls_client(server, certs, socket_timeout=0.5)
        r.ping()
        server.pause()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            r.get("k")
        assert time.monotonic() - started < 2.5
    finally:
        server.resume()
        server.stop()


def test_settings_errors_are_raised_when_redis_py_raises_them(tls_server, certs):
    # invalid ssl_cert_reqs: RedisError when the connection is made (as redis-py)
    with pytest.raises(RedisError, match="Invalid SSL Certificate Requirements Flag"):
        SSLConnection(ssl_cert_reqs="sometimes")
    # missing files: ConnectionError at connect, with the errno
    r = tls_client(tls_server, certs, ssl_ca_certs="/nonexistent/ca.pem")
    with pytest.raises(ConnectionError, match=r"Error 2 connecting to localhost:\d+\. "
                                              r"No such file or directory"):
        r.ping()
    r = tls_client(tls_server, certs, ssl_certfile="/nonexistent/cert.pem")
    with pytest.raises(ConnectionError, match="No such file or directory"):
        r.ping()
    # OCSP is not supported: refused, never silently ignored
    with pytest.raises(ValueError, match="ssl_validate_ocsp"):
        SSLConnection(ssl_validate_ocsp=True)
    with pytest.raises(TypeError):
        SSLConnection(ssl_password=lambda: "pw")


def test_one_tls_context_per_distinct_settings(certs):
    a = SSLConnection(ssl_ca_certs=certs.ca_cert)
    b = SSLConnection(ssl_ca_certs=certs.ca_cert)
    c = SSLConnection(ssl_ca_certs=certs.other_ca_cert)
    assert a.tls is b.tls
    assert a.tls is not c.tls
    assert isinstance(a.tls, _core.TLSContext)


_FORK_CHILD_CLOSES = r"""
import os, sys
from sentinelfast.connection import SSLConnection
conn = SSLConnection(port=int(sys.argv[1]), ssl_ca_certs=sys.argv[2])
conn.connect()
first = conn.execute("CLIENT", "ID")
pid = os.fork()
if pid == 0:
    conn.disconnect()                 # the inherited TLS session: freed without a word
    conn.connect()                    # and a connection of the child's own
    ok = conn.execute("PING") == b"PONG"
    conn.disconnect()
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
assert os.WEXITSTATUS(status) == 0, status
again = conn.execute("CLIENT", "ID")   # the parent's session still works: same connection
print("same" if again == first else "different", flush=True)
"""


def test_forked_child_drops_an_inherited_tls_connection_silently(tls_server, certs):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(sf.__file__)))
    import sys

    proc = subprocess.run([sys.executable, NO_CWD_FLAG, "-c", _FORK_CHILD_CLOSES,
                           str(tls_server.port), certs.ca_cert],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "same"


def test_forked_child_using_a_tls_client_reconnects_and_parent_keeps_its_session(
        tls_server, certs, key):
    r = tls_client(tls_server, certs)
    r.set(key, "parent")
    client_id = r.client_id()
    pid = os.fork()
    if pid == 0:
        try:
            ok = r.get(key) == b"parent" and r.client_id() != client_id
            r.close()
        except BaseException:
            ok = False
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert r.client_id() == client_id
    assert r.get(key) == b"parent"


_SIGPIPE_CHILD = r"""
import signal, sys, time
signal.signal(signal.SIGPIPE, signal.SIG_DFL)     # as many command-line tools do
import sentinelfast as sf
from sentinelfast.connection import SSLConnection
from sentinelfast.exceptions import ConnectionError
port, ca = int(sys.argv[1]), sys.argv[2]
conn = SSLConnection(port=port, ssl_ca_certs=ca)
conn.connect()
victim = conn.execute("CLIENT", "ID")
admin = sf.Redis(port=port, ssl=True, ssl_ca_certs=ca)
admin.execute_command("CLIENT", "KILL", "ID", victim)
time.sleep(0.3)
try:
    for _ in range(5):                 # the first write draws a reset, the next ones EPIPE
        conn.send_packed_command(b"*1\r\n$4\r\nPING\r\n" * 1000)
        time.sleep(0.1)
    print("sent", flush=True)
except ConnectionError:
    print("ConnectionError", flush=True)
"""


def test_writing_to_a_closed_tls_connection_raises_instead_of_sigpipe(tls_server, certs):
    """The TLS path sends with MSG_NOSIGNAL too: a process that restored SIGPIPE's default
    action gets ConnectionError, it is not killed."""
    import sys

    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(sf.__file__)))
    proc = subprocess.run([sys.executable, NO_CWD_FLAG, "-c", _SIGPIPE_CHILD, str(tls_server.port),
                           certs.ca_cert], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert proc.stdout.strip() == "ConnectionError"


_TLS_BLOCKED_READ_CHILD = r"""
import signal
import sys
import sentinelfast as sf
# Ctrl-C raises KeyboardInterrupt, as Python sets it up at startup, even when the test run
# itself was started with SIGINT ignored (a background job of a non-interactive shell:
# Python then keeps it ignored, and so would this child)
signal.signal(signal.SIGINT, signal.default_int_handler)
r = sf.Redis(port=int(sys.argv[1]), ssl=True, ssl_ca_certs=sys.argv[2], socket_timeout=None,
             retry=None)
r.ping()
print("ready", flush=True)
sys.stdin.readline()                 # the parent pauses the server, then says go
try:
    r.get("anything")                # blocks in poll(): the server is stopped, no timeout
    print("returned", flush=True)
except KeyboardInterrupt:
    conn = r.connection_pool._available_connections[0]
    print("interrupted", "connected" if conn.is_connected else "closed", flush=True)
"""


def test_ctrl_c_interrupts_a_blocked_tls_read(certs):
    """The TLS path waits in poll(): SIGINT there raises KeyboardInterrupt at once and the
    broken connection is closed."""
    import signal
    import sys

    server = _tls_server(certs, "tls-auth-clients no")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(sf.__file__)))
    child = subprocess.Popen([sys.executable, NO_CWD_FLAG, "-c", _TLS_BLOCKED_READ_CHILD,
                              str(server.port), certs.ca_cert],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout.readline().strip() == "ready"
        server.pause()
        child.stdin.write("go\n")
        child.stdin.flush()
        time.sleep(0.5)
        assert child.poll() is None, "the read returned although the server is stopped"
        started = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=10)
        assert time.monotonic() - started < 5
        assert out.strip() == "interrupted closed"
    finally:
        server.resume()
        if child.poll() is None:
            child.kill()
            child.wait()
        server.stop()


def test_renewed_files_are_read_by_the_next_connect(tls_server, certs, tmp_path):
    """redis-py reads the TLS files at every connect: a CA file (or certificate) replaced on
    disk is used by the next connection, the shared TLSContext is built again."""
    ca = tmp_path / "ca.pem"
    ca.write_bytes(open(certs.other_ca_cert, "rb").read())   # the wrong CA first
    r = tls_client(tls_server, certs, ssl_ca_certs=str(ca))
    with pytest.raises(ConnectionError, match="certificate verify failed"):
        r.ping()
    time.sleep(0.01)      # a different mtime even on coarse file systems
    ca.write_bytes(open(certs.ca_cert, "rb").read())         # renewed: the right CA
    assert r.ping() is True
    conn = r.connection_pool.get_connection()
    try:
        assert conn.tls is SSLConnection(ssl_ca_certs=str(ca)).tls  # still one shared context
    finally:
        r.connection_pool.release(conn)
    assert r.ping() is True                                   # unchanged files: no rebuild
