"""The WebSocket protocol through the full ASGI stack (origin check, auth, routing, consumer)."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer
from channels.testing import WebsocketCommunicator
from django.db import transaction

from projects import services as project_services
from realtime import events as event_log
from realtime.models import Event
from realtime.publisher import publisher
from realtime.tickets import ticket_issue
from taskhub.asgi import application
from tasks import services as task_services
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = [(b"origin", b"http://testserver")]


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


async def connect(user, *, ticket: str | None = None, headers=ORIGIN) -> WebsocketCommunicator:
    if ticket is None:
        ticket = await database_sync_to_async(ticket_issue)(user_id=user.pk)
    communicator = WebsocketCommunicator(application, f"/ws/?ticket={ticket}", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive(communicator, timeout=3.0) -> dict:
    return json.loads(await communicator.receive_from(timeout=timeout))


async def receive_until(communicator, kind: str, timeout=3.0) -> list[dict]:
    frames = []
    while True:
        frame = await receive(communicator, timeout)
        frames.append(frame)
        if frame["type"] == kind:
            return frames


async def frames_through(communicator, project, seq: int) -> list[dict]:
    """Every frame up to and including ``project``'s event ``seq``.

    A barrier: the in-memory layer hands one socket its messages in the order
    the publisher sent them, and the publisher sends in commit order, so
    whatever an earlier commit sent this socket has arrived by then.
    """
    frames = []
    while True:
        frame = await receive(communicator)
        frames.append(frame)
        if frame.get("project_id") == str(project.pk) and frame.get("seq") == seq:
            return frames


async def assert_next_is_created(communicator, project, task) -> None:
    """The next frame is ``task``'s ``task_created``: a barrier proving nothing else came before it."""
    frame = await receive(communicator)
    assert (frame["type"], frame.get("project_id"), frame.get("data", {}).get("task", {}).get("id")) == (
        "task_created", str(project.pk), str(task.pk)), frame


async def subscribe(communicator, project, since=None) -> list[dict]:
    await communicator.send_json_to({"type": "subscribe", "project_id": str(project.pk), "since": since})
    return await receive_until(communicator, "subscribed")


def run(func, *args, **kwargs):
    return database_sync_to_async(func)(*args, **kwargs)


async def last_seq(project) -> int:
    from projects.models import ProjectCounters

    return await run(lambda: ProjectCounters.objects.get(pk=project.pk).last_seq)


async def closed_code(communicator) -> int:
    output = await communicator.receive_output(timeout=3)
    assert output["type"] == "websocket.close"
    return output["code"]


# --- handshake ------------------------------------------------------------------------------


async def test_it_refuses_a_socket_without_credentials(owner):
    communicator = WebsocketCommunicator(application, "/ws/", headers=ORIGIN)
    await communicator.connect()
    assert await closed_code(communicator) == 4401


async def test_it_refuses_a_bad_ticket(owner):
    communicator = WebsocketCommunicator(application, "/ws/?ticket=nope", headers=ORIGIN)
    await communicator.connect()
    assert await closed_code(communicator) == 4401


async def test_a_ticket_opens_one_socket_only(owner):
    ticket = await run(ticket_issue, user_id=owner.pk)
    first = await connect(owner, ticket=ticket)
    await first.send_json_to({"type": "ping"})
    assert await receive(first) == {"type": "pong"}
    second = WebsocketCommunicator(application, f"/ws/?ticket={ticket}", headers=ORIGIN)
    await second.connect()
    assert await closed_code(second) == 4401
    await first.disconnect()


async def test_an_expired_ticket_is_refused(owner, monkeypatch):
    ticket = await run(ticket_issue, user_id=owner.pk)
    from django.core.cache import cache

    from realtime import tickets

    await run(cache.delete, tickets._key(ticket))  # what the 30 s expiry does
    communicator = WebsocketCommunicator(application, f"/ws/?ticket={ticket}", headers=ORIGIN)
    await communicator.connect()
    assert await closed_code(communicator) == 4401


async def test_it_refuses_foreign_origins(owner):
    ticket = await run(ticket_issue, user_id=owner.pk)
    communicator = WebsocketCommunicator(application, f"/ws/?ticket={ticket}",
                                         headers=[(b"origin", b"https://evil.example")])
    connected, _ = await communicator.connect()
    assert not connected


