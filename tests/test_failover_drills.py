"""Failover drills: a writer thread runs through a real fault on a real topology.

What the application would check: with the default policy of master_for clients, no
exception reaches it (kill, hang, planned failover); every write acknowledged after
Sentinel's switch is on the new master (read back from it directly); in a planned
failover no acknowledged write is lost at all; writes resume soon after the switch.
Writes must resume within 100 ms of the switch (measured: 0-4 ms).
"""
import threading
import time

import pytest
from conftest import testing
from sfimpl import IMPL, sf

pytestmark = pytest.mark.skipif(IMPL != "sentinelfast",
                                reason="drills check sentinelfast's failover handling")

SOCKET_TIMEOUT = 0.5
RESUME_BOUND = 0.1      # the bound; measured 0-4 ms (benchmarks/failover_drill.py)


class Writer(threading.Thread):
    """Writes SET drill:<n> <n> in a loop; records acknowledged writes and errors."""

    def __init__(self, client, prefix="drill:"):
        super().__init__(daemon=True)
        self.client = client
        self.prefix = prefix
        self.acked = []          # (n, wall-clock time of the acknowledgement)
        self.errors = []         # (time, repr)
        self.halt = threading.Event()

    def run(self):
        n = 0
        while not self.halt.is_set():
            try:
                self.client.set(f"{self.prefix}{n}", n)
                self.acked.append((n, time.time()))
            except Exception as e:  # what reaches the application
                self.errors.append((time.time(), repr(e)))
                time.sleep(0.05)
            n += 1

    def stop(self):
        self.halt.set()
        self.join(30)
        assert not self.is_alive(), "the writer is stuck"


def missing_on(address, writer, since=0.0):
    """Acknowledged writes (acked at or after `since`) that the node at `address` lacks."""
    keys = [(f"{writer.prefix}{n}", str(n)) for n, t in writer.acked if t >= since]
    missing = []
    for i in range(0, len(keys), 1000):
        chunk = keys[i:i + 1000]
        values = testing.resp_command(address, "MGET", *[k for k, _ in chunk], timeout=5)
        missing += [k for (k, v), got in zip(chunk, values)
                    if got is None or got.decode() != v]
    return missing


def switch_times(events):
    return [e.time for e in events if e.kind == "switch-master"]


@pytest.fixture
def drill(fresh_topology):
    """A Sentinel, a master client with the default policy, its events, a writer."""
    topo = fresh_topology
    sentinel = sf.Sentinel(topo.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT)
    events = []
    sentinel.add_event_listener(events.append)
    master = sentinel.master_for(topo.service_name, socket_timeout=SOCKET_TIMEOUT)
    master.ping()
    writer = Writer(master)
    yield topo, sentinel, master, events, writer
    writer.halt.set()
    sentinel.close()
    master.close()


def wait_for_acks(writer, count, timeout=10):
    deadline = time.monotonic() + timeout
    while len(writer.acked) < count:
        assert time.monotonic() < deadline, f"only {len(writer.acked)} writes acknowledged"
        time.sleep(0.01)


def assert_rode_out(topo, writer, events, old):
    new = topo.wait_for_master_change(old, timeout=30)
    # keep writing for a while on the new master
    count = len(writer.acked)
    wait_for_acks(writer, count + 200)
    writer.stop()
    assert writer.errors == [], f"errors reached the application: {writer.errors[:3]}"
    switches = switch_times(events)
    assert switches, "the client never saw +switch-master"
    switched = switches[0]
    after = [t for _, t in writer.acked if t >= switched]
    assert after, "no write acknowledged after the switch"
    assert after[0] - switched < RESUME_BOUND, f"writes resumed {after[0] - switched:.3f}s after the switch"
    assert missing_on(new, writer, since=switched) == []
    return new, switched


