"""`sentinelfast conf`: the command, the checks of a described topology, and real servers
started from the files it writes (roles, Sentinels agreeing, a failover)."""

import json
import os
import subprocess
import sys
import time

import pytest
import redis.exceptions

import sentinelfast
from sentinelfast.cli import main
from sentinelfast.ops.conf_lint import lint_file
from sentinelfast.testing import RedisServer, RespError, find_free_port, make_certificates, resp_command

HOST = "127.0.0.1"
REPO = os.environ.get("SENTINELFAST_REPO_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------------------------
# Helpers (also used by tests/test_ansible.py)
# ---------------------------------------------------------------------------------------------


class ConfiguredServer(RedisServer):
    """A redis-server / Sentinel started from a configuration file written by someone else
    (``sentinelfast conf``, Ansible): it is used as it is. ``stop()`` kills the process and
    removes ``directory`` (the node's ``dir``)."""

    def __init__(self, name, config_path, port, directory, *, sentinel=False, password=None, username=None,
                 tls=None):
        super().__init__("sentinel" if sentinel else "node", host=HOST, port=port, sentinel=sentinel,
                         name=name, password=password, username=username, tls=tls, ipv6=False)
        self.dir = directory
        self.config_path = config_path
        self.log_path = os.path.join(directory, "server.log")
        self._config_written = True  # the file is the one under test: never rewrite it

    def _write_config(self):  # pragma: no cover - never called (_config_written)
        raise AssertionError("a ConfiguredServer's file is written by the code under test")


def wait_for(check, timeout=30.0, what="condition"):
    """Call ``check`` until it returns a true value (connection and Redis errors count as not
    yet); return it."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            result = check()
            if result:
                return result
        except (OSError, RespError, KeyError, ValueError, redis.exceptions.RedisError) as e:
            last = e  # not yet (e.g. NOREPLICAS right after a promotion)
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last error: {last!r})")
        time.sleep(0.05)


def pairs(reply):
    it = iter(reply)
    return {k.decode(): v.decode() if isinstance(v, bytes) else v for k, v in zip(it, it)}


def local_topology(tmp_path, *, replicas=2, sentinels=3, quorum=2, **extra):
    """A description of a deployment on 127.0.0.1 (free ports, one directory per node under
    ``tmp_path``), in the seed's layout: master in AZ-A, replicas in AZ-B/AZ-C, a Sentinel per zone."""
    zones = ["AZ-A", "AZ-B", "AZ-C"]
    nodes = [{"name": "redis-a", "host": HOST, "port": find_free_port(), "zone": "AZ-A", "role": "master"}]
    for i in range(replicas):
        nodes.append({"name": f"redis-{'bcdefg'[i]}", "host": HOST, "port": find_free_port(),
                      "zone": zones[(i + 1) % 3], "role": "replica"})
    sents = [{"name": f"sentinel-{'abcdefg'[i]}", "host": HOST, "port": find_free_port(), "zone": zones[i % 3]}
             for i in range(sentinels)]
    spec = {
        "service": "svc-conf",
        "quorum": quorum,
        "down-after-milliseconds": 1500,    # above Sentinel's PING period (1000 is warned of)
        "failover-timeout": 6000,
        "parallel-syncs": 1,
        "dir": str(tmp_path / "run" / "{name}"),
        "nodes": nodes,
        "sentinels": sents,
    }
    spec.update(extra)
    return spec


def run_cli(capsys, *argv):
    """``sentinelfast ARGV`` in this process: (exit code, stdout)."""
    code = main(list(argv))
    return code, capsys.readouterr().out


def start_from_files(spec, out_dir, *, tls=None):
    """Start every node and Sentinel of ``spec`` from its file in ``out_dir``; returns
    (data nodes, Sentinels). The caller stops them."""
    data_pw = (spec.get("auth") or {}).get("password")
    data_user = (spec.get("auth") or {}).get("user")
    s_pw = (spec.get("sentinel_auth") or {}).get("password")
    s_user = (spec.get("sentinel_auth") or {}).get("user")
    nodes, sentinels = [], []
    try:
        for n in spec["nodes"]:
            directory = spec["dir"].replace("{name}", n["name"])
            os.makedirs(directory, exist_ok=True)
            server = ConfiguredServer(n["name"], os.path.join(out_dir, n["name"], "redis.conf"), n["port"], directory,
                                      password=data_pw, username=data_user, tls=tls)
            nodes.append(server)
            server.start()
        for s in spec["sentinels"]:
            directory = spec["dir"].replace("{name}", s["name"])
            os.makedirs(directory, exist_ok=True)
            server = ConfiguredServer(s["name"], os.path.join(out_dir, s["name"], "sentinel.conf"), s["port"],
                                      directory, sentinel=True, password=s_pw, username=s_user, tls=tls)
            sentinels.append(server)
            server.start()
    except BaseException:
        for server in sentinels + nodes:
            server.stop()
        raise
    return nodes, sentinels


def wait_healthy(nodes, sentinels, service, master, timeout=30.0):
    """Wait until ``master`` is master with every other node in sync, and every Sentinel names
    it, sees the replicas and the other Sentinels."""

    def synced():
        info = master.info()
        if info.get("role") != "master":
            return False
        # The master's side too: a replica counts for min-replicas-to-write (no NOREPLICAS)
        # once the master has its first REPLCONF ACK, which can come after the replica
        # reports its link up.
        online = [k for k, v in info.items() if k.startswith("slave") and k[5:].isdigit()
                  and "state=online" in str(v)]
        if len(online) != len(nodes) - 1:
            return False
        if "min_slaves_good_slaves" in info and int(info["min_slaves_good_slaves"]) != len(nodes) - 1:
            return False
        for n in nodes:
            if n is master:
                continue
            info = n.info()
            if info.get("role") != "slave" or int(info["master_port"]) != master.port \
                    or info.get("master_link_status") != "up":
                return False
        return True

    def agreed():
        for s in sentinels:
            addr = s.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", service)
            if (addr[0].decode(), int(addr[1])) != master.address:
                return False
            state = pairs(s.command("SENTINEL", "MASTER", service))
            if state["flags"] != "master" or int(state["num-other-sentinels"]) != len(sentinels) - 1 \
                    or int(state["num-slaves"]) != len(nodes) - 1:
                return False
        return True

    wait_for(synced, timeout, "the replicas to sync with the master")
    wait_for(agreed, timeout, "the Sentinels to agree on the master, replicas and each other")


def stop_all(servers):
    for server in servers:
        server.stop()


# ---------------------------------------------------------------------------------------------
# Real servers from the generated files
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_generated_files_start_a_topology_that_fails_over(tmp_path, capsys):
    spec = local_topology(tmp_path, auth={"password": "data-pw"}, sentinel_auth={"password": "sentinel-pw"},
                          min_replicas_to_write=1, min_replicas_max_lag=10)
    topo_file = tmp_path / "topology.json"
    topo_file.write_text(json.dumps(spec))
    out = tmp_path / "conf"
    code, text = run_cli(capsys, "conf", "--topology", str(topo_file), "--out", str(out))
    assert code == 0, text
    for name in ["redis-a", "redis-b", "redis-c"]:
        assert f"{out}/{name}/redis.conf" in text
    assert oct((out / "redis-a" / "redis.conf").stat().st_mode & 0o777) == "0o640"  # holds passwords

    nodes, sentinels = start_from_files(spec, str(out))
    try:
        master = nodes[0]
        wait_healthy(nodes, sentinels, "svc-conf", master)
        # Passwords are required where the description says so.
        with pytest.raises(RespError, match="NOAUTH"):
            resp_command(master.address, "GET", "x")
        assert pairs(sentinels[0].command("SENTINEL", "MASTER", "svc-conf"))["quorum"] == "2"
        assert master.command("CONFIG", "GET", "min-replicas-to-write") == [b"min-replicas-to-write", b"1"]

        client = sentinelfast.Sentinel([s.address for s in sentinels], socket_timeout=2,
                                       sentinel_kwargs={"password": "sentinel-pw"}, password="data-pw")
        writer = client.master_for("svc-conf")
        writer.set("before", "1")
        old = master.address
        wait_for(lambda: sentinels[0].command("SENTINEL", "FAILOVER", "svc-conf") == b"OK", 20, "SENTINEL FAILOVER")

        def new_master():
            views = {tuple(s.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "svc-conf")) for s in sentinels}
            if len(views) != 1:
                return None
            host, port = next(iter(views))
            addr = (host.decode(), int(port))
            if addr == old:
                return None
            node = next(n for n in nodes if n.address == addr)
            return node if node.info().get("role") == "master" else None

        promoted = wait_for(new_master, 30, "the Sentinels to agree on a new master")
        wait_healthy(nodes, sentinels, "svc-conf", promoted)
        wait_for(lambda: writer.set("after", "2"), 20, "a write through the client on the new master")
        assert promoted.command("GET", "after") == b"2"
        assert promoted.command("GET", "before") == b"1"
        # What Sentinel rewrote (known replicas and Sentinels, epochs, replicaof) still lints clean.
        for server in nodes + sentinels:
            assert lint_file(server.config_path) == [], server.config_path
    finally:
        stop_all(sentinels + nodes)


