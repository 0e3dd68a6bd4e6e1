"""Testing helpers for sentinelfast: a real local Redis Sentinel topology.

``from sentinelfast.testing import Topology`` — see :mod:`sentinelfast.testing.topology`.
This package uses the standard library only (it does not import sentinelfast's C core).
"""

from . import topology
from .topology import (  # noqa: F401  (the public names, listed in topology.__all__)
    RedisServer,
    RespError,
    Topology,
    TopologyError,
    find_free_port,
    ipv6_loopback_available,
    resp_command,
)

__all__ = list(topology.__all__)
