"""Query budgets of the write services (DESIGN.md), counted on a warm path."""

import pytest
from django.db import connection

from projects import services as project_services
from tasks import services as task_services
from tests import factories

pytestmark = pytest.mark.django_db


def test_task_create_budget(project, owner, assert_max_queries):
    # 1. SELECT the column + project + caller's roles + the column's last rank
    # 2. UPDATE counters ... RETURNING (number, seq, counts)
    # 3. INSERT task
    # 4. INSERT events
    # On PostgreSQL 2-4 are one statement (``counters_log``), so the project's row lock is
    # held for that statement and the COMMIT only.
    with assert_max_queries(4) as ctx:
        task_services.task_create(project_id=project.pk, user=owner, title="One")
    if connection.vendor == "postgresql":
        assert len(ctx.work_queries) == 2
        write = ctx.work_queries[1]
        assert write.startswith('WITH c AS (UPDATE "projects_projectcounters"')
        assert 'INSERT INTO "tasks_task"' in write and 'INSERT INTO "realtime_event"' in write
    else:
        assert len(ctx.work_queries) == 4


def test_comment_and_update_take_the_lock_in_their_last_statement(project, owner, assert_max_queries):
    """On PostgreSQL the counters UPDATE and the event INSERT are one statement, the last one."""
    task = factories.task(project, owner, title="a")
    with assert_max_queries(4) as ctx:  # the access read, the comment, counters and event
        task_services.comment_create(task_id=task.pk, user=owner, body="hi")
    with assert_max_queries(4) as patch_ctx:  # locking read, UPDATE task, counters and event
        task_services.task_update(task_id=task.pk, user=owner, fields={"title": "b"})
    if connection.vendor == "postgresql":
        assert len(ctx.work_queries) == 2 and len(patch_ctx.work_queries) == 3
        for statements in (ctx.work_queries, patch_ctx.work_queries):
            assert statements[-1].startswith('WITH c AS (UPDATE "projects_projectcounters"')
            assert 'INSERT INTO "realtime_event"' in statements[-1]
            assert not any("projects_projectcounters" in sql for sql in statements[:-1])


def test_task_create_with_assignee_budget(project, owner, editor, assert_max_queries):
    # as above, plus 2. SELECT the assignee's workspace membership
    with assert_max_queries(5):
        task_services.task_create(project_id=project.pk, user=owner, title="One", assignee_id=editor.pk)


def test_task_move_budget(project, owner, statuses, assert_max_queries):
    a = factories.task(project, owner, title="a")
    b = factories.task(project, owner, title="b")
    c = factories.task(project, owner, title="c")
    # 1. SELECT task FOR UPDATE + roles + target column + neighbour ranks
    # 2. UPDATE task  3. UPDATE counters RETURNING  4. INSERT events
    with assert_max_queries(4):
        task_services.task_move(task_id=c.pk, user=owner, after_id=a.pk, before_id=b.pk)
    with assert_max_queries(4):
        task_services.task_move(task_id=a.pk, user=owner, status_id=statuses["done"].pk)
    with assert_max_queries(4):
        task_services.task_move(task_id=b.pk, user=owner, status_id=statuses["done"].pk, after_id=a.pk)


def test_project_create_budget(workspace, owner, assert_max_queries):
    # 1. SELECT workspace + role  2. INSERT project  3. INSERT counters
    # 4. INSERT statuses (one statement)  5. INSERT admin membership  6. INSERT event
    with assert_max_queries(6):
        project_services.project_create(workspace_id=workspace.pk, user=owner, name="New", key="NEW")
