"""One pool hammered by many threads: get/release/disconnect/reset all at once.

The pool guards its state with its own mutex (not the GIL); these tests check the invariants
a user relies on while every operation races with every other: a connection is never handed
to two threads at once, the pool never counts more than max_connections, and it is still
usable afterwards.
"""

import threading

import pytest
from sfimpl import IMPL, sf, sf_exceptions

# The counts come from sentinelfast's pool attributes (_created_connections...), which
# redis-py's BlockingConnectionPool does not have.
pytestmark = pytest.mark.skipif(IMPL == "redis", reason="reads sentinelfast's pool counters")

THREADS = 12
ROUNDS = 150
MAX_CONNECTIONS = 4


class Invariants:
    """Who holds which connection, and every violation seen."""

    def __init__(self, pool):
        self.pool = pool
        self.lock = threading.Lock()
        self.owner = {}        # id(conn) -> (thread name, conn): conn kept alive while held
        self.violations = []
        self.errors = []

    def took(self, conn):
        me = threading.current_thread().name
        with self.lock:
            held = self.owner.get(id(conn))
            if held is not None:
                self.violations.append(f"{conn!r} handed to {me} while {held[0]} holds it")
            self.owner[id(conn)] = (me, conn)
        self.check_counts()

    def gave_back(self, conn):
        with self.lock:
            self.owner.pop(id(conn), None)

    def check_counts(self):
        # Each read separately: the sum of two reads taken at different moments may
        # count a connection moving between the lists twice.
        counts = {"created": self.pool._created_connections,
                  "idle": len(self.pool._available_connections),
                  "in use": len(self.pool._in_use_connections)}
        if max(counts.values()) > MAX_CONNECTIONS:
            with self.lock:
                self.violations.append(f"{counts} above max_connections={MAX_CONNECTIONS}")


def worker(pool, inv, done_rounds, expected_errors):
    for _ in range(ROUNDS):
        try:
            conn = pool.get_connection()
        except expected_errors:
            continue
        except Exception as e:  # anything else is a failure of the test
            inv.errors.append(repr(e))
            return
        inv.took(conn)
        try:
            conn.send_command("PING")
            if conn.read_response() not in (b"PONG", "PONG", True):
                inv.errors.append("PING did not answer PONG")
        except (sf_exceptions.ConnectionError, sf_exceptions.TimeoutError):
            conn.disconnect()   # shut down by pool.disconnect(): what a client does
        except Exception as e:
            inv.errors.append(repr(e))
        finally:
            inv.gave_back(conn)
            pool.release(conn)
        done_rounds.append(1)


def chaos(pool, inv, stop):
    """disconnect() (in use or not) and reset() in a loop while the workers run."""
    i = 0
    while not stop.is_set():
        try:
            if i % 3 == 0:
                pool.disconnect()
            elif i % 3 == 1:
                pool.disconnect(inuse_connections=False)
            else:
                pool.reset()
                # reset() forgets the connections in use: their holders may release
                # them, the pool ignores them; forget who held them.
                with inv.lock:
                    inv.owner.clear()
        except Exception as e:
            inv.errors.append(f"chaos: {e!r}")
            return
        i += 1
        stop.wait(0.005)


def hammer(pool, expected_errors):
    inv = Invariants(pool)
    done_rounds = []
    stop = threading.Event()
    workers = [threading.Thread(target=worker, args=(pool, inv, done_rounds, expected_errors),
                                name=f"worker-{n}") for n in range(THREADS)]
    chaos_thread = threading.Thread(target=chaos, args=(pool, inv, stop), name="chaos")
    chaos_thread.start()
    for t in workers:
        t.start()
    for t in workers:
        t.join(120)
    stop.set()
    chaos_thread.join(30)
    assert not any(t.is_alive() for t in workers + [chaos_thread]), "a thread hung"
    assert inv.violations == []
    assert inv.errors == []
    assert len(done_rounds) > 0
    return inv


def assert_usable_afterwards(pool):
    assert pool._in_use_connections == set()
    assert pool._created_connections <= MAX_CONNECTIONS
    conns = [pool.get_connection() for _ in range(MAX_CONNECTIONS)]
    assert len({id(c) for c in conns}) == MAX_CONNECTIONS
    for c in conns:
        c.send_command("PING")
        assert c.read_response() in (b"PONG", "PONG", True)
    for c in conns:
        pool.release(c)
    assert pool._created_connections == MAX_CONNECTIONS
    pool.disconnect()


def test_blocking_pool_hammered_by_threads(topology):
    pool = sf.BlockingConnectionPool(host="127.0.0.1", port=topology.master.port,
                                     max_connections=MAX_CONNECTIONS, timeout=60)
    hammer(pool, expected_errors=())
    assert_usable_afterwards(pool)


def test_non_blocking_pool_hammered_by_threads(topology):
    pool = sf.ConnectionPool(host="127.0.0.1", port=topology.master.port,
                             max_connections=MAX_CONNECTIONS)
    # More threads than connections: some gets must fail, always with MaxConnectionsError.
    hammer(pool, expected_errors=(sf_exceptions.MaxConnectionsError,))
    assert_usable_afterwards(pool)


@pytest.mark.parametrize("blocking", [False, True])
def test_threads_never_share_a_connection_without_interference(topology, blocking):
    """No disconnect/reset: every get succeeds (blocking) and every PING answers."""
    cls = sf.BlockingConnectionPool if blocking else sf.ConnectionPool
    kwargs = {"timeout": 60} if blocking else {}
    pool = cls(host="127.0.0.1", port=topology.master.port, max_connections=MAX_CONNECTIONS, **kwargs)
    inv = Invariants(pool)
    done_rounds = []
    expected = () if blocking else (sf_exceptions.MaxConnectionsError,)
    workers = [threading.Thread(target=worker, args=(pool, inv, done_rounds, expected))
               for _ in range(THREADS)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(120)
    assert not any(t.is_alive() for t in workers), "a thread hung"
    assert inv.violations == []
    assert inv.errors == []
    if blocking:
        assert len(done_rounds) == THREADS * ROUNDS
    assert_usable_afterwards(pool)
