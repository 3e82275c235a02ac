"""Fuzzing the WebSocket protocol: random, malformed, oversized and misdirected frames.

Seeded, so a failure replays. After every hostile frame the test sends a
``ping``: the socket must still answer it, every frame it sent in between must
be a documented one (``error`` with a known code, or a normal reply), and the
consumer task must not have died.
"""

from __future__ import annotations

import json
import os
import random
import uuid

import pytest

from realtime import consumers
from tests.realtime.test_consumers import connect, in_memory_layer  # noqa: F401 (autouse fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ERROR_CODES = {"invalid_json", "invalid", "too_large", "unknown_type", "not_found", "resync_required",
               "rate_limited"}
REPLIES = {"pong", "subscribed", "unsubscribed", "error"}


def hostile_frames(rnd: random.Random, ids: dict[str, list[str]]):
    """Yield ``(text, bytes)`` pairs: one of them set, as a client could send it."""
    junk_values = [None, True, 0, -1, 1.5, 2**63, 10**30, "", "x" * 300, "\x00", "../../etc", [], {}, [1, "a"],
                   {"$ne": 1}, "00000000-0000-0000-0000-000000000000", str(uuid.uuid4()), "NaN"]
    types = ["ping", "subscribe", "unsubscribe", "pong", "event", "", "SUBSCRIBE", "x" * 1000]
    while True:
        kind = rnd.randrange(7)
        if kind == 0:  # random bytes, often not UTF-8
            yield None, bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200)))
        elif kind == 1:  # random text
            yield "".join(chr(rnd.randrange(1, 0x2FFF)) for _ in range(rnd.randrange(0, 200))), None
        elif kind == 2:  # valid JSON that is not an object
            yield json.dumps(rnd.choice([[], [1, 2], "subscribe", 42, None, True, 1e308])), None
        elif kind == 3:  # oversized
            yield json.dumps({"type": "ping", "pad": "x" * (70_000 + rnd.randrange(10_000))}), None
        elif kind == 4:  # truncated or broken JSON
            text = json.dumps({"type": "subscribe", "project_id": rnd.choice(ids["project"])})
            yield text[: rnd.randrange(len(text))], None
        else:  # an object with hostile fields
            frame = {"type": rnd.choice(["subscribe", "unsubscribe", rnd.choice(types + junk_values)])}
            for field, pool in (("project_id", ids["project"]), ("workspace_id", ids["workspace"])):
                if rnd.random() < 0.6:
                    frame[field] = rnd.choice(pool + junk_values)
            if rnd.random() < 0.5:
                frame["since"] = rnd.choice([None, 0, 1, 3, -5, 2**31, 2**63, 10**30, "2", 1.5, True, [], {}])
            if rnd.random() < 0.2:
                frame[rnd.choice(["extra", "type2", "__proto__"])] = rnd.choice(junk_values)
            yield json.dumps(frame), None


async def fuzz(project, other_project, owner, *, frames_count: int, seed: int) -> None:
    ids = {
        "project": [str(project.pk), str(other_project.pk), str(uuid.uuid4())],
        "workspace": [str(project.workspace_id), str(other_project.workspace_id), str(uuid.uuid4())],
    }
    rnd = random.Random(seed)
    communicator = await connect(owner)
    seen: dict[str, int] = {}
    frames = hostile_frames(rnd, ids)
    for number in range(frames_count):
        text, data = next(frames)
        # Straight onto the ASGI queue: send_to() cannot send an empty frame.
        await communicator.send_input({"type": "websocket.receive", "text": text, "bytes": data})
        await communicator.send_json_to({"type": "ping"})
        while True:
            output = await communicator.receive_output(timeout=5)
            assert output["type"] == "websocket.send", f"frame {number} ({(text or data)[:200]!r}) closed: {output}"
            reply = json.loads(output["text"])
            if reply["type"] == "pong":
                break
            if reply["type"] == "error":
                assert reply["code"] in ERROR_CODES, reply
                assert reply["detail"], reply
                seen[reply["code"]] = seen.get(reply["code"], 0) + 1
            else:
                # A successful subscribe may replay logged events of a project the owner can see.
                assert reply["type"] in REPLIES or "seq" in reply, reply
    assert not communicator.future.done(), "the consumer task ended"
    # Still a working socket: a real subscription succeeds.
    await communicator.send_json_to({"type": "subscribe", "project_id": str(project.pk), "since": None})
    while (reply := json.loads(await communicator.receive_from(timeout=5)))["type"] != "subscribed":
        pass
    await communicator.disconnect()
    print(f"\nWebSocket fuzz (seed {seed}): {frames_count} hostile frames, error frames by code: {seen}")
    assert {"invalid_json", "invalid", "too_large", "unknown_type", "not_found"} <= set(seen)


@pytest.fixture
def no_rate_limit(monkeypatch):
    # The inbound rate limit has its own test; here it would drown the fuzz in rate_limited answers.
    monkeypatch.setattr(consumers, "RATE_LIMIT_FRAMES", 10**9)


async def test_hostile_frames_get_error_frames_and_never_kill_the_socket(project, other_project, owner,
                                                                        no_rate_limit):
    await fuzz(project, other_project, owner, frames_count=400, seed=20261129)


@pytest.mark.stress
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_hostile_frames_long_run(project, other_project, owner, no_rate_limit, seed):
    await fuzz(project, other_project, owner, frames_count=int(os.environ.get("TASKHUB_WS_FUZZ_FRAMES", "4000")),
               seed=seed)
