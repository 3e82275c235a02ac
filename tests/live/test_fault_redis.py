"""Redis stopped in the middle of a run, then started again, under a real daphne process.

The server gets a Redis of its own (a ``redis-server`` this test starts on a
spare port and SIGKILLs), so stopping it disturbs nobody else. While it is
down the cache and the channel layer are gone but the database is not: writes
and reads still succeed, the health check says what is down, and the publisher
counts and logs each event it could not send. Once Redis is back, publishing
resumes, and a client that resubscribes from the last ``seq`` it saw gets every
event it missed from the log, in order, exactly once.

Runs on PostgreSQL + Redis only (the second pass of CI).
"""

from __future__ import annotations

import json
import re
import time

import pytest
from django.conf import settings

from accounts.services import token_create
from projects.models import ProjectCounters
from realtime.consumers import GAP_WAIT_SECONDS
from realtime.events import project_group
from tests import factories
from tests.live.cluster import RedisServer
from tests.live.servers import (
    Server,
    board_subscribe,
    events_until,
    fetch_text,
    metric_value,
    needs_pg_redis,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), needs_pg_redis]


@pytest.fixture
def own_redis(tmp_path):
    process = RedisServer(tmp_path / "redis.log")
    process.start()
    yield process
    process.kill()


def _last_seq(project) -> int:
    return ProjectCounters.objects.values_list("last_seq", flat=True).get(project_id=project.pk)


def _created_keys(frames: list[dict]) -> list[str]:
    return [f["data"]["task"]["key"] for f in frames if f["type"] == "task_created"]


def _health(server: Server) -> dict:
    response = server.call("GET", "/health")
    assert response.status == 200, response
    return response.body


def test_redis_stopped_and_restarted_under_a_running_server(project, owner, servers, own_redis, tmp_path):
    token, _ = token_create(email=owner.email, password=factories.PASSWORD)
    server = servers(Server(redis_url=own_redis.url, log_path=tmp_path / "daphne.log"))
    tasks_path = f"/projects/{project.pk}/tasks"
    group_channel = f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}__group__{project_group(project.pk)}"

    def create(title: str) -> dict:
        response = server.call("POST", tasks_path, token, {"title": title})
        assert response.status == 201, response
        return response.body

    def metrics() -> str:
        response = fetch_text(server, "/metrics")
        assert response.status == 200, response
        return response.body

    # Redis up: a subscribed socket gets the writes live.
    with board_subscribe(server, token, project.pk) as (first, _, subscribed):
        start = subscribed["seq"]
        keys_before = [create(f"before {i}")["key"] for i in range(2)]
        live = events_until(first, _last_seq(project))
        seen = live[-1]["seq"]
        assert [f["seq"] for f in live] == list(range(start + 1, seen + 1))
        assert _created_keys(live) == keys_before
        assert _health(server)["cache"] == "ok"
        # (The counter moves just after the send, so possibly after the socket got it.)
        published_before = seen - start
        wait_until(lambda: metric_value(metrics(), "events_published_total") == published_before,
                   what="the publisher to count its sends")
        assert metric_value(metrics(), "events_publish_failures_total") == 0

        own_redis.kill()

        # Redis down: writes succeed (the log is in the database), reads fall back to it.
        down = [create(f"while down {i}") for i in range(3)]
        renamed = server.call("PATCH", f"/tasks/{down[0]['id']}", token, {"title": "renamed while down"})
        assert renamed.status == 200, renamed
        keys_down = [task["key"] for task in down]
        down_last = _last_seq(project)
        assert down_last > seen

        detail = server.call("GET", f"/projects/{project.pk}", token)
        assert detail.status == 200, detail
        assert detail.body["counts"]["total"] == 5
        board = server.call("GET", f"/projects/{project.pk}/board", token)
        assert board.status == 200, board
        assert board.body["as_of_seq"] == down_last
        on_board = {task["key"] for column in board.body["statuses"] for task in column["tasks"]}
        assert on_board == {*keys_before, *keys_down}
        listed = server.call("GET", tasks_path, token)
        assert listed.status == 200, listed
        assert {task["key"] for task in listed.body["items"]} == {*keys_before, *keys_down}
        assert {task["title"] for task in listed.body["items"]} >= {"renamed while down"}

        health = _health(server)
        assert health == {"status": "ok", "database": "ok", "cache": "down", "channel_layer": "down"}

        # Every event logged while Redis was down failed to publish: counted once each, and logged.
        wait_until(lambda: metric_value(metrics(), "events_publish_failures_total") >= down_last - seen,
                   what="the publisher's failures to be counted")
        failures = metric_value(metrics(), "events_publish_failures_total")
        assert failures == down_last - seen
        assert metric_value(metrics(), "events_published_total") == published_before
        log = server.log_path.read_text()
        assert re.search(r"publishing \d+ event\(s\) failed; subscribers will refill from the log", log), log[-3000:]

        # Redis back on the same port, empty.
        own_redis.start()
        wait_until(lambda: _health(server) == {"status": "ok", "database": "ok", "cache": "ok",
                                               "channel_layer": "ok"},
                   what="the health check to see Redis again")
        # The server's pub/sub connection resubscribes by itself (channels-redis retries once a
        # second); events published before that reach no socket of this process live.
        wait_until(lambda: own_redis.subscribers(group_channel) >= 1, what="the server to resubscribe")

        with board_subscribe(server, token, project.pk) as (fresh, fresh_replayed, fresh_subscribed), \
                board_subscribe(server, token, project.pk, since=seen) as (back, replayed, back_subscribed):
            assert fresh_replayed == []
            assert fresh_subscribed["seq"] == down_last
            assert back_subscribed["seq"] == down_last
            keys_after = [create(f"after {i}")["key"] for i in range(2)]
            final = _last_seq(project)
            fresh_live = events_until(fresh, final)
            back_live = events_until(back, final)
            # The first socket rode through the outage: the first live event it gets shows it
            # the gap, which it fills from the log (after GAP_WAIT_SECONDS).
            first_rest = events_until(first, final)

    # Publishing resumed: a socket opened after the restart gets new events live.
    assert [f["seq"] for f in fresh_live] == list(range(down_last + 1, final + 1))
    assert _created_keys(fresh_live) == keys_after
    wait_until(lambda: metric_value(metrics(), "events_published_total") == published_before + final - down_last,
               what="the publisher to count its sends")
    assert metric_value(metrics(), "events_publish_failures_total") == failures

    # The reconnecting client: what it missed from the log, then live; every seq once, in order.
    missed = replayed + back_live
    expected = list(range(seen + 1, final + 1))
    assert [f["seq"] for f in missed] == expected
    lost = set(expected) - {f["seq"] for f in missed}
    assert len(lost) == 0
    assert _created_keys(replayed) == keys_down
    assert _created_keys(back_live) == keys_after
    assert "renamed while down" in [f["data"]["task"]["title"] for f in replayed if f["type"] == "task_updated"]

    # The socket that stayed open through the outage got the same, exactly once too.
    assert [f["seq"] for f in first_rest] == expected


