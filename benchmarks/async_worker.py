"""One asyncio measurement in its own process: one client library, one event loop, one
workload.

Started by ``benchmarks/run.py`` (never imported by it), like ``worker.py``::

    python benchmarks/async_worker.py '<json spec>'

The spec (JSON) has ``client`` ("sentinelfast", "redis-py" or "limit"), ``loop``
("asyncio": the default loop, or "uvloop"), ``workload``, ``host``/``port``,
``duration`` (seconds) or ``count`` (an exact number of operations; 0 = set up and warm
up only), and ``redis_py_protocol``. Prints one JSON line: ``ops``, ``commands``,
``seconds``, ``utime``, ``stime`` (``resource.getrusage`` of this process over the
measured loop only).

Clients: ``sentinelfast.asyncio.Redis`` and ``redis.asyncio.Redis`` (redis-py with
hiredis), each with its defaults. "limit" is the event loop's own cost: a bare
``asyncio.Protocol`` per connection that writes the command bytes encoded once up front
and frames replies by their byte length (learnt from the first reply of the warm-up),
never turning them into objects. What a client spends above it is the client's own.

Workloads:

* ``async_get_1``: ``GET`` of a 16-byte value from one task;
* ``async_get_50``: 50 tasks, each awaiting ``GET`` in a loop, sharing one client
  (its pool makes a connection per task; the limit: 50 connections);
* ``async_pipe100``: a pipeline (``transaction=False``) of 100 commands, ``SET k:i v``
  and ``GET k:i`` alternately;
* ``async_hgetall``: ``HGETALL`` of 1,000 fields.
"""
from __future__ import annotations

import asyncio
import collections
import faulthandler
import json
import os
import resource
import sys
import time

VALUE = b"0123456789abcdef"  # 16 bytes, as in worker.py
STR_KEY = "bench:str"
HASH_KEY = "bench:hash"
PIPE_KEY = "bench:p"
TASKS = 50


def library_info(name: str) -> dict:
    if name == "sentinelfast":
        import sentinelfast
        import sentinelfast._core as core

        return {"version": sentinelfast.__version__, "path": os.path.dirname(core.__file__)}
    if name == "redis-py":
        import redis

        info = {"version": redis.__version__, "path": os.path.dirname(redis.__file__)}
        try:
            import hiredis

            info["hiredis"] = hiredis.__version__
        except ImportError:
            info["hiredis"] = None
        try:
            from redis.utils import HIREDIS_AVAILABLE

            info["hiredis_used"] = bool(HIREDIS_AVAILABLE)
        except ImportError:
            pass
        return info
    return {}


# ------------------------------------------------------------------------------------------
# The limit: a bare Protocol, replies framed by their known length
# ------------------------------------------------------------------------------------------

