"""A real Redis Sentinel topology on the loopback interface.

:class:`Topology` starts one master, ``num_replicas`` replicas and ``num_sentinels``
Sentinels (``redis-server <conf> --sentinel``), each ``redis-server`` process in
its own temporary directory with its own configuration file, on free loopback
ports. It is used by the test suite, by the README's demo and by the benchmarks::

    from sentinelfast.testing import Topology

    with Topology() as topo:
        sentinel = Sentinel(topo.sentinel_addresses, socket_timeout=0.5)
        master = sentinel.master_for(topo.service_name)
        master.set("k", "v")
        topo.failover()          # SENTINEL FAILOVER, waits for the switch

:class:`RedisServer` is a single ``redis-server`` process; it can also be used
on its own (for example a server with ``requirepass`` or ACL users).

This module depends on the Python standard library only. It talks to the
servers with a minimal RESP2 helper (:func:`resp_command`), never with
redis-py or sentinelfast, so that it can check the clients under test.

TLS and authentication: ``Topology(tls=True)`` runs every server and Sentinel on TLS only
(``port 0``, ``tls-port``, mutual TLS required, ``tls-replication yes``) with certificates made by
:func:`sentinelfast.testing.certs.make_certificates`; ``Topology(password=...,
sentinel_password=...)`` protects the data nodes and the Sentinels. The admin helper speaks TLS
(Python's :mod:`ssl`) and authenticates by itself; :meth:`Topology.client_kwargs` and
:meth:`Topology.sentinel_kwargs` give what a client needs::

    with Topology(tls=True, password="pw", sentinel_password="spw") as topo:
        sentinel = Sentinel(topo.sentinel_addresses, sentinel_kwargs=topo.sentinel_kwargs(),
                            **topo.client_kwargs())

Every process started here is killed and its directory removed by
``stop()``; an :mod:`atexit` hook does the same for anything still running at
interpreter exit, and on Linux each server also gets ``PR_SET_PDEATHSIG``
(SIGKILL) so that it dies with the thread that started it even if the Python
process is killed with SIGKILL.
"""

from __future__ import annotations

import atexit
import collections
import ctypes
import ctypes.util
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import weakref
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, cast

try:
    from .certs import Certificates, make_certificates
except ImportError:  # loaded from its file without its package (tests/conftest.py, SF_TEST_IMPL=redis)
    import importlib.util as _importlib_util
    import sys as _sys

    _certs_spec = _importlib_util.spec_from_file_location(
        "_sf_testing_certs", os.path.join(os.path.dirname(os.path.abspath(__file__)), "certs.py")
    )
    assert _certs_spec is not None and _certs_spec.loader is not None
    _certs = _importlib_util.module_from_spec(_certs_spec)
    _sys.modules[_certs_spec.name] = _certs
    _certs_spec.loader.exec_module(_certs)
    Certificates, make_certificates = _certs.Certificates, _certs.make_certificates  # type: ignore[misc]

__all__ = [
    "Topology",
    "RedisServer",
    "TopologyError",
    "RespError",
    "resp_command",
    "admin_ssl_context",
    "Certificates",
    "make_certificates",
    "find_free_port",
    "ipv6_loopback_available",
]

log = logging.getLogger(__name__)

Address = Tuple[str, int]

#: How many bytes of a server's log are included in error messages.
LOG_TAIL_BYTES = 4000


class TopologyError(RuntimeError):
    """A server could not be started, or the topology did not reach the expected state in time."""


class RespError(Exception):
    """An error reply (``-ERR ...``) read by :func:`resp_command`."""


# --------------------------------------------------------------------------------------------
# Minimal RESP2 client
# --------------------------------------------------------------------------------------------


def _encode_command(args: Sequence[object]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, (int, float)) and not isinstance(arg, bool):
            data = repr(arg).encode()
        else:
            raise TypeError(f"resp_command: unsupported argument type {type(arg).__name__}")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _read_reply(f):
    line = f.readline()
    if not line or not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed by server")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        return RespError(rest.decode(errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        if len(data) != n + 2:
            raise ConnectionError("connection closed by server")
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [_read_reply(f) for _ in range(n)]
    raise ConnectionError(f"unexpected RESP reply: {line!r}")


def admin_ssl_context(certs: Certificates) -> ssl.SSLContext:
    """The TLS context of the admin helper: trusts ``certs.ca_cert``, presents the client
    certificate (mutual TLS), and does not check host names (the admin helper must also reach
    servers that present ``wrong_host_cert``)."""
    context = ssl.create_default_context(cafile=certs.ca_cert)
    context.check_hostname = False
    context.load_cert_chain(certs.client_cert, certs.client_key)
    return context


