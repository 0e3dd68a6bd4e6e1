"""``sentinelfast drill``: a fault drill against a Sentinel-managed service.

    sentinelfast drill --sentinel HOST:PORT [--sentinel ...] --service NAME
                       --scenario planned|hang|kill|sentinel-loss --yes [--duration S] [--png FILE]
    sentinelfast drill --local --scenario ...      (a throwaway local topology; no --yes needed)

A writer (``master_for``) and a reader (``slave_for``) run through the fault; then the four
verifications are reported: (1) the Sentinels logged the failure and the failover, (2) a new
master was elected (every Sentinel names it, the config-epoch advanced), (3) the writes
acknowledged after the switch are on the new master, (4) the replicas follow it (INFO
replication: its address, link up); with the pause, the errors and the acknowledged writes
lost, and a PNG timeline with ``--png`` (needs matplotlib).

Scenarios, with what a client can send:

* planned — SENTINEL FAILOVER;
* hang — DEBUG SLEEP on the master (needs enable-debug-command on the data nodes);
* kill — SHUTDOWN NOSAVE NOW on the master (``--kill-with segfault``: DEBUG SEGFAULT); the old
  master stays down: it must be started again on its host;
* sentinel-loss — SHUTDOWN of one Sentinel, then ``--then`` (planned by default) on the master;
  the Sentinel stays down: it must be started again on its host.

The writer's keys (``sentinelfast:drill:<time>:<n>``) are deleted at the end (``--keep-keys``
keeps them). Exit codes: 0 every verification passed and no acknowledged write was lost; 1
otherwise; 2 the drill could not run (no ``--yes``, nothing reachable, DEBUG refused...).
"""

from __future__ import annotations

import argparse
import logging
import os
import ssl
import sys
import time

from . import EXIT_CANNOT_RUN, EXIT_OK, EXIT_PROBLEM, emit

__all__ = ["register", "run"]

log = logging.getLogger(__name__)

SCENARIO_NAMES = ("planned", "hang", "kill", "sentinel-loss")


def register(subparsers) -> None:
    """Add the ``drill`` subcommand to ``subparsers``."""
    p = subparsers.add_parser(
        "drill",
        help="run a failover drill (planned, hang, kill, sentinel-loss) with a writer and a reader",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--sentinel", metavar="HOST:PORT", action="append", default=[],
                   help="a Sentinel of the deployment (repeat for each)")
    p.add_argument("--service", metavar="NAME", help="the service (master name) the Sentinels monitor")
    p.add_argument("--scenario", choices=SCENARIO_NAMES, required=True, help="the fault to inject")
    p.add_argument("--yes", action="store_true",
                   help="really inject the fault into the deployment (required, except with --local)")
    p.add_argument("--local", action="store_true",
                   help="run on a throwaway local topology (1 master, 2 replicas, 3 Sentinels on loopback; "
                        "needs redis-server); --sentinel, --service and credentials are not used")
    p.add_argument("--duration", metavar="S", type=float, default=3.0,
                   help="seconds of writes before the fault, and again after the failover completed (3)")
    p.add_argument("--timeout", metavar="S", type=float, default=60.0,
                   help="longest wait from the fault to the end of the failover (60)")
    p.add_argument("--png", metavar="FILE", help="draw the timeline there (needs matplotlib)")
    p.add_argument("--then", choices=("planned", "hang", "kill"), default="planned",
                   help="sentinel-loss: the fault on the master once the Sentinel is down (planned)")
    p.add_argument("--hang-seconds", metavar="S", type=float,
                   help="hang: DEBUG SLEEP length (default: 3 x down-after-milliseconds + 5 s)")
    p.add_argument("--kill-with", choices=("shutdown", "segfault"), default="shutdown",
                   help="kill: SHUTDOWN NOSAVE NOW, or DEBUG SEGFAULT (needs enable-debug-command)")
    p.add_argument("--socket-timeout", metavar="S", type=float, default=0.5,
                   help="the client's socket_timeout (0.5)")
    p.add_argument("--keep-keys", action="store_true", help="do not delete the writer's keys at the end")
    creds = p.add_argument_group("credentials and TLS (as the client's keyword arguments)")
    creds.add_argument("--username", help="data nodes: ACL user name")
    creds.add_argument("--password", default=os.environ.get("SENTINELFAST_PASSWORD"),
                       help="data nodes: password (default: $SENTINELFAST_PASSWORD)")
    creds.add_argument("--sentinel-username", help="Sentinels: ACL user name")
    creds.add_argument("--sentinel-password", default=os.environ.get("SENTINELFAST_SENTINEL_PASSWORD"),
                       help="Sentinels: password (default: $SENTINELFAST_SENTINEL_PASSWORD)")
    creds.add_argument("--tls", action="store_true", help="TLS to the Sentinels and the data nodes")
    creds.add_argument("--tls-ca-certs", metavar="FILE", help="CA certificates to verify the servers")
    creds.add_argument("--tls-certfile", metavar="FILE", help="client certificate (mutual TLS)")
    creds.add_argument("--tls-keyfile", metavar="FILE", help="client certificate's key")
    p.set_defaults(func=run)


def _fail(args, message: str) -> int:
    emit(args, {"ok": False, "error": message}, [f"error: {message}"])
    return EXIT_CANNOT_RUN


