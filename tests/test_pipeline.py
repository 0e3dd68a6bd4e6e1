"""Pipelines: transaction=True (MULTI/EXEC) and False, errors inside, raise_on_error."""

import pytest
import redis
from sfimpl import sf, sf_exceptions


def commandstats(server):
    """{command: calls} from INFO commandstats (raw RESP, outside the client under test)."""
    stats = {}
    for line in server.command("INFO", "commandstats").decode().splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line[len("cmdstat_") :].partition(":")
            stats[name] = int(rest.split("calls=")[1].split(",")[0])
    return stats


@pytest.fixture
def r(topology):
    client = sf.Redis(port=topology.master.port)
    yield client
    client.close()


@pytest.mark.parametrize("transaction", [True, False])
def test_pipeline_results_and_callbacks(r, key, transaction):
    pipe = r.pipeline(transaction=transaction)
    assert pipe.set(key + "s", "v") is pipe  # chaining returns the pipeline
    pipe.get(key + "s").incr(key + "n").incrbyfloat(key + "f", 0.5)
    pipe.hset(key + "h", mapping={"a": 1}).hgetall(key + "h")
    pipe.zadd(key + "z", {"m": 2}).zrange(key + "z", 0, -1, withscores=True)
    pipe.get(key + "none").ping()
    assert len(pipe) == 10
    assert pipe.execute() == [True, b"v", 1, 0.5, 1, {b"a": b"1"}, 1, [(b"m", 2.0)], None, True]
    assert len(pipe) == 0  # reset after execute
    assert pipe.execute() == []


def test_transaction_uses_multi_exec(plain_server):
    r = sf.Redis(port=plain_server.port)
    r.ping()
    before = commandstats(plain_server)
    with r.pipeline(transaction=True) as pipe:
        pipe.set("a", 1).incr("a")
        assert pipe.execute() == [True, 2]
    after = commandstats(plain_server)
    assert after.get("multi", 0) == before.get("multi", 0) + 1
    assert after.get("exec", 0) == before.get("exec", 0) + 1
    with r.pipeline(transaction=False) as pipe:
        pipe.set("b", 1).incr("b")
        assert pipe.execute() == [True, 2]
    again = commandstats(plain_server)
    assert again.get("multi", 0) == after.get("multi", 0)
    assert again.get("exec", 0) == after.get("exec", 0)
    assert again["set"] == after["set"] + 1


def test_transaction_is_atomic_for_other_clients(topology, key):
    """Another client never sees the intermediate state of a MULTI/EXEC block."""
    r = sf.Redis(port=topology.master.port)
    other = redis.Redis(port=topology.master.port)
    r.set(key, 0)
    for _ in range(50):
        pipe = r.pipeline(transaction=True)
        pipe.incr(key).incr(key)
        pipe.execute()
        assert int(other.get(key)) % 2 == 0


@pytest.mark.parametrize("transaction", [True, False])
def test_error_inside_pipeline_raises(r, key, transaction):
    pipe = r.pipeline(transaction=transaction)
    pipe.set(key, "a").lpush(key, "x").get(key)
    with pytest.raises(sf_exceptions.ResponseError) as excinfo:
        pipe.execute()
    assert str(excinfo.value) == (
        f"Command # 2 (LPUSH {key} x) of pipeline caused error: "
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    )
    # the other commands ran (this is not a rollback)
    assert r.get(key) == b"a"
    assert r.ping() is True


@pytest.mark.parametrize("transaction", [True, False])
def test_raise_on_error_false_returns_exceptions_in_place(r, key, transaction):
    pipe = r.pipeline(transaction=transaction)
    pipe.set(key, "a").lpush(key, "x").get(key)
    result = pipe.execute(raise_on_error=False)
    assert result[0] is True and result[2] == b"a"
    assert isinstance(result[1], sf_exceptions.ResponseError)
    assert "WRONGTYPE" in str(result[1])


def test_queued_command_error_aborts_transaction(r, key):
    pipe = r.pipeline(transaction=True)
    pipe.set(key, "a").execute_command("NOSUCHCOMMAND").get(key)
    with pytest.raises(sf_exceptions.ResponseError) as excinfo:
        pipe.execute()
    assert str(excinfo.value).startswith("Command # 2 (NOSUCHCOMMAND) of pipeline caused error: unknown command")
    assert r.get(key) is None  # EXECABORT: nothing ran
    assert r.ping() is True


