"""kombu's Redis Sentinel transport (``sentinel://``, as Celery uses it) on sentinelfast.

The application (tests/apps/kombu_sentinel_app.py) runs in its own process, started with
this virtualenv's python, so that ``sentinelfast.install()`` really runs before kombu is
imported, as it would first thing in an application's entry point. A producer publishes
numbered messages to a queue (a Redis list) and to a fanout exchange (Redis Pub/Sub) with
Celery's retry policy; a consumer drains both with ``drain_events`` and acks them. Meanwhile
the test runs a planned failover (``SENTINEL FAILOVER``). What the application would check:

- kombu built sentinelfast's Sentinel, pool and connections (not redis-py's);
- every message whose publication returned is consumed from the queue, none lost; no
  publication raised (kombu's retries, when any, are counted);
- no exception reached the consumer that kombu would not have recovered from;
- the fanout subscription followed the master: every fanout message is received but for
  those the consumer had not read when the failover began and those published while the
  subscription moved (Pub/Sub keeps nothing);
- the master moved to another node, and the consumer ended on it.

The counts and the pause (the longest wait of the producer for an acknowledgement, and
the longest time the consumer got no queue message) are reported.
"""
import json
import os
import queue
import subprocess
import sys
import threading
import time

import pytest
from sfimpl import IMPL, sf

from conftest import Topology

pytestmark = pytest.mark.skipif(IMPL != "sentinelfast", reason="sentinelfast.install() under kombu")

APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps", "kombu_sentinel_app.py")
INTERVAL = 0.005              # between two publications (a queue and a fanout message each)
FLOWING_TIMEOUT = 60.0        # generous on 2 shared cores
RESUME_TIMEOUT = 30.0         # for messages to go round again after the switch
AFTER_RESUME = 2.0            # then they keep flowing on the new master this long
RESULT_TIMEOUT = 120.0
# Fanout messages may be lost while the subscription moves: the new master must deliver
# them again within this bound after the switch (the hold timeout, 5 s, and a margin)
FANOUT_RESUME_BOUND = 8.0


class App:
    """The application process; its JSON lines arrive on a queue."""

    def __init__(self, settings):
        self.proc = subprocess.Popen(
            [sys.executable, APP, json.dumps(settings)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines.put),
                         daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr.append),
                         daemon=True).start()

    @staticmethod
    def _read(stream, put):
        for line in stream:
            put(line)

    def expect(self, event, timeout):
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0 and self.proc.poll() is None or not self.lines.empty(), (
                f"no {event!r} from the application (exit code {self.proc.poll()}):\n"
                + "".join(self.stderr[-60:]))
            try:
                line = self.lines.get(timeout=min(0.5, max(remaining, 0.01)))
            except queue.Empty:
                continue
            record = json.loads(line)
            if record.get("event") == event:
                return record

    def stop(self):
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)


def settings_for(topo, **extra):
    settings = {
        "sentinels": [list(a) for a in topo.sentinel_addresses],
        "master_name": topo.service_name,
        "sentinel_kwargs": dict(topo.sentinel_kwargs(), socket_timeout=0.5),
        "ssl": None,
        "interval": INTERVAL,
        "drain_timeout": 30.0,
    }
    settings.update(extra)
    return settings


def assert_sentinelfast_in_use(types):
    assert types["redis.sentinel.Sentinel"] == "sentinelfast.sentinel.Sentinel"
    assert types["sentinel"] == "sentinelfast.sentinel.Sentinel"
    assert types["pool"] == "sentinelfast.sentinel.SentinelConnectionPool"
    # kombu's own subclass (it unregisters the socket from its poller on disconnect) of
    # what redis.sentinel.SentinelManagedConnection was when kombu was imported: ours
    for mro in (types["connection"], types["subclient_connection"]):
        assert mro[0].startswith("kombu.transport.redis."), mro
        assert "sentinelfast.sentinel.SentinelManagedConnection" in mro, mro
        assert "redis.connection.AbstractConnection" not in mro, mro


