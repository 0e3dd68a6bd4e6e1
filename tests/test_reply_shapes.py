"""Reply shapes: the reader builds a WITHSCORES reply's (member, score) pairs while it
parses, instead of a list that the response callback turns into them.

What a user would check is that nothing changes: for any reply, well-formed or hostile,
read whole or split at any byte, the shaped read gives what the callback
(``zset_score_pairs``, redis-py's function, in C) makes of the plain read, or raises the
same error once the whole reply was read, and the stream stays in step. The clients'
results are compared with redis-py's on a real server in test_differential.py; here the
client is held to the same on the commands that use the shape, with the options that
keep the callback."""
import math
import struct

import pytest
import redis

import sentinelfast as sf
from sentinelfast import _core

SCORED = _core.SHAPE_SCORED_PAIRS

# Replies a server could send to a WITHSCORES command, well-formed or not.
CASES = [
    b"*0\r\n",
    b"*2\r\n$1\r\na\r\n$3\r\n1.5\r\n",
    b"*4\r\n$1\r\na\r\n$3\r\n1.5\r\n$1\r\nb\r\n$4\r\n-inf\r\n",
    b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n2\r\n",               # a member twice
    b"*3\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nc\r\n",                          # odd: last dropped
    b"*1\r\n$1\r\na\r\n",
    b"*2\r\n$-1\r\n$1\r\n2\r\n",                                         # nil member
    b"*2\r\n$1\r\na\r\n:7\r\n",                                          # integer score
    b"*2\r\n$1\r\na\r\n+3.25\r\n",                                       # status score
    b"*2\r\n$1\r\na\r\n$3\r\nabc\r\n",                                   # float() refuses it
    b"*4\r\n$1\r\na\r\n$3\r\nabc\r\n$1\r\nb\r\n$0\r\n\r\n",                  # two refusals
    b"*2\r\n$1\r\na\r\n$-1\r\n",                                         # nil score
    b"*2\r\n$1\r\na\r\n-ERR odd\r\n",                                    # error element
    b"*2\r\n-ERR key\r\n$1\r\n1\r\n",                                    # error as the member
    b"*2\r\n*1\r\n$1\r\nx\r\n$1\r\n5\r\n",                                # array member
    b"*2\r\n$1\r\na\r\n*1\r\n$1\r\n5\r\n",                                # array score
    b"*2\r\n*2\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\n5\r\n",                      # nested: not shaped
    b"*4\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\nb\r\n$3\r\n2.5\r\n",                # refused, then fine
    b"*-1\r\n", b"$-1\r\n", b"+OK\r\n", b"-ERR no\r\n", b":3\r\n", b"$2\r\n10\r\n",
]



def outcome(call):
    try:
        return ("value", call())
    except Exception as e:
        return ("error", type(e), str(e))


def as_client_returns(reply, shaped):
    """What the client returns for a reply read plainly (the callback runs on it) or with
    the shape (a non-empty list of pairs is the result; anything else goes through the
    callback); an error reply is raised."""
    if isinstance(reply, Exception):
        raise reply
    if shaped and isinstance(reply, list) and reply and isinstance(reply[0], tuple):
        return reply
    return _core.parse_zset_range(reply, withscores=True)


def read(data, decode, piece, shaped):
    reader = _core.Reader(decode_responses=decode)
    for i in range(0, len(data), piece):
        reader.feed(data[i:i + piece])

    def get():
        reply = reader.gets(shape=SCORED if shaped else _core.SHAPE_LIST)
        assert reply is not False
        return as_client_returns(reply, shaped)
    return outcome(get), reader


def same(a, b):
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, Exception) and isinstance(b, Exception):
        return type(a) is type(b) and a.args == b.args
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("data", CASES)
@pytest.mark.parametrize("decode", [False, True], ids=["bytes", "decode"])
def test_shaped_read_is_the_callbacks_result(data, decode):
    """Any reply read with the shape gives what the callback gives for the plain reply:
    the same value, or the same error once the whole reply was read; and the next reply
    reads in step."""
    want, _ = read(data, decode, len(data), shaped=False)
    for piece in (1, 2, 3, 5, len(data)):
        got, reader = read(data + b"+NEXT\r\n", decode, piece, shaped=True)
        assert got[0] == want[0], (piece, got, want)
        if got[0] == "error":
            assert got[1:] == want[1:], (piece, got, want)
        else:
            assert same(got[1], want[1]), (piece, got, want)
        assert reader.gets() in (b"NEXT", "NEXT")


def test_a_shape_applies_to_the_reply_that_starts_in_the_call():
    reader = _core.Reader()
    reader.feed(b"*2\r\n$1\r\na\r\n")
    assert reader.gets(shape=SCORED) is False
    reader.feed(b"$1\r\n2\r\n*2\r\n$1\r\nb\r\n$1\r\n3\r\n")
    assert reader.gets() == [(b"a", 2.0)]        # opened shaped, finished in a plain call
    assert reader.gets() == [b"b", b"3"]         # the next one: as asked, plain


def test_gets_takes_only_a_known_shape():
    reader = _core.Reader()
    reader.feed(b"*2\r\n$1\r\na\r\n$1\r\n2\r\n")
    for call, error in ((lambda: reader.gets(SCORED), TypeError),
                        (lambda: reader.gets(scored=True), TypeError),
                        (lambda: reader.gets(shape=SCORED, other=1), TypeError),
                        (lambda: reader.gets(shape="scored"), TypeError),
                        (lambda: reader.gets(shape=7), ValueError)):
        with pytest.raises(error):
            call()
    assert reader.gets(shape=SCORED) == [(b"a", 2.0)]


@pytest.mark.parametrize("decode", [False, True], ids=["bytes", "decode"])
def test_client_results_with_and_without_the_shapes(topology, key, decode):
    """The commands whose callback the reader can stand in for, with the options that
    keep the callback (score_cast_func, withscores=False), against redis-py; HGETALL,
    whose callback is also in C, beside them."""
    r = sf.Redis(port=topology.master.port, decode_responses=decode)
    rp = redis.Redis(port=topology.master.port, decode_responses=decode, protocol=2)
    r.hset(key + "h", mapping={"f%d" % i: "v%d" % i for i in range(300)})
    r.zadd(key + "z", {"m%d" % i: i / 4 for i in range(300)})
    try:
        for c in (r, rp):
            c.set(key + "s", "x")
        calls = [
            lambda c: c.hgetall(key + "h"), lambda c: c.hgetall(key + "missing"),
            lambda c: c.zrange(key + "z", 0, -1, withscores=True),
            lambda c: c.zrange(key + "z", 0, 5, withscores=True, score_cast_func=int),
            lambda c: c.zrange(key + "z", 0, 5, withscores=True, score_cast_func=str),
            lambda c: c.zrange(key + "z", 0, 5),
            lambda c: c.zrevrangebyscore(key + "z", 50, 10, withscores=True),
            lambda c: c.zrange(key + "missing", 0, -1, withscores=True),
        ]
        for call in calls:
            assert same(call(r), call(rp))
        for call in (lambda c: c.hgetall(key + "s"),
                     lambda c: c.zrange(key + "s", 0, -1, withscores=True)):
            with pytest.raises(redis.ResponseError) as ours:
                call(r)
            with pytest.raises(redis.ResponseError) as theirs:
                call(rp)
            assert str(ours.value) == str(theirs.value)
        assert r.ping() is True          # in step after the errors
    finally:
        rp.close()
        r.close()
