"""Imported at start-up (a .pth file) by the interpreters of .venv-asan.

The wrapper $VENV/bin/python-sanitized preloads the AddressSanitizer runtime into
Python (LD_PRELOAD) and names it in SENTINELFAST_ASAN_RUNTIME; this removes it from
LD_PRELOAD again, so that the programs Python starts (redis-server, gcc, ...) run
without it. Pythons started through sys.executable (the wrapper) get it back.
"""
import os

_runtime = os.environ.get("SENTINELFAST_ASAN_RUNTIME")
if _runtime:
    _rest = [p for p in os.environ.get("LD_PRELOAD", "").split(":") if p and p != _runtime]
    if _rest:
        os.environ["LD_PRELOAD"] = ":".join(_rest)
    else:
        os.environ.pop("LD_PRELOAD", None)