@pytest.mark.slow
def test_generated_tls_and_acl_user_files_start_a_working_topology(tmp_path, capsys):
    certs = make_certificates(str(tmp_path / "pki"))
    spec = local_topology(
        tmp_path, replicas=1,
        auth={"password": "app-pw", "user": "app"},
        sentinel_auth={"password": "sentinel-pw", "user": "watcher"},
        tls={"cert_file": certs.server_cert, "key_file": certs.server_key, "ca_cert_file": certs.ca_cert},
    )
    (tmp_path / "t.json").write_text(json.dumps(spec))
    out = tmp_path / "conf"
    code, text = run_cli(capsys, "conf", "--topology", str(tmp_path / "t.json"), "--out", str(out))
    assert code == 0, text
    conf = (out / "redis-b" / "redis.conf").read_text()
    assert "port 0\n" in conf and f"tls-port {spec['nodes'][1]['port']}\n" in conf
    nodes, sentinels = start_from_files(spec, str(out), tls=certs)
    try:
        wait_healthy(nodes, sentinels, "svc-conf", nodes[0])
        client = sentinelfast.Sentinel(
            [s.address for s in sentinels], socket_timeout=2, ssl=True, ssl_ca_certs=certs.ca_cert,
            ssl_certfile=certs.client_cert, ssl_keyfile=certs.client_key, username="app", password="app-pw",
            sentinel_kwargs={"ssl": True, "ssl_ca_certs": certs.ca_cert, "ssl_certfile": certs.client_cert,
                             "ssl_keyfile": certs.client_key, "username": "watcher", "password": "sentinel-pw"},
        )
        assert client.discover_master("svc-conf") == nodes[0].address
        client.master_for("svc-conf").set("k", "v")
        wait_for(lambda: nodes[1].command("GET", "k") == b"v", 10, "the write to reach the replica")
    finally:
        stop_all(sentinels + nodes)


