"""TLS for the simulators: a self-signed server certificate made on first
use and kept in the config directory, and the SSL contexts both ends use.

The certificate is RSA 2048 (embedded device firmware often has no ECDSA)
with subject alternative names for 127.0.0.1, ::1, localhost and this
host's name, so a device on this machine or the LAN can validate it once
given the certificate file as its trusted root.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

from dspscope.local import config_dir
from dspscope.sim.errors import SimError

CERT_NAME = "sim-server-cert.pem"
KEY_NAME = "sim-server-key.pem"
_VALIDITY = dt.timedelta(days=825)
_RENEW_BEFORE = dt.timedelta(days=7)




def default_certificate(directory: Path | None = None) -> tuple[Path, Path]:
    """(cert, key) in the config directory, made if missing or near expiry."""
    directory = directory or config_dir()
    cert, key = directory / CERT_NAME, directory / KEY_NAME
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _locked(directory / ".cert.lock"):
            if not (key.exists() and _still_valid(cert)):
                _write_self_signed(cert, key)
    except OSError as exc:
        raise SimError(
            f"cannot create the certificate in {directory}: {exc.strerror or exc}"
        ) from None
    return cert, key


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Two simulators starting at once must not write a mismatched pair."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _still_valid(cert: Path) -> bool:
    from cryptography import x509

    try:
        loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    except (OSError, ValueError):
        return False
    return loaded.not_valid_after_utc - _RENEW_BEFORE > dt.datetime.now(dt.UTC)


def _write_self_signed(cert_path: Path, key_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    hostname = socket.gethostname() or "localhost"
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "dspscope simulated scan server"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dspscope"),
        ]
    )
    alt: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    if hostname != "localhost":
        alt.append(x509.DNSName(hostname))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                key_cert_sign=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _replace(key_path, key_pem, 0o600)
    _replace(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _replace(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def serving(cert: Path | None, key: Path | None, directory: Path | None = None
            ) -> tuple[Path, Path, ssl.SSLContext]:
    """What a simulated or replaying server presents: the given certificate
    and key (both or neither), else the simulators' self-signed pair under
    ``directory``; and the TLS context made of them."""
    if (cert is None) != (key is None):
        raise SimError("give both --cert and --key, or neither")
    if cert is None or key is None:
        cert, key = default_certificate(directory)
    return cert, key, server_context(cert, key)


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A TLS 1.2+ server context; a bad pair becomes one SimError line."""
    for path, what in ((cert, "certificate"), (key, "key")):
        if not path.is_file():
            raise SimError(f"{what} file {path} does not exist")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        why = {"KEY_VALUES_MISMATCH": "the key does not belong to the certificate"}.get(
            exc.reason or "", "they are not a PEM certificate and its unencrypted PEM private key"
        )
        raise SimError(f"cannot use certificate {cert} with key {key}: {why}") from None
    except OSError as exc:
        raise SimError(f"cannot read {cert} or {key}: {exc.strerror or exc}") from None
    return context


def client_context(
    cafile: Path | None = None, *, insecure: bool = False, also_trust: Path | None = None
) -> ssl.SSLContext:
    """What a device trusts: ``cafile`` alone if given, else the system roots
    plus ``also_trust`` (the simulator's own certificate); nothing with ``insecure``."""
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
        if cafile is None and also_trust is not None and also_trust.is_file():
            context.load_verify_locations(cafile=str(also_trust))
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise SimError(
            f"cannot load trusted certificates from {cafile or also_trust}: {reason}"
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
