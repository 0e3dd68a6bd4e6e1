"""Fixtures: real Redis servers and Sentinel topologies on loopback.

* ``topology``: ONE shared topology (master, 2 replicas, 3 Sentinels) for read-only and
  non-destructive tests (tests write only under their own ``key`` prefix). If a test damaged it
  anyway (a node killed/paused, a failover), it is rebuilt before the next test uses it.
* ``fresh_topology``: a new topology for each test that kills, pauses or fails over nodes. Tests
  using it are marked ``destructive`` and ``slow`` automatically (``-m "not slow"`` skips them).
* ``plain_server``: a fresh standalone redis-server per test (DEBUG enabled) for tests that pause
  it, sleep it or change its configuration.
* ``auth_server``: a standalone server with ``requirepass`` and ACL users (session-wide).

Every process is killed and its directory removed when the fixture ends, whatever the test did;
``pytest_sessionfinish`` kills any redis-server child still left, and the servers die with
pytest even if pytest itself is SIGKILLed (PR_SET_PDEATHSIG, see sentinelfast.testing).

Implementation switch: ``SF_TEST_IMPL=redis`` runs the suite against redis-py (see sfimpl.py).
"""

import importlib.util
import logging
import os
import signal
import sys
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

_IMPL = os.environ.get("SF_TEST_IMPL", "sentinelfast").strip().lower()


def _import_testing():
    """Import sentinelfast.testing (from the installed package, else from the source tree).

    With SF_TEST_IMPL=redis the C core may not be built yet: then topology.py (stdlib only) is
    loaded straight from its file."""
    try:
        import sentinelfast.testing as testing

        return testing
    except ImportError:
        if ROOT not in sys.path:
            sys.path.insert(0, ROOT)
        for name in [m for m in sys.modules if m == "sentinelfast" or m.startswith("sentinelfast.")]:
            del sys.modules[name]
    try:
        import sentinelfast.testing as testing

        return testing
    except ImportError:
        if _IMPL not in ("redis", "redis-py", "redispy"):
            raise
    path = os.path.join(ROOT, "sentinelfast", "testing", "topology.py")
    spec = importlib.util.spec_from_file_location("_sf_testing_topology", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


testing = _import_testing()
Topology = testing.Topology
RedisServer = testing.RedisServer

log = logging.getLogger("tests")

DEFAULT_TEST_TIMEOUT = 120


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes seconds (own topology, failover, timeouts)")
    config.addinivalue_line(
        "markers", "destructive: kills/pauses servers or fails over; runs on its own fresh topology"
    )


def pytest_report_header(config):
    import sfimpl

    return f"client implementation under test: {sfimpl.IMPL} ({sfimpl.sf.__file__})"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "fresh_topology" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.destructive)
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("timeout") is None and config.pluginmanager.hasplugin("timeout"):
            item.add_marker(pytest.mark.timeout(DEFAULT_TEST_TIMEOUT))


def _redis_children():
    """redis-server processes whose parent is this process."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                data = f.read()
            comm = data[data.index(b"(") + 1 : data.rindex(b")")]
            ppid = int(data[data.rindex(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me and comm.startswith(b"redis-server"):
            found.append(int(entry))
    return found


def pytest_sessionfinish(session, exitstatus):
    testing_module = sys.modules.get(Topology.__module__)
    cleanup = getattr(testing_module, "_cleanup_at_exit", None)
    if cleanup is not None:
        cleanup()
    for pid in _redis_children():  # safety net: nothing may survive the session
        log.warning("killing leftover redis-server pid %d", pid)
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


# ---------------------------------------------------------------------------------------------
# Topologies
# ---------------------------------------------------------------------------------------------


class _SharedTopology:
    topo = None


def _healthy(topo) -> bool:
    """Nothing was killed, paused or failed over since the shared topology was started."""
    if any(not n.is_alive() or n.paused for n in topo.nodes):
        return False
    try:
        return topo.current_master_address() == topo.data_nodes[0].address
    except Exception:
        return False


@pytest.fixture(scope="session")
def _shared_topology():
    holder = _SharedTopology()
    try:
        yield holder
    finally:
        if holder.topo is not None:
            holder.topo.stop()


@pytest.fixture
def topology(_shared_topology):
    """The shared topology (read-only / non-destructive use): master, 2 replicas, 3 Sentinels."""
    topo = _shared_topology.topo
    if topo is not None and not _healthy(topo):
        log.warning("shared topology was damaged by a previous test; rebuilding it")
        topo.stop()
        topo = None
    if topo is None:
        _shared_topology.topo = None
        topo = Topology().start()
        _shared_topology.topo = topo
    return topo


@pytest.fixture
def fresh_topology(request):
    """A new topology for this test only (destructive tests); always stopped afterwards.
    When the test fails, the tails of the servers' and Sentinels' logs go into its report."""
    topo = Topology()
    try:
        topo.start()
        yield topo
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:   # shown under the failure as "topology logs"
            request.node.add_report_section("teardown", "topology logs", topo.logs())
    finally:
        topo.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (``rep_call``), for fixtures that add to it."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# ---------------------------------------------------------------------------------------------
# Standalone servers
# ---------------------------------------------------------------------------------------------

AUTH_PASSWORD = "s3cret-default"
ACL_USERS = {
    "alice": "alice-pw",  # every permission
    "reader": "reader-pw",  # GET/PING only
}


@pytest.fixture(scope="session")
def auth_server():
    """A standalone server: ``requirepass``, user ``alice`` (all), user ``reader`` (+get +ping)."""
    server = RedisServer(
        "auth",
        [
            f"requirepass {AUTH_PASSWORD}",
            f"user alice on >{ACL_USERS['alice']} ~* &* +@all",
            f"user reader on >{ACL_USERS['reader']} ~* &* -@all +get +ping +hello +client +select",
        ],
        name="auth",
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def plain_server():
    """A fresh standalone server for this test (DEBUG enabled); always stopped afterwards."""
    server = RedisServer("standalone", ["enable-debug-command yes"], name="standalone")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def key():
    """A unique key prefix, so tests sharing a server never see each other's keys."""
    return f"t:{uuid.uuid4().hex[:10]}:"
