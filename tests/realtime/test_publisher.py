"""``realtime.publisher``: events reach the groups through the channel layer's public ``group_send``.

Each test drives a ``Publisher`` of its own (the process-wide one stays hooked to
the event log for the other tests) and picks the layer with ``override_settings``:
Channels drops its cached layers when ``CHANNEL_LAYERS`` changes, so the
publisher's next batch builds the new one. A receiver is a layer of its own on
the test's loop, joined to its groups before anything is sent (pub/sub keeps
nothing for a late subscriber). Every Redis test uses a channel prefix of its
own: pub/sub channels are shared by every database of a Redis, and other runs
use this one at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import threading
import uuid
from urllib.parse import urlsplit

import pytest
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.test import override_settings
from prometheus_client import REGISTRY

from realtime import publisher as publisher_module
from realtime.publisher import Publisher, group_message, groups_for

PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"
IN_MEMORY = "channels.layers.InMemoryChannelLayer"
needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (CI's PostgreSQL + Redis pass)")


@pytest.fixture
def pub():
    publisher_module.publisher.flush()  # the process-wide one: nothing of an earlier test still moving the metrics
    return Publisher()


@pytest.fixture
def use_layer():
    """``use_layer(backend, **config)``: the default channel layer from now to the end of the test."""
    overrides = []

    def use(backend: str, **config) -> None:
        override = override_settings(CHANNEL_LAYERS={"default": {"BACKEND": backend, "CONFIG": config}})
        override.enable()
        overrides.append(override)

    yield use
    for override in reversed(overrides):
        override.disable()


@pytest.fixture
def prefix():
    return f"test-publisher-{uuid.uuid4().hex}"


@pytest.fixture
def publisher_log(caplog):
    caplog.set_level(logging.WARNING, logger="realtime.publisher")
    return caplog


def envelope(project_id: str, seq: int, type_: str = "task_updated") -> dict:
    return {"type": type_, "project_id": project_id, "workspace_id": "w1", "seq": seq, "data": {"n": seq}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_hosts(form: str) -> list:
    """``REDIS_URL`` in each form of ``hosts`` that channels-redis accepts."""
    url = urlsplit(settings.REDIS_URL)
    return {
        "url": [settings.REDIS_URL],
        "tuple": [(url.hostname, url.port or 6379)],
        "dict": [{"address": settings.REDIS_URL}],
    }[form]


async def joined(layer, *groups: str) -> list[str]:
    """A new channel of ``layer`` in each group, one channel a group."""
    channels = []
    for group in groups:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        channels.append(channel)
    return channels


async def received(layer, channel: str, n: int, timeout: float = 5.0) -> list[dict]:
    return [await asyncio.wait_for(layer.receive(channel), timeout) for _ in range(n)]


async def nothing_received(layer, channel: str, timeout: float = 0.3) -> bool:
    try:
        await asyncio.wait_for(layer.receive(channel), timeout)
    except TimeoutError:
        return True
    return False


async def flushed(pub: Publisher) -> None:
    # From a worker thread: on the in-memory layer the sends run on this very loop.
    assert await asyncio.to_thread(pub.flush, 10.0), "the publisher never went idle"


def metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def logged_failures(caplog) -> int:
    """Events that the publisher's warnings say failed."""
    pattern = re.compile(r"publishing (\d+) event\(s\) failed; subscribers will refill from the log")
    return sum(int(m.group(1)) for record in caplog.records
               if record.name == "realtime.publisher" and (m := pattern.fullmatch(record.getMessage())))


def interleaved(n: int) -> list[tuple[dict, list[str]]]:
    """``n`` events alternating between projects a and b, each also for user u."""
    return [(envelope("ab"[i % 2], i), ["user.u"]) for i in range(n)]


def seqs(messages: list[dict]) -> list[int]:
    return [message["event"]["seq"] for message in messages]


