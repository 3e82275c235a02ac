"""Presence and typing (API.md "Presence and typing"): who has a project's board or one of its tasks open.

Ephemeral: no ``seq``, not logged. The state is one entry per socket and project (the task it shows,
``viewing``/``editing``/``typing``, since when, and a deadline), renewed by the socket's heartbeats:

- with ``REDIS_URL`` set, a Redis hash per project (``<prefix>:presence:<project_id>``, one field per
  socket), shared by every server process, so a user announcing on one process is seen by a subscriber
  on another;
- on the embedded default, a dict in this process (guarded by a lock: the REST view reads it from
  its thread).

The set shown to clients is one entry per user and task, their most recent state, without the entries
whose deadline has passed. It is sent to the project's group only when this process changed it, at
most once per ``COALESCE_SECONDS`` per project and process (``PresenceHub``): a burst of heartbeats
changes nothing and sends nothing, a burst of changes sends one frame. A socket that closes removes
its entries at once; the entries of a server that died expire, and the hub of every process with
subscribers of the project sweeps them, so they are gone within the deadline (plus a sweep
interval, a quarter of it at most).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import weakref
from dataclasses import asdict, dataclass

from django.conf import settings

logger = logging.getLogger(__name__)

STATES = ("viewing", "editing", "typing")
COALESCE_SECONDS = 0.25


def ttl() -> float:
    """How long an entry lives without a renewal (60 s; ``TASKHUB_PRESENCE_TTL_SECONDS``)."""
    return settings.TASKHUB_PRESENCE_TTL_SECONDS


def renew_every() -> float:
    """A heartbeat that changes nothing is written at most this often: the entry keeps most of its deadline."""
    return ttl() / 6


def sweep_every() -> float:
    return min(5.0, ttl() / 4)


@dataclass
class Entry:
    """One socket's presence in one project."""

    user_id: str
    display_name: str
    task_id: str | None
    state: str
    since: float  # when this task and state began (epoch seconds)
    deadline: float  # epoch seconds; renewed by heartbeats

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw) -> Entry | None:
        try:
            return cls(**json.loads(raw))
        except (TypeError, ValueError):
            return None


def visible(entries: dict[str, Entry], now: float | None = None) -> list[dict]:
    """The frame's ``users``: one per user and task, their most recent state, live entries only.

    Sorted by ``since``, then user and task, so two processes render the same set alike.
    """
    now = time.time() if now is None else now
    best: dict[tuple[str, str | None], Entry] = {}
    for entry in entries.values():
        if entry.deadline <= now:
            continue
        key = (entry.user_id, entry.task_id)
        if key not in best or entry.since > best[key].since:
            best[key] = entry
    ordered = sorted(best.values(), key=lambda e: (e.since, e.user_id, e.task_id or ""))
    return [{"user": {"id": e.user_id, "display_name": e.display_name}, "task_id": e.task_id, "state": e.state,
             "since": _iso(e.since)} for e in ordered]


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


def frame(project_id: str, users: list[dict]) -> dict:
    return {"type": "presence", "project_id": project_id, "data": {"users": users}}


# --- the stores -----------------------------------------------------------------------------------------


class LocalStore:
    """The embedded default's store: ``{project_id: {socket: Entry}}`` in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._projects: dict[str, dict[str, Entry]] = {}

    async def put(self, project_id: str, socket: str, entry: Entry) -> None:
        with self._lock:
            self._projects.setdefault(project_id, {})[socket] = entry

    async def remove(self, project_id: str, socket: str) -> None:
        with self._lock:
            entries = self._projects.get(project_id)
            if entries is not None:
                entries.pop(socket, None)
                if not entries:
                    del self._projects[project_id]

    async def entries(self, project_id: str) -> dict[str, Entry]:
        return self.entries_now(project_id)

    async def sweep(self, project_id: str) -> int:
        now = time.time()
        with self._lock:
            entries = self._projects.get(project_id, {})
            expired = [socket for socket, entry in entries.items() if entry.deadline <= now]
            for socket in expired:
                del entries[socket]
            return len(expired)

    def entries_now(self, project_id: str) -> dict[str, Entry]:
        with self._lock:
            return dict(self._projects.get(project_id, {}))


class RedisStore:
    """One Redis hash per project, one field per socket; shared by every server process.

    An asyncio client per event loop (redis-py's asyncio connections belong to the loop that made
    them), and a plain client for the REST view's thread. The hash itself expires a while after its
    last write, so a project nobody watches leaves nothing behind.
    """

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._sync = None
        self._sync_lock = threading.Lock()

    def key(self, project_id: str) -> str:
        return f"{self.prefix}:presence:{project_id}"

    def _client(self):
        import redis.asyncio

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = redis.asyncio.Redis.from_url(
                self.url, socket_timeout=1.0, socket_connect_timeout=1.0)
        return client

    async def put(self, project_id: str, socket: str, entry: Entry) -> None:
        key = self.key(project_id)
        async with self._client().pipeline(transaction=False) as pipe:
            pipe.hset(key, socket, entry.to_json())
            pipe.expire(key, int(ttl() * 2) + 1)
            await pipe.execute()

    async def remove(self, project_id: str, socket: str) -> None:
        await self._client().hdel(self.key(project_id), socket)

    async def entries(self, project_id: str) -> dict[str, Entry]:
        raw = await self._client().hgetall(self.key(project_id))
        return _decode(raw)

    async def sweep(self, project_id: str) -> int:
        now = time.time()
        expired = [socket for socket, entry in (await self.entries(project_id)).items() if entry.deadline <= now]
        if expired:
            await self._client().hdel(self.key(project_id), *expired)
        return len(expired)

    def entries_now(self, project_id: str) -> dict[str, Entry]:
        import redis

        with self._sync_lock:
            if self._sync is None:
                self._sync = redis.Redis.from_url(self.url, socket_timeout=1.0, socket_connect_timeout=1.0)
        return _decode(self._sync.hgetall(self.key(project_id)))


def _decode(raw: dict) -> dict[str, Entry]:
    found = {}
    for socket, value in raw.items():
        entry = Entry.from_json(value)
        if entry is not None:
            found[socket.decode() if isinstance(socket, bytes) else socket] = entry
    return found


_store = None
_store_lock = threading.Lock()


def store():
    """This process's store: Redis when ``REDIS_URL`` is set, else the in-process one."""
    global _store
    with _store_lock:
        if _store is None:
            url = settings.REDIS_URL
            _store = RedisStore(url, settings.CACHE_KEY_PREFIX) if url else LocalStore()
        return _store


