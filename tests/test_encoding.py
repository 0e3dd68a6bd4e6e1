"""Command encoding by redis-py's rules, reply decoding, and bad arguments (DataError/TypeError)."""

import pytest
from sfimpl import sf, sf_exceptions


def bad_type_message(typename):
    return f"Invalid input of type: '{typename}'. Convert to a bytes, string, int or float first."


@pytest.fixture
def r(topology):
    client = sf.Redis(port=topology.master.port)
    yield client
    client.close()


@pytest.mark.parametrize(
    "value, stored",
    [
        (b"plain bytes", b"plain bytes"),
        (b"\x00\r\n\xff binary", b"\x00\r\n\xff binary"),
        ("text", b"text"),
        ("ünïcödé ✓", "ünïcödé ✓".encode("utf-8")),
        ("", b""),
        (0, b"0"),
        (123, b"123"),
        (-45, b"-45"),
        (2**70, b"1180591620717411303424"),
        (3.5, b"3.5"),
        (0.1, b"0.1"),
        (-2.25, b"-2.25"),
        (1e20, b"1e+20"),
        (float("inf"), b"inf"),
        (memoryview(b"from memoryview"), b"from memoryview"),
        (memoryview(b"0123456789")[2:5], b"234"),
        (bytearray(b"from bytearray"), b"from bytearray"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_value_types_are_encoded_like_redis_py(r, key, value, stored):
    assert r.set(key, value) is True
    assert r.get(key) == stored
    assert r.strlen(key) == len(stored)


@pytest.mark.parametrize(
    "name",
    [b"bytes-key", "str-key-ñ", 42, 1.5, memoryview(b"mv-key"), bytearray(b"ba-key")],
    ids=lambda v: type(v).__name__,
)
def test_key_types(r, key, name):
    """Keys follow the same rules as values; the unique prefix goes into the value."""
    if isinstance(name, (bytes, bytearray, memoryview)):
        expected = bytes(name)
    elif isinstance(name, str):
        expected = name.encode()
    else:
        expected = repr(name).encode()
    try:
        assert r.set(name, key) is True
        assert r.get(expected) == key.encode()
        assert r.exists(name) == 1
    finally:
        r.delete(expected)


def test_large_value_roundtrip(r, key):
    value = bytes(range(256)) * 40000  # ~10 MB, every byte value
    assert r.set(key, value) is True
    assert r.get(key) == value


@pytest.mark.parametrize(
    "bad, typename",
    [
        (None, "NoneType"),
        ({"a": 1}, "dict"),
        ([1, 2], "list"),
        ((1, 2), "tuple"),
        ({1, 2}, "set"),
        (object(), "object"),
        (True, "bool"),
        (False, "bool"),
        (1 + 2j, "complex"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_bad_argument_raises_data_error_with_redis_py_message(r, key, bad, typename):
    r.set(key, "before")
    with pytest.raises(sf_exceptions.DataError) as excinfo:
        r.set(key, bad)
    assert str(excinfo.value) == bad_type_message(typename)
    with pytest.raises(sf_exceptions.DataError) as excinfo:
        r.execute_command("SET", key, bad)
    assert str(excinfo.value) == bad_type_message(typename)
    # nothing half-sent: the connection is still in step with the server
    assert r.get(key) == b"before"
    assert r.ping() is True


def test_bad_argument_in_key_position(r):
    with pytest.raises(sf_exceptions.DataError) as excinfo:
        r.get(None)
    assert str(excinfo.value) == bad_type_message("NoneType")
    assert r.ping() is True


def test_bad_argument_inside_pipeline(r, key):
    pipe = r.pipeline(transaction=False)
    pipe.set(key, "ok")
    pipe.set(key + "2", {"x": 1})
    with pytest.raises(sf_exceptions.DataError) as excinfo:
        pipe.execute()
    assert str(excinfo.value) == bad_type_message("dict")
    assert r.ping() is True


def test_data_error_is_a_redis_error():
    assert issubclass(sf_exceptions.DataError, sf_exceptions.RedisError)


def test_wrong_python_call_raises_type_error(r, key):
    with pytest.raises(TypeError):
        r.get()
    with pytest.raises(TypeError):
        r.set(key)
    with pytest.raises(TypeError):
        r.get(key, no_such_option=True)
    assert r.ping() is True


# --------------------------------------------------------------------------------------------
# encoding / encoding_errors / decode_responses
# --------------------------------------------------------------------------------------------


def test_encoding_latin1(topology, key):
    r = sf.Redis(port=topology.master.port, encoding="latin-1")
    assert r.set(key, "é") is True
    assert r.get(key) == b"\xe9"
    rd = sf.Redis(port=topology.master.port, encoding="latin-1", decode_responses=True)
    assert rd.get(key) == "é"


def test_encoding_errors_strict_raises(topology, key):
    r = sf.Redis(port=topology.master.port, encoding="ascii")
    with pytest.raises(UnicodeEncodeError):
        r.set(key, "é")
    assert r.ping() is True
    assert r.get(key) is None


@pytest.mark.parametrize("errors, stored", [("replace", b"caf?"), ("ignore", b"caf"), ("xmlcharrefreplace", b"caf&#233;")])
def test_encoding_errors_handler_on_encode(topology, key, errors, stored):
    r = sf.Redis(port=topology.master.port, encoding="ascii", encoding_errors=errors)
    assert r.set(key, "café") is True
    assert sf.Redis(port=topology.master.port).get(key) == stored


def test_decode_errors(topology, key):
    sf.Redis(port=topology.master.port).set(key, b"ok\xff\xfe")
    strict = sf.Redis(port=topology.master.port, decode_responses=True)
    with pytest.raises(UnicodeDecodeError):
        strict.get(key)
    replace = sf.Redis(port=topology.master.port, decode_responses=True, encoding_errors="replace")
    assert replace.get(key) == "ok\ufffd\ufffd"
    ignore = sf.Redis(port=topology.master.port, decode_responses=True, encoding_errors="ignore")
    assert ignore.get(key) == "ok"


def test_replies_without_decoding(r, key):
    r.set(key + "s", "v")
    r.rpush(key + "l", "a", "b")
    assert r.get(key + "s") == b"v"
    assert r.get(key + "missing") is None
    assert r.incr(key + "n") == 1 and isinstance(r.incr(key + "n"), int)
    assert r.lrange(key + "l", 0, -1) == [b"a", b"b"]
    assert r.mget([key + "s", key + "missing"]) == [b"v", None]
    assert r.echo("é") == "é".encode()


def test_decode_responses(topology, key):
    r = sf.Redis(port=topology.master.port, decode_responses=True)
    r.set(key + "s", "välue")
    r.rpush(key + "l", "a", "b")
    r.hset(key + "h", mapping={"f": "v"})
    assert r.get(key + "s") == "välue"
    assert r.mget([key + "s", key + "nope"]) == ["välue", None]
    assert r.lrange(key + "l", 0, -1) == ["a", "b"]
    assert r.hgetall(key + "h") == {"f": "v"}
    assert r.incr(key + "n") == 1
    assert r.ping() is True
    assert r.echo("hi") == "hi"
    assert r.type(key + "s") == "string"
