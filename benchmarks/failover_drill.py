#!/usr/bin/env python3
"""Failover drill: sentinelfast and redis-py through the same faults.

For every fault kind and client, on a fresh ``sentinelfast.testing.topology.Topology``
(1 master, 2 replicas, 3 Sentinels on loopback; down-after 1000 ms):

    sentinel = Sentinel(topology.sentinel_addresses, socket_timeout=0.5)
    client = sentinel.master_for(service, socket_timeout=0.5)

and a writer thread doing ``SET drill:<n> <n>`` (n advances when the write is acknowledged;
an error is caught, counted, and the same write retried after 50 ms). After a few seconds
the fault is injected:

    planned   SENTINEL FAILOVER
    kill      SIGKILL to the master (it stays dead)
    hang      SIGSTOP to the master, SIGCONT 1 s after the Sentinels name the new master

The run continues until the Sentinels name a new master, the client's writes reach it and
(planned / hang) Sentinel has converted the old master to a replica, then a few seconds more.
Every acknowledged key is then read back from the new master with raw RESP ``MGET``
(``sentinelfast.testing.topology.resp_command``), and the Sentinel events come from a
raw-socket ``PSUBSCRIBE *`` to every Sentinel, never from the client under test.

Reported per client and fault: acknowledged writes, errors seen by the application,
acknowledged writes lost (split: acknowledged before the fault = not yet replicated, Redis
replication being asynchronous; after the fault = written to a master that was no longer the
master), the longest stall (longest gap between two acknowledged writes) and the time from
the first +switch-master to the first write acknowledged by the new master.

Writes a table to stdout, JSON to benchmarks/results/failover_drill.json and Markdown to
benchmarks/results/failover_drill.md. ``--quick`` runs the planned failover only (for CI).

    python benchmarks/failover_drill.py            # all faults, both clients (about 3 minutes)
    python benchmarks/failover_drill.py --quick    # planned failover only

The drill, the demo (demo/failover_demo.py) and ``sentinelfast drill`` share their code:
``sentinelfast.ops.drill`` (the writer, the Sentinel event listener and the run itself).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import signal
import sys
import time

from sentinelfast.ops import drill

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
FAULT_ORDER = ("planned", "kill", "hang")


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # run with -P
from machine import machine_info  # noqa: E402


class DrillConsole(drill.Console):
    """Event lines only with --verbose; no status line."""

    def __init__(self, verbose):
        super().__init__(sys.stdout)
        self.verbose = verbose

    def event(self, text):
        if self.verbose:
            super().event("    " + text.replace("\n", "\n    "))

    def status(self, text):
        pass


rel = drill.seconds_from


def summarize(r):
    """The JSON-able part of a run result (times in seconds from the fault)."""
    t0 = r["t_fault"]
    return {
        **drill.writer_outcome(r, t0),
        "fault": r["fault"],
        "acked_before_fault": r["acked_at_fault"],
        "lost_acked_before_fault": r["lost_before_fault"],
        "lost_acked_after_fault": r["lost_after_fault"],
        "switch_master_to_first_write_on_new_master": (
            None if r["switch_to_first_write"] is None else round(r["switch_to_first_write"], 4)),
        # from the moment a replica answered ROLE "master" (an independent 1 ms poller)
        "replica_master_at": rel(r.get("t_role_master"), t0),
        "promotion_to_first_write_on_new_master": (
            None if r.get("promotion_to_first_write") is None
            else round(r["promotion_to_first_write"], 4)),
        "resumed": rel(r["t_resume"], t0),
        "new_master": list(r["new_master"]),
        "client_stats": r["client_stats"],
    }


COLUMNS = [
    ("fault", lambda s: drill.FAULTS[s["fault"]]),
    ("client", lambda s: s["client_version"]),
    ("acked writes", lambda s: str(s["acked_writes"])),
    ("errors seen by app", lambda s: str(s["errors"])),
    ("acked writes lost", lambda s: str(s["lost"]) if not s["lost"] else
        f"{s['lost']} ({s['lost_acked_before_fault']} before / {s['lost_acked_after_fault']} after the fault)"),
    ("longest stall", lambda s: f"{s['longest_stall']:.3f} s"),
    ("+switch-master → first write on new master", lambda s: "-" if s[
        "switch_master_to_first_write_on_new_master"] is None else
        f"{s['switch_master_to_first_write_on_new_master']:.3f} s"),
    ("replica is master (ROLE) → first write on it", lambda s: "-" if s.get(
        "promotion_to_first_write_on_new_master") is None else
        f"{s['promotion_to_first_write_on_new_master'] * 1000:.1f} ms"),
]


def text_table(rows):
    header = [name for name, _ in COLUMNS]
    cells = [[get(s) for _, get in COLUMNS] for s in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def markdown_table(rows):
    header = [name for name, _ in COLUMNS]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|"]
    for s in rows:
        lines.append("| " + " | ".join(get(s) for _, get in COLUMNS) + " |")
    return "\n".join(lines)


def median_rows(summaries):
    """Per fault and client: the median longest stall and time from the promotion to the
    first write on the new master, the total errors and lost writes."""
    import statistics

    groups = {}
    for s in summaries:
        groups.setdefault((s["fault"], s["client_version"]), []).append(s)
    rows = []
    for (fault, client), runs in groups.items():
        promo = [r["promotion_to_first_write_on_new_master"] for r in runs
                 if r.get("promotion_to_first_write_on_new_master") is not None]
        rows.append({
            "fault": fault, "client": client, "runs": len(runs),
            "median_longest_stall": statistics.median(r["longest_stall"] for r in runs),
            "median_promotion_to_first_write": statistics.median(promo) if promo else None,
            "errors": sum(r["errors"] for r in runs), "lost": sum(r["lost"] for r in runs),
        })
    return rows


def median_markdown(rows):
    lines = ["| fault | client | runs | median longest stall | median replica is master → first write on it "
             "| errors (total) | acked writes lost (total) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        promo = r["median_promotion_to_first_write"]
        lines.append(f"| {drill.FAULTS[r['fault']]} | {r['client']} | {r['runs']} | "
                     f"{r['median_longest_stall']:.3f} s | "
                     f"{'-' if promo is None else f'{promo * 1000:.1f} ms'} | {r['errors']} | {r['lost']} |")
    return "\n".join(lines)


def child_redis_servers():
    """redis-server processes that are children of this process (there should be none left)."""
    found = []
    me = str(os.getpid())
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                data = f.read()
            comm = data[data.index(b"(") + 1: data.rindex(b")")].decode(errors="replace")
            ppid = data[data.rindex(b")") + 2:].split()[1].decode()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me and comm.startswith("redis-server"):
            found.append(int(pid))
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default=None,
                        help="comma-separated: sentinelfast,redis-py (default: both when redis-py is importable)")
    parser.add_argument("--faults", default=",".join(FAULT_ORDER), help="comma-separated: planned,kill,hang")
    parser.add_argument("--quick", action="store_true", help="planned failover only (for CI)")
    parser.add_argument("--before", type=float, default=3.0, help="seconds of writes before the fault (3)")
    parser.add_argument("--after", type=float, default=3.0, help="seconds of writes at the end (3)")
    parser.add_argument("--follow-timeout", type=float, default=40.0,
                        help="max seconds from the fault to a new master, the first write on it and "
                             "+convert-to-slave (40)")
    parser.add_argument("--resume-after", type=float, default=1.0,
                        help="hang: seconds after the switch before SIGCONT to the old master (1)")
    parser.add_argument("--json", default=os.path.join(RESULTS, "failover_drill.json"))
    parser.add_argument("--md", default=os.path.join(RESULTS, "failover_drill.md"))
    parser.add_argument("--png-dir", default=None,
                        help="also draw one timeline per fault (failover_<fault>.png) into this directory")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per fault and client (medians reported when > 1)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the events of every run")
    args = parser.parse_args(argv)

    if args.clients:
        clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    else:
        clients = ["sentinelfast"] + (["redis-py"] if drill.redis_py_available() else [])
    faults = ["planned"] if args.quick else [f.strip() for f in args.faults.split(",") if f.strip()]
    for c in clients:
        if c not in ("sentinelfast", "redis-py"):
            parser.error(f"unknown client {c!r}")
    for f in faults:
        if f not in drill.FAULTS:
            parser.error(f"unknown fault {f!r}")

    logging.getLogger("sentinelfast").addHandler(logging.NullHandler())
    signal.signal(signal.SIGTERM, drill.on_signal)
    console = DrillConsole(args.verbose)
    started = datetime.datetime.now(datetime.timezone.utc)
    info = machine_info()
    print(f"failover drill: clients {', '.join(clients)}; faults {', '.join(faults)}")
    print(f"machine: {info['cpu']}, {info['cores']} CPUs, Linux {info['kernel']}, "
          f"Python {info['python']}, Redis server v={info['redis_server']}")

    summaries, results = [], {}
    failed = False
    try:
        for fault in faults:
            for client in [c for c in clients for _ in range(max(1, args.repeat))]:
                t0 = time.monotonic()
                print(f"  {drill.FAULTS[fault]:<44} {client:<13}", end="", flush=True)
                r = drill.run_drill(client, console, fault=fault, before=args.before, after=args.after,
                                   follow_timeout=args.follow_timeout, retry_sleep=0.05, socket_timeout=0.5,
                                   prefix="drill:", wait_convert=True, resume_after=args.resume_after,
                                   live=False)
                s = summarize(r)
                summaries.append(s)
                results.setdefault(fault, []).append(r)
                failed |= not r["followed"]
                print(f" {time.monotonic() - t0:5.1f}s: {s['acked_writes']} acked, {s['errors']} errors, "
                      f"{s['lost']} lost, longest stall {s['longest_stall']:.3f}s"
                      + ("" if r["followed"] else "  (DID NOT FOLLOW THE FAILOVER)"))
            if args.png_dir:
                path = os.path.join(args.png_dir, f"failover_{fault}.png")
                try:
                    drill.plot_timeline(results[fault], path)
                    print(f"    timeline: {path}")
                except ImportError:
                    print("    (no timeline: matplotlib is not installed)")
            del results[fault]  # the per-write data is large
    except KeyboardInterrupt:
        print("\ninterrupted (SIGINT)", file=sys.stderr)
        return 130
    except drill.Interrupted as e:
        print(f"\ninterrupted ({e})", file=sys.stderr)
        return 128 + e.signum
    finally:
        leftovers = child_redis_servers()
        if leftovers:
            print(f"error: redis-server processes left running: {leftovers}", file=sys.stderr)
            failed = True

    import sentinelfast

    versions = {
        "sentinelfast": getattr(sentinelfast, "__version__", "?"),
        "sentinelfast_path": os.path.dirname(sentinelfast.__file__),
    }
    if drill.redis_py_available():
        import redis

        versions["redis_py"] = redis.__version__
    date = started.strftime("%Y-%m-%d")
    params = {
        "topology": "1 master, 2 replicas, 3 Sentinels on loopback (quorum 2, down-after-milliseconds 1000, "
                    "failover-timeout 6000)",
        "client": "Sentinel(addrs, socket_timeout=0.5).master_for(service, socket_timeout=0.5), default retry",
        "writer": "one thread: SET drill:<n> <n>; on error: count, sleep 50 ms, retry the same n",
        "before": args.before, "after": args.after, "follow_timeout": args.follow_timeout,
        "resume_after": args.resume_after,
    }
    doc = {"date": started.isoformat(timespec="seconds"), "machine": info, "versions": versions,
           "parameters": params, "runs": summaries}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=2, default=str)
        f.write("\n")
    medians = median_rows(summaries) if args.repeat > 1 else []
    if medians:
        doc["medians"] = medians
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2, default=str)
            f.write("\n")
    md = [
        f"Failover drill, {date}, on {info['cpu']} ({info['cores']} CPUs, Linux {info['kernel']}), "
        f"Redis server v={info['redis_server']}, Python {info['python']}; sentinelfast "
        f"{versions['sentinelfast']}" + (f", redis-py {versions['redis_py']}" if "redis_py" in versions else "")
        + ". One run per row (`benchmarks/failover_drill.py`).",
        "",
        markdown_table(summaries),
        "",
    ]
    if medians:
        md += [f"Medians of {args.repeat} runs per fault and client (errors and lost writes: totals):",
               "", median_markdown(medians), ""]
    with open(args.md, "w") as f:
        f.write("\n".join(md))
    print()
    print(text_table(summaries))
    if medians:
        print(f"\nmedians of {args.repeat} runs:\n" + median_markdown(medians))
    print()
    for s in summaries:
        if s["errors"]:
            classes = ", ".join(f"{n} x{c}" for n, c in s["errors_by_class"].items())
            print(f"  {s['fault']}/{s['client']}: errors {classes}; from +{s['first_error']:.3f}s "
                  f"to +{s['last_error']:.3f}s after the fault")
        if s["lost"]:
            a, b = s["lost_acked_between"]
            print(f"  {s['fault']}/{s['client']}: {s['lost']} lost writes, acknowledged between "
                  f"{a:+.3f}s and {b:+.3f}s from the fault")
    print(f"\nJSON: {os.path.abspath(args.json)}\nMarkdown: {os.path.abspath(args.md)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
