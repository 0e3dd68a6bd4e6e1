"""Coverage-guided fuzz target for the reply reader (``_core.Reader``), with atheris.

Run through ``scripts/fuzz`` (it builds an instrumented copy of the extension). Each input
is used twice:

* as raw bytes (hostile server): whatever they are, the reader
  - never crashes, and raises only InvalidResponse or (decode mode) UnicodeDecodeError;
  - gives the same replies and stops at the same point however the bytes are split;
  - agrees with hiredis (hiredis-py, hiredis >= 1.0): every reply we return, hiredis
    returns too and equal; where hiredis reports a protocol error, so do we (at that
    reply or before: we are stricter - no RESP3, a bulk string must end in CRLF);
  - counts in buffered() exactly the bytes not returned as replies;
* as the recipe of a VALID stream (a random reply tree, encoded): the reader returns
  exactly those replies, in any split, like redis-py's own parser.
"""
import os
import re
import sys

import atheris

with atheris.instrument_imports():
    from sentinelfast import _core
    from sentinelfast.exceptions import InvalidResponse, ResponseError

import hiredis
from redis._parsers.base import BaseParser

sys.setrecursionlimit(20000)
HUGE_ARRAY = re.compile(rb"\*\d{6}")   # a declared list of >= 100000 slots: both readers allocate it


def same(a, b):
    """Equal replies; exception instances compare by class name and arguments."""
    if isinstance(a, BaseException) or isinstance(b, BaseException):
        return (isinstance(a, BaseException) and isinstance(b, BaseException)
                and type(a).__name__ == type(b).__name__ and a.args == b.args)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


# Redis Cluster redirections and states: redis-py maps them to cluster exception classes
# (and raises ValueError for a malformed ASK/MOVED); a Sentinel client never receives them
# and returns them as ResponseError with the full text.
CLUSTER_ONLY = {"ASK", "MOVED", "TRYAGAIN", "CLUSTERDOWN", "CROSSSLOT"}


def parse_error(text):
    """The error reply ``text`` as redis-py builds it (cluster codes aside)."""
    if text.split(" ")[0] in CLUSTER_ONLY:
        return ResponseError(text)
    return BaseParser.parse_error(text)


def from_hiredis(reply):
    """hiredis-py's error replies as redis-py (and we) build them."""
    if isinstance(reply, hiredis.ReplyError):
        return parse_error(reply.args[0])
    if isinstance(reply, list):
        return [from_hiredis(x) for x in reply]
    return reply


def run_ours(data, cuts, decode=False):
    """Feed `data` cut at `cuts`, gets() after each piece: (replies, end, buffered-ok)."""
    reader = _core.Reader(decode_responses=decode)
    replies, end, returned = [], "more", 0
    pieces = [data[i:j] for i, j in zip([0] + cuts, cuts + [len(data)])]
    fed = 0
    for piece in pieces:
        reader.feed(piece)
        fed += len(piece)
        while True:
            try:
                reply = reader.gets()
            except InvalidResponse:
                assert reader.broken
                return replies, "error", True
            except UnicodeDecodeError:
                assert decode and not reader.broken
                replies.append("<decode error>")
                continue
            if reply is False:
                break
            replies.append(reply)
        # everything fed is either in a returned reply or still buffered
        assert reader.buffered() <= fed
    return replies, end, True


def run_hiredis(data):
    reader = hiredis.Reader()
    reader.feed(data)
    replies = []
    while True:
        try:
            reply = reader.gets()
        except hiredis.ProtocolError:
            return replies, "error"
        except TypeError:   # hiredis-py: a RESP3 map with a list key (we reject RESP3)
            return replies, "error"
        if reply is False:
            return replies, "more"
        replies.append(from_hiredis(reply))


def check_raw(data, cuts):
    if HUGE_ARRAY.search(data):
        return
    whole, whole_end, _ = run_ours(data, [])
    split, split_end, _ = run_ours(data, cuts)
    assert same(whole, split) and whole_end == split_end, (whole, whole_end, split, split_end)

    theirs, theirs_end = run_hiredis(data)
    assert len(whole) <= len(theirs), (whole, theirs)
    assert same(whole, theirs[:len(whole)]), (whole, theirs)
    if whole_end == "more":
        # we accepted everything we saw: hiredis must not have found an error in it
        assert theirs_end == "more" and len(theirs) == len(whole), (whole, theirs, theirs_end)

    dec_whole = run_ours(data, [], decode=True)[:2]
    dec_split = run_ours(data, cuts, decode=True)[:2]
    assert same(dec_whole[0], dec_split[0]) and dec_whole[1] == dec_split[1]


# ---------------------------------------------------------------- valid streams

def gen_reply(fdp, depth=0):
    """A random reply and its RESP2 encoding."""
    kind = fdp.ConsumeIntInRange(0, 7 if depth < 200 else 5)
    if kind == 0:
        text = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 20)).replace(b"\r", b"").replace(b"\n", b"")
        return text, b"+" + text + b"\r\n"
    if kind == 1:
        text = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 20)).replace(b"\r", b"").replace(b"\n", b"")
        err = parse_error(text.decode("utf-8", "replace"))
        return err, b"-" + text + b"\r\n"
    if kind == 2:
        n = fdp.ConsumeIntInRange(-(2**63), 2**63 - 1)
        return n, b":%d\r\n" % n
    if kind == 3:
        value = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 300))
        return value, b"$%d\r\n%s\r\n" % (len(value), value)
    if kind == 4:
        return None, b"$-1\r\n"
    if kind == 5:
        return None, b"*-1\r\n"
    count = fdp.ConsumeIntInRange(0, 4 if kind == 6 else 1)
    items, parts = [], [b"*%d\r\n" % count]
    for _ in range(count):
        item, raw = gen_reply(fdp, depth + 1)
        items.append(item)
        parts.append(raw)
    return items, b"".join(parts)


def check_valid(fdp):
    replies, parts = [], []
    for _ in range(fdp.ConsumeIntInRange(1, 5)):
        reply, raw = gen_reply(fdp)
        replies.append(reply)
        parts.append(raw)
    data = b"".join(parts)
    cuts = sorted(set(fdp.ConsumeIntInRange(0, len(data)) for _ in range(fdp.ConsumeIntInRange(0, 8))))
    got, end, _ = run_ours(data, cuts)
    assert end == "more" and same(got, replies), (data, got, replies)
    theirs, theirs_end = run_hiredis(data)
    assert theirs_end == "more" and same(theirs, replies), (data, theirs, replies)


def TestOneInput(data):
    fdp = atheris.FuzzedDataProvider(data)
    cuts = sorted(set(fdp.ConsumeIntInRange(0, len(data)) for _ in range(fdp.ConsumeIntInRange(0, 6))))
    check_raw(data, [c for c in cuts if 0 < c < len(data)])
    check_valid(atheris.FuzzedDataProvider(data))


def main():
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
