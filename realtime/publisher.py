"""After-commit publishing of logged events to the Channels groups.

Why a per-process queue drained by one background thread: the request thread
only appends to a ``queue.SimpleQueue`` (well under a microsecond) inside its
``on_commit`` callback, so no response ever waits for Redis or for sockets. A
naive ``async_to_sync(group_send)`` in a sync view costs about 6 ms here
(it builds an event loop and a Redis connection per call; MACHINE-LIMITS.md
§4a). This thread owns one event loop for its whole life and awaits the
layer's public ``group_send`` in it, so the channel layer keeps its
per-loop connections between batches, and under load one wake-up drains
several transactions' events.

Order: the messages of a batch are sent one at a time, each awaited before
the next, in the order they were submitted; channels delivers a group's
messages to each member in the order they were sent, so one group's messages
arrive in submission order.

Delivery is best effort by design: a failed send (Redis down, or slower than
``SEND_TIMEOUT``) is logged and counted, never raised into a request, and the
thread goes on with the next batch; the rest of the failed batch is not tried
(counted as failed too), so an unreachable Redis costs one timeout per batch,
not one per message. The event is already durable in the log, and the
consumers fill any gap they see from it, so subscribers still get every event
exactly once, in ``seq`` order. channels-redis reconnects by itself: its
layer for this loop keeps a connection pool, and after a connection error the
next send takes a new connection.

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

from channels.layers import InMemoryChannelLayer, get_channel_layer

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
        # Never closed: the channel layer keys its connections by loop, and this
        # loop lives as long as the process.
        self._own_loop = asyncio.new_event_loop()
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            messages = [message for _, group in batch for message in group]
            progress = _Progress()
            try:
                self._deliver(messages, progress)
            except BaseException:
                # BaseException: a cancelled or timed-out send must not end the thread either.
                failed = len(messages) - progress.sent
                self.failures += failed
                PUBLISH_FAILURES.inc(failed)
                logger.warning("publishing %d event(s) failed; subscribers will refill from the log",
                               failed, exc_info=True)
            else:
                progress.sent = len(messages)
                sent_at = time.monotonic()
                for submitted_at, _ in batch:
                    BROADCAST_LATENCY.observe(sent_at - submitted_at)
            finally:
                self.published += progress.sent
                EVENTS_PUBLISHED.inc(progress.sent)
                with self._pending_lock:
                    self._pending -= len(batch)
                    if self._pending == 0:
                        self._idle.set()

    def _deliver(self, messages: list[tuple[dict, list[str]]], progress: _Progress) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        coro = _send_all(layer, messages, progress)
        if isinstance(layer, InMemoryChannelLayer):
            loop = self._server_loop
            if loop is None or loop.is_closed():
                coro.close()  # no consumer ever ran in this process: nobody to deliver to
                return
            future = asyncio.run_coroutine_threadsafe(coro, loop)
            try:
                future.result(SEND_TIMEOUT)
            except BaseException:
                future.cancel()
                raise
        else:
            self._own_loop.run_until_complete(coro)


class _Progress:
    """How many messages of the batch went to all their groups (read after a failure)."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = 0


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


async def _send_all(layer, messages: list[tuple[dict, list[str]]], progress: _Progress) -> None:
    # One send at a time, in submission order: concurrent sends could overtake
    # one another, and channels keeps a group's order only as sent.
    for envelope, extra in messages:
        message = group_message(envelope)
        for group in groups_for(envelope, extra):
            async with asyncio.timeout(SEND_TIMEOUT):
                await layer.group_send(group, message)
        progress.sent += 1


publisher = Publisher()
