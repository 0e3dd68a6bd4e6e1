"""deploy/ansible: the role and playbook, run with ansible-core (from PyPI, installed into the
test virtualenv on first use) against hosts on this machine (local connection, one port and
directory per host). The files Ansible writes equal `sentinelfast conf`'s for the same
deployment (one set of templates), and the started deployment works and fails over."""

import importlib.util
import json
import os
import signal
import subprocess
import sys

import pytest

import sentinelfast
from sentinelfast.cli import main
from sentinelfast.testing import find_free_port, resp_command

from test_cli_conf import HOST, REPO, pairs, wait_for

PLAYBOOK = os.path.join(REPO, "deploy", "ansible", "playbook.yml")
SERVICE = "svc-ansible"


def _venv_bin():
    return os.path.dirname(sys.executable)


def _ansible_playbook():
    """The ansible-playbook of this virtualenv; ansible-core (the ``deploy`` extra) is installed
    with pip first when it is missing."""
    path = os.path.join(_venv_bin(), "ansible-playbook")
    if not os.path.exists(path):
        subprocess.run(
            [os.path.join(_venv_bin(), "python"), "-m", "pip", "install", "--quiet", "ansible-core>=2.15"],
            check=True, timeout=600, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
    assert os.path.exists(path), "ansible-core did not install ansible-playbook"
    return path


def _deployment(tmp_path):
    """(inventory dict, the same deployment as a `sentinelfast conf` topology)."""
    zones = ["AZ-A", "AZ-B", "AZ-C"]
    nodes = {"redis-a": ("master", "AZ-A"), "redis-b": ("replica", "AZ-B"), "redis-c": ("replica", "AZ-C")}
    sentinels = {f"sentinel-{z[-1].lower()}": z for z in zones}
    ports = {name: find_free_port() for name in list(nodes) + list(sentinels)}
    run = tmp_path / "run"
    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "local",
                # Debian's interpreter has the apt bindings the apt module needs.
                "ansible_python_interpreter": "/usr/bin/python3",
                "sentinelfast_service": SERVICE,
                "sentinelfast_quorum": 2,
                "sentinelfast_down_after_milliseconds": 1000,
                "sentinelfast_failover_timeout": 6000,
                "sentinelfast_min_replicas_to_write": 1,
                "sentinelfast_conf_root": str(tmp_path / "etc"),
                "sentinelfast_dir": f"{run}/{{name}}",
                "sentinelfast_logfile": f"{run}/{{name}}/server.log",
                "sentinelfast_pidfile": f"{run}/{{name}}/redis.pid",
                "sentinelfast_owner": "",
                "sentinelfast_install_packages": True,
            },
            "children": {
                "redis_nodes": {"hosts": {
                    name: {"redis_host": HOST, "redis_role": role, "redis_port": ports[name], "redis_zone": zone}
                    for name, (role, zone) in nodes.items()
                }},
                "redis_sentinels": {"hosts": {
                    name: {"redis_host": HOST, "redis_role": "sentinel", "redis_port": ports[name], "redis_zone": zone}
                    for name, zone in sentinels.items()
                }},
            },
        }
    }
    topology = {
        "service": SERVICE, "quorum": 2, "down_after_milliseconds": 1000, "failover_timeout": 6000,
        "min_replicas_to_write": 1,
        "dir": f"{run}/{{name}}", "logfile": f"{run}/{{name}}/server.log", "pidfile": f"{run}/{{name}}/redis.pid",
        "nodes": [{"name": n, "host": HOST, "port": ports[n], "role": r, "zone": z} for n, (r, z) in nodes.items()],
        "sentinels": [{"name": n, "host": HOST, "port": ports[n], "zone": z} for n, z in sentinels.items()],
    }
    return inventory, topology, ports


