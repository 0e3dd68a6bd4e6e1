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
read-back use a few lines of raw RESP over plain sockets.

    python demo/failover_demo.py                      # both clients (sentinelfast only without redis-py)
    python demo/failover_demo.py --client sentinelfast
    python demo/failover_demo.py --client redis-py --png /tmp/redis-py.png

Exit status: 0 when every client followed the failover (wrote to the new master);
1 otherwise; 128+signal number when interrupted (130 for Ctrl-C). The servers are
always stopped.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import logging
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
BUCKET = 0.05  # seconds per bar of the timeline

#: fault kind -> how it is described
FAULTS = {
    "planned": "SENTINEL FAILOVER (planned)",
    "kill": "master SIGKILL",
    "hang": "master SIGSTOP (SIGCONT after the switch)",
}


# --------------------------------------------------------------------------------------------
# Imports: the client under test and the test topology
# --------------------------------------------------------------------------------------------


def redis_py_available():
    return importlib.util.find_spec("redis") is not None


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
    """SET <prefix><n> <n> in a loop; n advances only when the write is acknowledged.
    An error is counted, and the same write is retried after ``retry_sleep``."""

    def __init__(self, client, retry_sleep, prefix=KEY_PREFIX):
        super().__init__(name="writer", daemon=True)
        self.client = client
        self.retry_sleep = retry_sleep
        self.prefix = prefix
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
                reply = self.client.set(f"{self.prefix}{n}", n)
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
        "+odown": "the Sentinels agree the master is down",
        "+try-failover": "a Sentinel starts the failover",
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
# One run: a fresh topology, a client, a writer, a fault
# --------------------------------------------------------------------------------------------


class Interrupted(Exception):
    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def on_signal(signum, frame):
    raise Interrupted(signum)


def read_back(resp_command, address, count, prefix=KEY_PREFIX):
    """MGET every key <prefix>0 .. <prefix><count-1> from address: a list of bools (present with
    the right value)."""
    present = []
    for start in range(0, count, MGET_CHUNK):
        keys = [f"{prefix}{n}" for n in range(start, min(count, start + MGET_CHUNK))]
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


#: the client's own failover events (sentinelfast's Sentinel.add_event_listener) that are printed
CLIENT_SHOWN = ("failover-started", "switch-master", "failover-ended", "convert-to-slave", "sentinel-down")


