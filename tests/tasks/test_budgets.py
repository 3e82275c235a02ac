"""What the write services send while they hold the project's counters row (DESIGN.md "Hot rows").

Every board write of a project serialises on its counters row, from the
``UPDATE`` that takes the row's lock to the COMMIT. So that statement comes
as late as it can: after it, only the INSERTs of the rows whose values it
decided (a new task's number, the events' sequence numbers). The HTTP
budgets of every endpoint are pinned in ``tests/budgets``.
"""

import pytest

from tasks import services as task_services
from tests import factories

pytestmark = pytest.mark.django_db


def _after_the_lock(statements: list[str]) -> list[str]:
    taken = [i for i, sql in enumerate(statements) if "projects_projectcounters" in sql and "UPDATE" in sql[:80]]
    assert taken, statements
    return statements[taken[0] + 1:]


def _inserts_into(statements: list[str]) -> list[str]:
    tables = []
    for sql in statements:
        assert sql.lstrip().upper().startswith(("INSERT", "WITH")), sql
        tables.append(next(t for t in ("tasks_task", "tasks_comment", "realtime_event") if t in sql))
    return tables


def test_task_create_holds_the_lock_for_its_own_rows_only(project, owner, assert_num_queries):
    # 1 SELECT column + project + roles + last rank, 2 UPDATE counters RETURNING (number, seq, counts),
    # 3 INSERT the task, 4 INSERT the events
    with assert_num_queries(4) as ctx:
        task_services.task_create(project_id=project.pk, user=owner, title="One")
    assert _inserts_into(_after_the_lock(ctx.work_queries)) == ["tasks_task", "realtime_event"]


def test_task_update_and_move_take_the_lock_in_their_last_two_statements(project, owner, statuses,
                                                                         assert_num_queries):
    a, b = factories.task(project, owner, title="a"), factories.task(project, owner, title="b")
    # 1 SELECT the task FOR NO KEY UPDATE (+ roles, target column, ranks), 2 UPDATE the task,
    # 3 UPDATE counters RETURNING, 4 INSERT the events
    with assert_num_queries(4) as ctx:
        task_services.task_update(task_id=a.pk, user=owner, fields={"title": "A"})
    assert _inserts_into(_after_the_lock(ctx.work_queries)) == ["realtime_event"]
    with assert_num_queries(4) as ctx:
        task_services.task_move(task_id=b.pk, user=owner, status_id=statuses["active"].pk)
    assert _inserts_into(_after_the_lock(ctx.work_queries)) == ["realtime_event"]


def test_comment_create_takes_the_lock_in_its_last_two_statements(project, owner, assert_num_queries):
    task = factories.task(project, owner, title="a")
    # 1 SELECT the task + project + roles, 2 INSERT the comment, 3 UPDATE counters RETURNING, 4 INSERT the event
    with assert_num_queries(4) as ctx:
        task_services.comment_create(task_id=task.pk, user=owner, body="hi")
    assert _inserts_into(_after_the_lock(ctx.work_queries)) == ["realtime_event"]


def test_a_status_change_costs_no_statement_under_the_lock_on_postgresql(project, owner, statuses, new_events,
                                                                          assert_num_queries):
    """The one more sequence number of ``project_status_changed`` is taken in the events' INSERT (PostgreSQL);
    SQLite, with no data-modifying WITH, spends an UPDATE on it."""
    task = factories.task(project, owner, title="only", status_id=statuses["active"].pk)
    # 1 SELECT the task FOR NO KEY UPDATE, 2 UPDATE the task, 3 UPDATE counters RETURNING,
    # 4 INSERT the events and move last_seq on by one (SQLite: 4 UPDATE last_seq, 5 INSERT the events)
    with new_events(project) as got, assert_num_queries({"postgresql": 4, "sqlite": 5}) as ctx:
        task_services.task_move(task_id=task.pk, user=owner, status_id=statuses["done"].pk)  # active -> done
    assert got.types == ["task_moved", "project_counts_changed", "project_status_changed"]
    assert got.one("project_status_changed").data == {"old": "active", "new": "done", "derived": "done",
                                                      "override": None}
    assert ctx.work_queries[-1].lstrip().upper().startswith(("INSERT", "WITH"))
