"""``sentinelfast check``: read a live Sentinel deployment and judge it.

Two steps, kept apart so that the judgement can be read (and tested) without servers:

* :func:`observe` asks every Sentinel given (``SENTINEL MASTER``, ``SENTINEL REPLICAS``,
  ``SENTINEL SENTINELS``, ``INFO sentinel``) and every data node they name (``ROLE``,
  ``INFO replication``, ``CONFIG GET min-replicas-*``), through sentinelfast clients with
  no retries, and returns an :class:`Observation`;
* :func:`evaluate` turns an observation into :class:`Point` s, each ``pass``, ``warn``,
  ``fail`` or ``skip`` (not judged: the option it needs was not given).

The points, by name:

``sentinels``
    every Sentinel given answers, knows the service, is not in TILT mode, and none of the
    Sentinels they know of is down;
``agreement``
    the Sentinels name the same master and the same config-epoch;
``quorum``
    the quorum against the number of Sentinels: a failover needs ``quorum`` Sentinels to
    agree the master is down and a majority of all Sentinels to authorize it, so
    ``max(quorum, majority)`` must stay reachable;
``master``
    the master answers and says it is a master;
``replicas``
    each replica answers, follows the master with its link up, is not flagged down by
    Sentinel, and lags by at most ``max_lag`` seconds; at least one exists;
``min-replicas``
    the master's ``min-replicas-to-write`` against its replicas online;
``down-after``
    ``down-after-milliseconds`` against the clients' socket timeout, and against Sentinel's
    own PING period (a value of 1000 or less lets the Sentinels fail over a second time
    from a master they have just promoted, see :func:`_check_down_after`);
``zones``
    with a host-to-zone map, whether losing any one zone leaves ``max(quorum, majority)``
    Sentinels and, when the lost zone holds the master, a replica to promote.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .topology_spec import SENTINEL_PING_PERIOD_MS, read_document

__all__ = [
    "Address", "Point", "SentinelView", "NodeView", "Observation", "ZoneMapError",
    "observe", "evaluate", "load_zone_map", "parse_address", "STATUSES",
]

logger = logging.getLogger(__name__)

Address = Tuple[str, int]

#: The statuses of a point, from good to bad ("skip": not judged).
STATUSES = ("pass", "skip", "warn", "fail")


def parse_address(text: str) -> Address:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as ``(host, port)``; ValueError if malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"{text!r}: the port is not a number") from None
    if not 1 <= number <= 65535:
        raise ValueError(f"{text!r}: the port is not in 1-65535")
    return host, number


def _fmt(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class Point:
    """One judged point: ``name``, ``status`` (see :data:`STATUSES`), a sentence saying
    why, and the figures it is based on."""

    name: str
    status: str
    message: str
    details: Dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> Dict[str, Any]:
        """The point as plain data (for ``--json``)."""
        return asdict(self)


@dataclass
class SentinelView:
    """What one Sentinel answered (``error`` set when it could not be asked)."""

    address: Address
    error: Optional[str] = None
    master: Optional[Dict[str, Any]] = None          # SENTINEL MASTER, parsed; None: unknown service
    replicas: List[Dict[str, Any]] = field(default_factory=list)
    sentinels: List[Dict[str, Any]] = field(default_factory=list)
    info: Dict[str, Any] = field(default_factory=dict)
    myid: Optional[str] = None                       # SENTINEL MYID (to know itself in others' lists)

    @property
    def master_address(self) -> Optional[Address]:
        """The master this Sentinel names, or None."""
        if not self.master:
            return None
        return str(self.master.get("ip")), int(self.master.get("port", 0))


@dataclass
class NodeView:
    """What one data node answered."""

    address: Address
    error: Optional[str] = None
    role: List[Any] = field(default_factory=list)
    replication: Dict[str, Any] = field(default_factory=dict)
    config: Dict[str, str] = field(default_factory=dict)
    config_error: Optional[str] = None


@dataclass
class Observation:
    """Everything :func:`observe` learned."""

    service: str
    sentinels: List[SentinelView]
    master: Optional[NodeView] = None
    replicas: List[NodeView] = field(default_factory=list)

    @property
    def answering(self) -> List[SentinelView]:
        """The Sentinels that answered."""
        return [s for s in self.sentinels if s.error is None]


# --------------------------------------------------------------------------------------------
# Observation


def _client(address: Address, timeout: float, kwargs: Dict[str, Any]):
    from ..client import Redis

    return Redis(address[0], address[1], socket_timeout=timeout, socket_connect_timeout=timeout,
                 retry=None, decode_responses=True, **kwargs)


def _error_text(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"


def _ask_sentinel(address: Address, service: str, timeout: float,
                  kwargs: Dict[str, Any]) -> SentinelView:
    from redis.exceptions import RedisError, ResponseError

    view = SentinelView(address)
    client = _client(address, timeout, kwargs)
    try:
        try:
            view.master = client.sentinel_master(service)
        except ResponseError as e:
            if "no such master" not in str(e).lower():
                raise
            view.master = None
        if view.master is not None:
            view.replicas = list(client.sentinel_slaves(service))
            view.sentinels = list(client.sentinel_sentinels(service))
        view.info = client.info("sentinel")
        try:
            myid = client.execute_command("SENTINEL", "MYID")
            view.myid = myid.decode() if isinstance(myid, bytes) else str(myid)
        except ResponseError:    # before Redis 6.2: matched by address only
            view.myid = None
    except (RedisError, OSError, ValueError) as e:
        view.error = _error_text(e)
        logger.info("Sentinel %s: %s", _fmt(address), view.error)
    finally:
        client.close()
    return view


def _ask_node(address: Address, timeout: float, kwargs: Dict[str, Any]) -> NodeView:
    from redis.exceptions import RedisError

    view = NodeView(address)
    client = _client(address, timeout, kwargs)
    try:
        view.role = list(client.execute_command("ROLE"))
        view.replication = client.info("replication")
        try:
            for name in ("min-replicas-to-write", "min-replicas-max-lag"):
                view.config.update(client.config_get(name))
        except RedisError as e:   # CONFIG refused (ACL) or renamed: said in the point
            view.config_error = _error_text(e)
    except (RedisError, OSError, ValueError) as e:
        view.error = _error_text(e)
        logger.info("node %s: %s", _fmt(address), view.error)
    finally:
        client.close()
    return view


def observe(sentinels: Sequence[Address], service: str, *, timeout: float = 1.0,
            sentinel_kwargs: Optional[Dict[str, Any]] = None,
            node_kwargs: Optional[Dict[str, Any]] = None) -> Observation:
    """Ask every Sentinel in ``sentinels`` about ``service``, then the master and replicas
    named by the first Sentinel that knows it (each query once, ``timeout`` seconds at most;
    ``sentinel_kwargs`` / ``node_kwargs`` are client keywords: credentials, ``ssl_*``)."""
    views = [_ask_sentinel(a, service, timeout, dict(sentinel_kwargs or {})) for a in sentinels]
    obs = Observation(service, views)
    knowing = [v for v in views if v.master is not None]
    if not knowing:
        return obs
    # The master most Sentinels name (the first one's on a tie) and its replicas.
    names: Dict[Address, int] = {}
    for v in knowing:
        names[v.master_address] = names.get(v.master_address, 0) + 1  # type: ignore[index, arg-type]
    master = max(names, key=lambda a: (names[a], -[v.master_address for v in knowing].index(a)))
    source = next(v for v in knowing if v.master_address == master)
    obs.master = _ask_node(master, timeout, dict(node_kwargs or {}))
    for r in source.replicas:
        obs.replicas.append(_ask_node((str(r.get("ip")), int(r.get("port", 0))), timeout,
                                      dict(node_kwargs or {})))
    return obs


# --------------------------------------------------------------------------------------------
# Zones


class ZoneMapError(ValueError):
    """The zone map cannot be read."""


def load_zone_map(path: str) -> Dict[str, str]:
    """Read a host-to-zone map: JSON (or YAML with PyYAML), either
    ``{"HOST[:PORT]": "ZONE", ...}``, ``{"ZONE": ["HOST[:PORT]", ...], ...}``, or a
    ``sentinelfast conf`` topology description (its nodes' and Sentinels' ``zone``).
    Keys are ``host:port`` or ``host`` (a host's every port)."""
    data = read_document(path, ZoneMapError,
                         "a YAML zone map needs PyYAML: pip install 'sentinelfast[ops]'")
    if not isinstance(data, dict) or not data:
        raise ZoneMapError(f"{path}: expected a mapping of hosts to zones")
    if "nodes" in data and "sentinels" in data:
        from .topology_spec import SpecError, parse_spec

        try:
            spec = parse_spec(data)
        except SpecError as e:
            raise ZoneMapError(f"{path}: {e}") from None
        zones = {}
        for n in list(spec.nodes) + list(spec.sentinels):
            if n.zone:
                zones[f"{n.host}:{n.port}"] = n.zone
        if not zones:
            raise ZoneMapError(f"{path}: no node or Sentinel has a zone")
        return zones
    zones: Dict[str, str] = {}  # type: ignore[no-redef]
    for key, value in data.items():
        if isinstance(value, list):          # zone -> hosts
            for host in value:
                if not isinstance(host, str):
                    raise ZoneMapError(f"{path}: zone {key!r}: {host!r} is not a host")
                zones[_norm_key(host)] = str(key)
        elif isinstance(value, str):         # host -> zone
            zones[_norm_key(str(key))] = value
        else:
            raise ZoneMapError(f"{path}: {key!r}: expected a zone name or a list of hosts")
    return zones


def _norm_key(text: str) -> str:
    text = text.strip()
    try:
        return _fmt(parse_address(text))
    except ValueError:
        return text.strip("[]")


def zone_of(zones: Dict[str, str], address: Address) -> Optional[str]:
    """The zone of ``address`` in ``zones`` (``host:port`` first, then ``host``)."""
    return zones.get(_fmt(address)) or zones.get(address[0])


# --------------------------------------------------------------------------------------------
# Judgement


def _majority(n: int) -> int:
    return n // 2 + 1


def _flags(d: Dict[str, Any]) -> set:
    flags = d.get("flags", "")
    if isinstance(flags, str):
        return set(flags.split(","))
    return set(flags)


def _other_sentinels(obs: Observation) -> Dict[Address, set]:
    """The Sentinels the given ones know of and that were not given (matched by run id,
    else by address), with their flags as the first Sentinel listing them sees them."""
    given_ids = {v.myid for v in obs.sentinels if v.myid}
    given = {v.address for v in obs.sentinels}
    others: Dict[Address, set] = {}
    for v in obs.answering:
        for peer in v.sentinels:
            a = (str(peer.get("ip")), int(peer.get("port", 0)))
            if peer.get("runid") in given_ids or a in given:
                continue
            others.setdefault(a, _flags(peer))
    return others


_DOWN_FLAGS = {"s_down", "o_down", "disconnected"}


def _known_sentinel_addresses(obs: Observation) -> List[Address]:
    """Every Sentinel of the service: those given and those they know of."""
    return [v.address for v in obs.sentinels] + list(_other_sentinels(obs))


def _sentinel_count(obs: Observation) -> int:
    return len(_known_sentinel_addresses(obs))


def _check_sentinels(obs: Observation) -> Point:
    problems, warnings = [], []
    for v in obs.sentinels:
        if v.error is not None:
            problems.append(f"{_fmt(v.address)} did not answer ({v.error})")
        elif v.master is None:
            problems.append(f"{_fmt(v.address)} does not monitor {obs.service!r}")
        elif str(v.info.get("sentinel_tilt", "0")) == "1":
            warnings.append(f"{_fmt(v.address)} is in TILT mode (it takes no action)")
    down = sorted(a for a, flags in _other_sentinels(obs).items() if flags & _DOWN_FLAGS)
    for a in down:
        problems.append(f"{_fmt(a)} is down for the other Sentinels")
    details = {"given": len(obs.sentinels), "answering": len(obs.answering),
               "total": _sentinel_count(obs), "down": [_fmt(a) for a in down]}
    if problems:
        return Point("sentinels", "fail", "; ".join(problems + warnings), details)
    if warnings:
        return Point("sentinels", "warn", "; ".join(warnings), details)
    return Point("sentinels", "pass",
                 f"{len(obs.sentinels)} Sentinel(s) answer and know {obs.service!r}", details)


def _check_agreement(obs: Observation) -> Point:
    knowing = [v for v in obs.answering if v.master is not None]
    if not knowing:
        return Point("agreement", "fail", f"no Sentinel knows {obs.service!r}")
    masters = {_fmt(v.master_address) for v in knowing}  # type: ignore[arg-type]
    epochs = {int(v.master.get("config-epoch", 0)) for v in knowing}  # type: ignore[union-attr]
    details = {"masters": {_fmt(v.address): _fmt(v.master_address) for v in knowing},  # type: ignore[arg-type]
               "config_epochs": {_fmt(v.address): int(v.master.get("config-epoch", 0)) for v in knowing}}  # type: ignore[union-attr]
    if len(masters) > 1:
        return Point("agreement", "fail",
                     "the Sentinels name different masters: " + ", ".join(
                         f"{s} says {m}" for s, m in details["masters"].items()), details)  # type: ignore[attr-defined]
    if len(epochs) > 1:
        return Point("agreement", "fail",
                     f"the Sentinels agree on {masters.pop()} but not on the config-epoch "
                     f"({sorted(epochs)}): a failover is under way or a Sentinel is cut off", details)
    return Point("agreement", "pass",
                 f"{len(knowing)} Sentinel(s) agree: master {masters.pop()}, config-epoch {epochs.pop()}",
                 details)


def _quorum(obs: Observation) -> Optional[int]:
    quorums = [int(v.master.get("quorum", 0)) for v in obs.answering if v.master is not None]
    return max(quorums) if quorums else None


def _check_quorum(obs: Observation) -> Point:
    quorum = _quorum(obs)
    if quorum is None:
        return Point("quorum", "fail", f"no Sentinel knows {obs.service!r}")
    total = _sentinel_count(obs)
    majority = _majority(total)
    needed = max(quorum, majority)
    up = len(_healthy_sentinels(obs))
    details = {"quorum": quorum, "sentinels": total, "majority": majority, "needed": needed,
               "up": up, "tolerated_losses": max(total - needed, 0)}
    if quorum > total:
        return Point("quorum", "fail", f"quorum {quorum} is above the {total} Sentinel(s): "
                     "the master can never be agreed down, no failover will happen", details)
    if up < needed:
        return Point("quorum", "fail", f"only {up} of {total} Sentinel(s) are up; a failover "
                     f"needs {needed} (quorum {quorum}, majority {majority})", details)
    if total > 1 and needed >= total:
        return Point("quorum", "fail", f"quorum {quorum} with {total} Sentinels: losing any one "
                     f"Sentinel stops failovers (a failover needs {needed})", details)
    if total < 3:
        return Point("quorum", "warn", f"{total} Sentinel(s): fewer than 3 cannot keep a "
                     "majority when one is lost", details)
    return Point("quorum", "pass", f"quorum {quorum}, {total} Sentinels: a failover needs {needed}, "
                 f"{total - needed} Sentinel(s) can be lost", details)


def _healthy_sentinels(obs: Observation) -> set:
    """Sentinels given that answered, and the others that their peers do not see down."""
    healthy = {v.address for v in obs.answering if v.master is not None}
    healthy.update(a for a, flags in _other_sentinels(obs).items() if not flags & _DOWN_FLAGS)
    return healthy


def _check_master(obs: Observation) -> Point:
    node = obs.master
    if node is None:
        return Point("master", "fail", f"no Sentinel names a master for {obs.service!r}")
    where = _fmt(node.address)
    if node.error is not None:
        return Point("master", "fail", f"the master {where} did not answer ({node.error})",
                     {"address": where})
    role = str(node.role[0]) if node.role else "?"
    if role != "master":
        return Point("master", "fail", f"{where}, named master by Sentinel, says it is a {role}",
                     {"address": where, "role": role})
    return Point("master", "pass", f"{where} answers as master", {"address": where})


def _master_replica_lag(obs: Observation) -> Dict[Address, Dict[str, Any]]:
    """The master's INFO replication lines about its replicas (``slaveN``), by address."""
    out = {}  # type: ignore[var-annotated]
    if obs.master is None or obs.master.error is not None:
        return out
    for key, value in obs.master.replication.items():
        if key.startswith("slave") and key[5:].isdigit() and isinstance(value, dict):
            out[(str(value.get("ip")), int(value.get("port", 0)))] = value
    return out


def _check_replicas(obs: Observation, max_lag: float) -> Point:
    knowing = [v for v in obs.answering if v.master is not None]
    if not knowing or obs.master is None:
        return Point("replicas", "fail", "no master known, replicas not checked")
    master = obs.master.address
    source = next(v for v in knowing if v.master_address == master)
    flags = {(str(r.get("ip")), int(r.get("port", 0))): _flags(r) for r in source.replicas}
    master_lines = _master_replica_lag(obs)
    problems, rows = [], []
    for node in obs.replicas:
        where = _fmt(node.address)
        row: Dict[str, Any] = {"address": where}
        rows.append(row)
        f = flags.get(node.address, set())
        if f & {"s_down", "o_down", "disconnected"}:
            problems.append(f"{where} is down for Sentinel ({','.join(sorted(f))})")
        if node.error is not None:
            problems.append(f"{where} did not answer ({node.error})")
            row["ok"] = False
            continue
        role = list(node.role)
        if not role or role[0] != "slave":
            problems.append(f"{where} says it is a {role[0] if role else '?'}, not a replica")
        else:
            following = (str(role[1]), int(role[2]))
            state = str(role[3])
            row.update(following=_fmt(following), state=state)
            if following != master and not _same_host_port(following, master):
                problems.append(f"{where} follows {_fmt(following)}, not the master {_fmt(master)}")
            elif state != "connected":
                problems.append(f"{where}: replication link is {state}")
        line = master_lines.get(node.address)
        if line is None:
            line = next((l for a, l in master_lines.items() if a[1] == node.address[1]), None)
        if line is not None:
            lag = int(line.get("lag", 0))
            row["lag_seconds"] = lag
            if lag > max_lag:
                problems.append(f"{where} lags {lag} s behind the master (limit {max_lag:g} s)")
        elif obs.master.error is None:
            problems.append(f"the master does not list {where} among its replicas")
        row["ok"] = not any(p.startswith(where) for p in problems)
    details = {"replicas": rows, "max_lag_seconds": max_lag}
    if not obs.replicas:
        return Point("replicas", "fail", "the master has no replica: nothing to promote", details)
    if problems:
        return Point("replicas", "fail", "; ".join(problems), details)
    return Point("replicas", "pass", f"{len(obs.replicas)} replica(s) online, lag at most "
                 f"{max((r.get('lag_seconds', 0) for r in rows), default=0)} s", details)


def _same_host_port(a: Address, b: Address) -> bool:
    local = {"127.0.0.1", "localhost", "::1"}
    return a[1] == b[1] and a[0] in local and b[0] in local


def _check_min_replicas(obs: Observation, replicas_point: Point) -> Point:
    node = obs.master
    if node is None or node.error is not None:
        return Point("min-replicas", "fail", "the master did not answer, not checked")
    if node.config_error is not None or "min-replicas-to-write" not in node.config:
        return Point("min-replicas", "warn",
                     f"could not read the master's min-replicas-* ({node.config_error or 'no value'})")
    to_write = int(node.config.get("min-replicas-to-write", 0))
    max_lag = int(node.config.get("min-replicas-max-lag", 10))
    good = int(obs.master.replication.get("min_slaves_good_slaves",  # type: ignore[union-attr]
                                         sum(1 for r in replicas_point.details.get("replicas", [])
                                             if r.get("ok"))))
    total = len(obs.replicas)
    details = {"min_replicas_to_write": to_write, "min_replicas_max_lag": max_lag,
               "good_replicas": good, "replicas": total}
    if to_write == 0:
        return Point("min-replicas", "warn", "min-replicas-to-write is 0: a master cut off from "
                     "its replicas keeps accepting writes that the failover will discard", details)
    if good < to_write:
        return Point("min-replicas", "fail", f"min-replicas-to-write {to_write} but {good} replica(s) "
                     "in step: the master refuses writes", details)
    if to_write >= total:
        return Point("min-replicas", "warn", f"min-replicas-to-write {to_write} with {total} "
                     "replica(s): losing one replica stops writes", details)
    return Point("min-replicas", "pass", f"min-replicas-to-write {to_write} (max lag {max_lag} s), "
                 f"{good} replica(s) in step", details)


def _check_down_after(obs: Observation, client_socket_timeout: Optional[float]) -> Point:
    """``down-after-milliseconds`` against the clients' socket timeout and Sentinel's PING period.

    At a switch Sentinel resets its link to the new master, and sends the first PING one PING
    period later, min(down-after-milliseconds, 1000) ms. With down-after-milliseconds 1000 or
    less that is also the moment the master has gone down-after-milliseconds without a reply:
    the Sentinel flags the master it has just promoted subjectively down in the same tick,
    until the reply comes. Sentinels that switched together do so together, agree it is down,
    and fail over again (seen in this project's drills: a second pause, a second Pub/Sub gap).
    """
    values = sorted({int(v.master.get("down-after-milliseconds", 0))
                     for v in obs.answering if v.master is not None})
    if not values:
        return Point("down-after", "fail", f"no Sentinel knows {obs.service!r}")
    details: Dict[str, Any] = {"down_after_ms": values, "client_socket_timeout": client_socket_timeout}
    if len(values) > 1:
        return Point("down-after", "warn", f"the Sentinels use different down-after-milliseconds: "
                     f"{values}", details)
    down_after = values[0]
    warnings = []
    if down_after <= SENTINEL_PING_PERIOD_MS:
        warnings.append(f"down-after-milliseconds {down_after} is not above Sentinel's PING "
                        f"period ({SENTINEL_PING_PERIOD_MS} ms): right after a failover the "
                        "Sentinels can judge the new master down before its first PING reply "
                        "and fail over again; use more than 1000")
    if client_socket_timeout is not None and client_socket_timeout <= 0:
        return Point("down-after", "fail", "clients without a socket timeout wait forever on a "
                     "hung master, whatever Sentinel decides", details)
    if client_socket_timeout is not None and client_socket_timeout * 1000 >= down_after:
        warnings.append(f"client socket timeout {client_socket_timeout:g} s is not below "
                        f"down-after-milliseconds {down_after}: a command on a hung master "
                        "waits past the moment Sentinel declares it down")
    if warnings:
        return Point("down-after", "warn", "; ".join(warnings), details)
    if client_socket_timeout is None:
        return Point("down-after", "skip", f"down-after-milliseconds {down_after}; give "
                     "--client-socket-timeout to compare it with the clients'", details)
    return Point("down-after", "pass", f"client socket timeout {client_socket_timeout:g} s is below "
                 f"down-after-milliseconds {down_after}", details)


def _check_zones(obs: Observation, zones: Optional[Dict[str, str]]) -> Point:
    if zones is None:
        return Point("zones", "skip", "give --zones FILE to check the loss of a zone")
    quorum = _quorum(obs)
    if quorum is None or obs.master is None:
        return Point("zones", "fail", f"no Sentinel knows {obs.service!r}")
    sentinels = _known_sentinel_addresses(obs)
    total = len(sentinels)
    needed = max(quorum, _majority(total))
    placed: Dict[str, Optional[str]] = {}
    for a in sentinels:
        placed[_fmt(a)] = zone_of(zones, a)
    master_zone = zone_of(zones, obs.master.address)
    replica_zones = {_fmt(r.address): zone_of(zones, r.address) for r in obs.replicas}
    unplaced = [k for k, z in list(placed.items()) + list(replica_zones.items())
                + [(_fmt(obs.master.address), master_zone)] if z is None]
    details: Dict[str, Any] = {"sentinels": placed, "master": {_fmt(obs.master.address): master_zone},
                               "replicas": replica_zones, "needed": needed, "losses": {}}
    if unplaced:
        return Point("zones", "fail", "no zone for " + ", ".join(unplaced), details)
    problems = []
    all_zones = sorted(set(placed.values()) | {master_zone} | set(replica_zones.values()))  # type: ignore[type-var]
    for zone in all_zones:
        left = sum(1 for z in placed.values() if z != zone)
        promotable = [a for a, z in replica_zones.items() if z != zone]
        details["losses"][zone] = {"sentinels_left": left, "replicas_left": len(promotable)}
        if left < needed:
            problems.append(f"losing {zone} leaves {left} of {total} Sentinels (a failover needs {needed})")
        if zone == master_zone and not promotable:
            problems.append(f"losing {zone} loses the master and leaves no replica to promote")
    if len(all_zones) < 2:
        problems.append(f"everything is in one zone ({all_zones[0]})")
    if problems:
        return Point("zones", "fail", "; ".join(problems), details)
    return Point("zones", "pass", f"losing any one of {len(all_zones)} zones leaves a Sentinel "
                 "majority and a replica to promote", details)


def evaluate(obs: Observation, *, client_socket_timeout: Optional[float] = None,
             zones: Optional[Dict[str, str]] = None, max_lag: float = 10.0) -> List[Point]:
    """The points (see the module docstring) for an observation."""
    replicas = _check_replicas(obs, max_lag)
    return [
        _check_sentinels(obs),
        _check_agreement(obs),
        _check_quorum(obs),
        _check_master(obs),
        replicas,
        _check_min_replicas(obs, replicas),
        _check_down_after(obs, client_socket_timeout),
        _check_zones(obs, zones),
    ]


def worst(points: Iterable[Point]) -> str:
    """The worst status among ``points`` ("pass" when there is none)."""
    return max((p.status for p in points), key=STATUSES.index, default="pass")
