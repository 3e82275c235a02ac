"""Scale-out: a write served by one daphne process reaches a socket held by another.

Runs on PostgreSQL + Redis only (the second pass of CI): with the embedded
default each process has its own in-memory channel layer, by design.
"""

from __future__ import annotations

import json

import pytest

from accounts.services import token_create
from tests import factories
from tests.live.servers import Server, needs_pg_redis

pytestmark = [pytest.mark.django_db(transaction=True), needs_pg_redis]


def test_a_write_on_one_process_reaches_a_socket_on_another(project, owner, servers):
    from websockets.sync.client import connect

    raw, _ = token_create(email=owner.email, password=factories.PASSWORD)
    first, second = servers(Server()), servers(Server())
    ticket = first.call("POST", "/realtime/ticket", raw).body["ticket"]
    with connect(first.ws_url(ticket), origin=first.base, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "subscribe", "project_id": str(project.pk), "since": None}))
        subscribed = json.loads(ws.recv(timeout=10))
        assert subscribed["type"] == "subscribed"
        keys = [second.call("POST", f"/projects/{project.pk}/tasks", raw, {"title": f"t{i}"}).body["key"]
                for i in range(5)]
        frames = [json.loads(ws.recv(timeout=10)) for _ in range(10)]
    seqs = [f["seq"] for f in frames]
    assert seqs == list(range(subscribed["seq"] + 1, subscribed["seq"] + 11))
    created = [f["data"]["task"]["key"] for f in frames if f["type"] == "task_created"]
    assert created == keys
