"""`sentinelfast check` against real topologies: healthy -> 0, a paused replica, a killed
Sentinel, a quorum too high and Sentinels all in one zone -> 1 naming the failing point,
nothing reachable -> 2; and the judgement of observations that live servers cannot easily
produce (Sentinels disagreeing)."""

import json
import time

from sentinelfast.cli import main
from sentinelfast.ops.check import Observation, SentinelView, _check_down_after, evaluate
from sentinelfast.testing import find_free_port, resp_command


def run_check(capsys, topo, *extra):
    args = ["--json", "check", "--service", topo.service_name]
    for host, port in topo.sentinel_addresses:
        args += ["--sentinel", f"{host}:{port}"]
    code = main(args + list(extra))
    out = capsys.readouterr().out
    return code, json.loads(out)


def points(report):
    return {p["name"]: p for p in report["points"]}


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_healthy_topology_passes(topology, capsys):
    code, report = run_check(capsys, topology)
    assert code == 0, report
    assert report["ok"] is True
    by_name = points(report)
    for name in ("sentinels", "agreement", "quorum", "master", "replicas"):
        assert by_name[name]["status"] == "pass", by_name[name]
    assert by_name["master"]["details"]["address"].endswith(f":{topology.master.port}")
    assert len(by_name["replicas"]["details"]["replicas"]) == 2
    assert by_name["quorum"]["details"] == {"quorum": 2, "sentinels": 3, "majority": 2, "needed": 2,
                                            "up": 3, "tolerated_losses": 1}
    # the test topology has min-replicas-to-write 0: a warning, not a failure
    assert by_name["min-replicas"]["status"] == "warn"
    # down-after-milliseconds 1000 is not above Sentinel's PING period: a warning
    assert by_name["down-after"]["status"] == "warn"
    assert "PING period" in by_name["down-after"]["message"]
    assert by_name["zones"]["status"] == "skip"


