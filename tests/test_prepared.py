"""``taskhub.prepared.PreparedQuery``: querysets compiled once, run again with other values."""

from __future__ import annotations

import datetime
import gc
import threading
import uuid
import weakref

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections, transaction
from django.db.models import Q
from django.db.models.expressions import Col
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from projects import selectors as project_selectors
from projects.models import Project, Workspace
from taskhub.errors import NotFound
from taskhub.pagination import paginate
from taskhub.prepared import PreparedQuery
from tasks import selectors as task_selectors
from tasks.models import Task
from tasks.schemas import task_data
from tasks.services import task_create
from tests import factories

pytestmark = pytest.mark.django_db


def _state(obj, names):
    return {name: getattr(obj, name) for name in names}


def _tasks_by_reporter(reporter_id, since):
    return (Task.objects.select_related("status", "assignee", "reporter")
            .only("id", "title", "created_at", "status__name", "assignee__display_name", "reporter__display_name")
            .annotate(role=project_selectors.workspace_role_subquery(User(pk=reporter_id), "project__workspace_id"))
            .filter(reporter_id=reporter_id, created_at__gte=since).order_by("created_at", "id"))


def test_rows_match_the_querysets_own(project, owner, editor, viewer):
    """Instances, select_related objects (null ones too), deferred fields and annotations as the ORM builds them."""
    tasks = [task_create(project_id=project.pk, user=owner, title=f"t{i}", assignee_id=editor.pk if i % 2 else None)
             for i in range(3)]
    since = tasks[0].created_at - datetime.timedelta(seconds=1)
    prepared = PreparedQuery(_tasks_by_reporter, reporter_id=User._meta.pk, since=Task._meta.get_field("created_at"))
    for reporter, since_ in [(owner, since), (viewer, since), (owner, tasks[1].created_at)]:
        expected = list(_tasks_by_reporter(reporter.pk, since_))
        got = prepared.fetch(reporter_id=reporter.pk, since=since_)
        assert [t.pk for t in got] == [t.pk for t in expected]
        for mine, theirs in zip(got, expected, strict=True):
            assert _state(mine, ["id", "title", "created_at", "status_id", "role", "project_id"]) == _state(
                theirs, ["id", "title", "created_at", "status_id", "role", "project_id"])
            assert mine.get_deferred_fields() == theirs.get_deferred_fields()
            assert "description" in mine.get_deferred_fields()
            assert (mine.status.name, mine.reporter.display_name) == (theirs.status.name, theirs.reporter.display_name)
            assert (mine.assignee and mine.assignee.display_name) == (theirs.assignee and theirs.assignee.display_name)
            assert mine._state.adding is False and mine._state.db == "default"
    assert len(prepared.fetch(reporter_id=owner.pk, since=since)) == 3


def test_compiles_once_then_runs_one_statement(project, owner, monkeypatch):
    prepared = PreparedQuery(lambda project_id: Project.objects.filter(pk=project_id), project_id=Project._meta.pk)
    prepared.fetch(project_id=uuid.uuid4())
    compiled = []
    real_as_sql = SQLCompiler.as_sql
    monkeypatch.setattr(SQLCompiler, "as_sql", lambda self, *a, **kw: compiled.append(1) or real_as_sql(self, *a, **kw))
    with CaptureQueriesContext(connection) as queries:
        assert [p.pk for p in prepared.fetch(project_id=project.pk)] == [project.pk]
        assert prepared.fetch(project_id=uuid.uuid4()) == []
    assert compiled == [] and len(queries) == 2


def _in_another_thread(read):
    """``read()`` in a new thread, as an ASGI request runs; returns its result and a weak
    reference to that thread's connection object, closed and collected afterwards."""
    seen = {}

    def request():
        seen["wrapper"] = weakref.ref(connections["default"])
        seen["result"] = read()
        connections["default"].close()

    thread = threading.Thread(target=request)
    thread.start()
    thread.join()
    del thread
    gc.collect()
    return seen["result"], seen["wrapper"]


def test_another_threads_connection_reuses_it_and_is_not_kept(monkeypatch):
    """Under ASGI each request runs in a new thread with a new connection object: no compiling again
    for it, and nothing kept that would hold that connection (and its database session) alive."""
    prepared = PreparedQuery(lambda project_id: Project.objects.filter(pk=project_id), project_id=Project._meta.pk)
    prepared.fetch(project_id=uuid.uuid4())
    compiled = []
    real_as_sql = SQLCompiler.as_sql
    monkeypatch.setattr(SQLCompiler, "as_sql", lambda self, *a, **kw: compiled.append(1) or real_as_sql(self, *a, **kw))

    rows, wrapper = _in_another_thread(lambda: prepared.fetch(project_id=uuid.uuid4()))
    assert rows == [] and compiled == []
    assert wrapper() is None


