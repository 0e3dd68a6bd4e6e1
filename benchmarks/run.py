"""sentinelfast vs redis-py (with hiredis) vs the limit, on local redis-server processes.

    python benchmarks/run.py [--quick] [--rounds N] [--duration S] [--out benchmarks/results]

What it does (see benchmarks/README.md):

* starts a standalone ``redis-server`` and a Sentinel topology (master, 2 replicas,
  3 Sentinels) on loopback with ``sentinelfast.testing`` and fills them with the keys;
* compiles the limit, ``benchmarks/limit/resp_limit.c`` (a minimal C loop with hand-written
  RESP, no hiredis), with ``cc``;
* runs every workload for ``--rounds`` rounds; in each round every participant
  (sentinelfast, redis-py, the C limit; each Python client in its own fresh process,
  ``benchmarks/worker.py``) runs once, and the order alternates from round to round.
  ``redis-benchmark`` runs alongside where it applies. A figure "A / B" is the median of
  the per-round ratios, so one noisy round does not decide it;
* counts syscalls per command with ``strace -c -f`` (N commands minus a 0-command baseline);
* prints the table, writes ``latest.json`` (+ a timestamped copy), ``latest.md`` and
  ``ratios.png`` to ``--out``; stops every server it started.

Exit status: 0, or 1 when a measurement failed (CI runs ``--quick`` to prove the suite works;
nothing about speed is asserted).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)   # run as a script with -P: our own modules are beside it

from machine import _version, machine_info  # noqa: E402
WORKER = os.path.join(HERE, "worker.py")
ASYNC_WORKER = os.path.join(HERE, "async_worker.py")
LIMIT_SRC = os.path.join(HERE, "limit", "resp_limit.c")

VALUE = "0123456789abcdef"  # 16 bytes, as in worker.py
STR_KEY, HASH_KEY, LIST_KEY, ZSET_KEY, PIPE_KEY = "bench:str", "bench:hash", "bench:list", "bench:zset", "bench:p"
MGET_KEYS = [f"bench:mget:{i}" for i in range(100)]

SF, RP, LIMIT, RB = "sentinelfast", "redis-py", "limit", "redis-benchmark"
SF_DIRECT, RP_DIRECT = "sentinelfast-direct", "redis-py-direct"
# asyncio workloads: the limit is a bare asyncio.Protocol (async_worker.py), and every
# participant also runs on uvloop when it is installed ("<participant>@uvloop").
ALIMIT = "asyncio-limit"
UVLOOP = "@uvloop"


def _uvloop_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("uvloop") is not None


# ------------------------------------------------------------------------------------------
# Workloads
# ------------------------------------------------------------------------------------------
#
# Each workload: where it runs ("standalone" server or the Sentinel "topology"), the worker
# workloads of the Python participants, the limit's arguments, redis-benchmark's arguments
# (None: not applicable), and the number of redis-benchmark requests for a 0.4 s run.

def _workloads() -> List[Dict[str, Any]]:
    mget = ["MGET"] + MGET_KEYS
    return [
        dict(name="get", label="GET 16 B, 1 connection", server="standalone",
             py={SF: "get", RP: "get"}, limit=["rr", "GET", STR_KEY],
             rb=dict(args=["GET", STR_KEY], c=1, n=6000), unit="commands/s", scale=2.5),
        dict(name="get_tls", label="GET 16 B over TLS, 1 connection", server="tls",
             py={SF: "get_tls", RP: "get_tls"}, limit=None, rb=None, unit="commands/s", scale=2.5),
        dict(name="set", label="SET 16 B, 1 connection", server="standalone",
             py={SF: "set", RP: "set"}, limit=["rr", "SET", STR_KEY, VALUE],
             rb=dict(args=["SET", STR_KEY, VALUE], c=1, n=6000), unit="commands/s", scale=2.5),
        dict(name="pipe100", label="pipeline of 100 (SET/GET)", server="standalone",
             py={SF: "pipe100", RP: "pipe100"}, limit=["pipe", "100", "0", PIPE_KEY, VALUE],
             rb=dict(args=["SET", PIPE_KEY + ":0", VALUE], c=1, P=100, n=200000), unit="commands/s"),
        dict(name="pipe100_tx", label="MULTI/EXEC of 100 (SET/GET)", server="standalone",
             py={SF: "pipe100_tx", RP: "pipe100_tx"}, limit=["pipe", "100", "1", PIPE_KEY, VALUE],
             rb=None, unit="commands/s"),
        dict(name="pipe10k", label="pipeline of 10,000 (SET/GET)", server="standalone",
             py={SF: "pipe10k", RP: "pipe10k"}, limit=["pipe", "10000", "0", PIPE_KEY, VALUE],
             rb=dict(args=["SET", PIPE_KEY + ":0", VALUE], c=1, P=10000, n=400000), unit="commands/s"),
        dict(name="pipe10k_tx", label="MULTI/EXEC of 10,000 (SET/GET)", server="standalone",
             py={SF: "pipe10k_tx", RP: "pipe10k_tx"}, limit=["pipe", "10000", "1", PIPE_KEY, VALUE],
             rb=None, unit="commands/s"),
        dict(name="threads8", label="8 threads, one master_for client (GET)", server="topology",
             py={SF: "threads8", RP: "threads8"}, limit=["threads", "8", "GET", STR_KEY],
             rb=dict(args=["GET", STR_KEY], c=8, n=20000), unit="commands/s"),
        dict(name="hgetall", label="HGETALL, 1,000 fields", server="standalone",
             py={SF: "hgetall", RP: "hgetall"}, limit=["rr", "HGETALL", HASH_KEY],
             rb=dict(args=["HGETALL", HASH_KEY], c=1, n=1500), unit="replies/s"),
        dict(name="lrange", label="LRANGE 0 999", server="standalone",
             py={SF: "lrange", RP: "lrange"}, limit=["rr", "LRANGE", LIST_KEY, "0", "999"],
             rb=dict(args=["LRANGE", LIST_KEY, "0", "999"], c=1, n=1500), unit="replies/s"),
        dict(name="zrange", label="ZRANGE 0 999 WITHSCORES", server="standalone",
             py={SF: "zrange", RP: "zrange"}, limit=["rr", "ZRANGE", ZSET_KEY, "0", "999", "WITHSCORES"],
             rb=dict(args=["ZRANGE", ZSET_KEY, "0", "999", "WITHSCORES"], c=1, n=1500), unit="replies/s"),
        dict(name="mget", label="MGET of 100 keys", server="standalone",
             py={SF: "mget", RP: "mget"}, limit=["rr"] + mget,
             rb=dict(args=mget, c=1, n=3000), unit="replies/s"),
        dict(name="sentinel_connect", label="new client via Sentinel to 1st reply", server="topology",
             py={SF: "sentinel_connect", RP: "sentinel_connect"}, limit=["sentinel"],
             rb=None, unit="ms"),
        dict(name="master_for", label="GET via master_for vs direct Redis", server="topology",
             py={SF: "get_master_for", RP: "get_master_for",
                 SF_DIRECT: "get_direct_topo", RP_DIRECT: "get_direct_topo"},
             limit=["rr", "GET", STR_KEY], rb=None, unit="commands/s"),
        # asyncio: sentinelfast.asyncio vs redis.asyncio (hiredis) vs a bare asyncio Protocol
        dict(name="async_get_1", label="asyncio: GET 16 B, 1 task", server="standalone", kind="async",
             py={SF: "async_get_1", RP: "async_get_1", ALIMIT: "async_get_1"}, limit=None,
             rb=dict(args=["GET", STR_KEY], c=1, n=6000), unit="commands/s", scale=2.5),
        dict(name="async_get_50", label="asyncio: GET 16 B, 50 tasks, one client", server="standalone",
             kind="async", py={SF: "async_get_50", RP: "async_get_50", ALIMIT: "async_get_50"}, limit=None,
             rb=dict(args=["GET", STR_KEY], c=50, n=20000), unit="commands/s", scale=2.5),
        dict(name="async_pipe100", label="asyncio: pipeline of 100 (SET/GET)", server="standalone",
             kind="async", py={SF: "async_pipe100", RP: "async_pipe100", ALIMIT: "async_pipe100"},
             limit=None, rb=dict(args=["SET", PIPE_KEY + ":0", VALUE], c=1, P=100, n=200000),
             unit="commands/s"),
        dict(name="async_hgetall", label="asyncio: HGETALL, 1,000 fields", server="standalone",
             kind="async", py={SF: "async_hgetall", RP: "async_hgetall", ALIMIT: "async_hgetall"},
             limit=None, rb=dict(args=["HGETALL", HASH_KEY], c=1, n=1500), unit="replies/s"),
    ]


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------

class Progress:
    """One status line on stderr (rewritten in place on a terminal)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.t0 = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.width = 0
        self.group = None

    def show(self, text: str, group: str = "") -> None:
        elapsed = time.monotonic() - self.t0
        eta = ""
        if self.done:
            eta = f"  eta {_mmss(elapsed / self.done * (self.total - self.done))}"
        line = f"[{self.done:>3}/{self.total}] {_mmss(elapsed)}{eta}  {text}"
        if self.tty:
            sys.stderr.write("\r" + line.ljust(self.width))
            self.width = len(line)
        elif group != self.group:  # a log, not a terminal: one line per workload and round
            self.group = group
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def step(self) -> None:
        self.done += 1

    def end(self) -> None:
        if self.tty:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()


