"""The live-board WebSocket (API.md, "WebSocket protocol").

Delivery guarantee per subscribed project: every event after the subscription
point, exactly once, in ``seq`` order. Channels delivers best effort (the
publisher may send two transactions' events out of order, and channels-redis
drops messages under pressure), so the consumer keeps the last ``seq`` it sent
for each project, drops anything at or below it, holds anything beyond the
next one, and after a short wait fills the gap from the event log.

The same mechanism closes the subscribe seam: the socket joins the group
first and only then replays from the log, so an event committed in between
arrives live, from the replay, or both, and is sent once.

A lost message is noticed when a later one arrives; on a quiet board that may
be never, so the heartbeat closes that gap too: every
``TASKHUB_WS_HEARTBEAT_SECONDS`` three queries per server process read the
latest seq of every stream its sockets follow and their users' memberships,
a socket behind fills from the store, a socket whose user left a workspace
(and missed the ``access_revoked``) is told, and each socket is told how far
it has been sent (``heartbeat``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model

from notifications.selectors import notification_counts, notification_latest_seqs, notifications_since
from projects.selectors import (
    project_get_for_member,
    project_has_task,
    project_latest_seqs,
    workspace_get_for_member,
    workspace_memberships,
)
from realtime import events as event_log
from realtime import presence
from realtime.publisher import publisher
from realtime.tickets import ticket_consume
from taskhub.errors import NotFound
from taskhub.metrics import WEBSOCKETS

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
RATE_LIMIT_FRAMES = 100
RATE_LIMIT_WINDOW = 10.0
# How long a socket waits for a missing event before reading it from the log:
# under load the missing one is usually still queued just behind.
GAP_WAIT_SECONDS = 1.0
REPLAY_PAGE = 500
CLOSE_UNAUTHENTICATED = 4401


@dataclass
class Stream:
    """An ordered stream the socket follows: a project's events, or the user's notifications.

    ``fetch(since)`` reads the stream's store (the event log, the
    notifications table) after ``since``, a page at a time, oldest first. The
    store is the authority: what it no longer holds at a seq (a notification
    deleted, a trimmed event) is skipped, not waited for.
    """

    fetch: Callable[[int], Awaitable[list[dict]]]
    workspace_id: str | None = None
    last_seq: int = 0
    ready: bool = False  # False while the replay runs; live events wait in ``held``
    held: dict[int, tuple[dict, str | None]] = field(default_factory=dict)  # seq -> (envelope, its JSON)
    fill_task: asyncio.Task | None = None
    # The latest seq the store was seen to hold (by a heartbeat): a gap to fill though nothing is held.
    expected: int = 0



def _load_user(user_id):
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


def _project_state(project_id, user) -> tuple[str, int]:
    project = project_get_for_member(project_id=project_id, user=user)
    return str(project.workspace_id), project.counters.last_seq


# Reads of the log in progress in this process, by (project, since): when a
# message is late, every socket of the project sees the same gap at once, and a
# thousand sockets must not make a thousand identical queries.
_inflight_reads: dict[tuple[str, int], asyncio.Future] = {}


async def _events_since_shared(project_id: str, since: int) -> list[dict]:
    key = (project_id, since)
    pending = _inflight_reads.get(key)
    if pending is not None and pending.get_loop() is asyncio.get_running_loop():
        return await asyncio.shield(pending)
    future = asyncio.get_running_loop().create_future()
    _inflight_reads[key] = future
    try:
        page = await database_sync_to_async(event_log.events_since)(
            project_id=project_id, since=since, limit=REPLAY_PAGE
        )
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # mark retrieved: the waiters (if any) re-raise it
        raise
    else:
        future.set_result(page)
        return page
    finally:
        if _inflight_reads.get(key) is future:
            del _inflight_reads[key]


class Heartbeat:
    """The heartbeat of one event loop's sockets (one server process's, in production).

    Every ``TASKHUB_WS_HEARTBEAT_SECONDS``: one read of the latest seq of every
    project and notification stream that a socket here follows, and of their
    users' memberships of the workspaces those streams are in (three queries,
    however many sockets), then each socket compares them with what it has
    sent and may see (``BoardConsumer.heartbeat``), all at once: a socket that
    is slow to take its frames holds up nobody else's beat. The loop runs
    while sockets are connected.
    """

    def __init__(self) -> None:
        self.consumers: weakref.WeakSet[BoardConsumer] = weakref.WeakSet()
        self.task: asyncio.Task | None = None

    def join(self, consumer: BoardConsumer) -> None:
        self.consumers.add(consumer)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    def leave(self, consumer: BoardConsumer) -> None:
        self.consumers.discard(consumer)
        if not self.consumers and self.task is not None:
            self.task.cancel()  # nothing to beat for; the next connection starts it again
            self.task = None

    async def _run(self) -> None:
        while self.consumers:
            await asyncio.sleep(settings.TASKHUB_WS_HEARTBEAT_SECONDS)
            try:
                await self.beat()
            except Exception:  # a database hiccup: the next beat tries again
                logger.warning("heartbeat failed", exc_info=True)

    async def beat(self) -> None:
        consumers = list(self.consumers)
        project_ids = {pid for consumer in consumers for pid in consumer.projects}
        user_ids = {consumer.user.pk for consumer in consumers if consumer.notifications is not None}
        # What each socket follows now; a subscription made while the reads run is checked next time.
        following = {(ws, str(consumer.user.pk)) for consumer in consumers for ws in consumer.followed_workspaces()}
        if not project_ids and not user_ids and not following:
            return
        projects, users, members = await database_sync_to_async(_beat_reads)(project_ids, user_ids, following)
        left = following - members
        await asyncio.gather(*(self._beat_one(consumer, projects, users, left) for consumer in consumers))

    @staticmethod
    async def _beat_one(consumer: BoardConsumer, projects, users, left) -> None:
        try:
            # A socket that takes no frames for this long is someone else's problem (its own send timeout).
            await asyncio.wait_for(consumer.heartbeat(projects, users, left),
                                   timeout=settings.TASKHUB_WS_HEARTBEAT_SECONDS)
        except Exception:  # that socket's trouble (closing, say) is not the others'
            logger.warning("heartbeat of one socket failed", exc_info=True)


def _beat_reads(project_ids: set[str], user_ids: set, following: set[tuple[str, str]]):
    """The heartbeat's three reads: the projects' and the users' latest seqs, and which of the followed
    ``(workspace_id, user_id)`` pairs are memberships still."""
    projects = project_latest_seqs(project_ids=project_ids) if project_ids else {}
    users = notification_latest_seqs(user_ids=user_ids) if user_ids else {}
    members = set()
    if following:
        members = workspace_memberships(workspace_ids={ws for ws, _ in following},
                                        user_ids={user for _, user in following}) & following
    return projects, users, members


_heartbeats: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Heartbeat] = weakref.WeakKeyDictionary()


def heartbeat_of_this_loop() -> Heartbeat:
    loop = asyncio.get_running_loop()
    found = _heartbeats.get(loop)
    if found is None:
        found = _heartbeats[loop] = Heartbeat()
    return found


async def _send_presence(project_id: str, frame: dict) -> None:
    await get_channel_layer().group_send(event_log.project_group(project_id), {
        "type": "presence.frame", "frame": frame, "text": json.dumps(frame, separators=(",", ":"))})


def presence_hub() -> presence.PresenceHub:
    return presence.hub_of_this_loop(_send_presence)


@dataclass
class Announced:
    """What this socket last announced in a project, and when it last wrote it to the store."""

    task_id: str | None
    state: str
    since: float
    written: float


class BoardConsumer(AsyncJsonWebsocketConsumer):
    async def dispatch(self, message):
        """Board events skip Channels' per-message ``aclose_old_connections``.

        Channels (4.2+) closes stale database connections before every handler,
        through ``sync_to_async``: a hop to the one thread-sensitive worker
        thread. For the fan-out that is one hop per event per socket, all
        queued on that thread; with 1 000 sockets it, not sending, set the pace
        (the benchmark's events fell seconds behind). ``board_event`` touches
        the database only through ``database_sync_to_async`` (a gap fill), which
        closes stale connections itself, before and after. Every other message
        (connect, frames, disconnect) keeps Channels' behaviour.
        """
        if message["type"] == "board.event":
            await self.board_event(message)
        elif message["type"] == "presence.frame":  # as board events: no database
            await self.presence_frame(message)
        else:
            await super().dispatch(message)

    async def connect(self):
        self.user = await self._authenticate()
        await self.accept()
        if self.user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        publisher.bind_server_loop(asyncio.get_running_loop())
        WEBSOCKETS.inc()
        self.projects: dict[str, Stream] = {}
        self.workspaces: set[str] = set()
        self.notifications: Stream | None = None
        self.frame_times: deque[float] = deque()
        self.send_lock = asyncio.Lock()
        self.announced: dict[str, Announced] = {}
        self.known_tasks: set[tuple[str, str]] = set()
        await self.channel_layer.group_add(event_log.user_group(self.user.pk), self.channel_name)
        heartbeat_of_this_loop().join(self)
        presence_hub().join(self)

    async def _authenticate(self):
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        ticket = (query.get("ticket") or [""])[0]
        if ticket:
            user_id = await database_sync_to_async(ticket_consume)(ticket)
            if user_id is None:
                return None
            return await database_sync_to_async(_load_user)(user_id)
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            return user
        return None

    async def disconnect(self, code):
        if getattr(self, "user", None) is None:
            return
        WEBSOCKETS.dec()
        heartbeat_of_this_loop().leave(self)
        for project_id in list(getattr(self, "announced", {})):
            await self._withdraw(project_id)
        presence_hub().leave(self)
        streams = [*getattr(self, "projects", {}).values(), getattr(self, "notifications", None)]
        for stream in streams:
            if stream is not None and stream.fill_task:
                stream.fill_task.cancel()
        groups = [event_log.user_group(self.user.pk)]
        groups += [event_log.project_group(pid) for pid in getattr(self, "projects", {})]
        groups += [event_log.workspace_group(wid) for wid in getattr(self, "workspaces", set())]
        for group in groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    # --- inbound frames ------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.user is None:
            return
        raw = text_data if text_data is not None else bytes_data
        if raw is None or len(raw) > MAX_FRAME_BYTES:
            await self._error("too_large", f"Frames are limited to {MAX_FRAME_BYTES} bytes.")
            return
        now = time.monotonic()
        while self.frame_times and now - self.frame_times[0] > RATE_LIMIT_WINDOW:
            self.frame_times.popleft()
        if len(self.frame_times) >= RATE_LIMIT_FRAMES:
            await self._error("rate_limited", "Too many frames; at most 100 per 10 seconds.")
            return
        self.frame_times.append(now)
        try:
            content = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            await self._error("invalid_json", "Frames must be JSON objects.")
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self._error("invalid", "Frames must be JSON objects with a string 'type'.")
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        kind = content["type"]
        if kind == "ping":
            await self._send({"type": "pong"})
        elif kind == "subscribe":
            if content.get("notifications") is True:
                await self._subscribe_notifications(content.get("since"))
            elif "project_id" in content:
                await self._subscribe_project(content.get("project_id"), content.get("since"))
            elif "workspace_id" in content:
                await self._subscribe_workspace(content.get("workspace_id"))
            else:
                await self._error("invalid", "subscribe needs project_id, workspace_id or notifications: true.")
        elif kind == "unsubscribe":
            await self._unsubscribe(content)
        elif kind == "presence":
            await self._presence(content)
        else:
            await self._error("unknown_type", f"Unknown frame type {kind[:40]!r}.")

    async def _error(self, code: str, detail: str, **extra):
        await self._send({"type": "error", "code": code, "detail": detail, **extra})

    async def _send(self, content: dict, text: str | None = None):
        await self.send(text_data=text if text is not None else json.dumps(content, separators=(",", ":")))

    # --- subscriptions ---------------------------------------------------------------------

    async def _subscribe_project(self, raw_id, since):
        try:
            project_id = str(uuid.UUID(str(raw_id)))
        except ValueError:
            await self._error("invalid", "project_id must be a UUID.")
            return
        if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 0):
            await self._error("invalid", "since must be a non-negative integer or null.", project_id=project_id)
            return
        try:
            workspace_id, latest = await database_sync_to_async(_project_state)(project_id, self.user)
        except NotFound:
            await self._error("not_found", "Project not found.", project_id=project_id)
            return
        if since is not None and since < latest:
            oldest = await database_sync_to_async(event_log.oldest_seq)(project_id=project_id)
            if oldest is None or oldest > since + 1:
                await self._send({"type": "resync_required", "project_id": project_id, "seq": latest})
                return
        subscription = self.projects.get(project_id)
        if subscription is None:
            subscription = Stream(fetch=lambda since: _events_since_shared(project_id, since),
                                  workspace_id=workspace_id)
            self.projects[project_id] = subscription
            # Join before replaying: anything committed from now on arrives live.
            await self.channel_layer.group_add(event_log.project_group(project_id), self.channel_name)
        await self._start(subscription, latest if since is None else since,
                          {"type": "subscribed", "project_id": project_id})

    async def _subscribe_notifications(self, since):
        """``subscribe {notifications: true, since}``: the user's stream, replayed from the table, then live.

        The socket is in the user's group from its connection, so nothing
        committed from here on is missed; the replay and the live frames meet
        as a project's do (``_deliver_ordered``).
        """
        if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 0):
            await self._error("invalid", "since must be a non-negative integer or null.", notifications=True)
            return
        _unread, latest = await database_sync_to_async(notification_counts)(user_id=self.user.pk)
        user_id = self.user.pk
        if self.notifications is None:
            self.notifications = Stream(fetch=lambda after: database_sync_to_async(notifications_since)(
                user_id=user_id, since=after, limit=REPLAY_PAGE))
        await self._start(self.notifications, latest if since is None else since,
                          {"type": "subscribed", "notifications": True})

    async def _start(self, stream: Stream, since: int, subscribed: dict):
        """Replay ``stream`` after ``since``, answer ``subscribed`` with the seq reached, then go live."""
        stream.ready = False
        stream.last_seq = since
        stream.expected = 0
        async with self.send_lock:
            await self._replay(stream, upto=None)
            stream.ready = True
            await self._send({**subscribed, "seq": stream.last_seq})
            await self._release_held(stream)

    async def _replay(self, stream: Stream, upto: int | None):
        """Send the stored frames after ``last_seq`` (up to ``upto``). Caller holds ``send_lock``."""
        while True:
            page = await stream.fetch(stream.last_seq)
            for envelope in page:
                if upto is not None and envelope["seq"] > upto:
                    return
                await self._send(envelope)
                stream.last_seq = envelope["seq"]
                stream.held.pop(envelope["seq"], None)
            if len(page) < REPLAY_PAGE:
                break
        if upto is not None:
            # The store holds nothing more up to ``upto``: what it lacks was deleted, not delayed.
            stream.last_seq = max(stream.last_seq, upto)

    async def _subscribe_workspace(self, raw_id):
        try:
            workspace_id = str(uuid.UUID(str(raw_id)))
        except ValueError:
            await self._error("invalid", "workspace_id must be a UUID.")
            return
        try:
            await database_sync_to_async(workspace_get_for_member)(workspace_id=workspace_id, user=self.user)
        except NotFound:
            await self._error("not_found", "Workspace not found.", workspace_id=workspace_id)
            return
        if workspace_id not in self.workspaces:
            self.workspaces.add(workspace_id)
            await self.channel_layer.group_add(event_log.workspace_group(workspace_id), self.channel_name)
        await self._send({"type": "subscribed", "workspace_id": workspace_id})

    async def _unsubscribe(self, content):
        if content.get("notifications") is True:
            if self.notifications is not None and self.notifications.fill_task:
                self.notifications.fill_task.cancel()
            self.notifications = None
            await self._send({"type": "unsubscribed", "notifications": True})
        elif "project_id" in content:
            project_id = str(content.get("project_id"))
            await self._drop_project(project_id)
            await self._send({"type": "unsubscribed", "project_id": project_id})
        elif "workspace_id" in content:
            workspace_id = str(content.get("workspace_id"))
            await self._drop_workspace(workspace_id)
            await self._send({"type": "unsubscribed", "workspace_id": workspace_id})
        else:
            await self._error("invalid", "unsubscribe needs project_id, workspace_id or notifications: true.")

    async def _drop_project(self, project_id: str):
        subscription = self.projects.pop(project_id, None)
        await self._withdraw(project_id)
        if subscription is not None:
            if subscription.fill_task:
                subscription.fill_task.cancel()
            await self.channel_layer.group_discard(event_log.project_group(project_id), self.channel_name)

    async def _drop_workspace(self, workspace_id: str):
        if workspace_id in self.workspaces:
            self.workspaces.discard(workspace_id)
            await self.channel_layer.group_discard(event_log.workspace_group(workspace_id), self.channel_name)

    # --- presence ------------------------------------------------------------------------------

    async def _presence(self, content):
        """``{type: presence, project_id, task_id, state}``: announce or renew this socket's presence.

        Only on a socket subscribed to the project (so only by a user who can
        see it): ``not_found`` for a project the user may not see or a task not
        of the project. A renewal that changes nothing is written to the store
        at most every ``presence.renew_every()`` and broadcasts nothing.
        """
        try:
            project_id = str(uuid.UUID(str(content.get("project_id"))))
        except ValueError:
            await self._error("invalid", "project_id must be a UUID.")
            return
        raw_task, state = content.get("task_id"), content.get("state")
        try:
            task_id = None if raw_task is None else str(uuid.UUID(str(raw_task)))
        except ValueError:
            await self._error("invalid", "task_id must be a UUID or null.", project_id=project_id)
            return
        if state not in presence.STATES:
            await self._error("invalid", "state must be viewing, editing or typing.", project_id=project_id)
            return
        if project_id not in self.projects:
            try:
                await database_sync_to_async(_project_state)(project_id, self.user)
            except NotFound:
                await self._error("not_found", "Project not found.", project_id=project_id)
                return
            await self._error("not_subscribed", "Subscribe to the project before announcing in it.",
                              project_id=project_id)
            return
        if task_id is not None and (project_id, task_id) not in self.known_tasks:
            if not await database_sync_to_async(project_has_task)(project_id=project_id, task_id=task_id):
                await self._error("invalid", "task_id is not a task of this project.", project_id=project_id,
                                  task_id=task_id)
                return
            self.known_tasks.add((project_id, task_id))
        now = time.time()
        before = self.announced.get(project_id)
        changed = before is None or (before.task_id, before.state) != (task_id, state)
        if not changed and now - before.written < presence.renew_every():
            return
        since = now if changed else before.since
        entry = presence.Entry(user_id=str(self.user.pk), display_name=self.user.display_name, task_id=task_id,
                               state=state, since=since, deadline=now + presence.ttl())
        self.announced[project_id] = Announced(task_id=task_id, state=state, since=since, written=now)
        try:
            await presence.store().put(project_id, self.channel_name, entry)
        except Exception:  # Redis down: presence is best effort
            logger.warning("presence write failed", exc_info=True)
            return
        if changed:
            presence_hub().changed(project_id)

    async def _withdraw(self, project_id: str):
        """Remove this socket's presence in the project (it closed, left, or lost access)."""
        if self.announced.pop(project_id, None) is None:
            return
        try:
            await presence.store().remove(project_id, self.channel_name)
        except Exception:
            logger.warning("presence removal failed", exc_info=True)
            return
        presence_hub().changed(project_id)

    async def presence_frame(self, message):
        frame = message["frame"]
        project_id = frame["project_id"]
        presence_hub().seen(project_id, frame["data"]["users"])
        if project_id in getattr(self, "projects", {}):
            await self._send(frame, message.get("text"))

    # --- events from the channel layer -------------------------------------------------------

    async def board_event(self, message):
        envelope = message["event"]
        text = message.get("text")
        kind = envelope["type"]
        if kind == "access_revoked":
            await self._revoked(envelope["data"])
            return
        if kind == "notification":
            if self.notifications is not None:
                await self._deliver_ordered(self.notifications, envelope, text)
            return
        if kind == "notifications_read":
            if self.notifications is not None:
                await self._send(envelope, text)
            return
        project_id = envelope.get("project_id")
        if kind == "project_deleted":
            project_id = str(envelope["data"]["project"]["id"])
            if project_id in self.projects or envelope["workspace_id"] in self.workspaces:
                await self._send(envelope)
            if project_id in self.projects:
                await self._drop_project(project_id)
                await self._send({"type": "access_revoked", "data": {"project_id": project_id}})
            return
        if project_id and project_id in self.projects:
            await self._deliver_ordered(self.projects[project_id], envelope, text)
        elif envelope.get("workspace_id") in self.workspaces:
            await self._send(envelope, text)

    async def _deliver_ordered(self, stream: Stream, envelope: dict, text: str | None = None):
        seq = envelope["seq"]
        if seq <= stream.last_seq:
            return  # already sent (replay, or a duplicate)
        if seq == stream.last_seq + 1 and stream.ready and not stream.held and not self.send_lock.locked():
            # The common case: the next one, nothing waiting, no replay running.
            stream.last_seq = seq
            await self._send(envelope, text)
            return
        stream.held[seq] = (envelope, text)
        if not stream.ready:
            return  # the replay in progress releases it
        async with self.send_lock:
            await self._release_held(stream)

    async def _release_held(self, stream: Stream):
        """Send held frames that continue the sequence; schedule a gap fill if one is missing."""
        for seq in sorted(stream.held):
            if seq <= stream.last_seq:
                stream.held.pop(seq)
            elif seq == stream.last_seq + 1:
                await self._send(*stream.held.pop(seq))
                stream.last_seq = seq
            else:
                break
        if stream.held and (stream.fill_task is None or stream.fill_task.done()):
            stream.fill_task = asyncio.create_task(self._fill_gap(stream))

    def _following(self, stream: Stream) -> bool:
        return stream is self.notifications or any(stream is s for s in self.projects.values())

    def _behind(self, stream: Stream) -> int:
        """The seq ``stream`` must reach to have no gap (0 when it has none)."""
        upto = max(max(stream.held, default=0), stream.expected)
        return upto if upto > stream.last_seq else 0

    async def _fill_gap(self, stream: Stream):
        # The missing one is usually just behind (another request's publish); give it a moment.
        await asyncio.sleep(GAP_WAIT_SECONDS)
        if not self._following(stream) or not self._behind(stream):
            return
        async with self.send_lock:
            upto = self._behind(stream)
            if upto:
                await self._replay(stream, upto=upto)
                await self._release_held(stream)

    def followed_workspaces(self) -> set[str]:
        """The workspaces of everything this socket follows (of its projects, and the workspaces themselves)."""
        return {*self.workspaces, *(stream.workspace_id for stream in self.projects.values() if stream.workspace_id)}

    async def heartbeat(self, projects: dict[str, int], users: dict[str, int], left: set[tuple[str, str]]):
        """Tell the socket how far each stream it follows has been sent; first fill a stream that is behind.

        ``projects`` and ``users`` are the latest seqs the store holds, and
        ``left`` the followed ``(workspace_id, user_id)`` pairs that are no
        memberships any more. A workspace
        the user no longer belongs to is dropped with ``access_revoked`` (the
        one sent when they were removed may have been lost), before anything
        is filled from its log. A stream behind lost a message (or one is
        still on its way): it is filled from the store after the usual short
        wait, and its heartbeat goes out once it has caught up, so that a
        ``heartbeat`` always means "you have been sent everything up to ``seq``".
        """
        user_id = str(self.user.pk)
        for workspace_id in self.followed_workspaces():
            if (workspace_id, user_id) in left:
                await self._revoked({"workspace_id": workspace_id})
        streams = [({"project_id": pid}, stream, projects.get(pid)) for pid, stream in list(self.projects.items())]
        if self.notifications is not None:
            streams.append(({"notifications": True}, self.notifications, users.get(user_id, 0)))
        for key, stream, latest in streams:
            if latest is None or not stream.ready:
                continue  # a project just deleted, or a replay in progress (it answers ``subscribed``)
            stream.expected = max(stream.expected, latest)
            if self._behind(stream):
                if stream.fill_task is None or stream.fill_task.done():
                    stream.fill_task = asyncio.create_task(self._fill_then_beat(stream, key))
                continue
            async with self.send_lock:
                await self._send({"type": "heartbeat", **key, "seq": stream.last_seq})

    async def _fill_then_beat(self, stream: Stream, key: dict):
        await self._fill_gap(stream)
        if self._following(stream) and not self._behind(stream):
            async with self.send_lock:
                await self._send({"type": "heartbeat", **key, "seq": stream.last_seq})

    async def _revoked(self, data: dict):
        workspace_id = data.get("workspace_id")
        project_id = data.get("project_id")
        if workspace_id:
            if workspace_id in self.workspaces:
                await self._drop_workspace(workspace_id)
                await self._send({"type": "access_revoked", "data": {"workspace_id": workspace_id}})
            for pid, subscription in list(self.projects.items()):
                if subscription.workspace_id == workspace_id:
                    await self._drop_project(pid)
                    await self._send({"type": "access_revoked", "data": {"project_id": pid}})
        if project_id and project_id in self.projects:
            await self._drop_project(project_id)
            await self._send({"type": "access_revoked", "data": {"project_id": project_id}})
