"""``taskhub.db.RowWriter``: the INSERT the task and event writes use instead of ``save``/``bulk_create``."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models.signals import post_save, pre_save
from django.test.utils import CaptureQueriesContext

from realtime.models import Event
from taskhub.db import RowWriter
from tasks.models import Comment, Task

pytestmark = pytest.mark.django_db

WHEN = datetime.datetime(2026, 11, 29, 6, 30, 15, 123456, tzinfo=datetime.UTC)


def test_rows_read_back_as_the_orm_wrote_them(project, owner):
    """Every column type the writes use round-trips: UUIDs, FKs, JSON, datetimes, dates, nulls."""
    status = project.statuses.order_by("position").first()
    data = {"task": {"title": "naïve \"quoted\" 'text'", "n": [1, 2.5, None, True]}, "emoji": "✓"}
    events = [
        Event(workspace_id=project.workspace_id, project=project, seq=9001 + i, type=f"type_{i}", data=data,
              actor=owner if i else None, request_id="req-1", created_at=WHEN)
        for i in range(3)
    ]
    task = Task(project=project, status=status, number=9001, title="written", reporter=owner, rank="m|9001",
                due_date=datetime.date(2027, 1, 2), story_points=None, created_at=WHEN, updated_at=WHEN)
    with CaptureQueriesContext(connection) as queries:
        RowWriter(Event).insert(events)
        RowWriter(Task).insert([task])
    assert len(queries) == 2  # one statement per call, whatever the number of rows

    stored = list(Event.objects.filter(project=project, seq__gt=9000).order_by("seq"))
    assert [(e.seq, e.type, e.data, e.actor_id, e.request_id, e.created_at) for e in stored] == [
        (9001, "type_0", data, None, "req-1", WHEN),
        (9002, "type_1", data, owner.pk, "req-1", WHEN),
        (9003, "type_2", data, owner.pk, "req-1", WHEN),
    ]
    assert all(e.pk is not None for e in stored)  # the auto-increment key is the database's
    row = Task.objects.get(pk=task.pk)
    assert (row.project_id, row.status_id, row.number, row.title, row.reporter_id, row.rank, row.due_date,
            row.story_points, row.version, row.created_at) == (
        project.pk, status.pk, 9001, "written", owner.pk, "m|9001", datetime.date(2027, 1, 2), None, 1, WHEN)
    assert task._state.adding is False and task._state.db == "default"


def test_rows_beyond_the_backends_parameter_cap_go_in_batches(project, owner, monkeypatch):
    """SQLite caps a statement's parameters; a revoked member's unassignments can log thousands of events."""
    monkeypatch.setattr(connection.ops, "bulk_batch_size", lambda fields, objs: 2)
    events = [Event(workspace_id=project.workspace_id, project=project, seq=8001 + i, type="t", data={"i": i})
              for i in range(5)]
    with CaptureQueriesContext(connection) as queries:
        RowWriter(Event).insert(events)
    assert len(queries) == 3
    assert list(Event.objects.filter(seq__gt=8000).order_by("seq").values_list("data", flat=True)) == [
        {"i": i} for i in range(5)]


def test_nothing_in_taskhub_listens_for_the_signals_the_writer_does_not_send():
    for signal in (pre_save, post_save):
        assert not signal.has_listeners(Task) and not signal.has_listeners(Event)
        assert not signal.has_listeners(Comment)


def test_nothing_to_insert_sends_nothing():
    with CaptureQueriesContext(connection) as queries:
        RowWriter(Event).insert([])
    assert len(queries) == 0


def test_a_constraint_violation_raises_and_writes_nothing(project, owner):
    status = project.statuses.order_by("position").first()
    first = Task(project=project, status=status, number=77, title="a", reporter=owner, rank="a")
    clash = [Task(project=project, status=status, number=78, title="b", reporter=owner, rank="b"),
             Task(project=project, status=status, number=77, title="c", reporter=owner, rank="c", id=uuid.uuid4())]
    RowWriter(Task).insert([first])
    with pytest.raises(IntegrityError), transaction.atomic():
        RowWriter(Task).insert(clash)
    assert sorted(Task.objects.filter(project=project, number__in=[77, 78]).values_list("title", flat=True)) == ["a"]