def _mmss(s: float) -> str:
    s = int(s + 0.5)
    return f"{s // 60}:{s % 60:02d}"


def _median(xs: List[float]) -> Optional[float]:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# CPU placement (--pin split): the redis-server processes on one CPU, every measured client
# process (Python workers, the limit, redis-benchmark, strace) on another, so that each round
# trip crosses the same two CPUs every time instead of whatever the scheduler picks.
CLIENT_CPUS: Optional[set] = None


def _pin_client() -> None:  # preexec_fn of every measured process
    if CLIENT_CPUS:
        os.sched_setaffinity(0, CLIENT_CPUS)


def plan_cpus(mode: str):
    """(server CPUs, client CPUs) or (None, None) when not pinning."""
    if mode == "none" or not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, {cpus[1]}


def _run_json(cmd: List[str], timeout: float, env=None) -> Dict[str, Any]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          preexec_fn=_pin_client)
    if proc.returncode != 0:
        raise RuntimeError(f"{os.path.basename(cmd[0])} exited with {proc.returncode}: "
                           f"{(proc.stderr or proc.stdout).strip()[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _loadavg() -> Optional[List[float]]:
    try:
        return [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    except (OSError, ValueError):
        return None


def compile_limit(tmpdir: str) -> Optional[str]:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        print("warning: no C compiler (cc): the limit column stays empty", file=sys.stderr)
        return None
    exe = os.path.join(tmpdir, "resp_limit")
    proc = subprocess.run([cc, "-O2", "-pthread", "-o", exe, LIMIT_SRC], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"warning: could not compile {LIMIT_SRC}:\n{proc.stderr}", file=sys.stderr)
        return None
    return exe


# ------------------------------------------------------------------------------------------
# Servers
# ------------------------------------------------------------------------------------------

def fill(server) -> None:
    """The keys every workload reads (same keys for every participant)."""
    cmd = server.command
    cmd("FLUSHALL", timeout=10)
    cmd("SET", STR_KEY, VALUE)
    fields = []
    for i in range(1000):
        fields += [f"field:{i:04d}", VALUE]
    cmd("HSET", HASH_KEY, *fields, timeout=10)
    cmd("RPUSH", LIST_KEY, *[VALUE] * 1000, timeout=10)
    members = []
    for i in range(1000):
        members += [repr(i + 0.25), f"member:{i:04d}"]
    cmd("ZADD", ZSET_KEY, *members, timeout=10)
    pairs = []
    for k in MGET_KEYS:
        pairs += [k, VALUE]
    cmd("MSET", *pairs, timeout=10)


# ------------------------------------------------------------------------------------------
# Running the participants
# ------------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args, standalone, topology, limit_exe: Optional[str], tls_server=None) -> None:
        self.args = args
        self.standalone = standalone
        self.topology = topology
        self.limit_exe = limit_exe
        self.tls_server = tls_server   # TLS-only standalone server (the get_tls workload), or None
        self.errors: List[str] = []
        self.uvloop = _uvloop_installed()

    def server_of(self, w) -> tuple:
        node = {"standalone": self.standalone, "tls": self.tls_server}.get(w["server"])
        if node is None:
            node = self.topology.master
        return node.host, node.port

    def py_spec(self, client: str, workload: str, w, **extra) -> Dict[str, Any]:
        host, port = self.server_of(w)
        spec = {"client": client, "workload": workload, "host": host, "port": port,
                "sentinels": [list(a) for a in self.topology.sentinel_addresses],
                "service": self.topology.service_name,
                "redis_py_protocol": self.args.redis_py_protocol}
        if w["server"] == "tls":
            spec["tls_ca_certs"] = self.tls_server.tls.ca_cert
        spec.update(extra)
        return spec

    def worker_cmd(self, spec) -> List[str]:
        return [sys.executable, WORKER, json.dumps(spec)]

    def limit_cmd(self, w, count: int) -> Optional[List[str]]:
        if not self.limit_exe:
            return None
        args = list(w["limit"])
        if args[0] == "sentinel":
            host, port = self.topology.sentinel_addresses[0]
            args = ["sentinel", self.topology.service_name, STR_KEY]
        else:
            host, port = self.server_of(w)
        return [self.limit_exe, host, str(port), repr(self.duration_of(w)), str(count)] + args

    def duration_of(self, w) -> float:
        return self.args.duration * w.get("scale", 1.0)

    def run_participant(self, w, who: str) -> Dict[str, Any]:
        timeout = 30 + 20 * self.duration_of(w)
        if who == LIMIT:
            return _run_json(self.limit_cmd(w, -1), timeout)
        if who == RB:
            return self.run_redis_benchmark(w, timeout)
        if w.get("kind") == "async":
            base, _, loop = who.partition("@")
            spec = self.py_spec({ALIMIT: "limit"}.get(base, base), w["py"][base], w,
                                loop=loop or "asyncio", duration=self.duration_of(w),
                                hang_timeout=timeout - 5)
            return _run_json([sys.executable, ASYNC_WORKER, json.dumps(spec)], timeout)
        spec = self.py_spec(who.replace("-direct", ""), w["py"][who], w, duration=self.duration_of(w),
                            hang_timeout=timeout - 5)
        return _run_json(self.worker_cmd(spec), timeout)

    def run_redis_benchmark(self, w, timeout) -> Dict[str, Any]:
        rb = w["rb"]
        host, port = self.server_of(w)
        n = max(rb.get("P", 1), int(rb["n"] * self.duration_of(w) / 0.4))
        cmd = ["redis-benchmark", "-h", host, "-p", str(port), "-c", str(rb["c"]), "-n", str(n),
               "-P", str(rb.get("P", 1)), "--csv"] + rb["args"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, preexec_fn=_pin_client)
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        if proc.returncode != 0 or len(lines) < 2:
            raise RuntimeError(f"redis-benchmark failed: {(proc.stderr or proc.stdout).strip()[-500:]}")
        header = [h.strip('"') for h in lines[0].split(",")]
        row = [c.strip('"') for c in lines[-1].split('","')]
        rps = float(row[header.index("rps")].strip('"'))
        return {"commands": n, "seconds": n / rps, "rps": rps}

    def participants(self, w) -> List[str]:
        people = list(w["py"].keys())
        if w.get("kind") == "async" and self.uvloop:
            people += [who + UVLOOP for who in w["py"]]
        if self.limit_exe and w["limit"]:
            people.append(LIMIT)
        return people

    # -- rounds ----------------------------------------------------------------------------

    def rounds(self, workloads, progress: Progress) -> Dict[str, Dict[str, List]]:
        runs: Dict[str, Dict[str, List]] = {w["name"]: {} for w in workloads}
        use_rb = shutil.which("redis-benchmark") is not None and not self.args.no_redis_benchmark
        for r in range(self.args.rounds):
            for w in workloads:
                order = self.participants(w)
                if r % 2:  # alternate the order round by round
                    order.reverse()
                if use_rb and w["rb"]:
                    order.append(RB)
                for who in order:
                    progress.show(f"round {r + 1}/{self.args.rounds}  {w['name']:<16} {who}", f"{r}:{w['name']}")
                    try:
                        res = self.run_participant(w, who)
                    except Exception as e:  # keep going; reported at the end
                        msg = f"{w['name']} / {who} (round {r + 1}): {e}"
                        self.errors.append(msg)
                        res = {"error": str(e)}
                    runs[w["name"]].setdefault(who, []).append(res)
                    progress.step()
        return runs

    # -- syscalls --------------------------------------------------------------------------

    def syscalls(self, workloads, progress: Progress) -> Dict[str, Dict[str, Any]]:
        out: Dict[str, Dict[str, Any]] = {}
        if not shutil.which("strace") or self.args.no_strace:
            return out
        n = self.args.strace_commands
        with tempfile.TemporaryDirectory(prefix="sentinelfast-strace-") as tmp:
            for w in workloads:
                if w["name"] not in ("get", "set"):
                    continue
                for who in [SF, RP] + ([LIMIT] if self.limit_exe else []):
                    progress.show(f"strace  {w['name']:<16} {who}", "strace:" + w["name"])
                    try:
                        counts = []
                        for count in (n, 0):
                            if who == LIMIT:
                                cmd = self.limit_cmd(w, count)
                            else:
                                cmd = self.worker_cmd(self.py_spec(who, w["py"][who], w, count=count))
                            path = os.path.join(tmp, f"{w['name']}-{who}-{count}.txt")
                            subprocess.run(["strace", "-c", "-f", "-o", path, "--"] + cmd, check=True,
                                           capture_output=True, timeout=120, preexec_fn=_pin_client)
                            counts.append(parse_strace(path))
                        full, base = counts
                        names = set(full) | set(base)
                        diff = {k: (full.get(k, 0) - base.get(k, 0)) / n for k in names if k != "total"}
                        out.setdefault(w["name"], {})[who] = {
                            "commands": n,
                            "per_command": (full.get("total", 0) - base.get("total", 0)) / n,
                            "by_syscall": {k: round(v, 3) for k, v in sorted(diff.items(), key=lambda kv: -kv[1])
                                           if abs(v) >= 0.005},
                        }
                    except Exception as e:
                        self.errors.append(f"strace {w['name']} / {who}: {e}")
                    progress.step()
        return out


def parse_strace(path: str) -> Dict[str, int]:
    """{syscall: calls, "total": calls} from an ``strace -c`` summary."""
    counts: Dict[str, int] = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 5 or not parts[0].replace(".", "", 1).isdigit():
                continue
            name = parts[-1]
            # "% time seconds usecs/call calls [errors] syscall"
            try:
                calls = int(parts[3])
            except ValueError:
                continue
            counts[name] = counts.get(name, 0) + calls
    return counts


# ------------------------------------------------------------------------------------------
# Summary: medians and medians of per-round ratios
# ------------------------------------------------------------------------------------------

def _rate(res) -> Optional[float]:
    if not res or "error" in res or not res.get("seconds") or not res.get("commands"):
        return None
    return res["commands"] / res["seconds"]


def _per_cmd(res, key) -> Optional[float]:
    if not res or "error" in res or not res.get("commands"):
        return None
    return res[key] / res["commands"] * 1e6  # microseconds per command


def _cpu_per_cmd(res) -> Optional[float]:
    if not res or "error" in res or not res.get("commands"):
        return None
    return (res["utime"] + res["stime"]) / res["commands"] * 1e6  # user + system, microseconds


def _ms_per_op(res) -> Optional[float]:
    if not res or "error" in res or not res.get("ops"):
        return None
    return res["seconds"] / res["ops"] * 1e3


def _ratios(a: List, b: List, f) -> List[Optional[float]]:
    out = []
    for x, y in zip(a, b):
        fx, fy = f(x), f(y)
        out.append(fx / fy if fx is not None and fy else None)
    return out


def summarize(workloads, runs, sys_counts) -> List[Dict[str, Any]]:
    rows = []

    def row(name, label, unit, better, metric, runs_w, target=None, rb=None):
        sf, rp, lim = runs_w.get(SF, []), runs_w.get(RP, []), runs_w.get(LIMIT, [])
        r_rp = _ratios(sf, rp, metric)
        r_lim = _ratios(sf, lim, metric) if lim else []
        d = {
            "workload": name, "label": label, "unit": unit, "better": better,
            SF: _median([metric(x) for x in sf]), RP: _median([metric(x) for x in rp]),
            LIMIT: _median([metric(x) for x in lim]) if lim else None,
            RB: rb,
            "sf_over_rp": _median(r_rp), "sf_over_rp_rounds": r_rp,
            "sf_over_limit": _median(r_lim) if r_lim else None, "sf_over_limit_rounds": r_lim,
            "target": None, "holds": None,
        }
        if target:
            kind, value, text = target
            d["target"] = text
            x = d["sf_over_limit"] if kind == "limit" else d["sf_over_rp"] if kind in ("rp_min", "rp_max") else d[SF]
            if x is not None:
                d["holds"] = x >= value if kind in ("limit", "rp_min") else x <= value
        rows.append(d)
        return d

    def rb_rate(runs_w):
        return _median([x.get("rps") for x in runs_w.get(RB, []) if "error" not in x])

    for w in workloads:
        name, label, rw = w["name"], w["label"], runs[w["name"]]
        if name == "get_tls":   # no TLS limit (the C loop is plain TCP): beside redis-py only
            row(name, label, "commands/s", "higher", _rate, rw)
            row(name + ":user_cpu", label, "user CPU us/cmd", "lower", lambda x: _per_cmd(x, "utime"), rw)
        elif name in ("get", "set"):
            row(name, label, "commands/s", "higher", _rate, rw, ("limit", 0.97, ">= 0.97x limit"), rb_rate(rw))
            row(name + ":user_cpu", label, "user CPU us/cmd", "lower", lambda x: _per_cmd(x, "utime"), rw,
                ("rp_max", 0.25, "<= 0.25x redis-py"))
            row(name + ":sys_cpu", label, "sys CPU us/cmd", "lower", lambda x: _per_cmd(x, "stime"), rw)
            sc = sys_counts.get(name, {})
            if sc:
                d = {"workload": name + ":syscalls", "label": label, "unit": "syscalls/cmd", "better": "lower",
                     SF: sc.get(SF, {}).get("per_command"), RP: sc.get(RP, {}).get("per_command"),
                     LIMIT: sc.get(LIMIT, {}).get("per_command"), RB: None,
                     "sf_over_limit": None, "target": "<= 2 per command", "holds": None}
                d["sf_over_rp"] = d[SF] / d[RP] if d[SF] is not None and d[RP] else None
                if d[SF] is not None:
                    d["holds"] = d[SF] <= 2.05
                rows.append(d)
        elif name.startswith("pipe"):
            row(name, label, "commands/s", "higher", _rate, rw, ("rp_min", 3.0, ">= 3x redis-py"), rb_rate(rw))
        elif name == "threads8":
            row(name, label, "commands/s", "higher", _rate, rw, ("rp_min", 2.0, ">= 2x redis-py"), rb_rate(rw))
        elif name in ("hgetall", "lrange", "zrange", "mget"):
            row(name, label, "replies/s", "higher", _rate, rw, ("rp_min", 3.0, ">= 3x redis-py"), rb_rate(rw))
        elif name == "sentinel_connect":
            row(name, label, "ms", "lower", _ms_per_op, rw)
        elif w.get("kind") == "async":
            unit = w["unit"]
            for loop in ("", UVLOOP):
                rl = {SF: rw.get(SF + loop, []), RP: rw.get(RP + loop, []), LIMIT: rw.get(ALIMIT + loop, [])}
                if not rl[SF] and not rl[RP]:
                    continue
                lname = "default loop" if not loop else "uvloop"
                d = row(name + loop.replace("@", ":"), f"{label} ({lname})", unit, "higher", _rate, rl,
                        ("rp_min", 2.0, ">= 2x redis.asyncio"), rb_rate(rw) if not loop else None)
                d["group"] = "async"
                d = row(name + loop.replace("@", ":") + ":cpu", f"{label} ({lname})", "CPU us/cmd", "lower",
                        lambda x: _cpu_per_cmd(x), rl)
                d["group"] = "async"
        elif name == "master_for":
            direct = {SF: rw.get(SF_DIRECT, []), RP: rw.get(RP_DIRECT, []), LIMIT: rw.get(LIMIT, [])}
            row("master_for:direct", "GET, direct Redis to the master", "commands/s", "higher", _rate, direct)
            row("master_for", "GET, master_for client, same master", "commands/s", "higher", _rate, rw)
            sf_r = _ratios(rw.get(SF, []), rw.get(SF_DIRECT, []), _rate)
            rp_r = _ratios(rw.get(RP, []), rw.get(RP_DIRECT, []), _rate)
            d = {"workload": "master_for:overhead", "label": "master_for / direct (GET)", "unit": "ratio",
                 "better": "higher", SF: _median(sf_r), RP: _median(rp_r), LIMIT: None, RB: None,
                 "sf_rounds": sf_r, "rp_rounds": rp_r, "sf_over_rp": None, "sf_over_limit": None,
                 "target": ">= 0.95 (at most 5% slower)", "holds": None}
            if d[SF] is not None:
                d["holds"] = d[SF] >= 0.95
            rows.append(d)
    return rows


# ------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------

def _fmt(v, unit) -> str:
    if v is None:
        return "-"
    if unit in ("commands/s", "replies/s"):
        return f"{v:,.0f}"
    if unit == "ratio":
        return f"{v:.3f}"
    if unit == "syscalls/cmd":
        return f"{v:.2f}"
    return f"{v:.2f}" if v < 100 else f"{v:,.0f}"


def _fx(v) -> str:
    return "-" if v is None else f"{v:.2f}x"


def table_rows(rows) -> List[List[str]]:
    out = []
    for d in rows:
        status = "" if d["holds"] is None else ("yes" if d["holds"] else "NO")
        target = f"{d['target']}: {status}" if d["target"] else ""
        out.append([d["label"], d["unit"], _fmt(d[SF], d["unit"]), _fmt(d[RP], d["unit"]),
                    _fmt(d[LIMIT], d["unit"]), _fmt(d.get(RB), "commands/s"),
                    _fx(d["sf_over_rp"]), _fx(d["sf_over_limit"]), target])
    return out


HEADER = ["workload", "metric", "sentinelfast", "redis-py", "limit (C)", "redis-benchmark",
          "sf / redis-py", "sf / limit", "target"]


ASYNC_HEADER = ["workload", "metric", "sentinelfast", "redis.asyncio", "asyncio limit", "redis-benchmark",
                "sf / redis.asyncio", "sf / limit", "target"]


def _groups(rows):
    """(header, rows) of each table: the blocking clients', then the asyncio clients'."""
    sync = [d for d in rows if d.get("group") != "async"]
    aio = [d for d in rows if d.get("group") == "async"]
    return [(h, g) for h, g in ((HEADER, sync), (ASYNC_HEADER, aio)) if g]


def print_table(rows, file=sys.stdout) -> None:
    for n, (header, group) in enumerate(_groups(rows)):
        if n:
            print(file=file)
        body = table_rows(group)
        widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
        right = {2, 3, 4, 5, 6, 7}

        def line(cells):
            return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells))

        print(line(header), file=file)
        print("  ".join("-" * w for w in widths), file=file)
        prev = None
        for d, cells in zip(group, body):
            if prev is not None and d["label"] == prev:
                cells = [""] + cells[1:]
            prev = d["label"]
            print(line(cells).rstrip(), file=file)


