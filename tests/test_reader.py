"""The I/O-free reply reader (``_core.Reader``): raw bytes in, the objects redis-py returns out.

Byte-level: every RESP2 type, any split of the input, error replies -> redis-py's exception
classes, protocol errors, hostile lengths and depths, out-of-memory, linear time. The last
tests read deeply nested replies from a real redis-server through the client (issue 7,
defect 4: hiredis 0.14's reader stopped at depth 7)."""

import os
import resource
import subprocess
import sys
import textwrap
import time

import pytest
import redis
import redis.exceptions
from redis._parsers.base import BaseParser
from redis._parsers.resp2 import _RESP2Parser
from redis._parsers.socket import SocketBuffer

import sentinelfast
from sentinelfast import _core
from sentinelfast.exceptions import InvalidResponse, ResponseError
from sfimpl import NO_CWD_FLAG

Reader = _core.Reader


def read_all(data, reader=None, **kwargs):
    """Feed ``data`` at once and return every complete reply."""
    reader = reader or Reader(**kwargs)
    reader.feed(data)
    replies = []
    while (reply := reader.gets()) is not False:
        replies.append(reply)
    return replies


class _BytesSocket:
    """Enough of a socket for redis-py's SocketBuffer: hands out ``data`` in small pieces."""

    def __init__(self, data, piece=7):
        self.data, self.piece = data, piece

    def recv(self, n):
        chunk, self.data = self.data[: min(n, self.piece)], self.data[min(n, self.piece):]
        return chunk

    def settimeout(self, t):
        pass


def redis_py_parse(data, count, decode=False):
    """``count`` replies of ``data`` as redis-py's pure-Python RESP2 parser returns them."""
    parser = _RESP2Parser(socket_read_size=65536)
    parser._sock = _BytesSocket(data)
    parser._buffer = SocketBuffer(parser._sock, 65536, None)
    parser.encoder = redis._parsers.encoders.Encoder("utf-8", "strict", decode)
    return [parser.read_response() for _ in range(count)]


def same(a, b):
    """Equal replies; exception instances compare by class and arguments."""
    if isinstance(a, BaseException) or isinstance(b, BaseException):
        return type(a).__name__ == type(b).__name__ and a.args == b.args
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


# One of everything, as Redis sends it.
STREAM = (
    b"+OK\r\n"
    b"+\r\n"
    b"-ERR unknown command 'FOO'\r\n"
    b":0\r\n:42\r\n:-7\r\n:9223372036854775807\r\n:-9223372036854775808\r\n"
    b"$5\r\nhello\r\n"
    b"$0\r\n\r\n"
    b"$-1\r\n"
    b"$9\r\nbin\r\n\x00\xff\r\n\r\n"
    b"*-1\r\n"
    b"*0\r\n"
    b"*3\r\n$1\r\na\r\n:1\r\n*2\r\n$-1\r\n*0\r\n"
    b"*2\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n+QUEUED\r\n"
)
EXPECTED = [
    b"OK", b"", ResponseError("unknown command 'FOO'"),
    0, 42, -7, 2**63 - 1, -(2**63),
    b"hello", b"", None, b"bin\r\n\x00\xff\r\n", None, [],
    [b"a", 1, [None, []]],
    [ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), b"QUEUED"],
]


def test_every_resp2_type():
    replies = read_all(STREAM)
    assert len(replies) == len(EXPECTED)
    for got, want in zip(replies, EXPECTED):
        assert same(got, want), (got, want)


def test_same_objects_as_redis_py_parser():
    ours = read_all(STREAM)
    theirs = redis_py_parse(STREAM, len(ours))
    assert all(same(a, b) for a, b in zip(ours, theirs)), (ours, theirs)
    text = STREAM.replace(b"\x00\xff", b"\xc3\xa9")   # decodable
    ours = read_all(text, decode_responses=True)
    theirs = redis_py_parse(text, len(ours), decode=True)
    assert len(ours) == len(EXPECTED)
    assert all(same(a, b) for a, b in zip(ours, theirs)), (ours, theirs)


def test_split_at_every_byte_boundary():
    for cut in range(len(STREAM) + 1):
        reader = Reader()
        got = read_all(STREAM[:cut], reader) + read_all(STREAM[cut:], reader)
        assert all(same(a, b) for a, b in zip(got, EXPECTED)) and len(got) == len(EXPECTED), cut
        assert reader.buffered() == 0