def resp_command(
    address: Address,
    *args: object,
    timeout: float = 1.0,
    ssl_context: Optional[ssl.SSLContext] = None,
    password: Optional[str] = None,
    username: Optional[str] = None,
):
    """Send one command to ``address`` on a fresh connection and return the decoded RESP2 reply.

    Replies are ``bytes`` (simple and bulk strings), ``int``, ``list`` or ``None``.
    An error reply raises :class:`RespError`; network problems raise :class:`OSError`
    (``socket.timeout`` / ``ConnectionError``; TLS failures are ``ssl.SSLError``, an OSError).
    With ``ssl_context`` the connection is TLS; with ``password`` (and ``username``) an ``AUTH``
    is sent first on the same connection (its error reply raises :class:`RespError`).
    """
    host, port = address
    with socket.create_connection((host, port), timeout=timeout) as raw:
        raw.settimeout(timeout)
        sock = ssl_context.wrap_socket(raw, server_hostname=host) if ssl_context is not None else raw
        try:
            payload = _encode_command(args)
            if password is not None:
                auth = ("AUTH", username, password) if username is not None else ("AUTH", password)
                payload = _encode_command(auth) + payload
            sock.sendall(payload)
            with sock.makefile("rb") as f:
                if password is not None:
                    auth_reply = _read_reply(f)
                    if isinstance(auth_reply, RespError):
                        raise auth_reply
                reply = _read_reply(f)
        finally:
            if sock is not raw:
                sock.close()
    if isinstance(reply, RespError):
        raise reply
    return reply


def _quote(value: str) -> str:
    """``value`` as one argument of a redis.conf line (double quotes, escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pairs(reply) -> dict:
    """Turn a flat ``[k1, v1, k2, v2, ...]`` reply into a ``{str: str}`` dict."""
    it = iter(reply or [])
    return {k.decode(): (v.decode() if isinstance(v, bytes) else v) for k, v in zip(it, it)}


def _info(address: Address, section: str = "replication", timeout: float = 1.0, **conn) -> dict:
    text = resp_command(address, "INFO", section, timeout=timeout, **conn).decode()
    result = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, _, v = line.partition(":")
            result[k] = v
    return result


# --------------------------------------------------------------------------------------------
# Ports and process helpers
# --------------------------------------------------------------------------------------------

_ports_lock = threading.Lock()
_ports_in_use: set = set()


def ipv6_loopback_available() -> bool:
    """True when a socket can be bound to ``::1`` on this machine."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def _port_free(port: int, host: str, also_ipv6: bool) -> bool:
    families = [(socket.AF_INET, host)]
    if also_ipv6:
        families.append((socket.AF_INET6, "::1"))
    for family, h in families:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.bind((h, port))
        except OSError:
            return False
    return True


def find_free_port(host: str = "127.0.0.1", also_ipv6: bool = False) -> int:
    """Return a TCP port that is currently free on ``host`` (and on ``::1`` if ``also_ipv6``).

    The port is found by binding port 0 and releasing it; ports handed out to servers
    of this process that are still running are never returned twice. The port may still
    be taken by someone else before it is used: :meth:`RedisServer.start` retries with
    another port when the server reports ``Address already in use``.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        with _ports_lock:
            if port in _ports_in_use:
                continue
            if not _port_free(port, host, also_ipv6):
                continue
            _ports_in_use.add(port)
            return port
    raise TopologyError("could not find a free TCP port")


def _release_port(port: Optional[int]) -> None:
    with _ports_lock:
        _ports_in_use.discard(port)


_PR_SET_PDEATHSIG = 1
_libc = None
if hasattr(os, "getppid") and os.uname().sysname == "Linux":  # pragma: no branch
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:  # pragma: no cover
        _libc = None


def _make_preexec(parent_pid: int):
    def preexec():  # runs in the child between fork and exec
        if _libc is not None:
            _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent_pid:  # parent already gone
                os._exit(1)

    return preexec


def _process_state(pid: int) -> Optional[str]:
    """One-letter state from /proc/<pid>/stat ('R', 'S', 'T', 'Z', ...) or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return data[data.rindex(b")") + 2 :].split()[0].decode()
    except (OSError, ValueError, IndexError):
        return None


# Everything started by this process; cleaned up at exit (in the process that started it only).
_live_servers: "weakref.WeakSet[RedisServer]" = weakref.WeakSet()
_live_lock = threading.Lock()
# Certificate directories of running TLS topologies -> the pid that made them (removed at exit by it).
_live_dirs: dict = {}


def _cleanup_at_exit() -> None:
    with _live_lock:
        servers = list(_live_servers)
        dirs = [path for path, pid in _live_dirs.items() if pid == os.getpid()]
        _live_dirs.clear()
    for server in servers:
        try:
            server.stop()
        except Exception:  # pragma: no cover - best effort at exit
            log.exception("atexit: could not stop %r", server)
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)


