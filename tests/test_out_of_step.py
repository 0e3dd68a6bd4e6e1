"""No reply is ever handed to the wrong command.

A connection whose stream is out of step with its commands (a reply asked for and never
read, or bytes the server sent beyond what was asked) is closed before anyone uses it
again; an exchange that finds extra bytes after its replies fails instead of returning
what may answer something else. Real servers for the first case; a fake server for the
second, since a real Redis never sends unasked bytes.
"""
import socket
import threading

import pytest

from sfimpl import IMPL, no_retry, sf, sf_exceptions

pytestmark = pytest.mark.skipif(IMPL != "sentinelfast",
                                reason="redis-py does not detect these (the faults under test)")


def _client_id(r):
    return r.execute_command("CLIENT", "ID")


def test_unread_reply_is_never_returned_to_the_next_command(plain_server, key):
    r = sf.Redis(*plain_server.address, retry=no_retry())
    r.set(key, "before")
    conn = r.connection_pool.get_connection()
    conn.send_command("SET", key, "after")        # its +OK is never read
    r.connection_pool.release(conn)
    assert r.get(key) == b"after"                 # not the stale b"OK"
    assert r.get(key) == b"after"


def test_unread_packed_commands_are_counted(plain_server, key):
    r = sf.Redis(*plain_server.address, retry=no_retry())
    conn = r.connection_pool.get_connection()
    packed = conn.pack_command("SET", key, "x") + conn.pack_command("INCR", key + "n")
    conn.send_packed_command(packed)
    assert conn.read_response() == b"OK"           # one of two replies read
    r.connection_pool.release(conn)
    assert r.get(key + "n") == b"1"               # the INCR ran; its reply is not this
    assert r.get(key) == b"x"


def test_replies_read_by_hand_keep_the_connection(plain_server, key):
    """send_command + read_response in step: the connection is kept (no reconnect)."""
    r = sf.Redis(*plain_server.address, retry=no_retry())
    before = _client_id(r)
    conn = r.connection_pool.get_connection()
    conn.send_command("SET", key, "1")
    conn.send_command("GET", key)
    assert conn.read_response() == b"OK"
    assert conn.read_response() == b"1"
    r.connection_pool.release(conn)
    assert _client_id(r) == before

    conn = r.connection_pool.get_connection()
    conn.send_packed_command([conn.pack_command("PING")[0], conn.pack_command("GET", key)[0]])
    assert conn.read_response() == b"PONG"
    assert conn.read_response() == b"1"
    r.connection_pool.release(conn)
    assert _client_id(r) == before


class ChattyServer:
    """Answers every command with +OK; the first `chatty` answers carry an extra line."""

    def __init__(self, chatty: int):
        self.chatty = chatty
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.address = self.sock.getsockname()
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        buf = b""
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                # Answer every whole command received so far in ONE write, so that an
                # extra line and the replies after it reach the client together (a
                # client can only see extra bytes that arrive with what it reads).
                replies = b""
                while True:
                    n, consumed = _one_command(buf)
                    if n is None:
                        break
                    buf = buf[consumed:]
                    replies += b"+OK\r\n"
                    if self.chatty > 0:
                        self.chatty -= 1
                        replies += b"+EXTRA\r\n"
                if replies:
                    conn.sendall(replies)

    def close(self):
        self._stop = True
        self.sock.close()


def _one_command(buf: bytes):
    if not buf.startswith(b"*") or b"\r\n" not in buf:
        return None, 0
    head, _, rest = buf.partition(b"\r\n")
    count = int(head[1:])
    pos = len(head) + 2
    for _ in range(count):
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return None, 0
        size = int(buf[pos + 1:end])
        pos = end + 2 + size + 2
        if pos > len(buf):
            return None, 0
    return count, pos


@pytest.fixture
def chatty():
    server = ChattyServer(chatty=1)
    yield server
    server.close()


def test_extra_bytes_after_a_reply_fail_the_command_and_close(chatty):
    r = sf.Redis(*chatty.address, retry=no_retry())
    with pytest.raises(sf_exceptions.ConnectionError, match="out of sync"):
        r.set("k", "v")
    # the next command gets a new connection, and the stale +EXTRA is never its reply
    assert r.set("k", "v") is True
    assert chatty.connections == 2


def test_extra_bytes_after_pipeline_replies(chatty):
    r = sf.Redis(*chatty.address, retry=no_retry())
    with pytest.raises(sf_exceptions.ConnectionError, match="out of sync"):
        r.pipeline(transaction=False).set("a", 1).set("b", 2).execute()
    assert r.pipeline(transaction=False).set("a", 1).set("b", 2).execute() == [True, True]


def test_retry_policy_recovers_from_extra_bytes(chatty):
    r = sf.Redis(*chatty.address)            # default retry: once more on ConnectionError
    assert r.set("k", "v") is True
    assert chatty.connections == 2
