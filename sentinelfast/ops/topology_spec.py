"""A described Sentinel deployment (the input of ``sentinelfast conf``), read and checked.

The description is JSON (or YAML with PyYAML, the ``ops`` extra). Keys may be written with
``-`` or ``_`` (``down-after-milliseconds`` = ``down_after_milliseconds``)::

    {
      "service": "mymaster",
      "quorum": 2,
      "down_after_milliseconds": 5000,
      "failover_timeout": 60000,
      "parallel_syncs": 1,
      "min_replicas_to_write": 1, "min_replicas_max_lag": 10,
      "auth": {"password": "data-nodes-secret", "user": "app"},
      "sentinel_auth": {"password": "sentinels-secret"},
      "tls": {"cert_file": "/etc/redis/tls/redis.crt", "key_file": "/etc/redis/tls/redis.key",
              "ca_cert_file": "/etc/redis/tls/ca.crt", "auth_clients": "yes"},
      "dir": "/var/lib/redis/{name}",
      "nodes": [
        {"name": "redis-a", "host": "10.0.1.10", "port": 6379, "zone": "AZ-A", "role": "master"},
        {"name": "redis-b", "host": "10.0.2.10", "port": 6379, "zone": "AZ-B", "role": "replica"},
        {"name": "redis-c", "host": "10.0.3.10", "port": 6379, "zone": "AZ-C", "role": "replica",
         "announce_ip": "203.0.113.7", "announce_port": 16379}
      ],
      "sentinels": [
        {"name": "sentinel-a", "host": "10.0.1.10", "port": 26379, "zone": "AZ-A"},
        {"name": "sentinel-b", "host": "10.0.2.10", "port": 26379, "zone": "AZ-B"},
        {"name": "sentinel-c", "host": "10.0.3.10", "port": 26379, "zone": "AZ-C"}
      ]
    }

Per node and Sentinel: ``name`` (unique; the output sub-directory), ``host`` (the address the
others reach it at: ``replicaof`` and ``sentinel monitor`` use it), ``port`` (the TLS port when
``tls`` is set: the plain port is then off), ``zone``, ``bind`` (default: ``host``), ``dir``,
``logfile``, ``pidfile``, ``announce_ip`` / ``announce_port`` (behind NAT: what it tells the
others). Top-level ``dir`` / ``logfile`` / ``pidfile`` are defaults where ``{name}`` and
``{port}`` are replaced.

:func:`check_spec` returns the problems: errors (the deployment cannot work as described: no
or two masters, a quorum above the number of Sentinels, a port used twice on a host...) and
warnings (it works but a failure defeats it: fewer than three Sentinels, a quorum that one
lost Sentinel keeps from being reached, a zone whose loss leaves no Sentinel majority or no
replica to promote, a ``down_after_milliseconds`` of 1000 or less).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Type

# Sentinel PINGs an instance every min(down-after-milliseconds, 1000) ms (sentinel.c); a
# down-after-milliseconds not above it lets the Sentinels fail over again from a master they
# have just promoted (see sentinelfast.ops.check._check_down_after).
SENTINEL_PING_PERIOD_MS = 1000

__all__ = ["TopologySpec", "NodeSpec", "TLSSpec", "Finding", "SpecError", "load_spec", "parse_spec", "check_spec"]


class SpecError(ValueError):
    """The description cannot be read (not JSON/YAML, a missing or mistyped field)."""


@dataclass
class Finding:
    """One result of :func:`check_spec`: ``level`` is ``"error"`` or ``"warning"``."""

    level: str
    message: str

    def as_dict(self) -> dict:
        """The finding as a JSON-ready dict."""
        return {"level": self.level, "message": self.message}


@dataclass
class TLSSpec:
    """TLS for every node and Sentinel (``port`` becomes ``tls-port``, ``port 0``)."""

    cert_file: str
    key_file: str
    ca_cert_file: str
    auth_clients: str = "yes"
    replication: bool = True


@dataclass
class NodeSpec:
    """A data node (``role`` master or replica) or a Sentinel (``role`` sentinel)."""

    name: str
    host: str
    port: int
    role: str
    zone: str = ""
    bind: str = ""
    dir: str = ""
    logfile: str = ""
    pidfile: str = ""
    announce_ip: str = ""
    announce_port: int = 0


@dataclass
class TopologySpec:
    """The whole deployment (see the module docstring for the fields)."""

    service: str
    quorum: int
    nodes: List[NodeSpec]
    sentinels: List[NodeSpec]
    down_after_milliseconds: int = 5000
    failover_timeout: int = 60000
    parallel_syncs: int = 1
    min_replicas_to_write: int = 0
    min_replicas_max_lag: int = 10
    auth_password: str = ""
    auth_user: str = ""
    sentinel_password: str = ""
    sentinel_user: str = ""
    tls: Optional[TLSSpec] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def master(self) -> NodeSpec:
        """The node described as master (the first one if :func:`check_spec` found several)."""
        return [n for n in self.nodes if n.role == "master"][0]


def _norm(mapping: Any, where: str) -> Dict[str, Any]:
    if not isinstance(mapping, dict):
        raise SpecError(f"{where}: expected a mapping, got {type(mapping).__name__}")
    return {str(k).replace("-", "_"): v for k, v in mapping.items()}


def _take(d: Dict[str, Any], key: str, kind, where: str, default=None):
    if key not in d or d[key] is None:
        if default is _REQUIRED:
            raise SpecError(f"{where}: missing {key!r}")
        return default
    value = d.pop(key)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not re.fullmatch(r"-?\d+", str(value)):
            raise SpecError(f"{where}: {key} must be an integer, got {value!r}")
        return int(value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("yes", "true", "1"):
            return True
        if str(value).lower() in ("no", "false", "0"):
            return False
        raise SpecError(f"{where}: {key} must be yes or no, got {value!r}")
    if isinstance(value, (dict, list)):
        raise SpecError(f"{where}: {key} must be a string, got {type(value).__name__}")
    return str(value)


_REQUIRED = object()


def _node(raw: Any, where: str, default_role: Optional[str], defaults: Dict[str, str]) -> NodeSpec:
    d = _norm(raw, where)
    name = _take(d, "name", str, where, _REQUIRED)
    where = f"{where} ({name})"
    node = NodeSpec(
        name=name,
        host=_take(d, "host", str, where, _REQUIRED),
        port=_take(d, "port", int, where, _REQUIRED),
        role=(_take(d, "role", str, where, default_role or _REQUIRED) or "").lower(),
        zone=_take(d, "zone", str, where, ""),
        bind=_take(d, "bind", str, where, ""),
        dir=_take(d, "dir", str, where, ""),
        logfile=_take(d, "logfile", str, where, None),
        pidfile=_take(d, "pidfile", str, where, None),
        announce_ip=_take(d, "announce_ip", str, where, ""),
        announce_port=_take(d, "announce_port", int, where, 0),
    )
    if d:
        raise SpecError(f"{where}: unknown field(s) {', '.join(sorted(d))}")
    node.bind = node.bind or node.host
    for key in ("dir", "logfile", "pidfile"):
        if getattr(node, key) is None or (key == "dir" and not node.dir):
            setattr(node, key, defaults.get(key, "").replace("{name}", node.name).replace("{port}", str(node.port)))
    return node


def parse_spec(data: Any) -> TopologySpec:
    """A :class:`TopologySpec` from decoded JSON/YAML data. Raises :class:`SpecError`."""
    d = _norm(data, "topology")
    defaults = {
        "dir": _take(d, "dir", str, "topology", "/var/lib/redis/{name}"),
        "logfile": _take(d, "logfile", str, "topology", ""),
        "pidfile": _take(d, "pidfile", str, "topology", ""),
    }
    nodes_raw = d.pop("nodes", None)
    sentinels_raw = d.pop("sentinels", None)
    if not isinstance(nodes_raw, list) or not nodes_raw:
        raise SpecError("topology: 'nodes' must be a non-empty list")
    if not isinstance(sentinels_raw, list):
        raise SpecError("topology: 'sentinels' must be a list")
    auth = _norm(d.pop("auth", None) or {}, "auth")
    sauth = _norm(d.pop("sentinel_auth", None) or {}, "sentinel_auth")
    tls_raw = d.pop("tls", None)
    tls = None
    if tls_raw:
        t = _norm(tls_raw, "tls")
        tls = TLSSpec(
            cert_file=_take(t, "cert_file", str, "tls", _REQUIRED),
            key_file=_take(t, "key_file", str, "tls", _REQUIRED),
            ca_cert_file=_take(t, "ca_cert_file", str, "tls", _REQUIRED),
            auth_clients=_take(t, "auth_clients", str, "tls", "yes").lower(),
            replication=_take(t, "replication", bool, "tls", True),
        )
        if t:
            raise SpecError(f"tls: unknown field(s) {', '.join(sorted(t))}")
    spec = TopologySpec(
        service=_take(d, "service", str, "topology", "mymaster"),
        quorum=_take(d, "quorum", int, "topology", _REQUIRED),
        nodes=[_node(n, f"nodes[{i}]", None, defaults) for i, n in enumerate(nodes_raw)],
        sentinels=[_node(s, f"sentinels[{i}]", "sentinel", defaults) for i, s in enumerate(sentinels_raw)],
        down_after_milliseconds=_take(d, "down_after_milliseconds", int, "topology", 5000),
        failover_timeout=_take(d, "failover_timeout", int, "topology", 60000),
        parallel_syncs=_take(d, "parallel_syncs", int, "topology", 1),
        min_replicas_to_write=_take(d, "min_replicas_to_write", int, "topology", 0),
        min_replicas_max_lag=_take(d, "min_replicas_max_lag", int, "topology", 10),
        auth_password=_take(auth, "password", str, "auth", ""),
        auth_user=_take(auth, "user", str, "auth", ""),
        sentinel_password=_take(sauth, "password", str, "sentinel_auth", ""),
        sentinel_user=_take(sauth, "user", str, "sentinel_auth", ""),
        tls=tls,
    )
    for where, rest in (("topology", d), ("auth", auth), ("sentinel_auth", sauth)):
        if rest:
            raise SpecError(f"{where}: unknown field(s) {', '.join(sorted(rest))}")
    return spec


def read_document(path: str, error: Type[Exception], yaml_missing: str) -> Any:
    """The document in ``path``: ``.yaml`` / ``.yml`` with PyYAML, anything else as JSON.
    Every failure raises ``error`` with a message naming the file (``yaml_missing`` when
    the file is YAML and PyYAML is not installed)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise error(f"cannot read {path}: {e.strerror or e}") from None
    if os.path.splitext(path)[1].lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise error(yaml_missing) from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise error(f"{path}: not valid YAML: {e}") from None
    try:
        return json.loads(text)
    except ValueError as e:
        raise error(f"{path}: not valid JSON: {e}") from None


