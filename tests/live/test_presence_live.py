"""Presence across server processes (PostgreSQL + Redis): a hash per project in Redis, shared by all.

A user announcing on process 1 appears to a subscriber on process 2, and disappears when that socket
closes (at once) or when its server is killed (within the entry's window: the window is made 3 s
here by ``TASKHUB_PRESENCE_TTL_SECONDS``, so the test is short; 60 s in production).
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack

import pytest

from accounts.services import token_create
from tests import factories
from tests.live.servers import Server, needs_pg_redis

pytestmark = [pytest.mark.django_db(transaction=True), needs_pg_redis]

TTL = 3.0


def _presence_frame(ws, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        if frame["type"] == "presence":
            return frame


def _socket(sockets: ExitStack, server: Server, token: str, project):
    """A subscribed socket, closed with ``sockets`` (or earlier, by the test)."""
    from websockets.sync.client import connect

    ticket = server.call("POST", "/realtime/ticket", token).body["ticket"]
    ws = sockets.enter_context(connect(server.ws_url(ticket), origin=server.base, open_timeout=10))
    ws.send(json.dumps({"type": "subscribe", "project_id": str(project.pk), "since": None}))
    assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
    return ws


def _announce(ws, project, state: str, task=None):
    ws.send(json.dumps({"type": "presence", "project_id": str(project.pk),
                        "task_id": None if task is None else str(task.pk), "state": state}))


def test_presence_is_shared_by_the_server_processes(project, owner, editor, servers):
    env = {"TASKHUB_PRESENCE_TTL_SECONDS": str(TTL)}
    first, second = servers(Server(env=env)), servers(Server(env=env))
    watcher_token, _ = token_create(email=owner.email, password=factories.PASSWORD)
    member_token, _ = token_create(email=editor.email, password=factories.PASSWORD)
    task = factories.task(project, owner, title="Open on both")
    with ExitStack() as sockets:
        watcher = _socket(sockets, second, watcher_token, project)
        # Announced on process 1, seen on process 2, over the socket and over REST.
        member = _socket(sockets, first, member_token, project)
        _announce(member, project, "typing", task)
        frame = _presence_frame(watcher, 10)
        assert [(u["user"]["id"], u["task_id"], u["state"]) for u in frame["data"]["users"]] == [
            (str(editor.pk), str(task.pk), "typing")]
        listed = second.call("GET", f"/projects/{project.pk}/presence", watcher_token).body["items"]
        assert listed == frame["data"]["users"]
        # The socket closes: gone at once.
        closed = time.monotonic()
        member.close()
        assert _presence_frame(watcher, 5)["data"]["users"] == []
        assert time.monotonic() - closed < 2.0
        # Its server is killed: gone within the window of its last renewal.
        member = _socket(sockets, first, member_token, project)
        _announce(member, project, "viewing")
        assert _presence_frame(watcher, 10)["data"]["users"][0]["state"] == "viewing"
        renewed = time.monotonic()
        first.kill()
        frame = _presence_frame(watcher, TTL + 5)
        waited = time.monotonic() - renewed
        assert frame["data"]["users"] == []
        assert TTL - 0.5 <= waited <= TTL + TTL / 4 + 1.0, waited
        assert second.call("GET", f"/projects/{project.pk}/presence", watcher_token).body["items"] == []
