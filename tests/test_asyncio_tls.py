"""sentinelfast.asyncio over TLS (asyncio's SSL on Python's ssl module) with redis-py's
``ssl_*`` keywords: single TLS-only servers, then a TLS-only Sentinel topology with
passwords."""
import asyncio
import os
import tempfile

import pytest
import redis.exceptions
from asyncio_drill import WriterTasks
from sfimpl import IMPL

import sentinelfast.asyncio as aio
from sentinelfast import testing
from sentinelfast.testing.certs import make_certificates

pytestmark = pytest.mark.skipif(IMPL != "sentinelfast",
                                reason="sentinelfast.asyncio has no redis-py twin to switch to")


def run(coro, bound=60):
    return asyncio.run(asyncio.wait_for(coro, bound))


def no_retry():
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    return Retry(NoBackoff(), 0)


@pytest.fixture(scope="module")
def certs():
    with tempfile.TemporaryDirectory(prefix="sf-aio-tls-") as directory:
        yield make_certificates(directory)


@pytest.fixture(scope="module")
def mtls_server(certs):
    """TLS only; a client certificate signed by the test CA required."""
    server = testing.RedisServer("standalone", [], tls=certs, name="aio-tls")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def tls_client(server, certs, **kwargs):
    kwargs.setdefault("ssl_ca_certs", certs.ca_cert)
    kwargs.setdefault("ssl_certfile", certs.client_cert)
    kwargs.setdefault("ssl_keyfile", certs.client_key)
    kwargs.setdefault("retry", no_retry())
    return aio.Redis(host=kwargs.pop("host", "localhost"), port=server.port, ssl=True,
                     **kwargs)


def test_mutual_tls_commands_pipelines_large_values(mtls_server, certs):
    async def main():
        async with tls_client(mtls_server, certs) as r:
            big = os.urandom(3 * 1024 * 1024)
            assert await r.set("big", big)
            assert await r.get("big") == big
            async with r.pipeline() as p:
                p.incr("n").incr("n").get("n")
                assert await p.execute() == [1, 2, b"2"]
        async with tls_client(mtls_server, certs, host="127.0.0.1") as r:
            assert await r.ping() is True          # the IP is in the certificate
    run(main())


def test_rediss_url(mtls_server, certs):
    async def main():
        url = (f"rediss://localhost:{mtls_server.port}/0?ssl_ca_certs={certs.ca_cert}"
               f"&ssl_certfile={certs.client_cert}&ssl_keyfile={certs.client_key}")
        async with aio.Redis.from_url(url) as r:
            assert await r.ping() is True
            conn = await r.connection_pool.get_connection()
            assert isinstance(conn, aio.SSLConnection)
            await r.connection_pool.release(conn)
    run(main())


@pytest.mark.parametrize("case", ["other-ca", "no-client-cert", "plain-client",
                                  "missing-ca-file"])
def test_refusals_are_connectionerror(mtls_server, certs, case):
    async def main():
        if case == "other-ca":
            r = tls_client(mtls_server, certs, ssl_ca_certs=certs.other_ca_cert)
        elif case == "no-client-cert":
            r = tls_client(mtls_server, certs, ssl_certfile=None, ssl_keyfile=None,
                           socket_timeout=5)
        elif case == "plain-client":
            r = aio.Redis(host="localhost", port=mtls_server.port, socket_timeout=1,
                          retry=no_retry())
        else:
            r = tls_client(mtls_server, certs, ssl_ca_certs="/nonexistent/ca.pem")
        with pytest.raises((redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
            await r.ping()
        await r.aclose()
    run(main())


def test_wrong_host_name_is_refused_unless_not_checked(certs):
    server = testing.RedisServer("standalone", ["tls-auth-clients no"], tls=certs,
                                 name="aio-wrong-host", tls_cert_file=certs.wrong_host_cert,
                                 tls_key_file=certs.wrong_host_key)
    server.start()
    try:
        async def main():
            r = tls_client(server, certs)
            with pytest.raises(redis.exceptions.ConnectionError):
                await r.ping()
            await r.aclose()
            async with tls_client(server, certs, ssl_check_hostname=False) as r:
                assert await r.ping() is True
        run(main())
    finally:
        server.stop()


def test_tls_sentinel_topology_with_passwords():
    topo = testing.Topology(tls=True, password="data-s3cret", sentinel_password="sentinel-s3cret")
    topo.start()
    try:
        async def main():
            sentinel = aio.Sentinel(topo.sentinel_addresses, socket_timeout=2,
                                    sentinel_kwargs=topo.sentinel_kwargs(),
                                    **topo.client_kwargs())
            assert await sentinel.discover_master(topo.service_name) == topo.master.address
            master = sentinel.master_for(topo.service_name, socket_timeout=2)
            assert await master.set("k", "v") is True
            conn = await master.connection_pool.get_connection()
            assert isinstance(conn, aio.SentinelManagedSSLConnection)
            await master.connection_pool.release(conn)
            replica = sentinel.slave_for(topo.service_name, socket_timeout=2)
            for _ in range(100):
                if await replica.get("k") == b"v":
                    break
                await asyncio.sleep(0.05)
            assert await replica.get("k") == b"v"
            await master.aclose()
            await replica.aclose()
            await sentinel.aclose()
        run(main())
    finally:
        topo.stop()


@pytest.fixture(params=["tls", "tls+passwords"])
def fresh_tls_topology(request):
    """A new TLS-only topology for a drill; with ``tls+passwords`` the data nodes and the
    Sentinels also require passwords."""
    if request.param == "tls":
        topo = testing.Topology(tls=True)
    else:
        topo = testing.Topology(tls=True, password="data-s3cret",
                                sentinel_password="sentinel-s3cret")
    try:
        topo.start()
        yield topo
    finally:
        topo.stop()


@pytest.mark.slow
@pytest.mark.destructive
def test_planned_failover_over_tls_with_writer_tasks(fresh_tls_topology):
    """20 writer tasks on a master_for client over TLS through SENTINEL FAILOVER: no
    exception reaches them, no acknowledged write is missing on the new master, and the
    pool's TLS connections end up on the new master."""
    topo = fresh_tls_topology

    async def main():
        sentinel = aio.Sentinel(topo.sentinel_addresses, socket_timeout=1,
                                sentinel_kwargs=topo.sentinel_kwargs(), **topo.client_kwargs())
        master = sentinel.master_for(topo.service_name, socket_timeout=1)
        assert await master.ping() is True
        writers = WriterTasks(master, 20).start()
        await asyncio.sleep(0.5)
        old = topo.master.address
        new = tuple(await asyncio.to_thread(topo.failover))
        assert new != tuple(old)
        before_end = writers.total()
        await asyncio.sleep(1.5)
        await writers.stop()
        assert writers.errors == [], writers.errors[:3]
        assert writers.total() > before_end    # writes went on
        missing = writers.missing_on(topo.node_by_address(new))
        print(f"\nasyncio TLS planned failover: {writers.total()} acknowledged writes, "
              f"{len(missing)} missing on the new master")
        assert missing == []
        pool = master.connection_pool
        assert pool.master_address == new
        for conn in pool._available_connections:
            assert isinstance(conn, aio.SentinelManagedSSLConnection)
            assert not conn.is_connected or (conn.host, conn.port) == new
        await master.aclose()
        await sentinel.aclose()
    run(main(), bound=150)
