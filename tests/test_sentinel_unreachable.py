"""Every Sentinel unreachable: a master_for client fails fast, and every wait answers Ctrl-C.

* A client whose Sentinels never named a master (nobody listens on their ports, they accept
  but never answer, or they do not know the service) raises MasterNotFoundError after ONE
  round over the Sentinels, each within its socket timeout: no retry, no 30 s budget
  (a slave_for client: SlaveNotFoundError, the same way).
* Once a master was known, losing it (master dead, Sentinels gone) is retried for the
  failover budget (down-after-milliseconds + 15 s) and then raised: the documented bound.
* A real SIGINT (sent by os.kill from another thread; the default handler raises
  KeyboardInterrupt) interrupts a command blocked on a hung Sentinel, in the retry loop's
  backoff, in a failover hold and in a blocking pool's wait, within a fraction of a second.
  The waits that sleep in slices (backoff, hold, pool) also answer a signal that the kernel
  handed to another thread (signal.pthread_kill).
"""

import os
import signal
import socket
import threading
import time

import pytest
import redis.exceptions
import redis.sentinel
from sfimpl import IMPL, sf

pytestmark = pytest.mark.skipif(IMPL != "sentinelfast", reason="sentinelfast's retry budget and waits")

if IMPL == "sentinelfast":
    from sentinelfast import _core
    from sentinelfast.backoff import ConstantBackoff
    from sentinelfast.retry import Retry
    from sentinelfast.testing import Topology

SERVICE = "mymaster"
ELECTION_ALLOWANCE = 15.0      # what the failover budget adds to down-after-milliseconds
UNKNOWN_BUDGET = 30.0          # the budget while down-after-milliseconds is unknown
# How long after the signal the command must have raised KeyboardInterrupt. The waits check
# for signals at least every 50 ms; the rest is slack for 2 cores shared by 5 agents.
INTERRUPT_BOUND = 1.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HandlerRaised(Exception):
    """What the SIGUSR1 handler of a test raises (an application's own timeout, say)."""


def raise_handler_raised(signum, frame):
    raise HandlerRaised(signum)


def interrupted(call, after, target="process", signum=signal.SIGINT,
                handler=signal.default_int_handler, raised=KeyboardInterrupt):
    """Run ``call()`` in the main thread; ``after`` seconds later another thread sends SIGINT
    (default handler: KeyboardInterrupt) to the process, or with ``target="other-thread"``
    to that other thread only (the kernel then never interrupts the main thread's syscall).
    ``signum`` / ``handler`` / ``raised``: another signal, its handler and what it raises.

    Returns ``(outcome, latency)``: outcome ``"interrupted"`` with the seconds between the
    signal and the exception the handler raised, else ``"returned"`` / the exception
    ``call()`` ended with, and None."""
    assert threading.current_thread() is threading.main_thread()
    sent = []

    def send():
        sent.append(time.monotonic())
        if target == "process":
            os.kill(os.getpid(), signum)
        else:
            signal.pthread_kill(threading.get_ident(), signum)

    previous = signal.signal(signum, handler)
    timer = threading.Timer(after, send)
    outcome = None
    try:
        try:
            timer.start()
            try:
                call()
                outcome = "returned"
            except raised:
                raise
            except Exception as e:
                outcome = e
            timer.join()
            time.sleep(2)          # a signal sent after call() ended lands here
            return outcome, None
        except raised:
            if outcome is not None:
                return outcome, None
            return "interrupted", time.monotonic() - sent[0]
    finally:
        timer.cancel()
        timer.join()
        signal.signal(signum, previous)


def assert_interrupted_promptly(outcome, latency):
    assert outcome == "interrupted", f"the command ended with {outcome!r} before the signal"
    assert latency < INTERRUPT_BOUND, f"KeyboardInterrupt came {latency:.3f} s after SIGINT"


# --------------------------------------------------------------------------------------------
# Never reached: one round over the Sentinels, then MasterNotFoundError
# --------------------------------------------------------------------------------------------


