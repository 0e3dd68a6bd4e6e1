"""Metrics for Prometheus (``prometheus_client``) and OpenTelemetry, from sentinelfast's own
counters and from the clients you instrument.

Install with ``pip install 'sentinelfast[metrics]'`` (Prometheus) or
``'sentinelfast[otel]'`` (OpenTelemetry). Nothing here runs unless you ask: a client you
do not pass to :meth:`Metrics.instrument` runs exactly as before (no timing, no wrapper).

>>> from prometheus_client import start_http_server
>>> sentinel = Sentinel([("10.0.1.10", 26379), ...])
>>> master = sentinel.master_for("mymaster")
>>> metrics = Metrics(sentinel)        # follows the failovers of this Sentinel object
>>> metrics.instrument(master)         # command latency, connections in use / idle
>>> metrics.register()                 # into prometheus_client's default registry
>>> start_http_server(9108)            # GET /metrics

Prometheus names (``service`` is the Sentinel service name; ``pool`` is ``SERVICE/master``,
``SERVICE/replica`` or ``HOST:PORT`` for a plain client):

* ``sentinelfast_failovers_total{service}`` — failovers seen by the monitor;
* ``sentinelfast_master_switches_total{service}`` — times clients moved to a new master;
* ``sentinelfast_holds_total{service}`` — periods during which writes were held (a failover
  under way), and ``sentinelfast_hold_seconds_total{service}`` their time (measured from
  the monitor's ``failover-started`` event to ``switch-master`` or ``failover-ended``);
* ``sentinelfast_held_commands_total{service}`` — commands that waited in a hold;
* ``sentinelfast_connections_dropped_total{service}``, ``sentinelfast_role_refusals_total{service}``;
* ``sentinelfast_failover_in_progress{service}`` — 1 while a failover is under way;
* ``sentinelfast_retries_total`` — command retries in this process;
* ``sentinelfast_sentinel_links`` / ``sentinelfast_sentinel_links_up`` — the monitor's links
  to the Sentinels, configured and up; ``sentinelfast_sentinel_link_failures_total``;
  ``sentinelfast_monitor_events_total{kind}``;
* ``sentinelfast_connections{pool,state="in_use"|"idle"}`` — of instrumented clients' pools;
* ``sentinelfast_command_duration_seconds{pool,command}`` — histogram of instrumented
  clients' commands (a pipeline is one ``PIPELINE`` or ``MULTI`` observation), and
  ``sentinelfast_command_errors_total{pool,command,error}``.

OpenTelemetry (:meth:`Metrics.enable_opentelemetry`): the names and attributes redis-py 8
uses — ``db.client.operation.duration`` (histogram, s; ``db.system``, ``db.operation.name``,
``server.address``, ``server.port``, ``db.client.connection.pool.name``, ``error.type``) and
``db.client.connection.count`` (``db.client.connection.pool.name``,
``db.client.connection.state`` = ``idle`` / ``used``) — plus the failover counters above as
``sentinelfast.client.failovers``, ``sentinelfast.client.master_switches``,
``sentinelfast.client.holds``, ``sentinelfast.client.hold.duration`` (s),
``sentinelfast.client.held_commands``, ``sentinelfast.client.retries`` and
``sentinelfast.sentinel.links_up``.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
import weakref
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

__all__ = ["Metrics", "DEFAULT_BUCKETS", "instrument"]

logger = logging.getLogger(__name__)

#: Upper bounds (seconds) of the latency histogram's buckets: 100 µs to 10 s (a failover
#: hold shows in the top ones).
DEFAULT_BUCKETS: Tuple[float, ...] = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                      0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_SERVICE_COUNTERS = (
    # (state key, Prometheus name without _total, help)
    ("failovers", "sentinelfast_failovers", "Failovers of the service seen by the monitor."),
    ("switches", "sentinelfast_master_switches", "Times the clients moved to a new master."),
    ("holds", "sentinelfast_held_commands", "Commands that waited while writes were held."),
    ("connections_dropped", "sentinelfast_connections_dropped",
     "Connections to a former master dropped at a switch."),
    ("role_refusals", "sentinelfast_role_refusals",
     "Connections refused because the node was not the master (ROLE check)."),
)


class _Histogram:
    """Bucket counts, sum and count of one (pool, command); updated under Metrics' lock."""

    __slots__ = ("counts", "total", "n")

    def __init__(self, n_buckets: int) -> None:
        self.counts = [0] * (n_buckets + 1)    # the last one: above the highest bound
        self.total = 0.0
        self.n = 0


