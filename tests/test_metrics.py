"""sentinelfast.metrics: the Prometheus collector scraped after a real planned failover, the
latency histogram of instrumented clients only, and the same data through OpenTelemetry
(in-memory reader) under redis-py 8's semantic-convention names."""

import time

import pytest

import prometheus_client  # the [metrics] extra (in [test])
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

import redis.exceptions  # noqa: E402

import sentinelfast  # noqa: E402
from sentinelfast import _core  # noqa: E402
from sentinelfast.metrics import Metrics, instrument  # noqa: E402
from sfimpl import NO_CWD_FLAG  # noqa: E402


def scrape(registry):
    """{(sample name, frozenset(labels)): value} from the text exposition format."""
    text = prometheus_client.generate_latest(registry).decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_counters_after_a_planned_failover(fresh_topology, key):
    topo = fresh_topology
    service = topo.service_name
    sentinel = sentinelfast.Sentinel(topo.sentinel_addresses, socket_timeout=0.5)
    try:
        master = sentinel.master_for(service, socket_timeout=0.5)
        metrics = Metrics(sentinel)
        metrics.instrument(master)
        registry = prometheus_client.CollectorRegistry()
        metrics.register(registry)
        for i in range(5):
            master.set(f"{key}{i}", i)
        wait_for(lambda: value(scrape(registry), "sentinelfast_sentinel_links_up") == 3, 20,
                 "the monitor's links to the 3 Sentinels")
        before = scrape(registry)
        assert value(before, "sentinelfast_failovers_total", service=service) == 0
        assert value(before, "sentinelfast_master_switches_total", service=service) == 0

        old = topo.master.address
        new = topo.failover()
        assert new != old
        wait_for(lambda: sentinel.stats()["services"][service]["switches"] >= 1, 20,
                 "the client to switch to the new master")
        master.set(f"{key}after", "x")
        assert master.get(f"{key}after") == b"x"

        after = scrape(registry)
        assert value(after, "sentinelfast_failovers_total", service=service) >= 1
        assert value(after, "sentinelfast_master_switches_total", service=service) >= 1
        assert value(after, "sentinelfast_holds_total", service=service) >= 1
        held = value(after, "sentinelfast_hold_seconds_total", service=service)
        assert 0 < held < 30
        assert value(after, "sentinelfast_held_commands_total", service=service) is not None
        assert value(after, "sentinelfast_failover_in_progress", service=service) in (0.0, 1.0)
        assert value(after, "sentinelfast_retries_total") is not None
        assert value(after, "sentinelfast_sentinel_links") == 3
        assert value(after, "sentinelfast_monitor_events_total", kind="switch-master") >= 1
        # 6 SETs and 1 GET, each one observation of the histogram
        pool = f"{service}/master"
        assert value(after, "sentinelfast_command_duration_seconds_count", pool=pool, command="SET") == 6
        assert value(after, "sentinelfast_command_duration_seconds_count", pool=pool, command="GET") == 1
        assert value(after, "sentinelfast_command_duration_seconds_bucket", pool=pool, command="SET",
                     le="+Inf") == 6
        assert value(after, "sentinelfast_command_duration_seconds_sum", pool=pool, command="SET") > 0
        assert value(after, "sentinelfast_connections", pool=pool, state="idle") >= 1
        assert value(after, "sentinelfast_connections", pool=pool, state="in_use") == 0
    finally:
        sentinel.close()


def test_uninstrumented_clients_are_untouched(topology):
    sentinel = sentinelfast.Sentinel(topology.sentinel_addresses, socket_timeout=0.5)
    try:
        plain = sentinel.master_for(topology.service_name)
        timed = sentinel.master_for(topology.service_name)
        Metrics(sentinel).instrument(timed)
        # the plain client keeps the native command path: no wrapper on the instance
        assert "execute_command" not in vars(plain)
        assert type(plain).execute_command is _core.Client.execute_command
        assert "execute_command" in vars(timed)
    finally:
        sentinel.close()


