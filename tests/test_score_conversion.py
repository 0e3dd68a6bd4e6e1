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
    return reader.gets(shape=_core.SHAPE_SCORED_PAIRS)[0][1]


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
    by_reader = reader.gets(shape=_core.SHAPE_SCORED_PAIRS)
    assert len(by_callback) == len(by_reader) == len(texts)
    for text, (_, a), (_, b) in zip(texts, by_callback, by_reader):
        want = float(text)
        assert same(a, want) and same(b, want), (text, a, b, want)
