"""PostgreSQL connections killed under a running server, for both kinds of server.

gunicorn keeps one persistent connection per worker and checks its health at
the start of each request; daphne takes connections from the psycopg pool,
which checks each one as it hands it out. Either way, after every backend of
the test database is terminated, the next requests succeed, and a burst of
writes across the kills leaves no half-written data: the counters equal a
recount from the tasks table, and the event log has no gap.

A request that was using a killed connection answers 503 with Retry-After and
``{detail, code: "unavailable"}`` (a read first runs once more on a fresh
connection, and succeeds), and so does every request while PostgreSQL cannot
be reached at all; nothing is half-written.

Runs on PostgreSQL + Redis only (the second pass of CI).
"""

from __future__ import annotations

import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from accounts.services import token_create
from projects.management.commands.recount import recount_project
from projects.models import COUNT_FIELDS, ProjectCounters
from realtime.models import Event
from tasks.models import Task
from tests import factories
from tests.live.servers import Response, Server, TcpRelay, needs_pg_redis, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), needs_pg_redis]

BURST_CYCLES = 24
BURST_CLIENTS = 4


# Connections each server holds once warm: gunicorn one persistent connection per worker
# (two workers); daphne a pool opened with four (DB_POOL_MIN), all idle between requests.
HELD = {"gunicorn": 2, "daphne": 4}
# On the servers' PYTHONPATH: records each back-off sleep of psycopg_pool's getconn in a file.
POOL_PROBE = Path(__file__).resolve().parent / "pool_probe"


def assert_unavailable(response: Response) -> None:
    assert response.status == 503, response
    assert response.body == {"detail": "The database is unavailable; try again shortly.", "code": "unavailable"}
    retry_after = next(v for k, v in response.headers.items() if k.lower() == "retry-after")
    assert 1 <= int(retry_after) <= 10


def _pool_sleeps(path: Path) -> list[float]:
    return [float(line) for line in path.read_text().split()] if path.exists() else []


def _server_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                       [connection.settings_dict["NAME"]])
        return cursor.fetchone()[0]


