"""Testing helpers for sentinelfast: a real local Redis Sentinel topology.

``from sentinelfast.testing import Topology`` — see :mod:`sentinelfast.testing.topology`.
This package uses the standard library only (it does not import sentinelfast's C core).
"""

from .topology import (
    RedisServer,
    RespError,
    Topology,
    TopologyError,
    find_free_port,
    ipv6_loopback_available,
    resp_command,
)

__all__ = [
    "Topology",
    "RedisServer",
    "TopologyError",
    "RespError",
    "resp_command",
    "find_free_port",
    "ipv6_loopback_available",
]