def _placement(meta) -> str:
    pin = meta.get("pin") or {}
    text = (f"redis-server processes pinned to CPU {pin['servers'][0]}, client processes to CPU "
            f"{pin['clients'][0]}." if pin.get("servers") else "No CPU pinning.")
    la, lb = meta.get("loadavg_start"), meta.get("loadavg_end")
    if la and lb:
        text += f" Load average {la[0]:.2f} at the start, {lb[0]:.2f} at the end."
    return text


def markdown(rows, meta) -> str:
    m = meta["machine"]
    lines = [
        f"Run {meta['finished']} ({meta['rounds']} rounds of {meta['duration']} s, "
        f"{meta['elapsed_s']:.0f} s in all){' -- QUICK MODE, not for publishing' if meta['quick'] else ''}.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), {m['os']}, Linux {m['kernel']}; "
        f"Python {m['python']}, redis-server {m['redis_server']}, redis-py {m['redis_py']} "
        f"(hiredis {m['hiredis_py']}, protocol {meta['redis_py_protocol'] or 'default'}), "
        f"sentinelfast {m['sentinelfast']} (libhiredis {m['libhiredis']}).",
        "",
        _placement(meta),
    ]
    for header, group in _groups(rows):
        if header is ASYNC_HEADER:
            lines += ["", "asyncio clients (`sentinelfast.asyncio` vs `redis.asyncio`; the limit is a bare "
                      "`asyncio.BufferedProtocol` framing replies by length, on the same loop"
                      + (f"; uvloop {m['uvloop']}" if m.get("uvloop") else "") + "):"]
        lines += ["", "| " + " | ".join(header) + " |",
                  "|" + "|".join(["---", "---"] + ["---:"] * 6 + ["---"]) + "|"]
        prev = None
        for d, cells in zip(group, table_rows(group)):
            if d["label"] == prev:
                cells = [""] + cells[1:]
            prev = d["label"]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "sf / redis-py and sf / limit are medians of per-round ratios of the metric in that row "
              "(for us/cmd and ms rows, lower than 1x means sentinelfast uses less). "
              "Syscalls: `strace -c -f`, "
              f"{meta.get('strace_commands')} commands minus a 0-command baseline.", ""]
    return "\n".join(lines)


