"""What machine a benchmark ran on: CPU, cores, OS, and the versions involved.

Shared by run.py and failover_drill.py, which record it with their results.
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
from typing import Any, Dict, List, Optional


def _version(dist: str) -> Optional[str]:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cmd_output(cmd: List[str]) -> Optional[str]:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info() -> Dict[str, Any]:
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    redis_server = _cmd_output(["redis-server", "--version"]) or ""
    rs_version = next((p[2:] for p in redis_server.split() if p.startswith("v=")), redis_server or None)
    libhiredis = _cmd_output(["pkg-config", "--modversion", "hiredis"])
    try:
        import sentinelfast._core as core  # the installed package (never the source tree)
        sf_path = os.path.dirname(os.path.realpath(core.__file__))
    except ImportError:
        sf_path = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        "redis_server": rs_version,
        "redis_py": _version("redis"),
        "hiredis_py": _version("hiredis"),
        "uvloop": _version("uvloop"),
        "libhiredis": libhiredis,
        "sentinelfast": _version("sentinelfast"),
        "sentinelfast_path": sf_path,
        "redis_benchmark": shutil.which("redis-benchmark") is not None,
        "strace": shutil.which("strace") is not None,
    }


def _os_name() -> Optional[str]:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return None