def longest_gap(times):
    times = sorted(times)
    return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def story(kind, lost, result, events, failover_started, switched, stderr):
    """What a reader of a failure needs: when each lost message was acknowledged, the
    failover's events, what the consumer recovered from and what the application logged,
    all in seconds from the +switch-master the test saw."""
    published = dict(result["published"][kind])
    received = dict(result["received"][kind])
    lines = [f"failover command at {failover_started - switched:+.3f} s from the switch"]
    for n in lost[:5]:
        lines.append(f"{kind} message {n}: acknowledged at {published[n] - switched:+.3f} s; "
                     "neighbours received at "
                     + ", ".join(f"{m}: {received[m] - switched:+.3f}" if m in received
                                 else f"{m}: never" for m in range(n - 2, n + 3) if m != n))
    lines += [f"event {e.time - switched:+.3f} s {e.kind} {e.detail}" for e in events]
    lines += [f"consumer recovered at {t - switched:+.3f} s from {error}"
              for t, error in result["recovered"]]
    lines += [f"publication of {kind} {n} retried after {error}"
              for kind, n, error in result["retried"]]
    lines.append("the application's log (times are time.time(); switch at "
                 f"{switched:.3f}):")
    lines += [line.rstrip() for line in stderr[-80:]]
    return "\n".join(lines)


def drill(topo, app, record_property):
    # When Sentinel announces +switch-master, seen from the test's own client
    watcher = sf.Sentinel(topo.sentinel_addresses, sentinel_kwargs=topo.sentinel_kwargs(),
                          socket_timeout=1.0, **topo.client_kwargs())
    try:
        return _drill(topo, app, record_property, watcher)
    finally:
        watcher.close()


def _drill(topo, app, record_property, watcher):
    events = []
    watcher.add_event_listener(events.append)
    follower = watcher.master_for(topo.service_name)    # the monitor runs while it lives
    assert follower.ping() is True

    flowing = app.expect("flowing", FLOWING_TIMEOUT)
    assert_sentinelfast_in_use(flowing["types"])
    old = topo.master.address
    assert tuple(flowing["types"]["master_address"]) == old

    failover_started = time.time()
    new = topo.failover()           # returns when every Sentinel names the new master
    assert new != old, "the master did not move"
    switch_events = [e.time for e in events if e.kind == "switch-master"]
    assert switch_events, f"+switch-master was not seen: {events}"
    switched = switch_events[0]
    follower.close()
    # both kinds of message go round again (sent after the switch, received), then a while more
    deadline = time.monotonic() + RESUME_TIMEOUT
    while True:
        progress = app.expect("progress", max(deadline - time.monotonic(), 0.01))
        if min(progress["last_sent"].values()) > switched:
            break
        assert time.monotonic() < deadline, f"messages did not go round again: {progress}"
    time.sleep(AFTER_RESUME)
    app.stop()
    result = app.expect("result", RESULT_TIMEOUT)
    app.close()

    published = {kind: dict(pairs) for kind, pairs in result["published"].items()}
    received = {kind: dict(pairs) for kind, pairs in result["received"].items()}

    assert result["fatal"] is None, f"an exception reached the consumer: {result['fatal']}"
    assert not result["producer_alive"], "the producer is stuck"
    assert result["failed"] == [], f"publications raised: {result['failed'][:5]}"

    # the queue: every published message consumed, but those kombu itself dropped (the
    # app counts them where kombu drops them: a BRPOP reply in flight when the consumer
    # connects again, read by the channel's close and put back with no channel left, see
    # the app's DROPPED_BY_KOMBU); none lost by the client
    dropped_by_kombu = {n for n, _ in result["dropped_by_kombu"]}
    assert all(t > failover_started for _, t in result["dropped_by_kombu"]), (
        f"kombu dropped messages before the failover: {result['dropped_by_kombu']}")
    lost = sorted(set(published["queue"]) - set(received["queue"]) - dropped_by_kombu)
    assert lost == [], (
        f"{len(lost)} published queue messages never consumed: {lost[:10]}\n"
        + story("queue", lost, result, events, failover_started, switched, app.stderr))
    assert any(t > switched for t in published["queue"].values()), \
        "nothing published after the switch"
    consumed = [n for n, _ in result["received"]["queue"]]
    duplicates = len(consumed) - len(set(consumed))

    # the fanout (Pub/Sub keeps nothing): every message received but those the consumer
    # had not read yet when the failover began (a consumer that runs behind, as under the
    # sanitizers, still has them in its socket when kombu closes the channel to connect
    # again) and those sent while the subscription moved; every one sent after it is on
    # the new master again is received
    back = min(published["fanout"][n] for n in received["fanout"]
               if published["fanout"].get(n, 0) > switched)
    read_before = max((n for n, t in received["fanout"].items() if t < failover_started),
                      default=-1)
    # and none published before the subscription took effect (the app publishes after
    # kombu's first drain subscribed; the server may take the PUBLISH first still)
    first = min(received["fanout"])
    fanout_lost = sorted(set(published["fanout"]) - set(received["fanout"]))
    for n in fanout_lost:
        t = published["fanout"][n]
        assert n < first or n > read_before and t < back, (
            f"fanout message {n} sent {t - switched:+.2f} s from the switch was lost "
            f"(the consumer had read up to {read_before} when the failover began)\n"
            + story("fanout", fanout_lost, result, events, failover_started, switched,
                    app.stderr))
    assert back - switched < FANOUT_RESUME_BOUND, (
        f"fanout messages went round again only {back - switched:.2f} s after the switch")

    # the consumer ended on the new master
    assert result["types"] is not None
    assert_sentinelfast_in_use(result["types"])
    assert tuple(result["types"]["master_address"]) == tuple(new)
    if result["types"]["connection_address"] is not None:
        assert tuple(result["types"]["connection_address"]) == tuple(new)

    report = {
        "queue_published": len(published["queue"]), "queue_consumed": len(consumed),
        "queue_duplicates": duplicates, "fanout_published": len(published["fanout"]),
        "fanout_received": len(received["fanout"]), "fanout_lost": len(fanout_lost),
        "fanout_back_after_switch_s": round(back - switched, 3),
        "queue_dropped_by_kombu": len(dropped_by_kombu),
        "publish_retries": len(result["retried"]),
        "consumer_reconnects": len(result["recovered"]),
        "publish_pause_s": round(longest_gap(published["queue"].values()), 3),
        "consume_pause_s": round(longest_gap(received["queue"].values()), 3),
        "switch_after_failover_command_s": round(switched - failover_started, 3),
    }
    for name, value in report.items():
        record_property(f"kombu_{name}", value)
    print("\nkombu through SENTINEL FAILOVER: " + ", ".join(f"{k}={v}" for k, v in report.items())
          + (f"\n  consumer reconnected after: {[e for _, e in result['recovered'][:3]]}"
             if result["recovered"] else "")
          + (f"\n  publications retried after: {[e for _, _, e in result['retried'][:3]]}"
             if result["retried"] else ""))
    return result


