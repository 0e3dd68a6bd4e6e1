"""Logging defaults: the library is quiet unless the application configures logging.

* The ``sentinelfast`` logger has a ``NullHandler``: an application that configured no
  logging gets nothing on stderr, even for WARNING records (Python's last-resort handler
  would print those).
* A failover is what Sentinel is for: its ordinary events (failover-started, switch-master,
  failover-ended, master-known, sentinel-up) are INFO on ``sentinelfast.failover``. WARNING is
  for what an operator must act on: a Sentinel down, refusing credentials, naming an unusable
  address; a failover hold that ran out with no new master.
"""

import logging
import subprocess
import sys
import textwrap
import time

import pytest
from sfimpl import IMPL, NO_CWD_FLAG

pytestmark = pytest.mark.skipif(IMPL != "sentinelfast", reason="sentinelfast's logging")

if IMPL == "sentinelfast":
    import sentinelfast
    from sentinelfast import failover

BOUND = 60      # seconds; a failover takes a few


def test_the_package_logger_has_a_null_handler():
    handlers = logging.getLogger("sentinelfast").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers), handlers


@pytest.mark.parametrize("kind, detail, level", [
    ("failover-started", "+try-failover; writes held", logging.INFO),
    ("switch-master", "127.0.0.1:1 -> 127.0.0.1:2 (+switch-master); 3 connection(s) dropped",
     logging.INFO),
    ("failover-ended", "+switch-master", logging.INFO),
    ("master-known", "127.0.0.1:1 (discovery)", logging.INFO),
    ("sentinel-up", "127.0.0.1:26379", logging.INFO),
    ("sentinel-learned", "127.0.0.1:26380", logging.INFO),
    ("convert-to-slave", "127.0.0.1:1", logging.INFO),
    ("failover-ended", "hold timed out without +switch-master", logging.WARNING),
    ("sentinel-down", "127.0.0.1:26379: connection refused", logging.WARNING),
    ("sentinel-auth-failed", "127.0.0.1:26379: WRONGPASS", logging.WARNING),
    ("sentinel-subscribe-failed", "127.0.0.1:26379: NOPERM", logging.WARNING),
    ("sentinel-bad-address", "port 0 out of range", logging.WARNING),
    ("sentinel-tls-failed", "no certificate", logging.WARNING),
])
def test_event_levels(kind, detail, level):
    assert failover._log_level(kind, detail) == level


# The application: master_for, one write, then writes until it has seen the switch, with
# no logging configuration at all. It prints the event kinds it saw on stdout.
_QUIET_APP = textwrap.dedent("""
    import sys, threading, time
    import sentinelfast

    addresses = [("127.0.0.1", int(p)) for p in sys.argv[2].split(",")]
    sentinel = sentinelfast.Sentinel(addresses, socket_timeout=1.0)
    seen, switched = [], threading.Event()
    def listener(event):
        seen.append(event.kind)
        if event.kind == "switch-master":
            switched.set()
    sentinel.add_event_listener(listener)
    master = sentinel.master_for(sys.argv[1])
    master.set("quiet", "0")
    print("ready", flush=True)
    deadline = time.monotonic() + float(sys.argv[3])
    n = 0
    while not switched.is_set() and time.monotonic() < deadline:
        n += 1
        master.set("quiet", n)
        time.sleep(0.01)
    master.set("quiet", "after")
    sentinel.close()
    print(" ".join(seen), flush=True)
""")


def test_nothing_reaches_stderr_during_a_failover_without_logging_config(fresh_topology):
    topology = fresh_topology
    ports = ",".join(str(port) for _, port in topology.sentinel_addresses)
    child = subprocess.Popen(
        [sys.executable, NO_CWD_FLAG, "-c", _QUIET_APP, topology.service_name, ports, str(BOUND)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
    try:
        assert child.stdout.readline().strip() == "ready"
        topology.failover()
        out, err = child.communicate(timeout=BOUND + 30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    kinds = out.split()
    assert "switch-master" in kinds, out        # the failover really happened and was seen
    assert err == ""


def switch_records(caplog):
    return [r for r in list(caplog.records)
            if r.name == "sentinelfast.failover" and r.getMessage().startswith("switch-master")]


def test_failover_events_are_info_not_warning(fresh_topology, caplog):
    """The same failover, with logging on: the events are logged, at INFO."""
    topology = fresh_topology
    caplog.set_level(logging.DEBUG, logger="sentinelfast")
    sentinel = sentinelfast.Sentinel(topology.sentinel_addresses, socket_timeout=1.0)
    try:
        master = sentinel.master_for(topology.service_name)
        master.set("levels", "0")
        new = topology.failover()
        master.set("levels", "1")
        assert master.connection_pool.get_master_address() == new
        deadline = time.monotonic() + BOUND     # the monitor's record may come just after
        while not switch_records(caplog) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sentinel.close()
    events = [r for r in caplog.records if r.name == "sentinelfast.failover"]
    switch = switch_records(caplog)
    assert switch, [(r.levelname, r.getMessage()) for r in events]
    assert all(r.levelno == logging.INFO for r in switch)
    warnings = [r.getMessage() for r in caplog.records
                if r.name.startswith("sentinelfast") and r.levelno >= logging.WARNING]
    assert warnings == []