def _encode(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def _reply_length(data: bytes, pos: int = 0) -> int:
    """End offset of the complete RESP2 reply starting at ``pos`` (-1 if incomplete);
    used once, at the warm-up, to learn the length of the reply."""
    end = data.find(b"\r\n", pos)
    if end < 0:
        return -1
    kind, head = data[pos:pos + 1], data[pos + 1:end]
    if kind in (b"+", b"-", b":"):
        return end + 2
    if kind == b"$":
        n = int(head)
        return end + 2 if n < 0 else (end + 2 + n + 2 if len(data) >= end + 4 + n else -1)
    if kind == b"*":
        pos = end + 2
        for _ in range(max(0, int(head))):
            pos = _reply_length(data, pos)
            if pos < 0:
                return -1
        return pos
    raise ValueError(f"bad reply {data[:40]!r}")


class LimitProtocol(asyncio.BufferedProtocol):
    """One connection: a FIFO of waiters, each woken when ``size`` more bytes arrived.
    The loop reads into one reused buffer (no bytes object per read)."""

    def __init__(self) -> None:
        self.transport = None
        self.size = 0          # bytes of one exchange's reply (0: not learnt yet)
        self.pending = 0       # bytes received and not yet given to a waiter
        self.learn = b""
        self.waiters = collections.deque()
        self.lost = None
        self.buffer = memoryview(bytearray(64 * 1024))

    def connection_made(self, transport) -> None:
        self.transport = transport

    def get_buffer(self, sizehint):
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        if not self.size:   # warm-up: learn how long one exchange's reply is
            self.learn += bytes(self.buffer[:nbytes])
            pos = 0
            for _ in range(self.replies):
                pos = _reply_length(self.learn, pos)
                if pos < 0:
                    return
            self.size = pos
            self.pending = len(self.learn) - pos
            self.learn = b""
            self.waiters.popleft().set_result(None)
        else:
            self.pending += nbytes
        size, waiters = self.size, self.waiters
        while self.pending >= size and waiters:
            self.pending -= size
            waiters.popleft().set_result(None)

    def connection_lost(self, exc) -> None:
        self.lost = exc or ConnectionError("closed by the server")
        while self.waiters:
            w = self.waiters.popleft()
            if not w.done():
                w.set_exception(self.lost)

    def exchange(self, data: bytes, loop):
        """Write one request; a future done when its reply has arrived."""
        fut = loop.create_future()
        self.waiters.append(fut)
        self.transport.write(data)
        return fut


async def _limit_connection(spec, replies: int) -> LimitProtocol:
    loop = asyncio.get_running_loop()
    proto = LimitProtocol()
    proto.replies = replies
    await loop.create_connection(lambda: proto, spec["host"], spec["port"])
    import socket

    proto.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return proto


# ------------------------------------------------------------------------------------------
# Workloads: build(spec) -> (op, commands_per_op, cleanup); op is a coroutine function
# doing one operation; async_get_50 runs it from TASKS tasks.
# ------------------------------------------------------------------------------------------

async def build(spec):
    w, who = spec["workload"], spec["client"]
    loop = asyncio.get_running_loop()
    if who == "limit":
        if w == "async_pipe100":
            keys = [f"{PIPE_KEY}:{i}" for i in range(50)]
            request = b"".join(_encode("SET", k, VALUE) + _encode("GET", k) for k in keys)
            replies, per_op = 100, 100
        elif w == "async_hgetall":
            request, replies, per_op = _encode("HGETALL", HASH_KEY), 1, 1
        else:
            request, replies, per_op = _encode("GET", STR_KEY), 1, 1
        n = TASKS if w == "async_get_50" else 1
        protos = [await _limit_connection(spec, replies) for _ in range(n)]

        def make_op(proto):
            async def op():
                await proto.exchange(request, loop)
            return op

        async def cleanup():
            for p in protos:
                p.transport.close()

        return [make_op(p) for p in protos], per_op, cleanup

    kwargs = {}
    if who == "sentinelfast":
        import sentinelfast.asyncio as lib
    elif who == "redis-py":
        import redis.asyncio as lib

        if spec.get("redis_py_protocol"):
            kwargs["protocol"] = int(spec["redis_py_protocol"])
    else:
        raise SystemExit(f"unknown client {who!r}")
    r = lib.Redis(host=spec["host"], port=spec["port"], **kwargs)
    per_op = 1
    if w in ("async_get_1", "async_get_50"):
        get = r.get

        async def op():
            await get(STR_KEY)
    elif w == "async_hgetall":
        hgetall = r.hgetall

        async def op():
            await hgetall(HASH_KEY)
    elif w == "async_pipe100":
        keys = [f"{PIPE_KEY}:{i}" for i in range(50)]
        per_op = 100

        async def op():
            p = r.pipeline(transaction=False)
            for k in keys:
                p.set(k, VALUE)
                p.get(k)
            replies = await p.execute()
            if len(replies) != 100:
                raise RuntimeError("wrong number of pipeline replies")
    else:
        raise SystemExit(f"unknown workload {w!r}")
    n = TASKS if w == "async_get_50" else 1
    return [op] * n, per_op, r.aclose


async def measure(spec) -> dict:
    ops_list, per_op, cleanup = await build(spec)
    # Warm-up: every task connects (the pools make their connections) and sends a few.
    await asyncio.gather(*[op() for op in ops_list for _ in range(1)])
    for _ in range(3):
        await asyncio.gather(*[op() for op in ops_list])
    count = spec.get("count")
    batch = 10 if spec["workload"] != "async_pipe100" else 1
    stop = False
    counts = [0] * len(ops_list)
    per_task = None if count is None else max(0, count // len(ops_list))

    async def task(i, op):
        n = 0
        if per_task is not None:
            for _ in range(per_task):
                await op()
            n = per_task
        else:
            while not stop:
                for _ in range(batch):
                    await op()
                n += batch
        counts[i] = n

    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    tasks = [asyncio.ensure_future(task(i, op)) for i, op in enumerate(ops_list)]
    if per_task is None:
        await asyncio.sleep(spec["duration"])
        stop = True
    await asyncio.gather(*tasks)
    t1 = time.perf_counter()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    await cleanup()
    ops = sum(counts)
    return {"ops": ops, "commands": ops * per_op, "seconds": t1 - t0,
            "utime": ru1.ru_utime - ru0.ru_utime, "stime": ru1.ru_stime - ru0.ru_stime}


def main() -> None:
    spec = json.loads(sys.argv[1])
    faulthandler.dump_traceback_later(float(spec.get("hang_timeout", 60)), exit=True)
    factory = None
    if spec.get("loop") == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(measure(spec))
    if spec.get("info"):
        result["library"] = library_info(spec["client"])
        if spec.get("loop") == "uvloop":
            import uvloop

            result["library"]["uvloop"] = uvloop.__version__
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
