"""Presence and typing over the socket (API.md "Presence and typing"), through the full ASGI stack.

On the SQLite pass the store is this process's; on the PostgreSQL + Redis pass it is Redis (a hash
per project), with the in-memory channel layer for the frames either way. Two real server processes
sharing presence are in ``tests/live/test_presence_live.py``.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.services import token_create
from realtime import presence
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
    presence.reset_store()
    yield
    channel_layers.backends.clear()
    presence.reset_store()


async def connect(user) -> WebsocketCommunicator:
    ticket = await database_sync_to_async(ticket_issue)(user_id=user.pk)
    communicator = WebsocketCommunicator(application, f"/ws/?ticket={ticket}", headers=ORIGIN)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive(ws, timeout=3.0) -> dict:
    return json.loads(await ws.receive_from(timeout=timeout))


async def subscribed(user, project) -> WebsocketCommunicator:
    ws = await connect(user)
    await ws.send_json_to({"type": "subscribe", "project_id": str(project.pk), "since": None})
    assert (await receive(ws))["type"] == "subscribed"
    return ws


async def announce(ws, project, state="viewing", task=None):
    await ws.send_json_to({"type": "presence", "project_id": str(project.pk),
                           "task_id": None if task is None else str(task.pk), "state": state})


async def presence_frames(ws, timeout=1.5) -> list[dict]:
    """Every presence frame that arrives until ``timeout`` passes without one."""
    frames = []
    while not await ws.receive_nothing(timeout):  # (a receive that times out would stop the consumer)
        frame = await receive(ws)
        if frame["type"] == "presence":
            frames.append(frame)
    return frames


async def next_presence(ws, timeout=3.0) -> dict:
    while True:
        frame = await receive(ws, timeout)
        if frame["type"] == "presence":
            return frame


async def next_error(ws, timeout=3.0) -> dict:
    while True:
        frame = await receive(ws, timeout)
        if frame["type"] == "error":
            return frame


def users_of(frame) -> list[tuple]:
    return [(u["user"]["display_name"], u["task_id"], u["state"]) for u in frame["data"]["users"]]


def rest_presence(user, project) -> list[dict]:
    raw, _ = token_create(email=user.email, password=factories.PASSWORD)
    reply = Client().get(f"/api/v1/projects/{project.pk}/presence", headers={"Authorization": f"Bearer {raw}"})
    assert reply.status_code == 200, reply.content
    body = reply.json()
    assert body["next_cursor"] is None
    return body["items"]


async def test_an_announcement_reaches_the_projects_subscribers_and_the_rest_list(project, owner, editor):
    task = await database_sync_to_async(factories.task)(project, owner, title="Open")
    watcher = await subscribed(owner, project)
    typist = await subscribed(editor, project)
    before = time.time()
    await announce(typist, project, "typing", task)
    frame = await next_presence(watcher)
    assert frame["project_id"] == str(project.pk) and set(frame) == {"type", "project_id", "data"}
    (entry,) = frame["data"]["users"]
    assert entry["user"] == {"id": str(editor.pk), "display_name": editor.display_name}
    assert (entry["task_id"], entry["state"]) == (str(task.pk), "typing")
    assert entry["since"] >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(before - 1))
    assert (await next_presence(typist)) == frame  # the announcer's own socket too
    listed = await database_sync_to_async(rest_presence)(owner, project)
    assert listed == frame["data"]["users"]
    # The watcher looks at the board: one entry per user and task, oldest first.
    await announce(watcher, project, "viewing")
    frame = await next_presence(typist)
    assert users_of(frame) == [(editor.display_name, str(task.pk), "typing"), (owner.display_name, None, "viewing")]
    for ws in (watcher, typist):
        await ws.disconnect()


async def test_heartbeats_that_change_nothing_send_nothing_and_bursts_are_coalesced(project, owner, editor):
    watcher = await subscribed(owner, project)
    typist = await subscribed(editor, project)
    await announce(typist, project, "typing")
    assert len(await presence_frames(watcher)) == 1
    for _ in range(30):  # typing: a frame a second, here all at once
        await announce(typist, project, "typing")
    assert await presence_frames(watcher, timeout=1.0) == []
    # Ten changes in a burst: one frame (or two, if the burst straddles the window), the last state in it.
    for i in range(10):
        await announce(typist, project, ["viewing", "editing"][i % 2])
    frames = await presence_frames(watcher)
    assert 1 <= len(frames) <= 2, frames
    assert users_of(frames[-1]) == [(editor.display_name, None, "editing")]
    for ws in (watcher, typist):
        await ws.disconnect()


async def test_a_user_with_two_sockets_shows_once_per_task_in_their_latest_state(project, owner, editor):
    watcher = await subscribed(owner, project)
    tab1, tab2 = await subscribed(editor, project), await subscribed(editor, project)
    await announce(tab1, project, "viewing")
    await next_presence(watcher)
    await asyncio.sleep(0.05)
    await announce(tab2, project, "editing")
    frame = (await presence_frames(watcher))[-1]
    assert users_of(frame) == [(editor.display_name, None, "editing")]
    await tab2.disconnect()  # the other tab's state shows again
    frame = await next_presence(watcher)
    assert users_of(frame) == [(editor.display_name, None, "viewing")]
    for ws in (watcher, tab1):
        await ws.disconnect()


async def test_a_closed_socket_leaves_at_once(project, owner, editor):
    watcher = await subscribed(owner, project)
    leaver = await subscribed(editor, project)
    await announce(leaver, project, "viewing")
    assert users_of(await next_presence(watcher)) == [(editor.display_name, None, "viewing")]
    started = time.monotonic()
    await leaver.disconnect()
    frame = await next_presence(watcher, timeout=2.0)
    assert frame["data"]["users"] == [] and time.monotonic() - started < 1.5
    assert await database_sync_to_async(rest_presence)(owner, project) == []
    await watcher.disconnect()


async def test_unsubscribing_leaves_too(project, owner, editor):
    watcher = await subscribed(owner, project)
    leaver = await subscribed(editor, project)
    await announce(leaver, project, "viewing")
    await next_presence(watcher)
    await leaver.send_json_to({"type": "unsubscribe", "project_id": str(project.pk)})
    assert (await next_presence(watcher))["data"]["users"] == []
    for ws in (watcher, leaver):
        await ws.disconnect()


async def test_an_entry_not_renewed_expires_within_its_window(settings, project, owner, editor):
    settings.TASKHUB_PRESENCE_TTL_SECONDS = 1.2
    watcher = await subscribed(owner, project)
    quiet = await subscribed(editor, project)
    await announce(quiet, project, "viewing")
    await next_presence(watcher)
    announced = time.monotonic()
    frame = await next_presence(watcher, timeout=4.0)
    waited = time.monotonic() - announced
    assert frame["data"]["users"] == []
    # Gone at its deadline, and sent within a sweep interval (a quarter of the window) after it.
    assert 1.2 - 0.3 <= waited <= 1.2 + 0.3 + presence.COALESCE_SECONDS + 0.5, waited
    # A renewed one stays.
    await announce(quiet, project, "editing")
    await next_presence(watcher)
    for _ in range(6):
        await asyncio.sleep(0.4)
        await announce(quiet, project, "editing")
    assert [users_of(f) for f in await presence_frames(watcher, timeout=0.5)] == []
    assert [e["state"] for e in await database_sync_to_async(rest_presence)(owner, project)] == ["editing"]
    for ws in (watcher, quiet):
        await ws.disconnect()


async def test_only_who_can_see_the_project_may_announce(project, other_project, owner, outsider, editor, viewer):
    other_task = await database_sync_to_async(factories.task)(other_project, outsider, title="Elsewhere")
    watcher = await subscribed(owner, project)
    stranger = await connect(outsider)
    await announce(stranger, project, "viewing")
    assert (await receive(stranger)) == {"type": "error", "code": "not_found", "detail": "Project not found.",
                                         "project_id": str(project.pk)}
    # A member must subscribe first; a viewer may announce (presence is reading).
    unsubscribed = await connect(editor)
    await announce(unsubscribed, project, "viewing")
    assert (await receive(unsubscribed))["code"] == "not_subscribed"
    reader = await subscribed(viewer, project)
    await announce(reader, project, "viewing")
    assert users_of(await next_presence(watcher)) == [(viewer.display_name, None, "viewing")]
    # A task of another project is invalid (not not_found: that, with a project_id, tells a client the
    # project is gone); bad frames are invalid; nothing of it shows.
    await announce(reader, project, "viewing", other_task)
    assert (await next_error(reader))["code"] == "invalid"
    for bad in ({"state": "sleeping"}, {"project_id": "nope"}, {"task_id": "nope"}, {"task_id": 5},
                {"state": None}):
        await reader.send_json_to({"type": "presence", "project_id": str(project.pk), "task_id": None,
                                   "state": "viewing", **bad})
        assert (await next_error(reader))["code"] == "invalid", bad
    assert await presence_frames(watcher, timeout=0.8) == []
    for ws in (watcher, stranger, unsubscribed, reader):
        await ws.disconnect()


async def test_a_user_who_loses_access_disappears_with_their_access_revoked(project, workspace, owner, editor):
    watcher = await subscribed(owner, project)
    member = await subscribed(editor, project)
    await announce(member, project, "editing")
    await next_presence(watcher)
    await database_sync_to_async(task_services.workspace_member_remove)(
        workspace_id=workspace.pk, actor=owner, user_id=editor.pk)
    frames = []
    while True:
        frame = await receive(member)
        frames.append(frame)
        if frame["type"] == "access_revoked" and frame["data"].get("project_id") == str(project.pk):
            break
    assert (await next_presence(watcher))["data"]["users"] == []
    assert await database_sync_to_async(rest_presence)(owner, project) == []
    for ws in (watcher, member):
        await ws.disconnect()


async def test_presence_frames_count_toward_the_sockets_rate_limit(project, owner):
    ws = await subscribed(owner, project)  # the subscribe was frame 1
    for _ in range(99):
        await announce(ws, project, "viewing")
    await announce(ws, project, "viewing")
    frames = []
    while not await ws.receive_nothing(1.0):
        frames.append(await receive(ws))
    assert [f.get("code") for f in frames if f["type"] == "error"] == ["rate_limited"]
    assert [f["type"] for f in frames if f["type"] != "error"] == ["presence"]  # the one change of them all
    await ws.disconnect()


async def test_the_store_keeps_one_entry_per_socket_with_a_deadline(project, owner):
    ws = await subscribed(owner, project)
    await announce(ws, project, "typing")
    await next_presence(ws)
    entries = await presence.store().entries(str(project.pk))
    (entry,) = entries.values()
    assert (entry.user_id, entry.state, entry.task_id) == (str(owner.pk), "typing", None)
    assert time.time() < entry.deadline <= time.time() + presence.ttl()
    await ws.disconnect()
    await asyncio.sleep(0.1)
    assert await presence.store().entries(str(project.pk)) == {}
