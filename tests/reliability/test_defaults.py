"""Secure by default: where the proxy listens, what it says when told to
listen everywhere, who may read the key material and captures it writes,
and that a certificate's key given to it never reaches a capture or a log."""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import ipaddress
import socket
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dspscope.sim.server import ScanServer
from tests.reliability import corpus
from tests.reliability.support import Proxy, Upstream, count, post

pytestmark = pytest.mark.e2e

BODY = corpus.in_slot(corpus.TOKEN.encode())
WARNING = "warning: listening on every interface"


def _other_addresses() -> list[str]:
    """This host's own IPv4 addresses that are not loopback (Linux: the
    LOCAL entries of the routing table)."""
    found = set()
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
    except OSError:
        return []
    for before, line in zip(lines, lines[1:], strict=False):
        if "/32 host LOCAL" in line:
            found.add(before.strip().removeprefix("|-- "))
    return sorted(a for a in found if not ipaddress.ip_address(a).is_loopback)


def test_listens_on_loopback_unless_told(tmp_path: Path) -> None:
    with Upstream() as upstream:
        proxy = Proxy(tmp_path, upstream.url, listen_host=None).started()
        try:
            announced = proxy.stderr
            assert f"listening on 127.0.0.1:{proxy.port};" in announced
            assert "events on 127.0.0.1:" in announced
            assert WARNING not in announced
            assert post(proxy.port, BODY, "application/soap+xml", "lo").status == 200
            for address in _other_addresses():
                with pytest.raises(OSError):
                    socket.create_connection((address, proxy.port), timeout=5).close()
                count("non-loopback addresses the default proxy refused")
            assert proxy.stop() == 0
        finally:
            proxy.kill()


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_every_interface_is_a_warning(tmp_path: Path, host: str) -> None:
    if host == "::" and not socket.has_ipv6:
        pytest.skip("no IPv6")
    with Upstream() as upstream:
        proxy = Proxy(tmp_path, upstream.url, listen_host=host)
        try:
            proxy.started()
            assert proxy.stderr.startswith(f"dspscope proxy: {WARNING}")
            assert proxy.stop() == 0
        except AssertionError:
            if host == "::" and "cannot listen" in proxy.stderr:
                pytest.skip("IPv6 is off here")
            raise
        finally:
            proxy.kill()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _holds_a_key(path: Path) -> bool:
    data = path.read_bytes()
    return b"PRIVATE KEY" in data or path.name == "mitmproxy-ca.p12"


def test_key_material_and_captures_are_owner_only(tmp_path: Path) -> None:
    with Upstream() as upstream:
        proxy = Proxy(tmp_path, upstream.url).started()
        try:
            assert post(proxy.port, BODY, "application/soap+xml", "modes").status == 200
            assert proxy.stop() == 0
        finally:
            proxy.kill()
    confdir = tmp_path / "mitmproxy"
    assert _mode(confdir) == 0o700
    keys = [p for p in confdir.iterdir() if _holds_a_key(p)]
    assert {p.name for p in keys} >= {"mitmproxy-ca.pem", "mitmproxy-ca.p12"}
    assert {p.name: _mode(p) for p in keys} == {p.name: 0o600 for p in keys}
    # Captures hold SIDs, addresses and scanned pages.
    assert _mode(proxy.capture) == 0o600 and _mode(proxy.records_path) == 0o600
    count("key and capture files checked for owner-only modes", len(keys) + 2)


async def test_the_simulators_key_is_owner_only(tmp_path: Path) -> None:
    home = tmp_path / "fresh" / "dspscope"
    async with ScanServer(port=0, tls_on=True, config_dir=home):
        pass
    assert _mode(home) == 0o700
    keys = [p for p in home.iterdir() if p.is_file() and _holds_a_key(p)]
    assert keys and all(_mode(p) == 0o600 for p in keys)


def _certificate(path: Path) -> bytes:
    """A self-signed certificate for 127.0.0.1 and its key, in one PEM file;
    returns the key's DER bytes."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dspscope test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.write_bytes(pem + cert.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o600)
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def test_a_supplied_key_never_reaches_captures_or_logs(tmp_path: Path) -> None:
    supplied = tmp_path / "supplied" / "proxy.pem"
    supplied.parent.mkdir()
    der = _certificate(supplied)
    client = tmp_path / "supplied" / "client.pem"
    client_der = _certificate(client)
    with Upstream() as upstream:
        proxy = Proxy(tmp_path, upstream.url, "--cert", str(supplied), "--client-cert", str(client),
                      "--verbose").started()
        try:
            context = ssl.create_default_context(cafile=str(supplied))
            for n in range(3):
                connection = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=context,
                                                         timeout=30)
                connection.request("POST", f"/ScanServer?tag=tls{n}", BODY,
                                   {"Content-Type": "application/soap+xml", "x-reliability-tag": f"tls{n}"})
                reply = connection.getresponse()
                assert reply.status == 200 and reply.read() == BODY
                connection.close()
            assert proxy.stop() == 0
        finally:
            proxy.kill()
    assert len(proxy.records()) == 3
    secrets = []
    for blob in (der, client_der):
        b64 = base64.b64encode(blob)
        secrets += [blob, *(b64[i : i + 40] for i in range(0, len(b64) - 40, 40))]
    assert any(secret in supplied.read_bytes() for secret in secrets)  # the search can find it
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent != supplied.parent]
    assert proxy.capture in written and proxy.err in written
    for path in written:
        data = path.read_bytes()
        assert not any(secret in data for secret in secrets), path
    count("files searched for a supplied private key", len(written))
