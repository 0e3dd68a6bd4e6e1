"""Testing helpers for sentinelfast: a real local Redis Sentinel topology.

``from sentinelfast.testing import Topology`` — see :mod:`sentinelfast.testing.topology`;
test certificates (``openssl`` command): :mod:`sentinelfast.testing.certs`.
This package uses the standard library only (it does not import sentinelfast's C core).
"""

from . import topology
from .topology import (  # noqa: F401  (the public names, listed in topology.__all__)
    Certificates,
    RedisServer,
    RespError,
    Topology,
    TopologyError,
    admin_ssl_context,
    find_free_port,
    ipv6_loopback_available,
    make_certificates,
    resp_command,
)

__all__ = list(topology.__all__)
