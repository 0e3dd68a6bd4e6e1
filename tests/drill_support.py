"""Helpers shared by the drills over TLS and over password-protected topologies.

The writer thread and its wait come from test_failover_drills.py; reading the writes back goes
through a topology node's admin helper (``node.command``), which speaks TLS and AUTH when the
topology uses them.
"""

import time

from test_failover_drills import Writer, wait_for_acks


def wait_until(check, timeout=10.0, what="condition"):
    """Poll ``check()`` until it returns something true (returned), or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def missing_on(node, writer, since=0.0):
    """Acknowledged writes (acked at or after ``since``) that ``node`` (a RedisServer of the
    topology) lacks."""
    keys = [(f"{writer.prefix}{n}", str(n)) for n, t in writer.acked if t >= since]
    missing = []
    for i in range(0, len(keys), 1000):
        chunk = keys[i:i + 1000]
        values = node.command("MGET", *[k for k, _ in chunk], timeout=5)
        missing += [k for (k, v), got in zip(chunk, values) if got is None or got.decode() != v]
    return missing


def run_planned_failover_drill(topo, master, before=500, after=300):
    """A writer thread on ``master`` (a ``master_for`` client) through ``SENTINEL FAILOVER``:
    ``before`` writes acknowledged, the failover, then ``after`` more on the new master.
    Returns ``(writer, new master node)``; the writer is stopped."""
    writer = Writer(master)
    writer.start()
    try:
        wait_for_acks(writer, before, timeout=20)
        old = topo.master.address
        topo.failover()
        new = topo.wait_for_master_change(old, timeout=30)
        wait_for_acks(writer, len(writer.acked) + after, timeout=20)
    finally:
        writer.stop()
    return writer, topo.node_by_address(new)


__all__ = ["Writer", "wait_for_acks", "wait_until", "missing_on", "run_planned_failover_drill"]
