"""The client's address behind trusted proxies (TASKHUB_TRUSTED_PROXIES, taskhub/clientaddr.py).

Parsing (addresses, networks, IPv6, ports, garbage), the right-most-untrusted rule, and what uses
it: the rate limits, /metrics' internal-address check and the request log. The same rules through
the real nginx of ``make prod`` are in tests/live/test_client_address_live.py.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from accounts import ratelimit
from accounts.api import REGISTER_PER_IP
from taskhub.clientaddr import parse_address, parse_networks, resolve
from tests.api.conftest import assert_error

ROOT = Path(__file__).resolve().parents[2]


# --- parsing ------------------------------------------------------------------------------------------


def test_parse_networks_takes_addresses_and_networks_of_both_families():
    networks = parse_networks(" 127.0.0.2, 10.0.0.0/8  fd00::/8,::1 ,192.168.1.7/24")
    assert networks == (
        ipaddress.ip_network("127.0.0.2/32"), ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"),
        ipaddress.ip_network("::1/128"), ipaddress.ip_network("192.168.1.0/24"),  # host bits dropped, not an error
    )
    assert parse_networks("") == () and parse_networks("  , ") == ()


@pytest.mark.parametrize("bad", ["localhost", "10.0.0.0/33", "1.2.3", "fd00::/129", "10.0.0.1-10.0.0.9", "*"])
def test_parse_networks_rejects_what_is_not_an_address_or_network(bad):
    with pytest.raises(ValueError, match=repr(bad).replace("*", r"\*")):
        parse_networks(f"127.0.0.1, {bad}")


def test_a_bad_trusted_proxies_setting_stops_the_server_at_start_up():
    env = {**os.environ, "TASKHUB_TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    assert "TASKHUB_TRUSTED_PROXIES: 'proxy.internal' is not an IP address or network" in result.stderr


@pytest.mark.parametrize(("raw", "expected"), [
    ("203.0.113.7", "203.0.113.7"),
    ("  203.0.113.7 ", "203.0.113.7"),
    ("203.0.113.7:51234", "203.0.113.7"),
    ("2001:db8::7", "2001:db8::7"),
    ("2001:DB8:0:0::7", "2001:db8::7"),
    ("[2001:db8::7]", "2001:db8::7"),
    ("[2001:db8::7]:443", "2001:db8::7"),
    ('"[2001:db8::7]:443"', "2001:db8::7"),
    ("::ffff:203.0.113.7", "203.0.113.7"),  # IPv4-mapped: one client, one address
    ("fe80::1%eth0", "fe80::1%eth0"),
])
def test_parse_address_reads_what_proxies_write(raw, expected):
    assert str(parse_address(raw)) == expected


@pytest.mark.parametrize("raw", [None, "", " ", "unknown", "_hidden", "example.com", "203.0.113", "203.0.113.7:http",
                                 "203.0.113.7:", "[2001:db8::7", "[2001:db8::7]x", "[2001:db8::7]:", "[203.0.113.7]x",
                                 "2001:db8::7:443:1:2:3:4:5", "1.2.3.4.5", "<script>", "999.1.1.1"])
def test_parse_address_refuses_garbage(raw):
    assert parse_address(raw) is None


# --- the rule -----------------------------------------------------------------------------------------

PROXY = parse_networks("127.0.0.2, 10.0.0.0/8, fd00::/8")


def test_with_no_trusted_proxy_the_header_is_ignored():
    assert resolve("198.51.100.9", "203.0.113.7", ()) == "198.51.100.9"
    assert resolve("127.0.0.2", "203.0.113.7", ()) == "127.0.0.2"


def test_a_header_from_a_peer_that_is_not_a_trusted_proxy_is_ignored():
    # A client connecting directly cannot name its own address.
    assert resolve("198.51.100.9", "203.0.113.7", PROXY) == "198.51.100.9"
    assert resolve("2001:db8::9", "203.0.113.7", PROXY) == "2001:db8::9"


def test_behind_the_proxy_the_client_is_the_right_most_entry_not_trusted():
    assert resolve("127.0.0.2", "203.0.113.7", PROXY) == "203.0.113.7"
    # The client's own X-Forwarded-For comes first; the proxy appends what it saw.
    assert resolve("127.0.0.2", "192.0.2.1, 203.0.113.7", PROXY) == "203.0.113.7"
    # Several trusted hops (a load balancer in 10/8 in front of nginx): skipped, right to left.
    assert resolve("127.0.0.2", "192.0.2.1, 203.0.113.7, 10.1.2.3", PROXY) == "203.0.113.7"
    assert resolve("10.9.9.9", "203.0.113.7,10.1.2.3,10.4.5.6", PROXY) == "203.0.113.7"


def test_ipv6_clients_and_proxies():
    assert resolve("fd00::2", "2001:db8::7", PROXY) == "2001:db8::7"
    assert resolve("fd00::2", "[2001:db8::7]:5555, fd00::3", PROXY) == "2001:db8::7"
    assert resolve("::ffff:127.0.0.2", "203.0.113.7", PROXY) == "203.0.113.7"  # a mapped proxy address
    assert resolve("127.0.0.2", "::ffff:203.0.113.7", PROXY) == "203.0.113.7"
    assert resolve("127.0.0.2", "2001:db8::7, fd00::5", PROXY) == "2001:db8::7"


def test_no_header_or_only_proxies_gives_the_nearest_hop():
    assert resolve("127.0.0.2", None, PROXY) == "127.0.0.2"
    assert resolve("127.0.0.2", "", PROXY) == "127.0.0.2"
    assert resolve("127.0.0.2", "10.0.0.5, 10.0.0.6", PROXY) == "10.0.0.5"


def test_a_garbage_entry_ends_the_walk_at_the_nearest_hop_identified():
    # Nothing left of an entry that is not an address can be believed, whatever it says.
    assert resolve("127.0.0.2", "203.0.113.7, garbage", PROXY) == "127.0.0.2"
    assert resolve("127.0.0.2", "203.0.113.7, unknown, 10.0.0.5", PROXY) == "10.0.0.5"
    assert resolve("127.0.0.2", "203.0.113.7,,10.0.0.5", PROXY) == "10.0.0.5"
    assert resolve("127.0.0.2", "203.0.113.7, 10.0.0.5:x", PROXY) == "127.0.0.2"
    # Garbage left of the client's entry is the client's own and changes nothing.
    assert resolve("127.0.0.2", "<script>, 1.1.1.1.1, 203.0.113.7", PROXY) == "203.0.113.7"


def test_an_unreadable_peer_address_is_kept_as_it_is():
    assert resolve("", "203.0.113.7", PROXY) == ""
    assert resolve(None, "203.0.113.7", PROXY) == ""
    assert resolve("not-an-ip", "203.0.113.7", PROXY) == "not-an-ip"


# --- what uses it -------------------------------------------------------------------------------------


@pytest.fixture
def frozen_window(monkeypatch):
    start = int(__import__("time").time()) // 60 * 60 + 5
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(time=lambda: float(start)))


@pytest.fixture
def behind_proxy(settings):
    settings.TASKHUB_TRUSTED_PROXIES = parse_networks("127.0.0.2")


def _register(anon, i: int, forwarded_for: str, peer: str = "127.0.0.2"):
    # An all-digit password is refused (422) after the limit is counted, before any hashing.
    return anon.post("/auth/register", {"email": f"c{i}@example.com", "password": "1234567890"},
                     environ={"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded_for})


@pytest.mark.django_db
def test_behind_the_proxy_two_clients_have_separate_limits(api, behind_proxy, frozen_window):
    anon = api(None)
    for i in range(REGISTER_PER_IP):
        assert _register(anon, i, "203.0.113.7").status == 422
    assert_error(_register(anon, 99, "203.0.113.7"), 429)
    # Another client behind the same proxy (the same REMOTE_ADDR) still has all its attempts.
    assert _register(anon, 100, "203.0.113.8").status == 422


@pytest.mark.django_db
def test_a_client_sending_its_own_forwarded_for_cannot_escape_its_limit(api, behind_proxy, frozen_window):
    anon = api(None)
    for i in range(REGISTER_PER_IP):
        # Through the proxy: the client's forged entries first, then the address the proxy saw.
        assert _register(anon, i, f"198.51.100.{i}, 203.0.113.7").status == 422
    assert_error(_register(anon, 99, "198.51.100.200, 203.0.113.7"), 429)
    # Straight to the server, not through the proxy: the header is not believed either.
    for i in range(REGISTER_PER_IP):
        assert _register(anon, 200 + i, f"198.51.100.{i}", peer="192.0.2.50").status == 422
    assert_error(_register(anon, 299, "198.51.100.77", peer="192.0.2.50"), 429)


@pytest.mark.django_db
def test_without_trusted_proxies_forwarded_for_is_ignored_by_the_limits(api, frozen_window):
    anon = api(None)
    for i in range(REGISTER_PER_IP):
        assert _register(anon, i, f"198.51.100.{i}").status == 422
    assert_error(_register(anon, 99, "198.51.100.99"), 429)


def test_metrics_behind_the_proxy_follow_the_client_not_the_proxy(client, settings, behind_proxy):
    settings.DEBUG = False
    settings.SECURE_SSL_REDIRECT = False
    # Every request reaches the server from the proxy's loopback address.
    outside = client.get("/metrics", REMOTE_ADDR="127.0.0.2", HTTP_X_FORWARDED_FOR="93.184.216.34")
    assert outside.status_code == 404
    forged = client.get("/metrics", REMOTE_ADDR="127.0.0.2", HTTP_X_FORWARDED_FOR="10.0.0.1, 93.184.216.34")
    assert forged.status_code == 404
    inside = client.get("/metrics", REMOTE_ADDR="127.0.0.2", HTTP_X_FORWARDED_FOR="10.0.0.1")
    assert inside.status_code == 200


@pytest.mark.django_db
def test_the_request_log_records_the_client_address(client, behind_proxy, caplog):
    with caplog.at_level(logging.INFO, logger="taskhub.request"):
        client.get("/api/v1/health", REMOTE_ADDR="127.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.1, 2001:db8::7")
        client.get("/api/v1/health", REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="192.0.2.1")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "taskhub.request"]
    assert [line["client"] for line in lines] == ["2001:db8::7", "198.51.100.9"]
