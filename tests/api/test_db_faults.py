"""Database faults answer 503 with Retry-After and ``{detail, code: "unavailable"}``, never 500 (taskhub/faults.py).

A statement fails the way it does when PostgreSQL goes away under a request: on PostgreSQL the
backend is really killed (``pg_terminate_backend`` of its own pid, just before the statement);
on SQLite the driver's error is raised in its place. A read then runs once more on a fresh
connection and succeeds; a second failure, or a write, answers 503 with nothing written. The
same through real servers, with every backend killed or PostgreSQL unreachable, is in
tests/live/test_fault_postgres.py.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.test import Client, RequestFactory

from taskhub import faults
from tests.api.conftest import API

# A committed test (no transaction around it), as requests run in production: a retry needs one.
pytestmark = pytest.mark.django_db(transaction=True)


class Fault:
    """``connection.execute_wrapper``: the statements matching ``pattern`` fail, the first ``times`` of them."""

    def __init__(self, pattern: str, times: int = 1, error=OperationalError):
        self.pattern = re.compile(pattern)
        self.times = times
        self.error = error
        self.failed = 0
        self.matched = 0
        self.raw_connections: list[int] = []

    def __call__(self, execute, sql, params, many, context):
        if self.pattern.search(sql):
            self.matched += 1
            self.raw_connections.append(id(context["connection"].connection))
            if self.failed < self.times:
                self.failed += 1
                if context["connection"].vendor == "postgresql" and self.error is OperationalError:
                    # Kill this very backend: the statement then meets the real error of a lost connection.
                    import psycopg

                    try:
                        with context["connection"].connection.cursor() as raw:
                            raw.execute("SELECT pg_terminate_backend(pg_backend_pid())")
                    except psycopg.OperationalError:
                        pass  # "terminating connection due to administrator command": it is gone
                else:
                    raise self.error("server closed the connection unexpectedly")
        return execute(sql, params, many, context)


@contextmanager
def failing(pattern: str, times: int = 1, error=OperationalError):
    fault = Fault(pattern, times, error)
    with connection.execute_wrapper(fault):
        yield fault


def assert_unavailable(reply) -> None:
    assert reply.status == 503, reply
    assert reply.body == {"detail": faults.DETAIL, "code": "unavailable"}
    assert reply.headers["Retry-After"] == str(faults.RETRY_AFTER)


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_a_read_whose_connection_dies_is_retried_once_on_a_fresh_connection(api, owner, project, error):
    caller = api(owner)
    with failing(r'FROM "?projects_project"?', error=error) as fault:
        reply = caller.get(f"/projects/{project.pk}")
    assert reply.status == 200, reply
    assert reply.body["id"] == str(project.pk)
    assert (fault.failed, fault.matched) == (1, 2)
    assert fault.raw_connections[0] != fault.raw_connections[1]  # the second try ran on a new connection


def test_a_read_that_fails_twice_answers_503(api, owner, project):
    with failing(r'FROM "?projects_project"?', times=2) as fault:
        reply = api(owner).get(f"/projects/{project.pk}")
    assert_unavailable(reply)
    assert (fault.failed, fault.matched) == (2, 2)  # once more, not more
    assert api(owner).get(f"/projects/{project.pk}").status == 200  # and then it is back


def test_a_list_and_the_board_are_retried_too(api, owner, project):
    caller = api(owner)
    for path in (f"/projects/{project.pk}/tasks", f"/projects/{project.pk}/board", "/workspaces"):
        with failing(r"\bSELECT\b") as fault:
            reply = caller.get(path)
        assert reply.status == 200, (path, reply)
        assert fault.failed == 1


def test_a_write_whose_connection_dies_answers_503_and_writes_nothing(api, owner, project, db_rows):
    caller = api(owner)
    before = db_rows()
    # The task row is inserted, then its event's INSERT dies: the whole transaction goes with the connection.
    with failing(r'INSERT INTO "?realtime_event"?') as fault:
        reply = caller.post(f"/projects/{project.pk}/tasks", {"title": "lost"})
    assert_unavailable(reply)
    assert fault.matched == 1  # never run again by the server: the client decides
    assert db_rows() == before
    created = caller.post(f"/projects/{project.pk}/tasks", {"title": "kept"})
    assert created.status == 201, created


def test_a_write_that_cannot_reach_the_database_answers_503(api, owner, project, db_rows):
    caller = api(owner)
    before = db_rows()
    with failing(r"\b(SELECT|UPDATE|INSERT)\b", times=10):
        reply = caller.patch(f"/projects/{project.pk}", {"name": "renamed"})
    assert_unavailable(reply)
    assert db_rows() == before


def test_the_admin_is_retried_on_reads_and_answers_503_on_writes(owner, project):
    from accounts.models import User

    User.objects.filter(pk=owner.pk).update(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(owner)
    with failing(r'FROM "?projects_project"?') as fault:
        page = client.get("/admin/projects/project/")
    assert page.status_code == 200
    assert fault.failed == 1 and fault.matched >= 2
    with failing(r'FROM "?projects_project"?', times=100):
        page = client.get("/admin/projects/project/")
        assert page.status_code == 503 and page["Retry-After"] == str(faults.RETRY_AFTER)
        assert page.json() == {"detail": faults.DETAIL, "code": "unavailable"}
        posted = client.post(f"/admin/projects/project/{project.pk}/change/", {"name": "x"})
    assert posted.status_code == 503
    assert posted.json()["code"] == "unavailable"


def test_inside_a_callers_transaction_there_is_no_retry(api, owner, project):
    from django.db import transaction

    caller = api(owner)
    with transaction.atomic(), failing(r'FROM "?projects_project"?', error=InterfaceError) as fault:
        reply = caller.get(f"/projects/{project.pk}")
    assert_unavailable(reply)
    assert fault.matched == 1


def test_handler500_turns_a_fault_outside_any_view_into_503():
    request = RequestFactory().get("/somewhere")
    try:
        raise OperationalError("the connection is closed")
    except OperationalError:
        response = faults.server_error(request)
    assert response.status_code == 503 and response["Retry-After"] == str(faults.RETRY_AFTER)
    try:
        raise ValueError("a bug")
    except ValueError:
        response = faults.server_error(request)
    assert response.status_code == 500


def test_the_openapi_document_lists_503_on_every_operation(client):
    schema = client.get(f"{API}/openapi.json").json()
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            answer = operation["responses"].get("503")
            assert answer is not None, (method, path)
            if path != f"{API}/health":
                assert answer["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/ErrorOut"
                assert "Retry-After" in answer["headers"]