def reset_store() -> None:
    """Forget the store (tests that switch settings)."""
    global _store
    with _store_lock:
        _store = None


def presence_now(*, project_id) -> list[dict]:
    """The project's presence as ``GET /projects/{id}/presence`` shows it (the caller checked access)."""
    try:
        return visible(store().entries_now(str(project_id)))
    except Exception:  # Redis down: presence is best effort; nobody is shown
        logger.warning("presence read failed", exc_info=True)
        return []


# --- one process's side: coalesced broadcasts and the sweep ------------------------------------------------


class PresenceHub:
    """The presence work of one event loop's sockets (one server process's, in production).

    ``changed(project)`` after this process changed a project's entries: within ``COALESCE_SECONDS``
    one read of the store and, if the set differs from the last one the project's group was sent, one
    ``group_send`` of the frame. The sweep runs every ``sweep_every()`` seconds while sockets are
    connected, over the projects they follow, and removes the entries past their deadline (a server
    that died, a client that stopped renewing), then broadcasts as for a change.
    """

    def __init__(self, send) -> None:
        self.send = send  # async (project_id, frame) -> None: the group_send
        self.consumers: weakref.WeakSet = weakref.WeakSet()
        self.pending: dict[str, asyncio.Task] = {}
        self.last_sent: dict[str, list[dict]] = {}
        self.sweeper: asyncio.Task | None = None
        self.frames_sent = 0

    def join(self, consumer) -> None:
        self.consumers.add(consumer)
        if self.sweeper is None or self.sweeper.done():
            self.sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    def leave(self, consumer) -> None:
        self.consumers.discard(consumer)
        if not self.consumers and self.sweeper is not None:
            self.sweeper.cancel()
            self.sweeper = None

    def seen(self, project_id: str, users: list[dict]) -> None:
        """A frame reached a socket here (from any process): what the group was last sent."""
        self.last_sent[project_id] = users

    def changed(self, project_id: str) -> None:
        if project_id in self.pending and not self.pending[project_id].done():
            return  # already due: it reads the store after this change too
        self.pending[project_id] = asyncio.get_running_loop().create_task(self._broadcast_soon(project_id))

    async def _broadcast_soon(self, project_id: str) -> None:
        await asyncio.sleep(COALESCE_SECONDS)
        self.pending.pop(project_id, None)
        try:
            users = visible(await store().entries(project_id))
            if users == self.last_sent.get(project_id):
                return
            self.last_sent[project_id] = users
            self.frames_sent += 1
            await self.send(project_id, frame(project_id, users))
        except Exception:  # Redis down or a send failed: presence is best effort
            logger.warning("presence broadcast failed", exc_info=True)

    async def sweep(self) -> None:
        projects = {pid for consumer in list(self.consumers) for pid in getattr(consumer, "projects", {})}
        for project_id in projects:
            try:
                if await store().sweep(project_id):
                    self.changed(project_id)
            except Exception:
                logger.warning("presence sweep failed", exc_info=True)

    async def _sweep_forever(self) -> None:
        while self.consumers:
            await asyncio.sleep(sweep_every())
            await self.sweep()


_hubs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def hub_of_this_loop(send) -> PresenceHub:
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = PresenceHub(send)
    return found
