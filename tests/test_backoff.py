"""Backoff strategies (C types in sentinelfast._core): redis-py's formulas, equality, hashing,
copying, subclassing, and the retry loop's use of them (C fast path and Python backoffs)."""

import copy
import os
import pickle
import socket
import time

import pytest
import redis.backoff as rb

import sentinelfast
from sentinelfast import _core
from sentinelfast import backoff as sb
from sentinelfast.exceptions import ConnectionError
from sentinelfast.retry import Retry

CAPPED = ["ExponentialBackoff", "FullJitterBackoff", "EqualJitterBackoff",
          "DecorrelatedJitterBackoff", "ExponentialWithJitterBackoff"]
ALL = ["ConstantBackoff", "NoBackoff", *CAPPED]
DRAWS = 2000
PARAMS = [(0.512, 0.008), (10.0, 0.001), (0.05, 0.01), (1.0, 1.0)]


def ours(name, *args, **kwargs):
    return getattr(sb, name)(*args, **kwargs)


def theirs(name, *args, **kwargs):
    return getattr(rb, name)(*args, **kwargs)


def expo(cap, base, failures):
    return min(cap, base * 2**failures)


# ---------------------------------------------------------------- API surface

def test_module_exports_match_redis_py():
    for name in ALL + ["AbstractBackoff", "default_backoff", "DEFAULT_CAP", "DEFAULT_BASE"]:
        assert hasattr(sb, name), name
    assert sb.DEFAULT_CAP == rb.DEFAULT_CAP
    assert sb.DEFAULT_BASE == rb.DEFAULT_BASE
    for name in ALL:
        assert getattr(sb, name) is getattr(_core, name)
        assert getattr(sb, name).__doc__


def test_c_types_are_virtual_subclasses_of_abstract_backoff():
    for name in ALL:
        assert issubclass(getattr(sb, name), sb.AbstractBackoff)
        assert isinstance(ours(name, 1) if name == "ConstantBackoff" else ours(name),
                          sb.AbstractBackoff)
    assert issubclass(sb.NoBackoff, sb.ConstantBackoff)
    for name in CAPPED:  # independent classes, as in redis-py
        for other in CAPPED:
            assert issubclass(getattr(sb, name), getattr(sb, other)) == (name == other)


def test_abstract_backoff_is_abstract():
    with pytest.raises(TypeError):
        sb.AbstractBackoff()


def test_default_backoff_is_equal_jitter_with_defaults():
    b = sb.default_backoff()
    assert type(b) is sb.EqualJitterBackoff
    assert (b._cap, b._base) == (sb.DEFAULT_CAP, sb.DEFAULT_BASE)


def test_constructor_arguments():
    assert sb.ConstantBackoff(0.25)._backoff == 0.25
    assert sb.ConstantBackoff(backoff=2)._backoff == 2
    assert sb.NoBackoff()._backoff == 0
    for name in CAPPED:
        b = ours(name)
        assert (b._cap, b._base) == (0.512, 0.008)
        b = ours(name, 2, 0.5)
        assert (b._cap, b._base) == (2, 0.5)
        b = ours(name, base=0.1, cap=3)
        assert (b._cap, b._base) == (3, 0.1)
        with pytest.raises(TypeError):
            ours(name, 1, 2, 3)
        with pytest.raises(TypeError):
            ours(name, "x")
        with pytest.raises(TypeError):
            ours(name, nope=1)
    with pytest.raises(TypeError):
        sb.ConstantBackoff()
    with pytest.raises(TypeError):
        sb.NoBackoff(1)
    assert sb.DecorrelatedJitterBackoff()._previous_backoff == 0


def test_private_attributes_are_writable_like_redis_py():
    b = sb.ExponentialBackoff()
    b._cap, b._base = 1.0, 0.25
    assert b.compute(1) == 0.5 and b.compute(10) == 1.0
    c = sb.ConstantBackoff(1)
    c._backoff = 3
    assert c.compute(1) == 3
    with pytest.raises(TypeError):
        c._backoff = "slow"
    with pytest.raises(AttributeError):
        sb.ExponentialBackoff()._backoff  # only ConstantBackoff has it, as in redis-py
    with pytest.raises(AttributeError):
        sb.ExponentialBackoff()._previous_backoff


