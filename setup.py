"""Build script for the C extension ``sentinelfast._core``.

The extension links the system hiredis (Debian: ``libhiredis-dev``) and OpenSSL 3
(Debian: ``libssl-dev``). Set
``SENTINELFAST_STRICT=1`` (CI does) to turn every compiler warning into an error,
and ``SENTINELFAST_SANITIZE=1`` for an AddressSanitizer/UBSan build. Changing any
flag rebuilds everything (see ``build_ext_per_flags``).
"""
import hashlib
import os
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "hiredis"], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return out.split()


cflags = ["-std=c11", "-O2", "-fvisibility=hidden", "-Wall", "-Wextra",
          "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
ldflags = ["-Wl,-Bsymbolic"]
if os.environ.get("SENTINELFAST_STRICT") == "1":
    cflags += ["-Werror", "-Wshadow", "-Wstrict-prototypes"]
if os.environ.get("SENTINELFAST_SANITIZE") == "1":
    cflags += ["-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
    ldflags += ["-fsanitize=address,undefined"]

include_dirs = [f[2:] for f in pkg_config("--cflags-only-I")] or ["/usr/include/hiredis"]
library_dirs = [f[2:] for f in pkg_config("--libs-only-L")]

sources = [
    "csrc/module.c",
    "csrc/transport.c",
    "csrc/io_errors.c",
    "csrc/tls_context.c",
    "csrc/resp_reader.c",
    "csrc/resp_writer.c",
    "csrc/resp_python.c",
    "csrc/connection.c",
    "csrc/pool.c",
    "csrc/client.c",
    "csrc/pipeline.c",
    "csrc/fast_command.c",
    "csrc/retry.c",
    "csrc/backoff.c",
    "csrc/sentinel_discovery.c",
    "csrc/sentinel_service.c",
    "csrc/sentinel_events.c",
    "csrc/sentinel_link.c",
    "csrc/sentinel_monitor.c",
    "csrc/promotion_probe.c",
    "csrc/reply_parsers.c",
    "csrc/protocol.c",
]

# Everything that changes the compiled objects besides the sources: the flags above
# and the compiler settings distutils takes from the environment.
FLAG_ENV = ("CC", "CFLAGS", "CPPFLAGS", "LDFLAGS", "LDSHARED", "ARCHFLAGS")
build_flags = repr((cflags, ldflags, include_dirs, library_dirs,
                    [(k, os.environ.get(k)) for k in FLAG_ENV]))
BUILD_FLAGS_ID = hashlib.sha256(build_flags.encode()).hexdigest()[:12]


class build_ext_per_flags(build_ext):
    """build_ext that never reuses objects or an extension built with other flags.

    setuptools skips an extension whose output in build/lib* is newer than its
    sources, whatever flags built it: after a SENTINELFAST_SANITIZE=1 build, a plain
    `pip install .` installed the ASan build again. Here objects go to a directory
    per flag set (build/temp*/flags-<hash>), and an extension last linked with other
    flags (recorded in build/temp*/last-link-<name>) is rebuilt.
    """

    def finalize_options(self):
        super().finalize_options()
        self.stamp_dir = self.build_temp
        self.build_temp = os.path.join(self.build_temp, "flags-" + BUILD_FLAGS_ID)

    def build_extension(self, ext):
        stamp = os.path.join(self.stamp_dir, "last-link-" + ext.name)
        output = os.path.abspath(self.get_ext_fullpath(ext.name))
        wanted = f"{BUILD_FLAGS_ID} {output}"
        try:
            with open(stamp) as f:
                stale = f.read() != wanted
        except OSError:
            stale = True
        if stale and os.path.exists(stamp):
            os.remove(stamp)
        saved_force = self.force
        self.force = self.force or stale
        try:
            super().build_extension(ext)
        finally:
            self.force = saved_force
        os.makedirs(self.stamp_dir, exist_ok=True)
        with open(stamp, "w") as f:
            f.write(wanted)


setup(
    cmdclass={"build_ext": build_ext_per_flags},
    ext_modules=[
        Extension(
            "sentinelfast._core",
            sources=sources,
            depends=[os.path.join("csrc", f) for f in os.listdir("csrc") if f.endswith(".h")],
            include_dirs=["csrc", *include_dirs],
            library_dirs=library_dirs,
            libraries=["hiredis", "ssl", "crypto"],
            extra_compile_args=cflags,
            extra_link_args=ldflags,
            define_macros=[("_GNU_SOURCE", "1")],
        )
    ],
)
