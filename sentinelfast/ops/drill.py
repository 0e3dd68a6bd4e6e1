"""Failover drills: a writer (and a reader) through a Sentinel-managed service while a fault is
injected, then what the application saw and whether the deployment recovered.

One copy of the drill machinery, shared by ``sentinelfast drill`` (:mod:`sentinelfast.cli.drill`),
the demo (``demo/failover_demo.py``) and the benchmark (``benchmarks/failover_drill.py``):

* :class:`Writer` — ``SET <prefix><n> <n>`` in a loop (n advances when acknowledged; an error
  is counted and the same write retried); :class:`Reader` — ``GET`` of the last acknowledged key
  through a replica (``slave_for``);
* :class:`SentinelEvents` — a raw ``PSUBSCRIBE *`` on every Sentinel (independent of the client
  under test), the time of every event;
* targets, which know how to find the master and inject a fault:
  :class:`LocalSignals` (a local :class:`~sentinelfast.testing.Topology`, faults by signals: the
  demo and the benchmark) and :class:`RemoteTarget` (any deployment, faults by what a client can
  send: ``SENTINEL FAILOVER``, ``DEBUG SLEEP``, ``SHUTDOWN NOSAVE`` / ``DEBUG SEGFAULT``,
  ``SHUTDOWN`` of one Sentinel);
* :func:`run_on_target` — one run; :func:`run_drill` — one run on a fresh local topology;
  :func:`verify` — the four checks of a failover test (Sentinel logged the failure and the
  failover; a new master elected, every Sentinel agreeing and the config-epoch advanced; the
  application's writes after the switch are on it; the replicas follow it);
* :func:`print_summary`, :func:`print_comparison`, :func:`plot_timeline` (matplotlib, optional).

The checks never go through the client under test: Sentinel events, read-back and replica
states use raw RESP (:func:`sentinelfast.testing.topology.resp_command`).
"""

from __future__ import annotations

import collections
import importlib.util
import logging
import os
import selectors
import shutil
import signal
import socket
import ssl
import sys
import threading
import time

from ..testing import topology as topo_mod
from ..testing.topology import RespError, resp_command

log = logging.getLogger(__name__)

KEY_PREFIX = "demo:"
MGET_CHUNK = 2000
BUCKET = 0.05  # seconds per bar of the timeline

#: fault kind -> how it is described (local signals: the demo and the benchmark)
FAULTS = {
    "planned": "SENTINEL FAILOVER (planned)",
    "kill": "master SIGKILL",
    "hang": "master SIGSTOP (SIGCONT after the switch)",
}

#: scenario -> how it is described (``sentinelfast drill``: what a client can send)
SCENARIOS = {
    "planned": "SENTINEL FAILOVER (planned)",
    "hang": "master hung (DEBUG SLEEP)",
    "kill": "master shut down (SHUTDOWN NOSAVE)",
    "sentinel-loss": "one Sentinel shut down, then a failover",
}


class DrillCannotRun(Exception):
    """The drill could not be run (nothing reachable, a command refused before any fault...)."""


# --------------------------------------------------------------------------------------------
# The client under test
# --------------------------------------------------------------------------------------------


def redis_py_available():
    """True when redis-py can be imported."""
    return importlib.util.find_spec("redis") is not None


def import_client(name):
    """Return (Sentinel class, "name version", where it was imported from) for a client name
    ("sentinelfast" or "redis-py")."""
    if name == "redis-py":
        import redis
        from redis.sentinel import Sentinel

        return Sentinel, f"redis-py {redis.__version__}", os.path.dirname(redis.__file__)
    import sentinelfast
    from sentinelfast import Sentinel

    version = getattr(sentinelfast, "__version__", "?")
    return Sentinel, f"sentinelfast {version}", os.path.dirname(sentinelfast.__file__)


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
    """'host:port', or '?' for None."""
    return "?" if addr is None else f"{addr[0]}:{addr[1]}"


def error_name(exc):
    """The exception's class as 'module.QualifiedName'."""
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"



class NullConsole(Console):
    """A console that shows nothing (``sentinelfast drill --json``)."""

    def __init__(self):
        super().__init__(sys.stderr)

    def event(self, text):
        pass

    def status(self, text):
        pass


# --------------------------------------------------------------------------------------------
# Writer and reader
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
            except Exception as e:  # noqa: BLE001 - every error class is reported
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


class Reader(threading.Thread):
    """``GET`` of the last key the writer had acknowledged, through ``client`` (a replica:
    ``slave_for``), in a loop. A reply with the written value counts as a read, ``None`` (not yet
    replicated) as stale, an exception as an error (the loop sleeps ``retry_sleep`` after one)."""

    def __init__(self, client, writer, retry_sleep, pace=0.001):
        super().__init__(name="reader", daemon=True)
        self.client = client
        self.writer = writer
        self.retry_sleep = retry_sleep
        self.pace = pace
        self.stop_event = threading.Event()
        self.read_times = []  # monotonic time of every read that returned the written value
        self.stale = 0
        self.wrong = 0  # a value other than the one written (never expected)
        self.errors = collections.Counter()
        self.error_examples = {}
        self.error_times = []

    def run(self):
        prefix = self.writer.prefix
        while not self.stop_event.is_set():
            n = self.writer.acked - 1
            if n < 0:
                self.stop_event.wait(0.01)
                continue
            try:
                value = self.client.get(f"{prefix}{n}")
            except Exception as e:  # noqa: BLE001 - every error class is reported
                name = error_name(e)
                self.errors[name] += 1
                self.error_examples.setdefault(name, str(e)[:200])
                self.error_times.append(time.monotonic())
                self.stop_event.wait(self.retry_sleep)
                continue
            if value is None:
                self.stale += 1
            elif value in (str(n), str(n).encode()):
                self.read_times.append(time.monotonic())
            else:
                self.wrong += 1
            if self.pace:
                self.stop_event.wait(self.pace)

    @property
    def error_count(self):
        return sum(self.errors.values())

    def summary(self, t_from=None, t_to=None):
        """Reads, stale reads, errors and the longest gap between two reads (seconds)."""
        times = self.read_times
        longest, at = 0.0, None
        for a, b in zip(times, times[1:]):
            if b - a > longest:
                longest, at = b - a, a
        return {
            "reads": len(times),
            "stale": self.stale,
            "wrong_values": self.wrong,
            "errors": self.error_count,
            "errors_by_class": dict(self.errors),
            "error_examples": dict(self.error_examples),
            "longest_pause": longest,
            "longest_pause_at": at,
        }


# --------------------------------------------------------------------------------------------
# Sentinel events (raw RESP, independent of the client under test)
# --------------------------------------------------------------------------------------------


