"""The notification stream over the WebSocket (API.md, "Notifications"): replay, live, the seam, reads.

Each test runs on the in-memory channel layer, and again on the Redis pub/sub
layer production uses when ``REDIS_URL`` is set (CI's PostgreSQL + Redis
pass, where that run may not skip).
"""

from __future__ import annotations

import json
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings

from notifications import selectors as notification_selectors
from notifications import services as notification_services
from notifications.models import Notification
from realtime import consumers
from realtime import events as event_log
from realtime.publisher import publisher
from realtime.tickets import ticket_issue
from taskhub.asgi import application
from tasks import services as task_services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = [(b"origin", b"http://testserver")]


@pytest.fixture(params=["memory", pytest.param("redis", marks=[pytest.mark.redis, pytest.mark.skipif(
    not settings.REDIS_URL, reason="needs REDIS_URL (CI's PostgreSQL + Redis pass)")])])
def layer(request, settings):
    if request.param == "memory":
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    else:
        # A prefix of its own: pub/sub channels are shared by every database of a Redis.
        settings.CHANNEL_LAYERS = {"default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [settings.REDIS_URL], "prefix": f"test-notify-{uuid.uuid4().hex}"},
        }}
    publisher.flush()
    channel_layers.backends.clear()
    yield request.param
    publisher.flush()
    channel_layers.backends.clear()


def run(func, *args, **kwargs):
    return database_sync_to_async(func)(*args, **kwargs)


async def connect(user) -> WebsocketCommunicator:
    ticket = await run(ticket_issue, user_id=user.pk)
    communicator = WebsocketCommunicator(application, f"/ws/?ticket={ticket}", headers=ORIGIN)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive(communicator, timeout=5.0) -> dict:
    return json.loads(await communicator.receive_from(timeout=timeout))


async def subscribe(communicator, since=None) -> list[dict]:
    """``subscribe {notifications: true}``: the replayed frames, then the ``subscribed`` answer (last)."""
    await communicator.send_json_to({"type": "subscribe", "notifications": True, "since": since})
    frames = []
    while not frames or frames[-1]["type"] != "subscribed":
        frames.append(await receive(communicator))
    return frames


async def latest(user) -> int:
    _unread, seq = await run(notification_selectors.notification_counts, user_id=user.pk)
    return seq


async def until_seq(communicator, seq: int) -> list[dict]:
    """Every frame up to the user's notification ``seq``: a barrier, the publisher sends in commit order."""
    frames = []
    while not frames or not (frames[-1]["type"] == "notification" and frames[-1]["seq"] == seq):
        frames.append(await receive(communicator))
    return frames


def assign(project, owner, user, title: str):
    return run(task_services.task_create, project_id=project.pk, user=owner, title=title, assignee_id=user.pk)


def numbers(frames: list[dict]) -> list[int]:
    return [f["seq"] for f in frames if f["type"] == "notification"]


async def test_replay_since_then_live(layer, project, owner, editor):
    base = await latest(editor)
    for i in range(3):
        await assign(project, owner, editor, f"t{i}")
    communicator = await connect(editor)
    frames = await subscribe(communicator, since=base)
    assert numbers(frames) == [base + 1, base + 2, base + 3]
    assert [f["data"]["type"] for f in frames[:-1]] == ["task_assigned"] * 3
    assert [f["data"]["task"]["title"] for f in frames[:-1]] == ["t0", "t1", "t2"]
    assert frames[-1] == {"type": "subscribed", "notifications": True, "seq": base + 3}
    task = await assign(project, owner, editor, "live")
    frame = await receive(communicator)
    assert (frame["type"], frame["seq"], frame["data"]["task"]["id"]) == ("notification", base + 4, str(task.pk))
    assert frame["data"]["actor"]["id"] == str(owner.pk)
    await communicator.disconnect()


async def test_since_null_starts_at_the_latest_and_reconnecting_with_since_gets_the_rest(layer, project, owner,
                                                                                        editor):
    await assign(project, owner, editor, "before")
    first = await connect(editor)
    frames = await subscribe(first)
    assert frames == [{"type": "subscribed", "notifications": True, "seq": await latest(editor)}]
    seen = frames[-1]["seq"]
    await assign(project, owner, editor, "while connected")
    assert numbers([await receive(first)]) == [seen + 1]
    await first.disconnect()
    await assign(project, owner, editor, "while away 1")
    await assign(project, owner, editor, "while away 2")
    second = await connect(editor)
    frames = await subscribe(second, since=seen + 1)
    assert numbers(frames) == [seen + 2, seen + 3]
    assert frames[-1]["seq"] == seen + 3
    await second.disconnect()


async def test_every_subscribed_socket_of_the_user_gets_it_and_nobody_else(layer, project, owner, editor,
                                                                          editor_outside):
    other_user = editor_outside
    sockets = [await connect(editor), await connect(editor)]
    for communicator in sockets:
        await subscribe(communicator)
    unsubscribed = await connect(editor)  # in the user's group from its connection, but never asked
    other = await connect(other_user)
    await subscribe(other)
    base = await latest(editor)
    await assign(project, owner, editor, "for the editor")
    for communicator in sockets:
        frame = await receive(communicator)
        assert (frame["type"], frame["seq"], frame["data"]["task"]["title"]) == (
            "notification", base + 1, "for the editor")
    # Barriers: a later notification for the other user is their next frame, so the editor's never came.
    other_base = await latest(other_user)
    await assign(project, owner, other_user, "for the other")
    frame = await receive(other)
    assert (frame["seq"], frame["data"]["task"]["title"]) == (other_base + 1, "for the other")
    await unsubscribed.send_json_to({"type": "ping"})
    assert await receive(unsubscribed) == {"type": "pong"}
    assert await unsubscribed.receive_nothing(timeout=0.3)
    for communicator in [*sockets, unsubscribed, other]:
        await communicator.disconnect()


