"""Concurrent writers through the production setup: the REST API on gunicorn, the sockets on daphne.

Fifty HTTP clients create, move, patch, archive, restore and delete tasks of
one project at the same time, each picking tasks the others created, so real
conflicts happen: two moves of one card, a move of a card just deleted, a
PATCH whose If-Match another client just made stale. Races may only end in the
answers the contract gives them (a 404 for a task already deleted, a 412 for a
stale If-Match...): never a 5xx, never anything else. Afterwards the project
must be exactly what its log says: task numbers unique and gap-free from 1,
counters equal to a recount, the derived status equal to the rule applied to
that recount, a gap-free event log, and a socket that was subscribed
throughout received every event of it exactly once, in order.

``tests/test_concurrency.py`` checks the same invariants with threads inside
one process; this runs the real processes, connections and channel layer.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest

from accounts.services import token_create
from projects.management.commands.recount import recount_project
from projects.models import COUNT_FIELDS, ProjectCounters, Status, derived_status
from realtime.models import Event
from tasks.models import Task
from tests import factories
from tests.live.servers import Response, Server, needs_pg_redis

pytestmark = [pytest.mark.django_db(transaction=True), needs_pg_redis]

CLIENTS = 50
# gunicorn as production runs it: several processes, several threads each, so requests overlap.
GUNICORN_WORKERS, GUNICORN_THREADS = 4, 4

# Every answer a race may legitimately give, by operation (API.md). Anything else fails the test.
EXPECTED = {
    "create": {201},
    "create_subtask": {201, 422},  # 422: the parent was deleted meanwhile
    "comment": {201, 404},
    "move": {200, 404, 409},  # 404: deleted meanwhile; 409: archived meanwhile
    "move_next_to": {200, 404, 409, 422},  # 422: the neighbour moved, was archived or deleted meanwhile
    "patch": {200, 404},
    "patch_if_match": {200, 404, 412},  # 412: someone else wrote since this client last saw the task
    "archive": {200, 404, 409},  # 409: already archived
    "restore": {200, 404, 409},  # 409: not archived (restored meanwhile)
    "delete": {204, 404},
}
WEIGHTS = {
    "create": 25, "create_subtask": 5, "comment": 5, "move": 20, "move_next_to": 10, "patch": 8,
    "patch_if_match": 10, "archive": 7, "restore": 5, "delete": 10,
}


def header(response: Response, name: str) -> str | None:
    """A response header by case-insensitive name (servers differ in how they spell them)."""
    return next((value for key, value in response.headers.items() if key.lower() == name.lower()), None)


@dataclass
class Board:
    """What the clients have learnt about the project's tasks, shared between them (and often stale)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    versions: dict[str, int] = field(default_factory=dict)  # task id -> the last version a client saw
    columns: dict[str, str] = field(default_factory=dict)  # task id -> the last status id a client saw
    archived: set[str] = field(default_factory=set)

    def saw(self, task: dict) -> None:
        with self.lock:
            self.versions[task["id"]] = task["version"]
            self.columns[task["id"]] = task["status"]["id"]
            if task["archived_at"]:
                self.archived.add(task["id"])
            else:
                self.archived.discard(task["id"])

    def forget(self, task_id: str) -> None:
        with self.lock:
            self.versions.pop(task_id, None)
            self.columns.pop(task_id, None)
            self.archived.discard(task_id)

    def pick(self, rng: random.Random, *, archived: bool = False) -> tuple[str, int, str] | None:
        """A known task: its id, the version and the status id a client last saw."""
        with self.lock:
            pool = sorted(self.archived) if archived and self.archived else sorted(self.versions)
            if not pool:
                return None
            task_id = rng.choice(pool)
            return task_id, self.versions[task_id], self.columns[task_id]