def test_same_as_redis_py_including_errors(topology, key):
    def run(client, k):
        pipe = client.pipeline()
        pipe.set(k, "1").incr(k).lpush(k, "x").hset(k + "h", "f", "v").hgetall(k + "h")
        res = pipe.execute(raise_on_error=False)
        return [(type(x).__name__, str(x)) if isinstance(x, Exception) else x for x in res]

    ours = run(sf.Redis(port=topology.master.port), key + "ours:")
    ref = run(redis.Redis(port=topology.master.port), key + "ref:")
    assert ours == ref
    assert ours[0] is True and ours[1] == 2 and ours[2][0] == "ResponseError"


def test_pipeline_decode_responses(topology, key):
    r = sf.Redis(port=topology.master.port, decode_responses=True)
    pipe = r.pipeline()
    pipe.set(key, "välue").get(key).rpush(key + "l", "a", "b").lrange(key + "l", 0, -1)
    assert pipe.execute() == [True, "välue", 2, ["a", "b"]]


def test_large_pipeline(r, key):
    pipe = r.pipeline(transaction=False)
    for i in range(10000):
        pipe.set(f"{key}{i}", i)
    for i in range(10000):
        pipe.get(f"{key}{i}")
    result = pipe.execute()
    assert result[:10000] == [True] * 10000
    assert result[10000:] == [str(i).encode() for i in range(10000)]


def test_pipeline_on_master_for_client(topology, key):
    master = sf.Sentinel(topology.sentinel_addresses, socket_timeout=2).master_for(topology.service_name)
    with master.pipeline() as pipe:
        pipe.set(key, "x").get(key)
        assert pipe.execute() == [True, b"x"]


# --- the native pipeline (_core.PipelineCore) keeps redis-py's Pipeline state and rules


@pytest.mark.parametrize("transaction", [True, False])
def test_pipeline_state_is_redis_pys(r, key, transaction):
    pipe = r.pipeline(transaction=transaction, shard_hint="hint")
    assert isinstance(pipe, redis.client.Pipeline)
    assert (pipe.transaction, pipe.shard_hint, pipe.watching, pipe.explicit_transaction) == (
        transaction, "hint", False, False)
    assert pipe.command_stack == [] and pipe.scripts == set()
    pipe.set(key, "v").get(key).set(key, "w", ex=100).get(name=key)
    assert pipe.command_stack == [
        (("SET", key, "v"), {}),
        (("GET", key), {}),
        (("SET", key, "w", "EX", 100), {}),
        (("GET", key), {"keys": [key]}),   # redis-py's own method (a keyword argument)
    ]
    assert len(pipe) == 4 and bool(pipe)
    assert pipe.execute(raise_on_error=False) == [True, b"v", True, b"w"]
    assert pipe.command_stack == [] and len(pipe) == 0
    # redis-py's code (and programs) may replace the state
    pipe.command_stack = [(("SET", key, "x"), {})]
    pipe.transaction = not transaction
    assert pipe.execute() == [True]
    assert pipe.transaction == (not transaction)
    with pytest.raises(TypeError):
        pipe.command_stack = ()
    with pytest.raises(TypeError):
        pipe.execute(raise_on_errors=False)


def test_subclass_execute_command_sees_every_command(topology, key):
    seen = []

    class Traced(sf.Redis):
        def execute_command(self, *args, **options):
            seen.append(args)
            return super().execute_command(*args, **options)

    r = Traced(port=topology.master.port)
    assert r.set(key, "v") is True and r.get(key) == b"v"
    assert r.set(key, "w", get=True) == b"v" and r.get(name=key) == b"w"
    assert seen == [("SET", key, "v"), ("GET", key), ("SET", key, "w", "GET"), ("GET", key)]
    r.close()


def test_mget_calls_execute_command_as_redis_pys_method(topology, key):
    """The fast path of mget (one list or tuple) passes what redis-py's method passes:
    the keys, and keys=<a new list of them>; other calls run redis-py's method."""
    def traced(base):
        class Traced(base):
            def execute_command(self, *args, **options):
                if args[0] == "MGET":
                    seen.append((args, dict(options)))
                return super().execute_command(*args, **options)
        return Traced(port=topology.master.port)

    calls = [lambda r: r.mget([key + "a", key + "b"]), lambda r: r.mget((key + "a",)),
             lambda r: r.mget(key + "a", key + "b"), lambda r: r.mget([]),
             lambda r: r.mget(key + "a"), lambda r: r.mget(keys=[key + "b"])]
    outcomes = {}
    for base in (redis.Redis, sf.Redis):
        seen = []
        r = traced(base)
        r.set(key + "a", "1")
        results = [call(r) for call in calls]
        outcomes[base] = (results, seen)
        r.close()
    assert outcomes[sf.Redis] == outcomes[redis.Redis]
    assert outcomes[sf.Redis][0][0] == [b"1", None]

    keys = [key + "a"]
    seen = []
    r = traced(sf.Redis)
    r.mget(keys)
    assert seen[0][1]["keys"] == keys and seen[0][1]["keys"] is not keys
    r.close()
    assert sf.Redis.mget.__wrapped__ is redis.Redis.mget


