"""Error replies -> redis-py's exception classes; exception interop; broken connections never reused."""

import socket
import threading

import pytest
import redis
import redis.exceptions
from conftest import ACL_USERS, testing
from sfimpl import no_retry, sf, sf_exceptions, sf_sentinel

_encode = testing.topology._encode_command
_read = testing.topology._read_reply


@pytest.fixture
def r(topology):
    client = sf.Redis(port=topology.master.port, retry=no_retry())
    yield client
    client.close()


def test_unknown_command_is_response_error_with_server_text(r, topology):
    with pytest.raises(sf_exceptions.ResponseError) as ours:
        r.execute_command("NOSUCHCOMMAND", "arg1")
    with pytest.raises(redis.exceptions.ResponseError) as ref:
        redis.Redis(port=topology.master.port).execute_command("NOSUCHCOMMAND", "arg1")
    assert type(ours.value).__name__ == "ResponseError"
    assert str(ours.value) == str(ref.value)
    assert str(ours.value).startswith("unknown command 'NOSUCHCOMMAND'")
    assert r.ping() is True  # the connection stays usable after an error reply


def test_wrongtype(r, key):
    r.rpush(key, "x")
    with pytest.raises(sf_exceptions.ResponseError) as excinfo:
        r.get(key)
    assert type(excinfo.value).__name__ == "ResponseError"
    assert str(excinfo.value) == "WRONGTYPE Operation against a key holding the wrong kind of value"


def test_wrong_arity(r):
    with pytest.raises(sf_exceptions.ResponseError) as excinfo:
        r.execute_command("GET")
    assert str(excinfo.value) == "wrong number of arguments for 'get' command"


def test_not_an_integer(r, key):
    r.set(key, "abc")
    with pytest.raises(sf_exceptions.ResponseError) as excinfo:
        r.incr(key)
    assert str(excinfo.value) == "value is not an integer or out of range"


def test_noscript_via_evalsha(r):
    with pytest.raises(sf_exceptions.NoScriptError) as excinfo:
        r.execute_command("EVALSHA", "0" * 40, 0)
    assert str(excinfo.value) == "No matching script. Please use EVAL."
    assert isinstance(excinfo.value, sf_exceptions.ResponseError)


def test_readonly_error_writing_to_replica(topology, key):
    replica = sf.Redis(port=topology.replicas[0].port, retry=no_retry())
    with pytest.raises(sf_exceptions.ReadOnlyError) as excinfo:
        replica.set(key, "x")
    assert str(excinfo.value) == "You can't write against a read only replica."
    assert isinstance(excinfo.value, sf_exceptions.ResponseError)
    assert replica.get(key) is None  # reads still work


def test_noperm_error(auth_server):
    r = sf.Redis(port=auth_server.port, username="reader", password=ACL_USERS["reader"], retry=no_retry())
    assert r.get("anything") is None
    with pytest.raises(sf_exceptions.NoPermissionError) as excinfo:
        r.set("anything", "x")
    assert "no permissions to run the 'set' command" in str(excinfo.value)
    assert isinstance(excinfo.value, sf_exceptions.ResponseError)


def test_authentication_error_is_connection_error(auth_server):
    r = sf.Redis(port=auth_server.port, password="nope", retry=no_retry())
    with pytest.raises(sf_exceptions.AuthenticationError) as excinfo:
        r.ping()
    assert isinstance(excinfo.value, sf_exceptions.ConnectionError)
    assert "invalid username-password pair" in str(excinfo.value)


def test_out_of_memory_error(plain_server):
    r = sf.Redis(port=plain_server.port, retry=no_retry())
    r.execute_command("CONFIG", "SET", "maxmemory", "1")
    with pytest.raises(sf_exceptions.OutOfMemoryError) as excinfo:
        r.set("k", "v")
    assert str(excinfo.value) == "command not allowed when used memory > 'maxmemory'."
    assert isinstance(excinfo.value, sf_exceptions.ResponseError)
    r.execute_command("CONFIG", "SET", "maxmemory", "0")
    assert r.set("k", "v") is True


def test_max_clients_reached_is_connection_error(plain_server):
    holder = sf.Redis(port=plain_server.port)
    holder.execute_command("CONFIG", "SET", "maxclients", "1")
    try:
        other = sf.Redis(port=plain_server.port, retry=no_retry())
        with pytest.raises(sf_exceptions.ConnectionError) as excinfo:
            other.ping()
        assert "max number of clients reached" in str(excinfo.value)
    finally:
        holder.execute_command("CONFIG", "SET", "maxclients", "100")
    assert sf.Redis(port=plain_server.port).ping() is True


# --------------------------------------------------------------------------------------------
# The exception hierarchy and interop with redis-py
# --------------------------------------------------------------------------------------------

