from __future__ import annotations

import argparse
import stat

import pytest

from dspscope.addons import chain
from dspscope.cli import UsageError
from dspscope.cli import proxy as command


def options(*argv, home=None, monkeypatch=None):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return command.build_options(parser.parse_args(list(argv)))


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DSPSCOPE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_reverse_mode_with_an_events_listener(home):
    opts = options("--upstream", "https://server:5362/ignored", "--listen-port", "7000")
    assert opts["mode"] == ["reverse:https://server:5362", f"reverse:{command.EVENTS_TARGET}@7001"]
    assert opts["dspscope_events"] == "127.0.0.1:7001"
    assert opts["listen_host"] == "127.0.0.1" and opts["listen_port"] == 7000
    assert opts["connection_strategy"] == "lazy"
    assert opts["dspscope_headless"] is True
    confdir = home / "mitmproxy"
    assert opts["confdir"] == str(confdir)
    assert stat.S_IMODE(confdir.stat().st_mode) == 0o700


def test_any_mode_all_interfaces_no_events():
    opts = options("--mode", "regular", "--mode", "socks5@1080", "--listen-host", "0.0.0.0",
                   "--no-events", "-q")
    assert opts["mode"] == ["regular", "socks5@1080"]
    assert "dspscope_events" not in opts and opts["dspscope_headless"] is False


@pytest.mark.parametrize(("argv", "host", "events"), [
    # Redirected traffic arrives on the gateway's own addresses, not loopback.
    (("--mode", "transparent", "--listen-port", "8080"), "", "8081"),
    (("--mode", "transparent@8080", "--listen-host", "10.199.1.1"), "10.199.1.1", "10.199.1.1:5363"),
    (("--mode", "regular", "--listen-port", "8080"), "127.0.0.1", "127.0.0.1:8081"),
])
def test_listen_host_defaults_per_mode(argv, host, events):
    opts = options(*argv)
    assert opts["listen_host"] == host and opts["dspscope_events"] == events


@pytest.mark.parametrize(("advertise", "events"), [
    ("10.0.0.9", "10.0.0.9:8081"),
    ("nat.example:9000", "nat.example:9000"),
    ("fd00::9", "[fd00::9]:8081"),
    ("[fd00::9]", "[fd00::9]:8081"),
    ("[fd00::9]:9000", "[fd00::9]:9000"),
    ("https://nat.example:9443", "https://nat.example:9443"),
])
def test_events_advertise(advertise, events):
    opts = options("--mode", "transparent", "--listen-port", "8080", "--events-advertise", advertise)
    assert opts["dspscope_events"] == events
    assert opts["mode"][-1].endswith("@8081")


def test_redirect_rules_name_the_listening_port():
    lines = command.redirect_rules([("0.0.0.0", 8080), ("::", 8080)])
    assert "--dport 5362 -j REDIRECT --to-ports 8080" in lines[1] and lines[1].lstrip().startswith("iptables")
    assert lines[2].lstrip().startswith("ip6tables") and "redirect to :8080" in lines[3]
    assert not any("ip6tables" in line for line in command.redirect_rules([("10.0.0.1", 9090)]))


def test_events_port_zero_picks_a_free_one():
    opts = options("--upstream", "http://s", "--listen-port", "0")
    port = int(opts["dspscope_events"].rpartition(":")[2])
    assert port > 0 and opts["mode"][1].endswith(f"@{port}")


def test_tls_and_capture_options(tmp_path):
    pem = tmp_path / "p.pem"
    pem.write_text("x")
    opts = options("--upstream", "https://s", "--cert", str(pem), "--cert", f"a.example={pem}",
                   "--insecure", "--upstream-ca", str(pem), "--client-cert", str(pem),
                   "--save", "c.mitm", "--jsonl", "c.jsonl", "--rotate-size", "10m",
                   "--rotate-time", "1h", "--advertise", "https://p:1")
    assert opts["certs"] == [f"*={pem}", f"a.example={pem}"]
    assert opts["ssl_insecure"] is True
    assert opts["ssl_verify_upstream_trusted_ca"] == str(pem) == opts["client_certs"]
    assert (opts["dspscope_save"], opts["dspscope_jsonl"]) == ("c.mitm", "c.jsonl")
    assert (opts["dspscope_rotate_size"], opts["dspscope_rotate_time"]) == ("10m", "1h")
    assert opts["dspscope_advertise"] == "https://p:1"


@pytest.mark.parametrize(("argv", "match"), [
    ((), "--upstream"),
    (("--upstream", "server:5362"), "http"),
    (("--upstream", "https://s", "--cert", "/nope.pem"), "does not exist"),
    (("--upstream", "https://s", "--rotate-time", "often"), "not a duration"),
    (("--upstream", "https://s", "--rotate-size", "big"), "not a size"),
    (("--mode", "transparent", "--events-advertise", "ftp://x:1"), "--events-advertise"),
    (("--mode", "transparent", "--events-advertise", "x", "--no-events"), "contradict"),
])
def test_usage_errors(argv, match):
    with pytest.raises(UsageError, match=match):
        options(*argv)


def test_rules_need_the_rules_addon(monkeypatch, tmp_path):
    rules = tmp_path / "r.yaml"
    rules.write_text("")
    monkeypatch.setattr(chain, "RULES_MODULE", "dspscope.addons.no_such_module")
    with pytest.raises(UsageError, match="rules support not available"):
        options("--upstream", "https://s", "--rules", str(rules))
    monkeypatch.setattr(chain, "RULES_MODULE", "dspscope.addons.chain")
    assert options("--upstream", "https://s", "--rules", str(rules))[chain.RULES_OPTION] == [str(rules)]


def test_each_listening_address_is_named_once():
    from dspscope.cli.proxy import addresses_text

    assert addresses_text([("127.0.0.1", 5362), ("127.0.0.1", 5362)]) == "127.0.0.1:5362"  # TCP + UDP
    assert addresses_text([("::", 5362), ("0.0.0.0", 5362), ("::", 5362)]) == "*:5362"
    assert addresses_text([("0.0.0.0", 5362)]) == "0.0.0.0:5362"
    assert addresses_text([("::1", 5362), ("127.0.0.1", 5363)]) == "[::1]:5362, 127.0.0.1:5363"
    assert addresses_text([]) == "?"