def _terminate_server_backends() -> int:
    """Terminate every other backend of the test database (the servers'); wait until they are gone."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [connection.settings_dict["NAME"]],
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize("kind", ["gunicorn", "daphne"])
def test_killed_connections_do_not_fail_the_next_requests_nor_half_write(kind, project, owner, servers,
                                                                           tmp_path):
    token, _ = token_create(email=owner.email, password=factories.PASSWORD)
    sleeps_log = tmp_path / "pool-sleeps.log"
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(POOL_PROBE), os.environ.get("PYTHONPATH")])),
           "TASKHUB_POOL_SLEEP_LOG": str(sleeps_log)}
    if kind == "daphne":
        env["DB_POOL_MIN"] = str(HELD["daphne"])
    server = servers(Server(kind=kind, env=env, log_path=tmp_path / f"{kind}.log"))
    columns = server.call("GET", f"/projects/{project.pk}/statuses", token)
    assert columns.status == 200, columns
    done_id = next(s["id"] for s in columns.body["items"] if s["group"] == "done")

    def expect(status: int, method: str, path: str, body=None):
        response = server.call(method, path, token, body)
        assert response.status == status, (method, path, response, server.log_tail())
        return response.body

    def some_requests(label: str) -> None:
        """A create, a move, a project read and a board read, each answered as it should be."""
        task = expect(201, "POST", f"/projects/{project.pk}/tasks", {"title": label})
        expect(200, "POST", f"/tasks/{task['id']}/move", {"status_id": done_id})
        expect(200, "GET", f"/projects/{project.pk}")
        expect(200, "GET", f"/projects/{project.pk}/board")

    # Warm up, four clients at once: every gunicorn worker holds its connection, the pool is full.
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(some_requests, [f"warm {i}" for i in range(8)]))
    wait_until(lambda: _server_backends() >= HELD[kind], what=f"{HELD[kind]} server connections")

    assert _pool_sleeps(sleeps_log) == []  # nothing was dead yet
    assert _terminate_server_backends() >= HELD[kind]
    # The very next requests succeed (no dead connection reaches a view), and at once: the
    # pool found one dead connection, swept the others and retried without backing off
    # (psycopg_pool's own loop would check the dead ones one by one, sleeping 0, 1, 2 s...).
    # gunicorn has no pool: a dead connection is replaced before the request's first query.
    for i in range(3):
        some_requests(f"next {i}")
    if kind == "daphne":
        assert _pool_sleeps(sleeps_log) == [0.0], _pool_sleeps(sleeps_log)
    else:
        assert _pool_sleeps(sleeps_log) == []

    # A burst of writes, with every server connection killed twice while it runs. A request
    # whose backend dies under it can fail (its transaction is rolled back); any other must not.
    calls: list[tuple[float, float, str, int]] = []  # (started, ended, what, status)
    refusals: list[Response] = []  # the answers of the requests that failed
    kills: list[tuple[float, float]] = []
    lock = threading.Lock()

    created_ok: list[str] = []

    def timed(method: str, path: str, body=None):
        started = time.monotonic()
        response = server.call(method, path, token, body)
        with lock:
            calls.append((started, time.monotonic(), f"{method} {path}", response.status))
            if response.status >= 300:
                refusals.append(response)
            if method == "POST" and path.endswith("/tasks") and response.status == 201:
                created_ok.append(response.body["id"])
        return response

    def cycle(i: int) -> None:
        created = timed("POST", f"/projects/{project.pk}/tasks", {"title": f"burst {i}"})
        if created.status == 201:
            if i % 2 == 0:
                timed("POST", f"/tasks/{created.body['id']}/move", {"status_id": done_id})
            if i % 3 == 0:
                timed("POST", f"/tasks/{created.body['id']}/archive")

    with ThreadPoolExecutor(BURST_CLIENTS) as pool:
        futures = [pool.submit(cycle, i) for i in range(BURST_CYCLES)]
        for when in (BURST_CYCLES // 3, 2 * BURST_CYCLES // 3):
            wait_until(lambda when=when: sum(f.done() for f in futures) >= when, timeout=20,
                       what=f"{when} write cycles")
            started = time.monotonic()
            assert _terminate_server_backends() >= 1
            kills.append((started, time.monotonic()))
        for future in futures:
            future.result()

    def in_flight(started: float, ended: float) -> bool:
        return any(started <= kill_ended and ended >= kill_started for kill_started, kill_ended in kills)

    failed = [(what, status) for started, ended, what, status in calls if status >= 300]
    # A request whose connection died under it is told to come back: 503 with Retry-After, never 500.
    assert all(status == 503 for _, status in failed), (failed, server.log_tail())
    for refused in refusals:
        assert_unavailable(refused)
    wrongly_failed = [(what, status) for started, ended, what, status in calls
                      if status >= 300 and not in_flight(started, ended)]
    assert not wrongly_failed, (wrongly_failed, server.log_tail())

    # ... and the requests after the burst succeed too.
    some_requests("after")
    server.stop()

    counters = ProjectCounters.objects.get(project_id=project.pk)
    recounted = recount_project(project.pk)
    assert {name: getattr(counters, name) for name in (*COUNT_FIELDS, "last_number")} == recounted
    call_command("recount", "--check")  # raises on drift in any project
    seqs = list(Event.objects.filter(project_id=project.pk).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, counters.last_seq + 1))
    logged = list(Event.objects.filter(project_id=project.pk, type="task_created")
                  .values_list("data__task__id", flat=True))
    stored = [str(pk) for pk in Task.objects.filter(project_id=project.pk).values_list("pk", flat=True)]
    assert sorted(logged) == sorted(stored)  # every task has its event, and no event lacks its task
    assert set(created_ok) <= set(stored)
    assert len(stored) >= 8 + 3 + 1 + len(created_ok)


def _dsn() -> str:
    db = connection.settings_dict
    return f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} dbname={db['NAME']}"


def _waiting_backend(timeout: float = 20) -> int:
    """The pid of the server's backend that waits for a lock (on the table the test holds)."""
    def find():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
                           " AND wait_event_type = 'Lock'", [connection.settings_dict["NAME"]])
            row = cursor.fetchone()
        return row and row[0]
    return wait_until(find, timeout=timeout, what="a server backend waiting for the lock")


