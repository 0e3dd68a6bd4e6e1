"""Scores of sorted-set replies become floats exactly as ``float()`` makes them.

The C callback converts short decimals ([-]digits[.digits], at most 15 digits) itself
and leaves everything else to the general conversion; these tests hold both paths to
``float()``'s value, bit for bit (the sign of zero included), and to its errors."""

import math
import random
import struct

import pytest

from sentinelfast import _core


def converted(score):
    return _core.parse_zset_range([b"member", score], withscores=True)[0][1]


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
        if want is ValueError:
            with pytest.raises(ValueError):
                converted(score)
        else:
            got = converted(score)
            assert type(got) is float and same(got, want), (score, got, want)


def test_random_decimals_equal_float_bit_for_bit():
    rng = random.Random(20261202)
    for _ in range(20000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 17)))
        point = rng.randint(1, len(digits))
        text = rng.choice(["", "-"]) + digits[:point] + "." + digits[point:]
        text = text.rstrip(".")
        assert same(converted(text.encode()), float(text)), text
    for _ in range(20000):
        x = rng.uniform(-1e9, 1e9)
        for text in (repr(x), "%.15g" % x, "%.17g" % x, "%.3f" % x):
            assert same(converted(text.encode()), float(text)), text
