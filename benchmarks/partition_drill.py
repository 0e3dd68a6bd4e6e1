#!/usr/bin/env python3
"""Partition drill: sentinelfast and redis-py through network partitions.

For every scenario and client, on a fresh topology in network namespaces
(``sentinelfast.testing.netns``: 1 master, 2 replicas, 3 Sentinels, each in its own namespace,
routed by a hub namespace; the client is this process; quorum 2, down-after-milliseconds 1000,
failover-timeout 6000)::

    sentinel = Sentinel(topology.sentinel_addresses, socket_timeout=0.5, **sentinel_kwargs)
    client = sentinel.master_for(service, socket_timeout=0.5, **master_kwargs)

and the failover drill's writer thread (``SET part:<n> <n>``; n advances when the write is
acknowledged; an error is counted and the same write retried after 50 ms). After a few seconds
a link is cut (packets silently dropped, both directions):

    split-brain               the master is cut from the 3 Sentinels and the 2 replicas; the
                              client still reaches it. The Sentinels fail over; the partition
                              lasts --hold s after the switch, then heals and Sentinel turns the
                              old master into a replica, discarding what it took meanwhile.
    split-brain-min-replicas  the same, the data nodes configured with min-replicas-to-write 1
                              and min-replicas-max-lag 1 (the old master refuses writes once its
                              replicas are silent for more than 1 s: server-side protection).
    master-side               the master AND the client are cut from the Sentinels and the
                              replicas (the client is on the old master's side: it hears nothing
                              of the failover until the heal). This is the case the client policy
                              of issue 10 (hold writes without a Sentinel majority) is for.
    master-side-min-replicas  the same with min-replicas-to-write 1, min-replicas-max-lag 1.
    stale-sentinel            Sentinel 1 (the first address the client knows) is cut from every
                              node and the other Sentinels, still reachable by the client; the
                              others make a planned failover (SENTINEL FAILOVER to Sentinel 2).
                              Sentinel 1 keeps naming the old master, which takes writes until
                              the others convert it (about 10 s); a client that followed that
                              stale view would lose them. Healed --hold s after the conversion.
    client-master             the client is cut from the master only; the Sentinels see the
                              master, so nothing fails over. Healed after --hold s.

The run then continues until the client's writes reach the master the Sentinels name, then
--after s more. Every acknowledged key is read back from that master with raw RESP from inside
its namespace (never cut), and the Sentinel events come from a raw-socket PSUBSCRIBE to every
Sentinel, also made from inside the Sentinels' namespaces.

Reported per client and scenario: acknowledged writes, errors seen by the application (by class),
acknowledged writes lost (split: before the cut / during the partition / after the heal), the
window in which lost writes were acknowledged, the longest stall (longest gap between two
acknowledged writes), and the moments (from the cut) of +switch-master (first seen on any
Sentinel), the heal, the first write after the heal and the first write on the new master; the
JSON also has every Sentinel event, the drill's own marks (switch seen by polling every Sentinel,
old master converted...) and sentinelfast's client events.

"policy": the hold-writes-without-a-Sentinel-majority policy of issue 10 does not exist yet: the
drill reports "n/a". When it lands, pass its keywords with --sentinel-kwarg / --master-kwarg
(``name=value``, value as JSON or a string) and name the run with --policy.

Writes a table to stdout, JSON to benchmarks/results/partition_drill.json and Markdown to
benchmarks/results/partition_drill.md. Needs root (network namespaces) and iproute2.

    python -P benchmarks/partition_drill.py          # every scenario, both clients (about 4 minutes)
    python -P benchmarks/partition_drill.py --quick  # client-master only, short hold (for CI)
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import logging
import os
import selectors
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")


# The failover drill's machinery (writer, Sentinel event listener, read-back), shared with the
# demo, benchmarks/failover_drill.py and `sentinelfast drill`.
from sentinelfast.ops import drill as demo  # noqa: E402

from sentinelfast.testing.netns import CLIENT, NetnsLab, NetnsTopology  # noqa: E402
from sentinelfast.testing.topology import RespError  # noqa: E402

#: scenario -> how it is described in the tables
SCENARIOS = {
    "split-brain": "master cut from Sentinels and replicas; the client reaches both sides",
    "split-brain-min-replicas": "the same, min-replicas-to-write 1, min-replicas-max-lag 1",
    "master-side": "master and client together cut from Sentinels and replicas",
    "master-side-min-replicas": "the same, min-replicas-to-write 1, min-replicas-max-lag 1",
    "stale-sentinel": "Sentinel 1 cut from all nodes and Sentinels; planned failover by the others",
    "client-master": "client cut from the master (Sentinels see it)",
}
SCENARIO_ORDER = tuple(SCENARIOS)
SPLIT_SCENARIOS = ("split-brain", "split-brain-min-replicas", "master-side", "master-side-min-replicas")
MIN_REPLICAS_MAX_LAG = 1
MIN_REPLICAS_CONFIG = ["min-replicas-to-write 1", f"min-replicas-max-lag {MIN_REPLICAS_MAX_LAG}"]
DOWN_AFTER_MS = 1000
STALE = "sentinel1"
DATA_PARTIES = ("master", "replica1", "replica2")
SENTINEL_PARTIES = ("sentinel1", "sentinel2", "sentinel3")


class QuietConsole(demo.Console):
    """Event lines only when verbose; no status line."""

    def __init__(self, verbose=False):
        super().__init__(sys.stdout)
        self.verbose = verbose

    def event(self, text):
        if self.verbose:
            super().event("    " + text.replace("\n", "\n    "))

    def status(self, text):
        pass


class DrillFailed(RuntimeError):
    """The topology did not do what the scenario needs (no failover, no conversion...)."""


class LabRespStream(demo.RespStream):
    """The demo's subscribed RESP connection, on a socket made inside a Sentinel's namespace."""

    def __init__(self, sock, address):  # noqa: D107 - no super().__init__: the socket is given
        self.address = address
        self.sock = sock
        self.sock.setblocking(False)
        self.buf = b""


class LabSentinelEvents(demo.SentinelEvents):
    """The demo's Sentinel event listener (PSUBSCRIBE * on every Sentinel), connected from inside
    each Sentinel's namespace, so that no cut delays or loses an event."""

    def __init__(self, lab, topo, console, t_ref):  # noqa: D107 - the demo's __init__ connects itself
        threading.Thread.__init__(self, name="sentinel-events", daemon=True)
        self.console = console
        self.t_ref = t_ref
        self.service = None
        self.first_seen = {}
        self.all_events = []
        self.lost = []
        self.stop_event = threading.Event()
        self.selector = selectors.DefaultSelector()
        self.streams = []
        for node in topo.sentinels:
            stream = LabRespStream(lab.connect(node.party, node.address, timeout=2), node.address)
            stream.send("PSUBSCRIBE", "*")
            self.selector.register(stream.sock, selectors.EVENT_READ, stream)
            self.streams.append(stream)


