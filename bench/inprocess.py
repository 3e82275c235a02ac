"""In-process cost of TaskHub's hot paths on PostgreSQL: the figures behind ``projects/queries.py`` and
``tasks/queries.py``.

Two tables, median of ``--reps`` calls after a warm-up, in one process (no HTTP server, no load client):

- statements: each literal statement of the ``queries`` modules beside the ORM query it stands for
  (its reference, which runs on other backends), on the same data;
- requests: the seed mix's endpoints through Django's test client (middleware, auth, ninja, JSON), so a
  change's effect on the request as a whole shows too.

    .venv/bin/python bench/inprocess.py                # a fresh database taskhub_inprocess on 127.0.0.1
    .venv/bin/python bench/inprocess.py --root ../old  # another checkout's code, for a before/after

It drops and creates its database. The machine's speed drifts (MACHINE-LIMITS.md): compare only
figures from one run, and interleave before/after runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(ROOT), help="the checkout whose code is measured")
    parser.add_argument("--database", default="taskhub_inprocess")
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--only", choices=["statements", "requests"], default=None)
    parser.add_argument("--keep", action="store_true", help="reuse the database if it exists (no reseed)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    if not args.keep:
        for statement in (f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)", f"CREATE DATABASE {args.database}"):
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", statement], check=True)
    sys.path.insert(0, str(root))
    os.chdir(root)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="taskhub.settings", DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{args.database}",
        REDIS_URL="redis://127.0.0.1:6379/9", DEBUG="0", SECRET_KEY="inprocess-" + "x" * 50,
        SECURE_SSL_REDIRECT="0", TASKHUB_REQUEST_LOG="0", CACHE_KEY_PREFIX="inprocess-" + args.database,
        LOG_LEVEL="WARNING", ALLOWED_HOSTS="testserver", STATIC_ROOT=str(Path("/tmp") / "taskhub-inprocess-static"),
    )
    import warnings

    warnings.simplefilter("ignore")  # WhiteNoise: no STATIC_ROOT folder, which nothing here serves
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    world = seed()
    out = {}
    if args.only in (None, "statements"):
        out["statements"] = statements(world, args.reps)
    if args.only in (None, "requests"):
        out["requests"] = requests(world, args.reps)
    if args.json:
        print(json.dumps(out))
        return
    for section, rows in out.items():
        print(f"\n{section} (ms, median of {args.reps}):")
        for name, value in rows.items():
            print(f"  {name:<48} {value:8.3f}")


def seed() -> dict:
    from accounts.models import User
    from projects import services as project_services
    from projects.models import Project, Status, Workspace
    from tasks import services as task_services
    from tasks.models import Task

    if not User.objects.filter(email="bench@inprocess.local").exists():
        user = User.objects.create_user("bench@inprocess.local", "bench-password-123", display_name="Bench")
        workspace = project_services.workspace_create(user=user, name="Bench")
        project = project_services.project_create(workspace_id=workspace.pk, user=user, name="Board", key="BOARD")
        for i in range(10):
            project_services.project_create(workspace_id=workspace.pk, user=user, name=f"Other {i}", key=f"O{i}")
        tasks = [task_services.task_create(project_id=project.pk, user=user, title=f"task {i}", assignee_id=user.pk)
                 for i in range(300)]
        for i in range(30):
            task_services.comment_create(task_id=tasks[0].pk, user=user, body=f"comment {i}")
    recipients = []
    for i in range(5):  # the people a notifying write tells (NOTIFY rows)
        recipient = User.objects.filter(email=f"recipient{i}@inprocess.local").first()
        recipients.append(recipient or User.objects.create_user(f"recipient{i}@inprocess.local",
                                                                "bench-password-123", display_name=f"R{i}"))
    user = User.objects.get(email="bench@inprocess.local")
    workspace = Workspace.objects.get(name="Bench", members__user=user)
    project = Project.objects.get(workspace=workspace, key="BOARD")
    return {"user": user, "workspace": workspace, "project": project,
            "task": Task.objects.filter(project=project).order_by("number").first(),
            "todo": Status.objects.get(project=project, group="todo"), "recipients": recipients}


def _median(call, reps: int, atomic: bool = False, locking: bool = False) -> float:
    """Median milliseconds of ``call()``.

    ``atomic``: each call's writes are undone (a savepoint rolled back). A savepoint, not a
    transaction per call: psycopg forgets its prepared statements when a transaction rolls back,
    and every call would then be planned again, as no request is. ``locking``: a read that locks
    rows runs in a transaction of its own, which commits (it writes nothing); under a savepoint
    each lock would cost PostgreSQL a subtransaction and a multixact, which no request pays.
    """
    from django.db import transaction

    def once():
        if locking:
            with transaction.atomic():
                started = time.perf_counter()
                call()
                return time.perf_counter() - started
        if not atomic:
            started = time.perf_counter()
            call()
            return time.perf_counter() - started
        with transaction.atomic():
            started = time.perf_counter()
            call()
            elapsed = time.perf_counter() - started
            transaction.set_rollback(True)
        return elapsed

    if locking:
        for _ in range(20):
            once()
        return statistics.median(once() for _ in range(reps)) * 1000
    with transaction.atomic():
        for _ in range(20):
            once()
        result = statistics.median(once() for _ in range(reps)) * 1000
        if atomic:
            transaction.set_rollback(True)
    return result


def statements(world: dict, reps: int) -> dict[str, float]:
    from django.db.models import F, Value
    from django.utils import timezone

    from projects import queries as project_queries
    from projects.models import ProjectCounters
    from projects.selectors import project_for_member_queryset, workspaces_for_member
    from realtime.events import build
    from realtime.models import Event
    from taskhub.pagination import paginate
    from tasks import queries as task_queries
    from tasks.selectors import (
        board_cards_orm,
        column_for_create_orm,
        task_for_member_queryset,
        task_for_write_queryset,
        task_list_for_project,
    )

    user, project, task, todo = world["user"], world["project"], world["task"], world["todo"]
    status_ids = list(project.statuses.order_by("position").values_list("pk", flat=True))
    rows: dict[str, float] = {}

    def orm_counters():
        counters = ProjectCounters(project_id=project.pk)
        for name in ("total", "todo", "active", "review", "issue", "done"):
            setattr(counters, name, F(name) + Value(1 if name in ("total", "todo") else 0))
        counters.last_number, counters.last_seq = F("last_number") + Value(1), F("last_seq") + Value(2)
        counters.updated_at = timezone.now()
        counters.save(update_fields=["total", "todo", "active", "review", "issue", "done", "last_number",
                                     "last_seq", "updated_at"])

    rows["COUNTERS_UPDATE literal"] = _median(lambda: project_queries.counters_update(
        project_id=project.pk, delta={"total": 1, "todo": 1}, numbers=1, seqs=2, now=timezone.now()), reps, True)
    rows["COUNTERS_UPDATE ORM (save with F, RETURNING)"] = _median(orm_counters, reps, True)

    def events():
        last = ProjectCounters.objects.get(project=project).last_seq + 1000
        return build(workspace_id=project.workspace_id, project_id=project.pk, first_seq=last,
                     items=[("task_updated", {"task": {"id": "x"}}), ("project_counts_changed", {"counts": {}})],
                     actor_id=user.pk)

    made = events()
    rows["EVENTS_INSERT literal (2 events)"] = _median(
        lambda: project_queries.events_insert(made, take_status_seq=False), reps, True)
    rows["EVENTS_INSERT ORM (bulk_create)"] = _median(lambda: Event.objects.bulk_create(events()), reps, True)
    rows["PROJECT_FOR_MEMBER literal"] = _median(
        lambda: project_queries.project_for_member(project_id=project.pk, user_id=user.pk), reps)
    rows["PROJECT_FOR_MEMBER ORM"] = _median(
        lambda: project_for_member_queryset(user).filter(pk=project.pk).first(), reps)
    rows["WORKSPACE_FOR_MEMBER literal"] = _median(
        lambda: project_queries.workspace_for_member(workspace_id=project.workspace_id, user_id=user.pk), reps)
    rows["WORKSPACE_FOR_MEMBER ORM"] = _median(
        lambda: workspaces_for_member(user).filter(pk=project.workspace_id).first(), reps)
    rows["PROJECT_PAGE literal (11 projects)"] = _median(lambda: project_queries.project_page(
        workspace_id=project.workspace_id, user_id=user.pk, archived=False, after=None, limit=51), reps)
    rows["WORKSPACE_PAGE literal"] = _median(
        lambda: project_queries.workspace_page(user_id=user.pk, after=None, limit=51), reps)
    from projects.selectors import project_list_for_workspace, workspace_list_for_user

    rows["PROJECT_PAGE ORM"] = _median(lambda: paginate(project_list_for_workspace(
        workspace=world["workspace"], user=user), order=["-counters__updated_at", "-id"], limit=50, cursor=None), reps)
    rows["WORKSPACE_PAGE ORM"] = _median(lambda: paginate(workspace_list_for_user(user=user), order=["name", "id"],
                                                          limit=50, cursor=None), reps)
    rows["PROJECT_PAGE (tasks) literal, 50 cards"] = _median(
        lambda: task_queries.project_page(project=project, after=None, limit=51), reps)
    rows["PROJECT_PAGE (tasks) ORM, 50 cards"] = _median(lambda: paginate(
        task_list_for_project(project=project), order=["-created_at", "-id"], limit=50, cursor=None), reps)
    rows["COLUMN_PAGE literal, 50 cards"] = _median(
        lambda: task_queries.column_page(project=project, status_id=todo.pk, after=None, limit=51), reps)
    rows["COLUMN_PAGE ORM, 50 cards"] = _median(lambda: paginate(
        task_list_for_project(project=project, status_id=todo.pk), order=["rank", "id"], limit=50, cursor=None), reps)
    rows["BOARD_CARDS literal, 50 per column"] = _median(
        lambda: task_queries.board_cards(project=project, status_ids=status_ids, per_column=50), reps)
    rows["BOARD_CARDS ORM, 50 per column"] = _median(
        lambda: board_cards_orm(project=project, status_ids=status_ids, per_column=50), reps)
    rows["TASK_FOR_MEMBER literal"] = _median(
        lambda: task_queries.task_for_member(task_id=task.pk, user_id=user.pk), reps)
    rows["TASK_FOR_MEMBER ORM"] = _median(lambda: task_for_member_queryset(user).filter(pk=task.pk).first(), reps)
    shape = {"status_id": todo.pk, "after_id": None, "before_id": None, "parent_id": None, "to_end": True}
    rows["TASK_FOR_WRITE literal (to a column's end)"] = _median(
        lambda: task_queries.task_for_write(task_id=task.pk, user_id=user.pk, **shape), reps, locking=True)
    rows["TASK_FOR_WRITE ORM"] = _median(
        lambda: task_for_write_queryset(task_id=task.pk, user=user, **shape).first(), reps, locking=True)
    rows["COLUMN_FOR_CREATE literal"] = _median(lambda: task_queries.column_for_create(
        project_id=project.pk, user_id=user.pk, status_id=None, parent_id=None), reps)
    rows["COLUMN_FOR_CREATE ORM"] = _median(lambda: column_for_create_orm(
        project_id=project.pk, user=user, status_id=None, parent_id=None), reps)
    from notifications import queries as notification_queries
    from notifications.models import Notification
    from notifications.services import notify_rows_orm

    def notification_rows(how_many: int) -> list:
        now = timezone.now()
        return [Notification(user_id=r.pk, seq=0, type="mentioned", text="Bench mentioned you", actor_id=user.pk,
                             workspace_id=project.workspace_id, project_id=project.pk, task_id=task.pk,
                             task_key="BOARD-1", task_title=task.title, created_at=now)
                for r in sorted(world["recipients"][:how_many], key=lambda r: str(r.pk))]

    for how_many in (1, 5):
        rows[f"NOTIFY literal, {how_many} recipient(s)"] = _median(lambda n=how_many: notification_queries.notify(
            notification_rows(n), actor_id=user.pk, created_at=timezone.now()), reps, True)
        rows[f"NOTIFY ORM, {how_many} recipient(s)"] = _median(
            lambda n=how_many: notify_rows_orm(notification_rows(n)), reps, True)
    rows["COMMENT_PAGE literal, 30 comments"] = _median(
        lambda: task_queries.comment_page(task_id=task.pk, after=None, limit=51), reps)
    from tasks.selectors import comment_list_for_task

    rows["COMMENT_PAGE ORM, 30 comments"] = _median(lambda: paginate(
        comment_list_for_task(task=task), order=["created_at", "id"], limit=50, cursor=None), reps)
    rows.update(checklist_statements(task, reps))
    return rows


def checklist_statements(task, reps: int) -> dict[str, float]:
    """A new item and its task's counts (``tasks.queries.ITEM_INSERT``) against the ORM's two statements."""
    import uuid

    from django.db.models import F, Value
    from django.utils import timezone

    from tasks import queries as task_queries
    from tasks.models import Checklist, ChecklistItem

    checklist = Checklist.objects.filter(task=task).first() or Checklist.objects.create(task=task, title="Bench",
                                                                                          rank="i")
    rows: dict[str, float] = {}

    def literal():
        task_queries.checklist_write("item", "insert", {
            "id": uuid.uuid4(), "checklist_id": checklist.pk, "text": "bench", "is_done": False, "done_by_id": None,
            "done_at": None, "rank": uuid.uuid4().hex, "created_at": timezone.now(), "task_id": task.pk, "total": 1,
            "done": 0})

    def orm():
        ChecklistItem(checklist=checklist, text="bench", rank=uuid.uuid4().hex).save(force_insert=True)
        task.checklist_total = F("checklist_total") + Value(1)
        task.checklist_done = F("checklist_done") + Value(0)
        task.checklist_version = F("checklist_version") + Value(1)
        task.save(update_fields=["checklist_total", "checklist_done", "checklist_version"])

    rows["ITEM_INSERT literal (item + task counts)"] = _median(literal, reps, True)
    rows["ITEM_INSERT ORM (save, then save with F, RETURNING)"] = _median(orm, reps, True)
    return rows


def requests(world: dict, reps: int) -> dict[str, float]:
    from django.test import Client

    from accounts.services import token_create

    user, workspace, project, task, todo = (world[k] for k in ("user", "workspace", "project", "task", "todo"))
    raw, _ = token_create(email=user.email, password="bench-password-123")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    api = "/api/v1"
    cases = {
        "list tasks": ("get", f"{api}/projects/{project.pk}/tasks", None),
        "list tasks of a column": ("get", f"{api}/projects/{project.pk}/tasks?status={todo.pk}", None),
        "get task": ("get", f"{api}/tasks/{task.pk}", None),
        "list projects": ("get", f"{api}/workspaces/{workspace.pk}/projects", None),
        "list comments": ("get", f"{api}/tasks/{task.pk}/comments", None),
        "list workspaces": ("get", f"{api}/workspaces", None),
        "get project": ("get", f"{api}/projects/{project.pk}", None),
        "get workspace": ("get", f"{api}/workspaces/{workspace.pk}", None),
        "workspace members": ("get", f"{api}/workspaces/{workspace.pk}/members", None),
        "project members": ("get", f"{api}/projects/{project.pk}/members", None),
        "board": ("get", f"{api}/projects/{project.pk}/board", None),
        "create task": ("post", f"{api}/projects/{project.pk}/tasks", {"title": "new"}),
        "update task": ("patch", f"{api}/tasks/{task.pk}", {"title": "renamed"}),
        "create comment": ("post", f"{api}/tasks/{task.pk}/comments", {"body": "hi"}),
    }
    rows = {}
    for name, (method, url, body) in cases.items():
        kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body else {}
        reply = getattr(client, method)(url, **kwargs)
        assert reply.status_code in (200, 201), (name, reply.status_code, reply.content[:300])
        rows[name] = _median(lambda method=method, url=url, kwargs=kwargs: getattr(client, method)(url, **kwargs), reps)
    return rows


if __name__ == "__main__":
    main()
