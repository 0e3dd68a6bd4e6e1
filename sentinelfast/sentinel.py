"""Redis Sentinel support: the drop-in for ``redis.sentinel``.

``Sentinel`` asks the Sentinels where a service's master and replicas are (the
queries run in C, see ``csrc/sentinel_discovery.c``) and hands out ``Redis`` clients
whose pools follow the service: ``master_for`` connects to the current master,
``slave_for`` round-robins over healthy replicas and falls back to the master.
"""
from __future__ import annotations

import logging
import random
import threading
import weakref
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Type

from . import _core
from .client import Redis
from redis.commands import SentinelCommands
from .connection import Connection, ConnectionPool, SSLConnection, tls_context
from .exceptions import (ConnectionError, MasterNotFoundError, ReadOnlyError,
                         ReplicaNotFoundError, SlaveNotFoundError, TimeoutError)
from .failover import FailoverMonitor, SentinelEvent, default_sentinel_retry

logger = logging.getLogger(__name__)

Address = Tuple[str, int]


def _address_problem(host: Any, port: Any) -> Optional[str]:
    """Why (host, port) from a Sentinel's state reply is not a usable address, or None.

    The host is a str as redis-py decodes it (invalid UTF-8 replaced by U+FFFD, which
    no host name contains); the port an int from 1 to 65535.
    """
    if not isinstance(host, str) or not host or "\ufffd" in host or "\0" in host:
        return f"invalid address: ip {host!r}, port {port!r}"
    if type(port) is not int or not 1 <= port <= 65535:
        return f"invalid address: ip {host!r}, port {port!r}"
    return None


class SentinelManagedConnection(Connection):
    """A connection whose address comes from Sentinel each time it connects.

    On a master pool, a ``READONLY`` reply means the server was demoted: the
    connection is closed and ``ConnectionError("The previous master is now a slave")``
    raised, as in redis-py.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.connection_pool = kwargs.pop("connection_pool")
        kwargs["address_provider"] = self.connection_pool.addresses
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        pool = self.connection_pool
        host = f",host={self.host},port={self.port}" if self.is_connected else ""
        return f"<{type(self).__module__}.{type(self).__name__}(service={pool.service_name}{host})>"

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        except ReadOnlyError:
            if self.connection_pool.is_master:
                self.disconnect()
                raise ConnectionError("The previous master is now a slave")
            raise


class SentinelManagedSSLConnection(SentinelManagedConnection, SSLConnection):
    """A TLS connection whose address comes from Sentinel (redis-py's
    ``SentinelManagedSSLConnection``): ``Sentinel(..., ssl=True, ssl_*=...)`` makes
    these for the data nodes. The certificate is checked against the address
    Sentinel gives (usually an IP address) when ``ssl_check_hostname`` is on."""


class SentinelConnectionPoolProxy:
    """What a pool's connections ask for their address. Holds the pool weakly so
    that connections do not keep it alive."""

    def __init__(self, connection_pool: "SentinelConnectionPool", is_master: bool,
                 check_connection: bool, service_name: str, sentinel_manager: "Sentinel") -> None:
        self.connection_pool_ref = weakref.ref(connection_pool)
        self.is_master = is_master
        self.check_connection = check_connection
        self.service_name = service_name
        self.sentinel_manager = sentinel_manager
        self.reset()

    def reset(self) -> None:
        """Forget the known master and the replica rotation."""
        self.master_address: Optional[Address] = None
        self.slave_rr_counter: Optional[int] = None

    def get_master_address(self) -> Address:
        """Ask Sentinel for the master; on a change, retire the pool's connections."""
        address = self.sentinel_manager.discover_master(self.service_name)
        service = getattr(self.connection_pool_ref(), "service", None)
        if service is not None:
            service.set_master(*address)
        if self.is_master and self.master_address != address:
            previous, self.master_address = self.master_address, address
            pool = self.connection_pool_ref()
            if pool is not None and previous is not None:
                logger.info("service %r: master moved from %s:%s to %s:%s",
                            self.service_name, *previous, *address)
                pool._retire_connections()
        return address

    def rotate_slaves(self) -> Iterator[Address]:
        """Replicas in round-robin order from a random start, then the master;
        raises SlaveNotFoundError when all are exhausted."""
        slaves = self.sentinel_manager.discover_slaves(self.service_name)
        if slaves:
            if self.slave_rr_counter is None:
                self.slave_rr_counter = random.randint(0, len(slaves) - 1)
            for _ in range(len(slaves)):
                self.slave_rr_counter = (self.slave_rr_counter + 1) % len(slaves)
                yield slaves[self.slave_rr_counter]
        try:
            yield self.get_master_address()
        except MasterNotFoundError:
            pass
        raise SlaveNotFoundError(f"No slave found for {self.service_name!r}")

    rotate_replicas = rotate_slaves

    def addresses(self) -> Iterator[Address]:
        """The addresses a new connection tries, in order."""
        if self.is_master:
            return iter((self.get_master_address(),))
        return self.rotate_slaves()