def test_text_output_names_each_point(topology, capsys):
    args = ["check", "--service", topology.service_name]
    for host, port in topology.sentinel_addresses:
        args += ["--sentinel", f"{host}:{port}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for name in ("sentinels", "agreement", "quorum", "master", "replicas", "min-replicas"):
        assert f"PASS  {name}:" in out or f"WARN  {name}:" in out, out
    assert main(args + ["--strict"]) == 1   # min-replicas-to-write 0 is a warning


def test_client_socket_timeout_against_down_after(topology, capsys):
    # down-after-milliseconds is 1000 in the test topology (warned of in every case: it is
    # not above Sentinel's PING period)
    code, report = run_check(capsys, topology, "--client-socket-timeout", "0.5")
    message = points(report)["down-after"]["message"]
    assert code == 0 and "socket timeout" not in message and "PING period" in message
    code, report = run_check(capsys, topology, "--client-socket-timeout", "5")
    assert code == 0 and points(report)["down-after"]["status"] == "warn"
    assert "client socket timeout 5 s is not below down-after-milliseconds 1000" in \
        points(report)["down-after"]["message"]
    code, report = run_check(capsys, topology, "--client-socket-timeout", "0")
    assert code == 1 and points(report)["down-after"]["status"] == "fail"


def test_down_after_against_the_ping_period():
    def down_after(ms, timeout):
        views = [_view(port, 6379, 1) for port in (1, 2, 3)]
        for v in views:
            v.master["down-after-milliseconds"] = ms
        point = _check_down_after(Observation("svc", views), timeout)
        return point.status, point.message

    assert down_after(5000, 0.5)[0] == "pass"
    assert down_after(5000, None)[0] == "skip"
    assert down_after(1001, 0.5)[0] == "pass"
    for ms in (1000, 500):
        status, message = down_after(ms, 0.1)
        assert status == "warn" and f"down-after-milliseconds {ms} is not above" in message


def _zone_file(tmp_path, topo, sentinel_zones, name="zones.json"):
    """Master in AZ-A, replicas in AZ-B / AZ-C (the seed's layout); Sentinels as given."""
    zones = {f"{topo.master.host}:{topo.master.port}": "AZ-A"}
    for node, zone in zip(topo.replicas, ("AZ-B", "AZ-C")):
        zones[f"{node.host}:{node.port}"] = zone
    for sentinel, zone in zip(topo.sentinels, sentinel_zones):
        zones[f"{sentinel.host}:{sentinel.port}"] = zone
    path = tmp_path / name
    path.write_text(json.dumps(zones))
    return str(path)


def test_zones_one_sentinel_per_zone_passes(topology, capsys, tmp_path):
    topology.refresh_roles()
    path = _zone_file(tmp_path, topology, ("AZ-A", "AZ-B", "AZ-C"))
    code, report = run_check(capsys, topology, "--zones", path)
    assert code == 0, report
    zones = points(report)["zones"]
    assert zones["status"] == "pass", zones
    assert zones["details"]["losses"]["AZ-A"] == {"sentinels_left": 2, "replicas_left": 2}


def test_zones_all_sentinels_in_one_zone_fails(topology, capsys, tmp_path):
    topology.refresh_roles()
    path = _zone_file(tmp_path, topology, ("AZ-A", "AZ-A", "AZ-A"))
    code, report = run_check(capsys, topology, "--zones", path)
    assert code == 1
    zones = points(report)["zones"]
    assert zones["status"] == "fail"
    assert "losing AZ-A leaves 0 of 3 Sentinels" in zones["message"]


def test_zones_host_missing_from_map_fails(topology, capsys, tmp_path):
    path = tmp_path / "zones.json"
    path.write_text(json.dumps({"AZ-A": [f"{h}:{p}" for h, p in topology.sentinel_addresses]}))
    code, report = run_check(capsys, topology, "--zones", str(path))
    assert code == 1
    assert points(report)["zones"]["message"].startswith("no zone for ")


def test_unreadable_zone_file_cannot_run(topology, capsys, tmp_path):
    code, report = run_check(capsys, topology, "--zones", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in report["error"]


def test_nothing_reachable_cannot_run(capsys):
    port = find_free_port()
    code = main(["--json", "check", "--service", "mymaster", "--sentinel", f"127.0.0.1:{port}",
                 "--timeout", "0.5"])
    report = json.loads(capsys.readouterr().out)
    assert code == 2
    assert report["ok"] is False and "no Sentinel answered" in report["error"]


def test_bad_address_argument_cannot_run(capsys):
    code = main(["--json", "check", "--service", "mymaster", "--sentinel", "localhost"])
    assert code == 2 and "HOST:PORT" in json.loads(capsys.readouterr().out)["error"]


def test_unknown_service_is_a_problem(topology, capsys):
    args = ["--json", "check", "--service", "no-such-service"]
    for host, port in topology.sentinel_addresses:
        args += ["--sentinel", f"{host}:{port}"]
    code = main(args)
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert "does not monitor 'no-such-service'" in points(report)["sentinels"]["message"]


def test_one_sentinel_unreachable_among_others_fails(topology, capsys):
    port = find_free_port()
    args = ["--json", "check", "--service", topology.service_name, "--timeout", "0.5",
            "--sentinel", f"127.0.0.1:{port}"]
    for host, p in topology.sentinel_addresses:
        args += ["--sentinel", f"{host}:{p}"]
    code = main(args)
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert f"127.0.0.1:{port} did not answer" in points(report)["sentinels"]["message"]


def test_paused_replica_fails_the_replicas_point(fresh_topology, capsys):
    replica = fresh_topology.replicas[0]
    replica.pause()
    try:
        code, report = run_check(capsys, fresh_topology, "--timeout", "0.5")
        assert code == 1
        failing = points(report)["replicas"]
        assert failing["status"] == "fail"
        assert f":{replica.port} did not answer" in failing["message"]
        assert points(report)["master"]["status"] == "pass"
        assert points(report)["sentinels"]["status"] == "pass"
    finally:
        replica.resume()


def test_killed_sentinel_and_quorum_too_high(fresh_topology, capsys):
    topo = fresh_topology
    # quorum 3 of 3: losing any one Sentinel stops failovers
    for address in topo.sentinel_addresses:
        assert resp_command(address, "SENTINEL", "SET", topo.service_name, "quorum", "3") == b"OK"
    code, report = run_check(capsys, topo)
    assert code == 1
    quorum = points(report)["quorum"]
    assert quorum["status"] == "fail" and "losing any one Sentinel stops failovers" in quorum["message"]
    for address in topo.sentinel_addresses:
        resp_command(address, "SENTINEL", "SET", topo.service_name, "quorum", "2")

    killed = topo.sentinels[2]
    killed.kill()
    code, report = run_check(capsys, topo, "--timeout", "0.5")
    assert code == 1
    sentinels = points(report)["sentinels"]
    assert sentinels["status"] == "fail"
    assert f"{killed.host}:{killed.port} did not answer" in sentinels["message"]
    assert points(report)["agreement"]["status"] == "pass"   # the two others still agree

    # Checked with only the two live Sentinels: they know of the third and see it down.
    def seen_down():
        args = ["--json", "check", "--service", topo.service_name]
        for s in topo.sentinels[:2]:
            args += ["--sentinel", f"{s.host}:{s.port}"]
        code = main(args)
        report = json.loads(capsys.readouterr().out)
        return (code, report) if f"{killed.host}:{killed.port} is down" in \
            points(report)["sentinels"]["message"] else None

    code, report = wait_for(seen_down, 20, "the live Sentinels to flag the killed one s_down")
    assert code == 1
    assert points(report)["quorum"]["details"]["up"] == 2


def _view(port, master_port, epoch, quorum=2):
    return SentinelView(("127.0.0.1", port), master={
        "ip": "127.0.0.1", "port": master_port, "config-epoch": epoch, "quorum": quorum,
        "flags": "master", "down-after-milliseconds": 5000})


def test_disagreeing_sentinels_fail_agreement():
    obs = Observation("svc", [_view(1, 6379, 3), _view(2, 6380, 4), _view(3, 6379, 3)])
    agreement = {p.name: p for p in evaluate(obs)}["agreement"]
    assert agreement.status == "fail"
    assert "127.0.0.1:2 says 127.0.0.1:6380" in agreement.message

    obs = Observation("svc", [_view(1, 6379, 3), _view(2, 6379, 4), _view(3, 6379, 3)])
    agreement = {p.name: p for p in evaluate(obs)}["agreement"]
    assert agreement.status == "fail" and "config-epoch" in agreement.message


def test_quorum_above_sentinel_count_fails():
    obs = Observation("svc", [_view(1, 6379, 1, quorum=4), _view(2, 6379, 1, quorum=4)])
    quorum = {p.name: p for p in evaluate(obs)}["quorum"]
    assert quorum.status == "fail" and "never be agreed down" in quorum.message


def test_sentinels_given_by_name_are_not_counted_twice():
    # Given as "localhost", listed by its peers under its IP: the run id says it is the same.
    views = []
    for i, port in enumerate((26379, 26380, 26381)):
        v = _view(port, 6379, 1)
        v.address = ("localhost", port)
        v.myid = f"id{i}"
        v.sentinels = [{"ip": "127.0.0.1", "port": p, "runid": f"id{j}", "flags": "sentinel"}
                       for j, p in enumerate((26379, 26380, 26381)) if p != port]
        views.append(v)
    by_name = {p.name: p for p in evaluate(Observation("svc", views))}
    assert by_name["quorum"].details["sentinels"] == 3
    assert by_name["quorum"].details["up"] == 3
    assert by_name["sentinels"].status == "pass"


def test_tls_and_passwords_as_in_the_client(capsys):
    from sentinelfast.testing import Topology

    with Topology(tls=True, password="datapw", sentinel_password="sentpw") as topo:
        certs = ["--tls", "--tls-ca-cert", topo.certs.ca_cert, "--tls-cert", topo.certs.client_cert,
                 "--tls-key", topo.certs.client_key]
        code, report = run_check(capsys, topo, *certs, "--password", "datapw", "--sentinel-password", "sentpw")
        assert code == 0, report
        assert points(report)["replicas"]["status"] == "pass"
        # the Sentinels refuse a client without their password: nothing could be asked
        code, report = run_check(capsys, topo, *certs, "--password", "datapw")
        assert code == 2 and "no Sentinel answered" in report["error"]
        # the data nodes refuse a client without theirs: the master and replicas fail
        code, report = run_check(capsys, topo, *certs, "--sentinel-password", "sentpw")
        assert code == 1
        assert points(report)["master"]["status"] == "fail"
        assert "AuthenticationError" in points(report)["master"]["message"]