class RespStream:
    """A subscribed connection: parses RESP2 push messages from a socket. With ``password``
    (and ``username``) an ``AUTH`` is sent first; with ``ssl_context`` the connection is TLS."""

    def __init__(self, address, ssl_context=None, password=None, username=None):
        self.address = address
        raw = socket.create_connection(address, timeout=2)
        try:
            self.sock = ssl_context.wrap_socket(raw, server_hostname=address[0]) if ssl_context else raw
        except (OSError, ValueError):
            raw.close()
            raise
        self.buf = b""
        if password is not None:
            self.send(*(("AUTH", username, password) if username is not None else ("AUTH", password)))
            self.sock.settimeout(2)
            reply = b""
            while not reply.endswith(b"\r\n"):
                data = self.sock.recv(4096)
                if not data:
                    raise ConnectionError(f"Sentinel {fmt_addr(address)} closed the connection at AUTH")
                reply += data
            if not reply.startswith(b"+"):
                self.sock.close()
                raise RespError(reply.strip().decode(errors="replace").lstrip("-"))
        self.sock.setblocking(False)

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
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLWantReadError, BlockingIOError):
            return []
        if not data:
            raise ConnectionError(f"Sentinel {fmt_addr(self.address)} closed the connection")
        self.buf += data
        pending = getattr(self.sock, "pending", None)
        while pending is not None and pending():  # TLS: decrypted bytes the selector cannot see
            self.buf += self.sock.recv(65536)
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
    """PSUBSCRIBE * on every Sentinel; keeps the first time each event type was seen
    (:attr:`first_seen`) and every event (:attr:`all_events`). With ``service``, only the events
    that name it are kept. A Sentinel that closes its connection (shut down by a drill) is
    dropped and noted in :attr:`lost`; the others are still listened to."""

    SHOWN = {
        "+odown": "the Sentinels agree the master is down",
        "+try-failover": "a Sentinel starts the failover",
        "+failover-state-wait-promotion": "REPLICAOF NO ONE sent to the chosen replica",
        "+promoted-slave": "replica promoted to master",
        "+failover-end": "failover finished (replicas reconfigured)",
        "+switch-master": "Sentinel announces the new master",
        "+convert-to-slave": "old master converted to a replica",
    }

    def __init__(self, addresses, console, t_ref, *, service=None, ssl_context=None, password=None,
                 username=None):
        super().__init__(name="sentinel-events", daemon=True)
        self.console = console
        self.t_ref = t_ref  # callable: reference time for printing, or None
        self.service = service
        self.first_seen = {}  # event -> (monotonic time, payload)
        self.all_events = []  # (monotonic time, event, payload, Sentinel address)
        self.lost = []  # (monotonic time, Sentinel address, why)
        self.stop_event = threading.Event()
        self.selector = selectors.DefaultSelector()
        self.streams = []
        try:
            for addr in addresses:
                stream = RespStream(addr, ssl_context=ssl_context, password=password, username=username)
                self.streams.append(stream)
                stream.send("PSUBSCRIBE", "*")
                self.selector.register(stream.sock, selectors.EVENT_READ, stream)
        except BaseException:
            for s in self.streams:
                s.close()
            raise

    def run(self):
        try:
            while not self.stop_event.is_set() and self.selector.get_map():
                for key, _ in self.selector.select(timeout=0.1):
                    stream = key.data
                    try:
                        messages = stream.read_messages()
                    except (OSError, ValueError) as e:
                        if self.stop_event.is_set():
                            return
                        self.selector.unregister(stream.sock)
                        self.lost.append((time.monotonic(), stream.address, str(e)))
                        self.console.event(f"    (Sentinel {fmt_addr(stream.address)}: event connection lost: {e})")
                        continue
                    for msg in messages:
                        self._record_message(msg, time.monotonic(), stream.address)
        except (OSError, ValueError) as e:
            if not self.stop_event.is_set():
                self.console.event(f"    (Sentinel event listener stopped: {e})")

    def _record_message(self, msg, now, address=None):
        if not (isinstance(msg, list) and len(msg) == 4 and msg[0] == b"pmessage"):
            return
        channel = msg[2].decode(errors="replace")
        payload = msg[3].decode(errors="replace")
        if self.service is not None and self.service not in payload.split():
            return
        self.all_events.append((now, channel, payload, address))
        if channel in self.first_seen:
            return
        self.first_seen[channel] = (now, payload)
        if channel in self.SHOWN:
            ref = self.t_ref()
            when = f"+{now - ref:6.3f}s" if ref is not None else "       "
            self.console.event(f"  {when}  Sentinel event {channel}: {self.SHOWN[channel]}  [{payload}]")

    def time_of(self, event):
        """When ``event`` was first seen (monotonic), or None."""
        seen = self.first_seen.get(event)
        return seen[0] if seen else None

    def find(self, event, kind=None, since=None):
        """The first ``(time, payload)`` of ``event`` whose payload starts with ``kind``
        ("master", "slave", "sentinel"), seen at or after ``since``; or None."""
        for t, channel, payload, _ in list(self.all_events):
            if channel != event or (since is not None and t < since):
                continue
            if kind is None or payload.startswith(kind + " "):
                return t, payload
        return None

    def close(self):
        """Stop listening and close every connection."""
        self.stop_event.set()
        self.join(timeout=1)
        for s in self.streams:
            s.close()


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


class PromotionWatch(threading.Thread):
    """Independent of the client under test: asks every replica ROLE every millisecond from
    the fault on and records when the first one answers that it is a master (the moment the
    promotion happened, as near as a client can see it)."""

    def __init__(self, command, replicas, interval=0.001):
        super().__init__(name="promotion-watch", daemon=True)
        self.command = command
        self.replicas = list(replicas)
        self.interval = interval
        self.t_master = None
        self.address = None
        self.halt = threading.Event()

    @staticmethod
    def replicas_of(command, master):
        """The replicas the master lists in its ROLE reply."""
        try:
            role = command(master, "ROLE", timeout=1.0)
        except Exception:  # noqa: BLE001 - no watch then
            return []
        out = []
        for entry in (role[2] if len(role) > 2 else []):
            host = entry[0].decode() if isinstance(entry[0], bytes) else entry[0]
            out.append((host, int(entry[1])))
        return out

    def run(self):
        while not self.halt.is_set():
            for address in self.replicas:
                try:
                    role = self.command(address, "ROLE", timeout=0.2)
                except Exception:  # noqa: BLE001 - a replica being reconfigured
                    continue
                if role and role[0] in (b"master", "master"):
                    self.t_master = time.monotonic()
                    self.address = address
                    return
            time.sleep(self.interval)

    def stop(self):
        self.halt.set()


