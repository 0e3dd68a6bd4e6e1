"""`sentinelfast drill`: fault drills with a writer and a reader, and the four verifications,
on throwaway local topologies (--local) and on a topology given by address (--yes)."""

import json

import pytest

from sentinelfast.cli import main
from sentinelfast.testing import resp_command
from sfimpl import NO_CWD_FLAG

VERIFICATIONS = ["sentinel-logged", "new-master-elected", "writes-on-new-master", "replicas-follow"]


def run_json(capsys, *argv):
    code = main(["--json", "drill", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out)


def assert_drill_passed(code, doc, scenario):
    """A drill that went well: every verification passed, the client wrote to the new master."""
    assert [c["name"] for c in doc["verifications"]] == VERIFICATIONS
    failed = [c for c in doc["verifications"] if not c["ok"]]
    assert not failed, failed
    assert doc["scenario"] == scenario
    assert doc["new_master"] and doc["new_master"] != doc["old_master"]
    assert doc["client_followed"] is True
    assert doc["writes"]["acknowledged"] > doc["writes"]["acknowledged_before_fault"] > 0
    assert doc["reads"]["reads"] > 0
    # exit code 0 exactly when nothing acknowledged was lost (asynchronous replication may lose some)
    assert code == (0 if doc["writes"]["lost"] == 0 else 1)
    assert doc["ok"] is (code == 0)


def test_refuses_without_yes(topology, capsys):
    """Against a real deployment the drill needs --yes: exit 2, a clear message, nothing done."""
    before = topology.current_master_address()
    sentinel = "%s:%d" % topology.sentinel_addresses[0]
    code, doc = run_json(capsys, "--sentinel", sentinel, "--service", topology.service_name,
                         "--scenario", "kill")
    assert code == 2
    assert doc["ok"] is False and "--yes" in doc["error"]
    assert topology.master.is_alive()
    assert topology.current_master_address() == before
    # text output says so too
    assert main(["drill", "--sentinel", sentinel, "--service", topology.service_name,
                 "--scenario", "planned"]) == 2
    assert "add --yes" in capsys.readouterr().out


def test_unreachable_sentinel_cannot_run(capsys):
    from sentinelfast.testing import find_free_port

    port = find_free_port()
    code, doc = run_json(capsys, "--sentinel", f"127.0.0.1:{port}", "--service", "mymaster",
                         "--scenario", "planned", "--yes", "--duration", "0.2")
    assert code == 2
    assert doc["ok"] is False and doc["error"]


@pytest.mark.timeout(360)   # a whole drill: well over 120 s under the sanitizers
def test_planned_on_a_topology_given_by_address(fresh_topology, capsys, tmp_path):
    """--yes against Sentinels given by address: SENTINEL FAILOVER, the four verifications, the
    old master now a replica of the new one, and the writer's keys deleted."""
    topo = fresh_topology
    old = topo.current_master_address()
    argv = ["--service", topo.service_name, "--scenario", "planned", "--yes", "--duration", "1"]
    for addr in topo.sentinel_addresses:
        argv += ["--sentinel", "%s:%d" % addr]
    code, doc = run_json(capsys, *argv, "--png", str(tmp_path / "t.png"))
    assert_drill_passed(code, doc, "planned")
    assert doc["old_master"] == "%s:%d" % old
    new = topo.current_master_address()
    assert doc["new_master"] == "%s:%d" % new
    assert "+switch-master" in doc["sentinel_events"]
    info = topo.node_by_address(old).info()
    assert info["role"] == "slave" and int(info["master_port"]) == new[1]
    assert doc["cannot_be_undone_remotely"] == []
    # the writer's keys are gone
    assert resp_command(new, "DBSIZE") == 0
    # the PNG: drawn with matplotlib, else the document says why not
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert doc["png"] is None and "matplotlib" in doc["png_note"]
    else:
        assert doc["png"] and (tmp_path / "t.png").stat().st_size > 0


@pytest.mark.timeout(360)   # a whole drill, its keys read back and deleted: long under the sanitizers
def test_local_kill(capsys):
    """--local kill: SHUTDOWN NOSAVE of the master; what cannot be undone is said."""
    code, doc = run_json(capsys, "--local", "--scenario", "kill", "--duration", "1")
    assert_drill_passed(code, doc, "kill")
    assert any("+odown" in c["detail"] for c in doc["verifications"] if c["name"] == "sentinel-logged")
    assert len(doc["cannot_be_undone_remotely"]) == 1
    assert doc["old_master"] in doc["cannot_be_undone_remotely"][0]


@pytest.mark.timeout(360)   # a whole drill, its keys read back and deleted: long under the sanitizers
def test_local_planned_text(capsys):
    """--local planned, text output: the verifications and the result line."""
    code = main(["drill", "--local", "--scenario", "planned", "--duration", "1"])
    out = capsys.readouterr().out
    for name in VERIFICATIONS:
        assert f"[pass] {name}:" in out
    assert "writes:" in out and "pause" in out
    assert ("RESULT: ok" in out) == (code == 0)


@pytest.mark.timeout(360)
def test_local_sentinel_loss(capsys):
    """--local sentinel-loss: one Sentinel shut down, then a planned failover through the others;
    the others saw it down, and agree on the new master."""
    code, doc = run_json(capsys, "--local", "--scenario", "sentinel-loss", "--duration", "1")
    assert_drill_passed(code, doc, "sentinel-loss")
    assert len(doc["sentinels_shut_down"]) == 1
    logged = next(c for c in doc["verifications"] if c["name"] == "sentinel-logged")
    assert "+sdown" in logged["detail"]
    assert doc["sentinels_shut_down"][0] in doc["cannot_be_undone_remotely"][0]


@pytest.mark.parametrize("argv", [["--scenario", "hang"], ["--scenario", "kill", "--kill-with", "segfault"],
                                  ["--scenario", "sentinel-loss", "--then", "hang"]])
def test_debug_refused_cannot_run(topology, capsys, argv):
    """A master that refuses DEBUG (enable-debug-command no, Redis' default): exit 2, nothing
    injected (no Sentinel shut down either), the reason given."""
    topo = topology
    old = topo.current_master_address()
    argv = ["--service", topo.service_name, *argv, "--yes", "--duration", "0.2"]
    for addr in topo.sentinel_addresses:
        argv += ["--sentinel", "%s:%d" % addr]
    code, doc = run_json(capsys, *argv)
    assert code == 2
    assert "enable-debug-command" in doc["error"]
    assert topo.current_master_address() == old
    assert all(node.is_alive() for node in topo.nodes)


def test_demo_and_benchmark_start_with_the_shared_core():
    """The demo and the benchmark import their machinery from sentinelfast.ops.drill."""
    import os
    import subprocess
    import sys

    repo = os.environ.get("SENTINELFAST_REPO_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for script in ("demo/failover_demo.py", "benchmarks/failover_drill.py"):
        done = subprocess.run([sys.executable, NO_CWD_FLAG, os.path.join(repo, script), "--help"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "usage:" in done.stdout


@pytest.mark.timeout(360)   # a whole drill, its keys read back and deleted: long under the sanitizers
def test_kill_with_passwords_given_by_address(capsys):
    """Data nodes and Sentinels with passwords: the drill's client, its event listener, the
    fault and the checks all authenticate (--password / --sentinel-password)."""
    from sentinelfast.testing import Topology

    topo = Topology(password="drill-data-pw", sentinel_password="drill-sentinel-pw")
    try:
        topo.start()
        argv = ["--service", topo.service_name, "--scenario", "kill", "--yes", "--duration", "1",
                "--password", "drill-data-pw", "--sentinel-password", "drill-sentinel-pw"]
        for addr in topo.sentinel_addresses:
            argv += ["--sentinel", "%s:%d" % addr]
        code, doc = run_json(capsys, *argv)
        assert_drill_passed(code, doc, "kill")
        host, port = doc["old_master"].rsplit(":", 1)
        assert not topo.node_by_address((host, int(port))).is_alive()
        # without the Sentinel password nothing can be asked: could not run, nothing done
        wrong = [a for a in argv if a != "drill-sentinel-pw" and a != "--sentinel-password"]
        code, doc = run_json(capsys, *wrong)
        assert code == 2 and doc["ok"] is False
    finally:
        topo.stop()