def test_one_byte_at_a_time():
    reader = Reader()
    got = []
    for i in range(len(STREAM)):
        got += read_all(STREAM[i:i + 1], reader)
    assert len(got) == len(EXPECTED) and all(same(a, b) for a, b in zip(got, EXPECTED))


def test_gets_false_until_complete_and_feed_offset_length():
    reader = Reader()
    assert reader.gets() is False
    reader.feed(b"xx$3\r\nab", 2)
    assert reader.gets() is False
    reader.feed(b"--c\r\n--", offset=2, length=3)
    assert reader.gets() == b"abc"
    assert reader.gets() is False
    reader.feed(memoryview(b"+OK\r\n"))
    reader.feed(bytearray(b":1\r\n"))
    assert read_all(b"", reader) == [b"OK", 1]
    for offset, length in ((-1, -1), (6, -1), (0, 6), (2, -2)):
        with pytest.raises(ValueError):
            reader.feed(b"+OK\r\n", offset, length)
    with pytest.raises(TypeError):
        reader.feed("+OK\r\n")


# ---------------------------------------------------------------- buffered bytes (defect 5)

def test_buffered_counts_bytes_not_yet_returned():
    reader = Reader()
    assert reader.buffered() == 0 and not reader.has_data()
    reader.feed(b"*2\r\n:1\r\n")                       # a reply begun
    assert reader.gets() is False
    assert reader.buffered() == 8 and reader.has_data()
    reader.feed(b":2\r\n+extra")                        # its end, then bytes nobody asked for
    assert reader.gets() == [1, 2]
    assert reader.buffered() == len(b"+extra") and reader.has_data()
    reader.feed(b"\r\n")
    assert reader.gets() == b"extra"
    assert reader.buffered() == 0 and not reader.has_data()


# ---------------------------------------------------------------- decoding

def test_decode_responses():
    assert read_all(b"$5\r\n\xc3\xa9t\xc3\xa9\r\n+OK\r\n:5\r\n", decode_responses=True) == ["été", "OK", 5]
    assert read_all(b"$2\r\n\xe9t\r\n", decode_responses=True, encoding="latin-1") == ["ét"]
    assert read_all(b"$2\r\n\xff!\r\n", decode_responses=True, encoding_errors="replace") == ["\ufffd!"]
    reader = Reader(decode_responses=True)
    assert reader.decode_responses and reader.encoding == "utf-8" and reader.encoding_errors == "strict"


def test_decode_error_raised_after_the_whole_reply_and_stream_stays_usable():
    reader = Reader(decode_responses=True)
    reader.feed(b"*3\r\n$1\r\na\r\n$1\r\n\xff\r\n$1\r\nc\r\n+next\r\n")
    with pytest.raises(UnicodeDecodeError):
        reader.gets()
    assert reader.gets() == "next"          # the bad reply was consumed whole
    assert not reader.broken


def test_error_text_is_decoded_with_replace():
    (err,) = read_all(b"-ERR bad \xff byte\r\n")
    assert isinstance(err, ResponseError) and str(err) == "bad \ufffd byte"


def test_bad_codec_options():
    with pytest.raises(LookupError):
        Reader(encoding="no-such-codec")
    with pytest.raises(LookupError):
        Reader(encoding_errors="no-such-handler")
    with pytest.raises(TypeError):
        Reader(True)   # keyword-only


# ---------------------------------------------------------------- error replies

ERROR_TEXTS = [
    "ERR unknown command 'FOO'",
    "ERR max number of clients reached",
    "ERR invalid password",
    "ERR wrong number of arguments for 'auth' command",
    "ERR wrong number of arguments for 'AUTH' command",
    "ERR Client sent AUTH, but no password is set",
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?",
    "ERR Error loading the extension. Please check the server logs.",
    "ERR Error unloading module: no such module with that name",
    "WRONGTYPE Operation against a key holding the wrong kind of value",
    "NOSCRIPT No matching script. Please use EVAL.",
    "READONLY You can't write against a read only replica.",
    "LOADING Redis is loading the dataset in memory",
    "EXECABORT Transaction discarded because of previous errors.",
    "OOM command not allowed when used memory > 'maxmemory'.",
    "NOAUTH Authentication required.",
    "WRONGPASS invalid username-password pair or user is disabled.",
    "NOPERM User reader has no permissions to run the 'set' command",
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
    "ERR problem with LDAP service",
    "ERR no such fieldset",
    "BUSY Redis is busy running a script.",
    "BUSYGROUP Consumer Group name already exists",
    "ERR",
    "",
    "weird lowercase code",
]


