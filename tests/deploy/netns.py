"""Three network namespaces for deployment tests: a device, a gateway and a
scan server, joined by two veth pairs, made and removed by the test itself.

    device 10.199.1.2 fd00:199:1::2  (dev0)
       |
    gateway 10.199.1.1 fd00:199:1::1 (gwdev)  10.199.2.1 fd00:199:2::1 (gwsrv)
       |
    server 10.199.2.2 fd00:199:2::2  (srv0)

Or, ``bridged``, one segment 10.199.3.0/24 that the gateway bridges (br0,
10.199.3.1; device .2, server .3).

The addresses exist only inside these namespaces; the host's own network is
never touched (both ends of each veth pair are created inside them).  The
gateway does not forward until a recipe turns ``ip_forward`` on.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("device", "gateway", "server")
ADDRESSES = {
    4: {"device": "10.199.1.2", "gateway-device": "10.199.1.1",
        "gateway-server": "10.199.2.1", "server": "10.199.2.2"},
    6: {"device": "fd00:199:1::2", "gateway-device": "fd00:199:1::1",
        "gateway-server": "fd00:199:2::1", "server": "fd00:199:2::2"},
}
BRIDGED = {"device": "10.199.3.2", "gateway-device": "10.199.3.1",
           "gateway-server": "10.199.3.1", "server": "10.199.3.3"}
DEVICES_IF = "gwdev"  # the gateway's interface (or bridge port) toward the devices
_serial = itertools.count()


class Unavailable(Exception):
    """Namespaces cannot be made here; the message says why."""


def unavailable(*commands: str) -> str | None:
    """Why the namespaces (and ``commands``) cannot be had, or None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root (.ci/run runs as root)"
    for command in ("ip", *commands):
        if shutil.which(command) is None:
            return f"{command} is not installed (.ci/run installs it with apt-get)"
    return None


def run(*argv: str, ns: str | None = None, check: bool = True,
        env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full = ["ip", "netns", "exec", ns, *argv] if ns else list(argv)
    done = subprocess.run(full, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(full)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done


@dataclass
class Namespaces:
    names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, *, bridged: bool = False) -> Namespaces:
        tag = f"dsps{os.getpid()}x{next(_serial)}"
        made = cls({role: f"{tag}-{role}" for role in ROLES})
        try:
            # The first one tells whether this system lets us (root in a
            # container without CAP_SYS_ADMIN does not); later failures are bugs.
            run("ip", "netns", "add", made.names[ROLES[0]])
        except (AssertionError, OSError) as exc:
            made.remove()
            raise Unavailable(f"cannot make network namespaces here: {exc}") from None
        try:
            made._build(bridged)
        except BaseException:
            made.remove()
            raise
        return made

    def _build(self, bridged: bool) -> None:
        for name in self.names.values():
            if name != self.names[ROLES[0]]:
                run("ip", "netns", "add", name)
            run("ip", "link", "set", "lo", "up", ns=name)
        dev, gw, srv = (self.names[r] for r in ROLES)
        run("ip", "link", "add", "dev0", "netns", dev, "type", "veth", "peer", "name", DEVICES_IF,
            "netns", gw)
        run("ip", "link", "add", "srv0", "netns", srv, "type", "veth", "peer", "name", "gwsrv",
            "netns", gw)
        for ns, links in ((dev, ["dev0"]), (gw, [DEVICES_IF, "gwsrv"]), (srv, ["srv0"])):
            for link in links:
                run("ip", "link", "set", link, "up", ns=ns)
        if bridged:
            run("ip", "link", "add", "br0", "type", "bridge", ns=gw)
            for port in (DEVICES_IF, "gwsrv"):
                run("ip", "link", "set", port, "master", "br0", ns=gw)
            for ns, link, address in ((dev, "dev0", BRIDGED["device"]), (gw, "br0", BRIDGED["gateway-device"]),
                                      (srv, "srv0", BRIDGED["server"])):
                run("ip", "addr", "add", f"{address}/24", "dev", link, ns=ns)
            run("ip", "link", "set", "br0", "up", ns=gw)
            return
        for family, prefix in ((4, 24), (6, 64)):
            a = ADDRESSES[family]
            for ns, dev_name, address in ((dev, "dev0", a["device"]), (gw, DEVICES_IF, a["gateway-device"]),
                                          (gw, "gwsrv", a["gateway-server"]), (srv, "srv0", a["server"])):
                extra = ["nodad"] if family == 6 else []  # usable at once, not after DAD
                run("ip", f"-{family}", "addr", "add", f"{address}/{prefix}", "dev", dev_name, *extra, ns=ns)
            run("ip", f"-{family}", "route", "add", "default", "via", a["gateway-device"], ns=dev)
            run("ip", f"-{family}", "route", "add", "default", "via", a["gateway-server"], ns=srv)
        run("sysctl", "-qw", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0", ns=gw)

    def __getitem__(self, role: str) -> str:
        return self.names[role]

    def remove(self) -> None:
        for name in self.names.values():
            for pid in run("ip", "netns", "pids", name, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run("ip", "netns", "del", name, check=False)


def server_certificate(cert: Path, key: Path, addresses: Sequence[str]) -> None:
    """A self-signed certificate for the server's addresses: the CA file the
    proxy is given with --upstream-ca."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dspscope test scan server")])
    now = dt.datetime.now(dt.UTC)
    built = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    key.chmod(0o600)