def _playbook(tmp_path, inventory_path, *extra, expect_ok=True):
    env = {
        **os.environ,
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
    }
    result = subprocess.run([_ansible_playbook(), "-i", str(inventory_path), PLAYBOOK, *extra],
                            capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL)
    assert (result.returncode == 0) == expect_ok, \
        f"ansible-playbook exit code {result.returncode}:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _kill_deployment(root):
    """Kill the daemonized redis-server processes whose working directory is under ``root``
    (they are not children of the test: the role daemonizes them)."""
    root = os.path.realpath(str(root)) + os.sep
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if not f.read().startswith("redis-"):
                    continue
            cwd = os.path.realpath(os.readlink(f"/proc/{entry}/cwd")) + os.sep
        except OSError:
            continue
        if cwd.startswith(root):
            try:
                os.kill(int(entry), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_playbook_deploys_the_conf_files_and_a_working_topology(tmp_path, capsys):
    inventory, topology, ports = _deployment(tmp_path)
    inventory_path = tmp_path / "inventory.json"  # JSON is YAML: ansible reads it as an inventory
    inventory_path.write_text(json.dumps(inventory))
    (tmp_path / "topology.json").write_text(json.dumps(topology))
    try:
        # 1. Configure only: the files equal `sentinelfast conf`'s, byte for byte.
        _playbook(tmp_path, inventory_path, "-e", "sentinelfast_start=none")
        assert main(["conf", "--topology", str(tmp_path / "topology.json"), "--out", str(tmp_path / "conf")]) == 0
        capsys.readouterr()
        for name in ports:
            kind = "sentinel.conf" if name.startswith("sentinel") else "redis.conf"
            expected = (tmp_path / "conf" / name / kind).read_text()
            assert (tmp_path / "etc" / name / kind).read_text() == expected, name

        # 2. Start (redis-server --daemonize yes): the existing files are kept as they are.
        out = _playbook(tmp_path, inventory_path, "-e", "sentinelfast_start=daemonize")
        assert "Write the configuration file" in out
        sentinels = [(HOST, ports[f"sentinel-{z}"]) for z in "abc"]
        master = (HOST, ports["redis-a"])

        def agreed():
            for address in sentinels:
                state = pairs(resp_command(address, "SENTINEL", "MASTER", SERVICE))
                if (state["ip"], int(state["port"])) != master or state["flags"] != "master" \
                        or state["num-other-sentinels"] != "2" or state["num-slaves"] != "2":
                    return False
            replicas = resp_command(sentinels[0], "SENTINEL", "REPLICAS", SERVICE)
            return all(pairs(r)["master-link-status"] == "ok" for r in replicas)

        wait_for(agreed, 30, "the Sentinels to agree on the master, 2 replicas and each other")
        for zone in "abc":
            info = resp_command((HOST, ports[f"redis-{zone}"]), "INFO", "replication").decode()
            assert ("role:master" if zone == "a" else "role:slave") in info

        if importlib.util.find_spec("sentinelfast.cli.check") is not None:
            args = ["--json", "check", "--service", SERVICE]
            for host, port in sentinels:
                args += ["--sentinel", f"{host}:{port}"]
            code = main(args)
            report = capsys.readouterr().out
            assert code == 0, report

        # 3. The deployment works for a client and fails over.
        client = sentinelfast.Sentinel(sentinels, socket_timeout=2)
        writer = client.master_for(SERVICE)
        writer.set("k", "before")
        wait_for(lambda: resp_command(sentinels[0], "SENTINEL", "FAILOVER", SERVICE) == b"OK", 20, "SENTINEL FAILOVER")

        def moved():
            views = {tuple(resp_command(s, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)) for s in sentinels}
            if len(views) != 1:
                return None
            host, port = next(iter(views))
            new = (host.decode(), int(port))
            if new == master or b"role:master" not in resp_command(new, "INFO", "replication"):
                return None
            return new

        new_master = wait_for(moved, 30, "the Sentinels to agree on a new master")
        wait_for(lambda: writer.set("k", "after"), 20, "a write on the new master")
        assert resp_command(new_master, "GET", "k") == b"after"
    finally:
        _kill_deployment(tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_playbook_refuses_a_quorum_above_the_number_of_sentinels(tmp_path):
    inventory, _, _ = _deployment(tmp_path)
    inventory_path = tmp_path / "inventory.json"
    inventory_path.write_text(json.dumps(inventory))
    out = _playbook(tmp_path, inventory_path, "-e", "sentinelfast_start=none", "-e", "sentinelfast_quorum=4",
                    expect_ok=False)
    assert "a quorum from 1 to the number of Sentinels (3)" in out
    assert not (tmp_path / "etc").exists()  # nothing configured


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("variant", ["plain", "passwords", "acl-users-tls-nat", "hostnames"])
def test_sentinelfast_renderer_equals_jinja2_on_every_branch(tmp_path, variant):
    """`sentinelfast conf` renders the templates without Jinja2; Ansible renders them with it
    (trim_blocks, as its template module): both must give the same text on every branch."""
    _ansible_playbook()  # ansible-core brings Jinja2
    importlib.invalidate_caches()
    import jinja2

    from sentinelfast.ops.redis_conf import TEMPLATE_DIR, node_context, sentinel_context
    from sentinelfast.ops.topology_spec import check_spec, parse_spec

    _, topology, _ = _deployment(tmp_path)
    if variant == "passwords":
        topology.update(auth={"password": "pw"}, sentinel_auth={"password": "spw"})
    elif variant == "acl-users-tls-nat":
        topology.update(auth={"password": "pw", "user": "app"}, sentinel_auth={"password": "spw", "user": "mon"},
                        tls={"cert_file": "/c.crt", "key_file": "/c.key", "ca_cert_file": "/ca.crt",
                             "auth_clients": "optional", "replication": False})
        topology["nodes"][1].update(announce_ip="203.0.113.7", announce_port=16379)
        topology["sentinels"][0].update(announce_ip="203.0.113.8")
    elif variant == "hostnames":
        for n in topology["nodes"] + topology["sentinels"]:
            n["host"] = "localhost"
        for i, n in enumerate(topology["nodes"] + topology["sentinels"]):
            n["port"] = 7000 + i
    spec = parse_spec(topology)
    assert [f for f in check_spec(spec) if f.level == "error"] == []
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), trim_blocks=True,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    from sentinelfast.ops.redis_conf import render_all

    ours = render_all(spec)
    for node in spec.nodes:
        expected = env.get_template("redis.conf.j2").render(sf=node_context(spec, node))
        assert ours[f"{node.name}/redis.conf"] == expected
    for node in spec.sentinels:
        expected = env.get_template("sentinel.conf.j2").render(sf=sentinel_context(spec, node))
        assert ours[f"{node.name}/sentinel.conf"] == expected
    if variant == "hostnames":
        assert "sentinel resolve-hostnames yes\n" in ours["sentinel-a/sentinel.conf"]
    if variant == "acl-users-tls-nat":
        assert "user default off\nuser app on >pw ~* &* +@all\nmasteruser app\nmasterauth pw\n" in ours["redis-b/redis.conf"]
        assert "tls-replication no\n" in ours["redis-b/redis.conf"]
