"""The README's "Deploying in the path", followed as written: a device, a
gateway and a scan server in network namespaces; the gateway runs the
README's commands (redirect rules, proxy, check) exactly as printed there,
and a subscribed simulated device runs three jobs through it.

Transparent mode is tried with the iptables recipe over IPv4, the nftables
recipe over IPv6 and the bridge recipe over IPv4; regular mode with the device set to use the
gateway as its HTTP proxy, the gateway not forwarding at all.  The device
trusts only the proxy's CA, so every job also proves the certificate the
proxy made for the server's IP address.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import sys
from pathlib import Path

import pytest
from mitmproxy import io
from mitmproxy.exceptions import FlowReadException

from tests.deploy import netns
from tests.deploy.netns import ADDRESSES, BRIDGED, DEVICES_IF, Namespaces, Unavailable
from tests.helpers import Process, Processes, eventually

README = Path(__file__).resolve().parents[2] / "README.md"
DSPSCOPE = str(Path(sys.executable).parent / "dspscope")
JOBS = 3


def section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Deploying in the path")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def recipe(holding: str) -> list[str]:
    """The commands of the README block that holds ``holding``."""
    for block in re.findall(r"```sh\n(.*?)```", section(), re.S):
        lines = [line.strip() for line in block.replace("\\\n", " ").splitlines()]
        commands = [line for line in lines if line and not line.startswith("#")]
        if any(holding in command for command in commands):
            return commands
    raise AssertionError(f"the README's 'Deploying in the path' has no block with {holding!r}")


def ours(command: str) -> list[str]:
    """A README 'dspscope ...' command, run with this checkout's dspscope."""
    argv = shlex.split(command)
    assert argv[0] == "dspscope", command
    return [DSPSCOPE, *argv[1:]]


def url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def env_for(home: Path, **extra: str) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {"DSPSCOPE_HOME": str(home), **extra}


def captured(path: Path) -> list:
    with path.open("rb") as f:
        return list(io.FlowReader(f).stream())


def in_namespace(processes: Processes, ns: str, argv: list[str], name: str, *,
                 env: dict[str, str], cwd: Path) -> Process:
    # ip netns exec runs the program itself (exec): signals reach it directly.
    return processes.start(["ip", "netns", "exec", ns, *argv], name, env=env, cwd=cwd)


def end_states(flows: list) -> dict[str, object]:
    """JobToken -> the relayed PostScanJobEndStateEvent flow."""
    found = {}
    for flow in flows:
        meta = flow.metadata.get("dspscope") or {}
        if meta.get("kind") == "event" and meta.get("operation") == "PostScanJobEndStateEvent":
            found[meta.get("job_token")] = flow
    return found


def wait_for_end_states(path: Path, count: int, proxy: Process) -> list:
    """The capture once it holds ``count`` end-state events: the proxy writes
    each exchange when it ends, a moment after the device has its answer."""
    def complete() -> list | None:
        try:
            flows = captured(path)
        except (OSError, FlowReadException):  # not there yet, or an exchange half written
            return None
        return flows if len(end_states(flows)) >= count else None

    return eventually(complete, what=f"{count} end-state events in {path.name}", detail=proxy.output)


# Connect (through the explicit proxy, if one is given) to the server's IP
# with only the CA given trusted, host name checked; print issuer and names.
TLS_PROBE = """
import json, socket, ssl, sys
ca, server, proxy = sys.argv[1:]
context = ssl.create_default_context(cafile=ca)
raw = socket.create_connection((proxy or server, 8080 if proxy else 5362), 10)
if proxy:
    host = f"[{server}]" if ":" in server else server
    raw.sendall(f"CONNECT {host}:5362 HTTP/1.1\\r\\nHost: {host}:5362\\r\\n\\r\\n".encode())
    assert raw.recv(1000).startswith(b"HTTP/1.1 200")
with context.wrap_socket(raw, server_hostname=server) as tls:
    cert = tls.getpeercert()
issuer = " ".join(value for rdn in cert["issuer"] for _, value in rdn)
print(json.dumps([issuer, [[k, v.strip()] for k, v in cert["subjectAltName"]]]))
"""


pytestmark = pytest.mark.e2e

CASES = [
    pytest.param("transparent", "iptables", 4, id="transparent-iptables-ipv4"),
    pytest.param("transparent", "nft", 6, id="transparent-nft-ipv6"),
    pytest.param("transparent", "bridge", 4, id="transparent-bridge-ipv4"),
    pytest.param("regular", None, 4, id="regular-ipv4"),
]


