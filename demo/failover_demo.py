#!/usr/bin/env python3
"""Write through a Sentinel-managed master while Sentinel fails it over.

Starts a local topology (1 master, 2 replicas, 3 Sentinels on loopback), creates
``Sentinel(topology.sentinel_addresses, socket_timeout=0.5)`` and
``master_for(service_name, socket_timeout=0.5)``, and runs a writer thread that does
``SET demo:<n> <n>`` for n = 0, 1, 2, ... (an error is counted, and the same
write is retried after a short sleep). After a few seconds it asks Sentinel for
a failover (``SENTINEL FAILOVER``) and shows the client following the new master,
until Sentinel has converted the old master to a replica. At the end it reads
every acknowledged key back from the new master and reports what the
application saw: acknowledged writes, errors (by class), acknowledged writes
missing on the new master, the longest stall, and how long after +switch-master
the first write reached the new master. It then draws a timeline (PNG, needs
matplotlib): acknowledged writes per 50 ms, errors, and the failover events.

When redis-py is importable the same run is repeated with redis-py (a fresh
topology, same parameters) and the two summaries are printed side by side.

The check is independent of the client under test: the Sentinel events and the
read-back use a few lines of raw RESP over plain sockets. The drill machinery (writer,
Sentinel event listener, the run, the summary and the timeline) is
``sentinelfast.ops.drill``, shared with ``sentinelfast drill`` and
``benchmarks/failover_drill.py``; sentinelfast must be installed (``scripts/demo`` does it).

    python demo/failover_demo.py                      # both clients (sentinelfast only without redis-py)
    python demo/failover_demo.py --client sentinelfast
    python demo/failover_demo.py --client redis-py --png /tmp/redis-py.png

Exit status: 0 when every client followed the failover (wrote to the new master);
1 otherwise; 128+signal number when interrupted (130 for Ctrl-C). The servers are
always stopped.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from sentinelfast.ops.drill import (
    Console,
    Interrupted,
    on_signal,
    plot_timeline,
    print_comparison,
    print_summary,
    redis_py_available,
    run_drill,
)


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def serve_metrics(sentinel, master, port, console):
    """--metrics-port: sentinelfast.metrics on http://127.0.0.1:PORT/metrics (prometheus_client)."""
    from prometheus_client import CollectorRegistry, start_http_server
    from sentinelfast.metrics import Metrics

    registry = CollectorRegistry()
    metrics = Metrics(sentinel)
    metrics.instrument(master)
    metrics.register(registry)
    start_http_server(port, addr="127.0.0.1", registry=registry)
    console.event(f"metrics: http://127.0.0.1:{port}/metrics (sentinelfast.metrics, scrape it during the drill)")


def print_metrics(port):
    """The failover counters as the metrics endpoint serves them."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    wanted = ("sentinelfast_failovers_total", "sentinelfast_master_switches_total", "sentinelfast_holds_total",
              "sentinelfast_hold_seconds_total", "sentinelfast_retries_total")
    print(f"\nmetrics endpoint (http://127.0.0.1:{port}/metrics), failover counters:")
    for line in text.splitlines():
        if line.startswith(wanted):
            print(f"  {line}")


def main(argv=None):
    default_png = os.path.join(os.path.dirname(os.path.abspath(__file__)), "failover_timeline.png")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--client",
        choices=["sentinelfast", "redis-py", "both"],
        default=os.environ.get("SENTINELFAST_DEMO_CLIENT") or ("both" if redis_py_available() else "sentinelfast"),
        help="client library to drive; both = sentinelfast, then redis-py on a fresh topology "
             "(default: both when redis-py is importable; env SENTINELFAST_DEMO_CLIENT)",
    )
    parser.add_argument("--before", type=float, default=5.0, help="seconds of writes before the failover (5)")
    parser.add_argument(
        "--after", type=float, default=3.0,
        help="seconds of writes after the client follows and the old master is a replica (3)",
    )
    parser.add_argument(
        "--follow-timeout", type=float, default=30.0,
        help="max seconds to wait for the failover, the first write on the new master and "
             "+convert-to-slave (30)",
    )
    parser.add_argument("--retry-sleep", type=float, default=0.05,
                        help="sleep before retrying a failed write (0.05)")
    parser.add_argument("--png", default=default_png, help=f"timeline image (default: {default_png})")
    parser.add_argument("--no-png", action="store_true", help="do not draw the timeline")
    parser.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve sentinelfast.metrics on http://127.0.0.1:PORT/metrics during the "
                             "sentinelfast drill (needs prometheus_client: pip install 'sentinelfast[metrics]')")
    args = parser.parse_args(argv)
    clients = ["sentinelfast", "redis-py"] if args.client == "both" else [args.client]
    if "redis-py" in clients and not redis_py_available():
        parser.error("redis-py is not installed (pip install redis)")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    # sentinelfast logs its failover events (logger "sentinelfast.failover"); the demo prints
    # them itself (Sentinel.add_event_listener), so keep the library's log lines off the terminal.
    logging.getLogger("sentinelfast").addHandler(logging.NullHandler())
    console = Console()
    results = []
    try:
        for i, client in enumerate(clients):
            if i:
                console.event("")
                console.event("-" * 78)
            metrics = args.metrics_port and client == "sentinelfast"
            on_client = ((lambda s, m, c: serve_metrics(s, m, args.metrics_port, c))
                         if metrics else None)
            results.append(run_drill(client, console, fault="planned", before=args.before, after=args.after,
                                     follow_timeout=args.follow_timeout, retry_sleep=args.retry_sleep,
                                     on_client=on_client))
            print_summary(results[-1])
            if metrics:
                print_metrics(args.metrics_port)
    except KeyboardInterrupt:
        console.end_status()
        print("interrupted (SIGINT)", file=sys.stderr)
        return 128 + signal.SIGINT
    except Interrupted as e:
        console.end_status()
        print(f"interrupted ({e})", file=sys.stderr)
        return 128 + e.signum
    except FileNotFoundError as e:
        if e.filename != "redis-server":
            raise
        print("FAILED: redis-server not found (scripts/demo installs it: apt-get install redis-server)",
              file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - TopologyError: its message has the server logs
        if type(e).__name__ != "TopologyError":
            raise
        console.end_status()
        print(f"FAILED: could not run the local topology: {e}", file=sys.stderr)
        return 1

    if len(results) > 1:
        print_comparison(results)
    if not args.no_png:
        try:
            plot_timeline(results, args.png)
            print(f"\ntimeline: {os.path.abspath(args.png)}")
        except ImportError:
            print("\n(no timeline: matplotlib is not installed; pip install matplotlib)")
    return 0 if all(r["followed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