class Interrupted(Exception):
    """A signal (SIGTERM, SIGHUP) asked the drill to stop (see :func:`on_signal`)."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def on_signal(signum, frame):
    """A signal handler that raises :class:`Interrupted` (the servers are then stopped)."""
    raise Interrupted(signum)


def read_back(resp_command, address, count, prefix=KEY_PREFIX):
    """MGET every key <prefix>0 .. <prefix><count-1> from address: a list of bools (present with
    the right value). ``resp_command(address, *args, timeout=...)`` sends one command."""
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



# --------------------------------------------------------------------------------------------
# Targets: where the drill runs and how a fault is injected
# --------------------------------------------------------------------------------------------


def _pairs(reply):
    """``[k1, v1, k2, v2, ...]`` -> ``{str: str}``."""
    it = iter(reply or [])
    return {k.decode(errors="replace"): (v.decode(errors="replace") if isinstance(v, bytes) else v)
            for k, v in zip(it, it)}


def _info(text):
    """An INFO reply -> ``{field: value}``."""
    out = {}
    for line in (text.decode(errors="replace") if isinstance(text, bytes) else text).splitlines():
        if ":" in line and not line.startswith("#"):
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


class RemoteTarget:
    """A deployment reached over the network, as a client reaches it: its Sentinels
    (``sentinel_addresses``) and ``service``. Faults are what a client can send:

    * ``planned`` — ``SENTINEL FAILOVER`` (retried while Sentinel answers INPROG);
    * ``hang`` — ``DEBUG SLEEP hang_seconds`` on the master (needs ``enable-debug-command``);
    * ``kill`` — ``SHUTDOWN NOSAVE NOW`` (``kill_with="segfault"``: ``DEBUG SEGFAULT``);
    * ``sentinel-loss`` — ``SHUTDOWN`` of one Sentinel (the last one listed that answers), then
      the fault ``then`` (planned, hang or kill) on the master.

    Credentials: ``password`` / ``username`` for the data nodes, ``sentinel_password`` /
    ``sentinel_username`` for the Sentinels; ``ssl_context`` for TLS to both.
    """

    local = False

    def __init__(self, sentinel_addresses, service, *, password=None, username=None, sentinel_password=None,
                 sentinel_username=None, ssl_context=None, hang_seconds=None, kill_with="shutdown",
                 then="planned"):
        self.sentinel_addresses = [(h, int(p)) for h, p in sentinel_addresses]
        self.service = service
        self.password = password
        self.username = username
        self.sentinel_password = sentinel_password
        self.sentinel_username = sentinel_username
        self.ssl_context = ssl_context
        self.hang_seconds = hang_seconds
        self.kill_with = kill_with
        self.then = then
        #: Sentinels shut down by the drill
        self.lost_sentinels = []
        #: what the drill did that cannot be undone remotely
        self.irreversible = []
        self.t_resumed = None  # hang: when the DEBUG SLEEP returned
        self._hang_thread = None
        self.down_after_ms = None

    # -- talking to the deployment -----------------------------------------------------------

    def command(self, address, *args, timeout=1.0, sentinel=False):
        """One command on a fresh connection to a data node (or a Sentinel), with the credentials
        and TLS of the deployment."""
        password, username = ((self.sentinel_password, self.sentinel_username) if sentinel
                              else (self.password, self.username))
        return resp_command(tuple(address), *args, timeout=timeout, ssl_context=self.ssl_context,
                            password=password, username=username)

    def event_options(self):
        """Keyword arguments of :class:`SentinelEvents` for these Sentinels."""
        return {"ssl_context": self.ssl_context, "password": self.sentinel_password,
                "username": self.sentinel_username, "service": self.service}

    def live_sentinels(self):
        """The Sentinels the drill did not shut down."""
        return [a for a in self.sentinel_addresses if a not in self.lost_sentinels]

    def sentinel_views(self, timeout=0.5):
        """``{Sentinel address: master address or None}`` for every live Sentinel."""
        views = {}
        for s in self.live_sentinels():
            try:
                addr = self.command(s, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service, timeout=timeout,
                                    sentinel=True)
                views[s] = (addr[0].decode(), int(addr[1])) if addr else None
            except (OSError, RespError, ValueError, IndexError):
                views[s] = None
        return views

    def current_master_address(self, timeout=0.5):
        """The master named by most live Sentinels."""
        views = [v for v in self.sentinel_views(timeout).values() if v is not None]
        if not views:
            raise DrillCannotRun(f"no Sentinel names a master for {self.service!r}")
        return collections.Counter(views).most_common(1)[0][0]

    def master_address(self):
        """The master now (before the fault)."""
        return self.current_master_address(timeout=2.0)

    def sentinel_state(self, address, timeout=0.5):
        """``SENTINEL MASTER <service>`` of one Sentinel as a dict."""
        return _pairs(self.command(address, "SENTINEL", "MASTER", self.service, timeout=timeout, sentinel=True))

    def replicas(self, timeout=0.5):
        """``SENTINEL REPLICAS <service>`` (dicts) from the first live Sentinel that answers."""
        last = None
        for s in self.live_sentinels():
            try:
                reply = self.command(s, "SENTINEL", "REPLICAS", self.service, timeout=timeout, sentinel=True)
                return [_pairs(r) for r in reply]
            except (OSError, RespError) as e:
                last = e
        raise DrillCannotRun(f"no Sentinel lists the replicas of {self.service!r}: {last}")

    def snapshot(self):
        """Before the fault: what every Sentinel names and its config-epoch, and the replicas."""
        sentinels = {}
        for s in self.sentinel_addresses:
            try:
                state = self.sentinel_state(s, timeout=2.0)
                sentinels[s] = {"master": (state.get("ip"), int(state.get("port", 0))),
                                "config_epoch": int(state.get("config-epoch", 0)),
                                "down_after_ms": int(state.get("down-after-milliseconds", 0))}
            except (OSError, RespError, ValueError) as e:
                sentinels[s] = {"error": f"{type(e).__name__}: {e}"}
        try:
            replicas = [(r.get("ip"), int(r.get("port", 0))) for r in self.replicas(timeout=2.0)]
        except DrillCannotRun:
            replicas = []
        return {"sentinels": sentinels, "replicas": replicas}

    def wait_for_master_change(self, old_address, timeout=30.0):
        """Wait until every live Sentinel that answers names the same master other than
        ``old_address`` (SENTINEL MASTER too, flags ``master``) and it answers ``role:master``."""
        old = (old_address[0], int(old_address[1]))
        deadline = time.monotonic() + timeout
        while True:
            new = self._changed(old)
            if new is not None:
                return new
            if time.monotonic() > deadline:
                raise DrillCannotRun(f"the Sentinels did not name a master other than {fmt_addr(old)} "
                                     f"within {timeout:.0f} s")
            time.sleep(0.05)

    def _changed(self, old):
        views = [v for v in self.sentinel_views().values() if v is not None]
        if not views or old in views or len(set(views)) != 1:
            return None
        new = views[0]
        try:
            for s in self.live_sentinels():
                try:
                    state = self.sentinel_state(s)
                except OSError:
                    continue  # not answering now: the agreement is checked by verify()
                if (state.get("ip"), int(state.get("port", 0))) != new or state.get("flags") != "master":
                    return None
            if _info(self.command(new, "INFO", "replication", timeout=0.5)).get("role") != "master":
                return None
        except (OSError, RespError, ValueError):
            return None
        return new

    def failover(self, timeout=30.0):
        """``SENTINEL FAILOVER`` to a live Sentinel (retrying INPROG / NOGOODSLAVE), then wait for
        the switch; returns the new master."""
        deadline = time.monotonic() + timeout
        old = self.current_master_address()
        while True:
            errors = []
            for s in self.live_sentinels():
                try:
                    self.command(s, "SENTINEL", "FAILOVER", self.service, timeout=2, sentinel=True)
                    log.info("SENTINEL FAILOVER %s sent to %s", self.service, fmt_addr(s))
                    return self.wait_for_master_change(old, max(1.0, deadline - time.monotonic()))
                except (OSError, RespError) as e:
                    errors.append(f"{fmt_addr(s)}: {e}")
            if time.monotonic() > deadline:
                raise DrillCannotRun("SENTINEL FAILOVER kept failing: " + "; ".join(errors))
            time.sleep(0.3)

    # -- the fault ---------------------------------------------------------------------------

    def master_fault(self, fault):
        """The fault on the master (``sentinel-loss`` is followed by ``then``)."""
        return self.then if fault == "sentinel-loss" else fault

    def describe(self, fault):
        """What the fault is, in a few words."""
        if fault == "sentinel-loss":
            return f"one Sentinel shut down (SHUTDOWN), then {self.describe(self.then)}"
        if fault == "hang":
            length = "" if self.hang_seconds is None else f" for {self.hang_seconds:.0f} s"
            return f"master hung{length} (DEBUG SLEEP)"
        if fault == "kill":
            return "master crashed (DEBUG SEGFAULT)" if self.kill_with == "segfault" else \
                "master shut down (SHUTDOWN NOSAVE)"
        return SCENARIOS[fault]

    def prepare(self, fault):
        """Check that the fault can be injected (raises :class:`DrillCannotRun`); sets the
        default hang length from ``down-after-milliseconds``."""
        master = self.master_address()
        try:
            state = self.sentinel_state(self.live_sentinels()[0], timeout=2.0)
            self.down_after_ms = int(state.get("down-after-milliseconds", 5000))
        except (OSError, RespError, ValueError, IndexError):
            self.down_after_ms = 5000
        if self.hang_seconds is None:
            self.hang_seconds = max(5.0, 3 * self.down_after_ms / 1000.0 + 5.0)
        master_fault = self.master_fault(fault)
        if master_fault == "hang" or (master_fault == "kill" and self.kill_with == "segfault"):
            try:
                self.command(master, "DEBUG", "SLEEP", "0", timeout=2.0)
            except RespError as e:
                raise DrillCannotRun(
                    f"the master {fmt_addr(master)} refuses DEBUG ({e}): this scenario needs "
                    "'enable-debug-command yes' (or 'local' from the same host) on the data nodes"
                ) from None
            except OSError as e:
                raise DrillCannotRun(f"the master {fmt_addr(master)} cannot be reached: {e}") from None
        if fault == "sentinel-loss":
            answering = [s for s, v in self.sentinel_views(timeout=1.0).items() if v is not None]
            if len(answering) < 2:
                raise DrillCannotRun("sentinel-loss needs at least 2 Sentinels answering "
                                     f"({len(answering)} do)")
            self._sentinel_to_lose = answering[-1]

    def inject(self, fault, old_master, console):
        """Inject the fault; returns (time of the fault, None)."""
        if fault == "sentinel-loss":
            victim = self._sentinel_to_lose
            console.event(f"shutting down the Sentinel {fmt_addr(victim)} (SHUTDOWN) ...")
            t_fault = time.monotonic()
            self._shutdown(victim, ("SHUTDOWN", "NOSAVE"), sentinel=True)
            self.lost_sentinels.append(victim)
            self.irreversible.append(f"the Sentinel {fmt_addr(victim)} is shut down: start it again on its "
                                     "host (it rejoins by itself)")
            self._inject_master(self.then, old_master, console)
            return t_fault, None
        t_fault = self._inject_master(fault, old_master, console)
        return t_fault, None

    def _inject_master(self, fault, old_master, console):
        if fault == "planned":
            console.event(f"requesting a failover: SENTINEL FAILOVER {self.service} ...")
            return time.monotonic()
        if fault == "kill":
            if self.kill_with == "segfault":
                console.event(f"crashing the master {fmt_addr(old_master)} (DEBUG SEGFAULT) ...")
                t = time.monotonic()
                self._shutdown(old_master, ("DEBUG", "SEGFAULT"))
            else:
                console.event(f"shutting down the master {fmt_addr(old_master)} (SHUTDOWN NOSAVE NOW) ...")
                t = time.monotonic()
                try:
                    self._shutdown(old_master, ("SHUTDOWN", "NOSAVE", "NOW"))
                except DrillCannotRun as e:  # before Redis 7: no NOW
                    if "syntax" not in str(e).lower():
                        raise
                    self._shutdown(old_master, ("SHUTDOWN", "NOSAVE"))
            self.irreversible.append(f"the old master {fmt_addr(old_master)} is down: start it again on its "
                                     "host (Sentinel then makes it a replica of the new master)")
            return t
        if fault == "hang":
            console.event(f"hanging the master {fmt_addr(old_master)} for {self.hang_seconds:.0f} s "
                          "(DEBUG SLEEP) ...")
            started = threading.Event()

            def sleep():
                started.set()
                try:
                    self.command(old_master, "DEBUG", "SLEEP", f"{self.hang_seconds:.3f}",
                                 timeout=self.hang_seconds + 30)
                except (OSError, RespError) as e:
                    log.warning("DEBUG SLEEP on %s: %s", fmt_addr(old_master), e)
                self.t_resumed = time.monotonic()

            t = time.monotonic()
            self._hang_thread = threading.Thread(target=sleep, name="debug-sleep", daemon=True)
            self._hang_thread.start()
            started.wait(2)
            return t
        raise ValueError(f"unknown fault {fault!r}")

    def _shutdown(self, address, args, sentinel=False):
        """Send a command that ends the server: the connection closing is the success."""
        try:
            reply = self.command(address, *args, timeout=5.0, sentinel=sentinel)
        except RespError as e:
            raise DrillCannotRun(f"{fmt_addr(address)} refused {' '.join(args)}: {e}") from None
        except OSError:
            return  # closed: done
        raise DrillCannotRun(f"{fmt_addr(address)} answered {reply!r} to {' '.join(args)} and is still up")

    def paused_resumed(self):
        """Hang: when the master woke up (None before)."""
        return self.t_resumed

    def required_events(self, fault):
        """The Sentinel events :func:`verify` needs: [(event, kind of instance, what it shows)]."""
        master_fault = self.master_fault(fault)
        failure = [("+try-failover", "master", "the failover was requested")] if master_fault == "planned" \
            else [("+sdown", "master", "a Sentinel saw the master down"),
                  ("+odown", "master", "the Sentinels agreed the master is down")]
        if fault == "sentinel-loss":
            failure.insert(0, ("+sdown", "sentinel", "the Sentinels saw the lost Sentinel down"))
        return failure + [("+switch-master", None, "the new master was announced"),
                          ("+failover-end", None, "the failover finished")]

    def finish(self):
        """Wait for a DEBUG SLEEP still running (bounded)."""
        if self._hang_thread is not None:
            self._hang_thread.join(timeout=self.hang_seconds + 35)


class LocalSignals:
    """A local :class:`~sentinelfast.testing.Topology`; faults by signals to its processes (the
    demo and the benchmark): ``planned`` (SENTINEL FAILOVER), ``kill`` (SIGKILL to the master,
    which stays dead) and ``hang`` (SIGSTOP, SIGCONT ``resume_after`` seconds after the switch)."""

    local = True

    def __init__(self, topology):
        self.topology = topology
        self.service = topology.service_name
        self.sentinel_addresses = topology.sentinel_addresses
        self.lost_sentinels = []
        self.irreversible = []

    def command(self, address, *args, timeout=1.0, sentinel=False):
        """One command to a process of the topology (with its credentials and TLS)."""
        return self.topology.node_by_address(address).command(*args, timeout=timeout)

    def event_options(self):
        """Keyword arguments of :class:`SentinelEvents` (the demo listens to every event)."""
        node = self.topology.sentinels[0]
        options = node._connection_options()
        return {"ssl_context": options.get("ssl_context"), "password": options.get("password"),
                "username": options.get("username")}

    def current_master_address(self, timeout=0.5):
        """The master most Sentinels name."""
        return self.topology.current_master_address(timeout=timeout)

    def master_address(self):
        """The master now (before the fault)."""
        return tuple(self.topology.master.address)

    def wait_for_master_change(self, old_address, timeout=30.0):
        """See :meth:`sentinelfast.testing.Topology.wait_for_master_change`."""
        return self.topology.wait_for_master_change(old_address, timeout=timeout)

    def failover(self, timeout=30.0):
        """See :meth:`sentinelfast.testing.Topology.failover`."""
        return self.topology.failover(timeout=timeout)

    def master_fault(self, fault):
        """The fault on the master: ``fault`` itself."""
        return fault

    def describe(self, fault):
        """What the fault is, in a few words."""
        return FAULTS[fault]

    def prepare(self, fault):
        """Nothing to check (signals always work), but the fault's name."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")

    def inject(self, fault, old_master, console):
        """Inject the fault; returns (time of the fault, the paused node or None)."""
        service = self.service
        old_node = self.topology.master
        if fault == "planned":
            console.event(f"requesting a failover: SENTINEL FAILOVER {service} (topology.failover()) ...")
            return time.monotonic(), None
        if fault == "kill":
            console.event(f"killing the master {fmt_addr(old_master)} (SIGKILL) ...")
            t_fault = time.monotonic()
            old_node.kill()
            return t_fault, None
        console.event(f"stopping the master {fmt_addr(old_master)} (SIGSTOP) ...")
        t_fault = time.monotonic()
        old_node.pause()
        return t_fault, old_node

    def paused_resumed(self):
        """None: a paused node is resumed by the run itself (SIGCONT)."""
        return None

    def required_events(self, fault):
        """None: the demo and the benchmark do not verify the events."""
        return []

    def finish(self):
        """Nothing to wait for."""