def chart(rows, path: str, meta) -> Optional[str]:
    """Two panels, one line per workload: sentinelfast / redis-py, and sentinelfast / limit."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no chart"
    targets_rp = {"threads8": 2.0, "pipe100": 3.0, "pipe100_tx": 3.0, "pipe10k": 3.0, "pipe10k_tx": 3.0,
                  "hgetall": 3.0, "lrange": 3.0, "zrange": 3.0, "mget": 3.0,
                  "get:user_cpu": 4.0, "set:user_cpu": 4.0}
    for name in ("async_get_1", "async_get_50", "async_pipe100", "async_hgetall"):
        targets_rp[name] = targets_rp[name + ":uvloop"] = 2.0
    items = []  # (label, (median, rounds, target) vs redis-py, (median, rounds, target) vs limit)
    for d in rows:
        wl, u = d["workload"], d["unit"]
        if (wl.endswith(":sys_cpu") or wl.endswith(":syscalls") or wl == "master_for:direct"
                or (d.get("group") == "async" and wl.endswith(":cpu"))):
            continue
        if wl == "master_for:overhead":
            items.append(("GET: master_for / direct Redis", None,
                          (d[SF], d.get("sf_rounds") or [], 0.95)))
            continue
        if d["sf_over_rp"] is None:
            continue
        if d["better"] == "lower":  # shown as "times less": redis-py / sentinelfast
            vs_rp = (1 / d["sf_over_rp"], [1 / x for x in d["sf_over_rp_rounds"] if x], targets_rp.get(wl))
            label = f"{d['label']}: {'user CPU/cmd' if u.startswith('user') else 'time'}"
        else:
            vs_rp = (d["sf_over_rp"], [x for x in d["sf_over_rp_rounds"] if x], targets_rp.get(wl))
            label = d["label"]
        vs_lim = None
        if d["sf_over_limit"] is not None and d["better"] == "higher":
            vs_lim = (d["sf_over_limit"], [x for x in d["sf_over_limit_rounds"] if x],
                      0.97 if wl in ("get", "set") else None)
        items.append((label, vs_rp, vs_lim))
    if not items:
        return "nothing to chart"
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.38 * len(items) + 1.9), sharey=True,
                             gridspec_kw={"width_ratios": [1.25, 1]})
    ys = list(range(len(items)))[::-1]
    titles = ["sentinelfast vs redis-py + hiredis  (x times faster / less CPU)",
              "sentinelfast vs the limit (C raw-socket loop; asyncio rows: a bare\n"
              "asyncio Protocol on the same loop): fraction of its speed\n"
              "(last line: sentinelfast master_for vs direct Redis)"]
    for col, ax in enumerate(axes):
        xs_all = [1.0]
        for y, it in zip(ys, items):
            v = it[1 + col]
            if not v or not v[0]:
                continue
            med, rnds, tgt = v
            ok = tgt is None or med >= tgt
            color = ("#2b7bb9" if col == 0 else "#7a8b99") if ok else "#d9534f"
            ax.barh(y, med, color=color, height=0.68)
            ax.scatter(rnds, [y] * len(rnds), color="black", s=7, zorder=3)
            if tgt:
                ax.plot([tgt, tgt], [y - 0.42, y + 0.42], color="black", lw=2.2, zorder=4)
            right = max([med] + rnds + ([tgt] if tgt else []))
            ax.text(right * 1.08, y, f"{med:.2f}x", va="center", fontsize=8)
            xs_all += [med] + rnds + ([tgt] if tgt else [])
        ax.set_xscale("log")
        ax.axvline(1.0, color="gray", lw=0.8, ls="--")
        lo, hi = min(xs_all), max(xs_all)
        ax.set_xlim(min(lo * 0.7, 0.5), max(hi * 2.0, 2.0))
        ax.set_title(titles[col], fontsize=9)
        ax.grid(axis="x", which="both", alpha=0.2)
        ax.tick_params(axis="x", labelsize=8)
    axes[0].set_yticks(ys)
    axes[0].set_yticklabels([it[0] for it in items], fontsize=8)
    m = meta["machine"]
    fig.suptitle(f"sentinelfast {m['sentinelfast']} vs redis-py {m['redis_py']} (hiredis {m['hiredis_py']}) on "
                 f"{m['cpu']}, {m['cores']} cores; {meta['rounds']} rounds"
                 + (" -- QUICK MODE" if meta["quick"] else ""), fontsize=10)
    fig.text(0.5, 0.005, "bar: median of per-round ratios; dots: rounds; black tick: target "
             "(red bar: target missed); log scale", ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


# ------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke run (about a minute): 2 rounds of 0.1 s, few strace commands")
    p.add_argument("--rounds", type=int, help="rounds (default 5; 2 with --quick)")
    p.add_argument("--duration", type=float, help="seconds per measurement (default 0.4, GET/SET 2.5 times "
                   "longer; 0.1 with --quick)")
    p.add_argument("--out", help="output directory (default benchmarks/results; benchmarks/results/quick "
                   "with --quick, so a smoke run never replaces the published figures)")
    p.add_argument("--only", help="comma-separated workload names (default: all): "
                   + ",".join(w["name"] for w in _workloads()))
    p.add_argument("--strace-commands", type=int, help="commands per strace run (default 2000; 200 with --quick)")
    p.add_argument("--no-strace", action="store_true", help="skip the syscall counts")
    p.add_argument("--no-redis-benchmark", action="store_true", help="skip redis-benchmark")
    p.add_argument("--pin", choices=("split", "none"), default="split",
                   help="split (default): redis-server processes on the first usable CPU, the measured "
                        "client processes on the second; none: let the scheduler place them")
    p.add_argument("--redis-py-protocol", type=int, choices=(2, 3),
                   help="protocol= for redis-py clients (default: redis-py's own default)")
    a = p.parse_args(argv)
    a.out = a.out or os.path.join(HERE, "results", "quick" if a.quick else "")
    a.rounds = a.rounds or (2 if a.quick else 5)
    a.duration = a.duration or (0.1 if a.quick else 0.4)
    a.strace_commands = a.strace_commands or (200 if a.quick else 2000)
    if a.strace_commands % 100:
        p.error("--strace-commands must be a multiple of 100")
    return a


def _sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None) -> int:
    global CLIENT_CPUS
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    for dist in ("redis", "hiredis"):
        if _version(dist) is None:
            print(f"error: {dist} is not installed: pip install 'redis[hiredis]' (or the [bench] extra)",
                  file=sys.stderr)
            return 2
    from sentinelfast.testing.certs import make_certificates
    from sentinelfast.testing.topology import RedisServer, Topology

    workloads = _workloads()
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {w["name"] for w in workloads}
        if unknown:
            print(f"error: unknown workloads {sorted(unknown)}", file=sys.stderr)
            return 2
        workloads = [w for w in workloads if w["name"] in wanted]

    meta: Dict[str, Any] = {
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": args.quick, "rounds": args.rounds, "duration": args.duration,
        "strace_commands": args.strace_commands, "redis_py_protocol": args.redis_py_protocol,
        "machine": machine_info(), "command": " ".join([os.path.relpath(__file__, os.getcwd())] + sys.argv[1:]),
    }
    sf_path = meta["machine"]["sentinelfast_path"] or ""
    if sf_path.startswith(REPO + os.sep) and "/.venv/" not in sf_path:
        print(f"warning: sentinelfast is imported from the source tree ({sf_path}), not an installed wheel",
              file=sys.stderr)
    t0 = time.monotonic()
    standalone = topology = tls_server = None
    tmpdir = tempfile.mkdtemp(prefix="sentinelfast-bench-")
    try:
        sys.stderr.write("==> compiling the limit and starting redis-server + a Sentinel topology\n")
        limit_exe = compile_limit(tmpdir)
        standalone = RedisServer("standalone", name="bench-standalone").start()
        if any(w["server"] == "tls" for w in workloads):
            # TLS only, no client certificate asked: the cost of TLS itself
            certs = make_certificates(os.path.join(tmpdir, "certs"))
            tls_server = RedisServer("standalone", ["tls-auth-clients no"], tls=certs,
                                     name="bench-tls").start()
        # down-after 5 s: a busy machine must not make the Sentinels fail the master over mid-run
        topology = Topology(down_after_ms=5000, failover_timeout_ms=30000).start()
        server_cpus, client_cpus = plan_cpus(args.pin)
        if server_cpus:
            CLIENT_CPUS = client_cpus
            for node in [standalone] + ([tls_server] if tls_server else []) + topology.nodes:
                os.sched_setaffinity(node.pid, server_cpus)
        meta["pin"] = {"servers": sorted(server_cpus) if server_cpus else None,
                       "clients": sorted(client_cpus) if client_cpus else None}
        meta["loadavg_start"] = _loadavg()
        fill(standalone)
        if tls_server is not None:
            fill(tls_server)
        fill(topology.master)
        first_master = topology.master.address
        bench = Bench(args, standalone, topology, limit_exe, tls_server)
        use_rb = shutil.which("redis-benchmark") is not None and not args.no_redis_benchmark
        per_round = sum(len(bench.participants(w)) + (1 if use_rb and w["rb"] else 0) for w in workloads)
        n_strace = 0
        if shutil.which("strace") and not args.no_strace:
            n_strace = sum(1 for w in workloads if w["name"] in ("get", "set")) * (3 if limit_exe else 2)
        progress = Progress(per_round * args.rounds + n_strace)
        runs = bench.rounds(workloads, progress)
        sys_counts = bench.syscalls(workloads, progress)
        progress.end()
        meta["loadavg_end"] = _loadavg()
        if topology.current_master_address() != first_master:
            bench.errors.append("the Sentinel topology failed over during the run: Sentinel figures are suspect")
    finally:
        for thing in (topology, standalone, tls_server):
            if thing is not None:
                try:
                    thing.stop()
                except Exception as e:
                    print(f"warning: could not stop {thing!r}: {e}", file=sys.stderr)
        shutil.rmtree(tmpdir, ignore_errors=True)

    meta["finished"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    meta["elapsed_s"] = round(time.monotonic() - t0, 1)
    rows = summarize(workloads, runs, sys_counts)
    result = {"meta": meta, "summary": rows, "syscalls": sys_counts, "runs": runs,
              "workloads": [{k: v for k, v in w.items()} for w in workloads], "errors": bench.errors}

    os.makedirs(args.out, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    for name in ("latest.json", f"run-{stamp}{'-quick' if args.quick else ''}.json"):
        tmp = os.path.join(args.out, name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)
        os.replace(tmp, os.path.join(args.out, name))
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write(markdown(rows, meta))
    problem = chart(rows, os.path.join(args.out, "ratios.png"), meta)
    if problem:
        print(f"warning: {problem}", file=sys.stderr)

    print()
    print_table(rows)
    m = meta["machine"]
    print(f"\n{m['cpu']}, {m['cores']} cores; Python {m['python']}, redis-server {m['redis_server']}, "
          f"redis-py {m['redis_py']} + hiredis {m['hiredis_py']}; {args.rounds} rounds of {args.duration} s; "
          f"{meta['elapsed_s']:.0f} s")
    print(_placement(meta))
    print(f"results: {os.path.relpath(os.path.join(args.out, 'latest.json'))}, latest.md, ratios.png")
    if bench.errors:
        print(f"\n{len(bench.errors)} measurement(s) failed:", file=sys.stderr)
        for e in bench.errors:
            print("  " + e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
