"""Scale-out on the real parts: three ASGI processes behind nginx, PgBouncer, two Redis shards.

The cluster: three uvicorn processes (production's WebSocket server, one
process each) reach PostgreSQL only through PgBouncer in transaction mode
(so server-side binding off, ``DB_SERVER_SIDE_BINDING=0``, and no server-side
cursors) and carry events over a channel layer sharded by channels-redis
itself across two ``redis-server`` processes this test starts. nginx, with
production's configuration (deploy/nginx.conf.template), serves them all on
one port. Sockets sit on every process, some reached directly
and some through nginx; writes go to every process.

- A write through any process reaches every socket on every process, each
  event once, in ``seq`` order.
- Killing the Redis shard that carries the project's group and then one of
  the server processes loses nothing the event log cannot replay: sockets that
  stayed open fill the gap from the log (on the next event or heartbeat), and
  the one whose process died reconnects through nginx with ``since`` and gets
  the rest, exactly once, in order.

Runs on PostgreSQL + Redis only (the second pass of CI): with the embedded
default each process has its own in-memory channel layer, by design.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.db import connection
from websockets.exceptions import ConnectionClosed

from accounts.services import token_create
from deploy.prod import PROXY_ADDRESS
from projects.models import ProjectCounters
from realtime.consumers import GAP_WAIT_SECONDS
from realtime.events import project_group
from tests import factories
from tests.live.cluster import Nginx, PgBouncer, RedisServer
from tests.live.servers import Server, board_subscribe, events_until, needs_pg_redis, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), needs_pg_redis]

PROCESSES = 3
HEARTBEAT_SECONDS = 2  # production's is 30; a quiet socket learns of a gap within one beat
# Long enough for a gap to be filled: a beat, the wait for a late message, and slack.
CATCH_UP_SECONDS = HEARTBEAT_SECONDS + GAP_WAIT_SECONDS + 10


@dataclass
class Cluster:
    processes: list[Server]
    front: Server  # nginx, addressed like a server
    shards: list[RedisServer]
    bouncer: PgBouncer
    nginx: Nginx

    @property
    def prefix(self) -> str:
        return settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]

    def shard_of(self, group: str) -> RedisServer:
        """The shard that carries ``group``, seen from Redis: the one where the processes subscribed to it."""
        channel = f"{self.prefix}__group__{group}"
        holding = [shard for shard in self.shards if shard.subscribers(channel)]
        assert len(holding) == 1, (channel, [shard.channels() for shard in self.shards])
        return holding[0]


@pytest.fixture
def cluster(tmp_path):
    """Two Redis shards, PgBouncer, three uvicorn processes through them, nginx in front; all stopped after."""
    shards = [RedisServer(tmp_path / f"redis-{i}.log").start() for i in range(2)]
    db = connection.settings_dict
    bouncer = PgBouncer(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432), db["NAME"], db["USER"]).start()
    env = {
        "DATABASE_URL": bouncer.url(),
        "DB_SERVER_SIDE_BINDING": "0",
        "DB_DISABLE_SERVER_SIDE_CURSORS": "1",
        "DB_POOL_MAX": "4",
        "CHANNEL_REDIS_URLS": ",".join(shard.url for shard in shards),
        "TASKHUB_WS_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "TASKHUB_TRUSTED_PROXIES": PROXY_ADDRESS,  # nginx's address towards them, as in production
    }
    processes = [Server(kind="uvicorn", env=env, log_path=tmp_path / f"uvicorn-{i}.log") for i in range(PROCESSES)]
    nginx = None
    try:
        for process in processes:  # started together: each takes seconds to import Django
            process.spawn()
        for process in processes:
            process.wait_ready(60)
        nginx = Nginx([process.port for process in processes]).start()
        yield Cluster(processes, Server(port=nginx.port), shards, bouncer, nginx)
    finally:
        # The servers go first: they hold connections through PgBouncer and to the shards.
        for process in processes:
            process.stop()
        if nginx is not None:
            nginx.stop()
        bouncer.stop()
        for shard in shards:
            shard.kill()


def _last_seq(project) -> int:
    return ProjectCounters.objects.values_list("last_seq", flat=True).get(project_id=project.pk)


def _summary(frames: list[dict]) -> list[tuple]:
    """What a socket saw, comparable across sockets: (seq, type, task key)."""
    return [(f["seq"], f["type"], (f["data"].get("task") or {}).get("key")) for f in frames]


def test_writes_through_every_process_reach_every_socket_on_every_process_in_order(project, owner, cluster):
    token, _ = token_create(email=owner.email, password=factories.PASSWORD)
    transactions_before = cluster.bouncer.transactions()
    entries = [*cluster.processes, cluster.front]
    with ExitStack() as stack:
        # Two sockets on each process, reached directly, and three through nginx.
        sockets = []
        for entry in [*cluster.processes, *cluster.processes, cluster.front, cluster.front, cluster.front]:
            ws, replayed, subscribed = stack.enter_context(board_subscribe(entry, token, project.pk))
            assert replayed == []
            sockets.append((ws, subscribed["seq"]))
        start = sockets[0][1]
        assert {seq for _, seq in sockets} == {start}
        # channels-redis spread the layer over both shards: each holds some of the processes'
        # subscriptions (the sockets' own channels and the groups, each hashed to one shard).
        for shard in cluster.shards:
            assert shard.channels(f"{cluster.prefix}*"), [s.channels() for s in cluster.shards]
        cluster.shard_of(project_group(project.pk))

        # Writers on every process and through nginx at once.
        keys: dict[int, list[str]] = {i: [] for i in range(len(entries))}
        failures: list = []

        def write(i: int, entry: Server) -> None:
            for n in range(6):
                response = entry.call("POST", f"/projects/{project.pk}/tasks", token, {"title": f"p{i}-{n}"})
                if response.status != 201:
                    failures.append(response)
                    return
                keys[i].append(response.body["key"])

        writers = [threading.Thread(target=write, args=(i, entry)) for i, entry in enumerate(entries)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(timeout=60)
        assert not failures, failures
        final = _last_seq(project)
        seen = [events_until(ws, final, timeout=CATCH_UP_SECONDS) for ws, _ in sockets]

    expected = list(range(start + 1, final + 1))
    all_keys = sorted(key for written in keys.values() for key in written)
    assert len(all_keys) == 6 * len(entries)
    for frames in seen:
        assert [f["seq"] for f in frames] == expected  # none missed, none twice, in order
        assert sorted(f["data"]["task"]["key"] for f in frames if f["type"] == "task_created") == all_keys
    # Every socket saw the same stream, whichever process it is on.
    assert all(_summary(frames) == _summary(seen[0]) for frames in seen)
    # Each writer's tasks appear in the order its writes were answered.
    created = [f["data"]["task"]["key"] for f in seen[0] if f["type"] == "task_created"]
    for written in keys.values():
        assert [key for key in created if key in written] == written
    # The processes reached PostgreSQL through PgBouncer, in transaction mode.
    assert cluster.bouncer.transactions() - transactions_before >= len(all_keys)
    pools = [row for row in cluster.bouncer.show("POOLS") if row["database"] == connection.settings_dict["NAME"]]
    assert pools and {row["pool_mode"] for row in pools} == {"transaction"}


class Follower:
    """A client following the project's events as a browser does: when its socket closes, it reconnects
    through nginx with ``since`` = the last seq it saw. ``frames`` is everything it got, replayed or live."""

    def __init__(self, stack: ExitStack, entry: Server, front: Server, token: str, project_id) -> None:
        self.stack, self.front, self.token, self.project_id = stack, front, token, project_id
        self.ws, replayed, subscribed = stack.enter_context(board_subscribe(entry, token, project_id))
        assert replayed == []
        self.start = subscribed["seq"]
        self.frames: list[dict] = []
        self.reconnects: list[int] = []  # how many events each reconnect replayed

    @property
    def last_seq(self) -> int:
        return self.frames[-1]["seq"] if self.frames else self.start

    def until(self, seq: int, timeout: float = CATCH_UP_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while self.last_seq < seq:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"waited {timeout} s for seq {seq}; got up to {self.last_seq}")
            try:
                frame = json.loads(self.ws.recv(timeout=remaining))
            except TimeoutError:
                continue
            except ConnectionClosed:
                self.ws, replayed, _ = self.stack.enter_context(
                    board_subscribe(self.front, self.token, self.project_id, since=self.last_seq))
                self.reconnects.append(len(replayed))
                self.frames += replayed
                continue
            if "seq" in frame and frame["type"] != "heartbeat":
                self.frames.append(frame)


def test_a_killed_redis_shard_and_a_killed_process_lose_nothing_the_log_cannot_replay(project, owner, cluster):
    token, _ = token_create(email=owner.email, password=factories.PASSWORD)
    doomed, *survivors = cluster.processes
    keys: list[str] = []  # the created tasks, in the order the writes were answered
    failures: list = []
    stop = threading.Event()
    targets = itertools.cycle(survivors)

    def write() -> None:  # one writer, so the answers' order is the seq order
        while not stop.is_set():
            response = next(targets).call("POST", f"/projects/{project.pk}/tasks", token,
                                          {"title": f"t{len(keys)}"})
            if response.status != 201:
                failures.append(response)
                return
            keys.append(response.body["key"])

    def writes_go_on(count: int) -> None:
        target = len(keys) + count
        wait_until(lambda: failures or len(keys) >= target, timeout=30, what=f"{count} more writes")
        assert not failures, failures

    writer = threading.Thread(target=write, name="writer")
    with ExitStack() as stack:
        # A socket on the process that will die, one on each survivor, one through nginx (on any of them).
        on_doomed = Follower(stack, doomed, cluster.front, token, project.pk)
        others = [Follower(stack, entry, cluster.front, token, project.pk) for entry in (*survivors, cluster.front)]
        followers = [on_doomed, *others]
        start = on_doomed.start
        assert {f.start for f in followers} == {start}
        shard = cluster.shard_of(project_group(project.pk))
        try:
            writer.start()
            writes_go_on(4)
            live_until = _last_seq(project)
            for follower in followers:
                follower.until(live_until)

            # The shard carrying the project's group dies: the writes go on (the log is in
            # PostgreSQL), their events reach no socket live.
            shard.kill()
            writes_go_on(4)
            # Then the process holding the first socket dies too (and whichever socket nginx gave it).
            doomed.kill()
            writes_go_on(3)

            # The shard comes back on its port, empty; the processes resubscribe by themselves.
            shard.start()
            channel = f"{cluster.prefix}__group__{project_group(project.pk)}"
            wait_until(lambda: shard.subscribers(channel) >= len(survivors), timeout=20,
                       what="the survivors to resubscribe to the project's group")
            # The first client finds its socket closed and reconnects through nginx from its last seq.
            on_doomed.until(_last_seq(project))
            writes_go_on(3)
        finally:
            stop.set()
            if writer.ident is not None:
                writer.join(timeout=30)
        assert not failures, failures
        final = _last_seq(project)
        for follower in followers:
            follower.until(final)

    expected = list(range(start + 1, final + 1))
    assert final > live_until + 10
    assert len(on_doomed.reconnects) == 1
    assert on_doomed.reconnects[0] > 0, "the reconnect replayed nothing: nothing was missed, so nothing was tested"
    for follower in followers:
        assert [f["seq"] for f in follower.frames] == expected  # each once, in order, reconnected or not
        assert [f["data"]["task"]["key"] for f in follower.frames if f["type"] == "task_created"] == keys
        assert _summary(follower.frames) == _summary(on_doomed.frames)
    # The sockets reached directly on the survivors stayed open through it all.
    assert [f.reconnects for f in others[:len(survivors)]] == [[]] * len(survivors)