def _signal_handlers():
    """The SIGINT / SIGTERM handlers (none outside the main thread, where they cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}


def _ignore_signals():
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _restore_signals(saved):
    for s, handler in saved.items():
        signal.signal(s, handler)


def run_on_target(target, client, console, *, fault="planned", before=5.0, after=3.0, follow_timeout=30.0,
                  retry_sleep=0.05, socket_timeout=0.5, prefix=KEY_PREFIX, wait_convert=True,
                  resume_after=1.0, live=True, reader=False, client_kwargs=None, sentinel_kwargs=None,
                  announce=True, on_client=None):
    """Run one drill on ``target`` (:class:`LocalSignals` or :class:`RemoteTarget`) and return a
    result dict (times are time.monotonic()).

    ``client``: "sentinelfast" or "redis-py". The writer runs ``before`` seconds, then the fault is
    injected (``target.inject``); the run continues until the Sentinels name a new master, the
    client's writes reach it, the events :func:`verify` needs were seen and (unless
    ``wait_convert`` is false or the master was killed) Sentinel has converted the old master to
    a replica, then ``after`` seconds more. ``reader=True`` also runs a :class:`Reader` through
    ``slave_for``. ``client_kwargs`` / ``sentinel_kwargs``: credentials and TLS of the client.
    ``on_client(sentinel, master, console)`` is called once the client is made (e.g. to serve its
    metrics during the run).
    Raises :class:`DrillCannotRun` when the fault cannot be injected (nothing was changed).
    """
    Sentinel, client_label, client_path = import_client(client)
    target.prepare(fault)
    if announce:
        console.event(f"client: {client_label} ({client_path}); fault: {target.describe(fault)}")
    master_fault = target.master_fault(fault)
    writer = reader_thread = events = master = replica = sentinel = None
    saved_handlers = _signal_handlers()
    try:
        service = target.service
        kwargs = dict(client_kwargs or {})
        if sentinel_kwargs is not None:
            kwargs["sentinel_kwargs"] = dict(sentinel_kwargs, socket_timeout=socket_timeout)
        sentinel = Sentinel(target.sentinel_addresses, socket_timeout=socket_timeout, **kwargs)
        master = sentinel.master_for(service, socket_timeout=socket_timeout)
        if on_client is not None:
            on_client(sentinel, master, console)
        before_addr = sentinel.discover_master(service)
        console.event(f"sentinel.discover_master({service!r}) -> {fmt_addr(before_addr)}")
        old_master = tuple(target.master_address())
        before_state = target.snapshot() if hasattr(target, "snapshot") else None

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

        events = SentinelEvents(target.sentinel_addresses, console, lambda: t_fault, **target.event_options())
        events.start()

        writer = Writer(master, retry_sleep, prefix)
        t_writer = time.monotonic()
        writer.start()
        console.event(f"writer thread started: SET {prefix}<n> <n>, n = 0, 1, 2, ...")
        if reader:
            replica = sentinel.slave_for(service, socket_timeout=socket_timeout)
            reader_thread = Reader(replica, writer, retry_sleep)
            reader_thread.start()
            console.event(f"reader thread started: GET {prefix}<last acknowledged n> from a replica (slave_for)")
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
            resumed = target.paused_resumed()
            if resumed is not None and state["t_resume"] is None:
                state["t_resume"] = resumed
                console.event(f"  {rel_text(resumed)}  old master {fmt_addr(old_master)} woke up (DEBUG SLEEP ended)")
            if now - last_poll >= 0.25:
                last_poll = now
                try:
                    state["sentinel_master"] = target.current_master_address(timeout=0.3)
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
                            if target.command(state["new_master"], "EXISTS", f"{prefix}{n}", timeout=0.5) == 1:
                                state["t_client_on_new"] = now
                                console.event(
                                    f"  {rel_text(now)}  writes are reaching the new master "
                                    f"{fmt_addr(state['new_master'])} (checked by reading {prefix}{n} there)"
                                )
                        except (OSError, RespError):
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
                if not writer.is_alive() or writer.stop_event.is_set():
                    raise RuntimeError("the writer thread died")
                tick()
                time.sleep(0.05)
            return until is not None and until()

        run_for(before)

        # ---- the fault ------------------------------------------------------------------------
        def wait_switch():
            try:
                if master_fault == "planned":
                    new = target.failover(timeout=follow_timeout)
                else:
                    new = target.wait_for_master_change(old_master, timeout=follow_timeout)
                state["t_failover_done"] = time.monotonic()
                state["failover_result"] = ("ok", tuple(new))
                console.event(
                    f"  {rel_text(state['t_failover_done'])}  every Sentinel names {fmt_addr(new)}, "
                    "which answers role:master"
                )
            except Exception as e:  # noqa: BLE001 - reported below
                state["failover_result"] = ("error", e)

        acked_at_fault = writer.acked
        promotion = PromotionWatch(target.command, PromotionWatch.replicas_of(target.command, old_master))
        promotion.start()
        t_fault, state["paused"] = target.inject(fault, old_master, console)
        failover_thread = threading.Thread(target=wait_switch, name="failover", daemon=True)
        failover_thread.start()
        console.event(f"  +{0:6.3f}s  {target.describe(fault)}")
        required = target.required_events(fault)

        def complete():
            result = state["failover_result"]
            if result is not None and result[0] != "ok":
                return True
            if result is None or state["t_client_on_new"] is None or state["paused"] is not None:
                return False
            if wait_convert and master_fault != "kill" and events.time_of("+convert-to-slave") is None:
                return False
            return all(events.find(name, kind, since=t_fault) for name, kind, _ in required)

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
            missing_events = [name for name, kind, _ in required if not events.find(name, kind, since=t_fault)]
            if wait_convert and master_fault != "kill" and events.time_of("+convert-to-slave") is None:
                missing_events.append("+convert-to-slave")
            console.event(f"({', '.join(missing_events) or 'the end of the failover'} not seen within "
                          f"{follow_timeout:.0f}s of the fault)")
        if failover_ok and state["t_client_on_new"] is not None:
            run_for(after)
        console.end_status()
        t_end = time.monotonic()

        # ---- stop and check --------------------------------------------------------------------
        writer.stop_event.set()
        writer.join(timeout=5)
        if reader_thread is not None:
            reader_thread.stop_event.set()
            reader_thread.join(timeout=5)
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
        new_master = result[1] if failover_ok else tuple(target.current_master_address())
        console.event(
            f"sentinel.discover_master({service!r}) -> {fmt_addr(after_addr)}  (before: {fmt_addr(before_addr)})"
        )

        acked = writer.acked
        console.event(f"reading the {acked} acknowledged keys back from the new master {fmt_addr(new_master)} ...")
        present = read_back(target.command, new_master, acked, prefix)
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
        # The same from the moment a replica answered ROLE "master" (PromotionWatch): how long
        # after the promotion the client's first write landed on the new master.
        promotion.stop()
        t_role_master = promotion.t_master
        first_after_promotion = None
        if t_role_master is not None:
            for n in range(acked):
                if ack_times[n] > t_role_master and present[n]:
                    first_after_promotion = ack_times[n]
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
            "fault_text": target.describe(fault),
            "prefix": prefix,
            "master_fault": master_fault,
            "service": service,
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
            "t_role_master": t_role_master,
            "promotion_to_first_write": (first_after_promotion - t_role_master
                                         if first_after_promotion and t_role_master else None),
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
            "reader": reader_thread.summary() if reader_thread is not None else None,
            "sentinel_events_all": list(events.all_events),
            "sentinel_links_lost": list(events.lost),
            "before_state": before_state,
            "lost_sentinels": list(target.lost_sentinels),
            "irreversible": list(target.irreversible),
        }
    finally:
        # Cleanup must finish even if Ctrl-C is pressed again.
        _ignore_signals()
        try:
            console.end_status()
            if writer is not None:
                writer.stop_event.set()
                writer.join(timeout=3)
            if reader_thread is not None:
                reader_thread.stop_event.set()
                reader_thread.join(timeout=3)
            if events is not None:
                events.close()
            for obj in (master, replica, sentinel):
                if obj is not None and hasattr(obj, "close"):
                    try:
                        obj.close()
                    except Exception as e:  # noqa: BLE001 - report, but keep cleaning up
                        console.event(f"(closing {type(obj).__name__} failed: {error_name(e)}: {e})")
            target.finish()
        finally:
            _restore_signals(saved_handlers)


def run_drill(client, console, *, fault="planned", before=5.0, after=3.0, follow_timeout=30.0,
              retry_sleep=0.05, socket_timeout=0.5, prefix=KEY_PREFIX, wait_convert=True,
              resume_after=1.0, live=True, on_client=None):
    """Run one drill on a fresh local topology, faults by signals (:class:`LocalSignals`), and
    return the result dict of :func:`run_on_target`.

    fault: "planned" (SENTINEL FAILOVER), "kill" (SIGKILL the master) or "hang" (SIGSTOP the
    master, SIGCONT ``resume_after`` seconds after the switch). The servers are always stopped.
    """
    _, client_label, client_path = import_client(client)
    console.event(f"client: {client_label} ({client_path}); fault: {FAULTS[fault]}")
    console.event("starting a local topology: 1 master, 2 replicas, 3 Sentinels (redis-server on loopback) ...")
    t_start = time.monotonic()
    topology = topo_mod.Topology()
    saved_handlers = _signal_handlers()
    try:
        topology.start()
        console.event(
            f"  ready in {time.monotonic() - t_start:.1f}s: master {fmt_addr(topology.master.address)}, "
            f"replicas {', '.join(fmt_addr(r.address) for r in topology.replicas)}, "
            f"Sentinels {', '.join(fmt_addr(a) for a in topology.sentinel_addresses)}"
        )
        return run_on_target(LocalSignals(topology), client, console, fault=fault, before=before, after=after,
                             follow_timeout=follow_timeout, retry_sleep=retry_sleep,
                             socket_timeout=socket_timeout, prefix=prefix, wait_convert=wait_convert,
                             resume_after=resume_after, live=live, announce=False, on_client=on_client)
    finally:
        # Cleanup must finish even if Ctrl-C is pressed again.
        _ignore_signals()
        try:
            console.event("stopping the topology ...")
            topology.stop()
            console.event("all redis-server processes stopped")
        finally:
            _restore_signals(saved_handlers)


# --------------------------------------------------------------------------------------------
# The four verifications
# --------------------------------------------------------------------------------------------


def _check(name, ok, detail):
    return {"name": name, "ok": bool(ok), "detail": detail}


def verify(target, r, timeout=30.0):
    """The four checks of a failover test on the result ``r`` of :func:`run_on_target` (the
    deployment still running): a list of ``{"name", "ok", "detail"}``:

    1. ``sentinel-logged`` — the Sentinels published the failure and the failover
       (``target.required_events``, seen after the fault);
    2. ``new-master-elected`` — every live Sentinel names the new master (not the old one) and
       its config-epoch is higher than every config-epoch before the fault;
    3. ``writes-on-new-master`` — the writes acknowledged after +switch-master are all read back
       from the new master (and there are some);
    4. ``replicas-follow`` — every replica Sentinel lists (but a master the drill shut down)
       reports, in INFO replication, the new master and ``master_link_status:up``; waits up to
       ``timeout`` seconds for them.
    """
    t_fault = r["t_fault"]
    new_master = tuple(r["new_master"]) if r.get("new_master") else None
    old_master = tuple(r["old_master"])
    checks = []

    # 1. events
    seen, missing = [], []
    for name, kind, what in target.required_events(r["fault"]):
        hit = None
        for t, channel, payload, _ in r["sentinel_events_all"]:
            if channel == name and t >= t_fault and (kind is None or payload.startswith(kind + " ")):
                hit = (t, payload)
                break
        if hit:
            seen.append(f"{name} at +{hit[0] - t_fault:.3f}s ({what})")
        else:
            missing.append(f"{name} ({what})")
    checks.append(_check("sentinel-logged", not missing,
                         ("seen: " + "; ".join(seen)) + ("; NOT SEEN: " + "; ".join(missing) if missing else "")))

    # 2. agreement and config-epoch
    before = (r.get("before_state") or {}).get("sentinels", {})
    epochs_before = [s["config_epoch"] for s in before.values() if "config_epoch" in s]
    epoch_before = max(epochs_before) if epochs_before else None
    problems, views = [], []
    if new_master is None or new_master == old_master:
        problems.append("no new master")
    for s in target.live_sentinels():
        try:
            state = target.sentinel_state(s, timeout=2.0)
        except (OSError, RespError) as e:
            problems.append(f"Sentinel {fmt_addr(s)} does not answer: {e}")
            continue
        named = (state.get("ip"), int(state.get("port", 0)))
        epoch = int(state.get("config-epoch", -1))
        views.append(f"{fmt_addr(s)}: {fmt_addr(named)} epoch {epoch}")
        if named != new_master:
            problems.append(f"Sentinel {fmt_addr(s)} names {fmt_addr(named)}")
        if epoch_before is not None and epoch <= epoch_before:
            problems.append(f"Sentinel {fmt_addr(s)}: config-epoch {epoch} did not advance (was {epoch_before})")
    lost = [f"{fmt_addr(s)} (shut down by the drill)" for s in target.lost_sentinels]
    checks.append(_check(
        "new-master-elected", not problems,
        (f"{fmt_addr(old_master)} -> {fmt_addr(new_master)}; config-epoch before {epoch_before}; "
         + "; ".join(views) + ("; not asked: " + ", ".join(lost) if lost else "")
         + ("; PROBLEMS: " + "; ".join(problems) if problems else ""))))

    # 3. writes after the switch, on the new master
    t_switch = r["events"].get("+switch-master") or r.get("t_switch_seen")
    if t_switch is None:
        checks.append(_check("writes-on-new-master", False, "no switch seen"))
    else:
        after = [n for n, t in enumerate(r["ack_times"]) if t > t_switch]
        lost_after = [n for n in after if not r["present"][n]]
        ok = bool(after) and not lost_after
        checks.append(_check(
            "writes-on-new-master", ok,
            f"{len(after)} writes acknowledged after +switch-master, {len(after) - len(lost_after)} of them read "
            f"back from {fmt_addr(new_master)}" + ("" if after else " (no write after the switch)")))

    # 4. replicas follow the new master
    killed = {old_master} if r.get("master_fault") == "kill" else set()
    deadline = time.monotonic() + timeout
    while True:
        following, problems, skipped = [], [], []
        try:
            replicas = target.replicas(timeout=2.0)
        except DrillCannotRun as e:
            replicas, problems = [], [str(e)]
        expected = set((r.get("before_state") or {}).get("replicas", [])) | {old_master}
        expected.discard(new_master)
        listed = set()
        for rep in replicas:
            addr = (rep.get("ip"), int(rep.get("port", 0)))
            listed.add(addr)
            if addr in killed:
                skipped.append(f"{fmt_addr(addr)} (the old master, shut down by the drill)")
                continue
            try:
                info = _info(target.command(addr, "INFO", "replication", timeout=1.0))
            except (OSError, RespError) as e:
                problems.append(f"{fmt_addr(addr)} does not answer: {e}")
                continue
            names = (info.get("master_host"), int(info.get("master_port") or 0))
            if info.get("role") != "slave" or names != new_master or info.get("master_link_status") != "up":
                problems.append(f"{fmt_addr(addr)}: role {info.get('role')}, master {fmt_addr(names)}, "
                                f"link {info.get('master_link_status')}")
            else:
                following.append(fmt_addr(addr))
        for addr in sorted(expected - listed - killed):
            problems.append(f"{fmt_addr(addr)} is no longer listed by Sentinel")
        if not following and not problems:
            problems.append("no replica")
        if not problems or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    checks.append(_check(
        "replicas-follow", not problems,
        (f"following {fmt_addr(new_master)} with link up: " + (", ".join(following) or "none"))
        + ("; not checked: " + ", ".join(skipped) if skipped else "")
        + ("; PROBLEMS: " + "; ".join(problems) if problems else "")))
    return checks


def seconds_from(t, t0):
    """``t`` as seconds after ``t0``, rounded to 0.1 ms (None stays None)."""
    return None if t is None else round(t - t0, 4)


def writer_outcome(r, t0):
    """What the writer of a run saw, JSON-able, times in seconds from ``t0``: the part of a
    result that the failover and partition drills (``benchmarks/``) report alike."""
    missing = r["missing"]
    return {
        "client": r["client"],
        "client_version": r["label"],
        "acked_writes": r["acked"],
        "errors": r["error_count"],
        "errors_by_class": dict(r["errors"]),
        "error_examples": r["error_examples"],
        "first_error": seconds_from(r["error_times"][0], t0) if r["error_times"] else None,
        "last_error": seconds_from(r["error_times"][-1], t0) if r["error_times"] else None,
        "lost": len(missing),
        "lost_acked_between": [seconds_from(min(r["ack_times"][n] for n in missing), t0),
                               seconds_from(max(r["ack_times"][n] for n in missing), t0)]
        if missing else None,
        "longest_stall": round(r["longest_stall"], 4),
        "longest_stall_from": seconds_from(r["longest_stall_at"], t0),
        "first_write_on_new_master": seconds_from(r["first_on_new"], t0),
        "sentinel_events": {k: seconds_from(v, t0)
                            for k, v in sorted(r["events"].items(), key=lambda kv: kv[1])},
        "old_master": list(r["old_master"]),
        "followed": r["followed"],
        "unexpected_replies": r["unexpected_replies"],
        "client_events": [[seconds_from(t, t0), kind, detail] for t, kind, detail in r["client_events"]],
    }


def result_document(r, checks, png=None, png_note=None):
    """The JSON-able report of a run and its verifications (times in seconds from the fault)."""
    t0 = r["t_fault"]

    def rel(t):
        return None if t is None else round(t - t0, 4)

    missing = r["missing"]
    lost = len(missing)
    reader = r.get("reader")
    if reader is not None:
        reader = dict(reader, longest_pause=round(reader["longest_pause"], 4),
                      longest_pause_at=rel(reader["longest_pause_at"]))
    ok = all(c["ok"] for c in checks) and not lost and r["followed"]
    return {
        "ok": ok,
        "service": r["service"],
        "scenario": r["fault"],
        "fault": r["fault_text"],
        "client": r["label"],
        "old_master": fmt_addr(r["old_master"]),
        "new_master": fmt_addr(r["new_master"]) if r.get("new_master") else None,
        "client_followed": r["followed"],
        "verifications": checks,
        "writes": {
            "acknowledged": r["acked"],
            "acknowledged_before_fault": r["acked_at_fault"],
            "errors": r["error_count"],
            "errors_by_class": dict(r["errors"]),
            "error_examples": dict(r["error_examples"]),
            "lost": lost,
            "lost_acknowledged_before_fault": r["lost_before_fault"],
            "lost_acknowledged_after_fault": r["lost_after_fault"],
            "lost_keys": f"{r['prefix']}{{{ranges(missing)}}}" if missing else None,
        },
        "reads": reader,
        "pause_seconds": round(r["longest_stall"], 4),
        "pause_from": rel(r["longest_stall_at"]),
        "switch_to_first_write_on_new_master": (None if r["switch_to_first_write"] is None
                                                else round(r["switch_to_first_write"], 4)),
        "sentinel_events": {k: rel(v) for k, v in sorted(r["events"].items(), key=lambda kv: kv[1])
                            if not k.startswith("__")},
        "sentinels_shut_down": [fmt_addr(a) for a in r.get("lost_sentinels", [])],
        "cannot_be_undone_remotely": list(r.get("irreversible", [])),
        "png": png,
        "png_note": png_note,
    }


def summary_lines(doc):
    """The text report of :func:`result_document`."""
    w = doc["writes"]
    lines = [
        f"drill {doc['scenario']} on {doc['service']}: {doc['fault']}",
        f"master {doc['old_master']} -> {doc['new_master'] or '?'}; client "
        + ("followed" if doc["client_followed"] else "DID NOT follow"),
    ]
    for c in doc["verifications"]:
        lines.append(f"  [{'pass' if c['ok'] else 'FAIL'}] {c['name']}: {c['detail']}")
    lines.append(f"writes: {w['acknowledged']} acknowledged, {w['errors']} errors, {w['lost']} lost"
                 + (f" ({w['lost_acknowledged_before_fault']} acknowledged before the fault, "
                    f"{w['lost_acknowledged_after_fault']} after; keys {w['lost_keys']})" if w["lost"] else ""))
    for name, count in w["errors_by_class"].items():
        lines.append(f"    {count:6d}  {name}: {w['error_examples'].get(name, '')}")
    lines.append(f"pause (longest gap between two acknowledged writes): {doc['pause_seconds']:.3f} s")
    if doc["switch_to_first_write_on_new_master"] is not None:
        lines.append(f"+switch-master -> first write on the new master: "
                     f"{doc['switch_to_first_write_on_new_master']:.3f} s")
    rd = doc["reads"]
    if rd is not None:
        lines.append(f"reads (replica): {rd['reads']} ok, {rd['stale']} not yet replicated, {rd['errors']} errors, "
                     f"longest pause {rd['longest_pause']:.3f} s")
        for name, count in rd["errors_by_class"].items():
            lines.append(f"    {count:6d}  {name}: {rd['error_examples'].get(name, '')}")
    for text in doc["cannot_be_undone_remotely"]:
        lines.append(f"cannot be undone remotely: {text}")
    if doc["png"]:
        lines.append(f"timeline: {doc['png']}")
    elif doc["png_note"]:
        lines.append(doc["png_note"])
    lines.append("RESULT: " + ("ok - every verification passed, no acknowledged write lost" if doc["ok"]
                               else "PROBLEM - see the failed verifications / lost writes above"))
    return lines


# --------------------------------------------------------------------------------------------
# Reports (the demo and the benchmark)
# --------------------------------------------------------------------------------------------


def fmt_seconds(t):
    """'1.234 s', or '-' for None."""
    return "-" if t is None else f"{t:.3f} s"


def print_summary(r):
    """Print what the application saw in one run (the demo's summary)."""
    t0 = r["t_fault"]

    def rel(t):
        return "      -" if t is None else f"+{t - t0:6.3f}s"

    ev = r["events"]
    print()
    print("=" * 78)
    print(f"summary ({r['label']}, {r.get('fault_text') or FAULTS[r['fault']]})")
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
         else r.get("fault_text") or FAULTS[r["fault"]]),
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
    if r.get("promotion_to_first_write") is not None:
        print(f"time from the replica answering ROLE master to the client's first write on it: "
              f"{r['promotion_to_first_write'] * 1000:.1f} ms")
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
    """Print runs side by side (one column per client)."""
    rows = [
        ("acknowledged writes", lambda r: str(r["acked"])),
        ("errors seen by the application", lambda r: str(r["error_count"])),
        ("acknowledged writes lost", lambda r: str(len(r["missing"]))),
        ("longest stall (gap between acked writes)", lambda r: fmt_seconds(r["longest_stall"])),
        ("+switch-master -> first write on new master", lambda r: fmt_seconds(r["switch_to_first_write"])),
        ("replica is master (ROLE) -> first write on it",
         lambda r: fmt_seconds(r.get("promotion_to_first_write"))),
        ("followed the failover", lambda r: "yes" if r["followed"] else "NO"),
    ]
    width = max(len(name) for name, _ in rows) + 2
    col = max(20, max(len(r["label"]) for r in results) + 2)
    print()
    fault_text = results[0].get("fault_text") or FAULTS[results[0]["fault"]]
    print("side by side (" + fault_text + ", same parameters, a fresh topology each):")
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
            (0.0, "#000000", "--", "failover requested" if r["fault"] == "planned"
             else r.get("fault_text") or FAULTS[r["fault"]]),
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
    fig.suptitle(f"Writes through Sentinel master_for() during a failover "
                 f"({results[0].get('fault_text') or FAULTS[results[0]['fault']]})",
                 fontsize=12)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)

