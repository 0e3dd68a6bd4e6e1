"""pytest plugin loaded by scripts/test (``-p pytest_installed_guard``).

Fails the run when ``sentinelfast`` (or its C extension ``sentinelfast._core``) was
imported from the source tree instead of the installed wheel in the virtualenv:
the source tree has no built ``_core`` on a clean checkout, and an in-place
build left there by development is not what ``pip install`` produced.
"""

import os
import sys

import pytest

_MODULES = ("sentinelfast", "sentinelfast._core")


def _problem():
    repo = os.path.realpath(os.environ.get("SENTINELFAST_REPO_ROOT", os.getcwd()))
    # scripts/test sets SENTINELFAST_VENV (.venv, or .venv-asan with --sanitize).
    venv = os.path.realpath(os.environ.get("SENTINELFAST_VENV") or os.path.join(repo, ".venv")) + os.sep
    for name in _MODULES:
        mod = sys.modules.get(name)
        if mod is None:
            continue
        path = getattr(mod, "__file__", None)
        if path is None:
            return f"{name} was imported as a namespace package from {list(getattr(mod, '__path__', []))}"
        path = os.path.realpath(path)
        if path.startswith(repo + os.sep) and not path.startswith(venv):
            return f"{name} was imported from the source tree ({path}), not from the installed wheel"
    return None


def pytest_report_header(config):
    mod = sys.modules.get("sentinelfast._core")
    if mod is not None:
        return f"sentinelfast._core: {os.path.realpath(mod.__file__)}"
    return None


def pytest_collection_finish(session):
    problem = _problem()
    if problem:
        pytest.exit(f"scripts/test: {problem}", returncode=4)


def pytest_sessionfinish(session, exitstatus):
    problem = _problem()
    if problem:
        sys.stderr.write(f"\nscripts/test: {problem}\n")
        if session.exitstatus == 0:
            session.exitstatus = 1