def test_planned_failover_loses_nothing(drill):
    topo, sentinel, master, events, writer = drill
    old = topo.master.address
    writer.start()
    wait_for_acks(writer, 500)
    topo.failover()
    new, _ = assert_rode_out(topo, writer, events, old)
    # planned failover: not a single acknowledged write may be lost, before or after
    assert missing_on(new, writer) == []
    stats = sentinel.stats()["services"][topo.service_name]
    assert stats["master"] == new and stats["switches"] == 1
    # the pool says where its connections go now (kombu and redis-py's helpers read it)
    pool = master.connection_pool
    assert pool.master_address == new
    connection = pool.get_connection()
    try:
        assert (connection.host, connection.port) == new
        assert pool.owns_connection(connection)
    finally:
        pool.release(connection)


def test_master_killed(drill):
    topo, sentinel, master, events, writer = drill
    old = topo.master.address
    writer.start()
    wait_for_acks(writer, 500)
    topo.master.kill()
    assert_rode_out(topo, writer, events, old)


def test_master_hung(drill):
    topo, sentinel, master, events, writer = drill
    old_node = topo.master
    writer.start()
    wait_for_acks(writer, 500)
    old_node.pause()
    try:
        assert_rode_out(topo, writer, events, old_node.address)
    finally:
        old_node.resume()


def test_old_master_back_as_replica_is_never_written(drill):
    topo, sentinel, master, events, writer = drill
    old_node = topo.master
    old = old_node.address
    writer.start()
    wait_for_acks(writer, 200)
    old_node.kill()
    new = topo.wait_for_master_change(old, timeout=30)
    old_node.restart()               # comes back believing it is a master, then is reconfigured
    deadline = time.monotonic() + 20

    def role():
        try:
            return old_node.info("replication").get("role")
        except OSError:     # Sentinel's CLIENT KILL when it converts the node, or still starting
            return None

    while role() != "slave":
        assert time.monotonic() < deadline, "the old master was not turned into a replica"
        time.sleep(0.1)
    count = len(writer.acked)
    wait_for_acks(writer, count + 200)
    writer.stop()
    assert writer.errors == []
    assert missing_on(new, writer, since=switch_times(events)[0]) == []
    # the client still writes to the new master only
    assert master.set("drill:after", "x") is True
    assert testing.resp_command(new, "GET", "drill:after") == b"x"


def test_sentinels_killed_one_then_two(drill):
    topo, sentinel, master, events, writer = drill
    writer.start()
    wait_for_acks(writer, 200)
    topo.sentinels[0].kill()
    wait_for_acks(writer, len(writer.acked) + 200)
    topo.sentinels[1].kill()
    wait_for_acks(writer, len(writer.acked) + 200)
    # a new client still finds the master through the last Sentinel
    fresh = sf.Sentinel(topo.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT)
    assert fresh.discover_master(topo.service_name) == topo.master.address
    fresh.close()
    writer.stop()
    assert writer.errors == []
    assert missing_on(topo.master.address, writer) == []


def test_all_sentinels_down_then_back(drill):
    topo, sentinel, master, events, writer = drill
    writer.start()
    wait_for_acks(writer, 200)
    for node in topo.sentinels:
        node.kill()
    # the master is fine: writes go on without Sentinel
    wait_for_acks(writer, len(writer.acked) + 500)
    # discovery fails fast and clearly
    lonely = sf.Sentinel(topo.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT)
    t0 = time.monotonic()
    with pytest.raises(sf.MasterNotFoundError):
        lonely.discover_master(topo.service_name)
    assert time.monotonic() - t0 < 3 * SOCKET_TIMEOUT * len(topo.sentinels)
    for node in topo.sentinels:
        node.restart()
    # the monitor reconnects by itself
    deadline = time.monotonic() + 20
    while not all(s["up"] for s in sentinel.stats()["monitor"]["sentinels"]):
        assert time.monotonic() < deadline, sentinel.stats()["monitor"]
        time.sleep(0.1)
    assert lonely.discover_master(topo.service_name) == topo.master.address
    lonely.close()
    writer.stop()
    assert writer.errors == []


