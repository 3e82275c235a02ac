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