def _address(text: str):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--sentinel {text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def _connection(args):
    """(client kwargs, sentinel kwargs or None, ssl context or None) from the options."""
    tls = {}
    context = None
    if args.tls or args.tls_ca_certs or args.tls_certfile:
        tls = {"ssl": True}
        if args.tls_ca_certs:
            tls["ssl_ca_certs"] = args.tls_ca_certs
        if args.tls_certfile:
            tls["ssl_certfile"] = args.tls_certfile
            tls["ssl_keyfile"] = args.tls_keyfile
        context = ssl.create_default_context(cafile=args.tls_ca_certs)
        if args.tls_certfile:
            context.load_cert_chain(args.tls_certfile, args.tls_keyfile)
    client = dict(tls)
    if args.password is not None:
        client["password"] = args.password
    if args.username is not None:
        client["username"] = args.username
    sentinel = dict(tls)
    if args.sentinel_password is not None:
        sentinel["password"] = args.sentinel_password
    if args.sentinel_username is not None:
        sentinel["username"] = args.sentinel_username
    return client, (sentinel or None), context


def run(args: argparse.Namespace) -> int:
    """Run ``sentinelfast drill`` (see the module docstring)."""
    from ..ops import drill

    if args.duration < 0 or args.timeout <= 0:
        return _fail(args, "--duration must be >= 0 and --timeout > 0")
    if not args.local:
        if not args.sentinel or not args.service:
            return _fail(args, "--sentinel HOST:PORT (one or more) and --service NAME are required (or --local)")
        if not args.yes:
            return _fail(args, f"this drill injects a real fault into {args.service!r} "
                               f"({drill.SCENARIOS[args.scenario]}); add --yes to run it (or --local for a "
                               "throwaway local topology)")
        try:
            sentinels = [_address(s) for s in args.sentinel]
        except ValueError as e:
            return _fail(args, str(e))
        try:
            client_kwargs, sentinel_kwargs, context = _connection(args)
        except (OSError, ssl.SSLError) as e:
            return _fail(args, f"TLS files: {e}")
        service = args.service
    topology = None
    try:
        if args.local:
            from ..testing import Topology, TopologyError

            topology = Topology(extra_redis_config=["enable-debug-command local"])
            try:
                topology.start()
            except (TopologyError, OSError) as e:
                return _fail(args, f"could not start the local topology: {e}")
            sentinels, service = topology.sentinel_addresses, topology.service_name
            client_kwargs, sentinel_kwargs, context = {}, None, None
        target = drill.RemoteTarget(
            sentinels, service, password=client_kwargs.get("password"), username=client_kwargs.get("username"),
            sentinel_password=(sentinel_kwargs or {}).get("password"),
            sentinel_username=(sentinel_kwargs or {}).get("username"), ssl_context=context,
            hang_seconds=args.hang_seconds, kill_with=args.kill_with, then=args.then)
        return _drill(args, drill, target, client_kwargs, sentinel_kwargs)
    finally:
        if topology is not None:
            topology.stop()


def _drill(args, drill, target, client_kwargs, sentinel_kwargs) -> int:
    from ..exceptions import RedisError
    from ..testing import RespError

    text = not getattr(args, "json", False)
    console = drill.Console(sys.stdout) if text else drill.NullConsole()
    prefix = f"sentinelfast:drill:{int(time.time())}:"
    # The client logs its failover events (logger "sentinelfast"); the drill shows them itself,
    # so without -v they are kept off standard error (Python's last-resort handler).
    quiet = None if getattr(args, "verbose", False) else logging.NullHandler()
    if quiet is not None:
        logging.getLogger("sentinelfast").addHandler(quiet)
    try:
        r = drill.run_on_target(
            target, "sentinelfast", console, fault=args.scenario, before=args.duration, after=args.duration,
            follow_timeout=args.timeout, retry_sleep=0.05, socket_timeout=args.socket_timeout, prefix=prefix,
            wait_convert=True, live=False, reader=True, client_kwargs=client_kwargs,
            sentinel_kwargs=sentinel_kwargs)
    except drill.DrillCannotRun as e:
        return _fail(args, str(e))
    except (RedisError, RespError, OSError) as e:
        return _fail(args, f"{drill.error_name(e)}: {e}")
    finally:
        if quiet is not None:
            logging.getLogger("sentinelfast").removeHandler(quiet)
    checks = drill.verify(target, r, timeout=min(30.0, args.timeout))
    png = png_note = None
    if args.png:
        try:
            drill.plot_timeline([r], args.png)
            png = os.path.abspath(args.png)
        except ImportError:
            png_note = "no timeline: matplotlib is not installed (pip install matplotlib)"
        except OSError as e:
            png_note = f"no timeline: cannot write {args.png}: {e.strerror or e}"
    if not args.keep_keys and r.get("new_master"):
        _delete_keys(target, r["new_master"], prefix, r["acked"], console)
    doc = drill.result_document(r, checks, png=png, png_note=png_note)
    emit(args, doc, [""] + drill.summary_lines(doc))
    return EXIT_OK if doc["ok"] else EXIT_PROBLEM


def _delete_keys(target, master, prefix, count, console) -> None:
    """UNLINK the writer's keys on the master (best effort: a failure is only reported)."""
    try:
        for start in range(0, count, 1000):
            keys = [f"{prefix}{n}" for n in range(start, min(count, start + 1000))]
            target.command(master, "UNLINK", *keys, timeout=10)
    except Exception as e:  # noqa: BLE001 - the keys are only test data; say so and go on
        log.warning("could not delete the drill's keys %s*: %s", prefix, e)
        console.event(f"(could not delete the drill's keys {prefix}*: {e})")