def test_compute_arguments():
    b = sb.ExponentialBackoff()
    assert b.compute(failures=3) == b.compute(3)
    for bad in [(), (1, 2)]:
        with pytest.raises(TypeError):
            b.compute(*bad)
    with pytest.raises(TypeError):
        b.compute(x=1)
    with pytest.raises(TypeError):
        b.compute("1")
    assert sb.ConstantBackoff(0.5).compute(1) == 0.5
    assert sb.ConstantBackoff(0.5).compute(None) == 0.5  # ignored, as in redis-py
    assert isinstance(sb.NoBackoff().compute(1), float)


def test_types_are_immutable():
    with pytest.raises(TypeError):
        sb.ConstantBackoff.compute = lambda self, failures: 1


def test_repr():
    assert repr(sb.ConstantBackoff(0.5)) == "ConstantBackoff(backoff=0.5)"
    assert repr(sb.NoBackoff()) == "NoBackoff()"
    assert repr(sb.ExponentialBackoff()) == "ExponentialBackoff(cap=0.512, base=0.008)"
    for name in CAPPED:
        b = ours(name, cap=2, base=0.25)
        assert repr(b) == f"{name}(cap=2.0, base=0.25)"
        assert eval(repr(b), vars(sb)) == b

    class Mine(sb.FullJitterBackoff):
        pass

    assert repr(Mine()) == "test_repr.<locals>.Mine(cap=0.512, base=0.008)"


# ---------------------------------------------------------------- formulas

def test_constant_and_no_backoff_are_exact():
    for failures in [0, 1, 2, 10, 10**6]:
        assert sb.ConstantBackoff(0.25).compute(failures) == rb.ConstantBackoff(0.25).compute(failures)
        assert sb.NoBackoff().compute(failures) == rb.NoBackoff().compute(failures) == 0


@pytest.mark.parametrize("cap,base", PARAMS)
def test_exponential_is_exactly_redis_py(cap, base):
    mine, ref = sb.ExponentialBackoff(cap, base), rb.ExponentialBackoff(cap, base)
    for failures in range(-3, 80):
        assert mine.compute(failures) == ref.compute(failures)
    assert sb.ExponentialBackoff(cap=1e308, base=3.0).compute(100) == 3.0 * 2**100
    assert sb.ExponentialBackoff(cap=1e308, base=0.1).compute(0.5) == pytest.approx(0.1 * 2**0.5)


