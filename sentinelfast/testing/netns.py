"""A Redis Sentinel topology in Linux network namespaces, with links that can be cut and healed.

:class:`NetnsLab` builds a small routed network: one network namespace per party (``master``,
``replica1``, ``replica2``, ``sentinel1`` ... ``sentinel3``) and a router namespace (the *hub*)
joined to every party by a veth pair. The client is the calling process itself: its own network
namespace is joined to the hub by one more veth pair, so the code under test runs unchanged in
the test process (no subprocess, no namespace switching)::

    with NetnsLab() as lab, NetnsTopology(lab) as topo:
        sentinel = Sentinel(topo.sentinel_addresses, socket_timeout=0.5)
        client = sentinel.master_for(topo.service_name, socket_timeout=0.5)
        lab.isolate("master", ["sentinel1", "sentinel2", "sentinel3", "replica1", "replica2"])
        ...                       # split brain: the client still reaches the master
        lab.heal_all()

Addresses: every lab has its own ``10.X.Y.0/24`` (chosen free for the machine, different for
every lab of every process); the party number ``i`` is host ``10.X.Y.i``, the client is
``10.X.Y.100`` and the hub ``10.X.Y.254``. Every party routes the /24 through the hub.

Cuts: all traffic between two parties is *forwarded* by the hub, so a cut is one policy routing
rule in the hub, ``ip rule add from A to B blackhole``: the hub silently drops A's packets to
B, exactly like a network that loses them (no ICMP, no reset; TCP retransmits until the
sender's own timeouts give up). :meth:`NetnsLab.cut` cuts both directions or only one
(``direction="a->b"`` drops what A sends to B and still delivers what B sends to A), and
:meth:`NetnsLab.heal` / :meth:`NetnsLab.heal_all` remove the rules. ``mode="reject"``
(``unreachable`` rules) makes the hub answer with ICMP host-unreachable instead, a network
that refuses at once. Only iproute2 is needed (no iptables/nftables, no tc qdisc: a minimal
kernel has policy routing).

Observation is never cut: :meth:`NetnsLab.command` and :meth:`NetnsLab.connect` open their socket
*inside* the namespace of the party they talk to (``setns`` in a short-lived thread), so the
connection stays on that namespace's own interface and never crosses the hub. The admin helpers
of :class:`NetnsTopology`'s nodes (``node.command``, ``node.info``, the readiness checks) go that
way, so a drill can always read a node whatever the partition.

:class:`NetnsTopology` is :class:`~sentinelfast.testing.topology.Topology` with every
``redis-server`` started inside its party's namespace (``ip netns exec NS redis-server
redis.conf``), bound to that namespace's address on the standard ports (6379, Sentinels
26379), replicas and Sentinels announcing their own addresses (``replica-announce-ip``,
``sentinel announce-ip``).

Clean-up: :meth:`NetnsLab.stop` deletes the client's veth and every namespace of the lab
(after :meth:`NetnsTopology.stop` has killed the servers); both are context managers, and an
:mod:`atexit` hook stops any lab still running. Names carry the process id (``sfp<pid>n<k>-...``
for namespaces, ``sf<pid>n<k>`` for the client's interface), so parallel test workers never
collide; a new lab also deletes what a process that no longer exists left behind (a SIGKILLed
pytest). Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2 (``ip``):
:func:`netns_available` says whether this machine can run a lab.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import ipaddress
import itertools
import logging
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import weakref
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .topology import (
    RedisServer,
    RespError,
    Topology,
    _encode_command,
    _live_lock,
    _live_servers,
    _make_preexec,
    _read_reply,
)

__all__ = [
    "NetnsLab",
    "NetnsTopology",
    "NetnsRedisServer",
    "NetnsError",
    "CLIENT",
    "DEFAULT_PARTIES",
    "netns_available",
]

log = logging.getLogger(__name__)

#: The name of the party that is the calling process (its own network namespace).
CLIENT = "client"
#: The parties of a lab for the default topology (1 master, 2 replicas, 3 Sentinels).
DEFAULT_PARTIES = ("master", "replica1", "replica2", "sentinel1", "sentinel2", "sentinel3")

_NETNS_DIR = "/var/run/netns"
_CLONE_NEWNET = 0x40000000
_CLIENT_HOST = 100
_HUB_HOST = 254
_NS_NAME = re.compile(r"^sfp(\d+)n\d+-")
_LINK_NAME = re.compile(r"^sf(\d+)n\d+$")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_lab_counter = itertools.count()
_live_labs: "weakref.WeakSet[NetnsLab]" = weakref.WeakSet()


class NetnsError(RuntimeError):
    """A namespace, link or rule could not be made (the ``ip`` command's error is in the message)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["ip", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def netns_available() -> Tuple[bool, str]:
    """``(True, "")`` when this process can build a lab (root, iproute2, network namespaces),
    else ``(False, reason)``."""
    if shutil.which("ip") is None:
        return False, "iproute2 ('ip') is not installed"
    if os.geteuid() != 0:
        return False, "network namespaces need root"
    name = f"sfp{os.getpid()}n-probe"
    proc = _ip("netns", "add", name, check=False)
    if proc.returncode != 0:
        return False, f"ip netns add failed: {proc.stderr.strip()}"
    _ip("netns", "del", name, check=False)
    return True, ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_labs() -> None:
    """Delete the namespaces and client interfaces of labs whose process no longer exists."""
    try:
        names = os.listdir(_NETNS_DIR)
    except FileNotFoundError:
        names = []
    for name in names:
        m = _NS_NAME.match(name)
        if m and not _pid_alive(int(m.group(1))):
            log.info("deleting stale namespace %s", name)
            _ip("netns", "del", name, check=False)
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) < 2:
            continue
        link = parts[1].strip().split("@")[0]
        m = _LINK_NAME.match(link)
        if m and not _pid_alive(int(m.group(1))):
            log.info("deleting stale interface %s", link)
            _ip("link", "del", link, check=False)


