"""The Sentinel-majority policy: Sentinel(require_sentinel_majority=True).

A client that reaches fewer than a majority of the Sentinels for longer than
down-after-milliseconds may be on the minority side of a partition, writing to a master the
others are replacing. With the policy on, its master commands wait (the hold timeout), then
fail with ConnectionError, and nothing reaches the master; when a majority is back, writes go
on. Off (the default), writes go on as with redis-py. Two of the three Sentinels are
SIGSTOPped here (a Sentinel that stops answering looks the same to the client as one behind a
partition); tests/test_partitions.py cuts real links in network namespaces.
"""
import time

import pytest
from redis.backoff import NoBackoff
from redis.retry import Retry

import sentinelfast as sf
from sentinelfast.exceptions import ConnectionError

WAIT = 60.0


def _wait(predicate, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("policy", [True, False], ids=["policy-on", "policy-off"])
def test_writes_without_a_sentinel_majority(fresh_topology, policy):
    topo = fresh_topology
    sentinel = sf.Sentinel(topo.sentinel_addresses, sentinel_kwargs=topo.sentinel_kwargs(),
                           socket_timeout=0.5, require_sentinel_majority=policy,
                           **topo.client_kwargs())
    events = []
    sentinel.add_event_listener(events.append)
    # one attempt per command: the hold's wait, then the error (no retry budget on top)
    client = sentinel.master_for(topo.service_name, retry=Retry(NoBackoff(), 0))
    service = topo.service_name
    paused = topo.sentinels[:2]
    try:
        assert client.set("majority:k", "before") is True
        _wait(lambda: all(s["up"] for s in sentinel.stats()["monitor"]["sentinels"]),
              "every Sentinel link up")
        for s in paused:
            s.pause()
        if policy:
            _wait(lambda: sentinel.stats()["services"][service]["sentinel_majority_lost"],
                  f"the monitor to see the majority lost: {events}")
            with pytest.raises(ConnectionError, match="majority of the Sentinels"):
                client.set("majority:k", "while-cut-off")
            assert topo.master.command("GET", "majority:k") == b"before"
            assert any(e.kind == "sentinels-unreachable" for e in events), events
        else:
            _wait(lambda: sum(s["up"] for s in sentinel.stats()["monitor"]["sentinels"]) == 1,
                  "two Sentinel links down")
            assert client.set("majority:k", "while-cut-off") is True
            assert topo.master.command("GET", "majority:k") == b"while-cut-off"
            assert sentinel.stats()["services"][service]["sentinel_majority_lost"] is False
        for s in paused:
            s.resume()
        _wait(lambda: not sentinel.stats()["services"][service]["sentinel_majority_lost"],
              "the majority back")
        _wait(lambda: _writes(client), "writes to go through again")
        assert topo.master.command("GET", "majority:k") == b"after"
        if policy:
            assert any(e.kind == "sentinels-reachable" for e in events), events
    finally:
        for s in paused:
            s.resume()
        sentinel.close()


def _writes(client):
    try:
        return client.set("majority:k", "after") is True
    except ConnectionError:
        return False


def test_asyncio_writes_fail_without_a_sentinel_majority_when_the_policy_is_on(fresh_topology):
    import asyncio

    import sentinelfast.asyncio as sfa
    from redis.asyncio.retry import Retry as AsyncRetry

    topo = fresh_topology
    service = topo.service_name
    paused = topo.sentinels[:2]

    async def main():
        sentinel = sfa.Sentinel(topo.sentinel_addresses, sentinel_kwargs=topo.sentinel_kwargs(),
                                socket_timeout=0.5, require_sentinel_majority=True,
                                **topo.client_kwargs())
        client = sentinel.master_for(service, retry=AsyncRetry(NoBackoff(), 0))
        try:
            assert await client.set("amajority:k", "before") is True
            monitor = sentinel._failover_monitor()
            for s in paused:
                s.pause()
            deadline = time.monotonic() + WAIT
            while not monitor.service(service).state()["sentinel_majority_lost"]:
                assert time.monotonic() < deadline, "the majority was never found lost"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.1)        # the event reaches the pool's loop
            with pytest.raises(ConnectionError, match="majority of the Sentinels"):
                await client.set("amajority:k", "while-cut-off")
            assert topo.master.command("GET", "amajority:k") == b"before"
            for s in paused:
                s.resume()
            deadline = time.monotonic() + WAIT
            while True:
                try:
                    if await client.set("amajority:k", "after") is True:
                        break
                except ConnectionError:
                    pass
                assert time.monotonic() < deadline, "writes never went through again"
                await asyncio.sleep(0.1)
            assert topo.master.command("GET", "amajority:k") == b"after"
        finally:
            await client.aclose()

    try:
        asyncio.run(main())
    finally:
        for s in paused:
            s.resume()
