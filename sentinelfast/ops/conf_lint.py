"""``sentinelfast conf --lint``: check a redis.conf or sentinel.conf before Redis reads it.

Lines are split as Redis splits them (whitespace-separated arguments, double quotes with
backslash escapes, single quotes, ``#`` comment lines), and each directive is checked against
the table of :mod:`sentinelfast.ops.redis_directives` (derived from ``redis-server`` itself):
unknown directives, wrong argument counts, values of the wrong kind (``yes``/``no``, integers,
memory sizes, enumerations), and in a sentinel.conf the ``sentinel`` sub-directives (the ones a
guide invents, such as ``sentinel master-host``, are rejected) with their argument counts and
numbers. Module parameters (``name.param``) are accepted as Redis accepts them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional

from .redis_directives import MULTI_ARG_DIRECTIVES, NON_CONFIG_DIRECTIVES, SENTINEL_DIRECTIVES, load_directives

__all__ = ["LintProblem", "lint_text", "lint_file", "split_config_line", "ConfigSyntaxError"]

_MEMORY_RE = re.compile(r"-?\d+(?:[kmg]b?)?", re.IGNORECASE)
_INT_RE = re.compile(r"-?\d+")
_HEX = "0123456789abcdefABCDEF"


@dataclass
class LintProblem:
    """One problem found in a configuration file (``line`` counts from 1)."""

    line: int
    directive: str
    message: str

    def as_dict(self) -> dict:
        """The problem as a JSON-ready dict."""
        return {"line": self.line, "directive": self.directive, "message": self.message}

    def __str__(self) -> str:
        return f"line {self.line}: {self.directive}: {self.message}"


class ConfigSyntaxError(ValueError):
    """A configuration line Redis could not split into arguments (unbalanced quotes)."""


def split_config_line(line: str) -> List[str]:
    """Split one configuration line into arguments the way Redis does (``sdssplitargs``):
    whitespace separates arguments; ``"..."`` allows ``\\n \\r \\t \\b \\a \\\\ \\" \\xHH``
    escapes; ``'...'`` allows ``\\'``; a closing quote must be followed by a space or the end.
    Raises :class:`ConfigSyntaxError` for unbalanced quotes."""
    args: List[str] = []
    i, n = 0, len(line)
    escapes = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a"}
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return args
        current = []
        in_dq = in_sq = False
        while True:
            if in_dq:
                if i >= n:
                    raise ConfigSyntaxError("unbalanced double quotes")
                c = line[i]
                if c == "\\" and i + 3 < n and line[i + 1] == "x" and line[i + 2] in _HEX and line[i + 3] in _HEX:
                    current.append(chr(int(line[i + 2 : i + 4], 16)))
                    i += 3
                elif c == "\\" and i + 1 < n:
                    i += 1
                    current.append(escapes.get(line[i], line[i]))
                elif c == '"':
                    if i + 1 < n and not line[i + 1].isspace():
                        raise ConfigSyntaxError("a closing quote must be followed by a space")
                    in_dq = False
                    i += 1
                    break
                else:
                    current.append(c)
            elif in_sq:
                if i >= n:
                    raise ConfigSyntaxError("unbalanced single quotes")
                c = line[i]
                if c == "\\" and i + 1 < n and line[i + 1] == "'":
                    i += 1
                    current.append("'")
                elif c == "'":
                    if i + 1 < n and not line[i + 1].isspace():
                        raise ConfigSyntaxError("a closing quote must be followed by a space")
                    in_sq = False
                    i += 1
                    break
                else:
                    current.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c.isspace():
                    break
                if c == '"':
                    in_dq = True
                elif c == "'":
                    in_sq = True
                else:
                    current.append(c)
            i += 1
        args.append("".join(current))


def _check_value(name: str, spec: dict, value: str) -> Optional[str]:
    kind = spec.get("kind")
    if kind == "bool" and value.lower() not in ("yes", "no"):
        return f"expects yes or no, got {value!r}"
    if kind == "int" and not _INT_RE.fullmatch(value):
        return f"expects an integer, got {value!r}"
    if kind == "memory" and not _MEMORY_RE.fullmatch(value):
        return f"expects a memory size (e.g. 100mb), got {value!r}"
    if kind == "enum":
        words = value.lower().split() if name.startswith("shutdown-on-sig") else [value.lower()]
        bad = [w for w in words if w not in spec["values"]]
        if bad or not words:
            return f"expects one of {', '.join(spec['values'])}, got {value!r}"
    return None


def _check_multi(name: str, args: List[str]) -> Optional[str]:
    low, high, multiple = MULTI_ARG_DIRECTIVES[name]
    if len(args) == 1 and args[0] != "":
        args = args[0].split()  # Redis splits one quoted argument of a multi-argument directive
    if name == "save" and args == [""]:
        return None
    count = len(args)
    if count < low or (high is not None and count > high) or count % multiple:
        want = f"{low}" if high == low else (f"a multiple of {multiple}" if multiple > 1 else f"at least {low}")
        return f"wrong number of arguments ({count}; expects {want})"
    if name == "save" and (count % 2 or not all(_INT_RE.fullmatch(a) for a in args)):
        return 'expects pairs of <seconds> <changes>, or ""'
    if name in ("replicaof", "slaveof") and not (args[0].lower() == "no" and args[1].lower() == "one"):
        if not _INT_RE.fullmatch(args[1]) or not 0 < int(args[1]) < 65536:
            return f"expects <host> <port>, got port {args[1]!r}"
    if name == "oom-score-adj-values" and not all(_INT_RE.fullmatch(a) for a in args):
        return "expects three integers"
    if name == "client-output-buffer-limit":
        for i in range(0, count, 4):
            if args[i].lower() not in ("normal", "replica", "slave", "pubsub"):
                return f"unknown client class {args[i]!r}"
            if not all(_MEMORY_RE.fullmatch(a) for a in args[i + 1 : i + 3]) or not _INT_RE.fullmatch(args[i + 3]):
                return "expects <class> <hard limit> <soft limit> <soft seconds>"
    return None


def _check_sentinel(args: List[str]) -> Optional[str]:
    if not args:
        return None  # a bare "sentinel" line (Redis reads it as: start in Sentinel mode)
    sub = args[0].lower()
    if sub not in SENTINEL_DIRECTIVES:
        return f"unknown Sentinel directive {args[0]!r}"
    rest = args[1:]
    if len(rest) not in SENTINEL_DIRECTIVES[sub]:
        counts = " or ".join(str(c) for c in SENTINEL_DIRECTIVES[sub])
        return f"wrong number of arguments ({len(rest)}; expects {counts})"
    numeric = {
        "monitor": [2, 3],
        "down-after-milliseconds": [1],
        "failover-timeout": [1],
        "parallel-syncs": [1],
        "current-epoch": [0],
        "config-epoch": [1],
        "leader-epoch": [1],
        "announce-port": [0],
        "master-reboot-down-after-period": [1],
    }.get(sub, [])
    for i in numeric:
        if not _INT_RE.fullmatch(rest[i]) or int(rest[i]) < 0:
            return f"expects a non-negative integer, got {rest[i]!r}"
    if sub == "monitor":
        if not 0 < int(rest[2]) < 65536:
            return f"port {rest[2]} out of range"
        if int(rest[3]) < 1:
            return "quorum must be at least 1"
    if sub == "parallel-syncs" and int(rest[1]) < 1:
        return "must be at least 1"
    if sub in ("resolve-hostnames", "announce-hostnames", "deny-scripts-reconfig") and rest[0].lower() not in ("yes", "no"):
        return f"expects yes or no, got {rest[0]!r}"
    return None


def lint_text(text: str, kind: str = "auto") -> List[LintProblem]:
    """Problems in the configuration ``text``. ``kind`` is ``"redis"`` (a data node's file:
    ``sentinel`` lines are errors, as in Redis), ``"sentinel"``, or ``"auto"`` (a file with
    ``sentinel`` lines is a sentinel.conf). Returns ``[]`` for a file Redis would accept."""
    lines = text.split("\n")
    parsed = []
    problems: List[LintProblem] = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip(" \t\r\n")
        if not line or line.startswith("#"):
            continue
        try:
            args = split_config_line(line)
        except ConfigSyntaxError as e:
            problems.append(LintProblem(number, line.split()[0], str(e)))
            continue
        if args:
            parsed.append((number, args))
    if kind == "auto":
        kind = "sentinel" if any(a[0].lower() == "sentinel" for _, a in parsed) else "redis"
    params = load_directives()["parameters"]
    for number, args in parsed:
        name, rest = args[0].lower(), args[1:]
        message = None
        if name in params:
            spec = params[name]
            if name in MULTI_ARG_DIRECTIVES:
                message = _check_multi(name, rest)
            elif len(rest) != 1:
                message = f"wrong number of arguments ({len(rest)}; expects 1)"
            else:
                message = _check_value(name, spec, rest[0])
        elif name == "sentinel":
            if kind != "sentinel" and rest:
                message = "sentinel directive in a redis.conf (Redis refuses it outside Sentinel mode)"
            else:
                message = _check_sentinel(rest)
        elif name in NON_CONFIG_DIRECTIVES:
            low, high = NON_CONFIG_DIRECTIVES[name]
            if len(rest) < low or (high is not None and len(rest) > high):
                message = f"wrong number of arguments ({len(rest)})"
        elif "." in name:
            if not rest:
                message = "module parameter without a value"
        else:
            message = "unknown directive (not known to redis-server %s)" % load_directives()["redis_version"]
        if message:
            shown = f"sentinel {rest[0]}" if name == "sentinel" and rest else args[0]
            problems.append(LintProblem(number, shown, message))
    problems.sort(key=lambda p: p.line)
    return problems


def lint_file(path: str, kind: str = "auto") -> List[LintProblem]:
    """:func:`lint_text` on the file at ``path`` (read as UTF-8, undecodable bytes replaced)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return lint_text(f.read(), kind)
