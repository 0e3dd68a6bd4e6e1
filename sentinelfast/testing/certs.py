"""Test certificates made with the ``openssl`` command line tool.

:func:`make_certificates` writes a small private PKI into a directory and returns the paths
as a :class:`Certificates`::

    from sentinelfast.testing.certs import make_certificates

    certs = make_certificates("/tmp/pki")        # the directory is created if needed
    certs.ca_cert, certs.server_cert, certs.client_cert, ...

What is made (EC P-256 keys, SHA-256 signatures, valid for 10 years from now):

* ``ca_cert`` / ``ca_key``: the test CA that signs everything below (except ``other_ca_cert``).
* ``server_cert`` / ``server_key``: for ``DNS:localhost``, ``IP:127.0.0.1`` and ``IP:::1``,
  usable as a server and as a client certificate (Redis presents its ``tls-cert-file`` both
  when it accepts connections and when it dials its master or, for Sentinel, the monitored nodes).
* ``client_cert`` / ``client_key``: a client certificate for mutual TLS (``tls-auth-clients yes``).
* ``other_ca_cert`` / ``other_ca_key``: an unrelated CA, for "wrong CA" tests (a client that trusts
  only this CA must refuse the servers).
* ``wrong_host_cert`` / ``wrong_host_key``: signed by the good CA but for
  ``DNS:wrong-host.invalid`` only, for hostname verification tests (a server presenting it on
  127.0.0.1 must be refused by a client that checks host names).

The certificates satisfy the checks of Python's ``ssl.VERIFY_X509_STRICT`` (key usage on the CA,
key identifiers, subject alternative names), so they work with default contexts of recent Pythons.

Only the ``openssl`` executable is needed (Debian package ``openssl``); no Python crypto package.
Each call uses its own directory and fresh keys; nothing is shared between calls.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import subprocess
from typing import List, Optional

__all__ = ["Certificates", "make_certificates", "CertificateError", "WRONG_HOST_NAME"]

#: The only name in ``wrong_host_cert``; it is not a name of this machine (``.invalid`` is reserved).
WRONG_HOST_NAME = "wrong-host.invalid"

_VALID_DAYS = 3650

# One configuration file for every openssl call: it does not depend on the system's openssl.cnf.
_OPENSSL_CONFIG = """\
[ req ]
distinguished_name = req_dn
prompt = no
utf8 = yes

[ req_dn ]
CN = unused

[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash

[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1

[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:sentinelfast-test-client

[ wrong_host_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:{wrong_host}
"""


class CertificateError(RuntimeError):
    """The ``openssl`` command is missing or failed (the message has its output)."""


@dataclasses.dataclass(frozen=True)
class Certificates:
    """Paths (PEM files) of the certificates and keys made by :func:`make_certificates`."""

    #: The directory holding every file below.
    directory: str
    #: The test CA (trusted by the servers and by the clients of the tests).
    ca_cert: str
    ca_key: str
    #: Server certificate for localhost, 127.0.0.1 and ::1 (also valid as a client certificate).
    server_cert: str
    server_key: str
    #: Client certificate for mutual TLS.
    client_cert: str
    client_key: str
    #: An unrelated CA: trusting only it, a client must refuse the servers.
    other_ca_cert: str
    other_ca_key: str
    #: Signed by the good CA for :data:`WRONG_HOST_NAME` only (hostname verification tests).
    wrong_host_cert: str
    wrong_host_key: str


def _openssl(args: List[str], cwd: str) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise CertificateError("the 'openssl' command is not installed (Debian package: openssl)")
    proc = subprocess.run(
        [exe] + args,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "OPENSSL_CONF": os.path.join(cwd, "openssl.cnf")},
    )
    if proc.returncode != 0:
        raise CertificateError(
            f"openssl {' '.join(args)} failed with status {proc.returncode}:\n"
            f"{proc.stdout.decode(errors='replace')}"
        )


def _new_key(path: str, cwd: str) -> None:
    _openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path], cwd)
    os.chmod(os.path.join(cwd, path), 0o600)


def _make_ca(name: str, cn: str, cwd: str) -> None:
    _new_key(f"{name}.key", cwd)
    _openssl(
        ["req", "-config", "openssl.cnf", "-new", "-x509", "-key", f"{name}.key", "-sha256",
         "-days", str(_VALID_DAYS), "-subj", f"/O=sentinelfast tests/CN={cn}",
         "-extensions", "ca_ext", "-set_serial", str(_serial()), "-out", f"{name}.crt"],
        cwd,
    )


def _serial() -> int:
    return secrets.randbits(63) | 1


def _make_leaf(name: str, cn: str, extensions: str, cwd: str) -> None:
    _new_key(f"{name}.key", cwd)
    _openssl(
        ["req", "-config", "openssl.cnf", "-new", "-key", f"{name}.key", "-sha256",
         "-subj", f"/O=sentinelfast tests/CN={cn}", "-out", f"{name}.csr"],
        cwd,
    )
    _openssl(
        ["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-set_serial", str(_serial()), "-days", str(_VALID_DAYS), "-sha256",
         "-extfile", "openssl.cnf", "-extensions", extensions, "-out", f"{name}.crt"],
        cwd,
    )
    os.unlink(os.path.join(cwd, f"{name}.csr"))


def make_certificates(directory: str, *, wrong_host: Optional[str] = None) -> Certificates:
    """Make a test CA, server, client, other-CA and wrong-host certificates in ``directory``.

    ``directory`` is created if it does not exist; files already there with the same names are
    replaced. ``wrong_host`` changes the name in ``wrong_host_cert`` (default
    :data:`WRONG_HOST_NAME`). Takes a few tens of milliseconds (EC P-256 keys). Raises
    :class:`CertificateError` when ``openssl`` is missing or fails.
    """
    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "openssl.cnf"), "w") as f:
        f.write(_OPENSSL_CONFIG.format(wrong_host=wrong_host or WRONG_HOST_NAME))
    _make_ca("ca", "sentinelfast test CA", directory)
    _make_ca("other-ca", "unrelated test CA", directory)
    _make_leaf("server", "localhost", "server_ext", directory)
    _make_leaf("client", "sentinelfast-test-client", "client_ext", directory)
    _make_leaf("wrong-host", wrong_host or WRONG_HOST_NAME, "wrong_host_ext", directory)

    def p(name: str) -> str:
        return os.path.join(directory, name)

    return Certificates(
        directory=directory,
        ca_cert=p("ca.crt"),
        ca_key=p("ca.key"),
        server_cert=p("server.crt"),
        server_key=p("server.key"),
        client_cert=p("client.crt"),
        client_key=p("client.key"),
        other_ca_cert=p("other-ca.crt"),
        other_ca_key=p("other-ca.key"),
        wrong_host_cert=p("wrong-host.crt"),
        wrong_host_key=p("wrong-host.key"),
    )
