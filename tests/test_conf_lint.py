"""`sentinelfast conf --lint`: directives Redis does not know, wrong arity, bad values; the
verdicts agree with redis-server itself, and the shipped directive table with the installed
redis-server."""

import json
import os
import subprocess
import time

import pytest

from sentinelfast.cli import main
from sentinelfast.ops.conf_lint import lint_text, split_config_line
from sentinelfast.ops.redis_directives import derive_from_server, load_directives
from sentinelfast.testing import find_free_port

# The seed guide's sample sentinel.conf: master-host / master-port are not Sentinel directives.
SEED_SENTINEL_CONF = """\
port 26379
sentinel monitor mymaster 10.0.1.10 6379 2
sentinel master-host mymaster 10.0.1.10
sentinel master-port mymaster 6379
sentinel down-after-milliseconds mymaster 5000
sentinel failover-timeout mymaster 60000
sentinel parallel-syncs mymaster 1
"""


def test_seed_sample_is_rejected_with_line_numbers(tmp_path, capsys):
    path = tmp_path / "sentinel.conf"
    path.write_text(SEED_SENTINEL_CONF)
    assert main(["conf", "--lint", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{path}:3: sentinel master-host: unknown Sentinel directive 'master-host'",
        f"{path}:4: sentinel master-port: unknown Sentinel directive 'master-port'",
    ]
    assert main(["--json", "conf", "--lint", str(path)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    assert [p["line"] for p in doc["files"][0]["problems"]] == [3, 4]


def test_debian_default_redis_conf_is_accepted(capsys):
    # Installed with Debian's redis-server package (scripts/lib.sh installs it).
    assert os.path.exists("/etc/redis/redis.conf")
    assert main(["conf", "--lint", "/etc/redis/redis.conf"]) == 0
    assert capsys.readouterr().out == "/etc/redis/redis.conf: ok\n"


@pytest.mark.parametrize(
    "line, message",
    [
        ("appendonly maybe", "expects yes or no"),
        ("maxmemory lots", "expects a memory size"),
        ("maxmemory-policy drop-everything", "expects one of volatile-lru"),
        ("port", "wrong number of arguments (0; expects 1)"),
        ("port 6379 6380", "wrong number of arguments (2; expects 1)"),
        ("databases sixteen", "expects an integer"),
        ("master-host 10.0.0.1", "unknown directive"),
        ("save 900", 'expects pairs of <seconds> <changes>, or ""'),
        ("replicaof 10.0.0.1", "wrong number of arguments"),
        ("client-output-buffer-limit normal 0 0", "wrong number of arguments"),
        ('requirepass "unbalanced', "unbalanced double quotes"),
        ("sentinel monitor m 10.0.0.1 6379 2", "sentinel directive in a redis.conf"),
        ("rename-command CONFIG", "wrong number of arguments"),
    ],
)
def test_bad_redis_conf_lines(line, message):
    problems = lint_text(f"# a comment\nport 6379\n{line}\n", kind="redis")
    assert len(problems) == 1, problems
    assert problems[0].line == 3 and message in problems[0].message


@pytest.mark.parametrize(
    "line, message",
    [
        ("sentinel monitor m 10.0.0.1 6379", "wrong number of arguments (3; expects 4)"),
        ("sentinel monitor m 10.0.0.1 6379 0", "quorum must be at least 1"),
        ("sentinel down-after-milliseconds m soon", "expects a non-negative integer"),
        ("sentinel parallel-syncs m 0", "must be at least 1"),
        ("sentinel resolve-hostnames maybe", "expects yes or no"),
    ],
)
def test_bad_sentinel_lines(line, message):
    problems = lint_text(f"port 26379\n{line}\n", kind="sentinel")
    assert [p.line for p in problems] == [2] and message in problems[0].message, problems


def test_good_lines_of_both_kinds():
    text = """
bind 127.0.0.1 -::1
save ""
save 3600 1 300 100
client-output-buffer-limit replica 256mb 64mb 60 pubsub 32mb 8mb 60
maxmemory 1gb
slave-read-only yes
replicaof 10.0.0.1 6379
user app on >pw ~* &* +@all
rename-command FLUSHALL ""
shutdown-on-sigterm nosave force
   # indented comment
tls-auth-clients optional
"""
    assert lint_text(text, kind="redis") == []
    sentinel = """
sentinel monitor mymaster 10.0.0.1 6379 2
sentinel auth-pass mymaster 'pw'
sentinel known-replica mymaster 10.0.0.2 6379
sentinel known-sentinel mymaster 10.0.0.3 26379 0123456789abcdef0123456789abcdef01234567
sentinel myid 0123456789abcdef0123456789abcdef01234567
sentinel config-epoch mymaster 3
sentinel current-epoch 3
"""
    assert lint_text(sentinel) == []


def test_split_like_redis():
    assert split_config_line('a "b c" \'d e\' "x\\x41\\n"') == ["a", "b c", "d e", "xA\n"]
    assert split_config_line('save ""') == ["save", ""]


def _redis_accepts(tmp_path, text):
    """Whether redis-server starts with ``text`` appended to a minimal config on a free port."""
    port = find_free_port()
    path = tmp_path / f"c{port}.conf"
    path.write_text(f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\nsave \"\"\n{text}\n")
    proc = subprocess.Popen(["redis-server", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                import socket

                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64):
                        return True
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server neither exited nor answered")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "line",
    [
        "appendonly maybe",
        "appendonly yes",
        "maxmemory lots",
        "maxmemory 100mb",
        "maxmemory-policy allkeys-lru",
        "maxmemory-policy drop-everything",
        "databases 16 17",
        "master-host 10.0.0.1",
        "save 900",
        "save 900 1",
        "loglevel notice",
        "tls-auth-clients optional",
        "user app on >pw ~* +@all",
    ],
)
def test_lint_agrees_with_redis_server(tmp_path, line):
    assert (lint_text(line + "\n", kind="redis") == []) == _redis_accepts(tmp_path, line)


def test_shipped_directive_table_matches_the_installed_redis_server():
    shipped = load_directives()
    derived = derive_from_server()
    assert derived["redis_version"] == shipped["redis_version"], (
        "regenerate sentinelfast/ops/redis_directives.json: python -m sentinelfast.ops.redis_directives")
    assert derived["parameters"] == shipped["parameters"]
