"""A daphne process SIGKILLed while it holds a subscribed socket, writes going on elsewhere.

Two processes share PostgreSQL and Redis. The client's socket is on the first,
the writes go through the second and carry on while the first dies. The
client reconnects to the second with ``since`` = the last ``seq`` it saw and,
across both sockets, sees every event once, in order: what it missed comes
from the event log, the rest live.

Runs on PostgreSQL + Redis only (the second pass of CI).
"""

from __future__ import annotations

import json
import threading

import pytest
from websockets.exceptions import ConnectionClosed

from accounts.services import token_create
from projects.models import ProjectCounters
from tests import factories
from tests.live.servers import Server, board_subscribe, events_until, needs_pg_redis, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), needs_pg_redis]

# Events the first socket gets live before its process is killed, and writes made
# while the client is away and after it is back.
LIVE_BEFORE_KILL = 10
WRITES_WHILE_AWAY = 5
WRITES_AFTER_RECONNECT = 5


def test_a_killed_process_loses_no_event_for_a_client_that_reconnects_elsewhere(project, owner, servers,
                                                                               tmp_path):
    token, _ = token_create(email=owner.email, password=factories.PASSWORD)
    doomed = servers(Server(log_path=tmp_path / "doomed.log"))
    survivor = servers(Server(log_path=tmp_path / "survivor.log"))

    keys: list[str] = []  # the created tasks, in the order the writes were answered
    failures: list = []
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            response = survivor.call("POST", f"/projects/{project.pk}/tasks", token, {"title": f"t{len(keys)}"})
            if response.status != 201:
                failures.append(response)
                return
            keys.append(response.body["key"])

    writer = threading.Thread(target=write, name="writer")
    first: list[dict] = []
    try:
        with board_subscribe(doomed, token, project.pk) as (ws, _, subscribed):
            start = subscribed["seq"]
            writer.start()
            while len(first) < LIVE_BEFORE_KILL:
                frame = json.loads(ws.recv(timeout=10))
                if "seq" in frame:
                    first.append(frame)
            doomed.kill()
            writes_at_kill = len(keys)
            # Whatever was already on the wire still arrives; then the socket reports the close.
            with pytest.raises(ConnectionClosed):
                while True:
                    frame = json.loads(ws.recv(timeout=10))
                    if "seq" in frame:
                        first.append(frame)
        wait_until(lambda: failures or len(keys) >= writes_at_kill + WRITES_WHILE_AWAY,
                   what="writes while the client is away")

        last_seen = first[-1]["seq"]
        with board_subscribe(survivor, token, project.pk, since=last_seen) as (ws, replayed, resubscribed):
            writes_at_reconnect = len(keys)
            wait_until(lambda: failures or len(keys) >= writes_at_reconnect + WRITES_AFTER_RECONNECT,
                       what="writes after the reconnect")
            stop.set()
            writer.join(timeout=20)
            final = ProjectCounters.objects.values_list("last_seq", flat=True).get(project_id=project.pk)
            live = events_until(ws, final) if final > resubscribed["seq"] else []
    finally:
        stop.set()
        if writer.ident is not None:
            writer.join(timeout=20)

    assert not failures, failures
    assert not writer.is_alive()
    # The writes went on while the first process died, and the client was away for some.
    assert len(keys) > writes_at_kill
    assert replayed, "the reconnect replayed nothing: the client missed no event, so nothing was tested"

    received = first + replayed + live
    expected = list(range(start + 1, final + 1))
    assert [frame["seq"] for frame in received] == expected  # each once, in order
    lost = set(expected) - {frame["seq"] for frame in received}
    assert len(lost) == 0
    assert [f["data"]["task"]["key"] for f in received if f["type"] == "task_created"] == keys
