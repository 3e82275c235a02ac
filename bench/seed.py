"""Seed the benchmark database; prints the ids and a token as JSON on stdout.

Boards of 10, 1 000 and 10 000 tasks are bulk-inserted (then counters are
recomputed by ``manage.py recount``), since creating 11 000 tasks one request
at a time is not what is being measured.
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskhub.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import token_create  # noqa: E402
from projects import services as project_services  # noqa: E402
from projects.models import ProjectCounters, Status  # noqa: E402
from tasks import ranks  # noqa: E402
from tasks import services as task_services  # noqa: E402
from tasks.models import Task  # noqa: E402

PASSWORD = "bench-password-123"


def board(workspace, user, key: str, size: int) -> dict:
    project = project_services.project_create(workspace_id=workspace.pk, user=user, name=f"Board {size}", key=key)
    statuses = list(Status.objects.filter(project=project).order_by("position"))
    now = timezone.now()
    rank = None
    rows = []
    for i in range(size):
        rank = ranks.after(rank)
        rows.append(Task(project=project, status=statuses[i % len(statuses)], number=i + 1, title=f"task {i}",
                         reporter=user, rank=ranks.with_suffix(rank, i + 1), created_at=now, updated_at=now))
    Task.objects.bulk_create(rows, batch_size=2000)
    ProjectCounters.objects.filter(project=project).update(last_number=size)
    return {"project_id": str(project.pk), "size": size}


def main() -> None:
    user = User.objects.create_user("bench@taskhub.local", PASSWORD, display_name="Bench")
    raw, _ = token_create(email=user.email, password=PASSWORD)
    workspace = project_services.workspace_create(user=user, name="Bench workspace")
    seed = project_services.project_create(workspace_id=workspace.pk, user=user, name="Seed", key="SEED")
    task = task_services.task_create(project_id=seed.pk, user=user, title="The shared task")
    task_services.comment_create(task_id=task.pk, user=user, body="first")
    # Ticked and unticked in the checklist scenario, beside PATCHes of the same task.
    checklist = task_services.checklist_create(task_id=task.pk, user=user, title="Steps")
    items = [task_services.checklist_item_create(checklist_id=checklist.pk, user=user, text=f"step {i}")
             for i in range(5)]
    todo = Status.objects.get(project=seed, group="todo")
    floor = project_services.project_create(workspace_id=workspace.pk, user=user, name="Floor", key="FLOOR")
    floor_status = Status.objects.get(project=floor, group="todo")
    # Written to between the watched project's writes in the sockets scenario; no socket subscribes to it.
    unwatched = project_services.project_create(workspace_id=workspace.pk, user=user, name="Unwatched", key="QUIET")
    # Tasks are assigned to them in the notification scenarios: their socket follows their notifications.
    assignee = User.objects.create_user("assignee@taskhub.local", PASSWORD, display_name="Assignee")
    project_services.workspace_member_add(workspace_id=workspace.pk, actor=user, email=assignee.email, role="editor")
    assignee_raw, _ = token_create(email=assignee.email, password=PASSWORD)
    boards = [board(workspace, user, f"B{size}", size) for size in (10, 1000, 10000)]
    with open(os.devnull, "w") as quiet:
        call_command("recount", stdout=quiet)
    json.dump({
        "token": raw, "workspace_id": str(workspace.pk), "project_id": str(seed.pk), "task_id": str(task.pk),
        "status_id": str(todo.pk), "floor_project_id": str(floor.pk), "floor_status_id": str(floor_status.pk),
        "quiet_project_id": str(unwatched.pk), "assignee_id": str(assignee.pk), "assignee_token": assignee_raw,
        "boards": boards, "checklist_item_id": str(items[0].pk),
    }, sys.stdout)


if __name__ == "__main__":
    main()