class _HoldClock:
    """Hold periods of one service, measured from the monitor's events."""

    __slots__ = ("started", "seconds", "count")

    def __init__(self) -> None:
        self.started: Optional[float] = None
        self.seconds = 0.0
        self.count = 0


def _command_name(name: Any) -> str:
    if isinstance(name, (bytes, bytearray, memoryview)):
        name = bytes(name).decode("utf-8", "replace")
    return str(name).upper()


def _pool_label(pool: Any) -> str:
    service = getattr(pool, "service_name", None)
    if service is not None:
        return f"{service}/{'master' if getattr(pool, 'is_master', True) else 'replica'}"
    kwargs = getattr(pool, "connection_kwargs", {}) or {}
    if "path" in kwargs:
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


def _pool_server(pool: Any) -> Optional[Tuple[str, int]]:
    """The server a pool's connections go to now (the followed master for Sentinel pools)."""
    address = getattr(pool, "master_address", None) if getattr(pool, "is_master", False) else None
    if address:
        return str(address[0]), int(address[1])
    kwargs = getattr(pool, "connection_kwargs", {}) or {}
    if "host" in kwargs:
        return str(kwargs["host"]), int(kwargs.get("port", 6379))
    return None


class Metrics:
    """sentinelfast's counters for the Sentinel objects given (``Metrics(sentinel)``,
    :meth:`watch`) and the command latency and connection counts of the clients passed to
    :meth:`instrument`; exported to Prometheus (:meth:`register` / :meth:`collect`) and
    OpenTelemetry (:meth:`enable_opentelemetry`)."""

    def __init__(self, *sentinels: Any, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self.buckets: Tuple[float, ...] = tuple(sorted(float(b) for b in buckets))
        self._lock = threading.Lock()
        self._sentinels: List[Any] = []
        self._holds: Dict[str, _HoldClock] = {}
        self._histograms: Dict[Tuple[str, str], _Histogram] = {}
        self._errors: Dict[Tuple[str, str, str], int] = {}
        self._pools: "weakref.WeakValueDictionary[int, Any]" = weakref.WeakValueDictionary()
        self._switches_seen = 0
        self._observers: List[Callable[[Any, str, str, float, Optional[BaseException]], None]] = []
        for sentinel in sentinels:
            self.watch(sentinel)

    # ---- sources
    def watch(self, sentinel: Any) -> None:
        """Export the counters of a ``Sentinel`` (its services, monitor and retries) and
        time its failover holds (an event listener)."""
        if sentinel in self._sentinels:
            return
        self._sentinels.append(sentinel)
        sentinel.add_event_listener(self._on_event)

    def _on_event(self, event: Any) -> None:
        kind = event.kind
        if kind not in ("failover-started", "switch-master", "failover-ended"):
            return
        now = time.monotonic()
        if kind == "switch-master":
            self._switches_seen += 1
        with self._lock:
            clock = self._holds.setdefault(event.service, _HoldClock())
            if kind == "failover-started":
                if clock.started is None:
                    clock.started = now
                    clock.count += 1
            elif clock.started is not None:
                clock.seconds += now - clock.started
                clock.started = None

    def hold_stats(self) -> Dict[str, Dict[str, float]]:
        """Per service: ``holds`` (periods) and ``seconds`` held, the current period included."""
        now = time.monotonic()
        with self._lock:
            return {service: {"holds": c.count,
                              "seconds": c.seconds + (now - c.started if c.started is not None else 0.0)}
                    for service, c in self._holds.items()}

    def instrument(self, client: Any) -> Any:
        """Time every command of ``client`` (a ``sentinelfast.Redis``, redis-py's too) and its
        pipelines, and count its pool's connections; returns the client. A connection pool
        may be given instead (connections only). Only instrumented clients pay for timing."""
        pool = getattr(client, "connection_pool", None)
        if pool is None:                            # a pool itself
            self._pools[id(client)] = client
            return client
        self._pools[id(pool)] = pool
        if getattr(client, "_sentinelfast_metrics", None) is self:
            return client
        label = _pool_label(pool)
        observe = self._observe
        perf = time.perf_counter
        names: Dict[Any, str] = {}
        original = client.execute_command

        def execute_command(*args: Any, **options: Any) -> Any:
            start = perf()
            try:
                reply = original(*args, **options)
            except BaseException as e:
                observe(pool, label, _command_name(args[0]) if args else "", perf() - start, e)
                raise
            elapsed = perf() - start
            name = args[0] if args else ""
            try:
                command = names[name]
            except (KeyError, TypeError):
                command = _command_name(name)
                if len(names) < 512 and isinstance(name, (str, bytes)):
                    names[name] = command
            observe(pool, label, command, elapsed, None)
            return reply

        original_pipeline = client.pipeline

        def pipeline(*args: Any, **kwargs: Any) -> Any:
            pipe = original_pipeline(*args, **kwargs)
            run = pipe.execute
            command = "MULTI" if getattr(pipe, "transaction", False) else "PIPELINE"

            def execute(*a: Any, **k: Any) -> Any:
                start = perf()
                try:
                    reply = run(*a, **k)
                except BaseException as e:
                    observe(pool, label, command, perf() - start, e)
                    raise
                observe(pool, label, command, perf() - start, None)
                return reply

            pipe.execute = execute
            return pipe

        client.execute_command = execute_command
        client.pipeline = pipeline
        client._sentinelfast_metrics = self
        return client

    def _observe(self, pool: Any, label: str, command: str, seconds: float,
                 error: Optional[BaseException]) -> None:
        index = bisect.bisect_left(self.buckets, seconds)
        key = (label, command)
        with self._lock:
            h = self._histograms.get(key)
            if h is None:
                h = self._histograms[key] = _Histogram(len(self.buckets))
            h.counts[index] += 1
            h.total += seconds
            h.n += 1
            if error is not None:
                ekey = (label, command, type(error).__name__)
                self._errors[ekey] = self._errors.get(ekey, 0) + 1
        for observer in self._observers:
            observer(pool, label, command, seconds, error)

    # ---- snapshots
    def snapshot(self) -> Dict[str, Any]:
        """Everything exported, as plain data: ``services`` (per service: the counters of
        ``Sentinel.stats()`` plus ``hold_periods`` and ``hold_seconds``), ``retries``,
        ``links`` / ``links_up``, ``link_failures``, ``events`` (by kind), ``connections``
        (per pool: ``in_use``, ``idle``), ``latency`` (per (pool, command): bucket counts,
        sum, count) and ``errors``."""
        services: Dict[str, Dict[str, Any]] = {}
        links: Dict[str, bool] = {}
        events: Dict[str, int] = {}
        link_failures = 0
        retries = 0
        for sentinel in list(self._sentinels):
            stats = sentinel.stats()
            retries = int(stats.get("retries", 0))          # process-wide
            for name, state in stats.get("services", {}).items():
                services.setdefault(name, {}).update(state)
            monitor = stats.get("monitor") or {}
            for link in monitor.get("sentinels", []):
                host, port = link["address"]
                links[f"{host}:{port}"] = links.get(f"{host}:{port}", False) or bool(link["up"])
            link_failures += int(monitor.get("sentinel_link_failures", 0))
            for kind, n in (monitor.get("events") or {}).items():
                events[kind] = events.get(kind, 0) + int(n)
        if not self._sentinels:
            from . import _core
            retries = int(_core.retry_count())
        for name, hold in self.hold_stats().items():
            services.setdefault(name, {}).update(hold_periods=hold["holds"], hold_seconds=hold["seconds"])
        connections: Dict[str, Dict[str, int]] = {}
        for pool in list(self._pools.values()):
            entry = connections.setdefault(_pool_label(pool), {"in_use": 0, "idle": 0})
            entry["in_use"] += len(getattr(pool, "_in_use_connections", ()))
            entry["idle"] += len(getattr(pool, "_available_connections", ()))
        with self._lock:
            latency = {key: (list(h.counts), h.total, h.n) for key, h in self._histograms.items()}
            errors = dict(self._errors)
        return {"services": services, "retries": retries, "links": len(links),
                "links_up": sum(links.values()), "link_failures": link_failures, "events": events,
                "connections": connections, "latency": latency, "errors": errors}

    # ---- Prometheus
    def collect(self) -> Iterator[Any]:
        """The metric families (``prometheus_client`` collector protocol)."""
        from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                            HistogramMetricFamily)

        snap = self.snapshot()
        services = snap["services"]
        for key, name, text in _SERVICE_COUNTERS:
            family = CounterMetricFamily(name, text, labels=["service"])
            for service, state in sorted(services.items()):
                if key in state:
                    family.add_metric([service], float(state[key]))
            yield family
        holds = CounterMetricFamily("sentinelfast_holds", "Periods during which writes were held "
                                    "(failover under way).", labels=["service"])
        held = CounterMetricFamily("sentinelfast_hold_seconds", "Time writes were held, from "
                                   "failover-started to the switch or the end.", labels=["service"])
        for service, state in sorted(services.items()):
            holds.add_metric([service], float(state.get("hold_periods", 0)))
            held.add_metric([service], float(state.get("hold_seconds", 0.0)))
        yield holds
        yield held
        progress = GaugeMetricFamily("sentinelfast_failover_in_progress",
                                     "1 while a failover of the service is under way.", labels=["service"])
        for service, state in sorted(services.items()):
            if "failover_in_progress" in state:
                progress.add_metric([service], 1.0 if state["failover_in_progress"] else 0.0)
        yield progress
        yield CounterMetricFamily("sentinelfast_retries", "Command retries in this process.",
                                  value=float(snap["retries"]))
        yield GaugeMetricFamily("sentinelfast_sentinel_links", "Sentinels the monitor links to.",
                                value=float(snap["links"]))
        yield GaugeMetricFamily("sentinelfast_sentinel_links_up", "Monitor links to Sentinels that are up.",
                                value=float(snap["links_up"]))
        yield CounterMetricFamily("sentinelfast_sentinel_link_failures",
                                  "Monitor links to Sentinels lost or not made.",
                                  value=float(snap["link_failures"]))
        events = CounterMetricFamily("sentinelfast_monitor_events", "Events seen by the monitor.",
                                     labels=["kind"])
        for kind, n in sorted(snap["events"].items()):
            events.add_metric([kind], float(n))
        yield events
        connections = GaugeMetricFamily("sentinelfast_connections",
                                        "Connections of instrumented pools.", labels=["pool", "state"])
        for pool, counts in sorted(snap["connections"].items()):
            connections.add_metric([pool, "in_use"], float(counts["in_use"]))
            connections.add_metric([pool, "idle"], float(counts["idle"]))
        yield connections
        latency = HistogramMetricFamily("sentinelfast_command_duration_seconds",
                                        "Duration of instrumented clients' commands.",
                                        labels=["pool", "command"])
        bounds = [repr(b) for b in self.buckets] + ["+Inf"]
        for (pool, command), (counts, total, _n) in sorted(snap["latency"].items()):
            cumulative, running = [], 0
            for bound, count in zip(bounds, counts):
                running += count
                cumulative.append((bound, float(running)))
            latency.add_metric([pool, command], cumulative, total)
        yield latency
        errors = CounterMetricFamily("sentinelfast_command_errors", "Instrumented commands that raised.",
                                     labels=["pool", "command", "error"])
        for (pool, command, error), n in sorted(snap["errors"].items()):
            errors.add_metric([pool, command, error], float(n))
        yield errors

    def describe(self) -> List[Any]:
        """Nothing up front: families are produced at each scrape."""
        return []

    def register(self, registry: Any = None) -> "Metrics":
        """Add this collector to ``registry`` (prometheus_client's default registry when None)."""
        if registry is None:
            from prometheus_client import REGISTRY as registry  # type: ignore[no-redef]
        registry.register(self)
        return self

    # ---- OpenTelemetry
    def enable_opentelemetry(self, meter_provider: Any = None) -> None:
        """Report through OpenTelemetry metrics (``opentelemetry-api``; the global meter
        provider unless one is given): the duration of instrumented commands as
        ``db.client.operation.duration`` and the rest as observable instruments read at
        each collection (see the module docstring)."""
        from opentelemetry import metrics as otel_metrics

        from . import __version__

        provider = meter_provider or otel_metrics.get_meter_provider()
        meter = provider.get_meter("sentinelfast", __version__)
        try:
            duration = meter.create_histogram(
                "db.client.operation.duration", unit="s", description="Command execution duration",
                explicit_bucket_boundaries_advisory=list(self.buckets))
        except TypeError:       # opentelemetry-api before 1.23: no advisory buckets
            duration = meter.create_histogram("db.client.operation.duration", unit="s",
                                              description="Command execution duration")
        servers: "weakref.WeakKeyDictionary[Any, Tuple[int, Optional[Tuple[str, int]]]]" = weakref.WeakKeyDictionary()

        attribute_sets: Dict[Tuple[Any, ...], Dict[str, Any]] = {}

        def record(pool: Any, label: str, command: str, seconds: float,
                   error: Optional[BaseException]) -> None:
            # the pool's server, asked again only after a master switch
            cached = servers.get(pool)
            if cached is None or cached[0] != self._switches_seen:
                cached = servers[pool] = (self._switches_seen, _pool_server(pool))
            server = cached[1]
            error_type = type(error).__name__ if error is not None else None
            key = (label, command, server, error_type)
            attributes = attribute_sets.get(key)
            if attributes is None:
                attributes = {"db.system": "redis", "db.operation.name": command,
                              "db.client.connection.pool.name": label}
                if server is not None:
                    attributes["server.address"], attributes["server.port"] = server
                if error_type is not None:
                    attributes["error.type"] = error_type
                if len(attribute_sets) < 4096:
                    attribute_sets[key] = attributes
            duration.record(seconds, attributes)

        self._observers.append(record)
        from opentelemetry.metrics import Observation

        def connection_counts(options: Any) -> List[Any]:
            out = []
            for pool, counts in self.snapshot()["connections"].items():
                out.append(Observation(counts["idle"], {"db.client.connection.pool.name": pool,
                                                        "db.client.connection.state": "idle"}))
                out.append(Observation(counts["in_use"], {"db.client.connection.pool.name": pool,
                                                          "db.client.connection.state": "used"}))
            return out

        meter.create_observable_up_down_counter(
            "db.client.connection.count", callbacks=[connection_counts], unit="{connection}",
            description="Number of connections currently in the pool by state")

        def per_service(key: str) -> Callable[[Any], List[Any]]:
            def callback(options: Any) -> List[Any]:
                return [Observation(float(state.get(key, 0)), {"db.system": "redis", "service": service})
                        for service, state in sorted(self.snapshot()["services"].items())]
            return callback

        for key, name, unit in (("failovers", "sentinelfast.client.failovers", "{failover}"),
                                ("switches", "sentinelfast.client.master_switches", "{switch}"),
                                ("hold_periods", "sentinelfast.client.holds", "{hold}"),
                                ("hold_seconds", "sentinelfast.client.hold.duration", "s"),
                                ("holds", "sentinelfast.client.held_commands", "{command}"),
                                ("connections_dropped", "sentinelfast.client.connections_dropped",
                                 "{connection}")):
            meter.create_observable_counter(name, callbacks=[per_service(key)], unit=unit)

        meter.create_observable_counter(
            "sentinelfast.client.retries", unit="{retry}",
            callbacks=[lambda options: [Observation(self.snapshot()["retries"])]])
        meter.create_observable_gauge(
            "sentinelfast.sentinel.links_up", unit="{link}",
            callbacks=[lambda options: [Observation(self.snapshot()["links_up"])]])


def instrument(client: Any, metrics: Optional[Metrics] = None) -> Metrics:
    """Instrument ``client`` (see :meth:`Metrics.instrument`) with ``metrics`` (a new
    :class:`Metrics` when None, which then watches nothing else); returns the Metrics."""
    metrics = metrics if metrics is not None else Metrics()
    metrics.instrument(client)
    return metrics
