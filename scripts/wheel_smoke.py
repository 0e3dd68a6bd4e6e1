"""Smoke test of an installed sentinelfast (run by scripts/wheels in a fresh virtualenv).

Starts a small topology (a master, a replica, 3 Sentinels on free loopback ports) with
sentinelfast.testing, then through Sentinel.master_for / slave_for: PING, SET, GET, a
planned failover followed by the same client, and the read on the new master. Exits
non-zero (with the reason) on any failure; prints one line on success.
"""
import sys
import time

import sentinelfast
from sentinelfast.testing import Topology


def main() -> int:
    with Topology(num_replicas=1, num_sentinels=3, quorum=2) as topology:
        sentinel = sentinelfast.Sentinel(topology.sentinel_addresses, socket_timeout=1.0)
        try:
            master = sentinel.master_for(topology.service_name)
            assert master.ping() is True
            assert master.set("smoke", "1") is True
            assert master.get("smoke") == b"1"
            replica = sentinel.slave_for(topology.service_name)
            assert replica.ping() is True
            old = sentinel.discover_master(topology.service_name)
            new = topology.failover()
            assert new != old, (old, new)
            deadline = time.monotonic() + 30
            while sentinel.discover_master(topology.service_name) != new:
                assert time.monotonic() < deadline, "the Sentinels never named the new master"
                time.sleep(0.1)
            assert master.set("smoke", "2") is True     # the same client, on the new master
            assert master.get("smoke") == b"2"
            assert master.connection_pool.get_master_address() == new
        finally:
            sentinel.close()
    print(f"sentinelfast {sentinelfast.__version__} on Python {sys.version.split()[0]}: "
          f"master_for PING/SET/GET and a failover {old[1]} -> {new[1]}: ok", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
