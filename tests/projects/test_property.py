"""Property-style tests: random sequences of board writes keep every derived number exact.

The counters, the event log and the derived status are each maintained
incrementally (in-database increments, a status decided in SQL under the row
lock). These tests drive them through many random writes and compare with a
recomputation from scratch.
"""

import itertools
import random
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Value

from projects import services as project_services
from projects.counters import counters_apply, log_project_events
from projects.management.commands.recount import recount_project
from projects.models import COUNT_FIELDS, ProjectCounters, Status, derived_status
from projects.schemas import ProjectOut
from projects.selectors import derived_status_expression, project_attach_counts, project_get_for_member
from realtime.models import Event
from taskhub.errors import Conflict, ValidationError
from tasks import services as task_services
from tasks.models import Task
from tasks.selectors import task_list_for_project

pytestmark = pytest.mark.django_db

OPERATIONS = 300
GROUPS = COUNT_FIELDS[1:]


class Board:
    """What the board should look like: live task ids per column, in the order the moves asked for."""

    def __init__(self, project):
        self.project = project
        self.columns: dict = {}
        self.reload()

    def column(self, status) -> list:
        return [task.pk for task in task_list_for_project(project=self.project, status_id=status.pk)]

    def reload(self, status_id=None) -> None:
        statuses = Status.objects.filter(project=self.project)
        for status in statuses:
            if status_id is None or status.pk == status_id:
                self.columns[status.pk] = self.column(status)
        for gone in set(self.columns) - {s.pk for s in statuses}:
            del self.columns[gone]

    def remove(self, task_id) -> None:
        for ids in self.columns.values():
            if task_id in ids:
                ids.remove(task_id)

    def live(self) -> list:
        return [task_id for ids in self.columns.values() for task_id in ids]

    def assert_matches_database(self) -> None:
        for status in Status.objects.filter(project=self.project):
            assert self.column(status) == self.columns[status.pk], status.name


def _random_write(rng: random.Random, board: Board, project, user, step: int) -> str:
    """One random board write through the services, mirrored in ``board``; returns what it did."""
    column_ids = list(board.columns)
    live = board.live()
    archived = list(Task.objects.filter(project=project, archived_at__isnull=False).values_list("pk", flat=True))
    kind = rng.choices(
        ["create", "move", "move_status", "update_status", "update", "archive", "restore", "delete",
         "move_archived", "status_churn"],
        weights=[24, 22, 10, 10, 4, 8, 7, 6, 2, 1],
    )[0]
    if kind == "create" or not live:
        kind = "create"
        status_id = rng.choice([None, *column_ids])
        task = task_services.task_create(project_id=project.pk, user=user, title=f"step {step}", status_id=status_id)
        board.columns[task.status_id].append(task.pk)
    elif kind == "move":
        task_id = rng.choice(live)
        target = rng.choice(column_ids)
        others = [t for t in board.columns[target] if t != task_id]
        index = rng.randint(0, len(others))
        after_id = others[index - 1] if index > 0 else None
        before_id = others[index] if index < len(others) else None
        if after_id and before_id and rng.random() < 0.4:
            # Name only one neighbour: the server finds the other.
            after_id, before_id = (after_id, None) if rng.random() < 0.5 else (None, before_id)
        task_services.task_move(task_id=task_id, user=user, status_id=target, after_id=after_id,
                                before_id=before_id)
        board.remove(task_id)
        board.columns[target] = [*others[:index], task_id, *others[index:]]
    elif kind in ("move_status", "update_status"):
        pool = live + archived if kind == "update_status" else live  # PATCH may re-file an archived task
        task = Task.objects.select_related("status").get(pk=rng.choice(pool))
        choices = [s for s in Status.objects.filter(project=project) if s.group != task.status.group]
        target = rng.choice(choices).pk
        if kind == "move_status":
            task_services.task_move(task_id=task.pk, user=user, status_id=target)
        else:
            task_services.task_update(task_id=task.pk, user=user, fields={"status_id": target, "title": "moved"})
        board.remove(task.pk)
        if task.archived_at is None:
            board.columns[target].append(task.pk)
    elif kind == "update":
        task_services.task_update(task_id=rng.choice(live), user=user, fields={"priority": rng.choice(
            ["low", "medium", "high"])})
    elif kind == "archive":
        task_id = rng.choice(live)
        task_services.task_archive(task_id=task_id, user=user)
        board.remove(task_id)
    elif kind == "restore" and archived:
        task = task_services.task_restore(task_id=rng.choice(archived), user=user)
        board.reload(task.status_id)  # it returns to the place its rank gives it
    elif kind == "delete":
        task_id = rng.choice(live + archived)
        task_services.task_delete(task_id=task_id, user=user)
        board.remove(task_id)
    elif kind == "move_archived" and archived:
        # A failed write must not change anything, nor burn a sequence number.
        with pytest.raises(Conflict):
            task_services.task_move(task_id=rng.choice(archived), user=user, status_id=rng.choice(column_ids))
    elif kind == "status_churn":
        extra = [s for s in Status.objects.filter(project=project) if s.name.startswith("Extra")]
        if extra:
            gone = rng.choice(extra)
            target = rng.choice([pk for pk in column_ids if pk != gone.pk])
            project_services.status_delete(status_id=gone.pk, user=user, move_to=target)
            board.reload()
        else:
            project_services.status_create(project_id=project.pk, user=user, name=f"Extra {step}",
                                           group=rng.choice(GROUPS))
            board.reload()
    return kind


