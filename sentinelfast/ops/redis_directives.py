"""The configuration directives Redis knows, as data for the linter.

``redis_directives.json`` (beside this file) is derived from a ``redis-server`` binary by
:func:`derive_from_server`: a throwaway server on a free loopback port answers ``CONFIG GET *``
(every directive name, aliases included, with its current value), and each directive's value
kind is learned by offering it a value that no kind accepts (``CONFIG SET name <bad>``): the
error names the kind (``'yes' or 'no'``, ``memory value``, ``integer``) and, for an enumeration,
lists the accepted words. Immutable directives cannot be probed; their kinds come from their
default values and from :data:`IMMUTABLE_KINDS`.

What ``CONFIG GET`` cannot tell is written here as facts about Redis's configuration file
reader (Redis 7): the directives that are not configuration parameters (``include``,
``rename-command``, ``user``, ``loadmodule``, ``sentinel``), those that take several arguments,
and the ``sentinel`` sub-directives with their argument counts.

Regenerate after a Redis upgrade::

    python -m sentinelfast.ops.redis_directives [--redis-server PATH] > sentinelfast/ops/redis_directives.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Dict, Optional

__all__ = ["load_directives", "derive_from_server", "SENTINEL_DIRECTIVES", "NON_CONFIG_DIRECTIVES"]

DATA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "redis_directives.json")

#: Directives read by the configuration file reader that are not configuration parameters:
#: name -> (minimum, maximum) argument count (None: no maximum).
NON_CONFIG_DIRECTIVES: Dict[str, tuple] = {
    "include": (1, 1),
    "rename-command": (2, 2),
    "user": (1, None),
    "loadmodule": (1, None),
    # Accepted and ignored by Redis 7 (kept for old files).
    "list-max-ziplist-entries": (1, 1),
    "list-max-ziplist-value": (1, 1),
    "lua-replicate-commands": (1, 1),
}

#: Parameters that take several arguments: name -> (minimum, maximum, multiple-of).
MULTI_ARG_DIRECTIVES: Dict[str, tuple] = {
    "save": (1, None, 1),  # save "" or pairs of <seconds> <changes>
    "client-output-buffer-limit": (4, None, 4),
    "oom-score-adj-values": (3, 3, 1),
    "bind": (1, None, 1),
    "replicaof": (2, 2, 1),
    "slaveof": (2, 2, 1),
    "latency-tracking-info-percentiles": (1, None, 1),
    "shutdown-on-sigint": (1, None, 1),
    "shutdown-on-sigterm": (1, None, 1),
}

#: ``sentinel <sub-directive> ...`` in sentinel.conf: sub-directive -> allowed argument counts
#: (after the sub-directive), from Redis's Sentinel configuration reader.
SENTINEL_DIRECTIVES: Dict[str, tuple] = {
    "monitor": (4,),  # <name> <host> <port> <quorum>
    "down-after-milliseconds": (2,),
    "failover-timeout": (2,),
    "parallel-syncs": (2,),
    "notification-script": (2,),
    "client-reconfig-script": (2,),
    "auth-pass": (2,),
    "auth-user": (2,),
    "current-epoch": (1,),
    "myid": (1,),
    "config-epoch": (2,),
    "leader-epoch": (2,),
    "known-slave": (3,),
    "known-replica": (3,),
    "known-sentinel": (3, 4),
    "rename-command": (3,),
    "announce-ip": (1,),
    "announce-port": (1,),
    "deny-scripts-reconfig": (1,),
    "sentinel-user": (1,),
    "sentinel-pass": (1,),
    "resolve-hostnames": (1,),
    "announce-hostnames": (1,),
    "master-reboot-down-after-period": (2,),
}

#: Kinds of immutable parameters whose default value does not tell them (Redis 7 enumerations).
IMMUTABLE_KINDS: Dict[str, dict] = {
    "supervised": {"kind": "enum", "values": ["upstart", "systemd", "auto", "no"]},
    "syslog-facility": {
        "kind": "enum",
        "values": ["user"] + [f"local{i}" for i in range(8)],
    },
    "enable-protected-configs": {"kind": "enum", "values": ["no", "yes", "local"]},
    "enable-debug-command": {"kind": "enum", "values": ["no", "yes", "local"]},
    "enable-module-command": {"kind": "enum", "values": ["no", "yes", "local"]},
}

_BAD_VALUE = "\x01sentinelfast-probe\x01"


def _encode(*args: str) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        data = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _read(f):
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed by redis-server")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RuntimeError(rest.decode(errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode(errors="replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read(f) for _ in range(n)]
    raise ConnectionError(f"unexpected reply {line!r}")


def _classify(name: str, value: str, error: Optional[str]) -> dict:
    """The kind of one parameter from its value and the error its probe got (None: accepted)."""
    if name in MULTI_ARG_DIRECTIVES:
        return {"kind": "multi"}
    if error is not None:
        m = re.search(r"must be one of the following: (.*)$", error)
        if m:
            return {"kind": "enum", "values": [v.strip() for v in m.group(1).split(",")]}
        if "'yes' or 'no'" in error:
            return {"kind": "bool"}
        if "memory value" in error:
            return {"kind": "memory"}
        if "integer" in error or "must be between" in error:
            return {"kind": "int"}
    if name in IMMUTABLE_KINDS:
        return dict(IMMUTABLE_KINDS[name])
    if error is not None and "immutable" in error:
        if value in ("yes", "no"):
            return {"kind": "bool"}
        if re.fullmatch(r"-?\d+", value):
            return {"kind": "int"}
    return {"kind": "string"}


def derive_from_server(executable: str = "redis-server", timeout: float = 10.0) -> dict:
    """Start ``executable`` on a free loopback port in a temporary directory, learn every
    configuration parameter's name and kind (see the module docstring), stop it and return
    the table (the content of ``redis_directives.json``)."""
    workdir = tempfile.mkdtemp(prefix="sentinelfast-directives-")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", "",
         "--appendonly", "no", "--logfile", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{executable} did not start on port {port}")
                time.sleep(0.05)
        with sock, sock.makefile("rb") as f:
            def command(*args):
                sock.sendall(_encode(*args))
                return _read(f)

            info = command("INFO", "server")
            version = re.search(r"redis_version:(\S+)", info).group(1)  # type: ignore[union-attr]
            reply = command("CONFIG", "GET", "*")
            values = dict(zip(reply[::2], reply[1::2]))
            params = {}
            for name in sorted(values):
                error = None
                if name not in MULTI_ARG_DIRECTIVES:
                    result = command("CONFIG", "SET", name, _BAD_VALUE)
                    if isinstance(result, RuntimeError):
                        error = str(result)
                    else:  # a free string: put the old value back
                        command("CONFIG", "SET", name, values[name])
                params[name] = _classify(name, values[name], error)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    return {"redis_version": version, "parameters": params}


_loaded: Optional[dict] = None


def load_directives() -> dict:
    """The shipped table (``redis_directives.json``): ``{"redis_version", "parameters"}``."""
    global _loaded
    if _loaded is None:
        with open(DATA_FILE, encoding="utf-8") as f:
            _loaded = json.load(f)
    return _loaded


def main(argv=None) -> int:
    """Print the table derived from a redis-server binary as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-server", default="redis-server", help="the binary to ask")
    args = parser.parse_args(argv)
    json.dump(derive_from_server(args.redis_server), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