def test_get_and_set_methods_are_redis_pys(r, key):
    assert sf.Redis.get.__wrapped__ is redis.Redis.get
    assert sf.Redis.set.__doc__ == redis.Redis.set.__doc__
    assert sf.Redis.get.__name__ == "get"
    assert r.set(key, 1) is True and r.get(key) == b"1"
    assert r.set(key, "n", nx=True) is None           # an option: redis-py's method
    assert r.get(key.encode()) == b"1"
    with pytest.raises(TypeError):
        r.get()


def test_transaction_local_reply_and_queueing_error(r, key):
    # mget([]) is answered locally (EMPTY_RESPONSE, never sent); a command refused at
    # queueing time aborts the transaction: its error is raised, not a TypeError
    pipe = r.pipeline(transaction=True)
    pipe.mget([]).set(key, "a").execute_command("SET", key)
    with pytest.raises(sf_exceptions.ResponseError) as raised:
        pipe.execute()
    assert "Command # 3 (SET " in str(raised.value) and "wrong number of arguments" in str(raised.value)
    assert r.get(key) is None
    pipe.mget([]).set(key, "b").get(key)
    assert pipe.execute() == [[], True, b"b"]


def test_transaction_errors_in_place_with_raise_on_error_false(r, key):
    pipe = r.pipeline(transaction=True)
    pipe.set(key, "a").lpush(key, "x").get(key)
    result = pipe.execute(False)
    assert result[0] is True and result[2] == b"a"
    assert isinstance(result[1], sf_exceptions.ResponseError)
    assert "WRONGTYPE" in str(result[1])


def test_watching_pipeline_gives_its_connection_back_when_dropped(topology, key):
    import gc

    r = sf.Redis(port=topology.master.port, max_connections=1)
    pipe = r.pipeline()
    pipe.watch(key)
    assert pipe.watching and pipe.connection is not None
    del pipe
    gc.collect()
    assert r.set(key, "free") is True   # the only connection is back in the pool
    with r.pipeline() as pipe:          # __exit__ gives it back too
        pipe.watch(key)
        pipe.multi()
        pipe.get(key)
    assert pipe.watching is False and pipe.connection is None
    assert r.get(key) == b"free"
    r.close()


def test_scripts_are_loaded_before_execute(r, key):
    script = r.register_script("return redis.call('SET', KEYS[1], ARGV[1])")
    r.script_flush()
    pipe = r.pipeline()
    script(keys=[key], args=["s"], client=pipe)
    assert pipe.scripts == {script}
    assert pipe.execute() == [b"OK"]
    assert pipe.scripts == set() and r.get(key) == b"s"


@pytest.mark.parametrize("transaction", [True, False])
def test_commands_buffered_before_and_after_reading_the_stack(r, key, transaction):
    pipe = r.pipeline(transaction=transaction)
    for round_ in range(3):   # the pipeline is reused: each batch starts empty
        pipe.set(key, round_).get(key)
        assert len(pipe) == 2
        stack = pipe.command_stack          # the commands move into this list ...
        pipe.incr(key)                      # ... and later ones are appended to it
        assert stack is pipe.command_stack and len(stack) == 3 == len(pipe)
        assert stack[2] == (("INCRBY", key, 1), {})
        assert pipe.execute() == [True, str(round_).encode(), round_ + 1]
        pipe.set(key, "x").get(key)
        assert pipe.execute() == [True, b"x"]


def test_malformed_command_stack_is_a_type_error(r, key):
    pipe = r.pipeline(transaction=False)
    pipe.command_stack = [(("SET", key, "v"), {}), ("GET", key)]
    with pytest.raises(TypeError):
        pipe.execute()
    assert len(pipe) == 0                   # reset as after any execute
    assert pipe.set(key, "w").get(key).execute() == [True, b"w"]


def test_commands_with_objects_that_are_not_plain_values(r, key):
    # arguments of other types (the encoder's rules) and options reach the callbacks
    class Name(str):
        pass

    pipe = r.pipeline(transaction=False)
    pipe.set(Name(key), memoryview(b"mv")).get(Name(key))
    pipe.zadd(key + "z", {"m": 1.5}).zrange(key + "z", 0, -1, withscores=True,
                 score_cast_func=lambda s: ("cast", s))
    assert pipe.execute() == [True, b"mv", 1, [(b"m", ("cast", b"1.5"))]]