@dataclass
class Tally:
    """Every answer of the run, by operation and status; the unexpected ones in full."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter = field(default_factory=Counter)
    unexpected: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    created: list = field(default_factory=list)  # the created tasks' keys, from the 201 answers

    def record(self, op: str, response: Response, body) -> None:
        with self.lock:
            self.statuses[(op, response.status)] += 1
            if response.status not in EXPECTED[op]:
                self.unexpected.append((op, response.status, body, response.body))
            if op.startswith("create") and response.status == 201:
                self.created.append(response.body["key"])


class SocketReader(threading.Thread):
    """Reads every frame of one subscribed socket, all the time, so the server never waits on it."""

    def __init__(self, ws):
        super().__init__(daemon=True)
        self.ws = ws
        self.frames: list[dict] = []
        self.stop = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    raw = self.ws.recv(timeout=0.2)
                except TimeoutError:
                    continue
                self.frames.append(json.loads(raw))
        except BaseException as exc:  # reported by the test
            self.failure = exc

    def wait_for_seq(self, seq: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.failure is None:
            if any(frame.get("seq", 0) >= seq for frame in self.frames):
                return
            time.sleep(0.1)


def run_client(n: int, *, ops: int, seed: int, server: Server, token: str, project_id: str,
               columns: list[str], board: Board, tally: Tally, start: threading.Barrier) -> None:
    rng = random.Random(seed * 1000 + n)
    kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
    try:
        start.wait(timeout=60)
        for i in range(ops):
            op = "create" if i == 0 else rng.choices(kinds, weights)[0]
            picked = None if op == "create" else board.pick(rng, archived=op == "restore")
            if picked is None:
                op = "create"
            headers, body = {}, None
            if op == "create":
                body = {"title": f"client {n} op {i}", "status_id": rng.choice(columns)}
                method, path = "POST", f"/projects/{project_id}/tasks"
            else:
                task_id, version, _ = picked
                method, path = "POST", f"/tasks/{task_id}/{op}"
                if op == "create_subtask":
                    method, path = "POST", f"/projects/{project_id}/tasks"
                    body = {"title": f"client {n} op {i}", "parent_id": task_id}
                elif op == "comment":
                    path, body = f"/tasks/{task_id}/comments", {"body": f"client {n} op {i}"}
                elif op == "move":
                    body = {"status_id": rng.choice(columns)}
                elif op == "move_next_to":
                    # Into the column where the neighbour was last seen, just below or above it.
                    neighbour = board.pick(rng)
                    if neighbour is None or neighbour[0] == task_id:
                        op, body = "move", {"status_id": rng.choice(columns)}
                    else:
                        side = "after_id" if rng.random() < 0.5 else "before_id"
                        body = {"status_id": neighbour[2], side: neighbour[0]}
                    path = f"/tasks/{task_id}/move"
                elif op in ("patch", "patch_if_match"):
                    method, path = "PATCH", f"/tasks/{task_id}"
                    body = rng.choice([{"title": f"renamed by {n} at {i}"}, {"priority": "high"},
                                       {"status_id": rng.choice(columns)}])
                    if op == "patch_if_match":
                        headers = {"If-Match": f'"{version}"'}
                elif op == "delete":
                    method, path = "DELETE", f"/tasks/{task_id}"
            response = server.call(method, path, token, body, headers=headers, timeout=60)
            tally.record(op, response, body)
            if response.status in (200, 201, 412) and isinstance(response.body, dict) and "version" in response.body:
                board.saw(response.body)
            elif response.status in (204, 404) and not op.startswith("create"):
                board.forget(picked[0])
    except BaseException as exc:  # reported by the test
        with tally.lock:
            tally.errors.append(f"client {n}: {exc!r}")


def check_status_chain(events: list[Event], initial: str) -> str:
    """Each ``project_status_changed`` starts where the previous one ended; returns the final status."""
    current = initial
    for event in events:
        if event.type == "project_status_changed":
            assert event.data["old"] == current, f"seq {event.seq}: old {event.data['old']}, expected {current}"
            assert event.data["new"] != current, f"seq {event.seq}: a status change to the same status"
            current = event.data["new"]
    return current


@pytest.mark.parametrize("ops", [6, pytest.param(40, marks=pytest.mark.stress, id="stress")])
def test_concurrent_writers_through_gunicorn_and_daphne(ops, project, owner, editor, servers, tmp_path):
    from websockets.sync.client import connect

    api = servers(Server(kind="gunicorn", workers=GUNICORN_WORKERS, threads=GUNICORN_THREADS,
                         log_path=tmp_path / "gunicorn.log"))
    ws_server = servers(Server(kind="daphne", log_path=tmp_path / "daphne.log"))
    project_id = str(project.pk)
    columns = [str(pk) for pk in Status.objects.filter(project=project).values_list("pk", flat=True)]
    # One token per client, half of them the workspace owner's and half a project member's.
    tokens = [token_create(email=(owner, editor)[n % 2].email, password=factories.PASSWORD)[0]
              for n in range(CLIENTS)]
    before = api.call("GET", f"/projects/{project_id}", tokens[0])
    assert before.status == 200, before
    seq_before = ProjectCounters.objects.get(pk=project.pk).last_seq

    ticket = ws_server.call("POST", "/realtime/ticket", tokens[0]).body["ticket"]
    with connect(ws_server.ws_url(ticket), origin=ws_server.base, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "subscribe", "project_id": project_id, "since": None}))
        subscribed = json.loads(ws.recv(timeout=10))
        assert subscribed == {"type": "subscribed", "project_id": project_id, "seq": seq_before}
        reader = SocketReader(ws)
        reader.start()

        board, tally = Board(), Tally()
        start = threading.Barrier(CLIENTS)
        clients = [
            threading.Thread(target=run_client, args=(n,), kwargs={
                "ops": ops, "seed": ops, "server": api, "token": tokens[n], "project_id": project_id,
                "columns": columns, "board": board, "tally": tally, "start": start,
            })
            for n in range(CLIENTS)
        ]
        began = time.monotonic()
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        writing = time.monotonic() - began

        counters = ProjectCounters.objects.get(pk=project.pk)
        reader.wait_for_seq(counters.last_seq, timeout=30)
        delivered = time.monotonic() - began
        time.sleep(0.5)  # anything extra (a duplicate) would arrive now
        reader.stop.set()
        reader.join(timeout=5)

    server_log = (api.log_tail(10_000_000) + ws_server.log_tail(10_000_000)).splitlines()
    server_errors = [line for line in server_log if "Traceback" in line or "[ERROR]" in line]
    retries = Counter(" ".join(line.split(",")[0].split(": ")) for line in server_log if ", retrying" in line)
    by_op = Counter()
    for (op, _status), count in tally.statuses.items():
        by_op[op] += count
    frames = reader.frames
    print(f"\nconcurrent writers: {CLIENTS} clients x {ops} ops = {sum(by_op.values())} requests "
          f"in {writing:.1f} s (socket caught up after {delivered:.1f} s)")
    print("  operations:", dict(sorted(by_op.items())))
    print("  statuses:", {f"{op} {status}": count for (op, status), count in sorted(tally.statuses.items())})
    print(f"  events: {counters.last_seq - seq_before} logged, {len(frames)} frames received by the socket; "
          f"counts {counters.counts()}, last_number {counters.last_number}")
    print(f"  writes retried by the servers (service, SQLSTATE): {dict(retries)}")

    assert tally.errors == [], tally.errors
    assert tally.unexpected == [], tally.unexpected[:10]
    assert not [key for key in tally.statuses if key[1] >= 500]
    assert server_errors == [], "\n".join(server_errors[:20])
    assert reader.failure is None, reader.failure

    # Task numbers: every number handed out is unique, and together they are 1..N.
    created_numbers = sorted(int(key.rsplit("-", 1)[1]) for key in tally.created)
    assert created_numbers == list(range(1, len(created_numbers) + 1))
    assert counters.last_number == len(created_numbers) == \
        tally.statuses[("create", 201)] + tally.statuses[("create_subtask", 201)]
    surviving = list(Task.objects.filter(project=project).values_list("number", flat=True))
    assert len(surviving) == len(set(surviving)) and set(surviving) <= set(created_numbers)

    # Counters equal a recount; the derived status is the rule applied to the recount.
    actual = recount_project(project.pk)
    recount = {name: actual[name] for name in COUNT_FIELDS}
    assert counters.counts() == recount
    assert actual["last_number"] <= counters.last_number
    served = api.call("GET", f"/projects/{project_id}", tokens[0])
    assert served.status == 200, served
    assert served.body["counts"] == recount
    assert served.body["derived_status"] == derived_status(recount)
    assert served.body["status"] == derived_status(recount)  # no override

    # The event log has no gaps, and its trailing events agree with the recount.
    log = list(Event.objects.filter(project=project).order_by("seq"))
    assert [event.seq for event in log] == list(range(1, counters.last_seq + 1))
    run_log = [event for event in log if event.seq > seq_before]
    assert check_status_chain(run_log, before.body["derived_status"]) == derived_status(recount)
    last_counts = [event.data["counts"] for event in run_log if event.type == "project_counts_changed"]
    assert last_counts and last_counts[-1] == recount
    logged_numbers = sorted(int(event.data["task"]["key"].rsplit("-", 1)[1]) for event in run_log
                            if event.type == "task_created")
    assert logged_numbers == created_numbers

    # The socket received every event of the run exactly once, in order, as logged.
    assert [frame.get("type") for frame in frames if "seq" not in frame] == []
    assert [frame["seq"] for frame in frames] == [event.seq for event in run_log]
    assert [(frame["type"], frame["data"]) for frame in frames] == [(event.type, event.data) for event in run_log]


CONTENDERS = 20


@pytest.mark.parametrize("write", ["move", "patch"])
def test_if_match_writes_of_one_task_at_once_have_exactly_one_winner(write, project, owner, editor, servers,
                                                                       tmp_path):
    """Twenty clients read the task's ETag, then all write with ``If-Match`` at the same moment.

    Half of them go through gunicorn and half through daphne, so the writers
    are different processes with different connections; the task row lock
    must serialise them and every loser must see the winner's version.
    """
    api = servers(Server(kind="gunicorn", workers=GUNICORN_WORKERS, threads=GUNICORN_THREADS,
                         log_path=tmp_path / "gunicorn.log"))
    asgi = servers(Server(kind="daphne", log_path=tmp_path / "daphne.log"))
    task = factories.task(project, owner, title="contested")
    columns = [str(pk) for pk in Status.objects.filter(project=project).values_list("pk", flat=True)]
    tokens = [token_create(email=(owner, editor)[n % 2].email, password=factories.PASSWORD)[0]
              for n in range(CONTENDERS)]
    read = api.call("GET", f"/tasks/{task.pk}", tokens[0])
    assert read.status == 200
    tag, version = header(read, "ETag"), read.body["version"]
    assert tag == f'"{version}"'
    seq_before = ProjectCounters.objects.get(pk=project.pk).last_seq

    results: dict[int, Response] = {}
    start = threading.Barrier(CONTENDERS)

    def contender(n: int) -> None:
        server = (api, asgi)[n % 2]
        if write == "move":
            method, path, body = "POST", f"/tasks/{task.pk}/move", {"status_id": columns[n % len(columns)]}
        else:
            method, path, body = "PATCH", f"/tasks/{task.pk}", {"title": f"contender {n}"}
        start.wait(timeout=30)
        results[n] = server.call(method, path, tokens[n], body, headers={"If-Match": tag}, timeout=60)

    threads = [threading.Thread(target=contender, args=(n,)) for n in range(CONTENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = Counter(response.status for response in results.values())
    print(f"\nIf-Match {write}: {CONTENDERS} contenders, statuses {dict(statuses)}")
    assert len(results) == CONTENDERS
    assert statuses == {200: 1, 412: CONTENDERS - 1}
    [winner] = [response for response in results.values() if response.status == 200]
    assert winner.body["version"] == version + 1
    assert header(winner, "ETag") == f'"{version + 1}"'
    for response in results.values():
        if response.status == 412:
            # The current resource, which is what the winner wrote, with its ETag.
            assert response.body == winner.body
            assert header(response, "ETag") == f'"{version + 1}"'

    task.refresh_from_db()
    assert task.version == version + 1
    written = list(Event.objects.filter(project=project, seq__gt=seq_before).order_by("seq"))
    task_events = [event for event in written if event.type in ("task_moved", "task_updated")]
    assert len(task_events) == 1 and task_events[0].data["task"] == winner.body
    assert ProjectCounters.objects.get(pk=project.pk).last_seq == seq_before + len(written)
