"""The counters row, written by every task write, is updated in place (PostgreSQL HOT).

A non-HOT update leaves a dead row version and new index entries that only
VACUUM removes; on the project everyone writes to they pile up and every
later UPDATE of the row slows down (see ``ProjectCounters``).

Each write commits, as in production: a committed write's old row versions
are what the next write prunes to make room on the page. (Inside one long
transaction none of them could be pruned, and the page would fill.)
"""

import time

import pytest
from django.db import connection

from tasks import services as task_services

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="HOT updates are PostgreSQL's"),
]


def _updates() -> tuple[int, int]:
    """Row updates and HOT updates of the counters table so far (this connection's reports flushed first)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")  # reported at the end of this (autocommit) statement
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pg_stat_get_tuples_updated(c.oid), pg_stat_get_tuples_hot_updated(c.oid)"
            " FROM pg_class c WHERE c.relname = 'projects_projectcounters'"
        )
        return cursor.fetchone()


def _settled() -> tuple[int, int]:
    """``_updates()`` once other backends have reported theirs: a backend reports at most once a second,
    and the writes of an earlier test (its threads' connections, its servers) must not count as this one's."""
    seen = _updates()
    for _ in range(10):
        time.sleep(1.1)
        now = _updates()
        if now == seen:
            return now
        seen = now
    return seen


def test_task_writes_update_the_counters_row_in_place(project, owner, statuses):
    before_all, before_hot = _settled()
    for i in range(20):
        task = task_services.task_create(project_id=project.pk, user=owner, title=f"t{i}")
        task_services.task_move(task_id=task.pk, user=owner, status_id=statuses["done"].pk)
    updated, hot = _updates()
    assert updated - before_all >= 40
    assert hot - before_hot == updated - before_all