def test_kombu_sentinel_transport_through_planned_failover(fresh_topology, record_property):
    app = App(settings_for(fresh_topology))
    try:
        drill(fresh_topology, app, record_property)
    finally:
        app.close()


def test_kombu_worker_behind_through_planned_failover(fresh_topology, record_property):
    """A worker slower than the producer (6 ms of work a message, one every 5 ms): the
    queue is never empty and a BRPOP reply is nearly always on its way when the failover
    moves the connections. Still none lost, and the backlog is consumed on the new master."""
    app = App(settings_for(fresh_topology, consume_delay=0.006))
    try:
        drill(fresh_topology, app, record_property)
    finally:
        app.close()


@pytest.fixture
def fresh_tls_topology():
    topo = Topology(tls=True)
    try:
        topo.start()
        yield topo
    finally:
        topo.stop()


def test_kombu_sentinel_transport_over_tls_through_planned_failover(fresh_tls_topology,
                                                                    record_property):
    """kombu's TLS Sentinel connection class mixes redis-py's SSLConnection into what
    redis.sentinel.SentinelManagedConnection was at import: sentinelfast's TLS is used."""
    topo = fresh_tls_topology
    tls = topo.client_tls_kwargs()
    ssl = {k: v for k, v in tls.items() if k != "ssl"}
    ssl["ssl_cert_reqs"] = "required"
    app = App(settings_for(topo, ssl=ssl))
    try:
        result = drill(topo, app, record_property)
    finally:
        app.close()
    assert result["types"]["tls"] is True
    assert "sentinelfast.connection.SSLConnection" in result["types"]["connection"]