@pytest.mark.parametrize("text", ERROR_TEXTS)
def test_error_reply_is_the_instance_redis_py_builds(text):
    (ours,) = read_all(b"-" + text.encode() + b"\r\n")
    theirs = BaseParser.parse_error(text)
    assert isinstance(ours, type(theirs))               # catchable as redis-py's class
    if hasattr(redis.exceptions, type(ours).__name__):
        assert type(ours).__name__ == type(theirs).__name__
    # else: a class newer than the installed redis-py (NoSuchFieldsetError: 8.1) that
    # sentinelfast defines itself, a subclass of the class redis-py builds
    assert ours.args == theirs.args
    assert type(ours).__module__ == "sentinelfast.exceptions"


def test_error_replies_are_returned_not_raised():
    reader = Reader()
    reader.feed(b"-READONLY You can't write against a read only replica.\r\n+OK\r\n")
    err = reader.gets()
    assert isinstance(err, sentinelfast.exceptions.ReadOnlyError)
    assert reader.gets() == b"OK"


# ---------------------------------------------------------------- protocol errors

BAD_STREAMS = [
    b"?what\r\n",                 # unknown type byte
    b"\r\n",
    b"#t\r\n",                    # RESP3 type: not spoken here
    b":12a\r\n", b":\r\n", b":+1\r\n", b": 1\r\n", b":01\r\n", b":-0\r\n",
    b":9223372036854775808\r\n", b":-9223372036854775809\r\n", b":99999999999999999999\r\n",
    b"$-2\r\n", b"$abc\r\n", b"$\r\n", b"$1.5\r\n", b"$99999999999999999999\r\n",
    b"*-2\r\n", b"*x\r\n", b"*\r\n", b"*-9223372036854775808\r\n",
    b"$3\r\nabcX\r\n",            # bulk body not followed by CRLF
    b"$3\r\nabc\rX",              # ... by CR and something else (whole item present)
    b"$3\r\nabcd\r\n",           # a body longer than declared
    b"$3\rX\nabc\r\n",            # a length line with CR but no LF after it
    b"$3\nabc\r\n",               # a length line ended by LF alone
    b"$03\r\nabc\r\n",           # a leading zero
    b"+a\nb\r\n",                 # LF without CR
    b"+a\rb\r\n",                 # CR inside a simple string
    b"-ERR a\rb\r\n",
    b"*2\r\n:1\r\n?\r\n",         # bad element inside an array
]


@pytest.mark.parametrize("data", BAD_STREAMS)
def test_protocol_error_is_invalid_response_and_reader_unusable_after(data):
    reader = Reader()
    reader.feed(data)
    with pytest.raises(InvalidResponse) as info:
        reader.gets()
    assert isinstance(info.value, redis.exceptions.InvalidResponse)
    assert reader.broken
    with pytest.raises(InvalidResponse):
        reader.gets()
    with pytest.raises(InvalidResponse):
        reader.feed(b"+OK\r\n")


def test_protocol_error_found_however_the_input_is_split():
    for data in BAD_STREAMS:
        for cut in range(len(data) + 1):
            reader = Reader()
            with pytest.raises(InvalidResponse):
                read_all(data[:cut], reader)
                read_all(data[cut:], reader)


def test_huge_declared_lengths_wait_for_data_without_allocating():
    reader = Reader()
    reader.feed(b"$9223372036854775805\r\nabc")
    assert reader.gets() is False
    reader = Reader()
    reader.feed(b"$536870912\r\n" + b"x" * 1000)
    assert reader.gets() is False and reader.buffered() == 12 + 1000


def test_array_too_large_for_memory_is_memory_error_and_reader_unusable():
    reader = Reader()
    reader.feed(b"*9223372036854775807\r\n:1\r\n")
    with pytest.raises(MemoryError):
        reader.gets()
    assert reader.broken
    with pytest.raises(InvalidResponse):
        reader.gets()