async def test_a_session_cookie_authenticates(owner, client):
    await run(client.force_login, owner)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(application, "/ws/", headers=[*ORIGIN, (b"cookie", cookie)])
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"type": "ping"})
    assert await receive(communicator) == {"type": "pong"}
    await communicator.disconnect()


# --- subscribe and live events ------------------------------------------------------------------


async def test_subscribe_then_receive_live_events_in_order(project, owner):
    base = await last_seq(project)
    communicator = await connect(owner)
    frames = await subscribe(communicator, project)
    assert frames == [{"type": "subscribed", "project_id": str(project.pk), "seq": base}]
    task = await run(task_services.task_create, project_id=project.pk, user=owner, title="Live")
    created = await receive(communicator)
    counts = await receive(communicator)
    assert created["type"] == "task_created" and created["seq"] == base + 1
    assert created["data"]["task"]["id"] == str(task.pk) and created["data"]["task"]["key"] == "TH-1"
    assert created["project_id"] == str(project.pk) and created["workspace_id"] == str(project.workspace_id)
    assert created["actor_id"] == str(owner.pk)
    assert set(created) == {"type", "project_id", "workspace_id", "seq", "ts", "actor_id", "request_id", "data"}
    assert counts["type"] == "project_counts_changed" and counts["seq"] == base + 2
    assert counts["data"] == {"counts": {"total": 1, "todo": 1, "active": 0, "review": 0, "issue": 0, "done": 0}}
    await communicator.disconnect()


async def test_board_events_skip_the_per_message_connection_cleanup(project, owner, monkeypatch):
    """The fan-out's hot path makes no hop to the sync thread (Channels' ``aclose_old_connections``);
    the frames a client sends still get it."""
    import channels.consumer

    hops: list[str] = []
    original = channels.consumer.aclose_old_connections

    async def counting():
        hops.append("hop")
        await original()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counting)
    communicator = await connect(owner)
    await subscribe(communicator, project)
    assert hops, "the subscribe frame goes through Channels' dispatch"
    hops.clear()
    await run(task_services.task_create, project_id=project.pk, user=owner, title="Live")
    assert [(await receive(communicator))["type"] for _ in range(2)] == ["task_created", "project_counts_changed"]
    assert hops == []
    await communicator.send_json_to({"type": "ping"})
    assert (await receive(communicator))["type"] == "pong"
    assert hops == ["hop"]
    await communicator.disconnect()


async def test_subscribe_with_since_replays_then_goes_live(project, owner):
    base = await last_seq(project)
    for i in range(3):
        await run(task_services.task_create, project_id=project.pk, user=owner, title=f"t{i}")
    communicator = await connect(owner)
    frames = await subscribe(communicator, project, since=base)
    seqs = [f["seq"] for f in frames[:-1]]
    assert seqs == list(range(base + 1, base + 7))
    assert frames[-1] == {"type": "subscribed", "project_id": str(project.pk), "seq": base + 6}
    await run(task_services.task_create, project_id=project.pk, user=owner, title="after")
    assert (await receive(communicator))["seq"] == base + 7
    await communicator.disconnect()


async def test_the_subscribe_seam_loses_and_doubles_nothing(project, owner, monkeypatch):
    """An event committed while the replay runs arrives exactly once."""
    original = event_log.events_since
    calls = []

    def events_since_with_a_write_in_between(**kwargs):
        if not calls:
            calls.append(1)
            task_services.task_create(project_id=project.pk, user=owner, title="in the seam")
        return original(**kwargs)

    monkeypatch.setattr(event_log, "events_since", events_since_with_a_write_in_between)
    communicator = await connect(owner)
    frames = await subscribe(communicator, project, since=0)
    assert calls == [1]
    # A later write: the seam write's live copies were sent before its events, so once they
    # are in, any duplicate of the seam's events would be too.
    await run(task_services.task_create, project_id=project.pk, user=owner, title="barrier")
    frames += await frames_through(communicator, project, await last_seq(project))
    seqs = [f["seq"] for f in frames if f["type"] not in ("subscribed",)]
    assert seqs == list(range(1, await last_seq(project) + 1))
    titles = [f["data"]["task"]["title"] for f in frames if f["type"] == "task_created"]
    assert titles == ["in the seam", "barrier"]
    await communicator.disconnect()


