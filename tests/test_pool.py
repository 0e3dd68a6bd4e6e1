"""Connection pools: MRU reuse, limits, blocking pool, threads, fork safety, health checks, reset."""

import os
import threading
import time

import pytest
from sfimpl import no_retry, sf, sf_exceptions


def client_ids(server, name):
    """CLIENT IDs of the server connections named ``name`` (raw RESP, outside the client under test)."""
    ids = set()
    for line in server.command("CLIENT", "LIST", timeout=2).decode().splitlines():
        fields = dict(f.split("=", 1) for f in line.split(" ") if "=" in f)
        if fields.get("name") == name:
            ids.add(int(fields["id"]))
    return ids


def conn_id(conn):
    conn.send_command("CLIENT", "ID")
    return conn.read_response()


def test_most_recently_used_connection_is_reused(topology):
    pool = sf.ConnectionPool(host="127.0.0.1", port=topology.master.port)
    c1 = pool.get_connection()
    c2 = pool.get_connection()
    assert c1 is not c2
    id1, id2 = conn_id(c1), conn_id(c2)
    assert id1 != id2
    pool.release(c1)
    pool.release(c2)  # c2 is now the most recently used
    c3 = pool.get_connection()
    assert c3 is c2
    assert conn_id(c3) == id2
    pool.release(c3)
    pool.disconnect()


def test_client_keeps_using_one_connection(topology, key):
    r = sf.Redis(port=topology.master.port, client_name="sf-mru")
    ids = {r.execute_command("CLIENT ID") for _ in range(20)}
    assert len(ids) == 1
    assert client_ids(topology.master, "sf-mru") == ids
    r.close()


def test_max_connections(topology):
    pool = sf.ConnectionPool(host="127.0.0.1", port=topology.master.port, max_connections=2)
    c1 = pool.get_connection()
    c2 = pool.get_connection()
    with pytest.raises(sf_exceptions.MaxConnectionsError) as excinfo:
        pool.get_connection()
    assert str(excinfo.value) == "Too many connections"
    assert isinstance(excinfo.value, sf_exceptions.ConnectionError)
    pool.release(c1)
    c3 = pool.get_connection()
    assert c3 is c1
    pool.release(c2)
    pool.release(c3)
    pool.disconnect()


def test_max_connections_through_client(topology):
    pool = sf.ConnectionPool(host="127.0.0.1", port=topology.master.port, max_connections=1)
    r = sf.Redis(connection_pool=pool)
    held = pool.get_connection()
    with pytest.raises(sf_exceptions.MaxConnectionsError):
        r.ping()
    pool.release(held)
    assert r.ping() is True
    pool.disconnect()


def test_blocking_pool_times_out(topology):
    pool = sf.BlockingConnectionPool(host="127.0.0.1", port=topology.master.port, max_connections=1, timeout=0.5)
    held = pool.get_connection()
    t0 = time.monotonic()
    with pytest.raises(sf_exceptions.ConnectionError) as excinfo:
        pool.get_connection()
    elapsed = time.monotonic() - t0
    assert str(excinfo.value) == "No connection available."
    assert 0.4 <= elapsed < 1.5, f"blocking pool waited {elapsed:.2f}s with timeout=0.5"
    r = sf.Redis(connection_pool=pool)
    with pytest.raises(sf_exceptions.ConnectionError) as excinfo:
        r.ping()
    assert str(excinfo.value) == "No connection available."
    pool.release(held)
    assert r.ping() is True
    pool.disconnect()


def test_blocking_pool_wakes_up_when_a_connection_is_released(topology):
    pool = sf.BlockingConnectionPool(host="127.0.0.1", port=topology.master.port, max_connections=1, timeout=5)
    held = pool.get_connection()
    timer = threading.Timer(0.3, pool.release, args=(held,))
    timer.start()
    t0 = time.monotonic()
    got = pool.get_connection()
    elapsed = time.monotonic() - t0
    timer.join()
    assert got is held
    assert 0.2 <= elapsed < 2.0
    pool.release(got)
    pool.disconnect()


@pytest.mark.parametrize("pool_kind", ["ConnectionPool", "BlockingConnectionPool(4)"])
def test_sixteen_threads_share_one_client(topology, key, pool_kind):
    if pool_kind == "ConnectionPool":
        pool = sf.ConnectionPool(host="127.0.0.1", port=topology.master.port, client_name="sf-threads")
    else:
        pool = sf.BlockingConnectionPool(
            host="127.0.0.1", port=topology.master.port, max_connections=4, timeout=20, client_name="sf-threads"
        )
    r = sf.Redis(connection_pool=pool)
    n_threads, n_iter = 16, 150
    errors = []
    barrier = threading.Barrier(n_threads)

    def worker(tid):
        try:
            barrier.wait()
            for i in range(n_iter):
                k = f"{key}{tid}:{i}"
                value = f"t{tid}-i{i}-" + "x" * (i % 50)
                assert r.set(k, value) is True
                got = r.get(k)
                assert got == value.encode(), (k, got)
                r.incr(key + "counter")
                assert r.hset(key + f"h{tid}", str(i), i) == 1
                assert r.hget(key + f"h{tid}", str(i)) == str(i).encode()
                if i % 25 == 0:
                    p = r.pipeline()
                    p.rpush(key + f"l{tid}", i).lrange(key + f"l{tid}", -1, -1)
                    assert p.execute()[1] == [str(i).encode()]
        except BaseException as e:  # collected and reported below
            errors.append((tid, repr(e)))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not any(t.is_alive() for t in threads), "threads hung"
    assert errors == []
    assert r.get(key + "counter") == str(n_threads * n_iter).encode()
    for tid in range(n_threads):
        assert r.hlen(key + f"h{tid}") == n_iter
    live = client_ids(topology.master, "sf-threads")
    assert 1 <= len(live) <= (16 if pool_kind == "ConnectionPool" else 4)
    pool.disconnect()