async def test_the_subscribe_seam_loses_and_doubles_nothing(layer, project, owner, editor, monkeypatch):
    """A notification committed while the replay reads the table arrives exactly once."""
    base = await latest(editor)
    await assign(project, owner, editor, "before")
    original = notification_selectors.notifications_since
    calls = []

    def notifications_since_with_a_write_in_between(**kwargs):
        if not calls:
            calls.append(1)
            task_services.task_create(project_id=project.pk, user=owner, title="in the seam", assignee_id=editor.pk)
        return original(**kwargs)

    monkeypatch.setattr(consumers, "notifications_since", notifications_since_with_a_write_in_between)
    communicator = await connect(editor)
    frames = await subscribe(communicator, since=base)
    assert calls == [1]
    # A later one: the seam write's live copy was published before it, so any duplicate would be in by then.
    await assign(project, owner, editor, "barrier")
    frames += await until_seq(communicator, await latest(editor))
    assert numbers(frames) == [base + 1, base + 2, base + 3]
    titles = [f["data"]["task"]["title"] for f in frames if f["type"] == "notification"]
    assert titles == ["before", "in the seam", "barrier"]
    await communicator.disconnect()


async def test_a_lost_message_is_filled_from_the_table(layer, project, owner, editor):
    communicator = await connect(editor)
    base = (await subscribe(communicator))[-1]["seq"]
    event_log.remove_after_commit_hook(publisher.submit)  # the next write's messages never reach the layer
    try:
        await assign(project, owner, editor, "lost")
    finally:
        event_log.add_after_commit_hook(publisher.submit)
    await assign(project, owner, editor, "seen")
    frames = [await receive(communicator) for _ in range(2)]
    assert numbers(frames) == [base + 1, base + 2]
    assert [f["data"]["task"]["title"] for f in frames] == ["lost", "seen"]
    await communicator.disconnect()


async def test_a_deleted_notification_is_skipped_not_waited_for(layer, project, owner, editor):
    base = await latest(editor)
    await assign(project, owner, editor, "kept 1")
    await assign(project, owner, editor, "deleted")
    await assign(project, owner, editor, "kept 2")
    gone = await run(lambda: Notification.objects.get(user=editor, seq=base + 2).pk)
    await run(notification_services.notification_delete, notification_id=gone, user=editor)
    communicator = await connect(editor)
    frames = await subscribe(communicator, since=base)
    assert numbers(frames) == [base + 1, base + 3]
    assert frames[-1]["seq"] == base + 3
    await communicator.disconnect()


async def test_reads_anywhere_arrive_as_notifications_read(layer, project, owner, editor):
    await assign(project, owner, editor, "one")
    await assign(project, owner, editor, "two")
    sockets = [await connect(editor), await connect(editor)]
    for communicator in sockets:
        await subscribe(communicator)
    one = await run(lambda: Notification.objects.get(user=editor, task_title="one"))
    unread, _ = await run(notification_selectors.notification_counts, user_id=editor.pk)
    await run(notification_services.notification_mark, notification_id=one.pk, user=editor, read=True)
    for communicator in sockets:
        assert await receive(communicator) == {"type": "notifications_read", "data": {
            "ids": [str(one.pk)], "unread": unread - 1, "read": True}}
    await run(notification_services.notification_read_all, user=editor)
    for communicator in sockets:
        assert await receive(communicator) == {"type": "notifications_read", "data": {
            "up_to_seq": await latest(editor), "unread": 0}}
    for communicator in sockets:
        await communicator.disconnect()


async def test_unsubscribe_stops_the_stream(layer, project, owner, editor):
    communicator = await connect(editor)
    await subscribe(communicator)
    await communicator.send_json_to({"type": "unsubscribe", "notifications": True})
    assert await receive(communicator) == {"type": "unsubscribed", "notifications": True}
    await assign(project, owner, editor, "unheard")
    # A barrier on the project stream: the notification was published before this task's event.
    await communicator.send_json_to({"type": "subscribe", "project_id": str(project.pk), "since": None})
    assert (await receive(communicator))["type"] == "subscribed"
    barrier = await run(task_services.task_create, project_id=project.pk, user=owner, title="barrier")
    frame = await receive(communicator)
    assert (frame["type"], frame["data"]["task"]["id"]) == ("task_created", str(barrier.pk))
    await communicator.disconnect()


@pytest.mark.parametrize("since", [-1, "3", True, 1.5])
async def test_a_bad_since_is_an_error_and_the_socket_stays_open(layer, editor, since):
    communicator = await connect(editor)
    await communicator.send_json_to({"type": "subscribe", "notifications": True, "since": since})
    frame = await receive(communicator)
    assert (frame["type"], frame["code"], frame["notifications"]) == ("error", "invalid", True)
    assert frame["detail"]
    assert (await subscribe(communicator))[-1]["type"] == "subscribed"
    await communicator.disconnect()