atexit.register(_cleanup_at_exit)


# --------------------------------------------------------------------------------------------
# One redis-server process
# --------------------------------------------------------------------------------------------


class RedisServer:
    """One ``redis-server`` process in its own temporary directory with its own config file.

    ``role`` is a free label (``"master"``, ``"replica"``, ``"sentinel"``, ``"standalone"``);
    ``sentinel=True`` starts the process with ``--sentinel``. ``config`` lines are written
    to ``redis.conf`` after the lines this class manages (``port``, ``bind``, ``dir``...).
    ``port=None`` picks a free port (and another one if the chosen port turns out to be in use).

    The config file is written once, at the first successful start: :meth:`restart` reuses
    it as it is (Sentinel rewrites the configuration of the nodes it reconfigures and its own).

    ``tls`` (a :class:`Certificates`) makes the server TLS-only: ``port 0``, ``tls-port`` on
    :attr:`port`, ``tls-auth-clients yes`` (clients must present a certificate signed by
    ``tls.ca_cert``) and ``tls-replication yes`` (replication, and for a Sentinel its links to the
    nodes and to the other Sentinels, use TLS too). It presents ``tls.server_cert`` unless
    ``tls_cert_file`` / ``tls_key_file`` name another pair (e.g. ``tls.wrong_host_cert``).
    ``password`` / ``username`` are the credentials :meth:`command` and :meth:`info` send
    (``AUTH``) before each command; they do not configure the server (put ``requirepass`` or
    ``user`` lines in ``config``).
    """

    def __init__(
        self,
        role: str = "standalone",
        config: Iterable[str] = (),
        *,
        host: str = "127.0.0.1",
        port: Optional[int] = None,
        sentinel: bool = False,
        ipv6: Optional[bool] = None,
        executable: str = "redis-server",
        name: Optional[str] = None,
        kill_on_parent_death: bool = True,
        tls: Optional[Certificates] = None,
        tls_cert_file: Optional[str] = None,
        tls_key_file: Optional[str] = None,
        password: Optional[str] = None,
        username: Optional[str] = None,
    ) -> None:
        self.role = role
        self.host = host
        self.sentinel = sentinel
        self.ipv6 = ipv6_loopback_available() if ipv6 is None else ipv6
        self.executable = executable
        self.name = name or role
        self.kill_on_parent_death = kill_on_parent_death
        self._config = list(config)
        self._fixed_port = port is not None
        self.port: Optional[int] = port
        self.dir: Optional[str] = None
        self.config_path: Optional[str] = None
        self.log_path: Optional[str] = None
        self.paused = False
        self._proc: Optional[subprocess.Popen] = None
        self._owner_pid = os.getpid()
        self._config_written = False
        #: The certificates of a TLS-only server, or None.
        self.tls = tls
        self.tls_cert_file = tls_cert_file or (tls.server_cert if tls else None)
        self.tls_key_file = tls_key_file or (tls.server_key if tls else None)
        #: Credentials the admin helper (:meth:`command`) authenticates with.
        self.password = password
        self.username = username
        self._ssl_context: Optional[ssl.SSLContext] = None

    # -- public properties -------------------------------------------------------------------

    @property
    def address(self) -> Address:
        """``(host, port)`` of this server (the port is chosen by :meth:`start` when not given)."""
        return (self.host, cast(int, self.port))

    @property
    def pid(self) -> Optional[int]:
        """Process id of the running server, or None when it is not running."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def __repr__(self) -> str:
        state = "paused" if self.paused else ("alive" if self.is_alive() else "stopped")
        return f"<RedisServer {self.name} {self.host}:{self.port} pid={self.pid} {state}>"

    # -- lifecycle ---------------------------------------------------------------------------

    def _write_config(self) -> None:
        binds = [self.host] + (["-::1"] if self.ipv6 and self.host in ("127.0.0.1", "localhost") else [])
        if self.tls is not None:
            ports = [
                "port 0",
                f"tls-port {self.port}",
                f'tls-cert-file "{self.tls_cert_file}"',
                f'tls-key-file "{self.tls_key_file}"',
                f'tls-ca-cert-file "{self.tls.ca_cert}"',
                "tls-auth-clients yes",
                "tls-replication yes",
            ]
        else:
            ports = [f"port {self.port}"]
        lines = ports + [
            f"bind {' '.join(binds)}",
            "protected-mode no",
            f'dir "{self.dir}"',
            'logfile ""',
            "loglevel notice",
            "daemonize no",
        ]
        if not self.sentinel:
            lines += [
                'save ""',
                "appendonly no",
                "repl-diskless-sync yes",
                "repl-diskless-sync-delay 0",
                "repl-ping-replica-period 1",
            ]
        lines += self._config
        assert self.config_path is not None     # set by start()
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def log_tail(self, nbytes: int = LOG_TAIL_BYTES) -> str:
        """The end of this server's log (stdout and stderr of the process)."""
        if not self.log_path or not os.path.exists(self.log_path):
            return "(no log)"
        with open(self.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - nbytes))
            return f.read().decode(errors="replace")

    def _spawn(self) -> None:
        assert self.log_path is not None and self.config_path is not None   # set by start()
        logf = open(self.log_path, "ab")
        try:
            cmd = [self.executable, self.config_path] + (["--sentinel"] if self.sentinel else [])
            self._proc = proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,  # Ctrl-C in the terminal must not kill it before cleanup
                preexec_fn=_make_preexec(os.getpid()) if self.kill_on_parent_death else None,
                close_fds=True,
            )
        finally:
            logf.close()
        self.paused = False
        with _live_lock:
            _live_servers.add(self)
        log.debug("started %s: %s pid %d", self.name, " ".join(cmd), proc.pid)

    def _wait_answering(self, timeout: float) -> Optional[str]:
        """Wait until this process answers on its port. Returns None when it does, or an error text.

        The answer must come from this process (``process_id`` of ``INFO server``): another test
        run on this machine may have taken the same port between :func:`find_free_port` and the
        bind, and a PING would then be answered by its server while ours exits with ``Address
        already in use`` (a test once read another server's keys that way).
        """
        deadline = time.monotonic() + timeout
        proc = self._proc
        assert proc is not None     # _spawn() ran
        while True:
            if proc.poll() is not None:
                return f"exited with status {proc.returncode}"
            try:
                info = self.info("server", timeout=0.5)
                if info.get("process_id") == str(proc.pid):
                    return None
            except RespError:
                # It answers but will not say who it is (NOAUTH without the password): ours if
                # it is still running a moment later (a process that lost the port exits).
                time.sleep(0.2)
                if proc.poll() is None:
                    return None
            except OSError:
                pass
            if time.monotonic() > deadline:
                return f"did not answer PING within {timeout:.1f}s"
            time.sleep(0.02)

    def start(self, timeout: float = 10.0) -> "RedisServer":
        """Start the process and wait until it answers ``PING``.

        With an automatically chosen port, a start that fails with ``Address already in use``
        is retried on another port. Raises :class:`TopologyError` (with the log) on failure.
        """
        if self.is_alive():
            return self
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix=f"sentinelfast-{self.name}-")
            self.config_path = os.path.join(self.dir, "sentinel.conf" if self.sentinel else "redis.conf")
            self.log_path = os.path.join(self.dir, "server.log")
        assert self.log_path is not None
        attempts = 1 if self._fixed_port or self._config_written else 5
        for attempt in range(attempts):
            if not self._config_written:
                if self.port is None:
                    self.port = find_free_port(self.host, also_ipv6=self.ipv6)
                self._write_config()
            log_start = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
            self._spawn()
            problem = self._wait_answering(timeout)
            if problem is None:
                self._config_written = True
                return self
            with open(self.log_path, "rb") as f:
                f.seek(log_start)
                new_log = f.read().decode(errors="replace")
            self._kill_process()
            if "Address already in use" in new_log and not self._fixed_port and not self._config_written:
                log.info("%s: port %s in use, retrying on another port", self.name, self.port)
                _release_port(self.port)
                self.port = None
                continue
            raise TopologyError(
                f"{self.name} ({self.executable} {self.config_path}) on port {self.port} {problem}.\n"
                f"--- log of {self.name} ---\n{self.log_tail()}"
            )
        raise TopologyError(f"{self.name}: no free port found after {attempts} attempts")

    def _kill_process(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                if self.paused:
                    os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not time out
                log.error("%s pid %d did not exit after SIGKILL", self.name, proc.pid)
        self.paused = False

    def kill(self) -> None:
        """Kill the process with SIGKILL and reap it. The directory and config are kept."""
        if self._owner_pid != os.getpid():
            return
        log.info("kill %s %s:%s", self.name, self.host, self.port)
        self._kill_process()

    def pause(self) -> None:
        """Stop the process with SIGSTOP (it keeps its sockets open but answers nothing)."""
        if not self.is_alive():
            raise TopologyError(f"{self.name} is not running")
        log.info("pause %s %s:%s", self.name, self.host, self.port)
        proc = self._proc
        assert proc is not None     # is_alive()
        os.kill(proc.pid, signal.SIGSTOP)
        self.paused = True
        deadline = time.monotonic() + 2
        while _process_state(proc.pid) not in ("T", "t", None) and time.monotonic() < deadline:
            time.sleep(0.005)

    def resume(self) -> None:
        """Continue a paused process (SIGCONT)."""
        if self._proc is not None and self._proc.poll() is None:
            log.info("resume %s %s:%s", self.name, self.host, self.port)
            os.kill(self._proc.pid, signal.SIGCONT)
        self.paused = False

    def restart(self, timeout: float = 10.0) -> "RedisServer":
        """Kill the process if it runs and start it again: same port, same directory, same config file."""
        self.kill()
        return self.start(timeout=timeout)

    def is_alive(self) -> bool:
        """True while the process exists (running or paused)."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Kill the process (SIGCONT first if paused, then SIGKILL, then wait) and remove its directory."""
        if self._owner_pid != os.getpid():
            return  # a forked child must never kill its parent's servers
        self._kill_process()
        with _live_lock:
            _live_servers.discard(self)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        if not self._fixed_port:
            _release_port(self.port)

    def _connection_options(self) -> dict:
        if self.tls is not None and self._ssl_context is None:
            self._ssl_context = admin_ssl_context(self.tls)
        return {"ssl_context": self._ssl_context, "password": self.password, "username": self.username}

    def command(self, *args: object, timeout: float = 1.0):
        """Run one command on this server with :func:`resp_command` (over TLS and after ``AUTH``
        when the server was created with ``tls`` / ``password``)."""
        return resp_command(self.address, *args, timeout=timeout, **self._connection_options())

    def info(self, section: str = "replication", timeout: float = 1.0) -> dict:
        """``INFO section`` as a ``{str: str}`` dict."""
        return _info(self.address, section, timeout=timeout, **self._connection_options())

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# The topology
# --------------------------------------------------------------------------------------------


class Topology:
    """A master, replicas and Sentinels running locally; a context manager.

    Parameters: ``num_replicas`` (2), ``num_sentinels`` (3), ``service_name`` ("mymaster"),
    ``quorum`` (2), ``down_after_ms`` (1000), ``failover_timeout_ms`` (6000), ``host``
    ("127.0.0.1"; the servers also listen on ``::1`` when the machine has IPv6 loopback),
    ``start_timeout`` (seconds for :meth:`start`), ``executable`` ("redis-server"),
    ``extra_redis_config`` / ``extra_sentinel_config`` (lines appended to the config files).

    Security (all off by default):

    * ``tls=True``: every data node and Sentinel listens on TLS only (``port 0``, ``tls-port``),
      requires a client certificate (``tls-auth-clients yes``) and replicates over TLS
      (``tls-replication yes``; Sentinels use it for their links to the nodes and to each other).
      The certificates (:attr:`certs`, see :func:`~sentinelfast.testing.certs.make_certificates`)
      are made at :meth:`start` in a directory removed by :meth:`stop`. The addresses
      (:attr:`sentinel_addresses`, ``node.address``) are the TLS ports.
    * ``password``: the data nodes have ``requirepass`` and ``masterauth``; the Sentinels
      ``sentinel auth-pass``.
    * ``sentinel_password`` (and ``sentinel_username``): the Sentinels require it from clients
      (``requirepass``, or with a user name an ACL user and the default user off) and use it with
      each other (``sentinel sentinel-pass`` / ``sentinel sentinel-user``).

    Use passwords without spaces or quotes: Sentinel rewrites its configuration file with
    ``sentinel auth-pass`` unquoted, and would not read it back after a restart.

    :meth:`client_kwargs` and :meth:`sentinel_kwargs` give the keyword arguments a client
    (redis-py or sentinelfast) needs for the data nodes and for the Sentinels.
    """

    def __init__(
        self,
        num_replicas: int = 2,
        num_sentinels: int = 3,
        service_name: str = "mymaster",
        *,
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 6000,
        host: str = "127.0.0.1",
        ipv6: Optional[bool] = None,
        start_timeout: float = 30.0,
        executable: str = "redis-server",
        extra_redis_config: Iterable[str] = (),
        extra_sentinel_config: Iterable[str] = (),
        kill_on_parent_death: bool = True,
        tls: bool = False,
        password: Optional[str] = None,
        sentinel_password: Optional[str] = None,
        sentinel_username: Optional[str] = None,
    ) -> None:
        if sentinel_username is not None and sentinel_password is None:
            raise ValueError("sentinel_username needs a sentinel_password")
        self.num_replicas = num_replicas
        self.num_sentinels = num_sentinels
        self.service_name = service_name
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.host = host
        self.ipv6 = ipv6_loopback_available() if ipv6 is None else ipv6
        self.start_timeout = start_timeout
        self.executable = executable
        self.extra_redis_config = list(extra_redis_config)
        self.extra_sentinel_config = list(extra_sentinel_config)
        self.kill_on_parent_death = kill_on_parent_death
        self.tls = tls
        self.password = password
        self.sentinel_password = sentinel_password
        self.sentinel_username = sentinel_username
        #: The certificates of a ``tls=True`` topology (made by :meth:`start`), else None.
        self.certs: Optional[Certificates] = None
        self._certs_dir: Optional[str] = None
        self._owner_pid = os.getpid()
        #: Every data node (master and replicas), in start order; the first was the first master.
        self.data_nodes: List[RedisServer] = []
        #: The Sentinels, in start order.
        self.sentinels: List[RedisServer] = []
        self._master: Optional[RedisServer] = None
        self._started = False

    # -- properties --------------------------------------------------------------------------

    @property
    def master(self) -> RedisServer:
        """The node that is master as of the last :meth:`start`, :meth:`failover` or
        :meth:`wait_for_master_change` (call :meth:`refresh_roles` after other changes)."""
        if self._master is None:
            raise TopologyError("topology not started")
        return self._master

    @property
    def replicas(self) -> List[RedisServer]:
        """The data nodes other than :attr:`master`."""
        return [n for n in self.data_nodes if n is not self._master]

    @property
    def nodes(self) -> List[RedisServer]:
        """Every process of the topology: data nodes, then Sentinels."""
        return self.data_nodes + self.sentinels

    @property
    def sentinel_addresses(self) -> List[Address]:
        """``[(host, port), ...]`` of the Sentinels, ready for ``Sentinel(...)``."""
        return [s.address for s in self.sentinels]

    def client_tls_kwargs(self) -> Dict[str, object]:
        """The TLS keyword arguments of a client (redis-py's names): ``ssl``, ``ssl_ca_certs``,
        ``ssl_certfile``, ``ssl_keyfile`` (the client certificate). ``{}`` without TLS."""
        if not self.tls:
            return {}
        if self.certs is None:
            raise TopologyError("topology not started (the certificates are made by start())")
        return {
            "ssl": True,
            "ssl_ca_certs": self.certs.ca_cert,
            "ssl_certfile": self.certs.client_cert,
            "ssl_keyfile": self.certs.client_key,
        }

    def client_kwargs(self) -> Dict[str, object]:
        """Keyword arguments for connections to the data nodes: :meth:`client_tls_kwargs` and
        ``password`` (when the topology has one). For ``Sentinel(..., **topo.client_kwargs())``."""
        kwargs = self.client_tls_kwargs()
        if self.password is not None:
            kwargs["password"] = self.password
        return kwargs

    def sentinel_kwargs(self) -> Dict[str, object]:
        """Keyword arguments for connections to the Sentinels (``Sentinel(...,
        sentinel_kwargs=topo.sentinel_kwargs())``): :meth:`client_tls_kwargs`, ``password`` and
        ``username`` (when the Sentinels require them)."""
        kwargs = self.client_tls_kwargs()
        if self.sentinel_password is not None:
            kwargs["password"] = self.sentinel_password
        if self.sentinel_username is not None:
            kwargs["username"] = self.sentinel_username
        return kwargs

    def node_by_address(self, address: Address) -> RedisServer:
        """The node listening on ``address`` (host and port)."""
        host, port = address[0], int(address[1])
        for node in self.nodes:
            if node.port == port and (node.host == host or host in ("localhost", "::1", "127.0.0.1")):
                return node
        raise KeyError(address)

    def __repr__(self) -> str:
        return (
            f"<Topology {self.service_name} master={self._master and self._master.address} "
            f"replicas={[n.address for n in self.replicas]} sentinels={self.sentinel_addresses}>"
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def _new_node(self, role: str, name: str, config: List[str], sentinel: bool = False) -> RedisServer:
        return RedisServer(
            role,
            config,
            host=self.host,
            sentinel=sentinel,
            ipv6=self.ipv6,
            executable=self.executable,
            name=name,
            kill_on_parent_death=self.kill_on_parent_death,
            tls=self.certs,
            password=self.sentinel_password if sentinel else self.password,
            username=self.sentinel_username if sentinel else None,
        )

    def _data_auth_config(self) -> List[str]:
        if self.password is None:
            return []
        return [f"requirepass {_quote(self.password)}", f"masterauth {_quote(self.password)}"]

    def _sentinel_auth_config(self) -> List[str]:
        lines = []
        if self.password is not None:
            lines.append(f"sentinel auth-pass {self.service_name} {_quote(self.password)}")
        if self.sentinel_password is not None:
            if self.sentinel_username is not None:
                lines += [
                    "user default off",
                    f"user {_quote(self.sentinel_username)} on {_quote('>' + self.sentinel_password)}"
                    " ~* &* +@all",
                    f"sentinel sentinel-user {_quote(self.sentinel_username)}",
                ]
            else:
                lines.append(f"requirepass {_quote(self.sentinel_password)}")
            lines.append(f"sentinel sentinel-pass {_quote(self.sentinel_password)}")
        return lines

    def start(self) -> "Topology":
        """Start every process and wait until the topology is ready (see :meth:`wait_until_ready`).

        On failure everything already started is stopped and :class:`TopologyError` is raised
        with the logs of the processes.
        """
        if self._started:
            return self
        self._started = True
        t0 = time.monotonic()
        try:
            if self.tls and self.certs is None:
                self._certs_dir = tempfile.mkdtemp(prefix="sentinelfast-certs-")
                with _live_lock:
                    _live_dirs[self._certs_dir] = os.getpid()
                self.certs = make_certificates(self._certs_dir)
            master = self._new_node("master", "master", self._data_auth_config() + self.extra_redis_config)
            master.start()
            self.data_nodes.append(master)
            self._master = master
            for i in range(self.num_replicas):
                node = self._new_node(
                    "replica",
                    f"replica{i + 1}",
                    [f"replicaof {master.host} {master.port}"]
                    + self._data_auth_config()
                    + self.extra_redis_config,
                )
                node.start()
                self.data_nodes.append(node)
            self._wait(self._replicas_synced, self.start_timeout, "replicas in sync")
            for i in range(self.num_sentinels):
                node = self._new_node(
                    "sentinel",
                    f"sentinel{i + 1}",
                    [
                        f"sentinel monitor {self.service_name} {master.host} {master.port} {self.quorum}",
                        f"sentinel down-after-milliseconds {self.service_name} {self.down_after_ms}",
                        f"sentinel failover-timeout {self.service_name} {self.failover_timeout_ms}",
                        f"sentinel parallel-syncs {self.service_name} {max(1, self.num_replicas)}",
                    ]
                    + self._sentinel_auth_config()
                    + self.extra_sentinel_config,
                    sentinel=True,
                )
                node.start()
                self.sentinels.append(node)
            self.wait_until_ready(timeout=max(1.0, self.start_timeout - (time.monotonic() - t0)))
        except BaseException:
            self.stop()
            raise
        log.info("topology ready in %.2fs: %r", time.monotonic() - t0, self)
        return self

    def stop(self) -> None:
        """Kill every process started by this topology and remove their directories. Idempotent."""
        errors = []
        for node in self.sentinels + self.data_nodes:
            try:
                node.stop()
            except Exception as e:  # keep stopping the others
                errors.append(e)
                log.exception("could not stop %r", node)
        self._started = False
        if self._certs_dir is not None and self._owner_pid == os.getpid():
            shutil.rmtree(self._certs_dir, ignore_errors=True)
            with _live_lock:
                _live_dirs.pop(self._certs_dir, None)
            self._certs_dir = None
            self.certs = None
        if errors:
            raise errors[0]

    def __enter__(self) -> "Topology":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- checks ------------------------------------------------------------------------------

    def logs(self) -> str:
        """The tails of every process's log, for error messages."""
        return "\n".join(
            f"--- {n.name} {n.host}:{n.port} ({'alive' if n.is_alive() else 'not running'}) ---\n{n.log_tail(1500)}"
            for n in self.nodes
        )

    def _wait(self, check, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                result = check()
                if result:
                    return result
                last = "condition not met"
            except (OSError, RespError, ValueError, KeyError) as e:
                last = repr(e)
            if time.monotonic() > deadline:
                raise TopologyError(
                    f"timed out after {timeout:.1f}s waiting for {what} (last: {last})\n{self.logs()}"
                )
            time.sleep(0.05)

    def _available(self, nodes: Iterable[RedisServer]) -> List[RedisServer]:
        return [n for n in nodes if n.is_alive() and not n.paused]

    def _replicas_synced(self) -> bool:
        master = self.master
        if master.info(timeout=0.5).get("role") != "master":
            return False
        for node in self._available(self.replicas):
            info = node.info(timeout=0.5)
            if (
                info.get("role") != "slave"
                or int(info.get("master_port", -1)) != master.port
                or info.get("master_link_status") != "up"
            ):
                return False
        return True

    def _sentinels_agree(self) -> bool:
        master = self.master
        live_sentinels = self._available(self.sentinels)
        expected_replicas = {n.address for n in self._available(self.replicas)}
        for s in live_sentinels:
            addr = s.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service_name, timeout=0.5)
            if not addr or (addr[0].decode(), int(addr[1])) != master.address:
                return False
            state = _pairs(s.command("SENTINEL", "MASTER", self.service_name, timeout=0.5))
            if state.get("flags") != "master":
                return False
            if int(state.get("num-other-sentinels", 0)) < len(live_sentinels) - 1:
                return False
            if int(state.get("num-slaves", 0)) < len(expected_replicas):
                return False
            seen = set()
            for r in s.command("SENTINEL", "REPLICAS", self.service_name, timeout=0.5):
                r = _pairs(r)
                flags = set(r.get("flags", "").split(","))
                if flags & {"s_down", "o_down", "disconnected"}:
                    continue
                if r.get("master-link-status") != "ok":
                    continue
                seen.add((r["ip"], int(r["port"])))
            if not expected_replicas <= seen:
                return False
        return True

    def wait_until_ready(self, timeout: float = 30.0) -> None:
        """Wait until the current master answers as master, every running replica is in sync with it
        (``master_link_status:up``) and every running Sentinel names it, sees the running replicas
        (not down) and the other running Sentinels. Raises :class:`TopologyError` with the logs."""
        deadline = time.monotonic() + timeout
        self._wait(self._replicas_synced, timeout, "the replicas to be in sync with the master")
        self._wait(
            self._sentinels_agree,
            max(0.5, deadline - time.monotonic()),
            "every Sentinel to see the master, the replicas and the other Sentinels",
        )

    # -- master tracking and failover -------------------------------------------------------

    def sentinel_views(self, timeout: float = 0.5) -> List[Optional[Address]]:
        """What each running, not paused Sentinel answers to ``SENTINEL GET-MASTER-ADDR-BY-NAME``
        (None for a Sentinel that could not answer)."""
        views = []
        for s in self._available(self.sentinels):
            try:
                addr = s.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service_name, timeout=timeout)
                views.append((addr[0].decode(), int(addr[1])) if addr else None)
            except (OSError, RespError):
                views.append(None)
        return views

    def current_master_address(self, timeout: float = 0.5) -> Address:
        """The master address named by most running Sentinels (asked directly over RESP)."""
        views = [v for v in self.sentinel_views(timeout) if v is not None]
        if not views:
            raise TopologyError("no Sentinel answered GET-MASTER-ADDR-BY-NAME")
        return collections.Counter(views).most_common(1)[0][0]

    def refresh_roles(self) -> RedisServer:
        """Set :attr:`master` to the node the Sentinels name now, and return it."""
        self._master = self.node_by_address(self.current_master_address())
        return self._master

    def wait_for_master_change(self, old_address: Address, timeout: float = 30.0) -> Address:
        """Wait until every running Sentinel names a master other than ``old_address`` (all the
        same one) and that node answers ``role:master``. Updates :attr:`master`; returns the new
        address."""
        old = (old_address[0], int(old_address[1]))

        def changed():
            views = self.sentinel_views()
            if not views or any(v is None or v == old for v in views) or len(set(views)) != 1:
                return None
            new = views[0]
            # GET-MASTER-ADDR-BY-NAME names the promoted replica before the switch is complete;
            # SENTINEL MASTER (what clients such as redis-py read) changes at +switch-master
            for s in self._available(self.sentinels):
                state = _pairs(s.command("SENTINEL", "MASTER", self.service_name, timeout=0.5))
                if (state.get("ip"), int(state.get("port", 0))) != new or state.get("flags") != "master":
                    return None
            if self.node_by_address(new).info(timeout=0.5).get("role") != "master":
                return None
            return new

        new = self._wait(changed, timeout, f"the Sentinels to name a master other than {old}")
        self._master = self.node_by_address(new)
        log.info("master changed %s -> %s", old, new)
        return new

    def failover(self, timeout: float = 30.0) -> Address:
        """Send ``SENTINEL FAILOVER`` (retrying while Sentinel answers INPROG/NOGOODSLAVE) and wait
        for the switch (:meth:`wait_for_master_change`). Returns the new master address."""
        deadline = time.monotonic() + timeout
        old = self.current_master_address()
        while True:
            sentinel = self._available(self.sentinels)[0]
            try:
                sentinel.command("SENTINEL", "FAILOVER", self.service_name, timeout=2)
                break
            except RespError as e:
                if time.monotonic() > deadline:
                    raise TopologyError(f"SENTINEL FAILOVER kept failing: {e}\n{self.logs()}") from None
                log.debug("SENTINEL FAILOVER: %s; retrying", e)
                time.sleep(0.3)
        log.info("SENTINEL FAILOVER sent to %s (old master %s)", sentinel.address, old)
        return self.wait_for_master_change(old, max(1.0, deadline - time.monotonic()))
