"""Discovery against Sentinels that send malformed addresses (issue 7, defect 8).

A real Sentinel cannot send a host that is not UTF-8 or a port outside 1-65535, so a small
fake Sentinel (a threaded TCP server in this file) answers SENTINEL MASTER / MASTERS /
SLAVES / SENTINELS with crafted replies. Expected: never a non-redis exception; that
Sentinel's answer is skipped with a WARNING (logger ``sentinelfast.sentinel``) and the next
Sentinel asked; replicas with bad addresses are left out.
"""

import logging
import socket
import threading

import pytest
from sfimpl import IMPL, no_retry, sf, sf_exceptions, sf_sentinel

pytestmark = pytest.mark.skipif(IMPL == "redis", reason="redis-py hands bad Sentinel addresses on (the defect)")

SERVICE = "mymaster"
LOGGER = "sentinelfast.sentinel"


def bulk(value):
    if isinstance(value, str):
        value = value.encode()
    return b"$%d\r\n%s\r\n" % (len(value), value)


def array(items):
    return b"*%d\r\n" % len(items) + b"".join(items)


def state(ip: bytes, port: bytes, flags: bytes = b"master", name: bytes = SERVICE.encode()):
    fields = [b"name", name, b"ip", ip, b"port", port, b"runid", b"0" * 40, b"flags", flags,
              b"num-slaves", b"0", b"num-other-sentinels", b"2", b"quorum", b"2",
              b"config-epoch", b"0", b"down-after-milliseconds", b"5000"]
    return array([bulk(f) for f in fields])


class FakeSentinel:
    """Answers Sentinel queries for SERVICE with crafted master/replica addresses."""

    def __init__(self, master_ip: bytes, master_port: bytes, replicas=()):
        self.master = state(master_ip, master_port)
        self.replicas = [state(ip, port, flags=b"slave") for ip, port in replicas]
        self.commands = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.address = self.sock.getsockname()
        self.closed = False
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_command(f):
        line = f.readline()
        if not line:
            return None
        if not line.startswith(b"*"):
            return line.split()
        args = []
        for _ in range(int(line[1:])):
            n = int(f.readline()[1:])
            args.append(f.read(n + 2)[:-2])
        return args

    def _reply(self, args):
        name = b" ".join(a.upper() for a in args[:2])
        if args[0].upper() in (b"SUBSCRIBE", b"PSUBSCRIBE"):
            kind = args[0].lower()
            return b"".join(array([bulk(kind), bulk(ch), b":%d\r\n" % (i + 1)])
                            for i, ch in enumerate(args[1:]))
        if name == b"SENTINEL MASTER":
            return self.master if args[2] == SERVICE.encode() else b"-ERR No such master with that name\r\n"
        if name == b"SENTINEL MASTERS":
            return array([self.master])
        if name in (b"SENTINEL SLAVES", b"SENTINEL REPLICAS"):
            return array(self.replicas)
        if name == b"SENTINEL SENTINELS":
            return array([])
        if args[0].upper() == b"PING":
            return b"+PONG\r\n"
        return b"+OK\r\n"

    def _serve(self, conn):
        f = conn.makefile("rb")
        try:
            while True:
                args = self._read_command(f)
                if not args:
                    return
                self.commands.append(args)
                conn.sendall(self._reply(args))
        except (OSError, ValueError):
            return
        finally:
            conn.close()

    def close(self):
        self.closed = True
        self.sock.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


BAD_ADDRESSES = [
    pytest.param(b"\xff\xfe127.0.0.1", b"6379", id="host-not-utf8"),
    pytest.param(b"", b"6379", id="host-empty"),
    pytest.param(b"127.0.0.1\x00x", b"6379", id="host-nul"),
    pytest.param(b"127.0.0.1", b"99999", id="port-99999"),
    pytest.param(b"127.0.0.1", b"65536", id="port-65536"),
    pytest.param(b"127.0.0.1", b"0", id="port-0"),
    pytest.param(b"127.0.0.1", b"-5", id="port-negative"),
    pytest.param(b"127.0.0.1", b"96737", id="port-wraps-to-31201"),
    pytest.param(b"127.0.0.1", b"18446744073709551617", id="port-beyond-long"),
    pytest.param(b"127.0.0.1", b"63 79", id="port-blank"),
    pytest.param(b"127.0.0.1", b"+6379", id="port-sign"),
    pytest.param(b"127.0.0.1", b"6379x", id="port-trailing"),
    pytest.param(b"127.0.0.1", b"", id="port-empty"),
]


@pytest.fixture
def fake_sentinels():
    made = []

    def make(*args, **kwargs):
        fake = FakeSentinel(*args, **kwargs)
        made.append(fake)
        return fake

    yield make
    for fake in made:
        fake.close()


def skipped_warnings(caplog):
    return [r for r in caplog.records
            if r.name == LOGGER and r.levelno == logging.WARNING and "invalid address" in r.getMessage()]


