"""sentinelfast.asyncio.sentinel: the drop-in for ``redis.asyncio.sentinel``.

``Sentinel`` asks the Sentinels (async clients) where a service's master and
replicas are and hands out :class:`~sentinelfast.asyncio.Redis` clients whose pools
follow the service:

- a master connection runs ROLE in its handshake (the sync client's
  ``_core.Handshake``) and is refused if the server is not a master; a READONLY reply
  (judged by ``_core.classify_reply``) closes it and raises ConnectionError, which
  the retry policy answers by asking Sentinel again;
- the pool follows the same :class:`~sentinelfast.failover.FailoverMonitor` thread as
  the sync client (one per ``Sentinel``): on ``switch-master`` the event reaches the
  pool's loop with ``call_soon_threadsafe``; idle connections to the old master are
  closed at once, in-use ones when released (``release`` asks whether the connection
  still goes to the master);
- from ``failover-started`` to the switch, commands on master connections wait
  (awaited: the loop keeps running; at most the hold timeout) and every connection to
  the old master is closed, so no write is acknowledged by a master being replaced;
- the default retry policy retries ConnectionError and TimeoutError for as long as a
  failover takes (the service's ``down-after-milliseconds`` plus 15 s) once a master
  was known, and not at all before (MasterNotFoundError at once, as redis-py).
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from contextvars import ContextVar
from typing import Any, AsyncIterator, Awaitable, Dict, List, Optional, Sequence, Tuple, Type

import redis.asyncio.sentinel as _redis_async_sentinel
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.commands import AsyncSentinelCommands

from .. import _core
from .. import exceptions as _exceptions
from ..exceptions import ConnectionError, ReadOnlyError, ResponseError, TimeoutError
from ..failover import DEFAULT_HOLD_TIMEOUT, FailoverMonitor, SentinelEvent
from ..sentinel import _address_problem, configure_service
from .client import Redis
from .connection import Connection, ConnectionPool, SSLConnection

logger = logging.getLogger(__name__)

Address = Tuple[str, int]



class MasterNotFoundError(_exceptions.MasterNotFoundError,
                          _redis_async_sentinel.MasterNotFoundError):
    """No Sentinel knows a healthy master; caught by ``except`` clauses for
    ``redis.asyncio.sentinel``'s and ``redis.sentinel``'s MasterNotFoundError."""


class SlaveNotFoundError(_exceptions.SlaveNotFoundError,
                         _redis_async_sentinel.SlaveNotFoundError):
    """No replica (nor the master) could be reached; caught as
    ``redis.asyncio.sentinel``'s and ``redis.sentinel``'s SlaveNotFoundError."""


ReplicaNotFoundError = SlaveNotFoundError

FAILOVER_ELECTION_SECONDS = 15.0
UNKNOWN_DOWN_AFTER_SECONDS = 15.0


# True in a task while it runs under a FailoverRetry: a connect() there makes one
# attempt (the policy around it retries); elsewhere connect() runs under the
# connection's retry policy itself (redis-py's SentinelManagedConnection does), so that a
# caller that connects outside any policy (redis-py's PubSub reconnecting before a read)
# rides a failover too.
_under_failover_retry: ContextVar[bool] = ContextVar("sentinelfast_under_failover_retry",
                                                     default=False)


class FailoverRetry(Retry):
    """redis-py's async ``Retry`` with a time budget instead of a count: retries
    ConnectionError and TimeoutError with short jittered backoff (10 ms doubling to
    100 ms) for as long as ``budget()`` seconds from the first failure."""

    def __init__(self, budget: Any) -> None:
        super().__init__(ExponentialWithJitterBackoff(cap=0.1, base=0.01), -1,
                         (ConnectionError, TimeoutError))
        self._budget = budget

    def __deepcopy__(self, memo: Any) -> "FailoverRetry":
        return FailoverRetry(self._budget)

    async def call_with_retry(self, do: Any, fail: Any, is_retryable: Any = None,
                              with_failure_count: bool = False) -> Any:
        """Run ``do()`` until it succeeds or the budget is spent (the last error is
        raised); ``fail(error)`` runs after each failure (a ConnectionError or
        TimeoutError of its own, such as a reconnect that failed, counts as one more
        failure: the next ``do()`` finds the connection closed)."""
        token = _under_failover_retry.set(True)
        try:
            return await self._run(do, fail, is_retryable, with_failure_count)
        finally:
            _under_failover_retry.reset(token)

    async def _run(self, do: Any, fail: Any, is_retryable: Any,
                   with_failure_count: bool) -> Any:
        self._backoff.reset()
        failures = 0
        deadline: Optional[float] = None
        while True:
            try:
                return await do()
            except self._supported_errors as error:
                if is_retryable is not None and not is_retryable(error):
                    raise
                failures += 1
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._budget()
                if now >= deadline:
                    raise
                try:
                    if with_failure_count:
                        await fail(error, failures)
                    else:
                        await fail(error)
                except self._supported_errors:
                    pass
                await asyncio.sleep(min(self._backoff.compute(failures),
                                        max(0.0, deadline - time.monotonic())))


class SentinelManagedConnection(Connection):
    """A connection whose address comes from Sentinel each time it connects."""

    def __init__(self, **kwargs: Any) -> None:
        self.connection_pool: "SentinelConnectionPool" = kwargs.pop("connection_pool")
        # Master connections: the service's master generation when this connection began
        # connecting (None: not connected through the service).
        self._generation: Optional[int] = None
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        pool = self.connection_pool
        where = f",host={self.host},port={self.port}" if self.is_connected else ""
        return (f"<{type(self).__module__}.{type(self).__name__}"
                f"(service={pool.service_name}{where})>")

    def _check_role(self) -> bool:
        return self.connection_pool.is_master

    async def _not_master(self) -> None:
        self.connection_pool._forget_master()
        raise ConnectionError("The previous master is now a slave")

    async def connect_to(self, address: Address) -> None:
        """Connect to ``address`` (host, port); with the pool's ``check_connection``,
        a PING must then be answered."""
        self.host, self.port = address
        await super().connect()
        if self.connection_pool.check_connection:
            await super().send_command("PING", check_health=False)
            if await self.read_response() not in (b"PONG", "PONG"):
                self._close()
                raise ConnectionError(f"Bad response to PING from {self.host}:{self.port}")

    async def connect(self) -> None:
        """Ask Sentinel for the address (the master, or the next replica), then
        connect there; under the connection's retry policy unless a FailoverRetry
        already runs around this call (as redis-py's, which retries here)."""
        if self.is_connected:
            return
        if _under_failover_retry.get() or self.retry is None:
            await self._connect_once()
        else:
            await self.retry.call_with_retry(self._connect_once, _yield)

    async def _connect_once(self) -> None:
        if self.is_connected:
            return
        pool = self.connection_pool
        if pool.is_master:
            service = pool.service
            if service is None:
                await self.connect_to(await pool.get_master_address())
                return
            # Not during a failover (what the connection would write could land on the
            # old master after its replica was promoted)...
            gate = pool.failover_gate()
            if gate is not None:
                await gate
            self._generation = service.generation()
            await self.connect_to(await pool.get_master_address())
            # ...and not to an address the monitor left while this connection was made
            # (its loop may not have run the switch yet): the retry policy connects again.
            if not self._goes_to_master(service):
                self._close()
                raise ConnectionError(_MOVED_WHILE_CONNECTING)
            return
        async for address in pool.rotate_slaves():
            try:
                await self.connect_to(address)
                return
            except ConnectionError:
                continue
        raise SlaveNotFoundError(f"No slave found for {pool.service_name!r}")

    def _before_command(self) -> Any:
        """Before a command is written: the pool's failover hold to await, or None.

        What the monitor knows is read from the C service at this moment, not only from
        the events it sends through the loop (a busy loop runs them late): a failover in
        progress starts the hold here; a connection made before the master's address
        changed is closed (the command is not sent on it; the caller reconnects, or the
        retry policy does), after the hold if there is one."""
        pool = self.connection_pool
        service = pool.service
        if service is None:
            return None
        gate = pool.failover_gate()
        if gate is not None:
            return self._after_hold(gate, service)
        if self._closed_if_stale(service):
            return _yield()
        return None

    async def _after_hold(self, gate: Awaitable[None], service: Any) -> None:
        await gate
        self._closed_if_stale(service)

    def _closed_if_stale(self, service: Any) -> bool:
        """Close this connection if it is open to an address the master has left; True
        if it did."""
        if self.is_connected and not self._goes_to_master(service):
            self._close()
            return True
        return False

    def _goes_to_master(self, service: Any) -> bool:
        """False if the master's address changed since this connection began connecting
        and it is not the address the monitor follows now."""
        generation = service.generation()
        if self._generation is None or generation == self._generation:
            return True
        # e.g. the monitor learned its first address, the one this connection reached
        if (self.connection_pool._followed_master() == (self.host, self.port)
                and service.generation() == generation):
            self._generation = generation
            return True
        return False

    def _error_reply(self, reply: BaseException) -> BaseException:
        """READONLY on a master connection closes it, makes the pool forget the master
        and becomes ConnectionError("The previous master is now a slave")."""
        if _core.classify_reply(reply, self.connection_pool.is_master) == _core.REPLY_DEMOTED:
            self._close()
            self.connection_pool._forget_master()
            return ConnectionError("The previous master is now a slave")
        return reply


async def _yield(*args: Any) -> None:
    await asyncio.sleep(0)


class SentinelManagedSSLConnection(SentinelManagedConnection, SSLConnection):
    """A TLS connection whose address comes from Sentinel (``Sentinel(..., ssl=True,
    ssl_*=...)`` makes these for the data nodes); the certificate is checked against
    the address Sentinel gives when ``ssl_check_hostname`` is on."""


class SentinelConnectionPool(ConnectionPool):
    """A pool for one service's master (``is_master=True``) or its replicas."""

    def __init__(self, service_name: str, sentinel_manager: "Sentinel", **kwargs: Any) -> None:
        ssl = kwargs.pop("ssl", False)
        kwargs.setdefault("connection_class",
                          SentinelManagedSSLConnection if ssl else SentinelManagedConnection)
        self.is_master = kwargs.pop("is_master", True)
        self.check_connection = kwargs.pop("check_connection", False)
        self.service_name = service_name
        self.sentinel_manager = sentinel_manager
        super().__init__(**kwargs)
        self.connection_kwargs["connection_pool"] = self
        self.master_address: Optional[Address] = None
        self.slave_rr_counter: Optional[int] = None
        self._ever_found = False        # a Sentinel named a replica or master once
        self._ask_sentinel = False      # the followed master was refused: ask Sentinel
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        # A failover in progress: commands wait (awaited) until the switch, or until
        # hold_timeout passes (then they go on).
        self._hold: Optional[asyncio.Event] = None
        self._hold_deadline = 0.0
        # Cut off from a Sentinel majority (require_sentinel_majority): set when it is back.
        self._majority_back: Optional[asyncio.Event] = None
        self.hold_timeout = DEFAULT_HOLD_TIMEOUT
        self.service = None
        if self.is_master:
            monitor = sentinel_manager._failover_monitor()
            self.service = monitor.service(service_name)
            configure_service(self.service, sentinel_manager, self.connection_kwargs,
                              tls=issubclass(self.connection_class, SSLConnection))
            monitor.client_started(self)
            listener = _failover_listener(weakref.ref(self), service_name)
            monitor.add_listener(listener)
            weakref.finalize(self, _remove_listener, monitor, listener)

    def __repr__(self) -> str:
        role = "master" if self.is_master else "slave"
        return (f"<{type(self).__module__}.{type(self).__name__}"
                f"(service={self.service_name}({role}))>")

    def reset(self) -> None:
        """Forget every connection, the known master and the replica rotation."""
        super().reset()
        self.master_address = None
        self.slave_rr_counter = None

    def _after_fork_in_child(self) -> None:
        """In a child after fork() (the connections were forgotten already): the
        parent's loop and any failover hold are not the child's."""
        self._loop = None
        self._hold = None
        self._majority_back = None

    def failover_budget(self) -> float:
        """Seconds a command may keep retrying: none before a master was ever known,
        else the service's down-after plus the election."""
        if self.service is None:        # replica pools follow no service
            return (UNKNOWN_DOWN_AFTER_SECONDS + FAILOVER_ELECTION_SECONDS
                    if self._ever_found else 0.0)
        state = self.service.state()
        if not state.get("master_ever_known"):
            return 0.0
        down_after = (state.get("down_after_ms") or 0) / 1000.0
        return (down_after or UNKNOWN_DOWN_AFTER_SECONDS) + FAILOVER_ELECTION_SECONDS

    def _take(self) -> Connection:
        if self._loop is None:      # failover events are sent to this loop
            self._loop = asyncio.get_running_loop()
        return super()._take()

    async def release(self, connection: Connection) -> None:
        """Give a connection back; one that no longer goes to the master is closed."""
        if (self.is_master and connection.is_connected
                and (connection.host, connection.port) != self.master_address):
            connection._close()
        await super().release(connection)

    def owns_connection(self, connection: Connection) -> bool:
        """True if the connection belongs to this process and (master pools) goes to
        the current master."""
        if self.is_master and self.master_address != (connection.host, connection.port):
            return False
        return super().owns_connection(connection)

    async def get_master_address(self) -> Address:
        """The master's address: the one the failover monitor follows (it orders
        Sentinel's announcements by config epoch, where Sentinels asked one by one
        can still name the old master for a while after a switch), else Sentinel's
        answer. On a change, the pool's connections are retired."""
        address = None
        if self.service is not None and not self._ask_sentinel:
            address = self._followed_master()
        if address is None:
            address = await self.sentinel_manager.discover_master(self.service_name)
            self._ask_sentinel = False
            if self.service is not None:
                self.service.set_master(*address)
        self._master_is(address)
        return address

    def _followed_master(self) -> Optional[Address]:
        """The master address the failover monitor follows (None: none known)."""
        master = self.service.state().get("master") if self.service is not None else None
        if not master:
            return None
        return (self.sentinel_manager._force_master_ip or master[0], int(master[1]))

    def _master_is(self, address: Address) -> None:
        if not self.is_master or self.master_address == address:
            return
        previous, self.master_address = self.master_address, address
        if previous is not None:
            logger.info("service %r: master moved from %s:%s to %s:%s",
                        self.service_name, *previous, *address)
            self._retire_connections()

    def _forget_master(self) -> None:
        """The master we knew was demoted: ask Sentinel at the next connect."""
        self._ask_sentinel = True
        if self.is_master and self.master_address is not None:
            self._retire_connections()

    def _retire_connections(self) -> None:
        """Close the connections that do not go to the current master: idle ones, and
        in-use ones too (a command waiting on one gets ConnectionError and is retried
        on the new master; a Pub/Sub connection reconnects there and subscribes
        again)."""
        for connection in self._available_connections:
            connection._close()
        master = self.master_address
        for connection in list(self._in_use_connections):
            if connection.is_connected and (connection.host, connection.port) != master:
                connection._close()

    def _on_switch(self) -> None:
        """In the pool's loop, after the monitor saw ``switch-master`` or the end of
        a failover: follow the master it knows, then let held commands go."""
        master = self._followed_master()
        if master is not None:
            self._ask_sentinel = False
            self._master_is(master)
        self._end_hold()

    def failover_gate(self) -> Optional[Awaitable[None]]:
        """What a master command awaits before it is written: the hold of a failover in
        progress (started here when the monitor is in one and the loop has not run its
        event yet), the wait while cut off from a Sentinel majority; None to go on."""
        if self._hold is None and self.service is not None and self.service.in_failover():
            self._on_failover_started()
        if self._hold is not None:
            return self.wait_for_hold()
        return None

    def _on_failover_started(self) -> None:
        """In the pool's loop, when a failover of the service begins: hold new
        commands and close the idle connections. One in use keeps reading the reply
        it waits for (a write already sent is answered, a blocking pop or a Pub/Sub
        message on its way is delivered); its next command waits for the hold, and
        the switch closes it if it still goes to the old master."""
        if self._hold is None:
            self._hold = asyncio.Event()
            self._hold_deadline = asyncio.get_running_loop().time() + self.hold_timeout
        for connection in self._available_connections:
            connection._close()

    def _end_hold(self) -> None:
        hold, self._hold = self._hold, None
        if hold is not None and hold is not self._majority_back:
            hold.set()

    def _on_sentinels_unreachable(self) -> None:
        """In the pool's loop: the monitor has not reached a Sentinel majority for
        longer than down-after (the policy is on): commands wait, then fail."""
        if self._majority_back is None:
            self._majority_back = asyncio.Event()
        if self._hold is None:          # the callers ask wait_for_hold while one is set
            self._hold = self._majority_back
            self._hold_deadline = float("inf")

    def _on_sentinels_reachable(self) -> None:
        back, self._majority_back = self._majority_back, None
        if back is not None:
            back.set()
            if self._hold is back:
                self._hold = None

    async def wait_for_hold(self) -> None:
        """Wait while a failover of the service is in progress (at most
        ``hold_timeout`` seconds from its start); while the client is cut off from a
        Sentinel majority (``require_sentinel_majority``), at most ``hold_timeout``,
        then raise ConnectionError."""
        back = self._majority_back
        if back is not None:
            try:
                await asyncio.wait_for(back.wait(), self.hold_timeout)
            except asyncio.TimeoutError:
                raise ConnectionError(_MAJORITY_LOST) from None
        hold = self._hold
        if hold is None:
            return
        remaining = self._hold_deadline - asyncio.get_running_loop().time()
        if remaining > 0:
            try:
                await asyncio.wait_for(hold.wait(), remaining)
            except asyncio.TimeoutError:
                pass
        if self._hold is hold:
            logger.warning("service %r: failover hold timed out after %.1f s",
                           self.service_name, self.hold_timeout)
            self._end_hold()

    async def rotate_slaves(self) -> AsyncIterator[Address]:
        """Replicas in round-robin order from a random start, then the master."""
        slaves = await self.sentinel_manager.discover_slaves(self.service_name)
        if slaves:
            if self.slave_rr_counter is None:
                self.slave_rr_counter = random.randint(0, len(slaves) - 1)
            for _ in range(len(slaves)):
                self.slave_rr_counter = (self.slave_rr_counter + 1) % len(slaves)
                self._ever_found = True
                yield slaves[self.slave_rr_counter]
        try:
            master = await self.sentinel_manager.discover_master(self.service_name)
        except MasterNotFoundError:
            pass
        else:
            self._ever_found = True
            yield master
        raise SlaveNotFoundError(f"No slave found for {self.service_name!r}")

    def rotate_replicas(self) -> AsyncIterator[Address]:
        """:meth:`rotate_slaves` under redis-py's newer name."""
        return self.rotate_slaves()


_MOVED_WHILE_CONNECTING = ("the master moved while the connection was being made (a failover); "
                           "connecting to the new one")

_MAJORITY_LOST = ("no majority of the Sentinels reachable: the master may be changing on the "
                  "other side (Sentinel require_sentinel_majority=True)")


def _failover_listener(pool_ref: "weakref.ref[SentinelConnectionPool]",
                       service_name: str) -> Any:
    def on_event(event: SentinelEvent) -> None:     # on the monitor thread
        if event.service != service_name:
            return
        if event.kind in ("switch-master", "failover-ended"):
            name = "_on_switch"
        elif event.kind in ("failover-started", "failover-election"):
            name = "_on_failover_started"
        elif event.kind == "sentinels-unreachable":
            name = "_on_sentinels_unreachable"
        elif event.kind == "sentinels-reachable":
            name = "_on_sentinels_reachable"
        else:
            return
        pool = pool_ref()
        loop = pool._loop if pool is not None else None
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(getattr(pool, name))
        except RuntimeError:    # the loop closed meanwhile
            pass
    return on_event


def _remove_listener(monitor: FailoverMonitor, listener: Any) -> None:
    try:
        monitor.remove_listener(listener)
    except ValueError:
        pass


class Sentinel(AsyncSentinelCommands):
    """A set of Sentinels watching one or more services (redis-py's
    ``redis.asyncio.sentinel.Sentinel``)."""

    def __init__(self, sentinels: Sequence[Address], min_other_sentinels: int = 0,
                 sentinel_kwargs: Optional[Dict[str, Any]] = None,
                 force_master_ip: Optional[str] = None, *, probe_promotion: bool = True,
                 require_sentinel_majority: bool = False,
                 **connection_kwargs: Any) -> None:
        # sentinelfast's failover options, as in the sync Sentinel
        self.probe_promotion = bool(probe_promotion)
        self.require_sentinel_majority = bool(require_sentinel_majority)
        if sentinel_kwargs is None:
            sentinel_kwargs = {k: v for k, v in connection_kwargs.items()
                               if k.startswith("socket_")}
        self.sentinel_kwargs = sentinel_kwargs
        own = dict(sentinel_kwargs)
        own.setdefault("retry", Retry(NoBackoff(), 0))   # each Sentinel asked once
        self.sentinels: List[Redis] = [Redis(host=host, port=port, **own)
                                       for host, port in sentinels]
        self.min_other_sentinels = min_other_sentinels
        self.connection_kwargs = connection_kwargs
        self._force_master_ip = force_master_ip
        self._sentinel_addresses = [(host, int(port)) for host, port in sentinels]
        self._monitor: Optional[FailoverMonitor] = None

    def _failover_monitor(self) -> FailoverMonitor:
        """The monitor of this Sentinel object (created on first use)."""
        if self._monitor is None:
            timeout = self.sentinel_kwargs.get("socket_timeout") or 0.5
            self._monitor = FailoverMonitor(self._sentinel_addresses, float(timeout),
                                            sentinel_kwargs=self.sentinel_kwargs)
        return self._monitor

    def add_event_listener(self, callback: Any) -> None:
        """Call ``callback(event)`` for every failover event (on the monitor thread)."""
        self._failover_monitor().add_listener(callback)

    def remove_event_listener(self, callback: Any) -> None:
        """Stop calling ``callback``."""
        self._failover_monitor().remove_listener(callback)

    def __repr__(self) -> str:
        addresses = ",".join("{host}:{port}".format_map(s.connection_pool.connection_kwargs)
                             for s in self.sentinels)
        return f"<{type(self).__module__}.{type(self).__name__}(sentinels=[{addresses}])>"

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """Run a Sentinel command on every Sentinel (or one at random with
        ``once=True``); whether all succeeded, or the replies with
        ``return_responses=True``."""
        once = bool(kwargs.pop("once", False))
        return_responses = bool(kwargs.pop("return_responses", False))
        if once:
            response = await random.choice(self.sentinels).execute_command(*args, **kwargs)
            return [response] if return_responses else bool(response)
        responses = await asyncio.gather(*(s.execute_command(*args, **kwargs)
                                           for s in self.sentinels))
        return responses if return_responses else all(responses)

    async def aclose(self) -> None:
        """Close the Sentinel clients and stop the monitor thread."""
        if self._monitor is not None:
            await asyncio.to_thread(self._monitor.close)
        for sentinel in self.sentinels:
            await sentinel.aclose()

    async def __aenter__(self) -> "Sentinel":
        return self

    async def __aexit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        await self.aclose()

    def check_master_state(self, state: Dict[str, Any], service_name: str) -> bool:
        """True if ``state`` (a SENTINEL MASTER reply) shows a usable master."""
        if not state["is_master"] or state["is_sdown"] or state["is_odown"]:
            return False
        return state["num-other-sentinels"] >= self.min_other_sentinels

    async def discover_master(self, service_name: str) -> Address:
        """The (host, port) of the service's master: the Sentinels are asked in
        order, each once; the one that answers moves to the front. Raises
        MasterNotFoundError if none knows a healthy master."""
        errors = []
        for index, sentinel in enumerate(self.sentinels):
            try:
                masters = await sentinel.sentinel_masters()
            except (ConnectionError, TimeoutError) as e:
                errors.append(f"{sentinel} - {e!r}")
                continue
            state = masters.get(service_name)  # type: ignore[union-attr]
            if not state or not self.check_master_state(state, service_name):
                continue
            address = (state.get("ip"), state.get("port"))
            problem = _address_problem(*address)
            if problem is not None:
                logger.warning("Sentinel %r, service %r: %s; asking the next Sentinel",
                               sentinel, service_name, problem)
                errors.append(f"{sentinel} - {problem}")
                continue
            if index:
                self.sentinels[0], self.sentinels[index] = (self.sentinels[index],
                                                            self.sentinels[0])
            host, port = address
            if self._force_master_ip is not None:
                host = self._force_master_ip
            return host, port  # type: ignore[return-value]
        error_info = f" : {', '.join(errors)}" if errors else ""
        raise MasterNotFoundError(f"No master found for {service_name!r}{error_info}")

    def filter_slaves(self, slaves: Sequence[Dict[str, Any]]) -> List[Address]:
        """The (ip, port) of replicas that are not down nor disconnected."""
        usable = []
        for s in slaves:
            if s["is_odown"] or s["is_sdown"] or s.get("is_disconnected"):
                continue
            if _address_problem(s.get("ip"), s.get("port")) is not None:
                continue
            usable.append((s["ip"], s["port"]))
        return usable

    def filter_replicas(self, replicas: Sequence[Dict[str, Any]]) -> List[Address]:
        """:meth:`filter_slaves` under redis-py's newer name."""
        return self.filter_slaves(replicas)

    async def discover_slaves(self, service_name: str) -> List[Address]:
        """The usable replicas from the first Sentinel that knows one."""
        for sentinel in self.sentinels:
            try:
                slaves = await sentinel.sentinel_slaves(service_name)
            except (ConnectionError, ResponseError, TimeoutError):
                continue
            usable = self.filter_slaves(slaves)
            if usable:
                return usable
        return []

    async def discover_replicas(self, service_name: str) -> List[Address]:
        """:meth:`discover_slaves` under redis-py's newer name."""
        return await self.discover_slaves(service_name)

    def master_for(self, service_name: str, redis_class: Type[Redis] = Redis,
                   connection_pool_class: Type[SentinelConnectionPool] = SentinelConnectionPool,
                   **kwargs: Any) -> Redis:
        """A client for the service's master, which follows its failovers."""
        kwargs["is_master"] = True
        connection_kwargs = dict(self.connection_kwargs)
        connection_kwargs.update(kwargs)
        return self._client(service_name, redis_class, connection_pool_class,
                            connection_kwargs)

    def slave_for(self, service_name: str, redis_class: Type[Redis] = Redis,
                  connection_pool_class: Type[SentinelConnectionPool] = SentinelConnectionPool,
                  **kwargs: Any) -> Redis:
        """A client for the service's replicas (round-robin; the master if none)."""
        kwargs["is_master"] = False
        connection_kwargs = dict(self.connection_kwargs)
        connection_kwargs.update(kwargs)
        return self._client(service_name, redis_class, connection_pool_class,
                            connection_kwargs)

    def replica_for(self, service_name: str, redis_class: Type[Redis] = Redis,
                    connection_pool_class: Type[SentinelConnectionPool] = SentinelConnectionPool,
                    **kwargs: Any) -> Redis:
        """:meth:`slave_for` under redis-py's newer name."""
        return self.slave_for(service_name, redis_class=redis_class,
                              connection_pool_class=connection_pool_class, **kwargs)

    def _client(self, service_name: str, redis_class: Type[Redis],
                connection_pool_class: Type[SentinelConnectionPool],
                connection_kwargs: Dict[str, Any]) -> Redis:
        given_retry = connection_kwargs.pop("retry", None)
        pool = connection_pool_class(service_name, self, **connection_kwargs)
        pool.connection_kwargs["retry"] = (given_retry if given_retry is not None
                                           else FailoverRetry(_budget_of(weakref.ref(pool))))
        return redis_class.from_pool(pool)


def _budget_of(pool_ref: "weakref.ref[SentinelConnectionPool]") -> Any:
    def budget() -> float:
        pool = pool_ref()
        return pool.failover_budget() if pool is not None else 0.0
    return budget


__all__ = [
    "MasterNotFoundError", "SlaveNotFoundError", "ReplicaNotFoundError", "ReadOnlyError",
    "Sentinel", "SentinelConnectionPool", "SentinelManagedConnection",
    "SentinelManagedSSLConnection",
]