# ---------------------------------------------------------------------------------------------
# Checks of the description
# ---------------------------------------------------------------------------------------------


def _conf_json(capsys, tmp_path, spec, *extra):
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(spec))
    code, out = run_cli(capsys, "--json", "conf", "--topology", str(path), "--out", str(tmp_path / "out"), *extra)
    return code, json.loads(out)


def test_quorum_above_the_number_of_sentinels_is_an_error_and_nothing_is_written(tmp_path, capsys):
    code, doc = _conf_json(capsys, tmp_path, local_topology(tmp_path, quorum=4))
    assert code == 1 and doc["ok"] is False
    assert any(f["level"] == "error" and "quorum 4 is more than the 3 Sentinels" in f["message"]
               for f in doc["findings"])
    assert doc["written"] == [] and not (tmp_path / "out").exists()


def test_quorum_that_a_lost_sentinel_defeats_is_a_warning(tmp_path, capsys):
    code, doc = _conf_json(capsys, tmp_path, local_topology(tmp_path, quorum=3))
    assert code == 0 and doc["ok"] is True
    assert [f["level"] for f in doc["findings"]] == ["warning"]
    assert "with 1 Sentinel(s) down no failover" in doc["findings"][0]["message"]
    assert len(doc["written"]) == 6
    code, doc = _conf_json(capsys, tmp_path, local_topology(tmp_path, quorum=3), "--strict")
    assert code == 1 and doc["ok"] is False


def test_down_after_not_above_the_ping_period_is_a_warning(tmp_path, capsys):
    code, doc = _conf_json(capsys, tmp_path, local_topology(tmp_path, **{"down-after-milliseconds": 1000}))
    assert code == 0 and [f["level"] for f in doc["findings"]] == ["warning"]
    assert "down_after_milliseconds 1000 is not above Sentinel's PING period" in doc["findings"][0]["message"]
    (tmp_path / "again").mkdir()
    code, doc = _conf_json(capsys, tmp_path / "again",
                           local_topology(tmp_path / "again", **{"down-after-milliseconds": 1001}))
    assert code == 0 and doc["findings"] == []