class OwnStateCheckSentinel(sf.Sentinel):
    """Overrides check_master_state: discovery takes the Python path (SENTINEL MASTERS)."""

    def check_master_state(self, state, service_name):
        return super().check_master_state(state, service_name)


@pytest.mark.parametrize("sentinel_class", [sf.Sentinel, OwnStateCheckSentinel], ids=["native", "python"])
@pytest.mark.parametrize("ip,port", BAD_ADDRESSES)
def test_bad_master_address_from_the_only_sentinel(fake_sentinels, caplog, sentinel_class, ip, port):
    fake = fake_sentinels(ip, port)
    sentinel = sentinel_class([fake.address], socket_timeout=2)
    if sentinel_class is OwnStateCheckSentinel and port == b"+6379":
        # The Python path sees the port after the SENTINEL MASTERS parser (redis-py's),
        # which reads "+6379" as int("+6379"): a valid port, so the answer is used.
        assert sentinel.discover_master(SERVICE) == ("127.0.0.1", 6379)
        return
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        with pytest.raises(sf_sentinel.MasterNotFoundError) as excinfo:
            sentinel.discover_master(SERVICE)
    assert "invalid address" in str(excinfo.value)
    assert len(skipped_warnings(caplog)) == 1
    sentinel.close()


@pytest.mark.parametrize("ip,port", [
    pytest.param(b"\xff\xfe127.0.0.1", b"6379", id="host-not-utf8"),
    BAD_ADDRESSES[3],
])
def test_master_for_commands_raise_a_connection_error(fake_sentinels, ip, port):
    fake = fake_sentinels(ip, port)
    sentinel = sf.Sentinel([fake.address], socket_timeout=2)
    master = sentinel.master_for(SERVICE, socket_timeout=2, retry=no_retry())
    for _ in range(3):   # every command, not only the first
        with pytest.raises(sf_exceptions.ConnectionError):
            master.set("k", "v")
    master.close()
    sentinel.close()


@pytest.mark.parametrize("sentinel_class", [sf.Sentinel, OwnStateCheckSentinel], ids=["native", "python"])
@pytest.mark.parametrize("ip,port", [BAD_ADDRESSES[0], BAD_ADDRESSES[3], BAD_ADDRESSES[7]])
def test_next_sentinel_is_asked(topology, fake_sentinels, caplog, sentinel_class, ip, port):
    fake = fake_sentinels(ip, port)
    sentinel = sentinel_class([fake.address] + topology.sentinel_addresses, socket_timeout=2)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert sentinel.discover_master(topology.service_name) == topology.master.address
    warnings = skipped_warnings(caplog)
    assert len(warnings) == 1
    assert str(fake.address[1]) in warnings[0].getMessage()
    sentinel.close()


def test_master_for_works_through_the_next_sentinel(topology, fake_sentinels, key):
    fake = fake_sentinels(b"\xff\xfe127.0.0.1", b"99999")
    sentinel = sf.Sentinel([fake.address] + topology.sentinel_addresses, socket_timeout=2)
    master = sentinel.master_for(topology.service_name, socket_timeout=2)
    assert master.set(key, "v") is True
    assert master.get(key) == b"v"
    master.close()
    sentinel.close()


def test_replicas_with_bad_addresses_are_skipped(topology, fake_sentinels, caplog):
    good = topology.replicas[0].address
    fake = fake_sentinels(b"127.0.0.1", str(topology.master.port).encode(), replicas=[
        (b"\xff\xfe127.0.0.1", b"6379"),
        (good[0].encode(), b"99999"),
        (good[0].encode(), b"-5"),
        (good[0].encode(), str(good[1]).encode()),
    ])
    sentinel = sf.Sentinel([fake.address], socket_timeout=2)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert sentinel.discover_slaves(SERVICE) == [good]
    assert len(skipped_warnings(caplog)) == 3
    sentinel.close()


def test_only_bad_replicas_means_the_next_sentinel_is_asked(topology, fake_sentinels):
    fake = fake_sentinels(b"127.0.0.1", b"6379", replicas=[(b"127.0.0.1", b"0"), (b"\xc3(", b"6379")])
    sentinel = sf.Sentinel([fake.address] + topology.sentinel_addresses, socket_timeout=2)
    expected = sorted(n.address for n in topology.replicas)
    assert sorted(sentinel.discover_slaves(topology.service_name)) == expected
    sentinel.close()


def test_filter_slaves_skips_bad_addresses(caplog):
    sentinel = sf.Sentinel([])
    flags = {"is_odown": False, "is_sdown": False, "is_disconnected": False}
    slaves = [dict(flags, ip="127.0.0.1", port=6380), dict(flags, ip="\ufffd\ufffd", port=6381),
              dict(flags, ip="127.0.0.1", port=99999), dict(flags, ip="127.0.0.1", port="x")]
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert sentinel.filter_slaves(slaves) == [("127.0.0.1", 6380)]
    assert len(skipped_warnings(caplog)) == 3
