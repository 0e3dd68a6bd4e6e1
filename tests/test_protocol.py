"""The I/O-free protocol layer (csrc/protocol.c): the handshake's commands and the
judgement of their replies, and what a reply means for its connection.

The blocking connection drives these rules itself; here they are driven by hand, the way
an asyncio front end does: bytes out, replies in, no socket owned by the core.
"""
import socket

import pytest

from conftest import ACL_USERS, AUTH_PASSWORD
from sentinelfast import _core
from sentinelfast import exceptions as exc

import hiredis  # noqa: E402  (the [test] extra installs it: redis[hiredis])


def _exchange(address, payload: bytes, count: int):
    """Send `payload` on a fresh socket and read `count` replies (errors as our classes)."""
    reader = hiredis.Reader(replyError=exc.error_from_reply)
    replies = []
    with socket.create_connection(address, timeout=5) as s:
        s.sendall(payload)
        while len(replies) < count:
            data = s.recv(65536)
            assert data, "server closed the connection"
            reader.feed(data)
            while len(replies) < count:
                reply = reader.gets()
                if reply is False:
                    break
                replies.append(reply)
    return replies


def test_no_options_no_commands():
    hs = _core.Handshake()
    assert hs.commands == b""
    assert hs.reply_count == 0
    assert hs.check([]) == _core.HANDSHAKE_OK


def test_commands_are_redis_py_encodings():
    hs = _core.Handshake(username="alice", password="pw", client_name="app", db=3,
                         check_role=True)
    assert hs.commands == (
        b"*3\r\n$4\r\nAUTH\r\n$5\r\nalice\r\n$2\r\npw\r\n"
        b"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$3\r\napp\r\n"
        b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n"
        b"*1\r\n$4\r\nROLE\r\n"
    )
    assert hs.reply_count == 4


def test_username_without_password_sends_no_auth():
    assert _core.Handshake(username="alice").commands == b""


def test_failed_steps_raise_redis_py_errors():
    hs = _core.Handshake(password="pw", client_name="app", db=1)
    with pytest.raises(exc.AuthenticationError, match="Invalid Username or Password"):
        hs.check([b"NOPE", b"OK", b"OK"])
    with pytest.raises(exc.ConnectionError, match="Error setting client name"):
        hs.check([b"OK", b"NOPE", b"OK"])
    with pytest.raises(exc.ConnectionError, match="Invalid Database"):
        hs.check([b"OK", b"OK", b"NOPE"])
    error = exc.error_from_reply("WRONGPASS invalid username-password pair")
    with pytest.raises(exc.AuthenticationError) as raised:
        hs.check([error, b"OK", b"OK"])
    assert raised.value is error
    with pytest.raises(ValueError):
        hs.check([b"OK"])


def test_role_check():
    hs = _core.Handshake(check_role=True)
    assert hs.check([[b"master", 10, []]]) == _core.HANDSHAKE_OK
    assert hs.check([["master", 10, []]]) == _core.HANDSHAKE_OK
    assert hs.check([[b"slave", b"127.0.0.1", 6379, b"connected", 10]]) == \
        _core.HANDSHAKE_NOT_MASTER
    assert hs.check([[]]) == _core.HANDSHAKE_NOT_MASTER
    assert hs.check([b"master"]) == _core.HANDSHAKE_NOT_MASTER


def test_handshake_driven_over_a_raw_socket(auth_server):
    """The commands the core builds, sent by someone else's I/O, judged by the core."""
    good = _core.Handshake(username="alice", password=ACL_USERS["alice"], client_name="hs",
                           db=2, check_role=True)
    replies = _exchange(auth_server.address, good.commands, good.reply_count)
    assert good.check(replies) == _core.HANDSHAKE_OK

    bad = _core.Handshake(password=AUTH_PASSWORD + "-wrong")
    replies = _exchange(auth_server.address, bad.commands, bad.reply_count)
    with pytest.raises(exc.AuthenticationError):
        bad.check(replies)

    bad_db = _core.Handshake(password=AUTH_PASSWORD, db=100000)
    replies = _exchange(auth_server.address, bad_db.commands, bad_db.reply_count)
    with pytest.raises(exc.ResponseError):
        bad_db.check(replies)


def test_classify_reply():
    readonly = exc.error_from_reply("READONLY You can't write against a read only replica.")
    other = exc.error_from_reply("WRONGTYPE Operation against a key holding the wrong kind")
    assert _core.classify_reply(b"OK", True) == _core.REPLY_VALUE
    assert _core.classify_reply(None, False) == _core.REPLY_VALUE
    assert _core.classify_reply(other, True) == _core.REPLY_ERROR
    assert _core.classify_reply(readonly, False) == _core.REPLY_ERROR
    assert _core.classify_reply(readonly, True) == _core.REPLY_DEMOTED
