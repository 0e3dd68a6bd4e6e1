"""One measurement in its own process: one client library, one workload.

Started by ``benchmarks/run.py`` (never imported by it), so that getrusage and strace
figures belong to one client only and the two libraries' imports never share a process::

    python benchmarks/worker.py '<json spec>'

The spec (JSON) has ``client`` ("sentinelfast" or "redis-py"), ``workload``, ``host``/``port``
(the server), ``sentinels``/``service`` (the Sentinel topology), ``duration`` (seconds) or
``count`` (an exact number of operations; 0 = set up and warm up only: the strace baseline),
and ``redis_py_protocol``. Prints one JSON line: ``ops`` (calls, pipelines or new clients),
``commands`` (Redis commands), ``seconds``, ``utime`` and ``stime`` (``resource.getrusage`` of
this process, all threads, over the measured loop only).
"""
from __future__ import annotations

import faulthandler
import json
import os
import resource
import sys
import threading
import time

VALUE = b"0123456789abcdef"  # 16 bytes
STR_KEY = "bench:str"
HASH_KEY = "bench:hash"
LIST_KEY = "bench:list"
ZSET_KEY = "bench:zset"
MGET_KEYS = [f"bench:mget:{i}" for i in range(100)]
PIPE_KEY = "bench:p"


def load_client(name: str):
    """(Redis class, Sentinel class, extra constructor kwargs) of the library under test."""
    if name == "sentinelfast":
        import sentinelfast

        return sentinelfast.Redis, sentinelfast.Sentinel, {}
    if name == "redis-py":
        import redis
        import redis.sentinel

        return redis.Redis, redis.sentinel.Sentinel, {}
    raise SystemExit(f"unknown client {name!r}")


def library_info(name: str) -> dict:
    if name == "sentinelfast":
        import sentinelfast
        import sentinelfast._core as core

        return {"version": sentinelfast.__version__, "path": os.path.dirname(core.__file__)}
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


# ------------------------------------------------------------------------------------------
# Workloads. Each builder returns (batch, batch_size, commands_per_op, cleanup):
# batch() runs batch_size operations; commands_per_op Redis commands each.
# ------------------------------------------------------------------------------------------


# Clients on the standalone server are built with each library's defaults; the workloads
# on the Sentinel topology (and the direct client they are compared with) use the socket
# timeout of the README's drop-in example, for both libraries.
SENTINEL_TIMEOUT = 0.5


def _direct(spec, kwargs, **extra):
    Redis, _, _ = load_client(spec["client"])
    return Redis(host=spec["host"], port=spec["port"], **extra, **kwargs)


def _sentinel(spec, kwargs):
    _, Sentinel, _ = load_client(spec["client"])
    return Sentinel([tuple(a) for a in spec["sentinels"]], socket_timeout=SENTINEL_TIMEOUT, **kwargs)


