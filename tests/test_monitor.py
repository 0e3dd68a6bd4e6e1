"""The Sentinel monitor (csrc/sentinel_*.c): what it does with what Sentinels send, and that no
Sentinel, however slow, holds it up.

* Event and reply parsing is unit-tested in C (tests/c/sentinel_events_driver.c, built here).
* Addresses that are not valid (port outside 1-65535, host not UTF-8) are skipped with a WARNING
  and never connected to: a fake Sentinel sends them (a real one cannot).
* A Sentinel that accepts connections but never answers, and a SIGSTOPped one, do not delay
  ``stats()``, ``master_for`` nor the switch the other Sentinels announce (socket_timeout=2).
* After +switch-master of a SIGKILL failover, re-checks that still see failover_in_progress
  start no second hold.
* Two threads asking for the same service get one Service; the monitor's lock is re-entrant.
"""

import gc
import logging
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest
from conftest import ROOT, Topology
from sfimpl import IMPL, sf

pytestmark = pytest.mark.skipif(IMPL != "sentinelfast", reason="sentinelfast's monitor")

if IMPL == "sentinelfast":
    from sentinelfast.failover import FailoverMonitor


def wait_until(check, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# --------------------------------------------------------------------------------------------
# The parser, byte by byte (C)
# --------------------------------------------------------------------------------------------


def test_event_parser_unit(tmp_path):
    """Ports 0, -5, 96737 rejected (never wrapped), non-UTF-8 hosts rejected, events and
    SENTINEL MASTER / SENTINELS replies parsed into the right actions."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("no C compiler to build the parser's unit driver")
    def pkg_config(*args):
        if shutil.which("pkg-config") is None:
            return []
        return subprocess.run(["pkg-config", *args, "hiredis"], capture_output=True,
                              text=True).stdout.split()

    include = pkg_config("--cflags") or ["-I/usr/include/hiredis"]
    libs = pkg_config("--libs") or ["-lhiredis"]
    exe = tmp_path / "driver"
    build = subprocess.run(
        [cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE", f"-I{ROOT}/csrc", *include,
         os.path.join(ROOT, "tests", "c", "sentinel_events_driver.c"),
         os.path.join(ROOT, "csrc", "sentinel_events.c"), *libs, "-o", str(exe)],
        capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr


# --------------------------------------------------------------------------------------------
# A fake Sentinel: only it can send invalid addresses
# --------------------------------------------------------------------------------------------


def _bulk(value):
    if isinstance(value, str):
        value = value.encode()
    return b"$%d\r\n%s\r\n" % (len(value), value)


class _Raw(bytes):
    """Already RESP-encoded."""


def _array(items):
    return b"*%d\r\n" % len(items) + b"".join(
        item if isinstance(item, _Raw) else _bulk(item) for item in items)


def _pairs(fields):
    flat = []
    for k, v in fields:
        flat += [_bulk(k), _bulk(v)]
    return b"*%d\r\n" % len(flat) + b"".join(flat)


class FakeSentinel(threading.Thread):
    """Answers PSUBSCRIBE (then sends `messages`), SENTINEL MASTER / SENTINELS with the
    replies given, AUTH/PING with OK. Records every address it was asked about."""

    def __init__(self, master_reply, sentinels_reply, messages=()):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.address = self.sock.getsockname()
        self.master_reply = master_reply
        self.sentinels_reply = sentinels_reply
        self.messages = list(messages)
        self.commands = []
        self.subscribers = []
        self.halt = False

    def run(self):
        self.sock.settimeout(0.2)
        while not self.halt:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        f = conn.makefile("rb")
        try:
            while not self.halt:
                line = f.readline()
                if not line:
                    return
                n = int(line[1:])
                args = []
                for _ in range(n):
                    size = int(f.readline()[1:])
                    args.append(f.read(size + 2)[:-2].decode())
                self.commands.append(args)
                cmd = [a.upper() for a in args[:2]]
                if cmd[0] == "PSUBSCRIBE":
                    conn.sendall(_array(["psubscribe", "*", _Raw(b":1\r\n")]))
                    for channel, payload in self.messages:
                        conn.sendall(_array(["pmessage", "*", channel, payload]))
                    self.subscribers.append(conn)
                elif cmd == ["SENTINEL", "MASTER"]:
                    conn.sendall(self.master_reply)
                elif cmd == ["SENTINEL", "SENTINELS"]:
                    conn.sendall(self.sentinels_reply)
                else:
                    conn.sendall(b"+OK\r\n")
        except (OSError, ValueError):
            pass
        finally:
            conn.close()

    def publish(self, channel, payload):
        """Send an event to every subscribed link now."""
        for conn in list(self.subscribers):
            try:
                conn.sendall(_array(["pmessage", "*", channel, payload]))
            except OSError:
                pass

    def stop(self):
        self.halt = True
        self.sock.close()
        self.join(5)


def test_invalid_sentinel_addresses_are_skipped_and_logged(caplog):
    """Ports 0, -5, 96737 (and more) and a non-UTF-8 host, from events and from SENTINEL SENTINELS /
    MASTER replies: each skipped with a WARNING, never connected to; the valid ones kept."""
    caplog.set_level(logging.WARNING, logger="sentinelfast.failover")
    master = _pairs([("name", "svc"), ("ip", "127.0.0.1"), ("port", "96737"), ("flags", "master"),
                     ("config-epoch", "1"), ("down-after-milliseconds", "1000")])
    valid = socket.socket()
    valid.bind(("127.0.0.1", 0))               # a valid learned Sentinel (never answers)
    valid.listen(1)
    valid_port = valid.getsockname()[1]
    # more distinct bad reports than fit in 8 slots (a ring that small logged them again
    # every round, each evicting another)
    entries = [[("ip", "127.0.0.1"), ("port", p)]
               for p in ("0", "-5", "96737", "65536", "70000", "100000", "-1", "999999")]
    entries.append([("ip", b"\xff\xfe"), ("port", "26379")])
    entries.append([("ip", "127.0.0.1"), ("port", str(valid_port))])
    sentinels = b"*%d\r\n" % len(entries) + b"".join(_pairs(e) for e in entries)
    messages = [
        ("+switch-master", "svc 127.0.0.1 6379 127.0.0.1 0"),
        ("+switch-master", "svc 127.0.0.1 6379 127.0.0.1 -5"),
        ("+switch-master", "svc 127.0.0.1 6379 127.0.0.1 96737"),
        ("+sentinel", "sentinel x 127.0.0.1 96737 @ svc 127.0.0.1 6379"),
        (b"+switch-master", b"svc 127.0.0.1 6379 \xff\xfe 6380"),
    ]
    fake = FakeSentinel(master, sentinels, messages)
    fake.start()
    monitor = FailoverMonitor([fake.address], socket_timeout=0.5, recheck_interval=0.3)
    service = monitor.service("svc")
    events = []
    monitor.add_listener(events.append)
    client = type("Client", (), {})()
    monitor.client_started(client)               # a live client: the thread runs
    try:
        # 5 events + 1 SENTINEL MASTER + 9 SENTINELS entries, each logged once
        wait_until(lambda: len([e for e in events if e.kind == "sentinel-bad-address"]) >= 15,
                   what="bad-address events")
        rechecks = monitor.stats()["rechecks"]
        wait_until(lambda: monitor.stats()["rechecks"] >= rechecks + 3, what="more re-checks")
        stats = monitor.stats()
        # the same report again in later re-checks is counted, not logged again
        assert len([e for e in events if e.kind == "sentinel-bad-address"]) == 15
        addresses = {tuple(s["address"]) for s in stats["sentinels"]}
        assert addresses == {tuple(fake.address), ("127.0.0.1", valid_port)}
        assert stats["sentinel_bad_addresses"] >= 15 + 3
        assert service.state()["master"] is None        # no invalid master was taken
        assert service.state()["switches"] == 0
        bad = [r.getMessage() for r in caplog.records
               if r.name == "sentinelfast.failover" and r.levelno == logging.WARNING
               and "sentinel-bad-address" in r.getMessage()]
        for port in ("'0'", "'-5'", "'96737'"):
            assert any(port in m for m in bad), (port, bad)
        assert any("not UTF-8" in m for m in bad), bad
        assert not any(31201 == s["address"][1] for s in stats["sentinels"])
    finally:
        monitor.close()
        fake.stop()
        valid.close()


# --------------------------------------------------------------------------------------------
# Following a failover early: the promotion probe (promotion_probe.c)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def probe_lab(plain_server):
    """A fake Sentinel naming an old master (nobody listens there), a monitor following it,
    and a real server standing for the replica being promoted (a standalone server
    answers ROLE "master" at once). The fake sends events when the test says so; it never
    sends +promoted-slave unless told, as if Sentinel's INFO of the replica were late."""
    old_port = find_unused_port()
    master = _pairs([("name", "svc"), ("ip", "127.0.0.1"), ("port", str(old_port)),
                     ("flags", "master"), ("config-epoch", "1"),
                     ("down-after-milliseconds", "1000")])
    fake = FakeSentinel(master, b"*0\r\n")
    fake.start()
    monitor = FailoverMonitor([fake.address], socket_timeout=0.5, recheck_interval=30)
    service = monitor.service("svc")
    events = []
    monitor.add_listener(events.append)
    client = type("Client", (), {})()
    monitor.client_started(client)
    try:
        wait_until(lambda: service.state()["master"] == ("127.0.0.1", old_port),
                   what="the old master from the first re-check")
        wait_until(lambda: fake.subscribers, what="the event link")
        yield fake, service, events, ("127.0.0.1", old_port), plain_server
    finally:
        monitor.close()
        fake.stop()


def find_unused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _role_calls(server):
    stats = server.command("INFO", "commandstats").decode()
    for line in stats.splitlines():
        if line.startswith("cmdstat_role:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


def test_probe_follows_the_replica_the_moment_it_is_master_and_an_abort_undoes_it(probe_lab):
    fake, service, events, old, replica = probe_lab
    service.set_probe()
    new = replica.address
    fake.publish("+selected-slave", f"slave 127.0.0.1:{new[1]} 127.0.0.1 {new[1]} @ svc {old[0]} {old[1]}")
    fake.publish("+failover-state-send-slaveof-noone",
                 f"slave 127.0.0.1:{new[1]} 127.0.0.1 {new[1]} @ svc {old[0]} {old[1]}")
    # no +promoted-slave, no +switch-master: the probe's ROLE alone moves the service
    wait_until(lambda: tuple(service.state()["master"]) == tuple(new), timeout=10,
               what=f"the switch to the probed replica: {events}")
    state = service.state()
    assert state["failover_in_progress"] is False
    assert _role_calls(replica) >= 1
    switch = [e for e in events if e.kind == "switch-master"]
    assert len(switch) == 1 and "ROLE" in switch[0].detail, events
    assert [e.kind for e in events if e.kind == "failover-started"] == ["failover-started"]

    # another Sentinel that lost the election gives up: the leader goes on, so does the client
    fake.publish("-failover-abort-not-elected", f"master svc {old[0]} {old[1]}")
    time.sleep(0.3)
    assert tuple(service.state()["master"]) == tuple(new)
    assert len([e for e in events if e.kind == "switch-master"]) == 1, events
    # Sentinel never saw the promotion and gave up: back to the old master
    fake.publish("-failover-abort-slave-timeout", f"master svc {old[0]} {old[1]}")
    wait_until(lambda: tuple(service.state()["master"]) == old, timeout=10,
               what=f"the way back to the old master: {events}")
    wait_until(lambda: len([e for e in events if e.kind == "switch-master"]) == 2, timeout=10,
               what=f"the event of the way back: {events}")
    back = [e for e in events if e.kind == "switch-master"][-1]
    assert "back to the master the probe left" in back.detail
    assert service.state()["failover_in_progress"] is False


def test_without_the_probe_the_hold_lasts_until_sentinel_announces_the_promotion(probe_lab):
    fake, service, events, old, replica = probe_lab
    service.set_probe(enabled=False)
    new = replica.address
    fake.publish("+failover-state-send-slaveof-noone",
                 f"slave 127.0.0.1:{new[1]} 127.0.0.1 {new[1]} @ svc {old[0]} {old[1]}")
    wait_until(lambda: service.state()["failover_in_progress"], what="the hold")
    time.sleep(0.5)             # what a probe would have seen within a few milliseconds
    state = service.state()
    assert tuple(state["master"]) == old and state["failover_in_progress"] is True
    assert _role_calls(replica) == 0
    fake.publish("+promoted-slave", f"slave 127.0.0.1:{new[1]} 127.0.0.1 {new[1]} @ svc {old[0]} {old[1]}")
    wait_until(lambda: tuple(service.state()["master"]) == tuple(new), timeout=10,
               what="the switch at +promoted-slave")
    assert service.state()["failover_in_progress"] is False
    # confirmed by Sentinel: an abort of some later failover does not move it back
    fake.publish("-failover-abort-not-elected", f"master svc {new[0]} {new[1]}")
    time.sleep(0.3)
    assert tuple(service.state()["master"]) == tuple(new)


def test_planned_failover_of_a_healthy_master_holds_nothing_before_the_replica_is_chosen(
        probe_lab):
    fake, service, events, old, replica = probe_lab
    fake.publish("+try-failover", f"master svc {old[0]} {old[1]}")
    fake.publish("+elected-leader", f"master svc {old[0]} {old[1]}")
    fake.publish("+failover-state-select-slave", f"master svc {old[0]} {old[1]}")
    time.sleep(0.3)
    assert service.state()["failover_in_progress"] is False
    # the same steps with the master down (+odown) hold at once
    fake.publish("+odown", f"master svc {old[0]} {old[1]} #quorum 2/2")
    fake.publish("+try-failover", f"master svc {old[0]} {old[1]}")
    wait_until(lambda: service.state()["failover_in_progress"], what="the hold after +odown")


# --------------------------------------------------------------------------------------------
# Sentinels that do not answer never hold the monitor up
# --------------------------------------------------------------------------------------------


def test_silent_and_stopped_sentinels_never_stall_the_monitor(fresh_topology):
    """socket_timeout=2; one configured Sentinel accepts connections and never answers, one
    real Sentinel is SIGSTOPped: stats() and master_for answer at once, and the switch the
    other Sentinels announce reaches the client as soon as they announce it."""
    topo = fresh_topology
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)                           # the kernel accepts; nobody ever reads
    try:
        sentinel = sf.Sentinel(topo.sentinel_addresses + [silent.getsockname()], socket_timeout=2)
        events = []
        sentinel.add_event_listener(events.append)
        master = sentinel.master_for(topo.service_name, socket_timeout=2)
        master.ping()
        wait_until(lambda: sum(s["up"] for s in sentinel.stats()["monitor"]["sentinels"]) >= 3,
                   what="the real Sentinels' links")
        stopped = topo.sentinels[2]
        stopped.pause()
        monitor = sentinel._failover_monitor()
        worst = 0.0
        end = time.monotonic() + 4
        while time.monotonic() < end:              # re-checks while two Sentinels are mute
            for call in (monitor._native.recheck, sentinel.stats,
                         lambda: sentinel.master_for(topo.service_name, socket_timeout=2)):
                t0 = time.monotonic()
                call()
                worst = max(worst, time.monotonic() - t0)
            time.sleep(0.05)
        assert worst < 1.0, f"recheck()/stats()/master_for took {worst:.2f}s with mute Sentinels"
        # the Sentinel that never answered its PSUBSCRIBE is reported, not silently retried
        silent_port = silent.getsockname()[1]
        assert [e for e in events if e.kind == "sentinel-down" and str(silent_port) in e.detail]

        old = topo.master.address
        topo.failover()                            # announced by the two live Sentinels
        announced = time.time()
        switch = wait_until(lambda: [e for e in events if e.kind == "switch-master"], timeout=10,
                            what="switch-master")[0]
        assert switch.time - announced < 1.0, "the switch reached the client late"
        t0 = time.monotonic()
        state = sentinel.stats()["services"][topo.service_name]
        assert time.monotonic() - t0 < 1.0
        assert tuple(state["master"]) != tuple(old)
        master.set("after", "1")
        stopped.resume()
        sentinel.close()
        master.close()
    finally:
        silent.close()


# --------------------------------------------------------------------------------------------
# A hold ends with the switch; a re-check after the switch starts none
# --------------------------------------------------------------------------------------------


def test_no_second_hold_after_switch_master(fresh_topology):
    """SIGKILL the master; after +switch-master, re-checks (forced every 100 ms for 3 s,
    while the leader may still be reconfiguring replicas) start no new hold."""
    topo = fresh_topology
    sentinel = sf.Sentinel(topo.sentinel_addresses, socket_timeout=0.5)
    events = []
    sentinel.add_event_listener(events.append)
    master = sentinel.master_for(topo.service_name, socket_timeout=0.5)
    master.ping()
    monitor = sentinel._failover_monitor()
    wait_until(lambda: all(s["up"] for s in sentinel.stats()["monitor"]["sentinels"]),
               what="links up")
    old = topo.master.address
    topo.master.kill()
    switch = wait_until(lambda: [e for e in events if e.kind == "switch-master"], timeout=30,
                        what="switch-master")[0]
    state = sentinel.stats()["services"][topo.service_name]
    failovers_at_switch = state["failovers"]
    end = time.monotonic() + 3
    while time.monotonic() < end:
        monitor._native.recheck()
        time.sleep(0.1)
    master.set("k", "v")                            # writes go on

    def unexplained_holds():
        # A hold after the switch is only right if the Sentinels really failed over again
        # (the new master itself went down on a loaded machine): then another switch follows.
        late = [e for e in events if e.kind == "failover-started" and e.time > switch.time]
        switches = [e.time for e in events if e.kind == "switch-master"]
        return [e for e in late if not any(t > e.time for t in switches)]

    deadline = time.monotonic() + 30                 # a real second failover completes
    while unexplained_holds() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert unexplained_holds() == [], f"a hold started after the switch: {unexplained_holds()}"
    again = [e for e in events if e.kind == "switch-master" and e.time > switch.time]
    state = sentinel.stats()["services"][topo.service_name]
    if not again:
        assert state["failovers"] == failovers_at_switch
    assert state["failover_in_progress"] is False
    assert tuple(state["master"]) != tuple(old)
    sentinel.close()
    master.close()


def _flags(server, service):
    reply = server.command("SENTINEL", "MASTER", service)
    fields = dict(zip(reply[::2], reply[1::2]))
    return fields[b"flags"].decode().split(","), (fields[b"ip"].decode(), int(fields[b"port"]))


@pytest.fixture
def slow_reconf_topology():
    """A topology where a leader whose replica stalls stays in reconf_slaves longer than
    the 5 s hold timeout: failover-timeout 20 s, and down-after 10 s (a replica found down
    is no longer waited for)."""
    topo = Topology(failover_timeout_ms=20000, down_after_ms=10000)
    try:
        topo.start()
        yield topo
    finally:
        topo.stop()


def test_client_created_while_the_leader_reconfigures_replicas_holds_nothing(
        slow_reconf_topology):
    """After the promotion, the leader keeps failover_in_progress on the OLD address (with
    the new config-epoch) until every replica is reconfigured, up to failover-timeout, while
    the other Sentinels already name the new master. A client created then follows the new
    master at once instead of holding writes until the leader's own +switch-master (it
    held them up to the 5 s hold timeout before; a first round answered by the leader alone
    may still start a hold, which the next round ends). One replica is SIGSTOPped the moment the
    other is promoted, so the leader stays in that state for failover-timeout."""
    topo = slow_reconf_topology
    old = topo.master.address
    replicas = list(topo.replicas)
    topo.sentinels[0].command("SENTINEL", "FAILOVER", topo.service_name, timeout=2)
    deadline = time.monotonic() + 30
    promoted = None
    while promoted is None:
        assert time.monotonic() < deadline, "no replica was promoted"
        for r in replicas:
            try:
                if r.command("ROLE", timeout=2)[0] == b"master":
                    promoted = r
                    break
            except OSError:       # a replica being reconfigured may drop the connection
                pass
    other = next(r for r in replicas if r is not promoted)
    other.pause()
    sentinel = None
    try:
        new = promoted.address

        def leader_still_reconfiguring():
            return any("failover_in_progress" in flags and address == old
                       for flags, address in (_flags(s, topo.service_name)
                                              for s in topo.sentinels))

        # (GET-MASTER-ADDR-BY-NAME of the leader names the new master already; SENTINEL
        # MASTER of the others does once they heard the leader's hello, within 2 s)
        wait_until(lambda: any(_flags(s, topo.service_name)[1] == new for s in topo.sentinels),
                   timeout=30, what="a Sentinel switched to the new master")
        assert leader_still_reconfiguring(), "the leader finished before the client came"
        events = []
        sentinel = sf.Sentinel(topo.sentinel_addresses, socket_timeout=2.0)
        sentinel.add_event_listener(events.append)
        client = sentinel.master_for(topo.service_name, socket_timeout=2.0)
        client.ping()

        def following_new_master():
            state = sentinel.stats()["services"][topo.service_name]
            return (not state["failover_in_progress"]
                    and tuple(state["master"] or ()) == tuple(new))

        wait_until(following_new_master, timeout=3.0,
                   what=f"the client to follow {new} without a hold: {events}")
        assert client.set("midfailover", "1") is True
        assert promoted.command("GET", "midfailover") == b"1"
        # all of this happened while the leader still reported the failover in progress
        assert leader_still_reconfiguring(), "the check did not cover the leader's window"
    finally:
        other.resume()
        if sentinel is not None:
            sentinel.close()


# --------------------------------------------------------------------------------------------
# Races
# --------------------------------------------------------------------------------------------


def test_threads_asking_for_one_service_share_it(topology):
    """monitor_service looks up and inserts under one lock: concurrent master_for calls for
    one service all follow the same Service object."""
    for _ in range(5):
        sentinel = sf.Sentinel(topology.sentinel_addresses, socket_timeout=0.5)
        barrier = threading.Barrier(8)
        services = []

        def ask():
            barrier.wait()
            client = sentinel.master_for(topology.service_name, socket_timeout=0.5)
            services.append(client.connection_pool.service)

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(services) == 8
        assert all(s is services[0] for s in services)
        native = sentinel._failover_monitor()._native
        assert native.service(topology.service_name) is services[0]
        sentinel.close()


def test_pool_finalizer_reenters_the_monitor_lock(topology):
    """A master pool collected while its thread holds the monitor's lock (a GC pass inside a
    locked section) runs the finalizer on that thread: no deadlock."""
    sentinel = sf.Sentinel(topology.sentinel_addresses, socket_timeout=0.5)
    monitor = sentinel._failover_monitor()
    client = sentinel.master_for(topology.service_name, socket_timeout=0.5)
    done = threading.Event()

    def collect_under_lock():
        nonlocal client
        with monitor._lock:
            client = None
            gc.collect()
        done.set()

    t = threading.Thread(target=collect_under_lock, daemon=True)
    t.start()
    assert done.wait(10), "the finalizer deadlocked on the monitor's lock"
    sentinel.close()


# --------------------------------------------------------------------------------------------
# Credentials from sentinel_kwargs: a credential_provider, asked in Python
# --------------------------------------------------------------------------------------------


def test_sentinel_credential_provider_is_used_by_the_monitor():
    """Sentinels requiring a password, given through sentinel_kwargs' credential_provider:
    the monitor's links authenticate (all up, no auth failure) and the provider was asked."""
    from conftest import Topology

    class Provider:
        calls = 0

        def get_credentials(self):
            Provider.calls += 1
            return ("default", "provider-s3cret")

    topo = Topology(sentinel_password="provider-s3cret")
    try:
        topo.start()
        sentinel = sf.Sentinel(topo.sentinel_addresses,
                               sentinel_kwargs={"credential_provider": Provider(),
                                                "socket_timeout": 0.5},
                               socket_timeout=0.5)
        master = sentinel.master_for(topo.service_name, socket_timeout=0.5)
        assert master.set("cp:k", "v") is True
        wait_until(lambda: all(s["up"] for s in sentinel.stats()["monitor"]["sentinels"]),
                   what="authenticated Sentinel links")
        stats = sentinel.stats()["monitor"]
        assert stats["sentinel_auth_failures"] == 0
        assert len(stats["sentinels"]) == len(topo.sentinels)
        assert Provider.calls >= 1
        sentinel.close()
        master.close()
    finally:
        topo.stop()


def test_fork_never_waits_for_a_mute_sentinel(topology):
    """fork() takes the monitor's lock; with a Sentinel that never answers (socket_timeout=2)
    it is never held across a round trip, so fork() returns at once."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        sentinel = sf.Sentinel(topology.sentinel_addresses + [silent.getsockname()],
                               socket_timeout=2)
        master = sentinel.master_for(topology.service_name, socket_timeout=2)
        master.ping()
        wait_until(lambda: sum(s["up"] for s in sentinel.stats()["monitor"]["sentinels"]) >= 3,
                   what="the real Sentinels' links")
        worst = 0.0
        for _ in range(8):
            sentinel._failover_monitor()._native.recheck()
            time.sleep(0.1)
            t0 = time.monotonic()
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            worst = max(worst, time.monotonic() - t0)
            os.waitpid(pid, 0)
        assert worst < 1.0, f"fork() waited {worst:.2f}s for the monitor"
        assert master.ping()
        sentinel.close()
        master.close()
    finally:
        silent.close()
