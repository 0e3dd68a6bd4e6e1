"""Building the extension: changed compiler flags always produce a fresh build.

Slow (two full compiles of the C extension in a copy of the source tree).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(os.environ.get("SENTINELFAST_REPO_ROOT") or Path(__file__).resolve().parents[1])
SKIP_IN_COPY = {".git", "build", "dist", "__pycache__", ".pytest_cache", ".mypy_cache"}


def copy_source_tree(dest: Path) -> Path:
    def ignore(directory, names):
        return [n for n in names if n in SKIP_IN_COPY or n.startswith(".venv")
                or n.endswith((".so", ".o", ".egg-info"))]

    shutil.copytree(REPO_ROOT, dest, ignore=ignore)
    return dest


def build(tree: Path, **flags: str) -> Path:
    """`setup.py build` in `tree` with the given SENTINELFAST_* flags; the built _core .so."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SENTINELFAST_", "ASAN_", "UBSAN_", "LSAN_"))
           and k not in ("LD_PRELOAD", "CFLAGS", "LDFLAGS")}
    env.update(flags)
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build", "-j", "2"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    built = list((tree / "build").glob("lib*/sentinelfast/_core*.so"))
    assert len(built) == 1, built
    return built[0]


def has_asan(so: Path) -> bool:
    return b"__asan_init" in so.read_bytes()


def imports_cleanly(lib_dir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "PYTHONPATH") and not k.startswith("ASAN_")}
    return subprocess.run([sys.executable, "-c", "import sentinelfast._core"], cwd=lib_dir, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.timeout(1800)
def test_plain_build_after_sanitizer_build_is_not_the_sanitizer_build(tmp_path):
    tree = copy_source_tree(tmp_path / "src")

    asan_so = build(tree, SENTINELFAST_SANITIZE="1")
    assert has_asan(asan_so)   # the first build really is the ASan one

    plain_so = build(tree)
    assert not has_asan(plain_so), "the plain build reused the AddressSanitizer build from build/"
    proc = imports_cleanly(plain_so.parents[1])
    assert proc.returncode == 0, proc.stderr
