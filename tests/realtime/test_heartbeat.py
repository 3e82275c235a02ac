"""The heartbeat: a socket learns of a lost message without waiting for the next event (issue 18, item 4)."""

from __future__ import annotations

import asyncio

import pytest

from notifications.selectors import notification_counts
from projects.models import ProjectCounters
from realtime import consumers
from realtime import events as event_log
from realtime.publisher import publisher
from tasks import services as task_services
from tests.realtime.test_consumers import connect, in_memory_layer, last_seq, receive, run, subscribe

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["in_memory_layer"]  # the autouse fixture, imported: every test here runs on the in-memory layer

BEAT = 0.3


@pytest.fixture
def fast_heartbeat(settings):
    settings.TASKHUB_WS_HEARTBEAT_SECONDS = BEAT


def unpublished(func, *args, **kwargs):
    """Run a write whose messages never reach the channel layer (as if Redis had dropped them)."""

    def write():
        event_log.remove_after_commit_hook(publisher.submit)
        try:
            return func(*args, **kwargs)
        finally:
            event_log.add_after_commit_hook(publisher.submit)

    return run(write)


@pytest.mark.asyncio
async def test_each_stream_is_told_its_latest_seq(fast_heartbeat, project, owner, editor):
    await run(task_services.task_create, project_id=project.pk, user=owner, title="one", assignee_id=editor.pk)
    communicator = await connect(editor)
    await subscribe(communicator, project)
    await communicator.send_json_to({"type": "subscribe", "notifications": True, "since": None})
    assert (await receive(communicator))["type"] == "subscribed"
    _unread, notified = await run(notification_counts, user_id=editor.pk)
    frames = [await receive(communicator) for _ in range(2)]
    assert sorted(frames, key=str) == sorted([
        {"type": "heartbeat", "project_id": str(project.pk), "seq": await last_seq(project)},
        {"type": "heartbeat", "notifications": True, "seq": notified},
    ], key=str)
    await communicator.disconnect()


@pytest.mark.asyncio
async def test_a_quiet_projects_lost_event_arrives_with_the_next_beat(fast_heartbeat, project, owner):
    communicator = await connect(owner)
    base = (await subscribe(communicator, project))[-1]["seq"]
    task = await unpublished(task_services.task_create, project_id=project.pk, user=owner, title="lost")
    # No later write: only the heartbeat can tell the socket. The missing events come first, from
    # the log (after the usual wait for a late message), then the beat that says "up to here".
    started = asyncio.get_running_loop().time()
    frames = [await receive(communicator, timeout=BEAT + consumers.GAP_WAIT_SECONDS + 3) for _ in range(3)]
    waited = asyncio.get_running_loop().time() - started
    assert [(f["type"], f.get("seq")) for f in frames] == [
        ("task_created", base + 1), ("project_counts_changed", base + 2), ("heartbeat", base + 2)]
    assert frames[0]["data"]["task"]["id"] == str(task.pk)
    assert waited < BEAT * 2 + consumers.GAP_WAIT_SECONDS + 1
    # Exactly once: the next write's events follow on, nothing repeated.
    await run(task_services.task_create, project_id=project.pk, user=owner, title="next")
    after = []
    while len(after) < 2:
        frame = await receive(communicator)
        if frame["type"] != "heartbeat":
            after.append(frame["seq"])
    assert after == [base + 3, base + 4]
    await communicator.disconnect()


@pytest.mark.asyncio
async def test_a_lost_notification_arrives_with_the_next_beat(fast_heartbeat, project, owner, editor):
    communicator = await connect(editor)
    await communicator.send_json_to({"type": "subscribe", "notifications": True, "since": None})
    base = (await receive(communicator))["seq"]
    await unpublished(task_services.task_create, project_id=project.pk, user=owner, title="lost",
                      assignee_id=editor.pk)
    frames = [await receive(communicator, timeout=BEAT + consumers.GAP_WAIT_SECONDS + 3) for _ in range(2)]
    assert [(f["type"], f["seq"]) for f in frames] == [("notification", base + 1), ("heartbeat", base + 1)]
    assert frames[0]["data"]["task"]["title"] == "lost"
    await communicator.disconnect()


@pytest.mark.asyncio
async def test_one_read_per_beat_however_many_sockets(settings, project, owner, editor, monkeypatch):
    settings.TASKHUB_WS_HEARTBEAT_SECONDS = 600  # no beat of its own: the test beats once, by hand
    reads = []
    original = consumers._latest_seqs

    def counted(project_ids, user_ids):
        reads.append((set(project_ids), set(user_ids)))
        return original(project_ids, user_ids)

    monkeypatch.setattr(consumers, "_latest_seqs", counted)
    sockets = [await connect(user) for user in (owner, owner, editor)]
    for communicator in sockets:
        await subscribe(communicator, project)
    await communicator.send_json_to({"type": "subscribe", "notifications": True, "since": None})
    assert (await receive(communicator))["type"] == "subscribed"

    await consumers.heartbeat_of_this_loop().beat()

    assert reads == [({str(project.pk)}, {editor.pk})]
    latest = await last_seq(project)
    for communicator in sockets:
        assert await receive(communicator) == {"type": "heartbeat", "project_id": str(project.pk), "seq": latest}
    assert (await receive(sockets[-1]))["notifications"] is True
    for communicator in sockets:
        assert await communicator.receive_nothing(timeout=0.1)
        await communicator.disconnect()


def test_the_read_is_two_queries(project, other_project, owner, editor, django_assert_num_queries):
    with django_assert_num_queries(2):
        projects, users = consumers._latest_seqs({str(project.pk), str(other_project.pk)}, {editor.pk, owner.pk})
    assert projects == {str(p.pk): ProjectCounters.objects.get(pk=p.pk).last_seq for p in (project, other_project)}
    assert users == {str(editor.pk): notification_counts(user_id=editor.pk)[1]}  # the owner was never notified


@pytest.mark.asyncio
async def test_no_beat_without_a_subscription_and_none_after_the_last_socket(fast_heartbeat, owner):
    communicator = await connect(owner)
    assert await communicator.receive_nothing(timeout=BEAT * 3)
    heartbeat = consumers.heartbeat_of_this_loop()
    assert heartbeat.task is not None
    await communicator.disconnect()
    assert heartbeat.task is None
