#!/usr/bin/env python3
"""Write through a Sentinel-managed master while Sentinel fails it over.

Starts a local topology (1 master, 2 replicas, 3 Sentinels on loopback), creates
``Sentinel(topology.sentinel_addresses, socket_timeout=0.5)`` and
``master_for(service_name)``, and runs a writer thread that does
``SET demo:<n> <n>`` for n = 0, 1, 2, ... (an error is counted, and the same
write is retried after a short sleep). After a few seconds it asks Sentinel for
a failover and shows the client following the new master. At the end it reads
every acknowledged key back from the new master and reports what the
application saw: acknowledged writes, errors (by class), acknowledged writes
missing on the new master, and how long after the promotion the first write
reached the new master.

The check is independent of the client under test: the Sentinel events and the
read-back use a few lines of raw RESP over plain sockets.

    python demo/failover_demo.py                  # sentinelfast (default)
    python demo/failover_demo.py --client redis-py  # the same run with redis-py, for comparison

Exit status: 0 when the failover happened and the client wrote to the new
master; 1 otherwise; 128+signal number when interrupted (130 for Ctrl-C). The servers are always stopped.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import selectors
import shutil
import signal
import socket
import sys
import threading
import time

KEY_PREFIX = "demo:"
MGET_CHUNK = 2000


# --------------------------------------------------------------------------------------------
# Imports: the client under test and the test topology
# --------------------------------------------------------------------------------------------


def import_client(name):
    """Return (Sentinel class, "name version", where it was imported from) for --client."""
    if name == "redis-py":
        import redis
        from redis.sentinel import Sentinel

        return Sentinel, f"redis-py {redis.__version__}", os.path.dirname(redis.__file__)
    import sentinelfast
    from sentinelfast import Sentinel

    version = getattr(sentinelfast, "__version__", "?")
    return Sentinel, f"sentinelfast {version}", os.path.dirname(sentinelfast.__file__)


def import_topology(client):
    try:
        from sentinelfast.testing import topology

        return topology
    except ImportError:
        if client == "sentinelfast":
            raise
    # --client redis-py without a built sentinelfast: topology.py only needs the
    # standard library, so load it straight from the source tree.
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sentinelfast", "testing", "topology.py")
    spec = importlib.util.spec_from_file_location("sentinelfast_topology", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


class Console:
    """Event lines, plus a status line that is redrawn in place on a terminal
    (and printed once a second otherwise)."""

    def __init__(self, stream=sys.stdout):
        self.stream = stream
        self.tty = stream.isatty()
        self.lock = threading.Lock()
        self.status_shown = False
        self.last_status = 0.0

    def event(self, text):
        with self.lock:
            if self.status_shown:
                self.stream.write("\r\033[K")
                self.status_shown = False
            self.stream.write(text + "\n")
            self.stream.flush()

    def status(self, text):
        with self.lock:
            now = time.monotonic()
            if now - self.last_status < (0.25 if self.tty else 1.0):
                return
            self.last_status = now
            if self.tty:
                width = shutil.get_terminal_size().columns - 1
                self.stream.write("\r\033[K" + text[:width])
                self.status_shown = True
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def end_status(self):
        with self.lock:
            if self.status_shown:
                self.stream.write("\n")
                self.stream.flush()
                self.status_shown = False


def fmt_addr(addr):
    return "?" if addr is None else f"{addr[0]}:{addr[1]}"


def error_name(exc):
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


# --------------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------------


class Writer(threading.Thread):
    """SET demo:<n> <n> in a loop; n advances only when the write is acknowledged."""

    def __init__(self, client, retry_sleep):
        super().__init__(name="writer", daemon=True)
        self.client = client
        self.retry_sleep = retry_sleep
        self.stop_event = threading.Event()
        self.ack_times = []  # ack_times[n] = monotonic time SET demo:<n> was acknowledged
        self.errors = collections.Counter()  # class name -> count
        self.error_examples = {}  # class name -> first message
        self.error_times = []
        self.unexpected_replies = 0

    def run(self):
        n = 0
        while not self.stop_event.is_set():
            try:
                reply = self.client.set(f"{KEY_PREFIX}{n}", n)
            except Exception as e:  # noqa: BLE001 - the demo reports every error class
                name = error_name(e)
                self.errors[name] += 1
                self.error_examples.setdefault(name, str(e)[:200])
                self.error_times.append(time.monotonic())
                self.stop_event.wait(self.retry_sleep)
                continue
            if reply is not True:
                self.unexpected_replies += 1
            self.ack_times.append(time.monotonic())
            n += 1

    @property
    def acked(self):
        return len(self.ack_times)

    @property
    def error_count(self):
        return sum(self.errors.values())


# --------------------------------------------------------------------------------------------
# Sentinel events (raw RESP, independent of the client under test)
# --------------------------------------------------------------------------------------------


class RespStream:
    """A subscribed connection: parses RESP2 push messages from a socket."""

    def __init__(self, address):
        self.address = address
        self.sock = socket.create_connection(address, timeout=2)
        self.sock.setblocking(False)
        self.buf = b""

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.setblocking(True)
        self.sock.sendall(b"".join(out))
        self.sock.setblocking(False)

    def _parse(self, pos):
        """Parse one reply at pos: (value, new_pos), or None if incomplete."""
        end = self.buf.find(b"\r\n", pos)
        if end < 0:
            return None
        kind, rest = self.buf[pos : pos + 1], self.buf[pos + 1 : end]
        pos = end + 2
        if kind in (b"+", b"-"):
            return rest, pos
        if kind == b":":
            return int(rest), pos
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None, pos
            if len(self.buf) < pos + n + 2:
                return None
            return self.buf[pos : pos + n], pos + n + 2
        if kind == b"*":
            items = []
            for _ in range(int(rest)):
                r = self._parse(pos)
                if r is None:
                    return None
                item, pos = r
                items.append(item)
            return items, pos
        raise ValueError(f"bad RESP from {self.address}: {self.buf[pos - 1 : pos + 40]!r}")

    def read_messages(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError(f"Sentinel {fmt_addr(self.address)} closed the connection")
        self.buf += data
        messages = []
        while True:
            r = self._parse(0)
            if r is None:
                break
            value, pos = r
            self.buf = self.buf[pos:]
            messages.append(value)
        return messages

    def close(self):
        self.sock.close()


class SentinelEvents(threading.Thread):
    """PSUBSCRIBE * on every Sentinel; keeps the first time each event type was seen."""

    SHOWN = {
        "+failover-state-wait-promotion": "REPLICAOF NO ONE sent to the chosen replica",
        "+promoted-slave": "replica promoted to master",
        "+failover-end": "failover finished (replicas reconfigured)",
        "+switch-master": "Sentinel announces the new master",
        "+convert-to-slave": "old master converted to a replica",
    }

    def __init__(self, addresses, console, t_ref):
        super().__init__(name="sentinel-events", daemon=True)
        self.console = console
        self.t_ref = t_ref  # callable: reference time for printing, or None
        self.first_seen = {}  # event -> (monotonic time, payload)
        self.stop_event = threading.Event()
        self.selector = selectors.DefaultSelector()
        self.streams = []
        for addr in addresses:
            stream = RespStream(addr)
            stream.send("PSUBSCRIBE", "*")
            self.selector.register(stream.sock, selectors.EVENT_READ, stream)
            self.streams.append(stream)

    def run(self):
        try:
            while not self.stop_event.is_set():
                for key, _ in self.selector.select(timeout=0.1):
                    for msg in key.data.read_messages():
                        self._handle(msg, time.monotonic())
        except (OSError, ValueError) as e:
            if not self.stop_event.is_set():
                self.console.event(f"    (Sentinel event listener stopped: {e})")

    def _handle(self, msg, now):
        if not (isinstance(msg, list) and len(msg) == 4 and msg[0] == b"pmessage"):
            return
        channel = msg[2].decode(errors="replace")
        payload = msg[3].decode(errors="replace")
        if channel in self.first_seen:
            return
        self.first_seen[channel] = (now, payload)
        if channel in self.SHOWN:
            ref = self.t_ref()
            when = f"+{now - ref:6.3f}s" if ref is not None else "       "
            self.console.event(f"  {when}  Sentinel event {channel}: {self.SHOWN[channel]}  [{payload}]")

    def time_of(self, event):
        seen = self.first_seen.get(event)
        return seen[0] if seen else None

    def close(self):
        self.stop_event.set()
        self.join(timeout=1)
        for s in self.streams:
            s.close()


# --------------------------------------------------------------------------------------------
# The demo
# --------------------------------------------------------------------------------------------


class Interrupted(Exception):
    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def on_signal(signum, frame):
    raise Interrupted(signum)


def read_back(resp_command, address, count):
    """MGET every demo key from address: a list of bools (present with the right value)."""
    present = []
    for start in range(0, count, MGET_CHUNK):
        keys = [f"{KEY_PREFIX}{n}" for n in range(start, min(count, start + MGET_CHUNK))]
        values = resp_command(address, "MGET", *keys, timeout=10)
        present.extend(v == str(start + i).encode() for i, v in enumerate(values))
    return present


def ranges(numbers, limit=6):
    """'3-7, 10, 12-13' for a sorted list of ints (at most `limit` ranges shown)."""
    out = []
    for n in numbers:
        if out and out[-1][1] == n - 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    text = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in out[:limit])
    if len(out) > limit:
        text += f", ... ({len(out)} ranges)"
    return text


def run(args, console):
    Sentinel, client_label, client_path = import_client(args.client)
    topo_mod = import_topology(args.client)
    resp_command = topo_mod.resp_command

    console.event(f"client: {client_label} ({client_path})")
    console.event("starting a local topology: 1 master, 2 replicas, 3 Sentinels (redis-server on loopback) ...")
    t_start = time.monotonic()
    topology = topo_mod.Topology()
    writer = events = failover_thread = master = sentinel = None
    try:
        topology.start()
        console.event(
            f"  ready in {time.monotonic() - t_start:.1f}s: master {fmt_addr(topology.master.address)}, "
            f"replicas {', '.join(fmt_addr(r.address) for r in topology.replicas)}, "
            f"Sentinels {', '.join(fmt_addr(a) for a in topology.sentinel_addresses)}"
        )
        service = topology.service_name

        sentinel = Sentinel(topology.sentinel_addresses, socket_timeout=0.5)
        master = sentinel.master_for(service)
        before = sentinel.discover_master(service)
        console.event(f"sentinel.discover_master({service!r}) -> {fmt_addr(before)}")
        old_master = tuple(before)

        t_failover = None
        events = SentinelEvents(topology.sentinel_addresses, console, lambda: t_failover)
        events.start()

        writer = Writer(master, args.retry_sleep)
        t_writer = time.monotonic()
        writer.start()
        console.event(f"writer thread started: SET {KEY_PREFIX}<n> <n>, n = 0, 1, 2, ...")
        console.event(
            "status: t = seconds from the failover request, w/s = acknowledged writes per second, err = errors\n"
            "        the application saw, master = the master the Sentinels name, writes there = whether\n"
            "        the client's writes reach that master (checked by reading the last key there)"
        )

        state = {
            "sentinel_master": old_master,
            "new_master": None,  # address, once the Sentinels name another master
            "t_switch_seen": None,  # first time our poll saw the Sentinels name it
            "t_client_on_new": None,  # first time a write acked after the promotion was found on it
            "failover_result": None,
        }
        samples = collections.deque()  # (time, acked) over the last second, for writes/s
        last_poll = 0.0

        def tick():
            """Poll the Sentinels and the new master (4 times a second) and update the status line."""
            nonlocal last_poll
            now = time.monotonic()
            samples.append((now, writer.acked))
            while now - samples[0][0] > 1.0:
                samples.popleft()
            span = now - samples[0][0]
            rate = (samples[-1][1] - samples[0][1]) / span if span > 0.1 else 0.0
            if now - last_poll >= 0.25:
                last_poll = now
                try:
                    state["sentinel_master"] = topology.current_master_address(timeout=0.3)
                except Exception:  # noqa: BLE001 - a Sentinel may be busy failing over
                    pass
                if state["sentinel_master"] != old_master and state["new_master"] is None:
                    state["new_master"] = state["sentinel_master"]
                    state["t_switch_seen"] = now
                if state["new_master"] is not None and state["t_client_on_new"] is None:
                    t_promoted = events.time_of("+promoted-slave") or state["t_switch_seen"]
                    n = writer.acked - 1
                    if n >= 0 and writer.ack_times[n] > t_promoted:
                        try:
                            if resp_command(state["new_master"], "EXISTS", f"{KEY_PREFIX}{n}", timeout=0.5) == 1:
                                state["t_client_on_new"] = now
                                console.event(
                                    f"  +{now - t_failover:6.3f}s  writes are reaching the new master "
                                    f"{fmt_addr(state['new_master'])} (checked by reading {KEY_PREFIX}{n} there)"
                                )
                        except (OSError, topo_mod.RespError):
                            pass
            t = now - (t_failover if t_failover is not None else t_writer + args.before)
            writes_there = "" if state["new_master"] is None else (
                " | writes there: " + ("yes" if state["t_client_on_new"] else "no")
            )
            console.status(
                f"[t={t:+5.1f}s] {rate:6.0f} w/s  acked {writer.acked:6d}  err {writer.error_count}"
                f" | master :{state['sentinel_master'][1]}{writes_there}"
            )

        def run_for(seconds, until=None):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if until is not None and until():
                    return True
                if not writer.is_alive():
                    raise RuntimeError("the writer thread died")
                tick()
                time.sleep(0.05)
            return until is not None and until()

        run_for(args.before)

        # ---- failover ------------------------------------------------------------------------
        console.event(f"requesting a failover: SENTINEL FAILOVER {service} (topology.failover()) ...")
        t_failover = time.monotonic()
        acked_at_failover = writer.acked

        def do_failover():
            try:
                new = topology.failover(timeout=args.follow_timeout)
                state["failover_result"] = ("ok", new)
                console.event(
                    f"  +{time.monotonic() - t_failover:6.3f}s  topology.failover() returned: every Sentinel "
                    f"names {fmt_addr(new)}, which answers role:master"
                )
            except Exception as e:  # noqa: BLE001 - reported below
                state["failover_result"] = ("error", e)

        failover_thread = threading.Thread(target=do_failover, name="failover", daemon=True)
        failover_thread.start()
        console.event(f"  +{0:6.3f}s  failover requested")

        followed = run_for(
            args.follow_timeout,
            until=lambda: state["t_client_on_new"] is not None and state["failover_result"] is not None,
        )
        failover_thread.join(timeout=5)
        result = state["failover_result"]
        if result is None or result[0] != "ok":
            console.end_status()
            console.event(f"FAILED: the failover did not complete: {result[1] if result else 'timed out'}")
            return 1
        if not followed:
            console.end_status()
            console.event(
                f"the client has not written to the new master {args.follow_timeout:.0f}s after the failover "
                "request; stopping"
            )

        if followed:
            run_for(args.after)
        console.end_status()

        # ---- stop and check ------------------------------------------------------------------
        writer.stop_event.set()
        writer.join(timeout=5)
        after = sentinel.discover_master(service)
        console.event(f"sentinel.discover_master({service!r}) -> {fmt_addr(after)}  (before: {fmt_addr(before)})")

        acked = writer.acked
        new_master = tuple(after)
        console.event(f"reading the {acked} acknowledged keys back from the new master {fmt_addr(new_master)} ...")
        present = read_back(resp_command, new_master, acked)
        missing = [n for n, ok in enumerate(present) if not ok]

        # A write acknowledged after Sentinel saw the replica report role:master and present on
        # the new master can only have been executed by the new master: writes the old master
        # accepts after the promotion are never replicated to it. (Discovery through Sentinel
        # cannot name the new master before +promoted-slave.)
        t_slaveof = events.time_of("+failover-state-wait-promotion")
        t_promoted = events.time_of("+promoted-slave")
        t_switch = events.time_of("+switch-master")
        t_convert = events.time_of("+convert-to-slave")
        threshold = t_promoted or state["t_switch_seen"]
        first_on_new = None
        if threshold is not None:
            for n in range(acked):
                if writer.ack_times[n] > threshold and present[n]:
                    first_on_new = writer.ack_times[n]
                    break
        gaps = [b - a for a, b in zip(writer.ack_times, writer.ack_times[1:])]
        longest_gap = max(gaps) if gaps else 0.0

        def rel(t):
            return "      -" if t is None else f"+{t - t_failover:6.3f}s"

        print()
        print("=" * 78)
        print(f"summary ({client_label})")
        print("=" * 78)
        print(f"master before / after (discover_master): {fmt_addr(before)} -> {fmt_addr(after)}")
        print(f"acknowledged writes:        {acked}  ({acked_at_failover} before the failover request)")
        print(f"errors seen by the app:     {writer.error_count}")
        for name, count in writer.errors.most_common():
            print(f"    {count:6d}  {name}: {writer.error_examples[name]}")
        if writer.error_times:
            print(
                f"    first / last error at {rel(writer.error_times[0])} / {rel(writer.error_times[-1])} "
                "(relative to the failover request)"
            )
        if writer.unexpected_replies:
            print(f"unexpected SET replies:     {writer.unexpected_replies}")
        print(f"acknowledged writes present on the new master: {acked - len(missing)} of {acked}")
        if missing:
            lost_times = [writer.ack_times[n] for n in missing]
            print(f"    MISSING (acknowledged, then lost): {len(missing)}: {KEY_PREFIX}{{{ranges(missing)}}}")
            print(f"    acknowledged between {rel(min(lost_times))} and {rel(max(lost_times))}")
        print(f"longest gap between two acknowledged writes: {longest_gap:.3f}s")
        timeline = [
            (t_failover, "failover requested (topology.failover(): SENTINEL FAILOVER to one Sentinel)"),
            (t_slaveof, "Sentinel sent REPLICAOF NO ONE to the chosen replica (+failover-state-wait-promotion)"),
            (t_promoted, "Sentinel saw the replica as master (+promoted-slave)"),
            (t_switch, "Sentinel announced the new master (+switch-master)"),
            (first_on_new, "first write acknowledged by the new master"),
            (t_convert, "old master converted to a replica (+convert-to-slave)"),
        ]
        if missing:
            timeline.append((max(writer.ack_times[n] for n in missing), "last acknowledged write that was lost"))
        print("timeline (relative to the failover request):")
        for t, label in sorted(timeline, key=lambda e: (e[0] is None, e[0] or 0)):
            print(f"    {rel(t)}  {label}")
        if first_on_new is not None and (t_switch or threshold) is not None:
            ref, what = (t_switch, "+switch-master") if t_switch else (threshold, "the switch (as polled)")
            print(f"time from {what} to the first write on the new master: {first_on_new - ref:.3f}s")
        else:
            print("time to the first write on the new master: no write was acknowledged by the new master")
        print("=" * 78)
        if missing:
            print(
                "note: the missing writes were acknowledged by the old master after the replica was promoted:\n"
                "it accepts writes until Sentinel converts it to a replica, and its data is then replaced."
            )
        if tuple(after) == old_master or first_on_new is None:
            print("RESULT: FAILED - the client did not follow the failover")
            return 1
        if missing:
            print(f"RESULT: the client followed the failover; {len(missing)} acknowledged writes were lost")
        else:
            print("RESULT: the client followed the failover; no acknowledged write was lost")
        return 0
    finally:
        # Cleanup must finish even if Ctrl-C is pressed again.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        console.end_status()
        if writer is not None:
            writer.stop_event.set()
            writer.join(timeout=3)
        if events is not None:
            events.close()
        for obj in (master, sentinel):
            if obj is not None and hasattr(obj, "close"):
                try:
                    obj.close()
                except Exception as e:  # noqa: BLE001 - report, but keep cleaning up
                    console.event(f"(closing {type(obj).__name__} failed: {error_name(e)}: {e})")
        console.event("stopping the topology ...")
        topology.stop()
        console.event("all redis-server processes stopped")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--client",
        choices=["sentinelfast", "redis-py"],
        default=os.environ.get("SENTINELFAST_DEMO_CLIENT", "sentinelfast"),
        help="client library to drive (default: sentinelfast; env SENTINELFAST_DEMO_CLIENT)",
    )
    parser.add_argument("--before", type=float, default=5.0, help="seconds of writes before the failover (5)")
    parser.add_argument("--after", type=float, default=5.0, help="seconds of writes after the client follows (5)")
    parser.add_argument(
        "--follow-timeout", type=float, default=30.0,
        help="max seconds to wait for the failover and the first write on the new master (30)",
    )
    parser.add_argument("--retry-sleep", type=float, default=0.1, help="sleep before retrying a failed write (0.1)")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    console = Console()
    try:
        return run(args, console)
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


if __name__ == "__main__":
    sys.exit(main())
