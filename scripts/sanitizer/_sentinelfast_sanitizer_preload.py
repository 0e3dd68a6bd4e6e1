"""Imported at start-up (a .pth file) by the interpreters of .venv-asan.

1. The wrapper $VENV/bin/python-sanitized preloads the AddressSanitizer runtime into
   Python (LD_PRELOAD) and names it in SENTINELFAST_ASAN_RUNTIME; this removes it
   from LD_PRELOAD again, so that the programs Python starts (redis-server, gcc, ...)
   run without it. Pythons started through sys.executable (the wrapper) get it back.
2. Leak check: LeakSanitizer's own check at exit is off (leak_check_at_exit=0: its
   reports would make every such process exit with status 1, CPython's included);
   instead the last atexit callback runs a recoverable leak check, which writes
   reports (to ASan's log_path) without changing the exit status.
   scripts/sanitizer/leaks.py then fails the run for leaks allocated through
   sentinelfast's C code.
"""
import atexit
import os

_runtime = os.environ.get("SENTINELFAST_ASAN_RUNTIME")
if _runtime:
    _rest = [p for p in os.environ.get("LD_PRELOAD", "").split(":") if p and p != _runtime]
    if _rest:
        os.environ["LD_PRELOAD"] = ":".join(_rest)
    else:
        os.environ.pop("LD_PRELOAD", None)

    def _leak_check():
        import ctypes

        try:
            check = ctypes.CDLL(None).__lsan_do_recoverable_leak_check
        except (OSError, AttributeError):
            return
        check()

    if "detect_leaks=1" in os.environ.get("ASAN_OPTIONS", ""):
        atexit.register(_leak_check)   # registered first: runs last
