"""What is already on its way when a failover starts is delivered, not thrown away.

When the monitor sees a failover begin, new commands wait (the hold) and the pools retire
their idle connections. A connection in use that is waiting for a reply keeps reading it:
a blocking pop or a Pub/Sub subscription on the old master still gets what the old master
sends until the switch (a write acknowledged there before the promotion reaches the
replica that is promoted, so the consumer must see it). Closing those sockets at the start
threw such replies away: kombu lost a queue message and a fanout message that way.

(The Pub/Sub test failed before the fix: the subscription was closed at the start. The
blocking pop could not show it deterministically: the element pushed on the old master is
replicated before the promotion, so a pop retried on the new master found it too; kombu's
loss needed the pop to be served in the instant its socket was shut down.)

A connection held outside the pool (redis-py's single-connection client, kombu's BRPOP
connection) that sends a new command after the start does not send it to the old master:
it raises ConnectionError, and the retry policy sends it, after the hold, to the new one.
"""
import threading
import time

import pytest
import redis

import sentinelfast as sf

WAIT = 60.0      # generous: the machine is shared


def _wait(predicate, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


class FailoverInBackground:
    """SENTINEL FAILOVER in a thread; `started` is set when the client's monitor reports
    failover-started (the moment the hold begins)."""

    def __init__(self, topo, sentinel):
        self.topo = topo
        self.started = threading.Event()
        self.new_master = None
        self.error = None
        sentinel.add_event_listener(self._on_event)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _on_event(self, event):
        if event.kind == "failover-started":
            self.started.set()

    def _run(self):
        try:
            self.new_master = self.topo.failover(timeout=WAIT)
        except Exception as e:      # reported by join()
            self.error = e

    def start(self):
        self.thread.start()
        assert self.started.wait(WAIT), "the monitor never reported failover-started"

    def join(self):
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the failover did not finish"
        assert self.error is None, self.error
        return self.new_master


def _sentinel(topo, **kwargs):
    return sf.Sentinel(topo.sentinel_addresses, sentinel_kwargs=topo.sentinel_kwargs(),
                       **topo.client_kwargs(), **kwargs)


def _blocked_in(server, command):
    return f"cmd={command}" in server.command("CLIENT", "LIST").decode()


def test_blocking_pop_waiting_when_failover_starts_gets_what_the_old_master_sends(fresh_topology):
    topo = fresh_topology
    sentinel = _sentinel(topo, socket_timeout=WAIT)
    try:
        client = sentinel.master_for(topo.service_name)
        assert client.ping() is True
        old_master = topo.master
        result = {}

        def pop():
            try:
                result["value"] = client.blpop("inflight:queue", timeout=0)
            except Exception as e:
                result["error"] = e

        popper = threading.Thread(target=pop, daemon=True)
        popper.start()
        _wait(lambda: _blocked_in(old_master, "blpop"), "BLPOP blocked on the master")

        failover = FailoverInBackground(topo, sentinel)
        failover.start()
        # A push already on its way to the old master when the hold began.
        assert old_master.command("LPUSH", "inflight:queue", "pushed-before-the-switch") == 1
        popper.join(WAIT)
        assert not popper.is_alive(), "the blocking pop never got the element"
        assert result == {"value": (b"inflight:queue", b"pushed-before-the-switch")}
        new = failover.join()
        assert new != old_master.address
        # and the client goes on, on the new master
        assert client.set("inflight:after", "1") is True
        assert topo.node_by_address(new).command("GET", "inflight:after") == b"1"
    finally:
        sentinel.close()


def test_subscriber_when_failover_starts_gets_messages_the_old_master_sends(fresh_topology):
    topo = fresh_topology
    sentinel = _sentinel(topo, socket_timeout=5.0)
    try:
        client = sentinel.master_for(topo.service_name)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe("inflight:channel")
        _wait(lambda: topo.master.command("PUBSUB", "NUMSUB", "inflight:channel")[1] == 1,
              "the subscription on the master")
        old_master = topo.master

        failover = FailoverInBackground(topo, sentinel)
        failover.start()
        # A publication that reached the old master after the hold began.
        assert old_master.command("PUBLISH", "inflight:channel", "published-before-the-switch") == 1
        received = []
        deadline = time.monotonic() + WAIT
        while not received and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=1.0)
            if message is not None:
                received.append(message["data"])
        assert received == [b"published-before-the-switch"]
        new = failover.join()
        # the subscription follows the master: a message published there arrives too
        deadline = time.monotonic() + WAIT
        got = None
        while got is None and time.monotonic() < deadline:
            if topo.node_by_address(new).command("PUBLISH", "inflight:channel", "after") >= 1:
                got = pubsub.get_message(timeout=2.0)
            else:
                pubsub.get_message(timeout=0.1)
        assert got is not None and got["data"] == b"after"
        pubsub.close()
    finally:
        sentinel.close()


@pytest.mark.parametrize("redis_class", [redis.Redis, sf.Redis], ids=["redis-py", "sentinelfast"])
def test_connection_held_outside_the_pool_sends_nothing_to_the_old_master(fresh_topology,
                                                                          redis_class):
    topo = fresh_topology
    sentinel = _sentinel(topo, socket_timeout=5.0)
    try:
        pool = sentinel.master_for(topo.service_name).connection_pool
        client = redis_class(connection_pool=pool, single_connection_client=True)
        assert client.set("inflight:held", "before") is True

        failover = FailoverInBackground(topo, sentinel)
        failover.start()
        # The held connection was made before the failover: this write must wait for the
        # new master instead of landing on the one being replaced.
        assert client.set("inflight:held", "during") is True
        new = failover.join()
        assert topo.node_by_address(new).command("GET", "inflight:held") == b"during"
        assert client.get("inflight:held") == b"during"
        client.close()
    finally:
        sentinel.close()