def test_sentinels_nobody_listens_on_fail_at_once():
    addresses = [("127.0.0.1", free_port()) for _ in range(3)]
    sentinel = sf.Sentinel(addresses, socket_timeout=0.5)
    try:
        master = sentinel.master_for(SERVICE)
        retries = _core.retry_count()
        started = time.monotonic()
        with pytest.raises(redis.sentinel.MasterNotFoundError) as info:
            master.get("k")
        elapsed = time.monotonic() - started
        assert isinstance(info.value, sf.MasterNotFoundError)
        message = str(info.value)
        assert message.startswith(f"No master found for '{SERVICE}' : "), message
        for _, port in addresses:          # every Sentinel was asked, once
            assert message.count(str(port)) == 1, message
        assert _core.retry_count() == retries, "the command was retried"
        assert elapsed < 10, f"took {elapsed:.1f} s (the 30 s failover budget applied?)"
        assert sentinel.stats()["services"][SERVICE]["master_ever_known"] is False

        with pytest.raises(redis.sentinel.MasterNotFoundError):   # a pipeline too
            pipe = master.pipeline()
            pipe.set("k", "v").get("k")
            pipe.execute()
        assert _core.retry_count() == retries
    finally:
        sentinel.close()


def test_slave_for_with_sentinels_nobody_listens_on_fails_at_once():
    addresses = [("127.0.0.1", free_port()) for _ in range(3)]
    sentinel = sf.Sentinel(addresses, socket_timeout=0.5)
    try:
        replica = sentinel.slave_for(SERVICE)
        retries = _core.retry_count()
        started = time.monotonic()
        with pytest.raises(redis.sentinel.SlaveNotFoundError) as info:
            replica.get("k")
        assert str(info.value) == f"No slave found for '{SERVICE}'"
        assert _core.retry_count() == retries, "the command was retried"
        assert time.monotonic() - started < 10
    finally:
        sentinel.close()


def test_slave_for_gets_the_failover_budget_once_a_sentinel_named_a_node(topology):
    sentinel = sf.Sentinel(topology.sentinel_addresses, socket_timeout=1.0)
    try:
        replica = sentinel.slave_for(topology.service_name)
        retry = replica.connection_pool.connection_kwargs["retry"]
        assert retry._timeout == 0            # nothing named yet: no retry budget
        assert replica.ping() is True
        assert retry._timeout == -1           # now: the failover budget
    finally:
        sentinel.close()


def test_unknown_service_fails_at_once(topology):
    sentinel = sf.Sentinel(topology.sentinel_addresses, socket_timeout=1.0)
    try:
        retries = _core.retry_count()
        with pytest.raises(redis.sentinel.MasterNotFoundError) as info:
            sentinel.master_for("no-such-service").ping()
        assert str(info.value) == "No master found for 'no-such-service'"
        assert _core.retry_count() == retries
    finally:
        sentinel.close()


@pytest.fixture(scope="module")
def lost():
    """A topology whose Sentinels are all SIGSTOPped (they accept connections, answer
    nothing), and a master_for client that learned the master before that."""
    topo = Topology()
    try:
        topo.start()
        sentinel = sf.Sentinel(topo.sentinel_addresses, socket_timeout=0.5)
        master = sentinel.master_for(topo.service_name)
        assert master.set("lost:k", "v") is True
        service = sentinel._failover_monitor().service(topo.service_name)
        deadline = time.monotonic() + 30
        while service.state()["down_after_ms"] == 0:        # the monitor's first re-check
            assert time.monotonic() < deadline, "the monitor never learned down-after"
            time.sleep(0.05)
        for node in topo.sentinels:
            node.pause()
        yield topo, sentinel, master
        sentinel.close()
    finally:
        topo.stop()


def test_hung_sentinels_fail_after_one_round_of_timeouts(lost):
    topo, _, _ = lost
    timeout = 0.5
    sentinel = sf.Sentinel(topo.sentinel_addresses, socket_timeout=timeout)
    try:
        retries = _core.retry_count()
        started = time.monotonic()
        with pytest.raises(redis.sentinel.MasterNotFoundError) as info:
            sentinel.master_for(topo.service_name).get("k")
        elapsed = time.monotonic() - started
        message = str(info.value)
        assert message.count("Timeout") == len(topo.sentinels), message   # each asked once
        assert _core.retry_count() == retries
        # one round: each Sentinel's timeout, once (and never the 30 s budget)
        assert len(topo.sentinels) * timeout * 0.9 <= elapsed < len(topo.sentinels) * timeout + 8
    finally:
        sentinel.close()


@pytest.mark.parametrize("target", ["process", "other-thread"])
def test_sigint_interrupts_a_query_to_a_hung_sentinel(lost, target):
    """socket_timeout=None: the query would wait forever (as in redis-py); Ctrl-C ends it,
    also when the kernel hands the signal to another thread (a wait without a bound polls
    in slices; found when the process-wide SIGINT hung under ASan)."""
    topo, _, _ = lost
    sentinel = sf.Sentinel(topo.sentinel_addresses, socket_timeout=None)
    try:
        master = sentinel.master_for(topo.service_name)
        assert_interrupted_promptly(*interrupted(lambda: master.get("k"), after=0.5,
                                                 target=target))
    finally:
        sentinel.close()