@pytest.mark.django_db(transaction=True)
def test_converters_are_looked_up_once_and_applied_with_each_threads_connection(monkeypatch):
    """The converters are planned on the first read, here in a thread of its own (its own
    connection), and kept without that connection; a later thread's read uses the plan and converts
    as the ORM does (SQLite returns UUIDs and datetimes as text)."""
    owner = factories.user("conv@example.com", "Conv")
    project = factories.project(factories.workspace(owner), owner, key="CV")
    prepared = PreparedQuery(lambda project_id: Project.objects.filter(pk=project_id), project_id=Project._meta.pk)
    names = [field.attname for field in Project._meta.concrete_fields]
    expected = [_state(p, names) for p in Project.objects.filter(pk=project.pk)]

    def read():
        return [_state(p, names) for p in prepared.fetch(project_id=project.pk)]

    rows, first_connection = _in_another_thread(read)
    assert rows == expected and first_connection() is None
    lookups = []
    real = Col.get_db_converters
    monkeypatch.setattr(Col, "get_db_converters", lambda self, conn: lookups.append(1) or real(self, conn))
    rows, wrapper = _in_another_thread(read)
    assert rows == expected and lookups == [] and wrapper() is None
    assert isinstance(rows[0]["id"], uuid.UUID) and isinstance(rows[0]["created_at"], datetime.datetime)


def test_a_none_value_compiles_a_variant_of_its_own(project, owner):
    """``filter(x=None)`` compiles to ``IS NULL`` (no parameter): that variant is compiled apart."""
    unassigned = task_create(project_id=project.pk, user=owner, title="unassigned")
    assigned = task_create(project_id=project.pk, user=owner, title="mine", assignee_id=owner.pk)
    prepared = PreparedQuery(lambda assignee_id: Task.objects.filter(assignee_id=assignee_id),
                             assignee_id=User._meta.pk)
    for _ in range(2):  # each variant, compiled and then reused
        assert [t.pk for t in prepared.fetch(assignee_id=None)] == [unassigned.pk]
        assert [t.pk for t in prepared.fetch(assignee_id=owner.pk)] == [assigned.pk]


def test_pages_match_paginate_for_every_shape(project, owner, editor, statuses):
    """Filters present or not, with or without a cursor, any page size: the same pages as the ORM's ``paginate``,
    and each card equal to ``task_data`` of the task."""
    todo = statuses["todo"]
    for i in range(7):
        task_create(project_id=project.pk, user=owner, title=f"t{i}", status_id=todo.pk if i % 2 else None,
                    assignee_id=editor.pk if i % 3 else None, priority="high" if i % 2 else "low")
    shapes = [{}, {"status_id": todo.pk}, {"assignee_id": editor.pk, "priority": "high"}, {"type": "task"},
              {"archived": True}]
    for filters in shapes:
        for limit in (1, 2, 50):
            order = ["rank", "id"] if "status_id" in filters else ["-created_at", "-id"]
            cursor, expected_cursor, seen = None, None, []
            while True:
                got, cursor = task_selectors.task_page_for_project(project=project, limit=limit, cursor=cursor,
                                                                   **filters)
                expected, expected_cursor = paginate(
                    task_selectors.task_list_for_project(project=project, **filters), order=order, limit=limit,
                    cursor=expected_cursor)
                # Cards read from rows: exactly task_data of the ORM's instances.
                assert got == [task_data(t) for t in task_selectors.attach_project(expected, project)], (
                    filters, limit, len(seen))
                assert cursor == expected_cursor
                seen += [card["id"] for card in got]
                if cursor is None:
                    break
            everything = task_selectors.task_list_for_project(project=project, **filters).order_by(*order)
            assert seen == [t.pk for t in everything] and (seen or filters == {"archived": True})


def test_values_must_be_named_as_prepared():
    prepared = PreparedQuery(lambda project_id: Project.objects.filter(pk=project_id), project_id=Project._meta.pk)
    with pytest.raises(TypeError):
        prepared.fetch(pk=uuid.uuid4())


@pytest.mark.parametrize("build", [
    lambda key: Project.objects.filter(key__in=[key]).values("id"),  # not a model queryset
    lambda key: Project.objects.filter(Q(key__icontains=key)),  # the lookup rewrites the value
    lambda key: Project.objects.filter(name="x"),  # the value never reaches the SQL
    lambda key: Project.objects.prefetch_related("statuses").filter(key=key),
])
def test_what_cannot_be_prepared_is_refused_when_compiled(build):
    prepared = PreparedQuery(build, key=Project._meta.get_field("key"))
    with pytest.raises(ImproperlyConfigured):
        prepared.fetch(key="TH")