@pytest.mark.parametrize("kind", ["gunicorn", "daphne"])
def test_a_backend_killed_mid_request_retries_a_read_and_refuses_a_write(kind, project, owner, servers, tmp_path):
    token, _ = token_create(email=owner.email, password=factories.PASSWORD)
    server = servers(Server(kind=kind, log_path=tmp_path / f"{kind}.log"))
    assert server.call("GET", f"/projects/{project.pk}", token).status == 200  # warm: connections open

    def blocked(method: str, path: str, table: str, body=None) -> Response:
        """Send the request while the test holds ``table``, kill the backend it waits on, then let go."""
        holder = psycopg.connect(_dsn())
        try:
            holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")  # (a transaction: autocommit is off)
            with ThreadPoolExecutor(1) as pool:
                answer = pool.submit(server.call, method, path, token, body, timeout=60)
                killed = _waiting_backend()
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [killed])
                holder.rollback()
                return answer.result()
        finally:
            holder.close()

    # A read: its first connection dies while it waits; it runs again on a fresh one and succeeds.
    read = blocked("GET", f"/projects/{project.pk}", "projects_project")
    assert read.status == 200, (read, server.log_tail())
    assert read.body["id"] == str(project.pk)
    assert "trying once more on a fresh connection" in server.log_tail(20_000)

    # A write: its transaction dies with the connection; 503, and nothing of it is stored.
    tasks_before = Task.objects.filter(project_id=project.pk).count()
    counters_before = ProjectCounters.objects.get(project_id=project.pk)
    seq_before = counters_before.last_seq
    write = blocked("POST", f"/projects/{project.pk}/tasks", "projects_projectcounters", {"title": "lost"})
    assert_unavailable(write)
    assert Task.objects.filter(project_id=project.pk).count() == tasks_before
    counters = ProjectCounters.objects.get(project_id=project.pk)
    assert (counters.total, counters.last_number, counters.last_seq) == (
        counters_before.total, counters_before.last_number, seq_before)
    assert Event.objects.filter(project_id=project.pk, seq__gt=seq_before).count() == 0

    # The client tries again, as told: it works.
    again = server.call("POST", f"/projects/{project.pk}/tasks", token, {"title": "lost"})
    assert again.status == 201, again
    server.stop()
    call_command("recount", "--check")


@pytest.mark.parametrize("kind", ["gunicorn", "daphne"])
def test_postgresql_unreachable_answers_503_then_recovers(kind, project, owner, servers, tmp_path):
    token, _ = token_create(email=owner.email, password=factories.PASSWORD)
    db = connection.settings_dict
    relay = TcpRelay(target=("127.0.0.1", int(db["PORT"] or 5432))).start()
    try:
        url = f"postgres://{db['USER']}@127.0.0.1:{relay.port}/{db['NAME']}"
        server = servers(Server(kind=kind, env={"DATABASE_URL": url, "DB_POOL_TIMEOUT": "3"},
                                log_path=tmp_path / f"{kind}.log"))
        assert server.call("GET", f"/projects/{project.pk}", token).status == 200
        tasks_before = Task.objects.filter(project_id=project.pk).count()

        relay.cut()  # PostgreSQL is gone: every connection through it closed, no new one accepted
        for method, path, body in (("GET", f"/projects/{project.pk}", None),
                                   ("GET", f"/projects/{project.pk}/tasks", None),
                                   ("POST", f"/projects/{project.pk}/tasks", {"title": "nowhere"}),
                                   ("PATCH", f"/projects/{project.pk}", {"name": "nowhere"})):
            started = time.monotonic()
            assert_unavailable(server.call(method, path, token, body, timeout=60))
            assert time.monotonic() - started < 30, (method, path)
        health = server.call("GET", "/health")
        assert health.status == 503 and health.body["database"] == "down", health

        relay.restore()
        back = wait_until(lambda: (r := server.call("GET", f"/projects/{project.pk}", token)).status == 200 and r,
                          timeout=30, what="the server to reach PostgreSQL again")
        assert back.body["id"] == str(project.pk)
        created = server.call("POST", f"/projects/{project.pk}/tasks", token, {"title": "back"})
        assert created.status == 201, created
        server.stop()
    finally:
        relay.stop()
    # Nothing of the refused writes: only the task created after the way back.
    assert Task.objects.filter(project_id=project.pk).count() == tasks_before + 1
    assert not re.search(r"nowhere", str(list(Task.objects.values_list("title", flat=True))))
    call_command("recount", "--check")
