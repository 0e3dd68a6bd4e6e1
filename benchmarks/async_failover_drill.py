#!/usr/bin/env python3
"""asyncio failover drill: sentinelfast.asyncio and redis.asyncio through the same faults.

For every fault and client, on a fresh ``sentinelfast.testing.Topology`` (1 master, 2 replicas,
3 Sentinels on loopback; down-after 1000 ms):

    sentinel = Sentinel(topology.sentinel_addresses, socket_timeout=0.5)
    client = sentinel.master_for(service, socket_timeout=0.5)

and ``--tasks`` writer tasks (default 20) on one event loop, task i doing ``RPUSH w:<i> <n>``
(n advances when the write is acknowledged; an exception is counted, and the same write is
retried after 50 ms, as an application would). After a few seconds the fault is injected:

    planned   SENTINEL FAILOVER (the writers go on 12 s after the switch: the old master stays
              writable until Sentinel converts it, about 10 s)
    kill      SIGKILL to the master (it stays dead)

Every acknowledged write is then read back from the new master. Reported per client and
fault: acknowledged writes, exceptions that reached the tasks, acknowledged writes lost (split:
acknowledged before the fault = not yet replicated when the master died, Redis replication
being asynchronous; after the fault = written to a master that was no longer the master),
the longest pause of a task (longest gap between two of its acknowledged writes).

    python benchmarks/async_failover_drill.py [--tasks 20] [--faults planned,kill]

Results: benchmarks/results/async_failover_drill.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import logging
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
FAULTS = {"planned": "SENTINEL FAILOVER (planned)", "kill": "master SIGKILL"}


def import_client(name):
    if name == "redis-py":
        import redis
        from redis.asyncio.sentinel import Sentinel
        return Sentinel, f"redis.asyncio {redis.__version__}"
    import sentinelfast
    from sentinelfast.asyncio import Sentinel
    return Sentinel, f"sentinelfast.asyncio {getattr(sentinelfast, '__version__', '?')}"


class Writers:
    """``count`` tasks; each keeps its acknowledged (n, time) and the exceptions it saw."""

    def __init__(self, client, count):
        self.client = client
        self.acked = {i: [] for i in range(count)}
        self.errors = []
        self.stop = asyncio.Event()

    async def write(self, i):
        n = 1
        while not self.stop.is_set():
            try:
                await self.client.rpush(f"w:{i}", n)
            except Exception as exc:  # noqa: BLE001 - what reaches the application
                self.errors.append(f"{type(exc).__module__}.{type(exc).__qualname__}")
                await asyncio.sleep(0.05)
                continue
            self.acked[i].append((n, time.monotonic()))
            n += 1
            await asyncio.sleep(0.002)


async def run_one(client_name, fault, tasks, topo):
    Sentinel, label = import_client(client_name)
    sentinel = Sentinel(topo.sentinel_addresses, socket_timeout=0.5)
    client = sentinel.master_for(topo.service_name, socket_timeout=0.5)
    writers = Writers(client, tasks)
    running = [asyncio.create_task(writers.write(i)) for i in range(tasks)]
    await asyncio.sleep(3)
    old = topo.master.address
    t_fault = time.monotonic()
    if fault == "planned":
        new = await asyncio.to_thread(topo.failover, 60)
        await asyncio.sleep(12)
    else:
        topo.master.kill()
        new = await asyncio.to_thread(topo.wait_for_master_change, old, 60)
        await asyncio.sleep(3)
    writers.stop.set()
    await asyncio.gather(*running)
    try:
        await client.aclose()
    except Exception:  # noqa: BLE001 - closing after a failover is not measured
        pass
    node = topo.node_by_address(tuple(new))
    lost = lost_before = 0
    acked = 0
    pauses = []
    for i, writes in writers.acked.items():
        stored = {int(x) for x in node.command("LRANGE", f"w:{i}", "0", "-1", timeout=10)}
        acked += len(writes)
        for n, t in writes:
            if n not in stored:
                lost += 1
                lost_before += t <= t_fault
        pauses += [b[1] - a[1] for a, b in zip(writes, writes[1:])]
    errors = {}
    for e in writers.errors:
        errors[e] = errors.get(e, 0) + 1
    return {"fault": fault, "client": label, "tasks": tasks, "acked": acked, "lost": lost,
            "lost_acked_before_fault": lost_before,
            "errors": len(writers.errors), "errors_by_class": errors,
            "longest_pause": round(max(pauses, default=0.0), 4),
            "old_master": list(old), "new_master": list(new), "t_fault": t_fault}


def markdown(rows, date, machine):
    lines = [f"asyncio failover drill, {date}, {machine}. One run per row "
             "(`benchmarks/async_failover_drill.py`).", "",
             "| fault | client | writer tasks | acked writes | exceptions reaching the tasks "
             "| acked writes lost | longest pause of a task |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lost = str(r["lost"]) if not r["lost"] else (
            f"{r['lost']} ({r['lost_acked_before_fault']} before / "
            f"{r['lost'] - r['lost_acked_before_fault']} after the fault)")
        lines.append(f"| {FAULTS[r['fault']]} | {r['client']} | {r['tasks']} | {r['acked']} | "
                     f"{r['errors']} | {lost} | {r['longest_pause']:.3f} s |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--faults", default="planned,kill")
    parser.add_argument("--clients", default="sentinelfast,redis-py")
    parser.add_argument("--json", default=os.path.join(RESULTS, "async_failover_drill.json"))
    parser.add_argument("--md", default=os.path.join(RESULTS, "async_failover_drill.md"))
    args = parser.parse_args(argv)
    logging.getLogger("sentinelfast").addHandler(logging.NullHandler())
    from sentinelfast.testing import Topology

    rows = []
    for fault in [f for f in args.faults.split(",") if f]:
        for client in [c for c in args.clients.split(",") if c]:
            with Topology() as topo:
                row = asyncio.run(run_one(client, fault, args.tasks, topo))
            rows.append(row)
            print(f"{FAULTS[fault]:<30} {row['client']:<28} acked {row['acked']:>7}  "
                  f"exceptions {row['errors']:>4}  lost {row['lost']:>6}  "
                  f"longest pause {row['longest_pause']:.3f} s", flush=True)
    date = datetime.date.today().isoformat()
    machine = f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"date": date, "machine": machine, "runs": rows}, f, indent=2)
    with open(args.md, "w") as f:
        f.write(markdown(rows, date, machine))
    print(f"\nJSON: {args.json}\nMarkdown: {args.md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
