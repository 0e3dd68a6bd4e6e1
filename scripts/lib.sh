# shellcheck shell=bash
# Shared set-up steps for scripts/demo, scripts/test, scripts/bench and scripts/wheels
# (sourced, not executed).
#
# Target: a fresh Debian 12 machine with Python 3 (pip + venv) and gcc.
# Environment knobs:
#   PYTHON                 interpreter used to create .venv (default: python3)
#   SENTINELFAST_PYTHON    X.Y (3.10 ... 3.13): use that Python instead (pyenv's, else
#                          pythonX.Y on PATH) in its own virtualenv, .venv-X.Y
#   SENTINELFAST_VERBOSE   if 1: show pip's and apt-get's output (the scripts' -v does this)
#   CI                     if set and non-empty: compiler warnings are errors, pip is verbose
#   SENTINELFAST_SKIP_APT  if 1: never call apt-get (just check)
#   SENTINELFAST_SKIP_INSTALL  if 1: do not rebuild/reinstall; use what .venv has

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
# The supported Pythons, oldest first (pyproject.toml's classifiers say the same).
SUPPORTED_PYTHONS=(3.10 3.11 3.12 3.13)
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The interpreter for Python X.Y: pyenv's newest X.Y.N, else pythonX.Y on PATH.
find_python() {
    local want="$1" root newest
    root="$( (command -v pyenv >/dev/null 2>&1 && pyenv root) || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
    newest="$(ls -1 "$root/versions" 2>/dev/null | grep -E "^${want//./\\.}\.[0-9]+$" | sort -V | tail -n 1)"
    if [ -n "$newest" ] && [ -x "$root/versions/$newest/bin/python" ]; then
        echo "$root/versions/$newest/bin/python"
        return 0
    fi
    command -v "python$want" 2>/dev/null
}

# SENTINELFAST_PYTHON=X.Y picks the interpreter and a virtualenv of its own, so the
# default .venv is left alone; VENV_SUFFIX names the other virtualenvs the same way.
VENV_SUFFIX=""
if [ -n "${SENTINELFAST_PYTHON:-}" ]; then
    PYTHON="$(find_python "$SENTINELFAST_PYTHON")" \
        || die "SENTINELFAST_PYTHON=$SENTINELFAST_PYTHON: no such interpreter (pyenv install $SENTINELFAST_PYTHON, or put python$SENTINELFAST_PYTHON on PATH)"
    VENV_SUFFIX="-$SENTINELFAST_PYTHON"
fi
VENV="$REPO_ROOT/.venv$VENV_SUFFIX"

verbose() { [ "${SENTINELFAST_VERBOSE:-0}" = 1 ] || [ -n "${CI:-}" ]; }

# Run a set-up command with its output hidden (shown with -v / SENTINELFAST_VERBOSE=1,
# and in CI); when it fails, its captured output is printed, then the failure returned.
run_quietly() {
    if verbose; then
        "$@" >&2
        return
    fi
    local out rc=0
    out="$(mktemp "${TMPDIR:-/tmp}/sentinelfast-setup.XXXXXX")"
    "$@" >"$out" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        printf 'error: failed (exit code %s): %s\n--- its output:\n' "$rc" "$*" >&2
        cat "$out" >&2
        printf -- '---\n' >&2
    fi
    rm -f "$out"
    return "$rc"
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# System packages: redis-server (the tests and the demo start real servers and
# Sentinels), libhiredis-dev (the C extension links the system hiredis), libssl-dev
# (TLS through OpenSSL), openssl (the tests make their certificates with it), a C
# compiler, pkg-config, and the Python headers / venv module when the
# interpreter is Debian's own.
ensure_system_packages() {
    local missing=()
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    dpkg -s libhiredis-dev >/dev/null 2>&1 || missing+=(libhiredis-dev)
    dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    command -v strace >/dev/null 2>&1 || missing+=(strace)   # tests count syscalls per command
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)     # partition drills: ip netns, veth, ip rule
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)

    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (need Python 3 with pip and venv)"
    local pyexe pyinc pyver
    pyexe="$("$PYTHON" -c 'import sys; print(sys.executable)')"
    pyinc="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    pyver="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    if [ "${pyexe#/usr/bin/}" != "$pyexe" ]; then
        # Debian's interpreter: headers and ensurepip are separate packages.
        [ -f "$pyinc/Python.h" ] || missing+=("python${pyver}-dev")
        "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1 || missing+=("python${pyver}-venv")
    else
        [ -f "$pyinc/Python.h" ] || die "Python.h not found in $pyinc ($pyexe); install the headers for this interpreter"
    fi

    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    if [ "${SENTINELFAST_SKIP_APT:-0}" = 1 ]; then
        die "missing system packages: ${missing[*]} (SENTINELFAST_SKIP_APT=1, not installing)"
    fi
    command -v apt-get >/dev/null 2>&1 || die "missing system packages: ${missing[*]} (no apt-get: install them by hand)"
    log "installing system packages: ${missing[*]}"
    run_quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    run_quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Create .venv in the repository, or reuse it when its interpreter still runs.
ensure_venv() {
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import pip' >/dev/null 2>&1; then
        log "reusing virtualenv $VENV"
    else
        log "creating virtualenv $VENV"
        rm -rf "$VENV"
        run_quietly "$PYTHON" -m venv "$VENV"
    fi
    VPY="$VENV/bin/python"
}

# Build and install the project (not editable) with the given extras.
#
# The build runs on a fresh copy of the source tree, so a stale build/ directory,
# *.egg-info or an in-place built sentinelfast/_core*.so from development can
# never end up in the installed wheel, and changed compiler flags always apply.
install_project() {
    local extras="$1"
    if [ "${SENTINELFAST_SKIP_INSTALL:-0}" = 1 ]; then
        log "SENTINELFAST_SKIP_INSTALL=1: using the sentinelfast already installed in $VENV"
        return 0
    fi
    if [ -n "${CI:-}" ]; then
        # Compiler warnings are errors in CI. setup.py adds -Wall -Wextra -Werror
        # itself when SENTINELFAST_STRICT=1.
        export CFLAGS="${CFLAGS:+$CFLAGS }-Werror"
        export SENTINELFAST_STRICT=1
        log "CI: CFLAGS=$CFLAGS SENTINELFAST_STRICT=1"
    fi
    [ -f "$REPO_ROOT/pyproject.toml" ] || [ -f "$REPO_ROOT/setup.py" ] \
        || die "no pyproject.toml or setup.py in $REPO_ROOT"

    local src
    src="$(mktemp -d "${TMPDIR:-/tmp}/sentinelfast-src.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$src'" EXIT
    tar -C "$REPO_ROOT" -cf - \
        --exclude='./.venv*' --exclude=./.git --exclude=./build --exclude=./dist \
        --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache --exclude=.mypy_cache \
        --exclude='*.so' --exclude='*.o' . | tar -C "$src" -xf -

    local target="$src${extras:+[$extras]}"
    log "pip install $target  (copy of $REPO_ROOT)"
    # A local directory is always rebuilt and reinstalled, even at an unchanged version.
    # In CI, -v shows the compiler command lines and any warnings in the log.
    run_quietly "$VPY" -m pip install ${CI:+-v} "$target"
    rm -rf "$src"
    trap - EXIT
    install_redis_py_release
}

# SENTINELFAST_REDIS_PY=oldest (the lower bound of the runtime dependency declared in
# pyproject.toml) or =X.Y.Z: run against that redis-py release instead of the newest.
install_redis_py_release() {
    local want="${SENTINELFAST_REDIS_PY:-}"
    [ -n "$want" ] || return 0
    if [ "$want" = oldest ]; then
        want="$(sed -n 's/^dependencies = \["redis>=\([0-9.]*\),.*/\1/p' "$REPO_ROOT/pyproject.toml")"
        [ -n "$want" ] || die "no redis>=X lower bound found in pyproject.toml's dependencies"
    fi
    log "pip install redis[hiredis]==$want  (SENTINELFAST_REDIS_PY=$SENTINELFAST_REDIS_PY)"
    run_quietly "$VPY" -m pip install ${CI:+-v} "redis[hiredis]==$want"
}

# Fail unless `import sentinelfast` (from the repository root, as the test and
# demo commands run it) loads the installed package with its C extension.
check_installed_import() {
    local dir="$REPO_ROOT" flag=-P
    # -P (Python >= 3.11) keeps the current directory off sys.path.
    "$VPY" -P -c '' >/dev/null 2>&1 || { dir=/; flag=-I; }
    (cd "$dir" && "$VPY" "$flag" - "$REPO_ROOT" "$VENV" <<'EOF'
import os, sys
repo = os.path.realpath(sys.argv[1])
venv = os.path.realpath(sys.argv[2])
import sentinelfast
if getattr(sentinelfast, "__file__", None) is None:
    sys.exit("error: sentinelfast was imported as a namespace package (no __init__.py?) from %s"
             % list(sentinelfast.__path__))
import sentinelfast._core as core
for mod in (sentinelfast, core):
    path = os.path.realpath(mod.__file__)
    if path.startswith(repo + os.sep) and not path.startswith(venv + os.sep):
        sys.exit("error: %s was imported from the source tree (%s), not the installed wheel" % (mod.__name__, path))
print("==> using %s" % os.path.dirname(os.path.realpath(core.__file__)), file=sys.stderr)
EOF
    )
}

# --- scripts/test --sanitize -------------------------------------------------
# An extension built with -fsanitize=address needs the ASan runtime loaded before
# anything else in the process, and CPython itself is not built with it: the
# runtime is preloaded (LD_PRELOAD) into the interpreter only. $VENV/bin/python-sanitized
# is that interpreter (sys.executable, so Pythons started by the tests get it too);
# a .pth file removes the runtime from LD_PRELOAD again at start-up, so that the
# programs Python starts (redis-server, gcc, ss...) run without it.
SANITIZER_DIR="$REPO_ROOT/scripts/sanitizer"

sanitized_python() {
    local libasan site wrapper
    libasan="$(gcc -print-file-name=libasan.so)"
    [ -f "$libasan" ] || die "the AddressSanitizer runtime was not found (gcc -print-file-name=libasan.so: $libasan)"
    libasan="$(readlink -f "$libasan")"
    site="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    wrapper="$VENV/bin/python-sanitized"
    cat >"$wrapper" <<WRAPPER
#!/usr/bin/env bash
# Python with the AddressSanitizer runtime preloaded (written by scripts/lib.sh).
export SENTINELFAST_ASAN_RUNTIME="$libasan"
export LD_PRELOAD="$libasan\${LD_PRELOAD:+:\$LD_PRELOAD}"
export ASAN_OPTIONS="\${ASAN_OPTIONS:-$(asan_options)}"
export UBSAN_OPTIONS="\${UBSAN_OPTIONS:-$(ubsan_options)}"
export LSAN_OPTIONS="\${LSAN_OPTIONS:-$(lsan_options)}"
export PYTHONMALLOC="\${PYTHONMALLOC:-malloc}"
exec -a "\$0" "$VENV/bin/python" "\$@"
WRAPPER
    chmod +x "$wrapper"
    cp "$SANITIZER_DIR/_sentinelfast_sanitizer_preload.py" "$site/"
    echo "import _sentinelfast_sanitizer_preload" >"$site/sentinelfast_sanitizer_preload.pth"
    VPY="$wrapper"
    export ASAN_OPTIONS="$(asan_options)" UBSAN_OPTIONS="$(ubsan_options)" LSAN_OPTIONS="$(lsan_options)"
    log "sanitized interpreter: $VPY (LD_PRELOAD=$libasan)"
    log "ASAN_OPTIONS=$ASAN_OPTIONS"
    log "UBSAN_OPTIONS=$UBSAN_OPTIONS"
    log "LSAN_OPTIONS=$LSAN_OPTIONS"
}

# halt_on_error: the first error ends the process (its exit code says so).
# allocator_may_return_null: an allocation too large gives NULL (MemoryError), as
# without ASan, instead of a report.
# Leaks: leak_check_at_exit=0 and a recoverable check in the last atexit callback
# instead (scripts/sanitizer/_sentinelfast_sanitizer_preload.py); fast_unwind_on_malloc=0
# because CPython has no frame pointers: without it allocation stacks stop inside
# CPython and a leak through our code cannot be told from CPython's (about 2x slower).
# malloc_context_size=24: the slow unwinder walks that many frames on every allocation
# (PYTHONMALLOC=malloc: every Python object too), and 24 is deep enough for what the
# leak check counts, C memory leaked through csrc/, where our frame is within a few frames
# of malloc (a malloc leaked on purpose in sf_reader_new is reported with its stack). With 64,
# test_differential.py + test_pipeline.py took 73 s under the sanitizers; with 24, 42 s.
# SENTINELFAST_ASAN_EXTRA adds options.
asan_options() {
    echo "halt_on_error=1:abort_on_error=0:print_stacktrace=1:detect_leaks=1:leak_check_at_exit=0:fast_unwind_on_malloc=0:malloc_context_size=24:allocator_may_return_null=1:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=0${SENTINELFAST_ASAN_EXTRA:+:$SENTINELFAST_ASAN_EXTRA}"
}
ubsan_options() {
    echo "halt_on_error=1:print_stacktrace=1:report_error_type=1"
}
lsan_options() {
    echo "suppressions=$SANITIZER_DIR/lsan.supp:print_suppressions=0"
}

# Fail (status 1) if a sanitized process reported a memory error, or a leak through
# sentinelfast's C code, into the report files in $1 (scripts/sanitizer/leaks.py).
check_sanitizer_reports() {
    "$VENV/bin/python" -I "$SANITIZER_DIR/leaks.py" "$1"
}
