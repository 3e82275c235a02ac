"""``counters_log``: the counters UPDATE, a write's rows and its events, in one statement on PostgreSQL.

On PostgreSQL the events' sequence numbers, the trailing count and status
events and a new task's number, rank and key are computed by the database in
that statement; Python computes the same values from the returned row for the
envelopes it publishes. These tests check that the two agree, on both
backends, and that a failed statement leaves nothing behind.
"""

import random

import pytest
from django.db import connection

from projects.counters import FromCounters, counters_log
from projects.models import COUNT_FIELDS, ProjectCounters, derived_status
from realtime.events import add_after_commit_hook, remove_after_commit_hook
from realtime.models import Event
from taskhub.errors import NotFound
from tasks import ranks
from tasks import services as task_services
from tasks.models import Comment, Task
from tasks.selectors import task_get_for_member
from tasks.services import _comment_writer, task_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def published():
    """The envelopes handed to the publisher after each commit, in order."""
    envelopes = []

    def hook(messages):
        envelopes.extend(envelope for envelope, _groups in messages)

    add_after_commit_hook(hook)
    yield envelopes
    remove_after_commit_hook(hook)


def _stored(project) -> list[tuple]:
    return [(e.seq, e.type, e.data) for e in Event.objects.filter(project=project).order_by("seq")]


def test_counts_seqs_and_trailing_events_match_what_is_published(
    project, owner, published, django_capture_on_commit_callbacks
):
    rng = random.Random(11)
    counters = ProjectCounters.objects.get(project=project)
    counts, last_seq = counters.counts(), counters.last_seq
    before = _stored(project)
    status_changes = 0
    for i in range(120):
        target = {name: 0 for name in COUNT_FIELDS}
        for group in COUNT_FIELDS[1:]:
            target[group] = rng.choice((0, 0, 1, 2))
        target["total"] = sum(target[group] for group in COUNT_FIELDS[1:])
        delta = {name: target[name] - counts[name] for name in COUNT_FIELDS}
        items = [("task_updated", {"task": {"n": i}})] * rng.choice((0, 1, 2))
        with django_capture_on_commit_callbacks(execute=True):
            change = counters_log(project=project, items=items, actor=owner, delta=delta,
                                  track_status=i % 10 != 0)
        status_changed = i % 10 != 0 and derived_status(counts) != derived_status(target)
        counts_changed = target != counts
        status_changes += status_changed
        assert change.counts == target
        assert change.status_changed == status_changed
        assert (change.first_seq, change.last_seq) == (
            last_seq + 1, last_seq + len(items) + counts_changed + status_changed)
        counts, last_seq = target, change.last_seq

    assert status_changes > 20
    stored = _stored(project)[len(before):]
    assert [(e["seq"], e["type"], e["data"]) for e in published] == stored
    assert [seq for seq, _type, _data in _stored(project)] == list(range(1, last_seq + 1))
    for _seq, event_type, data in stored:
        if event_type == "project_status_changed":
            assert data["new"] == data["derived"] and data["override"] is None and data["old"] != data["new"]
    assert ProjectCounters.objects.get(project=project).counts() == counts


def test_new_tasks_number_rank_and_key_agree_everywhere(
    project, owner, statuses, published, django_capture_on_commit_callbacks
):
    created = []
    for group in ("done", "todo", "issue", "done", "active"):
        with django_capture_on_commit_callbacks(execute=True):
            created.append(task_services.task_create(project_id=project.pk, user=owner, title=group,
                                                     status_id=statuses[group].pk))
    assert [task.number for task in created] == [1, 2, 3, 4, 5]
    last_rank = {}
    for task in created:
        assert isinstance(task.rank, str) and not task._state.adding
        stored = Task.objects.get(pk=task.pk)
        assert (stored.number, stored.rank) == (task.number, task.rank)
        assert task.rank == ranks.with_suffix(ranks.after(last_rank.get(task.status_id)), task.number)
        last_rank[task.status_id] = task.rank
    read_back = [task_payload(task_get_for_member(task_id=task.pk, user=owner)) for task in created]
    logged = [data["task"] for _seq, event_type, data in _stored(project) if event_type == "task_created"]
    sent = [envelope["data"]["task"] for envelope in published if envelope["type"] == "task_created"]
    assert logged == sent == read_back
    assert [payload["key"] for payload in sent] == [f"TH-{n}" for n in range(1, 6)]
    # The first task, in done, and the second, in todo, each changed the derived status.
    assert [e["type"] for e in published[:6]] == ["task_created", "project_counts_changed",
                                                  "project_status_changed"] * 2


def test_ranks_follow_the_column_when_appending(project, owner, statuses):
    first = task_services.task_create(project_id=project.pk, user=owner, title="a")
    second = task_services.task_create(project_id=project.pk, user=owner, title="b")
    assert first.rank < second.rank
    assert second.rank == ranks.with_suffix(ranks.after(first.rank), second.number)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the rank is computed in SQL on PostgreSQL only")
def test_rank_suffix_sql_matches_python():
    rng = random.Random(3)
    numbers = [0, 1, 35, 36, 37, 1295, 1296, 36**6 - 1, 36**6, 36**7 - 1]
    numbers += [rng.randrange(36**7) for _ in range(500)]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT n, {ranks.suffix_sql('n')} FROM unnest(%s::bigint[]) AS n", [numbers])
        rows = cursor.fetchall()
    assert [(number, ranks.with_suffix("", number)) for number in numbers] == rows


def test_missing_counters_row_is_not_found_and_writes_nothing(project, owner):
    task = task_services.task_create(project_id=project.pk, user=owner, title="a")
    ProjectCounters.objects.filter(project=project).delete()
    events = Event.objects.count()
    comment = Comment(task=task, author=owner, body="lost")
    number = FromCounters("c.last_number", (), lambda change: change.last_number)
    with pytest.raises(NotFound):
        counters_log(project=project, items=[("comment_added", {"n": number})], actor=owner,
                     rows=[(_comment_writer, comment)])
    assert Event.objects.count() == events
    assert not Comment.objects.exists()


def test_from_counters_values_are_resolved_on_return(project, owner, django_capture_on_commit_callbacks):
    task = task_services.task_create(project_id=project.pk, user=owner, title="a")
    comment = Comment(task=task, author=owner, body="x")
    seq = FromCounters("c.last_seq", (), lambda change: change.last_seq)
    items = [("comment_added", {"top": seq, "nested": {"seq": seq, "kept": 1}})]
    with django_capture_on_commit_callbacks(execute=True):
        change = counters_log(project=project, items=items, actor=owner, rows=[(_comment_writer, comment)])
    event = Event.objects.get(project=project, seq=change.last_seq)
    assert event.data == {"top": change.last_seq, "nested": {"seq": change.last_seq, "kept": 1}}
    assert Comment.objects.get(pk=comment.pk).body == "x" and not comment._state.adding
    # The caller's data is left as it was given.
    assert isinstance(items[0][1]["top"], FromCounters)
