"""PostgreSQL connections killed under a running server, for both kinds of server.

gunicorn keeps one persistent connection per worker and checks its health at
the start of each request; daphne takes connections from the psycopg pool,
which checks each one as it hands it out. Either way, after every backend of
the test database is terminated, the next requests succeed, and a burst of
writes across the kills leaves no half-written data: the counters equal a
recount from the tasks table, and the event log has no gap.

Runs on PostgreSQL + Redis only (the second pass of CI).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.services import token_create
from projects.management.commands.recount import recount_project
from projects.models import COUNT_FIELDS, ProjectCounters
from realtime.models import Event
from tasks.models import Task
from tests import factories
from tests.live.servers import Server, needs_pg_redis, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), needs_pg_redis]

BURST_CYCLES = 24
BURST_CLIENTS = 4


# Connections each server holds once warm: gunicorn one persistent connection per worker
# (two workers); daphne a pool opened with four (DB_POOL_MIN), all idle between requests.
HELD = {"gunicorn": 2, "daphne": 4}
# On the servers' PYTHONPATH: records each back-off sleep of psycopg_pool's getconn in a file.
POOL_PROBE = Path(__file__).resolve().parent / "pool_probe"


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
    kills: list[tuple[float, float]] = []
    lock = threading.Lock()

    created_ok: list[str] = []

    def timed(method: str, path: str, body=None):
        started = time.monotonic()
        response = server.call(method, path, token, body)
        with lock:
            calls.append((started, time.monotonic(), f"{method} {path}", response.status))
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
    assert all(status == 500 for _, status in failed), (failed, server.log_tail())
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