def test_selectors_answer_as_before(project, owner, viewer, outsider, other_project):
    """The prepared access checks keep the ORM reads' answers: roles, related rows, and ``NotFound``."""
    task = task_create(project_id=project.pk, user=owner, title="seen")
    ws = project_selectors.workspace_get_for_member(workspace_id=project.workspace_id, user=viewer)
    assert (ws.pk, ws.role, ws.projects_count) == (project.workspace_id, "viewer", 1)
    assert isinstance(ws, Workspace)
    full = project_selectors.project_get_for_member(project_id=project.pk, user=owner)
    with CaptureQueriesContext(connection) as queries:
        assert (full.ws_role, full.project_role, full.counters.total, full.created_by.pk) == ("owner", "admin", 1,
                                                                                             owner.pk)
    assert len(queries) == 0  # joined, not loaded lazily
    light = project_selectors.project_get_for_member(project_id=project.pk, user=viewer, with_counters=False,
                                                     with_people=False)
    assert (light.ws_role, light.project_role, light.key) == ("viewer", None, project.key)
    found = task_selectors.task_get_for_member(task_id=task.pk, user=viewer)
    assert (found.ws_role, found.project.key, found.status.group, found.reporter.pk) == ("viewer", project.key, "todo",
                                                                                         owner.pk)
    for call in (
        lambda: project_selectors.workspace_get_for_member(workspace_id=project.workspace_id, user=outsider),
        lambda: project_selectors.project_get_for_member(project_id=project.pk, user=outsider),
        lambda: project_selectors.project_get_for_member(project_id=other_project.pk, user=owner,
                                                         with_counters=False),
        lambda: task_selectors.task_get_for_member(task_id=task.pk, user=outsider),
    ):
        with pytest.raises(NotFound):
            call()


def _sql_of(run) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        run()
    return [query["sql"] for query in queries]


def test_locking_reads_send_the_orms_own_statement(project, owner, statuses):
    """Every variant of the PATCH/move read: the very SQL the ORM sends for the same values, and the same row."""
    first, second = (task_create(project_id=project.pk, user=owner, title=t) for t in ("a", "b"))
    variants = [{}, {"status_id": statuses["done"].pk}, {"after_id": first.pk}, {"before_id": first.pk},
                {"after_id": first.pk, "before_id": first.pk, "status_id": statuses["todo"].pk},
                {"parent_id": first.pk}, {"to_end": True}]
    for variant in variants:
        values = {"status_id": None, "after_id": None, "before_id": None, "parent_id": None, "to_end": False,
                  **variant}
        with transaction.atomic():
            orm_sql = _sql_of(lambda values=values: list(
                task_selectors._task_for_write(task_id=second.pk, user_id=owner.pk, **values)))
            expected = list(task_selectors._task_for_write(task_id=second.pk, user_id=owner.pk, **values))
            ours_sql = _sql_of(lambda variant=variant: task_selectors.task_get_for_write(task_id=second.pk,
                                                                                         user=owner, **variant))
            got = task_selectors.task_get_for_write(task_id=second.pk, user=owner, **variant)
        assert ours_sql == orm_sql, variant
        names = ["ws_role", "project_role", "rank", "version"] + [
            name for name in ("target_name", "after_rank", "before_rank", "next_rank", "prev_rank", "last_rank",
                              "parent_ok") if hasattr(expected[0], name)]
        assert _state(got, names) == _state(expected[0], names), variant
        assert got.status.pk == expected[0].status.pk and got.project.key == project.key


@pytest.mark.django_db(transaction=True)
def test_a_locking_read_outside_a_transaction_fails_as_the_orms_does(project):
    """The ORM refuses ``select_for_update`` in autocommit where the backend locks (PostgreSQL); so does the
    prepared read. Where it does not lock (SQLite), both run the read."""
    def orm():
        return list(Project.objects.filter(pk=project.pk).select_for_update())

    prepared = PreparedQuery(lambda project_id: Project.objects.filter(pk=project_id).select_for_update(),
                             project_id=Project._meta.pk)
    with transaction.atomic():
        assert [p.pk for p in prepared.fetch(project_id=project.pk)] == [p.pk for p in orm()] == [project.pk]
    outcomes = []
    for run in (orm, lambda: prepared.fetch(project_id=project.pk)):
        try:
            outcomes.append([p.pk for p in run()])
        except TransactionManagementError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] == ("select_for_update cannot be used outside of a transaction."
                           if connection.features.has_select_for_update else [project.pk])
