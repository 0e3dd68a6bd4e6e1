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