@pytest.mark.parametrize(("mode", "firewall", "family"), CASES)
def test_jobs_through_a_proxy_in_the_path(mode, firewall, family, tmp_path, processes):
    needs = {"iptables": ["iptables", "ip6tables"], "nft": ["nft"], "bridge": ["iptables", "ip6tables"],
             None: []}[firewall]
    reason = netns.unavailable("sysctl", *needs)
    if reason:
        pytest.skip(reason)
    try:
        nets = Namespaces.create(bridged=firewall == "bridge")
    except Unavailable as exc:
        pytest.skip(str(exc))
    addr = BRIDGED if firewall == "bridge" else ADDRESSES[family]
    gateway_dir = tmp_path / "gateway"
    gateway_dir.mkdir()
    try:
        # The scan server, with a certificate for its addresses; the proxy
        # trusts it as the README says (--upstream-ca server-ca.pem).
        cert, key = gateway_dir / "server-ca.pem", tmp_path / "server-key.pem"
        netns.server_certificate(cert, key, [ADDRESSES[4]["server"], ADDRESSES[6]["server"], BRIDGED["server"]])
        server = in_namespace(processes, nets["server"],
                              [DSPSCOPE, "sim", "server", "--host", addr["server"], "--port", "5362",
                               "--cert", str(cert), "--key", str(key), "-q"],
                              "server", cwd=tmp_path, env=env_for(tmp_path / "server-home"))
        server.wait_for("dspscope sim server: listening on")

        # The gateway: the README's commands, as written.
        gateway_env = env_for(tmp_path / "gateway-home", DEVICES=DEVICES_IF)
        if mode == "transparent":
            marker = {"iptables": "iptables -t nat", "nft": "nft add rule", "bridge": "--physdev-in"}[firewall]
            for command in recipe(marker):
                netns.run("sh", "-c", command, ns=nets["gateway"], env={**os.environ, **gateway_env})
        proxy = in_namespace(processes, nets["gateway"], ours(recipe(f"dspscope proxy --mode {mode}")[0]),
                             "proxy", cwd=gateway_dir, env=gateway_env)
        proxy.wait_for("dspscope proxy: listening on")
        if mode == "transparent":
            proxy.wait_for(re.escape("-j REDIRECT --to-ports 8080"))
        ca = tmp_path / "gateway-home" / "mitmproxy" / "mitmproxy-ca-cert.pem"
        assert ca.is_file()

        # The device: the server's own address, trusting only the proxy's CA.
        device = [DSPSCOPE, "sim", "device", "--server", f"https://{url_host(addr['server'])}:5362/ScanServer",
                  "--cafile", str(ca), "--subscribe", "--sink-host", addr["device"],
                  "--jobs", str(JOBS), "--images", "2", "--image-size", "20k", "--json",
                  "--event-timeout", "15"]
        if mode == "regular":
            device += ["--proxy", f"http://{url_host(addr['gateway-device'])}:8080"]
        done = netns.run(*device, ns=nets["device"], env={**os.environ, **env_for(tmp_path / "device-home")},
                         check=False, timeout=180)
        jobs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        report = f"{done.stdout}{done.stderr}\n--- proxy:\n{proxy.output()}\n--- server:\n{server.output()}"
        assert done.returncode == 0, report
        assert [(j["ok"], j["final_state"]) for j in jobs] == [(True, "Completed")] * JOBS, report
        assert all(j["events"] >= 1 for j in jobs), report

        # The capture holds every job's end-state event, relayed to the device.
        capture = gateway_dir / "scans.mitm"
        flows = wait_for_end_states(capture, JOBS, proxy)
        ends = end_states(flows)
        assert set(ends) == {j["token"] for j in jobs}
        assert {f.request.host for f in ends.values()} == {addr["device"]}
        exchanges = [f for f in flows if (f.metadata.get("dspscope") or {}).get("kind") == "exchange"]
        assert exchanges and all(f.client_conn.tls_established for f in exchanges)
        # The server was told to send events to the proxy's address on its side.
        notify = [r["to"] for f in exchanges for r in f.metadata["dspscope"].get("rewrites") or ()
                  if r["what"] == "notify-to"]
        assert notify and all(to.startswith(f"http://{url_host(addr['gateway-server'])}:8081/")
                              for to in notify), notify
        # Every exchange reached the server at its own address.
        assert {f.server_conn.address[0] for f in exchanges} == {addr["server"]}

        # "Checking that it works": the README's check, on the capture being written.
        (check,) = recipe("dspscope check")
        checked = netns.run(*ours(check), ns=nets["gateway"], env={**os.environ, **gateway_env},
                            cwd=gateway_dir, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr

        # What the device was shown: a certificate for the server's IP address,
        # issued by the proxy's CA (the only one the device trusts).
        shown = netns.run(sys.executable, "-c", TLS_PROBE, ca.as_posix(), addr["server"],
                          addr["gateway-device"] if mode == "regular" else "", ns=nets["device"])
        issuer, names = json.loads(shown.stdout)
        ips = {ipaddress.ip_address(value) for kind, value in names if kind == "IP Address"}
        assert "mitmproxy" in issuer and ipaddress.ip_address(addr["server"]) in ips, shown.stdout

        if mode == "transparent":
            # Straight to the proxy's port, not redirected: refused with a warning.
            probe = (f"import socket; s = socket.create_connection(({addr['gateway-device']!r}, 8080), 10); "
                     "s.sendall(b'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'); s.recv(100)")
            netns.run(sys.executable, "-c", probe, ns=nets["device"], check=False)
            proxy.wait_for("not redirected")
        assert proxy.stop() == 0, proxy.output()
        flows = captured(capture)
        assert len(end_states(flows)) == JOBS
        # The subscription manager is the server's own address, reached through the proxy.
        unsubscribed = [f.response.status_code for f in flows if f.response
                        and (f.metadata.get("dspscope") or {}).get("operation") == "Unsubscribe"]
        assert unsubscribed == [200], proxy.output()
    finally:
        processes.close()
        nets.remove()


def test_the_recipe_is_in_the_readme():
    """What the test above runs is what the README shows (and it does not
    need root to be checked)."""
    assert any(c.startswith("iptables -t nat -A PREROUTING -i \"$DEVICES\"") for c in recipe("iptables -t nat"))
    assert any(c.startswith("ip6tables") for c in recipe("iptables -t nat"))
    assert any("redirect to :8080" in c for c in recipe("nft add rule"))
    assert all("ip_forward=1" in r[0] for r in (recipe("iptables -t nat"), recipe("nft add rule")))
    for mode in ("transparent", "regular"):
        (proxy,) = recipe(f"dspscope proxy --mode {mode}")
        assert "--listen-port 8080" in proxy and "--save scans.mitm" in proxy