class PacedClient:
    """A client whose ``set`` waits ``interval`` seconds first: the drill's writer at a bounded
    rate (fewer keys to read back, less CPU taken from the servers on a small machine)."""

    def __init__(self, client, interval):  # noqa: D107
        self.client = client
        self.interval = interval

    def set(self, *args, **kwargs):
        """``client.set(...)`` after ``interval`` seconds."""
        time.sleep(self.interval)
        return self.client.set(*args, **kwargs)


def _majority_view(topo, parties, timeout=0.5):
    """What the Sentinels in ``parties`` name as master: one address when they all agree, the node
    answers role:master and SENTINEL MASTER reports it with flags "master", else None."""
    views = set()
    for party in parties:
        node = topo.node_of(party)
        reply = node.command("SENTINEL", "MASTER", topo.service_name, timeout=timeout)
        state = dict(zip(reply[::2], reply[1::2]))
        if state.get(b"flags") != b"master":
            return None
        views.add((state[b"ip"].decode(), int(state[b"port"])))
    if len(views) != 1:
        return None
    address = views.pop()
    if topo.node_by_address(address).info(timeout=timeout).get("role") != "master":
        return None
    return address


def run_partition(client, scenario, console=None, *, before=2.0, hold=2.0, after=2.0, follow_timeout=40.0,
                  socket_timeout=0.5, retry_sleep=0.05, sentinel_kwargs=None, master_kwargs=None,
                  policy="n/a", prefix="part:", pace=0.0):
    """Run one scenario with one client on a fresh lab; return a result dict (monotonic times).

    ``client``: "sentinelfast" or "redis-py". ``sentinel_kwargs`` / ``master_kwargs`` are added to
    ``Sentinel(...)`` / ``master_for(...)`` (the policy switch); ``policy`` is only a label.
    ``pace``: seconds the writer waits before each write (0: as fast as it can, as the failover
    drill; the tests use a few milliseconds).
    Raises :class:`DrillFailed` when the servers did not do what the scenario needs in
    ``follow_timeout`` seconds; the lab is always removed.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}")
    console = console or QuietConsole()
    Sentinel, client_label, _ = demo.import_client(client)
    lab = NetnsLab()
    topo = NetnsTopology(lab, down_after_ms=DOWN_AFTER_MS,
                         extra_redis_config=MIN_REPLICAS_CONFIG if scenario.endswith("-min-replicas") else ())
    writer = events = master = sentinel = None
    marks = {}       # name -> monotonic time
    notes = {}
    t_fault = None

    def mark(name):
        marks[name] = time.monotonic()
        console.event(f"  +{marks[name] - t_fault:6.3f}s  {name}" if t_fault else name)

    def check_writer():
        if writer is not None and not writer.is_alive():
            raise RuntimeError("the writer thread died")

    def wait(check, timeout, what):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            check_writer()
            try:
                result = check()
                if result:
                    return result
            except (OSError, RespError, ValueError, KeyError) as e:
                last = e
            if time.monotonic() > deadline:
                raise DrillFailed(f"{scenario}/{client}: timed out after {timeout:.0f}s waiting for {what}"
                                  + (f" (last error: {last!r})" if last else ""))
            time.sleep(0.05)

    def sleep(seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            check_writer()
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def acked_since(t):
        """True once a write was acknowledged after monotonic time t."""
        n = writer.acked
        return n > 0 and writer.ack_times[n - 1] > t

    try:
        topo.start()
        service = topo.service_name
        old_master = tuple(topo.master.address)
        console.event(f"{client_label}, {scenario}: lab {lab.network}, master {old_master}")
        sentinel = Sentinel(topo.sentinel_addresses, socket_timeout=socket_timeout, **(sentinel_kwargs or {}))
        master = sentinel.master_for(service, socket_timeout=socket_timeout, **(master_kwargs or {}))
        client_events = []
        if hasattr(sentinel, "add_event_listener"):
            sentinel.add_event_listener(lambda e: client_events.append((time.monotonic(), e.kind, e.detail)))
        events = LabSentinelEvents(lab, topo, console, lambda: t_fault)
        events.start()
        writer = demo.Writer(PacedClient(master, pace) if pace > 0 else master, retry_sleep, prefix)
        writer.start()
        sleep(before)
        acked_at_fault = writer.acked

        # ---- the partition ---------------------------------------------------------------------
        t_fault = time.monotonic()
        if scenario in SPLIT_SCENARIOS:
            lab.isolate("master", DATA_PARTIES[1:] + SENTINEL_PARTIES)
            if scenario.startswith("master-side"):
                lab.isolate(CLIENT, DATA_PARTIES[1:] + SENTINEL_PARTIES)
            mark("cut")
            new_master = wait(lambda: (lambda a: a if a and a != old_master else None)(
                _majority_view(topo, SENTINEL_PARTIES)), follow_timeout, "the Sentinels to name a new master")
            mark("switch seen")
            sleep(hold)
            lab.heal_all()
            mark("healed")
            wait(lambda: topo.node_by_address(old_master).info(timeout=0.5).get("role") == "slave",
                 follow_timeout, "the old master to be turned into a replica")
            mark("old master converted")
        elif scenario == "stale-sentinel":
            lab.isolate(STALE, DATA_PARTIES + tuple(p for p in SENTINEL_PARTIES if p != STALE))
            mark("cut")
            sleep(DOWN_AFTER_MS / 1000 + 0.5)  # the isolated Sentinel sees every peer down: its view is frozen
            others = tuple(p for p in SENTINEL_PARTIES if p != STALE)

            def ask_failover():
                try:
                    topo.node_of(others[0]).command("SENTINEL", "FAILOVER", service, timeout=2)
                    return True
                except RespError:  # INPROG / NOGOODSLAVE while the Sentinels settle
                    time.sleep(0.2)
                    return False

            wait(ask_failover, follow_timeout, "SENTINEL FAILOVER to be accepted")
            mark("failover requested")
            new_master = wait(lambda: (lambda a: a if a and a != old_master else None)(
                _majority_view(topo, others)), follow_timeout, "the other Sentinels to name a new master")
            mark("switch seen")
            stale_reply = topo.node_of(STALE).command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", service)
            notes["stale_sentinel_names"] = [stale_reply[0].decode(), int(stale_reply[1])]
            # A client created now, with the stale Sentinel first in its list.
            fresh = None
            try:
                fresh = Sentinel(topo.sentinel_addresses, socket_timeout=socket_timeout,
                                 **(sentinel_kwargs or {}))
                notes["fresh_client_discovers"] = list(fresh.discover_master(service))
            except Exception as e:  # noqa: BLE001 - reported
                notes["fresh_client_discovers"] = f"{demo.error_name(e)}: {e}"
            finally:
                if fresh is not None and hasattr(fresh, "close"):
                    fresh.close()
            wait(lambda: topo.node_by_address(old_master).info(timeout=0.5).get("role") == "slave",
                 follow_timeout, "the old master to be turned into a replica")
            mark("old master converted")
            sleep(hold)
            lab.heal_all()
            mark("healed")
            wait(lambda: _majority_view(topo, SENTINEL_PARTIES) == new_master, follow_timeout,
                 "the stale Sentinel to name the new master")
            mark("stale Sentinel caught up")
        else:  # client-master
            lab.cut(CLIENT, "master")
            mark("cut")
            sleep(hold)
            lab.heal_all()
            mark("healed")
            new_master = old_master
        wait(lambda: acked_since(marks["healed"]), follow_timeout, "a write acknowledged after the heal")
        if new_master != old_master:
            # the last acknowledged write is on the new master: the client follows it
            def on_new():
                n = writer.acked - 1
                return writer.ack_times[n] > marks["switch seen"] and topo.node_by_address(new_master).command(
                    "EXISTS", f"{prefix}{n}") == 1
            wait(on_new, follow_timeout, "the client's writes to reach the new master")
            mark("writes on the new master")
        sleep(after)
        t_end = time.monotonic()
        writer.stop_event.set()
        writer.join(timeout=5)
        check_writer_done = not writer.is_alive()

        final_master = _majority_view(topo, SENTINEL_PARTIES) or new_master
        try:
            discovered = list(sentinel.discover_master(service))
        except Exception as e:  # noqa: BLE001 - reported
            discovered = f"{demo.error_name(e)}: {e}"
        acked = writer.acked
        node = topo.node_by_address(final_master)
        present = demo.read_back(lambda _addr, *args, timeout=10: node.command(*args, timeout=timeout),
                                 final_master, acked, prefix)
        ack_times = writer.ack_times[:acked]
        missing = [n for n, ok in enumerate(present) if not ok]
        t_heal = marks["healed"]
        first_after_heal = next((t for t in ack_times if t > t_heal), None)
        first_on_new = None
        if new_master != old_master:
            since = events.time_of("+promoted-slave") or marks["switch seen"]
            first_on_new = next((ack_times[n] for n in range(acked) if ack_times[n] > since and present[n]), None)
        longest_stall, stall_at = 0.0, None
        for a, b in zip(ack_times, ack_times[1:]):
            if b - a > longest_stall:
                longest_stall, stall_at = b - a, a
        return {
            "client": client,
            "label": client_label,
            "scenario": scenario,
            "policy": policy,
            "sentinel_kwargs": dict(sentinel_kwargs or {}),
            "master_kwargs": dict(master_kwargs or {}),
            "network": str(lab.network),
            "t_fault": t_fault,
            "t_end": t_end,
            "marks": marks,
            "notes": notes,
            "ack_times": ack_times,
            "present": present,
            "missing": missing,
            "acked": acked,
            "acked_at_fault": acked_at_fault,
            "lost_before_fault": sum(1 for n in missing if ack_times[n] <= t_fault),
            "lost_during_partition": sum(1 for n in missing if t_fault < ack_times[n] <= t_heal),
            "lost_after_heal": sum(1 for n in missing if ack_times[n] > t_heal),
            "errors": writer.errors,
            "error_examples": writer.error_examples,
            "error_times": list(writer.error_times),
            "error_count": writer.error_count,
            "unexpected_replies": writer.unexpected_replies,
            "longest_stall": longest_stall,
            "longest_stall_at": stall_at,
            "first_on_new": first_on_new,
            "first_after_heal": first_after_heal,
            "events": {name: t for name, (t, _) in events.first_seen.items()},
            "old_master": old_master,
            "new_master": tuple(new_master),
            "final_master": tuple(final_master),
            "discovered_at_end": discovered,
            "followed": isinstance(discovered, list) and tuple(discovered) == tuple(final_master),
            "writer_stopped": check_writer_done,
            "client_events": client_events,
        }
    finally:
        if writer is not None:
            writer.stop_event.set()
            writer.join(timeout=3)
        if events is not None:
            events.close()
        for obj in (master, sentinel):
            if obj is not None and hasattr(obj, "close"):
                try:
                    obj.close()
                except Exception as e:  # noqa: BLE001 - keep cleaning up
                    console.event(f"(closing {type(obj).__name__} failed: {demo.error_name(e)}: {e})")
        try:
            topo.stop()
        finally:
            lab.stop()


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------


rel = demo.seconds_from


def summarize(r):
    """The JSON-able part of a result (times in seconds from the cut)."""
    t0 = r["t_fault"]
    return {
        **demo.writer_outcome(r, t0),
        "scenario": r["scenario"],
        "policy": r["policy"],
        "sentinel_kwargs": r["sentinel_kwargs"],
        "master_kwargs": r["master_kwargs"],
        "acked_before_cut": r["acked_at_fault"],
        "lost_acked_before_cut": r["lost_before_fault"],
        "lost_acked_during_partition": r["lost_during_partition"],
        "lost_acked_after_heal": r["lost_after_heal"],
        "first_write_after_heal": rel(r["first_after_heal"], t0),
        "marks": {k: rel(v, t0) for k, v in sorted(r["marks"].items(), key=lambda kv: kv[1])},
        "notes": r["notes"],
        "final_master": list(r["final_master"]),
        "discovered_at_end": r["discovered_at_end"],
    }


def _lost_text(s):
    if not s["lost"]:
        return "0"
    a, b = s["lost_acked_between"]
    return f"{s['lost']} (acked {a:+.2f}..{b:+.2f} s)"


def _errors_text(s):
    if not s["errors"]:
        return "0"
    names = ", ".join(f"{name.rsplit('.', 1)[-1]} {count}" for name, count in s["errors_by_class"].items())
    return f"{s['errors']} ({names})"


def _at(s, key):
    t = s["marks"].get(key)
    return "-" if t is None else f"{t:.2f} s"


COLUMNS = [
    ("scenario", lambda s: s["scenario"]),
    ("client", lambda s: s["client_version"]),
    ("policy", lambda s: s["policy"]),
    ("acked writes", lambda s: str(s["acked_writes"])),
    ("errors seen by app", _errors_text),
    ("acked writes lost", _lost_text),
    ("longest stall", lambda s: f"{s['longest_stall']:.3f} s"),
    ("+switch-master", lambda s: "-" if s["sentinel_events"].get("+switch-master") is None else
        f"{s['sentinel_events']['+switch-master']:.2f} s"),
    ("healed", lambda s: _at(s, "healed")),
    ("first write after heal", lambda s: "-" if s["first_write_after_heal"] is None else
        f"{s['first_write_after_heal']:.2f} s"),
    ("first write on new master", lambda s: "-" if s["first_write_on_new_master"] is None else
        f"{s['first_write_on_new_master']:.2f} s"),
]


def text_table(rows):
    header = [name for name, _ in COLUMNS]
    cells = [[get(s) for _, get in COLUMNS] for s in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def markdown_table(rows):
    header = [name for name, _ in COLUMNS]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < 3 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(get(s) for _, get in COLUMNS) + " |" for s in rows]
    return "\n".join(lines)


def _kwarg(text):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected name=value, not {text!r}")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default=None,
                        help="comma-separated: sentinelfast,redis-py (default: both when redis-py is importable)")
    parser.add_argument("--scenarios", default=",".join(SCENARIO_ORDER),
                        help="comma-separated: " + ",".join(SCENARIO_ORDER))
    parser.add_argument("--quick", action="store_true", help="client-master only, short hold (for CI)")
    parser.add_argument("--before", type=float, default=2.0, help="seconds of writes before the cut (2)")
    parser.add_argument("--hold", type=float, default=3.0,
                        help="seconds the partition lasts (client-master), or lasts after the switch "
                             "(split-brain) or after the conversion (stale-sentinel) (3)")
    parser.add_argument("--after", type=float, default=2.0, help="seconds of writes at the end (2)")
    parser.add_argument("--follow-timeout", type=float, default=40.0,
                        help="max seconds for each step the servers must make (40)")
    parser.add_argument("--pace", type=float, default=0.0,
                        help="seconds the writer waits before each write (0: as fast as it can)")
    parser.add_argument("--sentinel-kwarg", type=_kwarg, action="append", default=[], metavar="NAME=VALUE",
                        help="extra keyword for Sentinel(...) (the client policy); repeatable")
    parser.add_argument("--master-kwarg", type=_kwarg, action="append", default=[], metavar="NAME=VALUE",
                        help="extra keyword for master_for(...); repeatable")
    parser.add_argument("--policy", default=None,
                        help='label of the client policy in the results (default "n/a" without '
                             '--sentinel-kwarg/--master-kwarg, else "custom")')
    parser.add_argument("--json", default=os.path.join(RESULTS, "partition_drill.json"))
    parser.add_argument("--md", default=os.path.join(RESULTS, "partition_drill.md"))
    parser.add_argument("-v", "--verbose", action="store_true", help="print the events of every run")
    args = parser.parse_args(argv)

    if args.clients:
        clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    else:
        clients = ["sentinelfast"] + (["redis-py"] if demo.redis_py_available() else [])
    scenarios = ["client-master"] if args.quick else [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if args.quick:
        args.hold, args.before, args.after = min(args.hold, 1.5), min(args.before, 1.0), min(args.after, 1.0)
    for c in clients:
        if c not in ("sentinelfast", "redis-py"):
            parser.error(f"unknown client {c!r}")
    for s in scenarios:
        if s not in SCENARIOS:
            parser.error(f"unknown scenario {s!r}")
    sentinel_kwargs, master_kwargs = dict(args.sentinel_kwarg), dict(args.master_kwarg)
    policy = args.policy or ("custom" if sentinel_kwargs or master_kwargs else "n/a")

    from sentinelfast.testing.netns import netns_available

    ok, why = netns_available()
    if not ok:
        print(f"partition drill: cannot build network namespaces here: {why}", file=sys.stderr)
        return 1

    sys.path.insert(0, HERE)
    from machine import machine_info

    logging.getLogger("sentinelfast").addHandler(logging.NullHandler())
    signal.signal(signal.SIGTERM, demo.on_signal)
    console = QuietConsole(args.verbose)
    started = datetime.datetime.now(datetime.timezone.utc)
    info = machine_info()
    print(f"partition drill: clients {', '.join(clients)}; scenarios {', '.join(scenarios)}; policy {policy}")
    print(f"machine: {info['cpu']}, {info['cores']} CPUs, Linux {info['kernel']}, "
          f"Python {info['python']}, Redis server v={info['redis_server']}")
    summaries = []
    failed = False
    try:
        for scenario in scenarios:
            for client in clients:
                t0 = time.monotonic()
                print(f"  {scenario:<25} {client:<13}", end="", flush=True)
                try:
                    r = run_partition(client, scenario, console, before=args.before, hold=args.hold,
                                      after=args.after, follow_timeout=args.follow_timeout,
                                      sentinel_kwargs=sentinel_kwargs, master_kwargs=master_kwargs, policy=policy,
                                      pace=args.pace)
                except DrillFailed as e:
                    failed = True
                    print(f" FAILED: {e}")
                    continue
                s = summarize(r)
                summaries.append(s)
                failed |= not r["followed"]
                print(f" {time.monotonic() - t0:5.1f}s: {s['acked_writes']} acked, {s['errors']} errors, "
                      f"{s['lost']} lost, longest stall {s['longest_stall']:.3f}s"
                      + ("" if r["followed"] else f"  (ends on {r['discovered_at_end']}, not the master)"))
    except KeyboardInterrupt:
        print("\ninterrupted (SIGINT)", file=sys.stderr)
        return 130
    except demo.Interrupted as e:
        print(f"\ninterrupted ({e})", file=sys.stderr)
        return 128 + e.signum

    import sentinelfast

    versions = {"sentinelfast": getattr(sentinelfast, "__version__", "?"),
                "sentinelfast_path": os.path.dirname(sentinelfast.__file__)}
    if demo.redis_py_available():
        import redis

        versions["redis_py"] = redis.__version__
    params = {
        "topology": "1 master, 2 replicas, 3 Sentinels, each in its own network namespace routed by a hub "
                    "namespace (quorum 2, down-after-milliseconds 1000, failover-timeout 6000)",
        "cut": "policy routing rules in the hub (blackhole: packets silently dropped), both directions",
        "client": "Sentinel(addrs, socket_timeout=0.5).master_for(service, socket_timeout=0.5), default retry",
        "writer": "one thread: SET part:<n> <n>; on error: count, sleep 50 ms, retry the same n",
        "pace": args.pace,
        "before": args.before, "hold": args.hold, "after": args.after, "follow_timeout": args.follow_timeout,
        "policy": policy, "sentinel_kwargs": sentinel_kwargs, "master_kwargs": master_kwargs,
    }
    doc = {"date": started.isoformat(timespec="seconds"), "machine": info, "versions": versions,
           "parameters": params, "scenarios": {k: SCENARIOS[k] for k in scenarios}, "runs": summaries}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=2, default=str)
        f.write("\n")
    md = [
        f"Partition drill, {started:%Y-%m-%d}, on {info['cpu']} ({info['cores']} CPUs, Linux {info['kernel']}), "
        f"Redis server v={info['redis_server']}, Python {info['python']}; sentinelfast {versions['sentinelfast']}"
        + (f", redis-py {versions['redis_py']}" if "redis_py" in versions else "")
        + f". One run per row (`benchmarks/partition_drill.py`, hold {args.hold:g} s). Times from the cut.",
        "",
        markdown_table(summaries),
        "",
        "Scenarios: " + "; ".join(f"**{k}**: {v}" for k, v in SCENARIOS.items() if k in scenarios) + ".",
        "",
    ]
    with open(args.md, "w") as f:
        f.write("\n".join(md))
    print()
    print(text_table(summaries))
    print()
    for s in summaries:
        if s["notes"]:
            print(f"  {s['scenario']}/{s['client']}: {s['notes']}")
        if s["errors"]:
            print(f"  {s['scenario']}/{s['client']}: errors {_errors_text(s)} from +{s['first_error']:.3f}s "
                  f"to +{s['last_error']:.3f}s; e.g. {next(iter(s['error_examples'].values()))}")
    print(f"\nJSON: {os.path.abspath(args.json)}\nMarkdown: {os.path.abspath(args.md)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
