"""Build script for the C extension ``sentinelfast._core``.

The extension links the system hiredis (Debian: ``libhiredis-dev``) and OpenSSL 3
(Debian: ``libssl-dev``). Set
``SENTINELFAST_STRICT=1`` (CI does) to turn every compiler warning into an error,
and ``SENTINELFAST_SANITIZE=1`` for an AddressSanitizer/UBSan build.
"""
import os
import subprocess

from setuptools import Extension, setup


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
    "csrc/retry.c",
    "csrc/backoff.c",
    "csrc/sentinel_discovery.c",
    "csrc/sentinel_service.c",
    "csrc/sentinel_events.c",
    "csrc/sentinel_link.c",
    "csrc/sentinel_monitor.c",
    "csrc/reply_parsers.c",
    "csrc/protocol.c",
]

setup(
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