def configure_service(service: _core.Service, sentinel_manager: Any,
                      connection_kwargs: Dict[str, Any], tls: bool) -> None:
    """Give a master pool's Service the Sentinel object's failover options: the
    promotion probe (``probe_promotion``; it reaches the data nodes with the pool's
    credentials and TLS settings) and the Sentinel-majority policy
    (``require_sentinel_majority``). Shared by the sync and asyncio pools. Without a
    fixed password (a credential provider) there is no probe: the switch waits for
    Sentinel's ``+promoted-slave``."""
    service.set_require_majority(getattr(sentinel_manager, "require_sentinel_majority", False))
    if (not getattr(sentinel_manager, "probe_promotion", True)
            or connection_kwargs.get("credential_provider") is not None):
        service.set_probe(enabled=False)
        return
    context = None
    try:
        if tls:
            context = tls_context(**{k: v for k, v in connection_kwargs.items()
                                     if k.startswith("ssl_")})
        service.set_probe(username=connection_kwargs.get("username"),
                          password=connection_kwargs.get("password"), tls=context)
    except Exception as e:       # the connections report it when they connect
        logger.info("service: no promotion probe (%s)", e)
        service.set_probe(enabled=False)


class SentinelConnectionPool(ConnectionPool):
    """A pool for one service's master (``is_master=True``) or replicas.

    Connections ask Sentinel for their address when they connect; when the master
    moves, idle connections are closed at once and in-use ones when released.
    """

    def __init__(self, service_name: str, sentinel_manager: "Sentinel", **kwargs: Any) -> None:
        ssl = kwargs.pop("ssl", False)
        kwargs.setdefault("connection_class",
                          SentinelManagedSSLConnection if ssl else SentinelManagedConnection)
        self.is_master = kwargs.pop("is_master", True)
        self.check_connection = kwargs.pop("check_connection", False)
        self.service_name = service_name
        self.sentinel_manager = sentinel_manager
        self.proxy = SentinelConnectionPoolProxy(self, self.is_master, self.check_connection,
                                                 service_name, sentinel_manager)
        super().__init__(**kwargs)
        self.connection_kwargs["connection_pool"] = self.proxy
        self.service = None
        if self.is_master:
            # Follow the service's failovers as the monitor thread sees them.
            monitor = sentinel_manager._failover_monitor()
            self.service = monitor.service(service_name)
            self._attach_service(self.service)
            configure_service(self.service, sentinel_manager, self.connection_kwargs,
                              tls=issubclass(self.connection_class, SSLConnection))  # type: ignore[arg-type]
            monitor.client_started(self)

    def __repr__(self) -> str:
        role = "master" if self.is_master else "slave"
        return f"<{type(self).__module__}.{type(self).__name__}(service={self.service_name}({role}))>"


    def reset(self) -> None:
        super().reset()
        self.proxy.reset()

    @property
    def master_address(self) -> Optional[Address]:
        """Where the pool's connections go: the master the failover monitor follows
        (after a switch, the new one), else the address last learned from Sentinel;
        None before either is known."""
        service = getattr(self, "service", None)
        # connections take the monitor's address without asking the proxy
        followed = service.state().get("master") if service is not None else None
        if followed:
            return followed[0], int(followed[1])
        return self.proxy.master_address

    def owns_connection(self, connection: _core.Connection) -> bool:
        if self.is_master and self.master_address != (connection.host, connection.port):
            return False
        return super().owns_connection(connection)

    def get_master_address(self) -> Address:
        """Ask Sentinel for the master's address."""
        return self.proxy.get_master_address()

    def rotate_slaves(self) -> Iterator[Address]:
        """Round-robin over the replicas, then the master."""
        return self.proxy.rotate_slaves()

    rotate_replicas = rotate_slaves