def build(spec, kwargs):
    w = spec["workload"]

    if w in ("get", "set", "get_direct_topo", "get_master_for", "get_tls", "hgetall", "lrange",
             "zrange", "mget"):
        if w == "get_master_for":
            sentinel = _sentinel(spec, kwargs)
            r = sentinel.master_for(spec["service"], socket_timeout=SENTINEL_TIMEOUT)
        elif w == "get_direct_topo":
            r = _direct(spec, kwargs, socket_timeout=SENTINEL_TIMEOUT)
        elif w == "get_tls":     # both libraries: ssl=True, the test CA, host name checked
            r = _direct(spec, kwargs, ssl=True, ssl_ca_certs=spec["tls_ca_certs"])
        else:
            r = _direct(spec, kwargs)
        if w == "set":
            op, args = r.set, (STR_KEY, VALUE)
        elif w in ("get", "get_direct_topo", "get_master_for", "get_tls"):
            op, args = r.get, (STR_KEY,)
        elif w == "hgetall":
            op, args = r.hgetall, (HASH_KEY,)
        elif w == "lrange":
            op, args = r.lrange, (LIST_KEY, 0, 999)
        elif w == "zrange":
            def op(name, _z=r.zrange):
                return _z(name, 0, 999, withscores=True)
            args = (ZSET_KEY,)
        else:
            op, args = r.mget, (MGET_KEYS,)
        size = 100 if w in ("get", "set", "get_direct_topo", "get_master_for", "get_tls") else 10

        def batch(n=size, op=op, args=args):
            for _ in range(n):
                op(*args)

        return batch, size, 1, r.close

    if w.startswith("pipe"):
        # pipe100, pipe100_tx, pipe10k, pipe10k_tx: SET k:i v / GET k:i alternately
        n = 100 if w.startswith("pipe100") else 10000
        tx = w.endswith("_tx")
        r = _direct(spec, kwargs)
        keys = [f"{PIPE_KEY}:{i}" for i in range(n // 2)]

        def batch(r=r, keys=keys, tx=tx):
            p = r.pipeline(transaction=tx)
            for k in keys:
                p.set(k, VALUE)
                p.get(k)
            replies = p.execute()
            if len(replies) != 2 * len(keys):
                raise RuntimeError("wrong number of pipeline replies")

        return batch, 1, n, r.close

    if w == "threads8":
        return None, 0, 1, None  # handled by run_threads

    if w == "sentinel_connect":
        _, Sentinel, _ = load_client(spec["client"])
        addrs = [tuple(a) for a in spec["sentinels"]]
        service = spec["service"]

        def batch():
            sentinel = Sentinel(addrs, socket_timeout=SENTINEL_TIMEOUT, **kwargs)
            master = sentinel.master_for(service, socket_timeout=SENTINEL_TIMEOUT)
            if master.get(STR_KEY) != VALUE:
                raise RuntimeError("unexpected reply through Sentinel")
            master.close()
            sentinel.close()  # both libraries: closes the Sentinel clients (and any helper thread)

        return batch, 1, 1, None

    raise SystemExit(f"unknown workload {w!r}")


def measure(batch, size, per_op, spec):
    for _ in range(max(1, 3 if size == 1 else 1)):  # warm-up: connect, first replies
        batch()
    count = spec.get("count")
    ops = 0
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if count is not None:
        while ops < count:
            batch()
            ops += size
    else:
        deadline = t0 + spec["duration"]
        while True:
            batch()
            ops += size
            if time.perf_counter() >= deadline:
                break
    t1 = time.perf_counter()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "ops": ops,
        "commands": ops * per_op,
        "seconds": t1 - t0,
        "utime": ru1.ru_utime - ru0.ru_utime,
        "stime": ru1.ru_stime - ru0.ru_stime,
    }


def run_threads(spec, kwargs, nthreads=8):
    """8 threads share one client from master_for, each doing GET in a loop."""
    sentinel = _sentinel(spec, kwargs)
    r = sentinel.master_for(spec["service"], socket_timeout=SENTINEL_TIMEOUT)
    get = r.get
    counts = [0] * nthreads
    stop = threading.Event()
    start = threading.Barrier(nthreads + 1)
    errors = []
    count = spec.get("count")
    per_thread = None if count is None else max(0, count // nthreads)

    def worker(i):
        try:
            for _ in range(20):  # warm-up: every thread gets its connection
                get(STR_KEY)
            start.wait()
            n = 0
            if per_thread is not None:
                for _ in range(per_thread):
                    get(STR_KEY)
                n = per_thread
            else:
                while not stop.is_set():
                    for _ in range(20):
                        get(STR_KEY)
                    n += 20
            counts[i] = n
        except BaseException as e:  # reported by the main thread
            errors.append(repr(e))
            try:
                start.abort()
            except Exception:
                pass

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(nthreads)]
    for t in threads:
        t.start()
    start.wait()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if per_thread is None:
        time.sleep(spec["duration"])
        stop.set()
    for t in threads:
        t.join()
    t1 = time.perf_counter()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    r.close()
    if errors:
        raise RuntimeError("thread failed: " + errors[0])
    ops = sum(counts)
    return {"ops": ops, "commands": ops, "seconds": t1 - t0,
            "utime": ru1.ru_utime - ru0.ru_utime, "stime": ru1.ru_stime - ru0.ru_stime}


def main() -> None:
    spec = json.loads(sys.argv[1])
    # A hung worker prints every thread's stack (for the report) and exits instead of hanging.
    faulthandler.dump_traceback_later(float(spec.get("hang_timeout", 60)), exit=True)
    kwargs = {}
    if spec["client"] == "redis-py" and spec.get("redis_py_protocol"):
        kwargs["protocol"] = int(spec["redis_py_protocol"])
    if spec["workload"] == "threads8":
        result = run_threads(spec, kwargs)
    else:
        batch, size, per_op, cleanup = build(spec, kwargs)
        result = measure(batch, size, per_op, spec)
        if cleanup is not None:
            cleanup()
    if spec.get("info"):
        result["library"] = library_info(spec["client"])
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
