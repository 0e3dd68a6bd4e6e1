"""Network partitions: a writer thread through real partitions in network namespaces.

Every drill runs ``benchmarks/partition_drill.py``'s ``run_partition`` for sentinelfast on a fresh
lab (``sentinelfast.testing.netns``: 1 master, 2 replicas, 3 Sentinels, each in its own namespace;
the client is this process; cuts drop packets silently, both directions) and checks what a user
would check: the exceptions the application saw, the acknowledged writes missing on the master
the Sentinels name at the end (read back from inside its namespace), and that the client ends
up writing there.

What Redis itself allows, whatever the client does: a master cut from its replicas keeps
acknowledging writes that never reach them (replication is asynchronous), until it refuses them
(``min-replicas-to-write``) or the Sentinels' failover makes them obsolete. So in the split-brain
drills the test asserts where the lost writes come from and when they stop, not that none are
lost.

The client policy of issue 10 (hold writes when the client cannot reach a majority of the
Sentinels, ``Sentinel(require_sentinel_majority=True)``) is off by default: every drill runs
with it off (``POLICIES``), and the one where it matters, the client cut off with the master,
also with it on (``MAJORITY``).
"""

import importlib.util
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field

import pytest
from conftest import ROOT
from sfimpl import IMPL

pytestmark = pytest.mark.skipif(IMPL != "sentinelfast", reason="the drills check sentinelfast's behaviour")

HOLD = 1.0          # seconds a partition lasts (after the switch / conversion for the failover drills)
BEFORE = 1.0
AFTER = 0.5
FOLLOW_TIMEOUT = 30.0
# The writer waits 2 ms before each write (at most 500 writes/s): every acknowledged key is read
# back at the end, and an unpaced writer makes that long under ASan and takes CPU from the servers.
PACE = 0.002
# The client must write to the new master this soon after a heal (measured: 0.3-1.2 s). Sentinel
# turns the old master into a replica 10 s after it reappears: a client that only moves on
# READONLY (redis-py) takes that long.
FOLLOW_AFTER_HEAL = 5.0


@dataclass(frozen=True)
class Policy:
    """A client policy under test: the keywords that switch it on and what it promises."""

    name: str
    sentinel_kwargs: dict = field(default_factory=dict)
    master_kwargs: dict = field(default_factory=dict)
    #: True when the policy holds writes once the client cannot reach a Sentinel majority for
    #: longer than down-after-milliseconds: then, on the old master's side of a partition, no
    #: write acknowledged after that moment is lost.
    holds_without_majority: bool = False


POLICIES = [Policy("off")]
#: Sentinel(require_sentinel_majority=True): master commands wait, then fail, once the client
#: has reached no Sentinel majority for longer than down-after-milliseconds. Drilled where it
#: matters, with the client cut off together with the master (the CI time budget is tight).
MAJORITY = Policy("sentinel-majority", sentinel_kwargs={"require_sentinel_majority": True},
                  holds_without_majority=True)
# How long the policy takes to act after the cut: the monitor sees a Sentinel link down after
# its PING interval (1 s) and the socket timeout (0.5 s), then waits down-after-milliseconds.
POLICY_REACTION = 1.0 + 0.5


