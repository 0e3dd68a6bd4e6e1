"""The same application script, once with redis.sentinel.Sentinel and once with sentinelfast's
Sentinel: the results must be identical (values and types)."""

import redis.sentinel
from apps import inventory_app
from sfimpl import sf
from test_commands import assert_same


def test_inventory_app_same_results(topology):
    expected = inventory_app.run(redis.sentinel.Sentinel, topology.sentinel_addresses, topology.service_name)
    got = inventory_app.run(sf.Sentinel, topology.sentinel_addresses, topology.service_name)
    # sanity: the app did real work (these do not depend on the implementation)
    assert expected["hgetall"] == {b"name": b"Apple", b"price": b"0.50", b"stock": b"120"}
    assert expected["transaction"] == [118, 4, 32.0, 1]
    assert expected["error"][0] == "ResponseError"
    assert expected["replica_readonly"] == "ReadOnlyError"
    assert set(got) == set(expected)
    for name in expected:
        assert_same(got[name], expected[name], name)
