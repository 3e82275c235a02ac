"""Management commands: ``seed_demo`` and ``recount``."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F

from accounts.models import User
from notifications.models import Notification
from projects.management.commands.recount import recount_project
from projects.models import COUNT_FIELDS, Invitation, Project, ProjectCounters, ProjectMember, Status, Workspace
from realtime.models import Event
from tasks.management.commands.seed_demo import DEMO_EMAIL, PROJECTS, WORKSPACE_NAME
from tasks.models import Task
from tests import factories

pytestmark = pytest.mark.django_db

SEEDED = (User, Workspace, Project, ProjectMember, Status, ProjectCounters, Task, Event, Notification, Invitation)


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in SEEDED}


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_seed_demo_creates_the_demo_board_once():
    assert "Demo data created." in run("seed_demo")
    first = row_counts()

    assert "Demo data already present." in run("seed_demo")

    assert row_counts() == first
    demo = User.objects.get(email=DEMO_EMAIL)
    assert demo.is_superuser and demo.is_staff  # a fresh install has no other staff
    workspace = Workspace.objects.get(name=WORKSPACE_NAME)
    assert sorted(Project.objects.filter(workspace=workspace).values_list("key", flat=True)) == sorted(
        key for key, _name, _tasks in PROJECTS)
    # The demo tasks, and the three the teammate adds.
    assert first["Task"] == sum(len(tasks) for _key, _name, tasks in PROJECTS) + 3
    # The teammate's doings leave the demo user notifications and an invitation to answer.
    told = list(Notification.objects.filter(user=demo).order_by("seq").values_list("seq", "type"))
    assert told == [(1, "task_assigned"), (2, "task_assigned"), (3, "mentioned"), (4, "invitation_received")]
    assert Invitation.objects.get(email=DEMO_EMAIL).status == "pending"
    # Built through the services: the counters are exact and each log is gap-free.
    for project in Project.objects.filter(workspace=workspace):
        counters = ProjectCounters.objects.get(project=project)
        actual = recount_project(project.pk)
        assert counters.counts() == {name: actual[name] for name in COUNT_FIELDS}
        seqs = list(Event.objects.filter(project=project).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, counters.last_seq + 1))
    assert "0 with drift" in run("recount", "--check")


def test_seed_demo_does_not_make_the_demo_user_staff_when_staff_exists():
    User.objects.create_superuser("admin@example.com", "admin-password-1")
    run("seed_demo")
    demo = User.objects.get(email=DEMO_EMAIL)
    assert not demo.is_superuser and not demo.is_staff


def test_recount_detects_and_fixes_drift(project, other_project, owner, outsider, statuses, unchanged):
    factories.task(project, owner)
    factories.task(project, owner, status_id=statuses["done"].pk)
    factories.task(other_project, outsider)
    assert "2 projects checked, 0 with drift" in run("recount", "--check")

    # Corrupt one row the way a hand edit would (the total keeps its CHECK constraint happy).
    ProjectCounters.objects.filter(project=project).update(todo=F("todo") + 5, total=F("total") + 5,
                                                           last_number=0)

    with unchanged(), pytest.raises(CommandError, match="1 with drift"):
        run("recount", "--check")

    out = run("recount")
    assert f"project {project.pk}: total 7 -> 2, todo 6 -> 1, last_number 0 -> 2" in out
    assert "1 with drift (fixed)" in out
    counters = ProjectCounters.objects.get(project=project)
    assert counters.counts() == {"total": 2, "todo": 1, "active": 0, "review": 0, "issue": 0, "done": 1}
    assert counters.last_number == 2

    assert "0 with drift" in run("recount", "--check")
    # The next task gets a fresh number, not one already taken.
    assert factories.task(project, owner).number == 3


def test_recount_ignores_archived_tasks(project, owner, statuses):
    from tasks import services as task_services

    task = factories.task(project, owner, status_id=statuses["issue"].pk)
    task_services.task_archive(task_id=task.pk, user=owner)
    assert recount_project(project.pk) == {"total": 0, "todo": 0, "active": 0, "review": 0, "issue": 0, "done": 0,
                                           "last_number": 1}
    assert "0 with drift" in run("recount", "--check")