async def test_a_lost_message_is_filled_from_the_log(project, owner):
    base = await last_seq(project)
    communicator = await connect(owner)
    await subscribe(communicator, project)
    event_log.remove_after_commit_hook(publisher.submit)  # the next write's events never reach the layer
    try:
        await run(task_services.task_create, project_id=project.pk, user=owner, title="lost")
    finally:
        event_log.add_after_commit_hook(publisher.submit)
    await run(task_services.task_create, project_id=project.pk, user=owner, title="seen")
    seqs = [(await receive(communicator))["seq"] for _ in range(4)]
    assert seqs == [base + 1, base + 2, base + 3, base + 4]
    await communicator.disconnect()


async def test_resync_required_when_the_range_was_trimmed(project, owner):
    for i in range(3):
        await run(task_services.task_create, project_id=project.pk, user=owner, title=f"t{i}")
    await run(lambda: Event.objects.filter(project=project, seq__lte=4).delete())
    latest = await last_seq(project)
    communicator = await connect(owner)
    await communicator.send_json_to({"type": "subscribe", "project_id": str(project.pk), "since": 1})
    assert await receive(communicator) == {"type": "resync_required", "project_id": str(project.pk),
                                           "seq": latest}
    await communicator.send_json_to({"type": "subscribe", "project_id": str(project.pk), "since": 4})
    frames = await receive_until(communicator, "subscribed")
    assert [f["seq"] for f in frames[:-1]] == list(range(5, latest + 1))
    await communicator.disconnect()


async def test_subscribing_to_a_hidden_project_is_not_found(project, outsider):
    communicator = await connect(outsider)
    await communicator.send_json_to({"type": "subscribe", "project_id": str(project.pk)})
    frame = await receive(communicator)
    assert frame["type"] == "error" and frame["code"] == "not_found"
    await communicator.send_json_to({"type": "ping"})
    assert await receive(communicator) == {"type": "pong"}
    await communicator.disconnect()


async def test_workspace_subscription_gets_project_level_events(workspace, project, owner):
    communicator = await connect(owner)
    await subscribe(communicator, project)  # for the barrier below
    await communicator.send_json_to({"type": "subscribe", "workspace_id": str(workspace.pk)})
    assert await receive(communicator) == {"type": "subscribed", "workspace_id": str(workspace.pk)}
    created = await run(project_services.project_create, workspace_id=workspace.pk, user=owner, name="N", key="NW")
    frame = await receive(communicator)
    assert frame["type"] == "project_created" and frame["data"]["project"]["id"] == str(created.pk)
    await communicator.send_json_to({"type": "unsubscribe", "workspace_id": str(workspace.pk)})
    assert await receive(communicator) == {"type": "unsubscribed", "workspace_id": str(workspace.pk)}
    await run(project_services.project_create, workspace_id=workspace.pk, user=owner, name="M", key="MW")
    barrier = await run(task_services.task_create, project_id=project.pk, user=owner, title="barrier")
    await assert_next_is_created(communicator, project, barrier)  # and not M's project_created
    await communicator.disconnect()


async def test_unsubscribe_stops_project_events(workspace, project, owner):
    other = await run(factories.project, workspace, owner, key="OT")
    communicator = await connect(owner)
    await subscribe(communicator, project)
    await subscribe(communicator, other)  # stays subscribed, for the barrier
    await communicator.send_json_to({"type": "unsubscribe", "project_id": str(project.pk)})
    assert await receive(communicator) == {"type": "unsubscribed", "project_id": str(project.pk)}
    await run(task_services.task_create, project_id=project.pk, user=owner, title="unseen")
    barrier = await run(task_services.task_create, project_id=other.pk, user=owner, title="barrier")
    await assert_next_is_created(communicator, other, barrier)  # "unseen" never came
    await communicator.disconnect()


async def test_a_rolled_back_write_emits_nothing(project, owner):
    base = await last_seq(project)
    communicator = await connect(owner)
    await subscribe(communicator, project)

    def write_then_fail():
        with transaction.atomic():
            task_services.task_create(project_id=project.pk, user=owner, title="rolled back")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await run(write_then_fail)
    assert not await run(lambda: Event.objects.filter(project=project, seq__gt=base).exists())
    assert await last_seq(project) == base
    # The next write's event is the next frame, with the next seq: the rolled-back one sent nothing.
    barrier = await run(task_services.task_create, project_id=project.pk, user=owner, title="committed")
    frame = await receive(communicator)
    assert (frame["type"], frame["seq"], frame["data"]["task"]["id"]) == ("task_created", base + 1, str(barrier.pk))
    await communicator.disconnect()


# --- revocation -----------------------------------------------------------------------------------


