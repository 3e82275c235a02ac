"""``make prod``: the whole production set on one port, started and stopped as a user would.

nginx in front of granian (REST, admin, docs) and uvicorn (``/ws/``), DEBUG off, on the test
database and Redis: a REST write through the port reaches a WebSocket subscribed through the
same port, the static files come from nginx itself with their ten-year cache header, and
Ctrl-C (SIGINT to the foreground process group) stops every process and removes the run folder.
"""

from __future__ import annotations

import re
import signal
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from tests import factories
from tests.live.servers import ProdSet, board_subscribe, events_until, fetch_text, needs_nginx, needs_pg_redis
from tests.live.test_login_ratelimit import use_server_hasher

pytestmark = [pytest.mark.django_db(transaction=True), needs_pg_redis, needs_nginx]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (honcho gives each of its processes a session of its own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def head(url: str, **headers) -> tuple[int, dict]:
    request = urllib.request.Request(url, method="GET", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as reply:
        reply.read()
        return reply.status, {k.lower(): v for k, v in reply.headers.items()}


def test_make_prod_serves_everything_on_one_port_and_stops_on_ctrl_c(project, owner):
    use_server_hasher(owner)
    prod = ProdSet().start()
    try:
        log = prod.log_tail(100_000)
        upstreams = [int(p) for p in re.findall(r"on 127\.0\.0\.1:(\d+)", log.split("run folder")[0])]
        assert len(upstreams) == 3 and upstreams[0] == prod.port, log  # nginx, granian, uvicorn
        run_dir = Path(re.search(r"run folder (\S+)", log).group(1))
        assert (run_dir / "nginx.conf").exists()
        processes = descendants(prod.proc.pid)
        assert len(processes) >= 7, processes  # prod.py, honcho, nginx + workers, granian + workers, uvicorn + ...

        # REST through nginx to granian, with production settings.
        health = prod.call("GET", "/health")
        assert health.status == 200 and health.body["database"] == "ok", health
        assert health.headers["Server"] == "nginx"
        token = prod.call("POST", "/auth/token", body={"email": owner.email, "password": factories.PASSWORD})
        assert token.status == 201, token
        raw = token.body["token"]

        # A WebSocket through the same port (nginx upgrades it to uvicorn) receives a write made over REST.
        with board_subscribe(prod, raw, project.pk) as (ws, _, subscribed):
            created = prod.call("POST", f"/projects/{project.pk}/tasks", raw, {"title": "through nginx"})
            assert created.status == 201, created
            frames = events_until(ws, subscribed["seq"] + 1)
        assert [f["type"] for f in frames] == ["task_created"]
        assert frames[0]["data"]["task"]["key"] == created.body["key"]

        # The board at the root (its login page for a browser without a session), the admin and the
        # docs on the same port; the docs' static files straight from nginx.
        board = fetch_text(prod, "/")  # (urllib follows the redirect to the login page)
        assert board.status == 200 and "csrfmiddlewaretoken" in board.body, board.status
        admin = fetch_text(prod, "/admin/login/")
        assert admin.status == 200 and "csrfmiddlewaretoken" in admin.body
        docs = fetch_text(prod, "/api/v1/docs")
        assert docs.status == 200
        assert prod.call("GET", "/openapi.json").body["info"]["title"]
        css = re.search(r'href="(/static/ninja/swagger-ui\.[0-9a-f]{12}\.css)"', docs.body).group(1)
        status, headers = head(prod.base + css, **{"Accept-Encoding": "gzip"})
        assert status == 200
        assert headers["cache-control"] == "public, max-age=315360000, immutable"
        assert headers["content-encoding"] == "gzip" and "accept-encoding" in headers["vary"].lower()
        assert "x-request-id" not in headers  # Django's middleware never saw it: nginx served the file
        status, headers = head(prod.base + "/static/ninja/swagger-ui.css")  # the unhashed name: a short cache
        assert status == 200 and headers["cache-control"] == "public, max-age=60"
    finally:
        status = prod.interrupt()
    # make ends by the interrupt, as in a terminal, or with its recipe's 0 when that finished first.
    assert status in (0, -signal.SIGINT), status

    # Ctrl-C: make stops with the interrupt, deploy/prod.py after every process of the set stopped.
    log = prod.log_tail(100_000)
    assert "prod: stopped" in log, log
    for name in ("web.1", "ws.1", "proxy.1"):
        assert re.search(rf"{re.escape(name)} stopped \(rc=0\)", log), log
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in processes if alive(pid)]
    assert not any(listening(port) for port in upstreams)
    assert not run_dir.exists()