def _used_networks() -> List[ipaddress.IPv4Network]:
    nets = []
    for line in _ip("-4", "route", "show", "table", "all", check=False).stdout.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("local", "broadcast", "unreachable", "blackhole", "prohibit"):
            word = line.split()[1]
        if word == "default":
            continue
        try:
            nets.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            pass
    return nets  # type: ignore[return-value]


def _socket_in_namespace(ns_name: str, family: int = socket.AF_INET,
                         type: int = socket.SOCK_STREAM) -> socket.socket:
    """A socket that belongs to the network namespace ``ns_name`` (made by a thread that joins it)."""
    result: dict = {}

    def make():
        try:
            fd = os.open(os.path.join(_NETNS_DIR, ns_name), os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({ns_name}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result["sock"] = socket.socket(family, type)
        except BaseException as e:  # handed to the caller
            result["error"] = e

    # The thread ends inside the namespace; the socket keeps belonging to it.
    t = threading.Thread(target=make, name=f"netns-{ns_name}", daemon=True)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["sock"]


class NetnsLab:
    """Network namespaces for ``parties`` (plus the calling process as :data:`CLIENT`), routed
    by a hub namespace; links between any two parties can be cut and healed.

    ``parties``: names of the namespaces to make (default :data:`DEFAULT_PARTIES`); party ``i``
    (from 1) gets host address ``i`` of the lab's /24. ``start()`` builds the network (also
    called by ``with``); ``stop()`` removes everything and is idempotent.
    """

    def __init__(self, parties: Sequence[str] = DEFAULT_PARTIES) -> None:
        if CLIENT in parties:
            raise ValueError(f"{CLIENT!r} is the calling process; do not list it")
        if len(set(parties)) != len(parties) or not 0 < len(parties) < _CLIENT_HOST:
            raise ValueError("parties: 1 to 99 distinct names")
        self.parties = list(parties)
        self.lab_id = f"sfp{os.getpid()}n{next(_lab_counter)}"
        self.hub = f"{self.lab_id}-hub"
        self.client_link = f"sf{os.getpid()}n{self.lab_id.rsplit('n', 1)[1]}"  # in the caller's namespace
        self.network: Optional[ipaddress.IPv4Network] = None
        self._addresses: Dict[str, str] = {}
        self._namespaces: List[str] = []
        self._rules: Dict[Tuple[str, str], int] = {}  # (from party, to party) -> rule preference
        self._rule_pref = itertools.count(1000)
        self._lock = threading.Lock()
        self._owner_pid = os.getpid()
        self._started = False

    # -- names and addresses -----------------------------------------------------------------

    def namespace(self, party: str) -> str:
        """The network namespace of ``party`` (``ip netns exec <it> ...``)."""
        if party == CLIENT:
            raise ValueError("the client is the calling process's own namespace")
        if party not in self.parties:
            raise KeyError(party)
        return f"{self.lab_id}-{party}"

    def address(self, party: str) -> str:
        """The IPv4 address of ``party`` (or of :data:`CLIENT`)."""
        if not self._started:
            raise NetnsError("lab not started")
        return self._addresses[party]

    def party_of(self, host: str) -> str:
        """The party whose address is ``host``."""
        for party, addr in self._addresses.items():
            if addr == host:
                return party
        raise KeyError(host)

    # -- lifecycle ---------------------------------------------------------------------------

    def _choose_network(self) -> ipaddress.IPv4Network:
        used = _used_networks()
        seed = (os.getpid() * 7919 + int(self.lab_id.rsplit("n", 1)[1]) * 104729) % (50 * 256)
        for i in range(50 * 256):
            k = (seed + i) % (50 * 256)
            net = ipaddress.ip_network(f"10.{200 + k // 256}.{k % 256}.0/24")
            if not any(net.overlaps(u) for u in used):
                return net  # type: ignore[return-value]
        raise NetnsError("no free 10.200-249.x.0/24 network on this machine")

    def start(self) -> "NetnsLab":
        """Make the hub, one namespace per party, the veth pairs, addresses and routes."""
        if self._started:
            return self
        remove_stale_labs()
        self._started = True
        with _live_lock:
            _live_labs.add(self)
        try:
            for attempt in range(5):
                self.network = self._choose_network()
                try:
                    self._build()
                    break
                except NetnsError as e:
                    if "File exists" not in str(e) or attempt == 4:
                        raise
                    log.info("lab %s: %s taken meanwhile; another network", self.lab_id, self.network)
                    self._teardown()
                    self._started = True
        except BaseException:
            self.stop()
            raise
        log.info("lab %s ready on %s: %s", self.lab_id, self.network, self._addresses)
        return self

    def _build(self) -> None:
        base = self.network.network_address  # type: ignore[union-attr]
        hub_ip = str(base + _HUB_HOST)
        prefix = self.network.prefixlen  # type: ignore[union-attr]
        _ip("netns", "add", self.hub)
        self._namespaces.append(self.hub)
        _ip("-n", self.hub, "link", "set", "lo", "up")
        proc = subprocess.run(["ip", "netns", "exec", self.hub, "sh", "-c",
                               "echo 1 > /proc/sys/net/ipv4/ip_forward"],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if proc.returncode != 0:
            raise NetnsError(f"enabling forwarding in {self.hub}: {proc.stderr.strip()}")

        def join(host_ip: str, hub_end: str, ns: Optional[str], end: str) -> None:
            # hub side: the hub's address and a host route to the party
            peer = ["netns", ns] if ns else ["netns", "1"]
            _ip("-n", self.hub, "link", "add", hub_end, "type", "veth", "peer", "name", end, *peer)
            _ip("-n", self.hub, "addr", "add", f"{hub_ip}/32", "dev", hub_end)
            _ip("-n", self.hub, "link", "set", hub_end, "up")
            _ip("-n", self.hub, "route", "add", f"{host_ip}/32", "dev", hub_end)
            # party side: its address, the hub on the link, the lab's network through the hub
            where = ["-n", ns] if ns else []
            _ip(*where, "addr", "add", f"{host_ip}/32", "dev", end)
            _ip(*where, "link", "set", end, "up")
            _ip(*where, "route", "add", f"{hub_ip}/32", "dev", end, "scope", "link")
            _ip(*where, "route", "add", f"{self.network.network_address}/{prefix}", "via", hub_ip, "dev", end)  # type: ignore[union-attr]

        for i, party in enumerate(self.parties, start=1):
            ns = self.namespace(party)
            _ip("netns", "add", ns)
            self._namespaces.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            self._addresses[party] = str(base + i)
            join(self._addresses[party], f"p{i}", ns, "eth0")
        self._addresses[CLIENT] = str(base + _CLIENT_HOST)
        join(self._addresses[CLIENT], "pclient", None, self.client_link)
        self._wait_links_up()

    def _wait_links_up(self, timeout: float = 10.0) -> None:
        """Wait until every hub port and the client's interface have a carrier: a veth pair
        comes up asynchronously, and what is sent before is lost (a first SYN then waits 1 s)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = _ip("-n", self.hub, "-o", "link", "show", "type", "veth").stdout.splitlines()
            lines += _ip("-o", "link", "show", "dev", self.client_link).stdout.splitlines()
            down = [line.split(":", 2)[1].strip() for line in lines if "LOWER_UP" not in line]
            if not down and len(lines) == len(self.parties) + 2:
                return
            if time.monotonic() > deadline:
                raise NetnsError(f"lab {self.lab_id}: links still down after {timeout:.0f}s: {down}")
            time.sleep(0.01)

    def _teardown(self) -> None:
        _ip("link", "del", self.client_link, check=False)
        for ns in reversed(self._namespaces):
            _ip("netns", "del", ns, check=False)
        self._namespaces.clear()
        self._addresses.clear()
        self._rules.clear()
        self._started = False

    def stop(self) -> None:
        """Delete the client's interface and every namespace of the lab. Idempotent. Kill the
        processes running in the namespaces first (:meth:`NetnsTopology.stop`)."""
        if self._owner_pid != os.getpid():
            return
        self._teardown()
        with _live_lock:
            _live_labs.discard(self)

    def __enter__(self) -> "NetnsLab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- cuts --------------------------------------------------------------------------------

    def _hub_batch(self, commands: List[str]) -> None:
        """Run ``ip`` commands in the hub in one process (``ip -batch``): a cut of many links
        takes effect within a millisecond or so, not one ``ip`` start per rule."""
        if not commands:
            return
        proc = subprocess.run(["ip", "-n", self.hub, "-batch", "-"], input="\n".join(commands) + "\n",
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise NetnsError(f"ip -n {self.hub} -batch: {proc.stderr.strip()} (commands: {commands})")

    def _cut_links(self, links: Iterable[Tuple[str, str]], direction: str, mode: str) -> None:
        kind = {"drop": "blackhole", "reject": "unreachable"}[mode]
        commands, added = [], {}
        with self._lock:
            for a, b in links:
                if a == b:
                    raise ValueError("a party cannot be cut from itself")
                pairs = {"both": [(a, b), (b, a)], "a->b": [(a, b)], "b->a": [(b, a)]}[direction]
                for src, dst in pairs:
                    if (src, dst) in self._rules or (src, dst) in added:
                        continue
                    pref = next(self._rule_pref)
                    commands.append(f"rule add from {self.address(src)}/32 to {self.address(dst)}/32 "
                                    f"pref {pref} {kind}")
                    added[(src, dst)] = pref
            try:
                self._hub_batch(commands)
            except NetnsError:
                for pref in added.values():  # whatever part of the batch was applied
                    _ip("-n", self.hub, "rule", "del", "pref", str(pref), check=False)
                raise
            self._rules.update(added)

    def cut(self, a: str, b: str, direction: str = "both", mode: str = "drop") -> None:
        """Cut the link between parties ``a`` and ``b`` (either may be :data:`CLIENT`).

        ``direction``: ``"both"`` (symmetric), ``"a->b"`` (what ``a`` sends to ``b`` is lost,
        ``b`` still reaches ``a``) or ``"b->a"``. ``mode``: ``"drop"`` (packets vanish) or
        ``"reject"`` (the hub answers ICMP host-unreachable). Cutting a cut link does nothing.
        """
        self._cut_links([(a, b)], direction, mode)
        log.info("lab %s: cut %s %s %s (%s)", self.lab_id, a, {"both": "<->", "a->b": "->", "b->a": "<-"}[
            direction], b, mode)

    def isolate(self, party: str, others: Iterable[str], direction: str = "both", mode: str = "drop") -> None:
        """:meth:`cut` ``party`` from each of ``others``, all at once (``direction`` as for
        :meth:`cut`, ``party`` being ``a``)."""
        others = list(others)
        self._cut_links([(party, other) for other in others], direction, mode)
        log.info("lab %s: isolated %s from %s (%s, %s)", self.lab_id, party, ", ".join(others), direction, mode)

    def heal(self, a: str, b: str) -> None:
        """Remove the cuts between ``a`` and ``b`` (both directions)."""
        with self._lock:
            prefs = [self._rules.pop(key) for key in ((a, b), (b, a)) if key in self._rules]
            self._hub_batch([f"rule del pref {pref}" for pref in prefs])
        log.info("lab %s: healed %s <-> %s", self.lab_id, a, b)

    def heal_all(self) -> None:
        """Remove every cut, all at once."""
        with self._lock:
            prefs = list(self._rules.values())
            self._rules.clear()
            self._hub_batch([f"rule del pref {pref}" for pref in prefs])
        log.info("lab %s: every cut healed", self.lab_id)

    @property
    def cuts(self) -> List[Tuple[str, str]]:
        """The cut directions now: ``[(from party, to party), ...]``."""
        with self._lock:
            return sorted(self._rules)

    # -- observation (never cut) -------------------------------------------------------------

    def socket(self, party: str, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM) -> socket.socket:
        """A new, unconnected socket that belongs to ``party``'s namespace (the calling process's
        own for :data:`CLIENT`): to listen or connect as that party."""
        if party == CLIENT:
            return socket.socket(family, type)
        return _socket_in_namespace(self.namespace(party), family, type)

    def connect(self, party: str, address: Tuple[str, int], timeout: float = 1.0) -> socket.socket:  # type: ignore[name-defined]
        """A TCP connection to ``address`` made from inside ``party``'s namespace (from the
        calling process's own namespace for :data:`CLIENT`). To the party's own address it never
        crosses the hub, so no cut affects it."""
        if party == CLIENT:
            return socket.create_connection(address, timeout=timeout)
        sock = self.socket(party)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except BaseException:
            sock.close()
            raise
        return sock

    def command(self, party: str, port: int, *args: object, timeout: float = 1.0,
                password: Optional[str] = None):
        """Send one command to ``party``'s server on ``port`` from inside its namespace and return
        the decoded RESP2 reply (see :func:`~sentinelfast.testing.topology.resp_command`; an error
        reply raises :class:`~sentinelfast.testing.topology.RespError`)."""
        with self.connect(party, (self.address(party), port), timeout) as sock:
            payload = _encode_command(args)
            if password is not None:
                payload = _encode_command(("AUTH", password)) + payload
            sock.sendall(payload)
            with sock.makefile("rb") as f:
                if password is not None:
                    auth = _read_reply(f)
                    if isinstance(auth, RespError):
                        raise auth
                reply = _read_reply(f)
        if isinstance(reply, RespError):
            raise reply
        return reply

    def popen(self, party: str, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        """Start ``argv`` inside ``party``'s namespace (``ip netns exec``)."""
        return subprocess.Popen(["ip", "netns", "exec", self.namespace(party), *argv], **kwargs)

    def __repr__(self) -> str:
        return f"<NetnsLab {self.lab_id} {self.network} cuts={self.cuts if self._started else []}>"


def _stop_labs_at_exit() -> None:
    with _live_lock:
        labs = list(_live_labs)
    for lab in labs:
        try:
            lab.stop()
        except Exception:  # pragma: no cover - best effort at exit
            log.exception("atexit: could not stop %r", lab)


# atexit runs this before topology's own hook (registered earlier): a namespace deleted while a
# server still runs in it disappears when that server is killed by the next hook.
atexit.register(_stop_labs_at_exit)


class NetnsRedisServer(RedisServer):
    """A :class:`~sentinelfast.testing.topology.RedisServer` running inside ``lab``'s namespace of
    ``party``, bound to that party's address; its admin helpers connect from inside the
    namespace (never cut). Plain TCP only: the admin helpers speak RESP without TLS (the
    partition drills measure the network, not the transport), so ``tls`` is refused here."""

    def __init__(self, lab: NetnsLab, party: str, role: str, config: Iterable[str] = (), **kwargs) -> None:
        if kwargs.get("tls") is not None:
            raise ValueError("NetnsRedisServer runs plain TCP only (no tls)")
        kwargs.setdefault("port", 26379 if kwargs.get("sentinel") else 6379)
        kwargs["host"] = lab.address(party)
        kwargs["ipv6"] = False
        kwargs.setdefault("name", party)
        super().__init__(role, config, **kwargs)
        self.lab = lab
        self.party = party

    def _spawn(self) -> None:
        logf = open(self.log_path, "ab")  # type: ignore[arg-type]
        try:
            cmd = [self.executable, self.config_path] + (["--sentinel"] if self.sentinel else [])
            self._proc = self.lab.popen(
                self.party, cmd,  # type: ignore[arg-type]
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, cwd=self.dir,
                start_new_session=True,
                preexec_fn=_make_preexec(os.getpid()) if self.kill_on_parent_death else None,
                close_fds=True,
            )
        finally:
            logf.close()
        self.paused = False
        with _live_lock:
            _live_servers.add(self)
        log.debug("started %s in %s: %s pid %d", self.name, self.lab.namespace(self.party), " ".join(cmd),  # type: ignore[arg-type]
                  self._proc.pid)

    def command(self, *args: object, timeout: float = 1.0):
        """Run one command on this server, connecting from inside its namespace."""
        return self.lab.command(self.party, self.port, *args, timeout=timeout, password=self.password)  # type: ignore[arg-type]

    def info(self, section: str = "replication", timeout: float = 1.0) -> dict:
        """``INFO section`` as a ``{str: str}`` dict."""
        text = self.command("INFO", section, timeout=timeout).decode()
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))