async def test_removed_member_gets_access_revoked_and_nothing_more(workspace, project, owner, editor):
    # The editor's own board, which they keep: its events are the barriers below.
    own = await run(lambda: factories.project(factories.workspace(editor, name="Own"), editor, key="OW"))
    communicator = await connect(editor)
    await subscribe(communicator, project)
    await subscribe(communicator, own)
    await communicator.send_json_to({"type": "subscribe", "workspace_id": str(workspace.pk)})
    await receive_until(communicator, "subscribed")
    # The editor is a project member: removing them from the workspace drops that too.
    await run(task_services.workspace_member_remove, workspace_id=workspace.pk, actor=owner, user_id=editor.pk)
    await run(task_services.task_create, project_id=own.pk, user=editor, title="first barrier")
    frames = await frames_through(communicator, own, await last_seq(own))
    revoked = [f["data"] for f in frames if f["type"] == "access_revoked"]
    assert {"workspace_id": str(workspace.pk)} in revoked
    assert {"project_id": str(project.pk)} in revoked
    await run(task_services.task_create, project_id=project.pk, user=owner, title="secret")
    barrier = await run(task_services.task_create, project_id=own.pk, user=editor, title="second barrier")
    await assert_next_is_created(communicator, own, barrier)  # "secret" never came
    await communicator.disconnect()


async def test_deleting_a_project_revokes_its_subscriptions(project, owner, viewer):
    communicator = await connect(viewer)
    await subscribe(communicator, project)
    await run(project_services.project_delete, project_id=project.pk, user=owner)
    deleted = await receive(communicator)
    assert deleted["type"] == "project_deleted"
    assert await receive(communicator) == {"type": "access_revoked", "data": {"project_id": str(project.pk)}}
    await communicator.disconnect()


# --- inbound limits -------------------------------------------------------------------------------


async def test_bad_frames_get_errors_and_the_socket_stays_open(owner):
    communicator = await connect(owner)
    await communicator.send_to(text_data="{not json")
    assert (await receive(communicator))["code"] == "invalid_json"
    await communicator.send_to(text_data=json.dumps([1, 2]))
    assert (await receive(communicator))["code"] == "invalid"
    await communicator.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * 70_000}))
    assert (await receive(communicator))["code"] == "too_large"
    await communicator.send_json_to({"type": "launch"})
    assert (await receive(communicator))["code"] == "unknown_type"
    await communicator.send_json_to({"type": "subscribe", "project_id": "nope"})
    assert (await receive(communicator))["code"] == "invalid"
    await communicator.send_json_to({"type": "subscribe", "project_id": None})
    assert (await receive(communicator))["code"] == "invalid"
    await communicator.send_json_to({"type": "ping"})
    assert await receive(communicator) == {"type": "pong"}
    await communicator.disconnect()


async def test_too_many_frames_are_refused_but_the_socket_stays_open(owner, monkeypatch):
    communicator = await connect(owner)
    for _ in range(100):
        await communicator.send_json_to({"type": "ping"})
    for _ in range(100):
        assert await receive(communicator) == {"type": "pong"}
    await communicator.send_json_to({"type": "ping"})
    assert (await receive(communicator))["code"] == "rate_limited"
    await communicator.disconnect()


# --- publishing never slows a write ----------------------------------------------------------------


class GatedLayer(InMemoryChannelLayer):
    """An in-memory layer whose ``group_send`` is blocked until the test opens ``gate``."""

    entered: asyncio.Event
    gate: asyncio.Event

    async def group_send(self, group, message):
        GatedLayer.entered.set()
        await GatedLayer.gate.wait()
        await super().group_send(group, message)


