"""Scores of sorted-set replies become floats exactly as ``float()`` makes them.

The C callback converts short decimals ([-]digits[.digits], at most 15 digits) itself
and leaves everything else to the general conversion; these tests hold both paths to
``float()``'s value, bit for bit (the sign of zero included), and to its errors. The
reader's scored-pairs shape (what a client's ZRANGE ... WITHSCORES reads: the pairs
built while the reply is parsed, a score converted from its text) is held to the
same, and to the callback's result for any reply, hostile ones included."""

import math
import random
import struct

import pytest

from sentinelfast import _core


def converted(score):
    return _core.parse_zset_range([b"member", score], withscores=True)[0][1]


def bulk(value):
    data = value.encode() if isinstance(value, str) else value
    return b"$%d\r\n%s\r\n" % (len(data), data)


def read_by_reader(score):
    """The score as the reader's scored-pairs shape converts it (from its text)."""
    reader = _core.Reader(decode_responses=isinstance(score, str))
    reader.feed(b"*2\r\n" + bulk("member") + bulk(score))
    return reader.gets(scored_pairs=True)[0][1]


def expected(score):
    try:
        return float(score)
    except ValueError:
        return ValueError


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    return a == b


EDGE_CASES = [
    "0", "-0", "0.0", "-0.0", "1", "-1", "0.1", "0.2", "0.3", "1.5", "-12.75", "999.25",
    "123456789012345", "12345678901234.5", "0.00000000000001", "0.000000000000001",
    "1234567890123456", "9007199254740993", "0.1000000000000000055511151231257827",
    "1.", ".5", "-.5", "1..2", "1.-2", "-", "", ".", "--1", "1e5", "1E-5", "inf", "-inf",
    "+inf", "nan", "1_0", " 1", "1 ", "00.1", "007", "1.5\x00", "\x001",
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases_equal_float(text):
    for score in (text.encode(), text):
        want = expected(score)
        for convert in (converted, read_by_reader):
            if want is ValueError:
                with pytest.raises(ValueError):
                    convert(score)
            else:
                got = convert(score)
                assert type(got) is float and same(got, want), (convert, score, got, want)


def test_random_decimals_equal_float_bit_for_bit():
    rng = random.Random(20261202)
    texts = []
    for _ in range(20000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 17)))
        point = rng.randint(1, len(digits))
        text = rng.choice(["", "-"]) + digits[:point] + "." + digits[point:]
        texts.append(text.rstrip("."))
    for _ in range(20000):
        x = rng.uniform(-1e9, 1e9)
        texts += [repr(x), "%.15g" % x, "%.17g" % x, "%.3f" % x]
    raw = [text.encode() for text in texts]
    # the callback, and the reader's shape on one reply holding every score
    by_callback = _core.parse_zset_range([b for text in raw for b in (b"m", text)],
                                         withscores=True)
    reader = _core.Reader()
    reader.feed(b"*%d\r\n" % (2 * len(raw)) + b"".join(bulk("m") + bulk(text) for text in raw))
    by_reader = reader.gets(scored_pairs=True)
    assert len(by_callback) == len(by_reader) == len(texts)
    for text, (_, a), (_, b) in zip(texts, by_callback, by_reader):
        want = float(text)
        assert same(a, want) and same(b, want), (text, a, b, want)


# Replies a server could send for a WITHSCORES command, well-formed or not.
SHAPED_CASES = [
    b"*0\r\n",
    b"*2\r\n$1\r\na\r\n$3\r\n1.5\r\n",
    b"*4\r\n$1\r\na\r\n$3\r\n1.5\r\n$1\r\nb\r\n$4\r\n-inf\r\n",
    b"*3\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nc\r\n",                    # odd: last dropped
    b"*1\r\n$1\r\na\r\n",
    b"*2\r\n$-1\r\n$1\r\n2\r\n",                                   # nil member
    b"*2\r\n$1\r\na\r\n:7\r\n",                                    # integer score
    b"*2\r\n$1\r\na\r\n+3.25\r\n",                                 # status score
    b"*2\r\n$1\r\na\r\n$3\r\nabc\r\n",                            # float() refuses it
    b"*4\r\n$1\r\na\r\n$3\r\nabc\r\n$1\r\nb\r\n$0\r\n\r\n",          # two refusals
    b"*2\r\n$1\r\na\r\n$-1\r\n",                                   # nil score
    b"*2\r\n$1\r\na\r\n-ERR odd\r\n",                              # error element
    b"*2\r\n*1\r\n$1\r\nx\r\n$1\r\n5\r\n",                          # array member
    b"*2\r\n$1\r\na\r\n*1\r\n$1\r\n5\r\n",                          # array score
    b"*2\r\n*2\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\n5\r\n",                # nested: not shaped
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
        reply = reader.gets(scored_pairs=shaped)
        assert reply is not False
        return as_client_returns(reply, shaped)
    return outcome(get), reader


def same_value(a, b):
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return (type(a) is type(b) and len(a) == len(b)
                and all(same_value(x, y) for x, y in zip(a, b)))
    if isinstance(a, Exception) and isinstance(b, Exception):
        return type(a) is type(b) and a.args == b.args
    return same(a, b)


@pytest.mark.parametrize("data", SHAPED_CASES)
@pytest.mark.parametrize("decode", [False, True])
def test_scored_pairs_shape_is_the_callbacks_result(data, decode):
    """Any reply read with the scored-pairs shape gives what parse_zset_range (redis-py's
    zset_score_pairs) gives for the plain reply: the same pairs, or the same error, once
    the whole reply was read; and the stream stays in step for the next reply."""
    want, _ = read(data, decode, len(data), shaped=False)
    for piece in (1, 2, 3, 5, len(data)):
        got, reader = read(data + b"+NEXT\r\n", decode, piece, shaped=True)
        assert got[0] == want[0], (piece, got, want)
        if got[0] == "error":
            assert got[1:] == want[1:], (piece, got, want)
        else:
            assert same_value(got[1], want[1]), (piece, got, want)
        assert reader.gets() in (b"NEXT", "NEXT")


def test_scored_pairs_shape_applies_to_the_reply_that_starts_in_the_call():
    reader = _core.Reader()
    reader.feed(b"*2\r\n$1\r\na\r\n")
    assert reader.gets(scored_pairs=True) is False
    reader.feed(b"$1\r\n2\r\n*2\r\n$1\r\nb\r\n$1\r\n3\r\n")
    assert reader.gets() == [(b"a", 2.0)]          # opened shaped, finished in a plain call
    assert reader.gets() == [b"b", b"3"]           # the next one: as asked, plain


def test_gets_takes_only_scored_pairs():
    reader = _core.Reader()
    reader.feed(b"*2\r\n$1\r\na\r\n$1\r\n2\r\n")
    for call in (lambda: reader.gets(True), lambda: reader.gets(shape=True),
                 lambda: reader.gets(scored_pairs=True, other=1)):
        with pytest.raises(TypeError):
            call()
    assert reader.gets(scored_pairs=1) == [(b"a", 2.0)]