def run_drill(client, console, *, fault="planned", before=5.0, after=3.0, follow_timeout=30.0,
              retry_sleep=0.05, socket_timeout=0.5, prefix=KEY_PREFIX, wait_convert=True,
              resume_after=1.0, live=True):
    """Run one drill on a fresh topology and return a result dict (times are time.monotonic()).

    fault: "planned" (SENTINEL FAILOVER), "kill" (SIGKILL the master) or "hang" (SIGSTOP the
    master, SIGCONT ``resume_after`` seconds after the switch). The writer runs ``before``
    seconds, then the fault is injected; the run continues until the Sentinels name a new
    master, the client's writes reach it and (unless ``wait_convert`` is false or the master
    was killed) Sentinel has converted the old master to a replica, then ``after`` seconds more.
    """
    Sentinel, client_label, client_path = import_client(client)
    topo_mod = import_topology(client)
    resp_command = topo_mod.resp_command

    console.event(f"client: {client_label} ({client_path}); fault: {FAULTS[fault]}")
    console.event("starting a local topology: 1 master, 2 replicas, 3 Sentinels (redis-server on loopback) ...")
    t_start = time.monotonic()
    topology = topo_mod.Topology()
    writer = events = master = sentinel = None
    saved_handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        topology.start()
        console.event(
            f"  ready in {time.monotonic() - t_start:.1f}s: master {fmt_addr(topology.master.address)}, "
            f"replicas {', '.join(fmt_addr(r.address) for r in topology.replicas)}, "
            f"Sentinels {', '.join(fmt_addr(a) for a in topology.sentinel_addresses)}"
        )
        service = topology.service_name

        sentinel = Sentinel(topology.sentinel_addresses, socket_timeout=socket_timeout)
        master = sentinel.master_for(service, socket_timeout=socket_timeout)
        before_addr = sentinel.discover_master(service)
        console.event(f"sentinel.discover_master({service!r}) -> {fmt_addr(before_addr)}")
        old_node = topology.master
        old_master = tuple(old_node.address)

        t_fault = None

        def rel_text(t):
            return f"+{t - t_fault:6.3f}s" if t_fault is not None else "        "

        client_events = []  # (time, kind, detail) from sentinelfast's add_event_listener
        if hasattr(sentinel, "add_event_listener"):
            def on_client_event(event):
                now = time.monotonic()
                client_events.append((now, event.kind, event.detail))
                if event.kind in CLIENT_SHOWN:
                    console.event(f"  {rel_text(now)}  client event {event.kind}: {event.detail}")

            sentinel.add_event_listener(on_client_event)

        events = SentinelEvents(topology.sentinel_addresses, console, lambda: t_fault)
        events.start()

        writer = Writer(master, retry_sleep, prefix)
        t_writer = time.monotonic()
        writer.start()
        console.event(f"writer thread started: SET {prefix}<n> <n>, n = 0, 1, 2, ...")
        if live:
            console.event(
                "status: t = seconds from the fault, w/s = acknowledged writes per second, err = errors\n"
                "        the application saw, master = the master the Sentinels name, writes there = whether\n"
                "        the client's writes reach that master (checked by reading the last key there)"
            )

        state = {
            "sentinel_master": old_master,
            "new_master": None,  # address, once the Sentinels name another master
            "t_switch_seen": None,  # first time our poll saw the Sentinels name it
            "t_client_on_new": None,  # first time a write acked after the promotion was found on it
            "failover_result": None,
            "t_failover_done": None,
            "t_resume": None,
            "paused": None,  # the paused node (fault "hang") until it is resumed
        }
        samples = collections.deque()  # (time, acked) over the last second, for writes/s
        last_poll = 0.0

        def tick():
            """Poll the Sentinels and the new master (4 times a second), resume a paused master,
            and update the status line."""
            nonlocal last_poll
            now = time.monotonic()
            samples.append((now, writer.acked))
            while now - samples[0][0] > 1.0:
                samples.popleft()
            span = now - samples[0][0]
            rate = (samples[-1][1] - samples[0][1]) / span if span > 0.1 else 0.0
            if (state["paused"] is not None and state["t_failover_done"] is not None
                    and now - state["t_failover_done"] >= resume_after):
                state["paused"].resume()
                state["paused"] = None
                state["t_resume"] = now
                console.event(f"  {rel_text(now)}  old master {fmt_addr(old_master)} resumed (SIGCONT)")
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
                            if resp_command(state["new_master"], "EXISTS", f"{prefix}{n}", timeout=0.5) == 1:
                                state["t_client_on_new"] = now
                                console.event(
                                    f"  {rel_text(now)}  writes are reaching the new master "
                                    f"{fmt_addr(state['new_master'])} (checked by reading {prefix}{n} there)"
                                )
                        except (OSError, topo_mod.RespError):
                            pass
            if live:
                t = now - (t_fault if t_fault is not None else t_writer + before)
                writes_there = "" if state["new_master"] is None else (
                    " | writes there: " + ("yes" if state["t_client_on_new"] else "no")
                )
                console.status(
                    f"[{client}] [t={t:+5.1f}s] {rate:6.0f} w/s  acked {writer.acked:6d}  "
                    f"err {writer.error_count} | master :{state['sentinel_master'][1]}{writes_there}"
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

        run_for(before)

        # ---- the fault ------------------------------------------------------------------------
        def wait_switch():
            try:
                if fault == "planned":
                    new = topology.failover(timeout=follow_timeout)
                else:
                    new = topology.wait_for_master_change(old_master, timeout=follow_timeout)
                state["t_failover_done"] = time.monotonic()
                state["failover_result"] = ("ok", tuple(new))
                console.event(
                    f"  {rel_text(state['t_failover_done'])}  every Sentinel names {fmt_addr(new)}, "
                    "which answers role:master"
                )
            except Exception as e:  # noqa: BLE001 - reported below
                state["failover_result"] = ("error", e)

        acked_at_fault = writer.acked
        if fault == "planned":
            console.event(f"requesting a failover: SENTINEL FAILOVER {service} (topology.failover()) ...")
            t_fault = time.monotonic()
        elif fault == "kill":
            console.event(f"killing the master {fmt_addr(old_master)} (SIGKILL) ...")
            t_fault = time.monotonic()
            old_node.kill()
        else:
            console.event(f"stopping the master {fmt_addr(old_master)} (SIGSTOP) ...")
            t_fault = time.monotonic()
            old_node.pause()
            state["paused"] = old_node
        failover_thread = threading.Thread(target=wait_switch, name="failover", daemon=True)
        failover_thread.start()
        console.event(f"  +{0:6.3f}s  {FAULTS[fault]}")

        def complete():
            result = state["failover_result"]
            if result is not None and result[0] != "ok":
                return True
            if result is None or state["t_client_on_new"] is None or state["paused"] is not None:
                return False
            if wait_convert and fault != "kill" and events.time_of("+convert-to-slave") is None:
                return False
            return True

        followed = run_for(follow_timeout, until=complete)
        failover_thread.join(timeout=5)
        result = state["failover_result"]
        failover_ok = result is not None and result[0] == "ok"
        if not failover_ok:
            console.end_status()
            console.event(f"FAILED: the failover did not complete: {result[1] if result else 'timed out'}")
        elif state["t_client_on_new"] is None:
            console.end_status()
            console.event(
                f"the client has not written to the new master {follow_timeout:.0f}s after the fault; stopping"
            )
        elif not followed:
            console.end_status()
            console.event(f"(+convert-to-slave not seen within {follow_timeout:.0f}s of the fault)")
        if failover_ok and state["t_client_on_new"] is not None:
            run_for(after)
        console.end_status()
        t_end = time.monotonic()

        # ---- stop and check --------------------------------------------------------------------
        writer.stop_event.set()
        writer.join(timeout=5)
        if state["paused"] is not None:
            state["paused"].resume()
            state["paused"] = None
        client_stats = None
        if hasattr(sentinel, "stats"):
            try:
                client_stats = sentinel.stats()
            except Exception as e:  # noqa: BLE001 - informative only
                client_stats = {"error": f"{error_name(e)}: {e}"}
        try:
            after_addr = tuple(sentinel.discover_master(service))
        except Exception as e:  # noqa: BLE001 - reported
            after_addr = None
            console.event(f"sentinel.discover_master({service!r}) failed: {error_name(e)}: {e}")
        new_master = result[1] if failover_ok else tuple(topology.current_master_address())
        console.event(
            f"sentinel.discover_master({service!r}) -> {fmt_addr(after_addr)}  (before: {fmt_addr(before_addr)})"
        )

        acked = writer.acked
        console.event(f"reading the {acked} acknowledged keys back from the new master {fmt_addr(new_master)} ...")
        present = read_back(resp_command, new_master, acked, prefix)
        missing = [n for n, ok in enumerate(present) if not ok]
        ack_times = writer.ack_times[:acked]

        # A write acknowledged after Sentinel saw the replica report role:master and present on
        # the new master can only have been executed by the new master: writes the old master
        # accepts after the promotion are never replicated to it.
        t_promoted = events.time_of("+promoted-slave")
        threshold = t_promoted or state["t_switch_seen"]
        first_on_new = None
        if threshold is not None:
            for n in range(acked):
                if ack_times[n] > threshold and present[n]:
                    first_on_new = ack_times[n]
                    break
        longest_stall, stall_at = 0.0, None
        for a, b in zip(ack_times, ack_times[1:]):
            if b - a > longest_stall:
                longest_stall, stall_at = b - a, a
        t_switch = events.time_of("+switch-master")
        ref_switch = t_switch or state["t_switch_seen"]
        return {
            "client": client,
            "label": client_label,
            "path": client_path,
            "fault": fault,
            "t_start": t_writer,
            "t_fault": t_fault,
            "t_end": t_end,
            "ack_times": ack_times,
            "present": present,
            "missing": missing,
            "lost_before_fault": sum(1 for n in missing if ack_times[n] <= t_fault),
            "lost_after_fault": sum(1 for n in missing if ack_times[n] > t_fault),
            "acked": acked,
            "acked_at_fault": acked_at_fault,
            "errors": writer.errors,
            "error_examples": writer.error_examples,
            "error_times": list(writer.error_times),
            "error_count": writer.error_count,
            "unexpected_replies": writer.unexpected_replies,
            "longest_stall": longest_stall,
            "longest_stall_at": stall_at,
            "first_on_new": first_on_new,
            "switch_to_first_write": (first_on_new - ref_switch) if first_on_new and ref_switch else None,
            "events": {name: t for name, (t, _) in events.first_seen.items()},
            "t_switch_seen": state["t_switch_seen"],
            "t_failover_done": state["t_failover_done"],
            "t_resume": state["t_resume"],
            "old_master": old_master,
            "new_master": new_master,
            "before": tuple(before_addr),
            "after": after_addr,
            "failover_ok": failover_ok,
            "followed": failover_ok and first_on_new is not None and after_addr == tuple(new_master),
            "client_events": client_events,
            "client_stats": client_stats,
        }
    finally:
        # Cleanup must finish even if Ctrl-C is pressed again.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
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
        finally:
            for s, handler in saved_handlers.items():
                signal.signal(s, handler)


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------


def fmt_seconds(t):
    return "-" if t is None else f"{t:.3f} s"


def print_summary(r):
    t0 = r["t_fault"]

    def rel(t):
        return "      -" if t is None else f"+{t - t0:6.3f}s"

    ev = r["events"]
    print()
    print("=" * 78)
    print(f"summary ({r['label']}, {FAULTS[r['fault']]})")
    print("=" * 78)
    print(f"master before / after (discover_master): {fmt_addr(r['before'])} -> {fmt_addr(r['after'])}")
    print(f"acknowledged writes:        {r['acked']}  ({r['acked_at_fault']} before the fault)")
    print(f"errors seen by the app:     {r['error_count']}")
    for name, count in r["errors"].most_common():
        print(f"    {count:6d}  {name}: {r['error_examples'][name]}")
    if r["error_times"]:
        print(f"    first / last error at {rel(r['error_times'][0])} / {rel(r['error_times'][-1])} "
              "(relative to the fault)")
    if r["unexpected_replies"]:
        print(f"unexpected SET replies:     {r['unexpected_replies']}")
    missing = r["missing"]
    print(f"acknowledged writes present on the new master: {r['acked'] - len(missing)} of {r['acked']}")
    if missing:
        lost_times = [r["ack_times"][n] for n in missing]
        print(f"    MISSING (acknowledged, then lost): {len(missing)}: {KEY_PREFIX}{{{ranges(missing)}}}")
        print(f"    acknowledged between {rel(min(lost_times))} and {rel(max(lost_times))}")
    stall_at = r["longest_stall_at"]
    print(f"longest stall (gap between two acknowledged writes): {r['longest_stall']:.3f}s"
          + (f", from {rel(stall_at)}" if stall_at is not None else ""))
    timeline = [
        (t0, "failover requested (SENTINEL FAILOVER to one Sentinel)" if r["fault"] == "planned"
         else FAULTS[r["fault"]]),
        (ev.get("+failover-state-wait-promotion"),
         "Sentinel sent REPLICAOF NO ONE to the chosen replica (+failover-state-wait-promotion)"),
        (ev.get("+promoted-slave"), "Sentinel saw the replica as master (+promoted-slave)"),
        (ev.get("+switch-master"), "Sentinel announced the new master (+switch-master)"),
        (r["first_on_new"], "first write acknowledged by the new master"),
    ]
    if r["fault"] == "hang":
        timeline.append((r["t_resume"], "old master resumed (SIGCONT)"))
    timeline += [
        (ev.get("+convert-to-slave"), "old master converted to a replica (+convert-to-slave)"),
    ]
    if missing:
        timeline.append((max(r["ack_times"][n] for n in missing), "last acknowledged write that was lost"))
    print("timeline (relative to the fault):")
    for t, label in sorted(timeline, key=lambda e: (e[0] is None, e[0] or 0)):
        print(f"    {rel(t)}  {label}")
    if r["switch_to_first_write"] is not None:
        print(f"time from +switch-master to the first write on the new master: {r['switch_to_first_write']:.3f}s")
    else:
        print("time to the first write on the new master: no write was acknowledged by the new master")
    stats = r.get("client_stats")
    if stats and isinstance(stats.get("services"), dict):
        for name, svc in stats["services"].items():
            print(f"client counters ({name}): {svc}")
        print(f"client counters (retries): {stats.get('retries')}")
    print("=" * 78)
    if missing and r["lost_after_fault"]:
        print(
            "note: writes acknowledged after the fault and missing on the new master were acknowledged by\n"
            "the old master after the replica was promoted: it accepts writes until Sentinel converts it to\n"
            "a replica, and its data is then replaced."
        )
    if r["lost_before_fault"]:
        print(f"note: {r['lost_before_fault']} writes acknowledged before the fault were not yet replicated "
              "(Redis replication is asynchronous).")
    if not r["followed"]:
        print("RESULT: FAILED - the client did not follow the failover")
    elif missing:
        print(f"RESULT: the client followed the failover; {len(missing)} acknowledged writes were lost")
    else:
        print("RESULT: the client followed the failover; no acknowledged write was lost")


def print_comparison(results):
    rows = [
        ("acknowledged writes", lambda r: str(r["acked"])),
        ("errors seen by the application", lambda r: str(r["error_count"])),
        ("acknowledged writes lost", lambda r: str(len(r["missing"]))),
        ("longest stall (gap between acked writes)", lambda r: fmt_seconds(r["longest_stall"])),
        ("+switch-master -> first write on new master", lambda r: fmt_seconds(r["switch_to_first_write"])),
        ("followed the failover", lambda r: "yes" if r["followed"] else "NO"),
    ]
    width = max(len(name) for name, _ in rows) + 2
    col = max(20, max(len(r["label"]) for r in results) + 2)
    print()
    print("side by side (" + FAULTS[results[0]["fault"]] + ", same parameters, a fresh topology each):")
    print(" " * width + "".join(f"{r['label']:>{col}}" for r in results))
    for name, get in rows:
        print(f"{name:<{width}}" + "".join(f"{get(r):>{col}}" for r in results))


def plot_timeline(results, path):
    """One panel per run: acknowledged writes per 50 ms (kept / lost), errors, failover events."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_lo = min(r["t_start"] - r["t_fault"] for r in results)
    t_hi = max(r["t_end"] - r["t_fault"] for r in results)
    nb = int((t_hi - t_lo) / BUCKET) + 1
    edges = [t_lo + i * BUCKET for i in range(nb + 1)]
    fig, axes = plt.subplots(len(results), 1, sharex=True, squeeze=False,
                             figsize=(14, 3.2 * len(results) + 0.8))
    ymax = 1
    counts = []
    for r in results:
        kept, lost, errs = [0] * nb, [0] * nb, [0] * nb
        for t, ok in zip(r["ack_times"], r["present"]):
            i = min(nb - 1, max(0, int((t - r["t_fault"] - t_lo) / BUCKET)))
            (kept if ok else lost)[i] += 1
        for t in r["error_times"]:
            i = min(nb - 1, max(0, int((t - r["t_fault"] - t_lo) / BUCKET)))
            errs[i] += 1
        counts.append((kept, lost, errs))
        ymax = max(ymax, max(k + l for k, l in zip(kept, lost)))
    lefts = edges[:-1]
    for ax, r, (kept, lost, errs) in zip(axes[:, 0], results, counts):
        ax.bar(lefts, kept, width=BUCKET, align="edge", color="#3b78c2", linewidth=0,
               label="acknowledged, present on the new master")
        if any(lost):
            ax.bar(lefts, lost, width=BUCKET, align="edge", bottom=kept, color="#e8702a", linewidth=0,
                   label=f"acknowledged, then LOST ({len(r['missing'])})")
        err_x = [lefts[i] + BUCKET / 2 for i, e in enumerate(errs) if e]
        if err_x:
            ax.plot(err_x, [ymax * 1.04] * len(err_x), "x", color="#d62728", markersize=6, mew=1.5,
                    label=f"error seen by the application ({r['error_count']})", clip_on=False)
        ev = r["events"]
        lines = [
            (0.0, "#000000", "--", "failover requested" if r["fault"] == "planned" else FAULTS[r["fault"]]),
            (ev.get("+switch-master"), "#2ca02c", "-", "+switch-master"),
            (r["t_resume"], "#8c564b", ":", "old master resumed"),
            (ev.get("+convert-to-slave"), "#9467bd", "-.", "+convert-to-slave"),
        ]
        for t, color, style, label in lines:
            if t is None:
                continue
            x = t if label == lines[0][3] else t - r["t_fault"]
            ax.axvline(x, color=color, linestyle=style, linewidth=1.4, label=label)
        ax.set_ylim(0, ymax * 1.1)
        ax.set_ylabel("acked writes / 50 ms")
        switch = fmt_seconds(r["switch_to_first_write"])
        ax.set_title(
            f"{r['label']}: {r['acked']} acknowledged, {r['error_count']} errors, {len(r['missing'])} lost, "
            f"longest stall {r['longest_stall']:.3f} s, +switch-master -> first write on new master {switch}",
            fontsize=10, loc="left",
        )
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, borderaxespad=0)
    axes[-1, 0].set_xlabel("seconds from the failover request" if results[0]["fault"] == "planned"
                           else "seconds from the fault")
    axes[-1, 0].set_xlim(t_lo, t_hi)
    fig.suptitle(f"Writes through Sentinel master_for() during a failover ({FAULTS[results[0]['fault']]})",
                 fontsize=12)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


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
            results.append(run_drill(client, console, fault="planned", before=args.before, after=args.after,
                                     follow_timeout=args.follow_timeout, retry_sleep=args.retry_sleep))
            print_summary(results[-1])
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
