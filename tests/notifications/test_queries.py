"""The literal statements of ``notifications/queries.py`` against their ORM reference (``notify_rows_orm``).

On PostgreSQL ``NOTIFY`` is held to it; on SQLite ``NUMBER_SQLITE`` (with its
``bulk_create``) is. Each runs from the same starting state, in a savepoint
rolled back after, and must leave the same counters and notifications.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction
from django.utils import timezone

from notifications import queries
from notifications.models import Notification, NotificationCounter
from notifications.services import notify_rows_orm
from tests import factories

pytestmark = pytest.mark.django_db


def rows_for(recipients, *, workspace, project, task, actor, now) -> list[Notification]:
    return [Notification(id=uuid.UUID(int=i + 1), user_id=user.pk, seq=0, type="mentioned", text=f"note {i}",
                         actor_id=actor.pk, workspace_id=workspace.pk, project_id=project.pk, task_id=task.pk,
                         task_key=task.key, task_title=task.title, created_at=now)
            for i, user in enumerate(sorted(recipients, key=lambda u: str(u.pk)))]


def literal(rows: list[Notification], actor) -> dict:
    if queries.available():
        return queries.notify(rows, actor_id=actor.pk, created_at=rows[0].created_at)
    seqs = queries.number_sqlite([row.user_id for row in rows])
    for row in rows:
        row.seq = seqs[row.user_id]
    Notification.objects.bulk_create(rows)
    return seqs


def state() -> tuple[list, list]:
    counters = list(NotificationCounter.objects.order_by("user_id").values_list("user_id", "last_seq", "unread"))
    notes = list(Notification.objects.order_by("user_id", "seq").values_list(
        "id", "user_id", "seq", "type", "text", "actor_id", "workspace_id", "project_id", "task_id", "task_key",
        "task_title", "comment_id", "invitation_id", "read_at", "created_at"))
    return counters, notes


def run_and_undo(write, rows):
    with transaction.atomic():
        seqs = write(rows)
        after = state()
        transaction.set_rollback(True)
    return seqs, after


@pytest.mark.parametrize("how_many", [1, 3])
def test_the_literal_statement_writes_what_the_orm_reference_does(project, workspace, owner, editor,
                                                                  editor_outside, viewer, how_many):
    task = factories.task(project, owner, title="Shared")
    # The editor has a counter row already (the project fixture told them of their membership);
    # the viewer and the other editor get theirs from this write.
    assert NotificationCounter.objects.filter(user=editor).exists()
    assert not NotificationCounter.objects.filter(user=viewer).exists()
    recipients = [editor, viewer, editor_outside][:how_many]
    before = state()
    now = timezone.now()

    def make():
        return rows_for(recipients, workspace=workspace, project=project, task=task, actor=owner, now=now)

    fast, fast_state = run_and_undo(lambda rows: literal(rows, owner), make())
    assert state() == before
    reference, reference_state = run_and_undo(notify_rows_orm, make())

    assert fast == reference
    assert fast_state == reference_state
    assert fast_state != before
    counters = dict((user_id, (seq, unread)) for user_id, seq, unread in fast_state[0])
    assert counters[editor.pk][0] == dict((u, s) for u, s, _ in before[0])[editor.pk] + 1