def load_spec(path: str) -> TopologySpec:
    """Read a description from ``path``: ``.yaml`` / ``.yml`` with PyYAML (``pip install
    sentinelfast[ops]``), anything else as JSON. Raises :class:`SpecError`."""
    return parse_spec(read_document(
        path, SpecError,
        "a YAML topology needs PyYAML: pip install 'sentinelfast[ops]' (or write it as JSON)"))


# Characters a value may hold to be written unquoted in redis.conf and survive Sentinel's
# rewrite of its file (which writes auth-pass unquoted): printable ASCII, no space, no quote,
# no backslash.
_PLAIN_VALUE = re.compile(r"[!#-&(-\[\]-~]+")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def check_spec(spec: TopologySpec) -> List[Finding]:
    """The errors and warnings of a described deployment (see the module docstring)."""
    out: List[Finding] = []

    def error(msg):
        out.append(Finding("error", msg))

    def warning(msg):
        out.append(Finding("warning", msg))

    masters = [n for n in spec.nodes if n.role == "master"]
    replicas = [n for n in spec.nodes if n.role == "replica"]
    for n in spec.nodes:
        if n.role not in ("master", "replica"):
            error(f"node {n.name}: role must be master or replica, not {n.role!r}")
    for n in spec.sentinels:
        if n.role != "sentinel":
            error(f"sentinel {n.name}: role must be sentinel (or left out), not {n.role!r}")
    if len(masters) != 1:
        error(f"exactly one node must have role master ({len(masters)} have)")
    names = [n.name for n in spec.nodes + spec.sentinels]
    for name in sorted({x for x in names if names.count(x) > 1}):
        error(f"name {name!r} is used more than once")
    for n in spec.nodes + spec.sentinels:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", n.name):
            error(f"{n.name!r}: a name may hold letters, digits, '.', '_' and '-' only (it names a directory)")
        if not 0 < n.port < 65536:
            error(f"{n.name}: port {n.port} out of range")
        if n.announce_port and not 0 < n.announce_port < 65536:
            error(f"{n.name}: announce_port {n.announce_port} out of range")
        for key in ("host", "bind", "dir", "logfile", "pidfile", "announce_ip"):
            value = getattr(n, key)
            if value and not _PLAIN_VALUE.fullmatch(value.replace(" ", "!") if key == "bind" else value):
                error(f"{n.name}: {key} {value!r} may not hold spaces, quotes or backslashes")
        if not n.dir:
            error(f"{n.name}: no dir")
    seen: Dict[tuple, str] = {}
    for n in spec.nodes + spec.sentinels:
        host_port = (n.host, n.port)
        if host_port in seen:
            error(f"port {n.port} on host {n.host} is used by both {seen[host_port]} and {n.name}")
        seen[host_port] = n.name
    dirs: Dict[tuple, str] = {}
    for n in spec.nodes + spec.sentinels:
        host_dir = (n.host, n.dir)
        if host_dir in dirs:
            error(f"dir {n.dir} on host {n.host} is used by both {dirs[host_dir]} and {n.name}")
        dirs[host_dir] = n.name
    if not _PLAIN_VALUE.fullmatch(spec.service) or not re.fullmatch(r"[A-Za-z0-9_.-]+", spec.service):
        error(f"service name {spec.service!r}: letters, digits, '.', '_' and '-' only")
    for key in ("auth_password", "auth_user", "sentinel_password", "sentinel_user"):
        value = getattr(spec, key)
        if value and not _PLAIN_VALUE.fullmatch(value):
            error(f"{key}: may not hold spaces, quotes or backslashes (Sentinel rewrites its file unquoted)")
    if spec.auth_user and not spec.auth_password:
        error("auth: a user needs a password")
    if spec.sentinel_user and not spec.sentinel_password:
        error("sentinel_auth: a user needs a password")
    if spec.tls:
        for key in ("cert_file", "key_file", "ca_cert_file"):
            if not _PLAIN_VALUE.fullmatch(getattr(spec.tls, key)):
                error(f"tls.{key}: may not hold spaces, quotes or backslashes")
        if spec.tls.auth_clients not in ("yes", "no", "optional"):
            error(f"tls.auth_clients must be yes, no or optional, not {spec.tls.auth_clients!r}")
    for key, low in (("down_after_milliseconds", 1), ("failover_timeout", 1), ("parallel_syncs", 1),
                     ("min_replicas_to_write", 0), ("min_replicas_max_lag", 0)):
        if getattr(spec, key) < low:
            error(f"{key} must be at least {low}, not {getattr(spec, key)}")

    # Sentinels and quorum: the quorum marks the master objectively down; the failover itself
    # must then be authorized by a majority of all the Sentinels.
    n_sentinels = len(spec.sentinels)
    majority = n_sentinels // 2 + 1
    if n_sentinels == 0:
        error("no Sentinels described")
    if spec.quorum < 1:
        error(f"quorum must be at least 1, not {spec.quorum}")
    elif n_sentinels and spec.quorum > n_sentinels:
        error(f"quorum {spec.quorum} is more than the {n_sentinels} Sentinels: the master can never be marked down")
    elif n_sentinels and spec.quorum > majority:
        warning(
            f"quorum {spec.quorum} with {n_sentinels} Sentinels: with {n_sentinels - spec.quorum + 1} Sentinel(s) down "
            f"no failover happens although a majority ({majority}) would be left to authorize it"
        )
    elif n_sentinels and spec.quorum < majority:
        warning(
            f"quorum {spec.quorum} is below the majority ({majority}) of {n_sentinels} Sentinels: fewer Sentinels "
            "can mark the master down than can authorize its failover"
        )
    if 0 < n_sentinels < 3:
        warning(f"{n_sentinels} Sentinel(s): losing one leaves no majority to authorize a failover (use 3 or more)")
    elif n_sentinels and n_sentinels % 2 == 0:
        warning(f"{n_sentinels} Sentinels: an even number tolerates no more failures than {n_sentinels - 1}")
    if spec.min_replicas_to_write > len(replicas):
        error(
            f"min_replicas_to_write {spec.min_replicas_to_write} is more than the {len(replicas)} replicas: "
            "the master would refuse every write"
        )
    elif spec.min_replicas_to_write and spec.min_replicas_to_write == len(replicas):
        warning(
            f"min_replicas_to_write {spec.min_replicas_to_write} equals the number of replicas: "
            "the master refuses writes as soon as one replica is down"
        )
    if not replicas:
        warning("no replicas: there is nothing to promote")
    if spec.failover_timeout < spec.down_after_milliseconds:
        warning("failover_timeout is shorter than down_after_milliseconds")
    if spec.down_after_milliseconds <= SENTINEL_PING_PERIOD_MS:
        warning(f"down_after_milliseconds {spec.down_after_milliseconds} is not above Sentinel's PING "
                f"period ({SENTINEL_PING_PERIOD_MS} ms): right after a failover the Sentinels can judge "
                "the new master down before its first PING reply and fail over again; use more than 1000")

    # Zones: the loss of any one zone must leave a Sentinel majority and a replica to promote.
    zones = sorted({n.zone for n in spec.nodes + spec.sentinels if n.zone})
    if zones and n_sentinels:
        for zone in zones:
            left = [s for s in spec.sentinels if s.zone != zone]
            if len(left) < majority:
                warning(f"losing zone {zone} leaves {len(left)} of {n_sentinels} Sentinels: no majority to fail over")
            if masters and masters[0].zone == zone and not [r for r in replicas if r.zone != zone]:
                warning(f"losing zone {zone} (the master's) leaves no replica in another zone to promote")
    return out


def uses_hostnames(spec: TopologySpec) -> bool:
    """True when a data node is named by a host name (the Sentinels then need
    ``sentinel resolve-hostnames yes``)."""
    return any(not _is_ip(n.announce_ip or n.host) for n in spec.nodes)