def test_a_raising_signal_handler_interrupts_a_query_to_a_hung_sentinel(lost):
    """Not only Ctrl-C: any handler that raises (an application's own timeout on SIGUSR1)."""
    topo, _, _ = lost
    sentinel = sf.Sentinel(topo.sentinel_addresses, socket_timeout=None)
    try:
        master = sentinel.master_for(topo.service_name)
        assert_interrupted_promptly(*interrupted(
            lambda: master.get("k"), after=0.5, signum=signal.SIGUSR1,
            handler=raise_handler_raised, raised=HandlerRaised))
    finally:
        sentinel.close()


# --------------------------------------------------------------------------------------------
# Known once: retried within the failover budget, interruptible all along
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["process", "other-thread"])
def test_sigint_interrupts_retries_after_the_master_is_lost(lost, target):
    topo, _, master = lost
    if topo.master.is_alive():
        topo.master.kill()
    assert_interrupted_promptly(*interrupted(lambda: master.get("lost:k"), after=1.0, target=target))


def test_lost_master_is_retried_for_the_failover_budget_then_raised(lost):
    topo, sentinel, master = lost
    if topo.master.is_alive():
        topo.master.kill()
    state = sentinel.stats()["services"][topo.service_name]
    assert state["master_ever_known"] is True
    budget = state["down_after_ms"] / 1000 + ELECTION_ALLOWANCE if state["down_after_ms"] else UNKNOWN_BUDGET
    started = time.monotonic()
    with pytest.raises(redis.exceptions.ConnectionError):
        master.get("lost:k")
    elapsed = time.monotonic() - started
    assert budget - 0.5 <= elapsed <= budget + 8, f"gave up after {elapsed:.1f} s; budget {budget} s"


# --------------------------------------------------------------------------------------------
# A failover hold, a backoff sleep, a blocking pool
# --------------------------------------------------------------------------------------------


def test_sigint_interrupts_a_failover_hold(fresh_topology, key):
    """Commands wait while Sentinel fails over; SIGINT sent as the hold starts ends the
    waiting command at once. Afterwards the client works on the new master."""
    # No promotion probe: the hold lasts until Sentinel's +promoted-slave (up to a second),
    # not a few milliseconds, so that a slow machine still finds a command waiting in it.
    sentinel = sf.Sentinel(fresh_topology.sentinel_addresses, socket_timeout=1.0,
                           probe_promotion=False)
    try:
        master = sentinel.master_for(fresh_topology.service_name)
        assert master.set(key, "0") is True
        service = sentinel._failover_monitor().service(fresh_topology.service_name)
        hold_started = threading.Event()
        sent = []
        in_hold = []
        # The signal is sent only while the writer loop runs: one sent after the test
        # ended would raise KeyboardInterrupt in whatever runs next (and end a pytest-xdist
        # worker). The sender checks and sends under the lock the loop takes to finish.
        lock = threading.Lock()
        finished = []

        def on_event(event):
            if event.kind == "failover-started":
                hold_started.set()

        def send_when_held():
            # Once the hold started, the next command waits in it (counted in "holds").
            if hold_started.wait(60):
                deadline = time.monotonic() + 5
                while service.state()["holds"] == 0 and time.monotonic() < deadline:
                    time.sleep(0.005)
                with lock:
                    if finished:
                        return
                    state = service.state()
                    in_hold.append((state["failover_in_progress"], state["holds"] >= 1))
                    sent.append(time.monotonic())
                    os.kill(os.getpid(), signal.SIGINT)

        sentinel.add_event_listener(on_event)
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        sender = threading.Thread(target=send_when_held, daemon=True)
        failover = threading.Thread(target=fresh_topology.failover, daemon=True)
        latency = None
        try:
            sender.start()
            failover.start()
            i = 0
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                i += 1
                master.set(key, str(i))
            with lock:
                finished.append(True)
        except KeyboardInterrupt:
            latency = time.monotonic() - sent[0]
        finally:
            sender.join(5)
            signal.signal(signal.SIGINT, previous)
        assert latency is not None, "no KeyboardInterrupt (the failover never started a hold?)"
        assert in_hold == [(True, True)], "the signal was not sent during a hold"
        assert latency < INTERRUPT_BOUND, f"KeyboardInterrupt came {latency:.3f} s after SIGINT"
        failover.join(60)
        assert master.set(key, "after") is True       # the client is usable afterwards
        assert master.get(key) == b"after"
    finally:
        sentinel.close()


