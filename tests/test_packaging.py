"""What the installed distribution says about itself, and the static type check.

* One version: ``sentinelfast.__version__`` (from ``sentinelfast/_version.py``) is the
  version pip installed (setuptools reads the same file).
* Metadata: SPDX license expression and the LICENSE file, Requires-Python, the supported
  Python classifiers (the running Python among them), project URLs.
* ``mypy sentinelfast`` (the public API, the stubs of ``_core`` and
  ``sentinelfast.testing``) reports no error.
"""

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sfimpl import IMPL

pytestmark = pytest.mark.skipif(IMPL != "sentinelfast", reason="sentinelfast's own distribution")

REPO_ROOT = Path(os.environ.get("SENTINELFAST_REPO_ROOT") or Path(__file__).resolve().parents[1])
SUPPORTED = ["3.10", "3.11", "3.12", "3.13"]


@pytest.fixture(scope="module")
def metadata():
    return importlib.metadata.metadata("sentinelfast")


def test_one_version():
    import sentinelfast
    from sentinelfast._version import __version__

    assert sentinelfast.__version__ == __version__ == importlib.metadata.version("sentinelfast")


def test_license_metadata_and_file(metadata):
    assert metadata["License-Expression"] == "MIT"
    assert "LICENSE" in (metadata.get_all("License-File") or [])
    files = importlib.metadata.files("sentinelfast") or []
    license_files = [f for f in files if f.name == "LICENSE"]
    assert license_files, "no LICENSE in the installed distribution"
    assert "MIT License" in license_files[0].read_text()


def test_supported_pythons(metadata):
    assert metadata["Requires-Python"] == ">=3.10"
    classifiers = metadata.get_all("Classifier")
    listed = sorted(c.rsplit(":: ", 1)[1] for c in classifiers
                    if c.startswith("Programming Language :: Python :: 3.")
                    and c.count("::") == 2)
    assert listed == SUPPORTED
    assert "%d.%d" % sys.version_info[:2] in listed     # the tests run on a supported Python
    assert "Programming Language :: C" in classifiers
    assert "Operating System :: POSIX :: Linux" in classifiers


def test_project_urls(metadata):
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL") or [])
    assert {"Homepage", "Source", "Issues"} <= set(urls), urls
    assert all(u.startswith("https://") for u in urls.values()), urls


@pytest.mark.timeout(300)
def test_mypy_is_clean_on_the_package():
    """``mypy sentinelfast`` on the source tree (configured in pyproject.toml's [tool.mypy])."""
    # mypy only reads the sources: run it on the virtualenv's plain interpreter, without
    # the AddressSanitizer runtime that `scripts/test --sanitize` preloads (minutes there).
    python = os.path.join(sys.prefix, "bin", "python")
    if not os.path.exists(python):
        python = sys.executable
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    command = [python, "-m", "mypy", "--no-incremental", "--cache-dir", os.devnull, "sentinelfast"]
    proc = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=280)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
