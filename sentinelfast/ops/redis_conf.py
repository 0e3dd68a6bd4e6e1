"""redis.conf / sentinel.conf files from a :class:`~sentinelfast.ops.topology_spec.TopologySpec`.

The files come from the templates in ``templates/`` (``redis.conf.j2``, ``sentinel.conf.j2``),
the same files the Ansible role (``deploy/ansible``) gives to Ansible's ``template`` module.
They are written in a small subset of Jinja2 that :func:`render_template` renders here without
Jinja2, with the whitespace rules of Ansible's ``template`` module (``trim_blocks``: the newline
after a ``{% ... %}`` tag is dropped):

* ``{{ sf.key }}`` — a value of the context (``None`` prints as an empty string);
* ``{% if [not] sf.key %}`` ... ``{% elif [not] sf.key %}`` ... ``{% else %}`` ... ``{% endif %}``
  (a value is true when it is not empty, not 0 and not false).

Each template sees one variable, ``sf``: the context of one node (:func:`node_context`) or of
one Sentinel (:func:`sentinel_context`).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Dict, List, Tuple

from .topology_spec import NodeSpec, TopologySpec, uses_hostnames

__all__ = ["TEMPLATE_DIR", "render_template", "node_context", "sentinel_context", "render_all", "write_configs"]

log = logging.getLogger(__name__)

#: Where the templates are (also used by deploy/ansible through a symbolic link).
TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")

_TOKEN = re.compile(r"\{\{\s*(.*?)\s*\}\}|\{%\s*(.*?)\s*%\}\n?", re.S)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


class TemplateError(ValueError):
    """A template uses something outside the supported subset, or a missing variable."""


def _lookup(context: dict, dotted: str):
    if not _NAME.fullmatch(dotted):
        raise TemplateError(f"unsupported expression {dotted!r}")
    value = context
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise TemplateError(f"undefined variable {dotted!r}")
        value = value[part]
    return value


def _condition(context: dict, expr: str) -> bool:
    negate = expr.startswith("not ")
    value = _lookup(context, expr[4:].strip() if negate else expr)
    truth = value not in (None, "", 0, False)
    return not truth if negate else truth


def render_template(text: str, context: dict) -> str:
    """Render ``text`` (the subset of Jinja2 described in the module docstring) with ``context``."""
    out: List[str] = []
    # Stack of (this branch is active, a branch of this if was already taken, parent active).
    stack: List[Tuple[bool, bool, bool]] = []
    active = True
    pos = 0
    for m in _TOKEN.finditer(text):
        if active:
            out.append(text[pos : m.start()])
        pos = m.end()
        expr, tag = m.group(1), m.group(2)
        if expr is not None:
            if active:
                value = _lookup(context, expr)
                out.append("" if value is None else str(value))
            continue
        word, _, rest = tag.partition(" ")
        rest = rest.strip()
        if word == "if":
            taken = active and _condition(context, rest)
            stack.append((taken, taken, active))
            active = taken
        elif word in ("elif", "else"):
            if not stack:
                raise TemplateError(f"{{% {word} %}} without if")
            _, done, parent = stack.pop()
            taken = parent and not done and (word == "else" or _condition(context, rest))
            stack.append((taken, done or taken, parent))
            active = taken
        elif word == "endif":
            if not stack:
                raise TemplateError("{% endif %} without if")
            active = stack.pop()[2]
        else:
            raise TemplateError(f"unsupported tag {tag!r}")
    if stack:
        raise TemplateError("{% if %} without {% endif %}")
    out.append(text[pos:])
    return "".join(out)


def _read_template(name: str) -> str:
    with open(os.path.join(TEMPLATE_DIR, name), encoding="utf-8") as f:
        return f.read()


def _common(spec: TopologySpec, node: NodeSpec) -> Dict[str, object]:
    tls = spec.tls
    return {
        "name": node.name,
        "service": spec.service,
        "zone": node.zone or "-",
        "bind": node.bind,
        "port": node.port,
        "tls": bool(tls),
        "tls_cert_file": tls.cert_file if tls else "",
        "tls_key_file": tls.key_file if tls else "",
        "tls_ca_cert_file": tls.ca_cert_file if tls else "",
        "tls_auth_clients": tls.auth_clients if tls else "",
        "tls_replication": ("yes" if tls.replication else "no") if tls else "",
        "dir": node.dir,
        "logfile": node.logfile,
        "pidfile": node.pidfile,
        "announce_ip": node.announce_ip,
        "announce_port": node.announce_port or "",
        "auth_user": spec.auth_user,
        "auth_password": spec.auth_password,
    }


def node_context(spec: TopologySpec, node: NodeSpec) -> Dict[str, object]:
    """The ``sf`` variable of ``redis.conf.j2`` for the data node ``node``."""
    ctx = _common(spec, node)
    master = spec.master
    ctx.update(
        role=node.role,
        replicaof="" if node.role == "master" else f"{master.host} {master.port}",
        # Protected mode refuses other hosts when the default user has no password.
        protected_mode="yes" if spec.auth_password and not spec.auth_user else "no",
        min_replicas_to_write=spec.min_replicas_to_write,
        min_replicas_max_lag=spec.min_replicas_max_lag,
    )
    return ctx


def sentinel_context(spec: TopologySpec, node: NodeSpec) -> Dict[str, object]:
    """The ``sf`` variable of ``sentinel.conf.j2`` for the Sentinel ``node``."""
    ctx = _common(spec, node)
    master = spec.master
    ctx.update(
        role="sentinel",
        protected_mode="yes" if spec.sentinel_password and not spec.sentinel_user else "no",
        sentinel_user=spec.sentinel_user,
        sentinel_password=spec.sentinel_password,
        resolve_hostnames=uses_hostnames(spec),
        monitor_host=master.host,
        monitor_port=master.port,
        quorum=spec.quorum,
        down_after_milliseconds=spec.down_after_milliseconds,
        failover_timeout=spec.failover_timeout,
        parallel_syncs=spec.parallel_syncs,
    )
    return ctx


def render_all(spec: TopologySpec) -> Dict[str, str]:
    """Every file of the deployment: ``{"<name>/redis.conf" or "<name>/sentinel.conf": text}``.
    The spec must have passed :func:`~sentinelfast.ops.topology_spec.check_spec` without errors."""
    redis_t = _read_template("redis.conf.j2")
    sentinel_t = _read_template("sentinel.conf.j2")
    files = {}
    for node in spec.nodes:
        files[f"{node.name}/redis.conf"] = render_template(redis_t, {"sf": node_context(spec, node)})
    for node in spec.sentinels:
        files[f"{node.name}/sentinel.conf"] = render_template(sentinel_t, {"sf": sentinel_context(spec, node)})
    return files


def write_configs(spec: TopologySpec, out_dir: str) -> List[str]:
    """Write :func:`render_all` under ``out_dir`` (one sub-directory per node and Sentinel, files
    mode 0640: they may hold passwords) and return the paths written."""
    paths = []
    for rel, text in render_all(spec).items():
        path = os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        log.info("wrote %s", path)
        paths.append(path)
    return paths