def test_replica_killed_under_slave_for(fresh_topology):
    topo = fresh_topology
    sentinel = sf.Sentinel(topo.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT)
    master = sentinel.master_for(topo.service_name, socket_timeout=SOCKET_TIMEOUT)
    master.set("drill:r", "v")
    replica = sentinel.slave_for(topo.service_name, socket_timeout=SOCKET_TIMEOUT)
    errors, reads = [], []
    halt = threading.Event()

    def reader():
        while not halt.is_set():
            try:
                reads.append(replica.get("drill:r"))
            except Exception as e:
                errors.append(repr(e))
                time.sleep(0.05)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.3)
    for node in topo.replicas:
        if node.is_alive():
            node.kill()
            break
    time.sleep(2.5)
    halt.set()
    t.join(10)
    assert errors == []
    assert reads and all(r in (b"v", None) for r in reads)
    assert reads[-1] == b"v"
    sentinel.close()


def test_no_monitor_thread_without_clients(fresh_topology):
    topo = fresh_topology
    sentinel = sf.Sentinel(topo.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT)
    sentinel.discover_master(topo.service_name)
    assert not [t for t in threading.enumerate() if t.name == "sentinelfast-monitor"]
    master = sentinel.master_for(topo.service_name)
    master.ping()
    assert [t for t in threading.enumerate() if t.name == "sentinelfast-monitor"]
    sentinel.close()
    master.close()
    time.sleep(0.5)
    assert not [t for t in threading.enumerate() if t.name == "sentinelfast-monitor" and t.is_alive()]


def test_monitor_learns_the_other_sentinels(fresh_topology):
    """Configured with one Sentinel, the monitor finds the others (and keeps the configured one)."""
    topo = fresh_topology
    sentinel = sf.Sentinel(topo.sentinel_addresses[:1], socket_timeout=SOCKET_TIMEOUT)
    master = sentinel.master_for(topo.service_name, socket_timeout=SOCKET_TIMEOUT)
    master.ping()
    deadline = time.monotonic() + 15
    while True:
        links = sentinel.stats()["monitor"]["sentinels"]
        if len([s for s in links if s["up"]]) == len(topo.sentinels):
            break
        assert time.monotonic() < deadline, links
        time.sleep(0.1)
    by_address = {s["address"]: s for s in links}
    assert set(by_address) == set(topo.sentinel_addresses)
    assert by_address[topo.sentinel_addresses[0]]["configured"] is True
    assert [a for a, s in by_address.items() if s["configured"]] == [topo.sentinel_addresses[0]]
    sentinel.close()
    master.close()


def test_forked_child_follows_a_failover(fresh_topology):
    """A child process forked with a live master client gets its own monitor and rides out
    a planned failover with no error and no lost write."""
    import os

    topo = fresh_topology
    sentinel = sf.Sentinel(topo.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT)
    master = sentinel.master_for(topo.service_name, socket_timeout=SOCKET_TIMEOUT)
    master.set("drill:parent", "1")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: write through the failover, report through the pipe
        status = 1
        try:
            os.close(read_end)
            writer = Writer(master, prefix="drill:child:")
            writer.start()
            os.write(write_end, b"started\n")
            time.sleep(6)
            writer.stop()
            result = f"{len(writer.acked)} {len(writer.errors)} {writer.acked[-1][0]}\n"
            os.write(write_end, result.encode())
            status = 0
        except BaseException:
            import traceback
            os.write(write_end, ("child failed: " + traceback.format_exc().replace("\n", " | ")
                                 + "\n").encode())
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        first = pipe.readline().strip()
        assert first == "started", first
        old = topo.master.address
        time.sleep(0.5)
        topo.failover()
        new = topo.wait_for_master_change(old, timeout=30)
        report = pipe.readline()
        line = report.split()
    _, status = os.waitpid(pid, 0)
    assert not report.startswith("child failed"), report
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    acked, errors, last = map(int, line)
    assert errors == 0 and acked > 100
    # every acknowledged write of the child is on the new master
    keys = [f"drill:child:{n}" for n in range(last + 1)]
    values = []
    for i in range(0, len(keys), 1000):
        values += testing.resp_command(new, "MGET", *keys[i:i + 1000], timeout=5)
    assert sum(v is not None for v in values) >= acked
    # the parent's client still works
    assert master.get("drill:parent") == b"1"
    sentinel.close()
    master.close()