class NetnsTopology(Topology):
    """A :class:`~sentinelfast.testing.topology.Topology` whose nodes run in ``lab``'s namespaces:
    the master in ``master``, replica *i* in ``replica<i>``, Sentinel *i* in ``sentinel<i>``
    (the lab must have those parties). Keyword arguments as for ``Topology`` (no TLS)."""

    def __init__(self, lab: NetnsLab, **kwargs) -> None:
        if kwargs.get("tls"):
            raise ValueError("NetnsTopology does not support TLS")
        kwargs["ipv6"] = False
        super().__init__(**kwargs)
        self.lab = lab
        self._owns_lab = False
        needed = ["master"] + [f"replica{i + 1}" for i in range(self.num_replicas)] + [
            f"sentinel{i + 1}" for i in range(self.num_sentinels)]
        missing = [p for p in needed if p not in lab.parties]
        if missing:
            raise ValueError(f"the lab has no namespace for {missing}")

    def start(self) -> "NetnsTopology":
        """Start the lab if it is not running (then :meth:`stop` removes it too), then every
        process, as :meth:`Topology.start`."""
        if not self.lab._started:
            self.lab.start()
            self._owns_lab = True
        try:
            super().start()
        except BaseException:
            self._stop_own_lab()
            raise
        return self

    def stop(self) -> None:
        """Kill every process (:meth:`Topology.stop`), then remove the lab if :meth:`start` made it."""
        try:
            super().stop()
        finally:
            self._stop_own_lab()

    def _stop_own_lab(self) -> None:
        if self._owns_lab:
            self._owns_lab = False
            self.lab.stop()

    def _new_node(self, role: str, name: str, config: List[str], sentinel: bool = False) -> RedisServer:
        address = self.lab.address(name)
        announce = [f"sentinel announce-ip {address}"] if sentinel else [f"replica-announce-ip {address}"]
        return NetnsRedisServer(
            self.lab, name, role, announce + config,
            sentinel=sentinel,
            executable=self.executable,
            kill_on_parent_death=self.kill_on_parent_death,
            password=self.sentinel_password if sentinel else self.password,
            username=self.sentinel_username if sentinel else None,
        )

    def node_of(self, party: str) -> RedisServer:
        """The node running in ``party``'s namespace."""
        for node in self.nodes:
            if getattr(node, "party", None) == party:
                return node
        raise KeyError(party)

    def party_of(self, address: Tuple[str, int]) -> str:
        """The party whose node listens on ``address``."""
        return self.node_by_address(address).party  # type: ignore[attr-defined]