EXCEPTION_NAMES = [
    "RedisError", "ConnectionError", "AuthenticationError", "AuthorizationError", "BusyLoadingError",
    "MaxConnectionsError", "TimeoutError", "InvalidResponse", "DataError", "PubSubError", "WatchError",
    "ResponseError", "NoScriptError", "OutOfMemoryError", "ExecAbortError", "ReadOnlyError",
    "NoPermissionError", "ModuleError", "LockError", "LockNotOwnedError",
]  # fmt: skip


@pytest.mark.parametrize("name", EXCEPTION_NAMES)
def test_exception_hierarchy_matches_redis_py(name):
    ours = getattr(sf_exceptions, name)
    for other in EXCEPTION_NAMES:
        assert issubclass(ours, getattr(sf_exceptions, other)) == issubclass(
            getattr(redis.exceptions, name), getattr(redis.exceptions, other)
        ), f"{name} vs {other}"
    # `except redis.exceptions.X` must catch sentinelfast's X
    assert issubclass(ours, getattr(redis.exceptions, name))
    # same relation to the built-ins (ConnectionError/TimeoutError are not the built-in ones)
    for builtin in (ConnectionError, TimeoutError, ValueError, Exception):
        assert issubclass(ours, builtin) == issubclass(getattr(redis.exceptions, name), builtin)


def test_sentinel_errors_are_connection_errors():
    assert issubclass(sf_sentinel.MasterNotFoundError, sf_exceptions.ConnectionError)
    assert issubclass(sf_sentinel.SlaveNotFoundError, sf_exceptions.ConnectionError)
    assert sf_sentinel.ReplicaNotFoundError is sf_sentinel.SlaveNotFoundError
    assert issubclass(sf_sentinel.MasterNotFoundError, redis.exceptions.ConnectionError)


def test_redis_py_except_clauses_catch_our_errors(r, key):
    r.rpush(key, "x")
    try:
        r.get(key)
    except redis.exceptions.ResponseError as e:
        assert "WRONGTYPE" in str(e)
    else:
        pytest.fail("no error raised")
    try:
        r.execute_command("EVALSHA", "f" * 40, 0)
    except redis.exceptions.NoScriptError:
        pass
    try:
        r.set(key, None)
    except redis.exceptions.DataError:
        pass
    refused = sf.Redis(port=testing.find_free_port(), retry=no_retry())
    try:
        refused.ping()
    except redis.exceptions.ConnectionError:
        pass
    # and the redis-py base class catches everything
    with pytest.raises(redis.exceptions.RedisError):
        r.get(key)


def test_redis_py_except_catches_timeout(plain_server):
    r = sf.Redis(port=plain_server.port, socket_timeout=0.3, retry=no_retry())
    with pytest.raises(redis.exceptions.TimeoutError):
        r.execute_command("DEBUG", "SLEEP", "0.6")


# --------------------------------------------------------------------------------------------
# A connection that failed in the middle of a command is closed, never reused
# --------------------------------------------------------------------------------------------


def test_connection_killed_by_server_is_replaced(topology, key):
    r = sf.Redis(port=topology.master.port, retry=no_retry())
    r.set(key, "v")
    first_id = r.execute_command("CLIENT ID")
    topology.master.command("CLIENT", "KILL", "ID", str(first_id))
    try:
        # either noticed before sending (and reconnected) or reported as a ConnectionError
        assert r.get(key) == b"v"
    except sf_exceptions.ConnectionError:
        pass
    assert r.get(key) == b"v"
    second_id = r.execute_command("CLIENT ID")
    assert second_id != first_id
    assert r.execute_command("CLIENT ID") == second_id  # and the new one is kept


class TruncatingServer:
    """A fake server: answers +OK to everything, and to GET first sends half a reply and closes the
    connection; on later connections GET gets the full reply."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.truncated = False
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        with conn, conn.makefile("rb") as f:
            while True:
                try:
                    cmd = _read(f)
                except (ConnectionError, OSError, ValueError):
                    return
                name = cmd[0].upper() if isinstance(cmd, list) and cmd else b""
                if name == b"GET":
                    if not self.truncated:
                        self.truncated = True
                        conn.sendall(b"$10\r\nhalf")
                        conn.shutdown(socket.SHUT_RDWR)
                        return
                    conn.sendall(b"$10\r\n0123456789\r\n")
                elif name == b"HELLO":  # answer like Redis 7, in the protocol asked for
                    proto = int(cmd[1]) if len(cmd) > 1 else 2
                    head = b"%2\r\n" if proto == 3 else b"*4\r\n"
                    conn.sendall(head + b"$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:%d\r\n" % proto)
                else:
                    conn.sendall(b"+OK\r\n")

    def close(self):
        self._stop = True
        self.sock.close()


def test_connection_broken_mid_reply_is_not_reused():
    server = TruncatingServer()
    try:
        r = sf.Redis(port=server.port, socket_timeout=2, retry=no_retry())
        with pytest.raises(sf_exceptions.ConnectionError):
            r.get("k")
        assert r.get("k") == b"0123456789"
        assert server.connections == 2
    finally:
        server.close()