def _replay_checks_status_events(events: list[Event]) -> dict[str, int]:
    """Walk the log: a status event follows a counts event exactly when the derived status changed."""
    counts = dict.fromkeys(COUNT_FIELDS, 0)
    for index, event in enumerate(events):
        if event.type != "project_counts_changed":
            continue
        new = event.data["counts"]
        following = events[index + 1] if index + 1 < len(events) else None
        changed = derived_status(counts) != derived_status(new)
        logged = following is not None and following.type == "project_status_changed"
        assert logged == changed, f"seq {event.seq}: {counts} -> {new}"
        if logged:
            assert (following.data["old"], following.data["new"]) == (derived_status(counts),
                                                                       derived_status(new))
        counts = new
    return counts


def test_random_board_writes_keep_counters_log_and_status_exact(project, owner, statuses):
    rng = random.Random(20260501)
    project_services.status_create(project_id=project.pk, user=owner, name="Backlog", group="todo", position=0)
    project_services.status_create(project_id=project.pk, user=owner, name="Shipped", group="done")
    board = Board(project)

    kinds = []
    for step in range(OPERATIONS):
        kinds.append(_random_write(rng, board, project, owner, step))
        # After every placement by neighbours (the rank arithmetic), and now and then anyway.
        if kinds[-1] == "move" or step % 20 == 0:
            board.assert_matches_database()
    board.assert_matches_database()
    assert Task.objects.filter(project=project).count() > 20  # the walk really built a board

    # Counters equal a recount from the tasks table.
    counters = ProjectCounters.objects.get(project=project)
    recount = recount_project(project.pk)
    assert counters.counts() == {name: recount[name] for name in COUNT_FIELDS}
    # One number per create, never reused after a delete.
    assert counters.last_number == kinds.count("create") >= recount["last_number"]

    # The log is 1..N without a gap, and replaying it reproduces the counters and every status change.
    events = list(Event.objects.filter(project=project).order_by("seq"))
    assert [event.seq for event in events] == list(range(1, counters.last_seq + 1))
    assert _replay_checks_status_events(events) == counters.counts()

    # The API shows the recount's derived status, from the database and from the cache.
    expected = derived_status({name: recount[name] for name in COUNT_FIELDS})
    for _ in ("cache miss", "cache hit"):
        shown = project_get_for_member(project_id=project.pk, user=owner)
        project_attach_counts([shown])
        out = ProjectOut.from_orm(shown)
        assert (out.derived_status, out.status) == (expected, expected)
        assert out.counts.model_dump() == counters.counts()

    out = StringIO()
    call_command("recount", "--check", stdout=out)
    assert "0 with drift" in out.getvalue()


