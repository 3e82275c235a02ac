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
    original = consumers._beat_reads

    def counted(project_ids, user_ids, following):
        reads.append((set(project_ids), set(user_ids), set(following)))
        return original(project_ids, user_ids, following)

    monkeypatch.setattr(consumers, "_beat_reads", counted)
    sockets = [await connect(user) for user in (owner, owner, editor)]
    for communicator in sockets:
        await subscribe(communicator, project)
    await communicator.send_json_to({"type": "subscribe", "notifications": True, "since": None})
    assert (await receive(communicator))["type"] == "subscribed"

    await consumers.heartbeat_of_this_loop().beat()

    workspace_id = str(project.workspace_id)
    assert reads == [({str(project.pk)}, {editor.pk}, {(workspace_id, str(owner.pk)), (workspace_id, str(editor.pk))})]
    latest = await last_seq(project)
    for communicator in sockets:
        assert await receive(communicator) == {"type": "heartbeat", "project_id": str(project.pk), "seq": latest}
    assert (await receive(sockets[-1]))["notifications"] is True
    for communicator in sockets:
        assert await communicator.receive_nothing(timeout=0.1)
        await communicator.disconnect()


def test_the_reads_are_three_queries(project, other_project, owner, editor, outsider, django_assert_num_queries):
    following = {(str(project.workspace_id), str(editor.pk)), (str(project.workspace_id), str(outsider.pk)),
                 (str(other_project.workspace_id), str(outsider.pk)), (str(other_project.workspace_id), str(owner.pk))}
    with django_assert_num_queries(3):
        projects, users, members = consumers._beat_reads({str(project.pk), str(other_project.pk)},
                                                         {editor.pk, owner.pk}, following)
    assert projects == {str(p.pk): ProjectCounters.objects.get(pk=p.pk).last_seq for p in (project, other_project)}
    assert users == {str(editor.pk): notification_counts(user_id=editor.pk)[1]}  # the owner was never notified
    # The outsider owns other_project's workspace; the owner of project's is no member there.
    assert members == {(str(project.workspace_id), str(editor.pk)), (str(other_project.workspace_id), str(outsider.pk))}


@pytest.mark.asyncio
async def test_a_socket_slow_to_take_its_beat_holds_up_no_other(settings, project, owner, editor):
    settings.TASKHUB_WS_HEARTBEAT_SECONDS = 600  # beaten by hand
    sockets = {owner.pk: await connect(owner), editor.pk: await connect(editor)}
    for communicator in sockets.values():
        await subscribe(communicator, project)
    heartbeat = consumers.heartbeat_of_this_loop()
    beat_frame = {"type": "heartbeat", "project_id": str(project.pk), "seq": await last_seq(project)}
    # Each in turn is the slow one, so that it is the first one beaten once whatever the set's order.
    for slow_user, quick_user in ((owner.pk, editor.pk), (editor.pk, owner.pk)):
        [held] = [c for c in heartbeat.consumers if c.user.pk == slow_user]
        async with held.send_lock:  # as a long replay, or a send to a client that reads slowly, would
            beat = asyncio.create_task(heartbeat.beat())
            assert await receive(sockets[quick_user], timeout=2) == beat_frame
            assert not beat.done()
        await beat
        assert await receive(sockets[slow_user]) == beat_frame
    for communicator in sockets.values():
        await communicator.disconnect()


@pytest.mark.asyncio
async def test_a_lost_access_revoked_is_sent_with_the_next_beat(fast_heartbeat, workspace, project, owner, editor):
    communicator = await connect(editor)
    await subscribe(communicator, project)
    await communicator.send_json_to({"type": "subscribe", "workspace_id": str(workspace.pk)})
    assert (await receive(communicator))["type"] == "subscribed"
    await unpublished(task_services.workspace_member_remove, workspace_id=workspace.pk, actor=owner,
                      user_id=editor.pk)
    # The editor's socket heard nothing of it; the next beat finds the membership gone.
    frames = []
    while len(frames) < 2:
        frame = await receive(communicator, timeout=BEAT * 3 + 2)
        assert frame["type"] == "access_revoked", frame  # no heartbeat, and no event of the project's log
        frames.append(frame["data"])
    assert sorted(frames, key=str) == sorted([{"workspace_id": str(workspace.pk)}, {"project_id": str(project.pk)}],
                                             key=str)
    assert await communicator.receive_nothing(timeout=BEAT * 3)  # nothing more to beat for
    await communicator.disconnect()


@pytest.mark.asyncio
async def test_no_beat_without_a_subscription_and_none_after_the_last_socket(fast_heartbeat, owner):
    communicator = await connect(owner)
    assert await communicator.receive_nothing(timeout=BEAT * 3)
    heartbeat = consumers.heartbeat_of_this_loop()
    assert heartbeat.task is not None
    await communicator.disconnect()
    assert heartbeat.task is None
