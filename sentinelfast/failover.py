"""Failover awareness for Sentinel clients: the monitor thread, events, the default
retry policy.

A :class:`FailoverMonitor` runs the native monitor loop (``_core.Monitor.run``: it
waits without the GIL) in a daemon thread while at least one client from
``Sentinel.master_for`` is alive. It subscribes to every Sentinel's events and
re-checks the masters periodically; master pools follow what it learns (see
``csrc/sentinel_monitor.c``).
"""
from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from . import _core
from .backoff import ExponentialWithJitterBackoff
from .connection import tls_context_from_kwargs
from .exceptions import ConnectionError, TimeoutError
from .retry import Retry

logger = logging.getLogger("sentinelfast.failover")

DEFAULT_RECHECK_INTERVAL = 5.0
DEFAULT_HOLD_TIMEOUT = 5.0


def default_sentinel_retry(found: Optional[Callable[[], bool]] = None) -> Retry:
    """The policy of clients from ``master_for`` / ``slave_for`` unless ``retry=`` is given.

    Retries ``ConnectionError`` and ``TimeoutError`` (so also a connection dropped when
    Sentinel starts a failover, and READONLY from a demoted master) with short jittered
    backoff (10 ms doubling to 100 ms), for as long as a failover of the service takes:
    its ``down-after-milliseconds`` plus 15 s for the election (30 s while unknown); the
    last error is raised at the first failure after that budget, so a command takes at
    most the budget plus one attempt.

    The budget applies only once a master of the service was known (from discovery or
    the monitor). Before that there is no failover to wait for: a ``master_for`` command
    raises ``MasterNotFoundError`` after one round over the Sentinels (each asked once,
    within its socket timeouts), as redis-py does.

    For ``slave_for`` clients (which follow no monitored service), ``found`` says whether
    a Sentinel ever named a master or a replica of the service: until it does, the
    budget is zero and ``SlaveNotFoundError`` comes after one round, the same way.

    Every wait of the loop (the backoff sleeps, failover holds, Sentinel queries) ends
    when a signal handler raises (Ctrl-C: ``KeyboardInterrupt``) within about 50 ms.

    Note that a retried command may have run on the old master before its connection
    was lost: commands are delivered at least once, so non-idempotent ones (INCR,
    LPUSH, ...) can apply twice across a failover.
    """
    backoff = ExponentialWithJitterBackoff(cap=0.1, base=0.01)
    if found is None:
        return Retry(backoff, -1, (ConnectionError, TimeoutError), timeout=-1)
    return FailoverBudgetRetry(backoff, -1, (ConnectionError, TimeoutError), found=found)


class FailoverBudgetRetry(Retry):
    """A :class:`Retry` whose budget is the failover budget once ``found()`` is true
    and zero (no retry) before: ``_timeout`` is asked afresh at each failure."""

    def __init__(self, *args: Any, found: Callable[[], bool], **kwargs: Any) -> None:
        self._found = found
        super().__init__(*args, **kwargs)

    @property
    def _timeout(self) -> float:  # type: ignore[override]
        return -1 if self._found() else 0

    @_timeout.setter
    def _timeout(self, value: Optional[float]) -> None:
        pass    # always the failover budget, or none yet


class SentinelEvent(NamedTuple):
    """Something the monitor saw: ``kind`` is one of ``switch-master``, ``master-known``,
    ``failover-started``, ``failover-ended``, ``sentinel-up``, ``sentinel-down``,
    ``sentinel-learned``, ``sentinel-auth-failed``, ``sentinel-subscribe-failed``,
    ``sentinel-bad-address``, ``sentinel-tls-failed``, ``sentinels-unreachable``,
    ``sentinels-reachable`` (the Sentinel-majority policy), ``convert-to-slave``, ``odown``,
    ``failover-end``."""

    kind: str
    service: str
    detail: str
    time: float


# Log level of each event kind (logger ``sentinelfast.failover``). A failover is what
# Sentinel is for: its ordinary steps are INFO. WARNING is kept for what an operator must
# look at: a Sentinel that cannot be reached, refuses our credentials or subscription,
# names an address no client can use, or a TLS set-up that failed; the Sentinel majority
# lost (sentinels-unreachable); and a failover hold that timed out (writes were held and
# no new master was announced). Kinds not listed are INFO.
_LOG_LEVELS = {
    "switch-master": logging.INFO,
    "failover-started": logging.INFO,
    "failover-ended": logging.INFO,
    "master-known": logging.INFO,
    "sentinel-up": logging.INFO,
    "sentinel-learned": logging.INFO,
    "sentinel-down": logging.WARNING,
    "sentinel-auth-failed": logging.WARNING,
    "sentinel-subscribe-failed": logging.WARNING,
    "sentinel-bad-address": logging.WARNING,
    "sentinel-tls-failed": logging.WARNING,
    "sentinels-unreachable": logging.WARNING,     # no Sentinel majority: writes fail
    "failover-election": logging.DEBUG,
    "sentinels-reachable": logging.INFO,
}
# "failover-ended" with this detail: the hold ran out without a +switch-master.
_HOLD_TIMED_OUT = "hold timed out"