async def test_a_slow_channel_layer_does_not_slow_the_response(project, owner, settings, monkeypatch):
    """The response comes back while the layer cannot send at all; the event follows once it can."""
    from channels.layers import channel_layers

    GatedLayer.entered, GatedLayer.gate = asyncio.Event(), asyncio.Event()
    # The publisher gives up on a send after SEND_TIMEOUT; this one waits for the test, not the clock.
    monkeypatch.setattr("realtime.publisher.SEND_TIMEOUT", 120.0)
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.realtime.test_consumers.GatedLayer"}}
    channel_layers.backends.clear()
    communicator = await connect(owner)
    await subscribe(communicator, project)
    raw, _ = await run(__import__("accounts.services", fromlist=["token_create"]).token_create,
                       email=owner.email, password=factories.PASSWORD)

    def post_task():
        from django.test import Client

        response = Client().post(f"/api/v1/projects/{project.pk}/tasks", json.dumps({"title": "fast"}),
                                 content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")
        return response.status_code

    try:
        # Not a speed limit: only a guard, so that a write that waited for the send fails instead of hanging.
        status = await asyncio.wait_for(run(post_task), timeout=60)
        assert status == 201
        await asyncio.wait_for(GatedLayer.entered.wait(), timeout=60)  # the publisher is stuck in the send
        assert not GatedLayer.gate.is_set()
    finally:
        GatedLayer.gate.set()
    frame = await receive(communicator, timeout=10)
    assert frame["type"] == "task_created" and frame["data"]["task"]["title"] == "fast"
    await communicator.disconnect()


# --- every event type ------------------------------------------------------------------------------


async def test_every_documented_event_type_is_logged_by_its_write(workspace, project, owner, editor, viewer,
                                                                   statuses):
    def every_write():
        task = task_services.task_create(project_id=project.pk, user=owner, title="t")
        task_services.task_update(task_id=task.pk, user=owner, fields={"title": "u"})
        task_services.task_move(task_id=task.pk, user=owner, status_id=statuses["issue"].pk)
        task_services.task_archive(task_id=task.pk, user=owner)
        task_services.task_restore(task_id=task.pk, user=owner)
        comment = task_services.comment_create(task_id=task.pk, user=viewer, body="hi")
        task_services.comment_update(comment_id=comment.pk, user=viewer, body="hey")
        task_services.comment_delete(comment_id=comment.pk, user=viewer)
        task_services.task_delete(task_id=task.pk, user=owner)
        project_services.project_update(project_id=project.pk, user=owner, fields={"name": "Renamed"})
        project_services.project_archive(project_id=project.pk, user=owner)
        project_services.project_restore(project_id=project.pk, user=owner)
        project_services.project_override_set(project_id=project.pk, user=owner, status="issue", reason="x")
        status = project_services.status_create(project_id=project.pk, user=owner, name="Extra", group="todo")
        project_services.status_update(status_id=status.pk, user=owner, name="Extra 2")
        project_services.status_delete(status_id=status.pk, user=owner)
        project_services.project_member_update(project_id=project.pk, actor=owner, user_id=editor.pk, role="admin")
        project_services.project_member_remove(project_id=project.pk, actor=owner, user_id=editor.pk)
        project_services.project_member_add(project_id=project.pk, actor=owner, user_id=editor.pk, role="member")
        other = project_services.project_create(workspace_id=workspace.pk, user=owner, name="Gone", key="GO")
        project_services.project_delete(project_id=other.pk, user=owner)
        return set(Event.objects.values_list("type", flat=True))

    logged = await run(every_write)
    documented = {
        "task_created", "task_updated", "task_archived", "task_restored", "task_moved", "task_deleted",
        "project_created", "project_updated", "project_archived", "project_restored", "project_deleted",
        "project_counts_changed", "project_status_changed", "status_created", "status_updated", "status_deleted",
        "member_added", "member_removed", "member_role_changed", "comment_added", "comment_updated",
        "comment_deleted",
    }
    assert documented <= logged
    assert logged - documented == set()


# --- query budget ------------------------------------------------------------------------------------


async def test_subscribe_costs_two_queries_plus_replay(project, owner):
    """DESIGN.md: ``subscribe`` is 2 queries plus the replay.

    1. SELECT project + counters + the caller's roles (access check, latest seq)
    2. SELECT the oldest retained seq (only when ``since`` is behind)
    3. SELECT the replay page (the "plus replay")
    The consumer's ORM calls run in the thread-sensitive executor, so the capture
    is opened and read there.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(3):
        await run(task_services.task_create, project_id=project.pk, user=owner, title=f"t{i}")
    communicator = await connect(owner)
    holder = {}

    def start():
        holder["ctx"] = CaptureQueriesContext(connection)
        holder["ctx"].__enter__()

    def stop():
        holder["ctx"].__exit__(None, None, None)
        return [q["sql"] for q in holder["ctx"].captured_queries]

    await run(start)
    await subscribe(communicator, project, since=0)
    queries = await run(stop)
    assert len(queries) == 3, queries
    await run(start)
    await subscribe(communicator, project, since=None)
    queries = await run(stop)
    assert len(queries) == 2, queries  # the access check and an empty replay page
    await communicator.disconnect()
