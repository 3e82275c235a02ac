"""Notifications through real servers: written by gunicorn, delivered by two daphne processes over Redis.

Runs on PostgreSQL + Redis only (the second pass of CI), like the other scale-out tests.
"""

from __future__ import annotations

import json
import threading
from contextlib import ExitStack, contextmanager

import pytest

from accounts.services import token_create
from tests import factories
from tests.live.servers import Server, needs_pg_redis

pytestmark = [pytest.mark.django_db(transaction=True), needs_pg_redis]

WRITERS = 4
WRITES_EACH = 10


@contextmanager
def notification_socket(server: Server, token: str, since: int | None):
    """A socket subscribed to the user's notifications: ``(socket, replayed frames, subscribed seq)``."""
    from websockets.sync.client import connect

    ticket = server.call("POST", "/realtime/ticket", token)
    assert ticket.status == 201, ticket
    with connect(server.ws_url(ticket.body["ticket"]), origin=server.base, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "subscribe", "notifications": True, "since": since}))
        replayed = []
        while True:
            frame = json.loads(ws.recv(timeout=10))
            if frame["type"] == "subscribed":
                break
            replayed.append(frame)
        yield ws, replayed, frame["seq"]


def notifications_until(ws, seq: int) -> list[dict]:
    frames = []
    while not frames or frames[-1]["seq"] < seq:
        frame = json.loads(ws.recv(timeout=15))
        if frame["type"] == "notification":
            frames.append(frame)
    return frames


def test_concurrent_assignments_reach_every_socket_of_the_assignee_once_in_order(project, owner, editor, servers):
    owner_token, _ = token_create(email=owner.email, password=factories.PASSWORD)
    editor_token, _ = token_create(email=editor.email, password=factories.PASSWORD)
    api = servers(Server(kind="gunicorn", workers=2, threads=4))
    first, second = servers(Server()), servers(Server())
    keys: list[str] = []
    errors: list[object] = []

    def write(n: int) -> None:
        for i in range(WRITES_EACH):
            response = api.call("POST", f"/projects/{project.pk}/tasks", owner_token,
                                {"title": f"w{n}-{i}", "assignee_id": str(editor.pk)})
            if response.status != 201:
                errors.append(response)
            else:
                keys.append(response.body["key"])

    total = WRITERS * WRITES_EACH
    with ExitStack() as sockets:
        ws_first, _, base = sockets.enter_context(notification_socket(first, editor_token, None))
        ws_second, _, base_second = sockets.enter_context(notification_socket(second, editor_token, None))
        assert base_second == base
        threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        for ws in (ws_first, ws_second):
            frames = notifications_until(ws, base + total)
            assert [f["seq"] for f in frames] == list(range(base + 1, base + total + 1))
            assert sorted(f["data"]["task"]["key"] for f in frames) == sorted(keys)
    # Reconnecting from the middle replays the rest from the table, on either process.
    with notification_socket(second, editor_token, base + total // 2) as (_ws, replayed, latest):
        pass
    assert latest == base + total
    assert [f["seq"] for f in replayed] == list(range(base + total // 2 + 1, base + total + 1))
    count = api.call("GET", "/notifications/count", editor_token).body
    assert count == {"unread": count["unread"], "latest_seq": base + total}
    assert count["unread"] >= total