def _run_child(fn, timeout=20):
    """Fork; run fn() in the child; the child exits 0 if fn returns True. Returns the exit status."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        status = 1
        try:
            os.close(read_fd)
            ok = fn()
            os.write(write_fd, repr(ok).encode())
            status = 0 if ok is True else 1
        except BaseException as e:
            try:
                os.write(write_fd, repr(e).encode())
            except BaseException:
                pass
        finally:
            os._exit(status)
    os.close(write_fd)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("forked child hung")
        time.sleep(0.02)
    with os.fdopen(read_fd, "rb") as f:
        message = f.read().decode(errors="replace")
    return os.waitstatus_to_exitcode(status), message


@pytest.mark.parametrize("how", ["Redis", "master_for"])
def test_forked_child_uses_the_client(topology, key, how):
    if how == "Redis":
        r = sf.Redis(port=topology.master.port)
    else:
        r = sf.Sentinel(topology.sentinel_addresses, socket_timeout=2).master_for(topology.service_name)
    r.set(key + "parent", "p")
    parent_id = r.execute_command("CLIENT ID")

    def child():
        assert r.get(key + "parent") == b"p"
        assert r.set(key + "child", "c") is True
        child_id = r.execute_command("CLIENT ID")
        assert child_id != parent_id, "the child used its parent's socket"
        assert r.incr(key + "n") == 1
        return True

    code, message = _run_child(child)
    assert code == 0, f"child failed: {message}"
    # the parent's connection was neither closed nor disturbed by the child
    assert r.execute_command("CLIENT ID") == parent_id
    assert r.get(key + "child") == b"c"
    assert r.get(key + "parent") == b"p"
    assert r.incr(key + "n") == 2


def test_health_check_interval_pings_idle_connections(plain_server):
    def pings():
        info = plain_server.command("INFO", "commandstats").decode()
        for line in info.splitlines():
            if line.startswith("cmdstat_ping:"):
                return int(line.split("calls=")[1].split(",")[0])
        return 0

    r = sf.Redis(port=plain_server.port, health_check_interval=1)
    r.get("a")
    p0 = pings()
    r.get("a")
    assert pings() == p0, "health check sent although the connection was not idle"
    time.sleep(1.3)
    r.get("a")
    assert pings() == p0 + 1, "no health check PING after health_check_interval of idleness"


def test_health_check_replaces_a_dead_connection(plain_server):
    r = sf.Redis(port=plain_server.port, health_check_interval=1, retry=no_retry())
    r.set("a", "1")
    first = r.execute_command("CLIENT ID")
    plain_server.command("CLIENT", "KILL", "ID", str(first))
    time.sleep(1.3)
    assert r.get("a") == b"1"
    assert r.execute_command("CLIENT ID") != first


def test_pool_disconnect(topology):
    pool = sf.ConnectionPool(host="127.0.0.1", port=topology.master.port, client_name="sf-disc")
    r = sf.Redis(connection_pool=pool)
    c1, c2 = pool.get_connection(), pool.get_connection()
    conn_id(c1), conn_id(c2)
    pool.release(c1)
    pool.release(c2)
    assert len(client_ids(topology.master, "sf-disc")) == 2
    pool.disconnect()
    deadline = time.monotonic() + 2
    while client_ids(topology.master, "sf-disc") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client_ids(topology.master, "sf-disc") == set()
    assert r.ping() is True  # reconnects
    assert len(client_ids(topology.master, "sf-disc")) == 1
    pool.disconnect()


def test_client_close_releases_connections(topology):
    r = sf.Redis(port=topology.master.port, client_name="sf-close")
    r.ping()
    assert len(client_ids(topology.master, "sf-close")) == 1
    r.close()
    deadline = time.monotonic() + 2
    while client_ids(topology.master, "sf-close") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client_ids(topology.master, "sf-close") == set()


def test_pool_reset(topology):
    pool = sf.ConnectionPool(host="127.0.0.1", port=topology.master.port, max_connections=1)
    held = pool.get_connection()
    old_id = conn_id(held)
    with pytest.raises(sf_exceptions.MaxConnectionsError):
        pool.get_connection()
    pool.reset()
    fresh = pool.get_connection()  # the count starts again after reset()
    assert fresh is not held
    assert conn_id(fresh) != old_id
    pool.release(fresh)
    held.disconnect()
    pool.disconnect()
