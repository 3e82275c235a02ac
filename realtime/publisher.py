"""After-commit publishing of logged events to the Channels groups.

Why a per-process queue drained by one background thread: the request thread
only appends to a ``queue.SimpleQueue`` (well under a microsecond) inside its
``on_commit`` callback, so no response ever waits for Redis or for sockets. A
naive ``async_to_sync(group_send)`` in a sync view costs about 6 ms here
(it builds an event loop and a Redis connection per call; MACHINE-LIMITS.md
§4a); a long-lived loop in one thread keeps its connections, and under load it
drains several transactions' events per wake-up.

Delivery is best effort by design: a failed send (Redis down) is logged and
counted, never raised into a request. The event is already durable in the
log, and the consumers fill any gap they see from it, so subscribers still get
every event exactly once, in ``seq`` order.

With the in-memory channel layer (``make run``, tests) the groups live in the
event loop of this process's ASGI server, so sends are handed to that loop,
which the consumers register when they connect.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
from collections.abc import Iterable

import redis
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import _consistent_hash, decode_hosts
from django.conf import settings

from realtime import events as event_log
from taskhub.metrics import BROADCAST_LATENCY, EVENTS_PUBLISHED, PUBLISH_FAILURES

logger = logging.getLogger(__name__)

MAX_BATCH = 500
SEND_TIMEOUT = 5.0


class Publisher:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._server_loop: asyncio.AbstractEventLoop | None = None
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._redis_clients: list | None = None
        self.published = 0
        self.failures = 0
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0
        self._pending_lock = threading.Lock()

    # --- called from request threads (after commit) ------------------------------------

    def submit(self, messages: list[tuple[dict, list[str]]]) -> None:
        """Queue ``[(envelope, extra_groups), ...]``; returns at once."""
        if not messages:
            return
        with self._pending_lock:
            self._pending += 1
            self._idle.clear()
        self._queue.put((time.monotonic(), messages))
        if self._thread is None:
            self._start()

    # --- called from consumers ------------------------------------------------------------------

    def bind_server_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the ASGI server's loop: in-memory layer sends must run there."""
        self._server_loop = loop

    # --- tests and shutdown -------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far has been sent (or has failed)."""
        return self._idle.wait(timeout)

    # --- the background thread -------------------------------------------------------------

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="taskhub-publisher", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        self._own_loop = asyncio.new_event_loop()
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            messages = [message for _, group in batch for message in group]
            try:
                self._deliver(messages)
            except Exception:
                self.failures += len(messages)
                PUBLISH_FAILURES.inc(len(messages))
                logger.warning("publishing %d event(s) failed; subscribers will refill from the log",
                               len(messages), exc_info=True)
            else:
                self.published += len(messages)
                EVENTS_PUBLISHED.inc(len(messages))
                sent_at = time.monotonic()
                for submitted_at, _ in batch:
                    BROADCAST_LATENCY.observe(sent_at - submitted_at)
            finally:
                with self._pending_lock:
                    self._pending -= len(batch)
                    if self._pending == 0:
                        self._idle.set()

    def _deliver(self, messages: list[tuple[dict, list[str]]]) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        if isinstance(layer, RedisPubSubChannelLayer):
            self._publish_pubsub(layer, messages)
            return
        coro = _send_all(layer, messages)
        if isinstance(layer, InMemoryChannelLayer):
            loop = self._server_loop
            if loop is None or loop.is_closed():
                coro.close()  # no consumer ever ran in this process: nobody to deliver to
                return
            asyncio.run_coroutine_threadsafe(coro, loop).result(SEND_TIMEOUT)
        else:
            self._own_loop.run_until_complete(asyncio.wait_for(coro, SEND_TIMEOUT))


    def _publish_pubsub(self, layer: RedisPubSubChannelLayer, messages: list[tuple[dict, list[str]]]) -> None:
        """``group_send`` for channels-redis' pub/sub layer as one pipelined round trip per Redis host.

        Same channel names and wire format as ``RedisPubSubLoopLayer.group_send``
        (``<prefix>__group__<group>``, ``layer.serialize``), so every consumer in
        every process receives it as usual, but from a plain redis-py client:
        about 0.1 ms a batch against about 0.5 ms a message through asyncio
        (MACHINE-LIMITS.md §2d, §4a).
        """
        config = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
        hosts = decode_hosts(config.get("hosts"))
        prefix = config.get("prefix", "asgi")
        if self._redis_clients is None:
            self._redis_clients = [
                redis.Redis.from_url(host["address"], socket_timeout=SEND_TIMEOUT, socket_connect_timeout=SEND_TIMEOUT)
                for host in hosts
            ]
        pipes = [client.pipeline(transaction=False) for client in self._redis_clients]
        for envelope, extra in messages:
            payload = layer.serialize(group_message(envelope))
            for group in groups_for(envelope, extra):
                channel = f"{prefix}__group__{group}"
                pipes[_consistent_hash(channel, len(pipes))].publish(channel, payload)
        for pipe in pipes:
            pipe.execute()


def group_message(envelope: dict) -> dict:
    """The layer message: the envelope, and its JSON text made once here rather than once per socket."""
    return {"type": "board.event", "event": envelope, "text": json.dumps(envelope, separators=(",", ":"))}


def groups_for(envelope: dict, extra: Iterable[str]) -> list[str]:
    """The project's group (when the event has a project), then the extra audience."""
    groups = []
    if envelope.get("project_id"):
        groups.append(event_log.project_group(envelope["project_id"]))
    if envelope["type"] in event_log.WORKSPACE_EVENT_TYPES and envelope.get("workspace_id"):
        groups.append(event_log.workspace_group(envelope["workspace_id"]))
    for group in extra:
        if group not in groups:
            groups.append(group)
    return groups


async def _send_all(layer, messages: list[tuple[dict, list[str]]]) -> None:
    # One message at a time, in log order: channels delivers a group's messages
    # to each member in the order they were sent.
    for envelope, extra in messages:
        message = group_message(envelope)
        for group in groups_for(envelope, extra):
            await layer.group_send(group, message)


publisher = Publisher()