def _log_level(kind: str, detail: str) -> int:
    """The level an event of ``kind`` with ``detail`` is logged at."""
    if kind == "failover-ended" and detail.startswith(_HOLD_TIMED_OUT):
        return logging.WARNING
    return _LOG_LEVELS.get(kind, logging.INFO)


_monitors: "weakref.WeakSet[FailoverMonitor]" = weakref.WeakSet()


class FailoverMonitor:
    """Owns one native monitor and its thread, for one ``Sentinel`` object."""

    def __init__(self, sentinels: Sequence[Tuple[str, int]], socket_timeout: float,
                 recheck_interval: float = DEFAULT_RECHECK_INTERVAL,
                 sentinel_kwargs: Optional[Dict[str, Any]] = None) -> None:
        kwargs = sentinel_kwargs or {}
        self._credential_provider = kwargs.get("credential_provider")
        connect_timeout = kwargs.get("socket_connect_timeout")
        tls = tls_context_from_kwargs(kwargs)
        self._native = _core.Monitor(
            list(sentinels), socket_timeout=socket_timeout,
            recheck_interval=recheck_interval, on_event=self._on_event,
            username=kwargs.get("username"), password=kwargs.get("password"),
            socket_connect_timeout=float(connect_timeout) if connect_timeout else None,
            tls=tls, server_hostname=kwargs.get("server_hostname"))
        self._thread: Optional[threading.Thread] = None
        self._stopping = False
        # Re-entrant: a pool's weakref finalizer (_client_gone) can run on a thread
        # that already holds it (a GC pass inside a locked section).
        self._lock = threading.RLock()
        self._clients = 0
        self._listeners: List[Callable[[SentinelEvent], Any]] = []
        self.event_counts: Dict[str, int] = collections.Counter()
        _monitors.add(self)

    # ---- lifetime: a thread only while a client needs it
    def service(self, name: str, hold_timeout: float = DEFAULT_HOLD_TIMEOUT):
        """The shared failover state of ``name`` (a ``_core.Service``)."""
        return self._native.service(name, hold_timeout=hold_timeout)

    def client_started(self, pool: Any) -> None:
        """Count a live master pool; start the thread if it is the first."""
        with self._lock:
            self._clients += 1
            self._start_locked()
        weakref.finalize(pool, self._client_gone)

    def _client_gone(self) -> None:
        with self._lock:
            self._clients -= 1
            if self._clients == 0:
                self._stop_locked()

    def _start_locked(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            if not self._stopping:
                return
            if thread is not threading.current_thread():
                thread.join(5)          # the previous loop is finishing its round
        self._stopping = False
        self._refresh_credentials()
        self._native.arm()
        self._thread = threading.Thread(target=self._native.run, name="sentinelfast-monitor",
                                        daemon=True)
        self._thread.start()

    def _refresh_credentials(self) -> None:
        # A credential_provider is asked here, with the GIL, never from the C loop.
        provider = self._credential_provider
        if provider is None:
            return
        try:
            credentials = provider.get_credentials()
        except Exception:
            logger.warning("sentinel_kwargs credential_provider failed; Sentinel links "
                           "keep the previous credentials", exc_info=True)
            return
        if len(credentials) == 1:
            self._native.set_credentials(None, credentials[0])
        else:
            self._native.set_credentials(credentials[0], credentials[1])

    def _stop_locked(self) -> None:
        self._stopping = True
        self._native.stop()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait for it."""
        with self._lock:
            thread = self._thread
            self._stop_locked()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.RLock()
        self._thread = None
        self._stopping = False
        self._native._forget_after_fork()
        if self._clients > 0:
            self._start_locked()

    # ---- events and counters
    def add_listener(self, callback: Callable[[SentinelEvent], Any]) -> None:
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[SentinelEvent], Any]) -> None:
        self._listeners.remove(callback)

    def _on_event(self, kind: str, service: str, detail: str) -> None:
        event = SentinelEvent(kind, service, detail, time.time())
        self.event_counts[kind] += 1
        logger.log(_log_level(kind, detail), "%s%s: %s", kind,
                   f" [{service}]" if service else "", detail)
        for callback in list(self._listeners):
            try:
                callback(event)
            except Exception:  # a listener's fault must not stop the monitor
                logger.exception("event listener %r failed", callback)

    def stats(self) -> Dict[str, Any]:
        stats = dict(self._native.stats())
        stats["events"] = dict(self.event_counts)
        stats["thread_alive"] = bool(self._thread and self._thread.is_alive())
        return stats


_forking: List["FailoverMonitor"] = []


def _before_fork() -> None:
    # Hold each monitor's mutex across fork(), so that the child inherits the loop's
    # state between two changes, never in the middle of one.
    _forking[:] = list(_monitors)
    for monitor in _forking:
        monitor._native._lock_for_fork()


def _after_fork_in_parent() -> None:
    for monitor in _forking:
        monitor._native._unlock_after_fork()
    _forking.clear()


def _after_fork_in_child() -> None:
    for monitor in _forking:
        monitor._after_fork_in_child()
    _forking.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)

__all__ = ["FailoverMonitor", "SentinelEvent", "default_sentinel_retry", "FailoverBudgetRetry",
           "DEFAULT_HOLD_TIMEOUT", "DEFAULT_RECHECK_INTERVAL"]
