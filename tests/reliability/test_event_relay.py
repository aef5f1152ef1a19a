"""The events listener relays a server's event to the device address carried
in the URL.  It must relay only to addresses the proxy itself wrote into a
Subscribe: a forged or altered address would make the proxy POST anything
to any host (it listens on every interface where devices need it)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from dspscope.wsdsp import build, decode, encode
from tests.reliability.support import Proxy, Upstream, count, post, raw_exchange, request_bytes

pytestmark = pytest.mark.e2e


def _events_port(proxy: Proxy) -> int:
    found = re.search(r"events on 127\.0\.0\.1:(\d+)", proxy.stderr)
    assert found, proxy.stderr
    return int(found.group(1))


def _relay(proxy: Proxy, path: str, tag: str) -> int | None:
    event = encode(build.event("PostScanJobStatusEvent", {"JobStatus": {"JobState": "Pending"}},
                               to="http://device.example.test/e"))
    wire = request_bytes(event.content, content_type=event.content_type, tag=tag, path=path)
    return raw_exchange(_events_port(proxy), wire, timeout=30).status


def test_only_addresses_the_proxy_signed_are_relayed_even_after_a_restart(tmp_path: Path) -> None:
    with Upstream() as server, Upstream() as sink, Upstream() as bystander:
        first = Proxy(tmp_path, server.url, name="first").started()
        try:
            subscribe = encode(build.subscribe(to=f"{first.url}/ScanServer", notify_to=f"{sink.url}/events"))
            assert post(first.port, subscribe.content, subscribe.content_type, "sub").status == 200
            (seen,) = server.by_tag("sub")
            notify = decode(seen.body).body["Delivery"]["NotifyTo"]["Address"]
            path = notify[notify.index("/dspscope/notify/"):]
            assert _relay(first, path, "e1") == 200 and len(sink.received) == 1
            assert first.stop() == 0
        finally:
            first.kill()
        second = Proxy(tmp_path, server.url, name="second").started()  # same CA, same key
        try:
            assert _relay(second, path, "e2") == 200 and len(sink.received) == 2
            key = path.rpartition("/")[2]
            encoded, _, mac = key.partition(".")
            elsewhere = base64.urlsafe_b64encode(f"{bystander.url}/admin".encode()).decode().rstrip("=")
            forged = [
                elsewhere,                                   # unsigned, as keys used to be
                f"{elsewhere}.{mac}",                        # another address, a copied signature
                f"{encoded}.{mac[:-2]}AA",                   # an altered signature
                f"{encoded}",                                # no signature
            ]
            for n, bad in enumerate(forged):
                assert _relay(second, f"/dspscope/notify/{bad}", f"f{n}") == 404
                count("forged event-relay addresses refused")
            assert second.stop() == 0
        finally:
            second.kill()
    assert len(sink.received) == 2 and bystander.received == [] and bystander.connections == 0
    assert "Traceback" not in first.stderr + second.stderr