def test_all_sentinels_in_one_zone_and_a_port_used_twice(tmp_path, capsys):
    spec = local_topology(tmp_path)
    for s in spec["sentinels"]:
        s["zone"] = "AZ-A"
    spec["sentinels"][2]["port"] = spec["nodes"][0]["port"]
    code, doc = _conf_json(capsys, tmp_path, spec)
    messages = [(f["level"], f["message"]) for f in doc["findings"]]
    assert code == 1
    assert ("error", f"port {spec['nodes'][0]['port']} on host {HOST} is used by both redis-a and sentinel-c") in messages
    assert ("warning", "losing zone AZ-A leaves 0 of 3 Sentinels: no majority to fail over") in messages


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s["nodes"][1].update(role="master"), "exactly one node must have role master (2 have)"),
        (lambda s: s.update(min_replicas_to_write=3), "min_replicas_to_write 3 is more than the 2 replicas"),
        (lambda s: s.update(auth={"password": "has space"}), "auth_password: may not hold spaces"),
        (lambda s: s["sentinels"].pop() and s["sentinels"].pop(), "quorum 2 is more than the 1 Sentinels"),
    ],
)
def test_errors_of_a_description(tmp_path, capsys, change, message):
    spec = local_topology(tmp_path)
    change(spec)
    code, doc = _conf_json(capsys, tmp_path, spec)
    assert code == 1
    assert any(message in f["message"] for f in doc["findings"] if f["level"] == "error"), doc


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"nodes": [{"name": "a", "host": HOST, "port": 1, "role": "master"}], "sentinels": []}),
         "missing 'quorum'"),
        (json.dumps({"quorum": 2, "nodes": [{"name": "a", "host": HOST, "port": "x", "role": "master"}],
                     "sentinels": []}), "port must be an integer"),
        (json.dumps({"quorum": 2, "colour": "red", "nodes": [{"name": "a", "host": HOST, "port": 1}],
                     "sentinels": []}), "missing 'role'"),
        (json.dumps({"quorum": 2, "colour": "red", "sentinels": [],
                     "nodes": [{"name": "a", "host": HOST, "port": 1, "role": "master"}]}), "unknown field(s) colour"),
    ],
)
def test_unreadable_description_exits_2(tmp_path, capsys, content, message):
    path = tmp_path / "t.json"
    path.write_text(content)
    code, out = run_cli(capsys, "--json", "conf", "--topology", str(path), "--out", str(tmp_path / "o"))
    assert code == 2
    doc = json.loads(out)
    assert doc["ok"] is False and message in doc["error"]


def test_yaml_description(tmp_path, capsys):
    import yaml  # in the test extra
    spec = local_topology(tmp_path)
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(spec))
    code, out = run_cli(capsys, "conf", "--topology", str(path), "--out", str(tmp_path / "o"))
    assert code == 0, out
    assert (tmp_path / "o" / "sentinel-b" / "sentinel.conf").read_text().count("sentinel monitor svc-conf") == 1


def test_example_description_in_deploy_is_clean(capsys):
    code, out = run_cli(capsys, "--json", "conf", "--check", "--strict", "--topology",
                        os.path.join(REPO, "deploy", "topology.example.json"))
    assert code == 0, out
    assert json.loads(out)["findings"] == []


def test_announce_addresses_for_nat(tmp_path, capsys):
    spec = local_topology(tmp_path)
    spec["nodes"][1].update(announce_ip="203.0.113.7", announce_port=16379)
    spec["sentinels"][0].update(announce_ip="203.0.113.8", announce_port=26379)
    code, doc = _conf_json(capsys, tmp_path, spec)
    assert code == 0, doc
    node = (tmp_path / "out" / "redis-b" / "redis.conf").read_text()
    sentinel = (tmp_path / "out" / "sentinel-a" / "sentinel.conf").read_text()
    assert "replica-announce-ip 203.0.113.7\nreplica-announce-port 16379\n" in node
    assert "sentinel announce-ip 203.0.113.8\nsentinel announce-port 26379\n" in sentinel
    assert lint_file(str(tmp_path / "out" / "redis-b" / "redis.conf")) == []


# ---------------------------------------------------------------------------------------------
# The command itself
# ---------------------------------------------------------------------------------------------


def test_console_script_and_python_dash_m(tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), "sentinelfast")
    assert os.access(script, os.X_OK), "the sentinelfast console script is installed beside python"
    env = dict(os.environ)
    if os.environ.get("SENTINELFAST_ASAN_RUNTIME"):  # scripts/test --sanitize: the script's python needs it
        env["LD_PRELOAD"] = os.environ["SENTINELFAST_ASAN_RUNTIME"]
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0 and "conf" in result.stdout
    result = subprocess.run([sys.executable, "-m", "sentinelfast", "conf", "--check", "--topology",
                             os.path.join(REPO, "deploy", "topology.example.json")],
                            capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_bad_arguments_exit_2(capsys):
    assert main(["conf"]) == 2
    assert main(["no-such-command"]) == 2
    capsys.readouterr()
    assert main(["--json", "conf", "--topology", "x"]) == 2  # no --out
    assert json.loads(capsys.readouterr().out) == {"ok": False, "error": "--topology needs --out DIR (or --check)"}


def test_json_before_or_after_the_subcommand(capsys):
    example = os.path.join(REPO, "deploy", "topology.example.json")
    for argv in (["--json", "conf", "--check", "--topology", example],
                 ["conf", "--json", "--check", "--topology", example]):
        assert main(argv) == 0
        assert json.loads(capsys.readouterr().out)["ok"] is True
    assert main(["conf", "--check", "--topology", example]) == 0
    assert capsys.readouterr().out == "ok\n"