def _run_limited(code):
    """Run ``code`` in a child whose allocations are limited to about 1 GiB: by RLIMIT_AS,
    or - under AddressSanitizer, whose shadow memory needs far more address space - by
    ASan's own allocator limit (failing allocations return NULL instead of aborting)."""
    script = textwrap.dedent("""
        import resource
        with open("/proc/self/maps") as maps:
            under_asan = "asan" in maps.read()
        if not under_asan:
            resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from sentinelfast import _core
        import sentinelfast.exceptions
    """) + textwrap.dedent(code)
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(filter(None, [
        env.get("ASAN_OPTIONS", ""), "allocator_may_return_null=1", "max_allocation_size_mb=1024"]))
    return subprocess.run([sys.executable, NO_CWD_FLAG, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd="/", env=env)


def test_failed_list_allocation_under_memory_limit_is_memory_error_not_a_crash():
    """Issue 7 defect 1: ``*1000000000`` under a memory limit used to SIGSEGV."""
    proc = _run_limited("""
        reader = _core.Reader()
        reader.feed(b"*1000000000\\r\\n:1\\r\\n")
        try:
            reader.gets()
        except MemoryError:
            print("MemoryError")
        try:
            reader.gets()
        except sentinelfast.exceptions.InvalidResponse:
            print("unusable")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["MemoryError", "unusable"]


def test_failed_list_allocation_through_a_connection_closes_it(tmp_path):
    """The same bytes from a (fake) server: MemoryError from the client, the connection
    closed (never reused out of step), no crash."""
    proc = _run_limited("""
        import socket, threading
        import sentinelfast
        srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
        def serve():
            conn, _ = srv.accept()
            conn.recv(65536)
            conn.sendall(b"*1000000000\\r\\n:1\\r\\n")
            conn.recv(65536)   # until the client closes
            conn.close()
        threading.Thread(target=serve, daemon=True).start()
        c = sentinelfast.Connection(port=srv.getsockname()[1], socket_timeout=10)
        try:
            c.execute("GET", "k")
        except MemoryError:
            print("MemoryError")
        print("open" if c.is_connected else "closed")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["MemoryError", "closed"]


def test_feed_beyond_memory_limit_is_memory_error_not_abort():
    """Growing the input buffer past the memory limit raises MemoryError (hiredis 0.14
    aborted on some of its allocation failures)."""
    proc = _run_limited("""
        reader = _core.Reader()
        reader.feed(b"$2000000000\\r\\n")
        chunk = b"x" * (64 << 20)
        try:
            for _ in range(40):
                reader.feed(chunk)
        except MemoryError:
            print("MemoryError", reader.broken)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["MemoryError", "True"]


# ---------------------------------------------------------------- depth (defect 4)

def depth_of(reply):
    depth = 0
    while isinstance(reply, list):
        depth += 1
        reply = reply[-1] if reply else None
    return depth, reply


@pytest.mark.parametrize("depth", [7, 8, 9, 10, 64, 1000, 100_000])
def test_any_nesting_depth(depth):
    data = b"*1\r\n" * depth + b":7\r\n"
    reader = Reader()
    reader.feed(data)
    reply = reader.gets()
    assert depth_of(reply) == (depth, 7)
    del reply   # deallocating a 100000-deep list must not overflow the C stack either


def test_deep_nesting_split_at_every_byte_boundary():
    data = b"*2\r\n" * 12 + b":1\r\n" * 12 + b"$3\r\nend\r\n" + b"+after\r\n"
    expected = read_all(data)
    assert len(expected) == 2 and expected[1] == b"after"
    for cut in range(len(data) + 1):
        reader = Reader()
        got = read_all(data[:cut], reader) + read_all(data[cut:], reader)
        assert got == expected, cut


def test_deep_partial_reply_freed_with_the_reader():
    reader = Reader()
    reader.feed(b"*1\r\n" * 100_000)
    assert reader.gets() is False
    del reader


def test_hostile_wide_and_deep_input_in_small_pieces():
    reader = Reader()
    data = (b"*3\r\n" + b":1\r\n" * 2) * 5000 + b":1\r\n"
    for i in range(0, len(data), 5):
        reader.feed(data[i:i + 5])
        if i + 5 < len(data):
            assert reader.gets() is False
    assert depth_of(reader.gets())[0] == 5000


# ---------------------------------------------------------------- linear time (defect 7)

def _parse_time(data, piece):
    best = float("inf")
    for _ in range(3):
        reader = Reader()
        start = time.perf_counter()
        for i in range(0, len(data), piece):
            reader.feed(data[i:i + piece])
            reader.gets()
        best = min(best, time.perf_counter() - start)
        assert reader.buffered() == 0
    return best


def test_long_status_line_in_small_pieces_is_linear():
    """An 8 MiB status line fed 4 KiB at a time, with gets() after every piece: a reader
    that rescans the pending line each time does ~2000x the work of one that does not
    (hiredis 0.14: 9.2 s for 32 MiB). Compared with a bulk string of the same size
    (read in linear time by construction) on the same machine, so no absolute bound."""
    size, piece = 8 << 20, 4096
    status = b"+" + b"x" * size + b"\r\n"
    error = b"-ERR " + b"x" * size + b"\r\n"
    bulk = b"$%d\r\n" % size + b"x" * size + b"\r\n"
    t_bulk = _parse_time(bulk, piece)
    assert _parse_time(status, piece) < 20 * t_bulk + 0.05
    assert _parse_time(error, piece) < 20 * t_bulk + 0.05


# ---------------------------------------------------------------- misc

def test_reentrant_use_from_a_codec_is_refused():
    import codecs

    reader = None

    def decode(data, errors="strict"):
        if reader is not None:   # None while Reader() probes the codec
            with pytest.raises(RuntimeError):
                reader.feed(b"+x\r\n")
        return str(bytes(data), "ascii"), len(data)

    def search(name):
        if name == "sf_test_reentrant":
            return codecs.CodecInfo(name=name, encode=lambda s, e="strict": (s.encode(), len(s)),
                                    decode=decode)
        return None

    codecs.register(search)
    try:
        reader = Reader(decode_responses=True, encoding="sf_test_reentrant")
        assert read_all(b"+OK\r\n", reader) == ["OK"]
    finally:
        codecs.unregister(search)


def test_reader_is_not_subclassable_and_has_docs():
    with pytest.raises(TypeError):
        type("Sub", (Reader,), {})
    assert "feed" in Reader.__doc__ and Reader.gets.__doc__


# ---------------------------------------------------------------- against a real server

@pytest.fixture
def client(plain_server):
    r = sentinelfast.Redis(port=plain_server.port)
    yield r
    r.close()


def _nested(depth):
    return "{" * depth + "1" + "}" * depth


@pytest.mark.parametrize("depth", [8, 10, 30])
def test_deeply_nested_eval_result_from_redis(client, plain_server, depth):
    """``EVAL "return {{{...{1}...}}}" 0``: Lua tables nested deeper than hiredis 0.14's 7."""
    script = "return " + _nested(depth)
    got = client.eval(script, 0)
    assert depth_of(got) == (depth, 1)
    theirs = redis.Redis(port=plain_server.port, protocol=2)
    try:
        assert got == theirs.eval(script, 0)
    finally:
        theirs.close()


def test_command_docs_from_redis_7(plain_server):
    """COMMAND DOCS nests deeper than 7 levels (arguments of arguments)."""
    ours_conn = sentinelfast.Connection(port=plain_server.port)
    theirs_conn = redis.Connection(port=plain_server.port, protocol=2)
    try:
        ours = ours_conn.execute("COMMAND", "DOCS")
        theirs_conn.send_command("COMMAND", "DOCS")
        theirs = theirs_conn.read_response()
    finally:
        ours_conn.disconnect()
        theirs_conn.disconnect()
    assert isinstance(ours, list) and len(ours) > 100
    assert canonical(ours) == canonical(theirs)   # Redis lists subcommands in hash order
    assert max(depth_of_any(x) for x in ours) > 7


def canonical(reply):
    """The reply with every list's elements in a fixed order."""
    if isinstance(reply, list):
        return sorted((canonical(x) for x in reply), key=repr)
    return reply


def depth_of_any(reply):
    if not isinstance(reply, list):
        return 0
    return 1 + max((depth_of_any(x) for x in reply), default=0)