def _blocked_signals(native_id):
    """The signals a thread of this process blocks (/proc's SigBlk mask)."""
    with open(f"/proc/self/task/{native_id}/status") as f:
        for line in f:
            if line.startswith("SigBlk:"):
                mask = int(line.split()[1], 16)
                return {sig for sig in signal.Signals if mask & (1 << (sig - 1))}
    raise AssertionError("no SigBlk line")


def test_the_monitor_thread_leaves_signals_to_the_others_but_not_its_listeners(topology):
    """While the monitor waits, it blocks SIGINT/SIGTERM (the kernel hands them to a thread
    whose wait they interrupt); event listeners run with the thread's usual mask, so a
    subprocess or thread they start does not inherit blocked signals."""
    sentinel = sf.Sentinel(topology.sentinel_addresses, socket_timeout=1.0)
    masks = []
    sentinel.add_event_listener(lambda event: masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
    try:
        master = sentinel.master_for(topology.service_name)
        assert master.ping() is True
        monitor = next(t for t in threading.enumerate() if t.name == "sentinelfast-monitor")
        deadline = time.monotonic() + 30
        seen = set()
        while not ({signal.SIGINT, signal.SIGTERM} <= seen and masks):
            assert time.monotonic() < deadline, f"monitor mask {seen}, listener masks {masks}"
            seen = _blocked_signals(monitor.native_id)
            time.sleep(0.05)
        assert signal.SIGSEGV not in seen
        assert all(signal.SIGINT not in mask and signal.SIGTERM not in mask for mask in masks)
    finally:
        sentinel.close()


def test_a_signal_delivered_while_waiting_for_the_gil_is_not_lost():
    """The signal arrives between two waits of a command (here: while the main thread waits
    for the GIL after connecting, held by the thread that sends the signal); its handler
    must run before the next wait starts, else nothing ends that wait (a server that never
    answers, no socket_timeout). A second SIGINT 5 s later stops a command that lost the
    first, so a failure is reported, not a hang."""
    with socket.socket() as hung:              # accepts connections (backlog), never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)
        for _ in range(5):
            client = sf.Redis(port=hung.getsockname()[1], socket_timeout=None,
                              retry=Retry(ConstantBackoff(0), 0))
            go = threading.Event()
            sent = []

            def send_while_holding_the_gil():
                go.wait()
                sum(range(200_000))            # C code: the GIL stays with this thread
                sent.append(time.monotonic())
                os.kill(os.getpid(), signal.SIGINT)

            sender = threading.Thread(target=send_while_holding_the_gil)
            backstop = threading.Timer(5, os.kill, (os.getpid(), signal.SIGINT))
            previous = signal.signal(signal.SIGINT, signal.default_int_handler)
            latency = None
            try:
                try:
                    sender.start()
                    backstop.start()
                    go.set()
                    client.get("k")
                except KeyboardInterrupt:
                    latency = time.monotonic() - sent[0]
                try:
                    backstop.cancel()
                    sender.join()
                    backstop.join()
                    time.sleep(0.2)            # a signal still on its way lands here
                except KeyboardInterrupt:      # the backstop went off: the first was lost
                    latency = latency or float("inf")
            finally:
                signal.signal(signal.SIGINT, previous)
                client.close()
            assert latency is not None and latency < INTERRUPT_BOUND, (
                f"the first SIGINT was lost (interrupted {latency} s after it)")


@pytest.mark.parametrize("target", ["process", "other-thread"])
def test_sigint_interrupts_a_long_backoff_sleep(target):
    client = sf.Redis(port=free_port(), socket_connect_timeout=1,
                      retry=Retry(ConstantBackoff(30), 3))
    assert_interrupted_promptly(*interrupted(lambda: client.ping(), after=0.5, target=target))


@pytest.mark.parametrize("target", ["process", "other-thread"])
def test_sigint_interrupts_a_blocking_pool_wait(plain_server, target):
    pool = sf.BlockingConnectionPool(host="127.0.0.1", port=plain_server.port,
                                     max_connections=1, timeout=30)
    client = sf.Redis(connection_pool=pool)
    taken = pool.get_connection()
    try:
        assert_interrupted_promptly(*interrupted(lambda: client.ping(), after=0.5, target=target))
    finally:
        pool.release(taken)
    assert client.ping() is True
