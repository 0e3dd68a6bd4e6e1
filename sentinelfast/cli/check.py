"""``sentinelfast check``: judge a running Sentinel deployment.

``sentinelfast check --sentinel HOST:PORT [--sentinel ...] --service NAME [--zones FILE]``
reads every Sentinel and every data node of the service and reports each point as pass,
warn, fail or skip (see :mod:`sentinelfast.ops.check` for the points): Sentinels reachable
and agreeing, quorum, master, replicas and their lag, min-replicas-to-write,
down-after-milliseconds against ``--client-socket-timeout``, and with ``--zones`` the loss
of any one zone.

Exit codes: 0 nothing failed (warnings too with ``--strict``), 1 a point failed, 2 no
Sentinel could be asked (or bad arguments).

Credentials and TLS as in the client: ``--username/--password`` for the data nodes,
``--sentinel-username/--sentinel-password`` for the Sentinels (the passwords may come from
the environment: SENTINELFAST_PASSWORD, SENTINELFAST_SENTINEL_PASSWORD), ``--tls`` with
``--tls-ca-cert``, ``--tls-cert``, ``--tls-key`` for both.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Dict, List

from . import EXIT_CANNOT_RUN, EXIT_OK, EXIT_PROBLEM, emit

__all__ = ["register", "run"]


def register(subparsers) -> None:
    """Add the ``check`` subcommand to ``subparsers``."""
    p = subparsers.add_parser(
        "check",
        help="read every Sentinel and node of a service and report what would defeat a failover",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--sentinel", metavar="HOST:PORT", action="append", required=True,
                   help="a Sentinel (repeat for each)")
    p.add_argument("--service", metavar="NAME", required=True, help="the monitored master's name")
    p.add_argument("--zones", metavar="FILE",
                   help="host-to-zone map (JSON/YAML: {\"HOST[:PORT]\": ZONE}, {ZONE: [HOST[:PORT], ...]}, "
                        "or a `sentinelfast conf` topology)")
    p.add_argument("--client-socket-timeout", metavar="SECONDS", type=float,
                   help="the clients' socket_timeout, compared with down-after-milliseconds (0: none)")
    p.add_argument("--max-lag", metavar="SECONDS", type=float, default=10.0,
                   help="the most a replica may lag behind the master (default 10)")
    p.add_argument("--timeout", metavar="SECONDS", type=float, default=1.0,
                   help="socket timeout of each query (default 1)")
    p.add_argument("--strict", action="store_true", help="warnings count as problems (exit 1)")
    auth = p.add_argument_group("credentials")
    auth.add_argument("--username", help="ACL user for the data nodes")
    auth.add_argument("--password", default=os.environ.get("SENTINELFAST_PASSWORD"),
                      help="password for the data nodes (default: $SENTINELFAST_PASSWORD)")
    auth.add_argument("--sentinel-username", help="ACL user for the Sentinels")
    auth.add_argument("--sentinel-password", default=os.environ.get("SENTINELFAST_SENTINEL_PASSWORD"),
                      help="password for the Sentinels (default: $SENTINELFAST_SENTINEL_PASSWORD)")
    tls = p.add_argument_group("TLS (Sentinels and data nodes)")
    tls.add_argument("--tls", action="store_true", help="connect with TLS")
    tls.add_argument("--tls-ca-cert", metavar="FILE", help="CA certificates to verify the servers")
    tls.add_argument("--tls-cert", metavar="FILE", help="client certificate")
    tls.add_argument("--tls-key", metavar="FILE", help="client certificate's key")
    tls.add_argument("--tls-no-verify", action="store_true", help="do not verify the servers' certificates")
    p.set_defaults(func=run)


def _tls_kwargs(args) -> Dict[str, Any]:
    if not (args.tls or args.tls_ca_cert or args.tls_cert):
        return {}
    kwargs: Dict[str, Any] = {"ssl": True}
    if args.tls_ca_cert:
        kwargs["ssl_ca_certs"] = args.tls_ca_cert
    if args.tls_cert:
        kwargs["ssl_certfile"] = args.tls_cert
    if args.tls_key:
        kwargs["ssl_keyfile"] = args.tls_key
    if args.tls_no_verify:
        kwargs.update(ssl_cert_reqs="none", ssl_check_hostname=False)
    return kwargs


def _fail(args, message: str) -> int:
    emit(args, {"ok": False, "error": message}, [f"error: {message}"])
    return EXIT_CANNOT_RUN


_MARKS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}


def run(args: argparse.Namespace) -> int:
    """Run ``sentinelfast check`` (see the module docstring)."""
    from ..ops.check import ZoneMapError, evaluate, load_zone_map, observe, parse_address, worst

    try:
        sentinels = [parse_address(s) for s in args.sentinel]
    except ValueError as e:
        return _fail(args, f"--sentinel {e}")
    zones = None
    if args.zones:
        try:
            zones = load_zone_map(args.zones)
        except ZoneMapError as e:
            return _fail(args, str(e))
    if args.timeout <= 0:
        return _fail(args, "--timeout must be above 0")
    tls = _tls_kwargs(args)
    node_kwargs = dict(tls, username=args.username, password=args.password)
    sentinel_kwargs = dict(tls, username=args.sentinel_username, password=args.sentinel_password)
    try:
        obs = observe(sentinels, args.service, timeout=args.timeout,
                      sentinel_kwargs=sentinel_kwargs, node_kwargs=node_kwargs)
    except (OSError, ValueError) as e:     # a TLS file that cannot be read, a bad key...
        return _fail(args, str(e))
    if not obs.answering:
        reasons = "; ".join(f"{h}:{p}: {v.error}" for v, (h, p) in zip(obs.sentinels, sentinels))
        return _fail(args, f"no Sentinel answered ({reasons})")
    points = evaluate(obs, client_socket_timeout=args.client_socket_timeout, zones=zones,
                      max_lag=args.max_lag)
    status = worst(points)
    problem = status == "fail" or (args.strict and status == "warn")
    lines: List[str] = [f"{_MARKS[p.status]}  {p.name}: {p.message}" for p in points]
    lines.append(f"{args.service}: " + ("problems found" if problem else
                                         "ok" if status != "warn" else "ok, with warnings"))
    emit(args, {"ok": not problem, "service": args.service, "status": status,
                "points": [p.as_dict() for p in points]}, lines)
    return EXIT_PROBLEM if problem else EXIT_OK
