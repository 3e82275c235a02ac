"""``counters_apply`` and ``counters_log``: the counters UPDATE ... RETURNING and the events it numbers.

The statement decides, under the row lock, whether the derived status
changed (it reserves a sequence number for ``project_status_changed`` only
then), and Python decides it again from the returned counts for the
envelopes it logs; both read ``projects.models.DERIVED_RULES``. These tests
check that the two agree over many random changes, on both backends, that
the log stays gap-free, and that a failed write leaves nothing behind.
"""

import random

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from projects.counters import counters_apply, counters_log
from projects.models import COUNT_FIELDS, ProjectCounters, derived_status
from realtime.events import add_after_commit_hook, remove_after_commit_hook
from realtime.models import Event
from taskhub.errors import NotFound
from tasks import ranks
from tasks import services as task_services
from tasks.models import Task
from tasks.schemas import task_payload
from tasks.selectors import task_get_for_member

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


def test_the_counters_change_is_one_update_returning(project, owner):
    with CaptureQueriesContext(connection) as ctx:
        change = counters_apply(project_id=project.pk, events=2, delta={"total": 1, "todo": 1}, take_number=True)
    statements = [q["sql"] for q in ctx.captured_queries]
    assert len(statements) == 1
    # The literal statement on PostgreSQL (projects.queries), the ORM's on SQLite: the same UPDATE ... RETURNING.
    assert " ".join(statements[0].replace('"', "").split()).startswith("UPDATE projects_projectcounters SET")
    assert "RETURNING" in statements[0]
    stored = ProjectCounters.objects.get(project=project)
    assert (stored.last_number, stored.last_seq) == (change.last_number, change.last_seq)
    assert stored.counts() == change.counts


def test_missing_counters_row_is_not_found_and_writes_nothing(project, owner):
    ProjectCounters.objects.filter(project=project).delete()
    events = Event.objects.count()
    with pytest.raises(NotFound), transaction.atomic():  # as a service runs it
        counters_log(project=project, items=[("comment_added", {"n": 1})], actor=owner)
    assert Event.objects.count() == events
