"""Client addresses through the real nginx of ``make prod`` (TASKHUB_TRUSTED_PROXIES).

nginx reaches the servers from 127.0.0.2, the only trusted proxy, and appends the address it saw
to X-Forwarded-For. Two clients connecting from different addresses (127.0.0.3 and 127.0.0.4: all
of 127/8 is this machine's) have separate registration limits; a client that sends an
X-Forwarded-For of its own, through nginx or straight to granian, stays within its limit.
"""

from __future__ import annotations

import http.client
import json
import re
import uuid

import pytest

from accounts.api import REGISTER_PER_IP
from tests.live.servers import ProdSet, needs_nginx, needs_pg_redis
from tests.live.test_login_ratelimit import WINDOW, wait_for_fresh_window

pytestmark = [pytest.mark.django_db(transaction=True), needs_pg_redis, needs_nginx]


def register(port: int, source: str, n: int, forwarded_for: str | None = None) -> int:
    """One registration attempt from ``source``: an all-digit password, refused (422) before any hashing."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15, source_address=(source, 0))
    headers = {"Content-Type": "application/json", "Host": f"127.0.0.1:{port}"}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    try:
        connection.request("POST", "/api/v1/auth/register", headers=headers,
                           body=json.dumps({"email": f"live{n}-{uuid.uuid4().hex[:6]}@example.com",
                                            "password": "1234567890"}))
        reply = connection.getresponse()
        reply.read()
        return reply.status
    finally:
        connection.close()


def test_behind_nginx_each_client_has_its_own_limit_and_cannot_forge_another(tmp_path):
    # A cache prefix of its own: the counters of an earlier run (same addresses, same hour) start over.
    prod = ProdSet(env={"TASKHUB_RATE_WINDOW": str(WINDOW), "CACHE_KEY_PREFIX": f"live-{uuid.uuid4().hex[:8]}"},
                   log_path=tmp_path / "prod.log")
    wait_for_fresh_window(needed=60)
    prod.start()
    try:
        web_port = int(re.search(r"granian \d+ x \d+ on 127\.0\.0\.1:(\d+)", prod.log_tail(100_000)).group(1))
        first, second = "127.0.0.3", "127.0.0.4"
        # The first client, forging a different address on every attempt, uses up its own limit ...
        statuses = [register(prod.port, first, i, forwarded_for=f"198.51.100.{i}") for i in range(REGISTER_PER_IP)]
        assert statuses == [422] * REGISTER_PER_IP
        assert register(prod.port, first, 98) == 429
        assert register(prod.port, first, 99, forwarded_for=f"{second}, 203.0.113.1") == 429
        # ... and straight to granian, bypassing nginx, its header is believed no more (it is not the proxy).
        assert register(web_port, first, 100, forwarded_for="203.0.113.2") == 429
        # The second client behind the same nginx has all of its attempts.
        assert [register(prod.port, second, 200 + i) for i in range(REGISTER_PER_IP)] == [422] * REGISTER_PER_IP
        assert register(prod.port, second, 299) == 429
    finally:
        prod.interrupt()
    assert "prod: stopped" in prod.log_tail(100_000)