class Sentinel(SentinelCommands):
    """A set of Sentinels watching one or more services (redis-py's ``Sentinel``).

    >>> sentinel = Sentinel([("localhost", 26379)], socket_timeout=0.1)
    >>> master = sentinel.master_for("mymaster", socket_timeout=0.1)
    >>> master.set("foo", "bar")
    >>> sentinel.slave_for("mymaster", socket_timeout=0.1).get("foo")
    b'bar'

    Without ``sentinel_kwargs`` only the ``socket_*`` entries of ``connection_kwargs``
    are used for the Sentinel connections. As in redis-py, the Sentinels get
    ``sentinel_kwargs`` and the data nodes ``connection_kwargs``: ``ssl=True`` (with
    ``ssl_*`` keywords) in ``connection_kwargs`` makes TLS connections to the
    masters and replicas, in ``sentinel_kwargs`` TLS connections to the Sentinels.
    ``min_other_sentinels``: a Sentinel that
    sees fewer peers is not trusted. ``force_master_ip`` replaces the master host.

    ``probe_promotion`` (sentinelfast only, default True): during a failover, ask the
    replica Sentinel is promoting for its ROLE every 2 ms and follow it the moment it
    is a master, instead of waiting for Sentinel's ``+promoted-slave`` (up to a second
    later). False: follow Sentinel's announcements only. See DESIGN.md, "Following a
    failover early", for why this is safe and the one risk it keeps.

    ``require_sentinel_majority`` (sentinelfast only, default False): when this client
    has reached fewer than a majority of the Sentinels for longer than the service's
    down-after-milliseconds, it may be on the minority side of a network partition,
    writing to a master the others are replacing (every such write is lost when the
    partition heals). With True, master commands then wait (up to the hold timeout)
    for a majority to come back, and fail with ConnectionError if it does not. Off by
    default: a drop-in must not stop writing to a healthy master because the Sentinels
    are unreachable; the server-side guard, ``min-replicas-to-write``, protects every
    client. See DESIGN.md, "Partitions".
    """

    def __init__(self, sentinels: Sequence[Address], min_other_sentinels: int = 0,
                 sentinel_kwargs: Optional[Dict[str, Any]] = None,
                 force_master_ip: Optional[str] = None, *, probe_promotion: bool = True,
                 require_sentinel_majority: bool = False,
                 **connection_kwargs: Any) -> None:
        self.probe_promotion = bool(probe_promotion)
        self.require_sentinel_majority = bool(require_sentinel_majority)
        if sentinel_kwargs is None:
            sentinel_kwargs = {k: v for k, v in connection_kwargs.items()
                               if k.startswith("socket_")}
        self.sentinel_kwargs = sentinel_kwargs
        self.sentinels: List[Redis] = [Redis(host, port, **self.sentinel_kwargs)
                                       for host, port in sentinels]
        self.min_other_sentinels = min_other_sentinels
        self.connection_kwargs = connection_kwargs
        self._force_master_ip = force_master_ip
        self._sentinel_addresses = [(host, int(port)) for host, port in sentinels]
        self._monitor: Optional[FailoverMonitor] = None
        self._monitor_lock = threading.Lock()   # one monitor, however many threads ask
        self._followed_services: set = set()
        self._services_found: set = set()       # a Sentinel named a master or replica once

    def _failover_monitor(self) -> FailoverMonitor:
        """The monitor of this Sentinel object (created on first use)."""
        monitor = self._monitor
        if monitor is not None:
            return monitor
        with self._monitor_lock:
            if self._monitor is None:
                timeout = self.sentinel_kwargs.get("socket_timeout") or 0.5
                # redis-py's rule: the Sentinels get sentinel_kwargs (credentials, TLS)
                self._monitor = FailoverMonitor(self._sentinel_addresses, float(timeout),
                                                sentinel_kwargs=self.sentinel_kwargs)
            return self._monitor

    def add_event_listener(self, callback) -> None:
        """Call ``callback(event: SentinelEvent)`` for every failover event seen
        (from the monitor thread; keep it short)."""
        self._failover_monitor().add_listener(callback)

    def remove_event_listener(self, callback) -> None:
        """Stop calling ``callback``."""
        self._failover_monitor().remove_listener(callback)

    def stats(self) -> Dict[str, Any]:
        """Counters: per service (switches, failovers, connections dropped, held
        commands, ROLE refusals), the monitor's (events, re-checks, Sentinel links)
        and the number of command retries in this process."""
        monitor = self._monitor
        services = {name: monitor.service(name).state()
                    for name in sorted(self._followed_services)} if monitor else {}
        return {
            "services": services,
            "monitor": monitor.stats() if monitor is not None else None,
            "retries": _core.retry_count(),
        }

    def __repr__(self) -> str:
        addresses = ",".join("{host}:{port}".format_map(s.connection_pool.connection_kwargs)
                             for s in self.sentinels)
        return f"<{type(self).__module__}.{type(self).__name__}(sentinels=[{addresses}])>"

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """Run a Sentinel command on every Sentinel (or one at random with
        ``once=True``). Returns whether all succeeded, or the replies with
        ``return_responses=True``."""
        once = bool(kwargs.pop("once", False))
        return_responses = bool(kwargs.pop("return_responses", False))
        if once:
            response = random.choice(self.sentinels).execute_command(*args, **kwargs)
            return [response] if return_responses else bool(response)
        responses = [sentinel.execute_command(*args, **kwargs) for sentinel in self.sentinels]
        return responses if return_responses else all(responses)

    def close(self) -> None:
        """Close the Sentinel clients and stop the monitor thread (the clients handed
        out keep working, without failover events)."""
        if self._monitor is not None:
            self._monitor.close()
        first_error = None
        for sentinel in self.sentinels:
            try:
                sentinel.close()
            except Exception as e:  # close the others all the same
                first_error = first_error or e
        if first_error is not None:
            raise first_error

    def __enter__(self) -> "Sentinel":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def check_master_state(self, state: Dict[str, Any], service_name: str) -> bool:
        """True if ``state`` (a SENTINEL MASTER reply) shows a usable master."""
        if not state["is_master"] or state["is_sdown"] or state["is_odown"]:
            return False
        return state["num-other-sentinels"] >= self.min_other_sentinels

    def _uses_own_state_check(self) -> bool:
        return type(self).check_master_state is not Sentinel.check_master_state

    def discover_master(self, service_name: str) -> Address:
        """The (host, port) of the service's master.

        Sentinels are asked in order, each once and with no retries; the one that
        answers moves to the front. An answer whose address is unusable (a host
        that is not UTF-8, a port outside 1-65535) is logged (WARNING) and the next
        Sentinel asked. Raises MasterNotFoundError if none knows a healthy master.
        """
        if self._uses_own_state_check():
            index, found = self._discover_master_python(service_name)
        else:
            index, found = _core.discover_master(self.sentinels, service_name,
                                                 self.min_other_sentinels)
        if index is None:
            error_info = f" : {', '.join(found)}" if found else ""
            raise MasterNotFoundError(f"No master found for {service_name!r}{error_info}")
        if index:
            self.sentinels[0], self.sentinels[index] = self.sentinels[index], self.sentinels[0]
        self._services_found.add(service_name)
        host, port = found
        if self._force_master_ip is not None:
            host = self._force_master_ip
        return host, port

    def _discover_master_python(self, service_name: str):
        """Discovery through ``check_master_state`` for subclasses that override it."""
        errors = []
        for index, sentinel in enumerate(self.sentinels):
            try:
                masters = sentinel.sentinel_masters()
            except (ConnectionError, TimeoutError) as e:
                errors.append(f"{sentinel} - {e!r}")
                continue
            state = masters.get(service_name)  # type: ignore[union-attr]  # a dict by name
            if state and self.check_master_state(state, service_name):
                address = (state.get("ip"), state.get("port"))
                problem = _address_problem(*address)
                if problem is None:
                    return index, address
                logger.warning("Sentinel %r, service %r: %s; asking the next Sentinel",
                               sentinel, service_name, problem)
                errors.append(f"{sentinel} - {problem}")
        return None, errors

    def filter_slaves(self, slaves: Sequence[Dict[str, Any]]) -> List[Address]:
        """The (ip, port) of replicas that are not down nor disconnected; replicas
        with an unusable address (see ``discover_master``) are left out, with a
        WARNING."""
        usable = []
        for s in slaves:
            if s["is_odown"] or s["is_sdown"] or s.get("is_disconnected"):
                continue
            problem = _address_problem(s.get("ip"), s.get("port"))
            if problem is not None:
                logger.warning("replica %s; replica skipped", problem)
                continue
            usable.append((s["ip"], s["port"]))
        return usable

    filter_replicas = filter_slaves

    def discover_slaves(self, service_name: str) -> List[Address]:
        """The healthy replicas of the service, from the first Sentinel that knows one;
        replicas with an unusable address are left out (WARNING)."""
        replicas = _core.discover_replicas(self.sentinels, service_name)
        if replicas:
            self._services_found.add(service_name)
        return replicas

    discover_replicas = discover_slaves

    def master_for(self, service_name: str, redis_class: Type[Redis] = Redis,
                   connection_pool_class: Type[SentinelConnectionPool] = SentinelConnectionPool, **kwargs: Any) -> Redis:
        """A client for the service's current master; it follows failovers."""
        kwargs["is_master"] = True
        connection_kwargs = dict(self.connection_kwargs)
        connection_kwargs.update(kwargs)
        connection_kwargs.setdefault("retry", default_sentinel_retry())
        self._followed_services.add(service_name)
        return redis_class.from_pool(connection_pool_class(service_name, self, **connection_kwargs))

    def slave_for(self, service_name: str, redis_class: Type[Redis] = Redis,
                  connection_pool_class: Type[SentinelConnectionPool] = SentinelConnectionPool, **kwargs: Any) -> Redis:
        """A client for the service's replicas (round robin, master as fallback)."""
        kwargs["is_master"] = False
        connection_kwargs = dict(self.connection_kwargs)
        connection_kwargs.update(kwargs)
        # No retry budget until a Sentinel named a node of the service (see
        # default_sentinel_retry); master pools learn that from their Service.
        connection_kwargs.setdefault("retry", default_sentinel_retry(
            found=lambda: service_name in self._services_found))
        return redis_class.from_pool(connection_pool_class(service_name, self, **connection_kwargs))

    def replica_for(self, service_name: str, redis_class: Type[Redis] = Redis,
                    connection_pool_class: Type[SentinelConnectionPool] = SentinelConnectionPool, **kwargs: Any) -> Redis:
        """Alias of :meth:`slave_for`."""
        return self.slave_for(service_name, redis_class=redis_class,
                              connection_pool_class=connection_pool_class, **kwargs)


__all__ = ["Sentinel", "SentinelConnectionPool", "SentinelConnectionPoolProxy",
           "SentinelManagedConnection", "SentinelManagedSSLConnection", "MasterNotFoundError", "SlaveNotFoundError",
           "ReplicaNotFoundError", "SentinelEvent"]