def _load_drill():
    path = os.path.join(os.environ.get("SENTINELFAST_REPO_ROOT", ROOT), "benchmarks", "partition_drill.py")
    spec = importlib.util.spec_from_file_location("partition_drill", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def drill():
    """benchmarks/partition_drill.py as a module (it brings sentinelfast.testing.netns)."""
    from sentinelfast.testing.netns import netns_available

    ok, why = netns_available()
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs as root and must run the partition drills: {why}")
        pytest.skip(f"network namespaces unavailable: {why}")
    return _load_drill()


def run(drill, scenario, policy):
    return drill.run_partition("sentinelfast", scenario, before=BEFORE, hold=HOLD, after=AFTER,
                               follow_timeout=FOLLOW_TIMEOUT, sentinel_kwargs=policy.sentinel_kwargs,
                               master_kwargs=policy.master_kwargs, policy=policy.name, pace=PACE)


def since_cut(r, t):
    return None if t is None else round(t - r["t_fault"], 3)


def lost_ack_times(r):
    return [r["ack_times"][n] for n in r["missing"]]


def check_common(r):
    """Whatever the partition: only redis-py's exception classes reach the application, every
    write got the reply SET gives, and the client ends on the master the Sentinels name."""
    assert r["writer_stopped"]
    foreign = [name for name in r["errors"]
               if not name.startswith(("sentinelfast.exceptions.", "redis.exceptions."))]
    assert not foreign, f"non-redis exceptions reached the application: {r['error_examples']}"
    assert r["unexpected_replies"] == 0
    assert r["followed"], f"the client ends on {r['discovered_at_end']}, the Sentinels name {r['final_master']}"


def describe(r):
    lost = lost_ack_times(r)
    return (f"{len(r['missing'])} lost (acked {since_cut(r, min(lost)) if lost else '-'}.."
            f"{since_cut(r, max(lost)) if lost else '-'} s after the cut), errors {dict(r['errors'])}, "
            f"marks { {k: since_cut(r, t) for k, t in r['marks'].items()} }, "
            f"+try-failover {since_cut(r, r['events'].get('+try-failover'))}, "
            f"+switch-master {since_cut(r, r['events'].get('+switch-master'))}")


def check_split_losses(r):
    """A lost write was acknowledged by the old master after the cut (a few in flight to the
    replicas at the cut may be lost with them): nothing older is lost."""
    replication_in_flight = 0.2
    early = [t for t in lost_ack_times(r) if t < r["t_fault"] - replication_in_flight]
    assert not early, f"writes acknowledged well before the cut were lost: {describe(r)}"


# ---------------------------------------------------------------------------------------------
# The lab itself
# ---------------------------------------------------------------------------------------------


# A connection or datagram that must get through gets 2 s (a loaded machine); one that must not,
# 0.5 s (a cut drops it for good: waiting longer proves nothing more).
CUT_WAIT = 0.5


def _reachable(lab, src, dst, port, timeout=2.0):
    try:
        with lab.socket(src) as s:
            s.settimeout(timeout)
            s.connect((lab.address(dst), port))
        return True
    except OSError:
        return False


def _datagram_arrives(lab, src, dst, timeout=2.0):
    """Whether a UDP datagram from ``src`` reaches ``dst``."""
    with lab.socket(dst, type=socket.SOCK_DGRAM) as receiver, lab.socket(src, type=socket.SOCK_DGRAM) as sender:
        receiver.bind((lab.address(dst), 0))
        receiver.settimeout(timeout)
        sender.sendto(b"ping", receiver.getsockname())
        try:
            return receiver.recv(16) == b"ping"
        except socket.timeout:
            return False


def test_lab_cuts_and_heals_links_and_leaves_nothing_behind(drill):
    """Symmetric and one-way cuts between two parties and between a party and this process;
    heal restores them; stop removes every namespace and the client's interface."""
    CLIENT = drill.CLIENT
    lab = drill.NetnsLab(parties=("a", "b"))
    with lab:
        listeners = []
        for party in ("a", "b"):
            s = lab.socket(party)
            s.bind((lab.address(party), 7000))
            s.listen(16)
            listeners.append(s)
        server = lab.socket(CLIENT)
        server.bind((lab.address(CLIENT), 0))
        server.listen(16)
        client_port = server.getsockname()[1]
        listeners.append(server)
        try:
            assert _reachable(lab, "a", "b", 7000) and _reachable(lab, CLIENT, "a", 7000)
            lab.cut("a", "b")
            assert not _reachable(lab, "a", "b", 7000, timeout=CUT_WAIT)
            assert not _reachable(lab, "b", "a", 7000, timeout=CUT_WAIT)
            assert _reachable(lab, CLIENT, "a", 7000) and _reachable(lab, CLIENT, "b", 7000)
            lab.heal("a", "b")
            assert _reachable(lab, "a", "b", 7000)
            # one way: what a sends to b is lost, what b sends to a arrives (datagrams show it;
            # a TCP connection needs both ways)
            lab.cut("a", "b", direction="a->b")
            assert lab.cuts == [("a", "b")]
            assert _datagram_arrives(lab, "b", "a") and not _datagram_arrives(lab, "a", "b", timeout=CUT_WAIT)
            lab.heal_all()
            lab.cut(CLIENT, "a", direction="a->b")
            assert not _reachable(lab, CLIENT, "a", 7000, timeout=CUT_WAIT)
            assert _datagram_arrives(lab, "a", CLIENT)
            assert not _datagram_arrives(lab, CLIENT, "a", timeout=CUT_WAIT)
            assert _reachable(lab, CLIENT, "b", 7000)
            lab.heal_all()
            assert lab.cuts == []
            assert _reachable(lab, CLIENT, "a", 7000) and _reachable(lab, "a", CLIENT, client_port)
            # observation is never cut: a's own server, from inside a's namespace
            lab.cut(CLIENT, "a")
            with lab.connect("a", (lab.address("a"), 7000), timeout=1):
                pass
        finally:
            for s in listeners:
                s.close()
        names = [lab.namespace(p) for p in lab.parties] + [lab.hub]
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [n for n in names if n in listed.split()], listed
    assert subprocess.run(["ip", "link", "show", lab.client_link], capture_output=True).returncode != 0


# ---------------------------------------------------------------------------------------------
# Drills
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_split_brain_client_reaches_both_sides(drill, policy):
    """(a) The master is cut from the Sentinels and the replicas; the client still reaches all.
    The writes the old master acknowledges between the cut and the failover's start are lost
    (Redis physics); the client stops writing there once the Sentinels start the failover, and
    never after +switch-master. No exception reaches the application."""
    r = run(drill, "split-brain", policy)
    check_common(r)
    check_split_losses(r)
    assert r["error_count"] == 0, describe(r)
    t_switch = r["events"]["+switch-master"]
    assert all(t < t_switch for t in lost_ack_times(r)), describe(r)
    assert r["first_on_new"] is not None and r["first_on_new"] - t_switch < FOLLOW_AFTER_HEAL, describe(r)


@pytest.mark.parametrize("policy", POLICIES + [MAJORITY], ids=lambda p: p.name)
def test_split_brain_client_on_the_master_side(drill, policy):
    """(a) The master and the client are cut together from the Sentinels and the replicas: the
    client hears nothing of the failover. Without a policy it writes to the old master for the
    whole partition and loses those writes; after the heal it follows the new master long before
    Sentinel turns the old one into a replica, and never writes to the old one again."""
    r = run(drill, "master-side", policy)
    check_common(r)
    check_split_losses(r)
    t_heal = r["marks"]["healed"]
    assert r["first_on_new"] is not None and r["first_on_new"] - t_heal < FOLLOW_AFTER_HEAL, describe(r)
    assert all(t < r["first_on_new"] for t in lost_ack_times(r)), describe(r)
    if policy.holds_without_majority:
        # nothing acknowledged once the policy acted is lost; what reached the application is
        # the policy's ConnectionError, and only while the client was cut off
        acted = r["t_fault"] + POLICY_REACTION + drill.DOWN_AFTER_MS / 1000 + 1.0
        late = [t for t in lost_ack_times(r) if t > acted]
        assert not late, describe(r)
        assert set(r["errors"]) <= {"sentinelfast.exceptions.ConnectionError"}, describe(r)
        assert all(t < r["marks"]["healed"] + FOLLOW_AFTER_HEAL for t in r["error_times"]), describe(r)
    else:
        # without a policy nothing stops the writes to the old master before the heal
        assert r["error_count"] == 0, describe(r)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_split_brain_master_side_with_min_replicas_to_write(drill, policy):
    """(a) As above, the data nodes with ``min-replicas-to-write 1``, ``min-replicas-max-lag 1``:
    the old master refuses writes (NOREPLICAS, a ResponseError) once its replicas have been
    silent for more than max-lag, and from then on nothing more is lost. The lag is counted in
    whole seconds and the master recounts its good replicas once a second, so the refusals start
    1 to 3 s after the cut (measured 1.7 s)."""
    r = run(drill, "master-side-min-replicas", policy)
    check_common(r)
    check_split_losses(r)
    not_refusals = {name for name in r["errors"] if not name.endswith(".ResponseError")}
    assert not not_refusals, f"only NOREPLICAS may reach the application: {describe(r)}"
    assert all("NOREPLICAS" in text for text in r["error_examples"].values()), r["error_examples"]
    lost = lost_ack_times(r)
    if not policy.holds_without_majority:
        # the client stays on the old master's side: it meets the refusals
        assert r["error_times"], describe(r)
    if r["error_times"]:
        assert all(t < r["error_times"][0] for t in lost), describe(r)
    assert all(t < r["t_fault"] + drill.MIN_REPLICAS_MAX_LAG + 3.5 for t in lost), describe(r)
    t_heal = r["marks"]["healed"]
    assert r["first_on_new"] is not None and r["first_on_new"] - t_heal < FOLLOW_AFTER_HEAL, describe(r)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_stale_sentinel_is_not_followed(drill, policy):
    """(b) Sentinel 1 (first in the client's list) is cut from every node and Sentinel while the
    others fail over; it keeps naming the old master, which takes writes until it is converted.
    The client follows the majority: no error, no acknowledged write lost; a client created
    during the partition discovers the new master; after the heal Sentinel 1 agrees again."""
    r = run(drill, "stale-sentinel", policy)
    check_common(r)
    old, new = list(r["old_master"]), list(r["new_master"])
    assert r["notes"]["stale_sentinel_names"] == old, "the isolated Sentinel was not stale: drill broken"
    assert r["notes"]["fresh_client_discovers"] == new, r["notes"]
    assert r["error_count"] == 0, describe(r)
    assert r["missing"] == [], describe(r)
    assert r["first_on_new"] is not None


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_client_cut_from_the_master(drill, policy):
    """(c) The client is cut from the master only; the Sentinels see it, nothing fails over.
    Writes wait for the heal (no acknowledged write lost, no exception with the default retry),
    then resume on the same master."""
    r = run(drill, "client-master", policy)
    check_common(r)
    assert r["final_master"] == r["old_master"]
    assert r["missing"] == [], describe(r)
    assert r["error_count"] == 0, describe(r)
    t_heal = r["marks"]["healed"]
    assert r["first_after_heal"] is not None and r["first_after_heal"] - t_heal < FOLLOW_AFTER_HEAL, describe(r)