class RelayToRedis:
    """A TCP relay to ``REDIS_URL`` on a port of its own, cut and restored at will.

    It stands for Redis going away and coming back on the same address, for this
    test's connections only: the shared Redis keeps serving everyone else.
    """

    def __init__(self) -> None:
        url = urlsplit(settings.REDIS_URL)
        self.target = (url.hostname, url.port or 6379)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.listening: threading.Event | None = None
        self.acceptor: threading.Thread | None = None

    def start(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: the same port again
        listener.settimeout(0.05)
        self.listening = threading.Event()
        self.listening.set()
        self.acceptor = threading.Thread(target=self._accept, args=(listener, self.listening), daemon=True)
        self.acceptor.start()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones (each end sees the stream end)."""
        self.listening.clear()
        # The listening socket is closed once its thread has left accept(): until then the port
        # is still bound, and a start() right after would fail with "Address already in use".
        self.acceptor.join(timeout=10)
        assert not self.acceptor.is_alive(), "the relay's accept thread did not stop"
        with self.lock:
            for sock in self.sockets:
                _shut(sock)
            self.sockets = []

    def _accept(self, listener: socket.socket, listening: threading.Event) -> None:
        with listener:
            while listening.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                client.settimeout(None)
                upstream = socket.create_connection(self.target)
                with self.lock:
                    self.sockets += [client, upstream]
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _shut(source)
            _shut(sink)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


# --- the message and its audience -----------------------------------------------------------


def test_the_message_carries_the_envelope_and_its_json():
    message = group_message(envelope("p1", 3))
    assert message == {
        "type": "board.event",
        "event": envelope("p1", 3),
        "text": '{"type":"task_updated","project_id":"p1","workspace_id":"w1","seq":3,"data":{"n":3}}',
    }


def test_the_groups_are_the_project_the_workspace_for_its_events_then_the_extras():
    assert groups_for(envelope("p1", 1), ["user.u1", "project.p1"]) == ["project.p1", "user.u1"]
    assert groups_for(envelope("p1", 1, "project_updated"), []) == ["project.p1", "workspace.w1"]
    assert groups_for({"type": "notification_created"}, ["user.u1"]) == ["user.u1"]


# --- Redis pub/sub layer ------------------------------------------------------------------


@pytest.mark.redis
@needs_redis
@pytest.mark.asyncio
@pytest.mark.parametrize("form", ["url", "tuple", "dict"])
async def test_a_member_of_the_group_receives_the_event(form, pub, use_layer, prefix):
    use_layer(PUBSUB, hosts=redis_hosts(form), prefix=prefix)
    receiver = RedisPubSubChannelLayer(hosts=[settings.REDIS_URL], prefix=prefix)
    [member, outsider] = await joined(receiver, "project.p1", "project.p2")

    pub.submit([(envelope("p1", 1), [])])
    await flushed(pub)

    assert await received(receiver, member, 1) == [group_message(envelope("p1", 1))]
    assert await nothing_received(receiver, outsider)
    assert (pub.published, pub.failures) == (1, 0)
    await receiver.flush()


@pytest.mark.redis
@needs_redis
@pytest.mark.asyncio
@pytest.mark.parametrize("transactions", [1, 200], ids=["one-transaction", "200-transactions"])
async def test_each_group_gets_its_messages_in_the_order_submitted(transactions, pub, use_layer, prefix):
    use_layer(PUBSUB, hosts=[settings.REDIS_URL], prefix=prefix)
    receiver = RedisPubSubChannelLayer(hosts=[settings.REDIS_URL], prefix=prefix)
    a, b, user = await joined(receiver, "project.a", "project.b", "user.u")
    messages = interleaved(200)

    per = len(messages) // transactions
    for i in range(transactions):  # back to back: the thread drains several per wake-up
        pub.submit(messages[i * per:(i + 1) * per])
    await flushed(pub)

    assert seqs(await received(receiver, a, 100)) == list(range(0, 200, 2))
    assert seqs(await received(receiver, b, 100)) == list(range(1, 200, 2))
    assert seqs(await received(receiver, user, 200)) == list(range(200))
    assert (pub.published, pub.failures) == (200, 0)
    await receiver.flush()


@pytest.mark.redis
@needs_redis
@pytest.mark.asyncio
async def test_publishing_resumes_by_itself_when_redis_comes_back(pub, use_layer, prefix, publisher_log):
    """channels-redis's layer for the publisher's loop reconnects: no restart, no new layer."""
    relay = RelayToRedis()
    relay.start()
    use_layer(PUBSUB, hosts=[relay.url], prefix=prefix)
    receiver = RedisPubSubChannelLayer(hosts=[settings.REDIS_URL], prefix=prefix)  # not through the relay
    [channel] = await joined(receiver, "project.p1")
    layer = get_channel_layer()

    pub.submit([(envelope("p1", 1), [])])
    await flushed(pub)
    assert seqs(await received(receiver, channel, 1)) == [1]

    relay.stop()
    pub.submit([(envelope("p1", 2), [])])
    await flushed(pub)
    assert (pub.published, pub.failures) == (1, 1)
    assert logged_failures(publisher_log) == 1

    relay.start()
    pub.submit([(envelope("p1", 3), [])])
    await flushed(pub)
    assert seqs(await received(receiver, channel, 1)) == [3]
    assert (pub.published, pub.failures) == (2, 1)
    assert get_channel_layer() is layer
    relay.stop()
    await receiver.flush()


# --- failures (no Redis needed: nothing listens, or nothing answers) -----------------------


@pytest.mark.asyncio
async def test_a_failed_send_is_counted_and_logged_and_later_submits_go_out(pub, use_layer, prefix, publisher_log):
    published_before = metric("events_published_total")
    failures_before = metric("events_publish_failures_total")
    use_layer(PUBSUB, hosts=[f"redis://127.0.0.1:{free_port()}/0"], prefix=prefix)  # a closed port

    pub.submit([(envelope("p1", 1), []), (envelope("p1", 2), ["user.u"])])  # no exception here
    pub.submit([(envelope("p1", 3), [])])
    await flushed(pub)

    assert (pub.published, pub.failures) == (0, 3)
    assert metric("events_publish_failures_total") - failures_before == 3
    assert logged_failures(publisher_log) == 3

    use_layer(IN_MEMORY)
    layer = get_channel_layer()
    pub.bind_server_loop(asyncio.get_running_loop())
    [channel] = await joined(layer, "project.p1")
    pub.submit([(envelope("p1", 4), [])])
    await flushed(pub)
    assert seqs(await received(layer, channel, 1)) == [4]
    assert (pub.published, pub.failures) == (1, 3)
    assert metric("events_published_total") - published_before == 1


@pytest.mark.asyncio
async def test_a_send_that_hangs_times_out_and_the_rest_of_its_batch_is_not_tried(
        pub, use_layer, prefix, publisher_log, monkeypatch):
    monkeypatch.setattr(publisher_module, "SEND_TIMEOUT", 0.3)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (the kernel does), never answers
        use_layer(PUBSUB, hosts=[f"redis://127.0.0.1:{silent.getsockname()[1]}/0"], prefix=prefix)
        pub.submit(interleaved(3))
        await flushed(pub)
    assert (pub.published, pub.failures) == (0, 3)
    assert logged_failures(publisher_log) == 3

    use_layer(IN_MEMORY)
    layer = get_channel_layer()
    pub.bind_server_loop(asyncio.get_running_loop())
    [channel] = await joined(layer, "project.p1")
    pub.submit([(envelope("p1", 4), [])])
    await flushed(pub)
    assert seqs(await received(layer, channel, 1)) == [4]


# --- in-memory layer: sends run on the server's loop -------------------------------------


@pytest.mark.asyncio
async def test_in_memory_a_member_receives_the_event_sent_on_the_server_loop(pub, use_layer):
    use_layer(IN_MEMORY)
    layer = get_channel_layer()
    pub.bind_server_loop(asyncio.get_running_loop())
    [member, outsider] = await joined(layer, "project.p1", "project.p2")

    pub.submit([(envelope("p1", 1), [])])
    await flushed(pub)

    assert await received(layer, member, 1) == [group_message(envelope("p1", 1))]
    assert await nothing_received(layer, outsider)
    assert (pub.published, pub.failures) == (1, 0)


@pytest.mark.asyncio
@pytest.mark.parametrize("transactions", [1, 200], ids=["one-transaction", "200-transactions"])
async def test_in_memory_each_group_gets_its_messages_in_the_order_submitted(transactions, pub, use_layer):
    use_layer(IN_MEMORY, capacity=1000)  # the sends run before the receivers read: room for all 200
    layer = get_channel_layer()
    pub.bind_server_loop(asyncio.get_running_loop())
    a, b, user = await joined(layer, "project.a", "project.b", "user.u")
    messages = interleaved(200)

    per = len(messages) // transactions
    for i in range(transactions):
        pub.submit(messages[i * per:(i + 1) * per])
    await flushed(pub)

    assert seqs(await received(layer, a, 100)) == list(range(0, 200, 2))
    assert seqs(await received(layer, b, 100)) == list(range(1, 200, 2))
    assert seqs(await received(layer, user, 200)) == list(range(200))


def test_in_memory_without_a_server_loop_there_is_nobody_to_send_to(pub, use_layer):
    use_layer(IN_MEMORY)
    pub.submit([(envelope("p1", 1), [])])
    assert pub.flush(5.0)
    assert pub.failures == 0