HEARTBEAT_SECONDS = 3  # production's is 30: the test waits for one interval


def _frames_with_arrival(ws, seq: int, timeout: float) -> list[tuple[dict, float]]:
    """Event frames (no heartbeats) up to ``seq``, each with the monotonic time it was read."""
    got: list[tuple[dict, float]] = []
    deadline = time.monotonic() + timeout
    while not got or got[-1][0]["seq"] < seq:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"waited {timeout} s for seq {seq}; got {[f['seq'] for f, _ in got]}")
        try:
            frame = json.loads(ws.recv(timeout=remaining))
        except TimeoutError:
            continue
        if "seq" in frame and frame["type"] != "heartbeat":
            got.append((frame, time.monotonic()))
    return got


def test_a_quiet_boards_subscriber_gets_the_missed_events_within_a_heartbeat(project, owner, servers, own_redis,
                                                                           tmp_path):
    """Events that reached no socket (Redis down, or back but not yet resubscribed) and no later event.

    Without the heartbeat, the socket would learn of them only from the next
    event of the project, which on a quiet board may never come.
    """
    token, _ = token_create(email=owner.email, password=factories.PASSWORD)
    server = servers(Server(redis_url=own_redis.url, log_path=tmp_path / "daphne.log",
                            env={"TASKHUB_WS_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS)}))
    group_channel = f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}__group__{project_group(project.pk)}"
    limit = HEARTBEAT_SECONDS + GAP_WAIT_SECONDS + 2  # a beat, the wait for a late message, and slack

    def create(title: str) -> float:
        response = server.call("POST", f"/projects/{project.pk}/tasks", token, {"title": title})
        assert response.status == 201, response
        return time.monotonic()

    with board_subscribe(server, token, project.pk) as (ws, _, subscribed):
        start = subscribed["seq"]
        own_redis.kill()
        written = create("while Redis is down")  # its publish fails: no socket gets it live
        dark = _frames_with_arrival(ws, _last_seq(project), timeout=limit + 5)
        assert [f["seq"] for f, _ in dark] == [start + 1, start + 2]
        assert dark[-1][1] - written < limit, dark[-1][1] - written

        own_redis.start()
        wait_until(lambda: _health(server)["channel_layer"] == "ok", what="the health check to see Redis again")
        resubscribed = own_redis.subscribers(group_channel) >= 1
        written = create("just after Redis came back")
        back = _frames_with_arrival(ws, _last_seq(project), timeout=limit + 5)
        assert [f["seq"] for f, _ in back] == [start + 3, start + 4]
        assert back[-1][1] - written < limit, (back[-1][1] - written, resubscribed)
        # Then the socket is told it is up to date (and nothing is sent twice).
        beat = json.loads(ws.recv(timeout=HEARTBEAT_SECONDS + 5))
        assert beat == {"type": "heartbeat", "project_id": str(project.pk), "seq": start + 4}