def test_errors_pipelines_and_standalone_clients(topology, key):
    host, port = topology.master.address
    client = sentinelfast.Redis(host, port)
    metrics = instrument(client)
    registry = prometheus_client.CollectorRegistry()
    metrics.register(registry)
    client.set(f"{key}s", "not a number")
    with pytest.raises(redis.exceptions.ResponseError):
        client.incr(f"{key}s")
    pipe = client.pipeline(transaction=False)
    pipe.set(f"{key}a", 1).get(f"{key}a")
    assert pipe.execute() == [True, b"1"]
    with client.pipeline() as tx:
        tx.incr(f"{key}n").incr(f"{key}n")
        assert tx.execute() == [1, 2]
    samples = scrape(registry)
    pool = f"{host}:{port}"
    # redis-py's incr() sends INCRBY
    assert value(samples, "sentinelfast_command_errors_total", pool=pool, command="INCRBY",
                 error="ResponseError") == 1
    assert value(samples, "sentinelfast_command_duration_seconds_count", pool=pool, command="PIPELINE") == 1
    assert value(samples, "sentinelfast_command_duration_seconds_count", pool=pool, command="MULTI") == 1
    assert value(samples, "sentinelfast_connections", pool=pool, state="idle") == 1
    client.close()


def test_opentelemetry_names_and_attributes(topology, key):
    from opentelemetry.sdk import metrics as sdk_metrics   # the [otel] extra (in [test])
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = sdk_metrics.MeterProvider(metric_readers=[reader])
    sentinel = sentinelfast.Sentinel(topology.sentinel_addresses, socket_timeout=0.5)
    try:
        master = sentinel.master_for(topology.service_name)
        metrics = Metrics(sentinel)
        metrics.instrument(master)
        metrics.enable_opentelemetry(provider)
        master.set(f"{key}o", "v")
        for _ in range(3):
            assert master.get(f"{key}o") == b"v"
        with pytest.raises(redis.exceptions.ResponseError):
            master.execute_command("NO-SUCH-COMMAND")

        data = reader.get_metrics_data()
        found = {}
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    found[m.name] = m
        duration = found["db.client.operation.duration"]
        assert duration.unit == "s"
        points = {p.attributes.get("db.operation.name"): p for p in duration.data.data_points}
        get = points["GET"]
        assert get.count == 3
        mhost, mport = topology.master.address
        assert get.attributes["db.system"] == "redis"
        assert get.attributes["server.port"] == mport
        assert get.attributes["db.client.connection.pool.name"] == f"{topology.service_name}/master"
        assert points["NO-SUCH-COMMAND"].attributes["error.type"] == "ResponseError"

        count = found["db.client.connection.count"]
        states = {p.attributes["db.client.connection.state"]: p.value for p in count.data.data_points}
        assert states["idle"] >= 1 and states["used"] == 0
        failovers = found["sentinelfast.client.failovers"]
        assert [p.attributes["service"] for p in failovers.data.data_points] == [topology.service_name]
        assert "sentinelfast.sentinel.links_up" in found
    finally:
        sentinel.close()
        provider.shutdown()


def test_the_demo_serves_the_failover_counters_during_its_drill():
    """`demo/failover_demo.py --metrics-port`: the endpoint is scraped over HTTP during the
    drill and, at its end, shows the failover it went through."""
    import os
    import re
    import socket
    import subprocess
    import sys

    from conftest import ROOT

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [sys.executable, NO_CWD_FLAG, os.path.join(ROOT, "demo", "failover_demo.py"), "--client",
         "sentinelfast", "--no-png", "--before", "1", "--after", "0.5", "--metrics-port", str(port)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"http://127.0.0.1:{port}/metrics" in proc.stdout
    served = proc.stdout.split("failover counters:")[-1]
    failovers = re.search(r'^\s*sentinelfast_failovers_total\{[^}]*\} (\S+)', served, re.M)
    switches = re.search(r'^\s*sentinelfast_master_switches_total\{[^}]*\} (\S+)', served, re.M)
    assert failovers and float(failovers.group(1)) >= 1, served
    assert switches and float(switches.group(1)) >= 1, served