def test_failed_writes_burn_no_sequence_numbers(project, owner, statuses):
    task = task_services.task_create(project_id=project.pk, user=owner, title="t")
    last_seq = ProjectCounters.objects.get(project=project).last_seq
    for call, error in (
        (lambda: task_services.task_move(task_id=task.pk, user=owner, after_id=task.pk), ValidationError),
        (lambda: task_services.task_update(task_id=task.pk, user=owner, fields={"title": None}), ValidationError),
        (lambda: project_services.status_delete(status_id=statuses["todo"].pk, user=owner), Conflict),
        (lambda: project_services.status_create(project_id=project.pk, user=owner, name="Done", group="done"),
         Conflict),
    ):
        with pytest.raises(error):
            call()
    task_services.task_update(task_id=task.pk, user=owner, fields={"title": "u"})
    assert list(Event.objects.filter(project=project).order_by("seq").values_list("seq", flat=True)) == list(
        range(1, last_seq + 2))


# --- the derived status in SQL ----------------------------------------------------------------------


def _states(limit: int):
    """Every count vector with 0..limit tasks per group, ``total`` filled in."""
    for values in itertools.product(range(limit + 1), repeat=len(GROUPS)):
        state = dict(zip(GROUPS, values, strict=True))
        yield {"total": sum(values), **state}


def test_the_orm_expression_computes_derived_status(project):
    """``derived_status_expression`` (what the database runs) agrees with ``derived_status`` everywhere."""
    states = list(_states(2))
    states += [{"total": 7, "todo": 0, "active": 0, "review": 0, "issue": 0, "done": 7},
               {"total": 1000, "todo": 0, "active": 0, "review": 999, "issue": 0, "done": 1}]
    row = ProjectCounters.objects.filter(project=project)
    for state in states:
        expression = derived_status_expression({name: Value(state[name]) for name in COUNT_FIELDS})
        assert row.annotate(status=expression).values_list("status", flat=True).get() == derived_status(state), state


def test_status_events_are_logged_exactly_when_the_derived_status_changes(project, owner):
    """Drive the counters row through many deltas; the SQL decides the status event, Python checks it."""
    rng = random.Random(5)
    targets = list(_states(2))
    rng.shuffle(targets)
    # Revisit the interesting corners (empty, all done, lone issue) from many states.
    corners = [dict.fromkeys(COUNT_FIELDS, 0), {**dict.fromkeys(COUNT_FIELDS, 0), "total": 2, "done": 2},
               {**dict.fromkeys(COUNT_FIELDS, 0), "total": 1, "issue": 1}]
    targets += [rng.choice(corners) if i % 3 == 0 else rng.choice(targets) for i in range(150)]
    current = ProjectCounters.objects.get(project=project)
    counts, last_seq = current.counts(), current.last_seq
    changes = 0

    for target in targets:
        delta = {name: target[name] - counts[name] for name in COUNT_FIELDS}
        change = counters_apply(project_id=project.pk, events=1, delta=delta)
        log_project_events(project=project, change=change, items=[("task_updated", {"task": None})], actor=owner)

        status_changed = derived_status(counts) != derived_status(target)
        changes += status_changed
        counts_changed = target != counts
        assert change.counts == target
        assert change.status_changed == status_changed
        # The sequence increment was decided by the SQL CASE under the row lock.
        assert change.last_seq - last_seq == 1 + counts_changed + status_changed
        logged = list(Event.objects.filter(project=project, seq__gt=last_seq).order_by("seq"))
        expected_types = ["task_updated"] + ["project_counts_changed"] * counts_changed + [
            "project_status_changed"] * status_changed
        assert [event.type for event in logged] == expected_types
        if status_changed:
            assert (logged[-1].data["old"], logged[-1].data["new"]) == (derived_status(counts),
                                                                        derived_status(target))
        counts, last_seq = target, change.last_seq

    assert changes > 100
    assert list(Event.objects.filter(project=project).order_by("seq").values_list("seq", flat=True)) == list(
        range(1, last_seq + 1))


def test_no_status_event_while_tracking_is_off(project, owner):
    """An active override turns tracking off: the counts still move, the status event is not owed."""
    delta = {"total": 1, "done": 1}
    last_seq = ProjectCounters.objects.get(project=project).last_seq
    change = counters_apply(project_id=project.pk, events=0, delta=delta, track_status=False)
    log_project_events(project=project, change=change, items=[], actor=owner)

    assert derived_status(change.old_counts) != derived_status(change.counts)
    assert change.status_changed is False
    assert (change.first_seq, change.last_seq) == (last_seq + 1, last_seq + 1)
    assert list(Event.objects.filter(project=project, seq__gt=last_seq).values_list("type", flat=True)) == [
        "project_counts_changed"]
