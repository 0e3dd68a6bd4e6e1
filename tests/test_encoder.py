"""The command encoder without a connection (``_core.encode_command``): byte-exact against
redis-py's own Python encoder (``PythonRespSerializer`` + ``Encoder``, which is what
``Connection.pack_command`` uses when hiredis is not installed)."""

import enum
import sys

import pytest
from redis._parsers.encoders import Encoder
from redis.connection import PythonRespSerializer
from redis.exceptions import DataError as RedisPyDataError

from sentinelfast import _core
from sentinelfast.exceptions import DataError

encode_command = _core.encode_command


def redis_py_pack(*args, encoding="utf-8", errors="strict"):
    """What redis-py sends for ``args`` (its pure-Python packer, joined)."""
    packer = PythonRespSerializer(6000, Encoder(encoding, errors, False).encode)
    return b"".join(bytes(chunk) for chunk in packer.pack(*args))


class Color(enum.IntEnum):
    RED = 1


CASES = [
    ("PING",),
    ("GET", "key"),
    ("SET", "k", "v", "EX", 10),
    (b"GET", b"\x00\xff\r\n"),
    ("SET", "k", ""),
    ("SET", "k", "é€😀"),
    ("CONFIG GET", "maxmemory"),
    ("SENTINEL GET-MASTER-ADDR-BY-NAME", "mymaster"),
    ("CLIENT  KILL\tTYPE\nnormal", "x"),      # every ASCII whitespace splits a str name
    (b"CONFIG GET", b"maxmemory"),            # a bytes name with a space is split
    (b"A\tB", "x"),                          # ... a bytes name without a space is not
    (bytearray(b"CONFIG GET"), "x"),          # a bytearray name too, like bytes
    (memoryview(b"CONFIG GET"), "x"),         # a memoryview name is never split
    ("   ", "x"),                             # a name of whitespace only: no word at all
    ("A B C D E F G H I J K L", 1),           # any number of words
    ("SET", "k", 0), ("SET", "k", -1), ("SET", "k", 2**63 - 1), ("SET", "k", -(2**63)),
    ("SET", "k", 2**64), ("SET", "k", -(10**40)),
    ("SET", "k", 1.5), ("SET", "k", 0.1), ("SET", "k", 1e100), ("SET", "k", -0.0),
    ("SET", "k", float("inf")), ("SET", "k", float("nan")), ("SET", "k", 1e-7),
    ("SET", "k", Color.RED),                  # int subclass: repr(), as redis-py
    ("SET", "k", bytearray(b"ba")),
    ("SET", "k", memoryview(b"mv")),
    ("SET", "k", memoryview(b"xxsliced")[2:]),
    ("SET", "k", b"x" * 100_000),             # beyond redis-py's buffer cutoff
]


def _case_id(args):
    """A test id that is the same in every process (pytest-xdist compares them): a
    memoryview's repr holds its address, so it is shown by its bytes."""
    shown = tuple(f"memoryview({bytes(a)!r})" if isinstance(a, memoryview) else a for a in args)
    return repr(shown)[:50]


@pytest.mark.parametrize("args", CASES, ids=[_case_id(c) for c in CASES])
def test_same_bytes_as_redis_py(args):
    assert encode_command(*args) == redis_py_pack(*args)


@pytest.mark.parametrize("encoding,errors,value", [
    ("latin-1", "strict", "café"),
    ("utf-16", "strict", "hé"),
    ("ascii", "replace", "héllo"),
    ("ascii", "ignore", "héllo"),
    ("utf-8", "surrogateescape", "a\udcff"),
    ("utf-8", "strict", "plain"),
])
def test_encoding_and_errors_like_redis_py(encoding, errors, value):
    got = encode_command("SET", "ké", value, encoding=encoding, errors=errors)
    assert got == redis_py_pack("SET", "ké", value, encoding=encoding, errors=errors)


def test_command_name_is_always_utf8():
    """redis-py encodes the (str) command name with UTF-8 whatever the encoding."""
    got = encode_command("ÉCHO", "é", encoding="latin-1")
    assert got == b"*2\r\n$5\r\n\xc3\x89CHO\r\n$1\r\n\xe9\r\n"
    assert got == redis_py_pack("ÉCHO", "é", encoding="latin-1")


@pytest.mark.parametrize("bad", [True, False, None, object(), [1], {"a": 1}, (1,), 1j, {1}])
def test_unsupported_types_are_data_error_with_redis_py_message(bad):
    with pytest.raises(RedisPyDataError) as theirs:
        redis_py_pack("SET", "k", bad)
    with pytest.raises(DataError) as ours:
        encode_command("SET", "k", bad)
    assert str(ours.value) == str(theirs.value)
    assert isinstance(ours.value, RedisPyDataError)   # catchable as redis-py's class


def test_type_name_without_module_prefix():
    import datetime
    with pytest.raises(DataError, match=r"Invalid input of type: 'datetime'\. "):
        encode_command("SET", "k", datetime.datetime(2020, 1, 1))


def test_unencodable_str_raises_unicode_error():
    with pytest.raises(UnicodeEncodeError):
        encode_command("SET", "k", "é", encoding="ascii")
    with pytest.raises(UnicodeEncodeError):
        encode_command("SET", "k", "\udcff")   # lone surrogate, strict UTF-8


def test_bad_options():
    with pytest.raises(LookupError):
        encode_command("SET", "k", "v", encoding="no-such-codec")
    with pytest.raises(TypeError):
        encode_command("SET", "k", encoding=b"utf-8")
    with pytest.raises(TypeError):
        encode_command("SET", "k", bogus=1)
    with pytest.raises(TypeError):
        encode_command()


def test_error_leaves_nothing_half_encoded():
    """A failure in the middle raises; the next call is unaffected."""
    with pytest.raises(DataError):
        encode_command("SET", "k" * 10_000, None)
    assert encode_command("PING") == b"*1\r\n$4\r\nPING\r\n"


def test_no_reference_leak():
    value = "v" * 100
    before = sys.getrefcount(value)
    for _ in range(1000):
        encode_command("SET", "k", value)
        with pytest.raises(DataError):
            encode_command("SET", value, None)
    assert sys.getrefcount(value) == before