@pytest.mark.parametrize("cap,base", PARAMS)
def test_full_jitter_range(cap, base):
    b = sb.FullJitterBackoff(cap, base)
    for failures in range(0, 14):
        hi = expo(cap, base, failures)
        draws = [b.compute(failures) for _ in range(DRAWS // 10)]
        assert all(0 <= d <= hi for d in draws)
    draws = [b.compute(3) for _ in range(DRAWS)]
    hi = expo(cap, base, 3)
    assert min(draws) < 0.1 * hi and max(draws) > 0.9 * hi  # spread over the range
    assert len(set(draws)) > DRAWS * 0.95


@pytest.mark.parametrize("cap,base", PARAMS)
def test_equal_jitter_range(cap, base):
    b = sb.EqualJitterBackoff(cap, base)
    for failures in range(0, 14):
        half = expo(cap, base, failures) / 2
        draws = [b.compute(failures) for _ in range(DRAWS // 10)]
        assert all(half <= d <= 2 * half for d in draws)
    half = expo(cap, base, 4) / 2
    draws = [b.compute(4) for _ in range(DRAWS)]
    assert min(draws) < 1.1 * half and max(draws) > 1.9 * half


@pytest.mark.parametrize("cap,base", PARAMS)
def test_exponential_with_jitter_range(cap, base):
    b = sb.ExponentialWithJitterBackoff(cap, base)
    for failures in range(0, 14):
        hi = expo(cap, base, failures)
        draws = [b.compute(failures) for _ in range(DRAWS // 10)]
        assert all(0 <= d <= hi for d in draws)
    hi = base * 2**2
    draws = [b.compute(2) for _ in range(DRAWS)]
    assert min(draws) < 0.1 * min(cap, hi)
    if hi < cap:
        assert max(draws) > 0.9 * hi


@pytest.mark.parametrize("cap,base", PARAMS)
def test_decorrelated_jitter_range_and_reset(cap, base):
    b = sb.DecorrelatedJitterBackoff(cap, base)
    for _ in range(DRAWS // 20):
        b.reset()
        assert b._previous_backoff == 0
        previous = 0
        for failures in range(1, 21):
            d = b.compute(failures)
            upper = max(base, previous * 3)
            assert min(cap, base) <= d <= min(cap, upper)
            assert b._previous_backoff == d
            previous = d
    b.reset()
    assert b.compute(1) == min(cap, base)  # uniform(base, base)


def test_jitter_is_not_in_lockstep_between_instances():
    a, b = sb.FullJitterBackoff(10, 1), sb.FullJitterBackoff(10, 1)
    assert [a.compute(3) for _ in range(20)] != [b.compute(3) for _ in range(20)]


def test_forked_child_draws_a_different_sequence():
    b = sb.FullJitterBackoff(10, 1)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.write(w, repr([b.compute(3) for _ in range(10)]).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        child = eval(f.read())
    os.waitpid(pid, 0)
    assert len(child) == 10 and child != [b.compute(3) for _ in range(10)]


def test_huge_failure_counts_are_clamped_to_cap():
    # redis-py raises OverflowError from base * 2**failures once failures >= 1024.
    for failures in [1023, 1024, 5000, 10**30]:
        assert sb.ExponentialBackoff().compute(failures) == 0.512
        assert 0 <= sb.FullJitterBackoff().compute(failures) <= 0.512
        assert 0.256 <= sb.EqualJitterBackoff().compute(failures) <= 0.512
        assert 0 <= sb.ExponentialWithJitterBackoff().compute(failures) <= 0.512
    assert sb.ExponentialBackoff(cap=1, base=0).compute(10**30) == 0
    assert sb.ExponentialBackoff().compute(-(10**30)) == 0


# ---------------------------------------------------------------- equality, hashing

def _pairs():
    specs = [("ConstantBackoff", (0,)), ("ConstantBackoff", (0.5,)), ("ConstantBackoff", (1,)),
             ("NoBackoff", ())]
    for name in CAPPED:
        specs += [(name, ()), (name, (0.512, 0.008)), (name, (1, 0.008)), (name, (0.512, 1))]
    for a in specs:
        for b in specs:
            yield a, b


def test_equality_and_hash_match_redis_py():
    for (na, aa), (nb, ab) in _pairs():
        mine_a, mine_b = ours(na, *aa), ours(nb, *ab)
        ref_a, ref_b = theirs(na, *aa), theirs(nb, *ab)
        assert (mine_a == mine_b) == (ref_a == ref_b), (na, aa, nb, ab)
        assert (mine_a != mine_b) == (ref_a != ref_b), (na, aa, nb, ab)
        if mine_a == mine_b:
            assert hash(mine_a) == hash(mine_b)
        assert hash(mine_a) == hash(ref_a)


def test_equality_with_other_objects_and_subclasses():
    b = sb.ExponentialBackoff()
    assert b != 1 and b != "x" and b != rb.ExponentialBackoff() and b != sb.FullJitterBackoff()
    assert sb.NoBackoff() == sb.ConstantBackoff(0) and sb.ConstantBackoff(0) == sb.NoBackoff()

    class Mine(sb.ExponentialBackoff):
        pass

    # redis-py compares with isinstance(): a subclass instance with the same cap/base is equal
    assert Mine() == sb.ExponentialBackoff() and sb.ExponentialBackoff() == Mine()
    assert Mine(1) != sb.ExponentialBackoff()
    assert len({sb.ExponentialBackoff(), sb.ExponentialBackoff(), Mine()}) == 1
    with pytest.raises(TypeError):
        b < sb.ExponentialBackoff()


def test_decorrelated_state_does_not_affect_equality():
    a, b = sb.DecorrelatedJitterBackoff(), sb.DecorrelatedJitterBackoff()
    a.compute(1), a.compute(2)
    assert a == b and hash(a) == hash(b)


# ---------------------------------------------------------------- copying

@pytest.mark.parametrize("name", ALL)
def test_deepcopy_copy_pickle(name):
    b = ours(name, 0.3) if name == "ConstantBackoff" else ours(name) if name == "NoBackoff" \
        else ours(name, 2.0, 0.1)
    for dup in (copy.deepcopy(b), copy.copy(b), pickle.loads(pickle.dumps(b))):
        assert type(dup) is type(b) and dup is not b
        assert dup == b and hash(dup) == hash(b) and repr(dup) == repr(b)
        assert dup.compute(1) == b.compute(1) or name in ("FullJitterBackoff", "EqualJitterBackoff",
                                                          "DecorrelatedJitterBackoff",
                                                          "ExponentialWithJitterBackoff")


def test_deepcopy_keeps_decorrelated_state_independently():
    b = sb.DecorrelatedJitterBackoff(10, 0.5)
    b.compute(1), b.compute(2)
    dup = copy.deepcopy(b)
    assert dup._previous_backoff == b._previous_backoff != 0
    dup.reset()
    assert dup._previous_backoff == 0 and b._previous_backoff != 0


def test_deepcopy_of_a_retry_and_a_subclass_with_its_own_init():
    class Slow(sb.EqualJitterBackoff):
        def __init__(self, factor):
            super().__init__(cap=factor, base=factor / 10)
            self.factor = factor

    s = Slow(2.0)
    dup = copy.deepcopy(s)
    assert type(dup) is Slow and dup.factor == 2.0 and (dup._cap, dup._base) == (2.0, 0.2)
    retry = Retry(sb.ExponentialBackoff(1, 0.1), 3)
    dup = copy.deepcopy(retry)
    assert dup == retry and dup._backoff is not retry._backoff


# ---------------------------------------------------------------- subclassing

def test_subclass_overrides_and_super():
    calls = []

    class Logged(sb.ExponentialBackoff):
        def compute(self, failures):
            calls.append(failures)
            return super().compute(failures) * 2

        def reset(self):
            calls.append("reset")
            super().reset()

    b = Logged(cap=10, base=1)
    assert b.compute(2) == 8 and calls == [2]
    b.extra = "ok"  # subclasses get a __dict__
    assert isinstance(b, sb.AbstractBackoff) and isinstance(b, sb.ExponentialBackoff)

    class Plus(sb.NoBackoff):
        pass

    assert Plus().compute(1) == 0 and Plus() == sb.NoBackoff()


# ---------------------------------------------------------------- with Retry

class PyBackoff(sb.AbstractBackoff):
    """A user-defined strategy written in Python."""

    def __init__(self, delay):
        self.delay = delay
        self.computed = []
        self.resets = 0

    def reset(self):
        self.resets += 1

    def compute(self, failures):
        self.computed.append(failures)
        return self.delay


def _failing(times):
    state = {"calls": 0}

    def do():
        state["calls"] += 1
        if state["calls"] <= times:
            raise ConnectionError("boom")
        return "done"

    return do, state


@pytest.mark.parametrize("backoff", [sb.ConstantBackoff(0.001), sb.NoBackoff(),
                                     sb.ExponentialBackoff(0.005, 0.0001),
                                     sb.FullJitterBackoff(0.005, 0.0001),
                                     sb.EqualJitterBackoff(0.005, 0.0001),
                                     sb.DecorrelatedJitterBackoff(0.005, 0.0001),
                                     sb.ExponentialWithJitterBackoff(0.005, 0.0001)],
                         ids=repr)
def test_call_with_retry_with_c_backoffs(backoff):
    do, state = _failing(2)
    assert Retry(backoff, 3).call_with_retry(do, lambda error: None) == "done"
    assert state["calls"] == 3
    do, state = _failing(10)
    with pytest.raises(ConnectionError):
        Retry(backoff, 2).call_with_retry(do, lambda error: None)
    assert state["calls"] == 3


def test_call_with_retry_with_python_backoff():
    b = PyBackoff(0.001)
    do, state = _failing(2)
    assert Retry(b, 3).call_with_retry(do, lambda error: None) == "done"
    assert b.computed == [1, 2] and b.resets == 1


def test_call_with_retry_negative_budget_is_bounded(monkeypatch):
    """retries=-1 with timeout=-1 (the default Sentinel policy) used from Python: the
    failover budget still ends the loop (it retried for ever before)."""
    import sentinelfast.retry as sr

    monkeypatch.setattr(sr, "FAILOVER_BUDGET_UNKNOWN", 0.3)
    do, state = _failing(10 ** 9)
    started = time.monotonic()
    with pytest.raises(ConnectionError):
        Retry(sb.ConstantBackoff(0.05), -1, timeout=-1).call_with_retry(do, lambda error: None)
    assert 0.3 <= time.monotonic() - started < 5
    assert state["calls"] >= 2


def test_call_with_retry_sleeps_no_longer_than_the_budget():
    do, state = _failing(10 ** 9)
    started = time.monotonic()
    with pytest.raises(ConnectionError):
        Retry(sb.ConstantBackoff(60), -1, timeout=0.2).call_with_retry(do, lambda error: None)
    assert time.monotonic() - started < 10
    assert state["calls"] == 2


def _closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _time_to_fail(retry):
    client = sentinelfast.Redis(host="127.0.0.1", port=_closed_port(), retry=retry)
    try:
        start = time.monotonic()
        with pytest.raises(ConnectionError):
            client.ping()
        return time.monotonic() - start
    finally:
        client.close()


def test_client_retries_with_c_backoff():
    before = _core.retry_count()
    elapsed = _time_to_fail(Retry(sb.ConstantBackoff(0.01), 3))
    assert _core.retry_count() - before == 3
    assert 0.03 <= elapsed < 1.0


def test_client_retries_with_exponential_c_backoff():
    before = _core.retry_count()
    elapsed = _time_to_fail(Retry(sb.ExponentialBackoff(cap=1.0, base=0.005), 3))
    assert _core.retry_count() - before == 3
    assert 0.01 + 0.02 + 0.04 <= elapsed < 1.0


def test_client_retries_with_python_backoff():
    b = PyBackoff(0.01)
    retry = Retry(b, 3)
    client = sentinelfast.Redis(host="127.0.0.1", port=_closed_port(), retry=retry)
    try:
        start = time.monotonic()
        with pytest.raises(ConnectionError):
            client.ping()
        elapsed = time.monotonic() - start
        # the connection deep-copies its Retry: find the backoff the C loop used
        used = client.connection_pool.get_connection("PING")
        try:
            backoff = used.retry._backoff
        finally:
            client.connection_pool.release(used)
    finally:
        client.close()
    assert type(backoff) is PyBackoff
    assert backoff.computed == [1, 2, 3] and backoff.resets == 1
    assert 0.03 <= elapsed < 1.0


def test_client_retries_with_subclass_of_c_backoff_use_its_methods():
    calls = []

    class Logged(sb.ConstantBackoff):
        def compute(self, failures):
            calls.append(failures)
            return 0.01

    elapsed = _time_to_fail(Retry(Logged(5.0), 3))  # the subclass's compute, not 5 s
    assert calls == [1, 2, 3]
    assert 0.03 <= elapsed < 1.0
