"""Concurrent writers on one project: no deadlock surfaces, nothing drifts, the log has no gaps.

Real threads and real transactions (``transaction=True``); on PostgreSQL this
exercises the row locks (``FOR NO KEY UPDATE`` on the task, the counters row,
deferred foreign-key checks) and the deadlock retry.
"""

import random
import threading

import pytest
from django.db import connection

from projects.management.commands.recount import recount_project
from projects.models import COUNT_FIELDS, ProjectCounters, Status
from realtime.models import Event
from tasks import services as task_services
from tasks.models import Task
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def test_mixed_writers_on_one_task_and_project(project, owner, editor, viewer):
    shared = factories.task(project, owner, title="shared")
    columns = list(Status.objects.filter(project=project))
    errors: list[BaseException] = []

    def worker(seed: int, user):
        rng = random.Random(seed)
        try:
            for i in range(15):
                op = rng.choice(["patch", "comment", "create", "move"])
                if op == "patch":
                    task_services.task_update(task_id=shared.pk, user=user, fields={"description": f"{seed}-{i}"})
                elif op == "comment":
                    task_services.comment_create(task_id=shared.pk, user=viewer, body=f"c{seed}-{i}")
                elif op == "create":
                    task_services.task_create(project_id=project.pk, user=user, title=f"t{seed}-{i}",
                                              parent_id=shared.pk)
                else:
                    task_services.task_move(task_id=shared.pk, user=user, status_id=rng.choice(columns).pk)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n, owner if n % 2 else editor)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    counters = ProjectCounters.objects.get(pk=project.pk)
    actual = recount_project(project.pk)
    assert {name: getattr(counters, name) for name in COUNT_FIELDS} == {name: actual[name] for name in COUNT_FIELDS}
    numbers = sorted(Task.objects.filter(project=project).values_list("number", flat=True))
    assert numbers == list(range(1, len(numbers) + 1))
    seqs = list(Event.objects.filter(project=project).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, counters.last_seq + 1))


def _run_threads(target, args_list) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(*args):
        try:
            target(*args)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=args) for args in args_list]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_checklist_writers_keep_positions_dense_and_counts_exact(project, owner, editor):
    """Appends, reorders, moves and ticks of one task's checklists from 8 threads at once.

    Each append's answer names its place: with every writer of the task serialised on its row (and the read
    run again when it waited, ``tasks.selectors``), the 40 answers are exactly the places 0..39. Then
    reorders, moves between the two checklists and ticks race; the positions stay dense and unique and the
    task's counts equal a recount.
    """
    from tasks.management.commands.recount_checklists import checklist_counts_of
    from tasks.models import ChecklistItem
    from tasks.selectors import checklists_for_task

    task = factories.task(project, owner, title="shared")
    first = task_services.checklist_create(task_id=task.pk, user=owner, title="first")
    second = task_services.checklist_create(task_id=task.pk, user=owner, title="second")
    answers: list[int] = []

    def append(seed: int, user):
        for i in range(5):
            item = task_services.checklist_item_create(checklist_id=first.pk, user=user, text=f"{seed}-{i}")
            answers.append(item.position)

    assert _run_threads(append, [(n, owner if n % 2 else editor) for n in range(8)]) == []
    assert sorted(answers) == list(range(40))
    listed = checklists_for_task(task=task)[0]["items"]
    assert [item["position"] for item in listed] == list(range(40))
    ids = [item["id"] for item in listed]

    def shuffle(seed: int, user):
        rng = random.Random(seed)
        for _ in range(12):
            item_id = rng.choice(ids)
            op = rng.choice(["reorder", "move", "tick", "untick"])
            fields = {"reorder": {"position": rng.randrange(45)},
                      "move": {"checklist_id": rng.choice([first.pk, second.pk]), "position": rng.randrange(30)},
                      "tick": {"done": True}, "untick": {"done": False}}[op]
            task_services.checklist_item_update(item_id=item_id, user=user, fields=fields)

    assert _run_threads(shuffle, [(n, owner if n % 2 else editor) for n in range(8)]) == []
    lists = checklists_for_task(task=task)
    assert sum(len(c["items"]) for c in lists) == 40
    for checklist in lists:
        assert [item["position"] for item in checklist["items"]] == list(range(len(checklist["items"])))
    for checklist_id in (first.pk, second.pk):
        ranks_ = list(ChecklistItem.objects.filter(checklist_id=checklist_id).values_list("rank", flat=True))
        assert len(ranks_) == len(set(ranks_))
    fresh = Task.objects.get(pk=task.pk)
    assert (fresh.checklist_total, fresh.checklist_done) == checklist_counts_of([task.pk])[task.pk]
    counters = ProjectCounters.objects.get(pk=project.pk)
    seqs = list(Event.objects.filter(project=project).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, counters.last_seq + 1))


def test_concurrent_checklist_creates_stop_at_the_limit(project, owner, editor):
    from taskhub.errors import Conflict
    from tasks.models import Checklist
    from tasks.services import MAX_CHECKLISTS

    task = factories.task(project, owner, title="shared")
    made: list[int] = []
    refused: list[int] = []

    def create(seed: int, user):
        for i in range(8):
            try:
                made.append(task_services.checklist_create(task_id=task.pk, user=user, title=f"{seed}-{i}").position)
            except Conflict:
                refused.append(seed)

    assert _run_threads(create, [(n, owner if n % 2 else editor) for n in range(8)]) == []
    assert sorted(made) == list(range(MAX_CHECKLISTS)) and len(refused) == 64 - MAX_CHECKLISTS
    assert Checklist.objects.filter(task=task).count() == MAX_CHECKLISTS
