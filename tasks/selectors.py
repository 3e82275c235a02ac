"""Reads of tasks and comments, each with the access check in the same query."""

from __future__ import annotations

import uuid

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, UUIDField, Value

from accounts.models import User
from projects.models import Project, Status, StatusGroup
from projects.selectors import (
    project_get_for_member,
    project_role_subquery,
    workspace_role_subquery,
)
from taskhub.db import RowReader, first_locked
from taskhub.errors import NotFound, ValidationError
from taskhub.pagination import PreparedPages, paginate
from taskhub.prepared import PreparedQuery
from tasks.models import Comment, Task
from tasks.schemas import task_data

TASK_RELATED = ("project", "status", "assignee", "reporter")
# What a card (TaskOut) reads: the task's own columns and two fields of each person.
CARD_FIELDS = (
    "id", "project_id", "number", "title", "description", "status_id", "priority", "type", "story_points",
    "due_date", "parent_id", "rank", "version", "created_at", "updated_at", "completed_at", "archived_at",
    "assignee__id", "assignee__display_name", "reporter__id", "reporter__display_name",
)


def _live_ranks(status_ref) -> QuerySet[Task]:
    return Task.objects.filter(status_id=status_ref, archived_at__isnull=True)


_STATUS_ROWS = RowReader(Status)
_PROJECT_ROWS = RowReader(Project)
_CREATE_SQL: dict[tuple[str, bool, bool], str] = {}


def _create_sql(*, by_id: bool, with_parent: bool) -> str:
    """The SQL of ``status_get_for_task_create``, written once per backend and variant."""
    key = (connection.vendor, by_id, with_parent)
    if key not in _CREATE_SQL:
        from projects.models import ProjectMember, WorkspaceMember

        q = connection.ops.quote_name
        parent = (f", EXISTS (SELECT 1 FROM {q(Task._meta.db_table)} pt WHERE pt.{q('id')} = %s"
                  f" AND pt.{q('project_id')} = p.{q('id')}) AS parent_ok") if with_parent else ""
        # With no status_id: the first todo column, else the first column (one query either way).
        pick = f"s.{q('id')} = %s" if by_id else "1 = 1"
        order = "" if by_id else (f"ORDER BY CASE WHEN s.{q('group')} = '{StatusGroup.TODO}' THEN 0 ELSE 1 END,"
                                  f" s.{q('position')}, s.{q('id')}")
        _CREATE_SQL[key] = f"""
            SELECT {_STATUS_ROWS.columns('s')}, {_PROJECT_ROWS.columns('p')},
                   wm.{q('role')},
                   (SELECT pm.{q('role')} FROM {q(ProjectMember._meta.db_table)} pm
                     WHERE pm.{q('project_id')} = p.{q('id')} AND pm.{q('user_id')} = %s),
                   (SELECT t.{q('rank')} FROM {q(Task._meta.db_table)} t
                     WHERE t.{q('status_id')} = s.{q('id')} AND t.{q('archived_at')} IS NULL
                     ORDER BY t.{q('rank')} DESC LIMIT 1)
                   {parent}
              FROM {q(Status._meta.db_table)} s
              JOIN {q(Project._meta.db_table)} p ON p.{q('id')} = s.{q('project_id')}
              JOIN {q(WorkspaceMember._meta.db_table)} wm
                ON wm.{q('workspace_id')} = p.{q('workspace_id')} AND wm.{q('user_id')} = %s
             WHERE s.{q('project_id')} = %s AND {pick}
             {order}
             LIMIT 1"""
    return _CREATE_SQL[key]


def status_get_for_task_create(
    *, project_id: uuid.UUID, user, status_id: uuid.UUID | None, parent_id: uuid.UUID | None
) -> Status:
    """The column a new task goes to, with its project, the caller's roles and the column's last rank.

    One query. ``status_id`` None picks the project's first ``todo`` column (or
    its first column if it has none). Annotations: ``ws_role``,
    ``project_role``, ``last_rank`` and, when ``parent_id`` is given,
    ``parent_ok``.

    Hand-written SQL, unlike the other selectors: this is the read of every
    task creation, and building and compiling it as a queryset took 2.5 ms
    against 0.35 ms for running it (measured in process on PostgreSQL).
    ``tests/tasks`` pin its answers against the same rules as the ORM reads.
    """
    uuid_param = Status._meta.pk.get_db_prep_value
    params = [uuid_param(user.pk, connection)]  # in the order of the placeholders
    if parent_id is not None:
        params.append(uuid_param(parent_id, connection))
    params += [uuid_param(user.pk, connection), uuid_param(project_id, connection)]
    if status_id is not None:
        params.append(uuid_param(status_id, connection))
    with connection.cursor() as cursor:
        cursor.execute(_create_sql(by_id=status_id is not None, with_parent=parent_id is not None), params)
        row = cursor.fetchone()
    if row is None:
        # Error path only: tell "no such project" from "not a status of this project".
        project_get_for_member(project_id=project_id, user=user, with_counters=False, with_people=False)
        raise ValidationError("status_id is not a status of this project.")
    status = _STATUS_ROWS.read(row)
    status.project = _PROJECT_ROWS.read(row, len(_STATUS_ROWS))
    extra = row[len(_STATUS_ROWS) + len(_PROJECT_ROWS):]
    status.ws_role, status.project_role, status.last_rank = extra[:3]
    if parent_id is not None:
        status.parent_ok = bool(extra[3])
    return status


_TASK_FOR_MEMBER = PreparedQuery(
    lambda task_id, user_id: (
        Task.objects.select_related(*TASK_RELATED)
        .annotate(
            ws_role=workspace_role_subquery(User(pk=user_id), "project__workspace_id"),
            project_role=project_role_subquery(User(pk=user_id), "project_id"),
        )
        .filter(pk=task_id, ws_role__isnull=False)[:1]
    ),
    task_id=Task._meta.pk, user_id=User._meta.pk,
)


def task_get_for_member(*, task_id: uuid.UUID, user) -> Task:
    """A task (archived too) the caller may see, with ``ws_role`` and ``project_role``."""
    task = _TASK_FOR_MEMBER.first(task_id=task_id, user_id=user.pk)
    if task is None:
        raise NotFound("Task not found.")
    return task


def task_get_for_write(
    *,
    task_id: uuid.UUID,
    user,
    status_id: uuid.UUID | None = None,
    after_id: uuid.UUID | None = None,
    before_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
    to_end: bool = False,
) -> Task:
    """The task, locked, with everything a PATCH or a move needs, in one query (see ``_task_for_write``)."""
    return first_locked(
        lambda: _TASK_FOR_WRITE.first(task_id=task_id, user_id=user.pk, status_id=status_id, after_id=after_id,
                                      before_id=before_id, parent_id=parent_id, to_end=to_end),
        "Task not found.",
    )


def _task_for_write(*, task_id, user_id, status_id, after_id, before_id, parent_id, to_end: bool) -> QuerySet[Task]:
    """The task, locked, with everything a PATCH or a move needs, in one query.

    Annotations beside the caller's roles:

    - ``target_*``: name, group and position of ``status_id`` when it is a
      column of the task's project (null otherwise);
    - ``after_rank`` / ``before_rank``: the ranks of the named neighbours when
      they are live tasks of the target column; ``next_rank`` (the card below
      ``after_id``) or ``prev_rank`` (the card above ``before_id``) when only
      one neighbour is named; ``last_rank`` of the target column for ``to_end``;
    - ``parent_ok``: ``parent_id`` is a task of the same project.

    Folding these into the locking read keeps PATCH and move at four queries
    (DESIGN.md): this one, the task UPDATE, the counters UPDATE and the event
    INSERT. The lock (task row only) makes the If-Match check and the
    read-modify-write of ``version`` safe against concurrent writers.
    """
    user = User(pk=user_id)
    column = Value(status_id, output_field=UUIDField()) if status_id is not None else OuterRef("status_id")
    annotations = {
        "ws_role": workspace_role_subquery(user, "project__workspace_id"),
        "project_role": project_role_subquery(user, "project_id"),
    }
    if status_id is not None:
        target = Status.objects.filter(pk=status_id, project_id=OuterRef("project_id"))
        for field in ("name", "group", "position"):
            annotations[f"target_{field}"] = Subquery(target.values(field)[:1])

    def neighbour(pk):
        return _live_ranks(column).filter(pk=pk, project_id=OuterRef("project_id")).exclude(pk=task_id)

    others = _live_ranks(column).exclude(pk=task_id)
    if after_id is not None:
        after_rank = Subquery(neighbour(after_id).values("rank")[:1])
        annotations["after_rank"] = after_rank
        if before_id is None:
            annotations["next_rank"] = Subquery(
                others.filter(rank__gt=Subquery(neighbour(after_id).values("rank")[:1]))
                .order_by("rank").values("rank")[:1]
            )
    if before_id is not None:
        annotations["before_rank"] = Subquery(neighbour(before_id).values("rank")[:1])
        if after_id is None:
            annotations["prev_rank"] = Subquery(
                others.filter(rank__lt=Subquery(neighbour(before_id).values("rank")[:1]))
                .order_by("-rank").values("rank")[:1]
            )
    if to_end:
        annotations["last_rank"] = Subquery(others.order_by("-rank").values("rank")[:1])
    if parent_id is not None:
        annotations["parent_ok"] = Exists(Task.objects.filter(pk=parent_id, project_id=OuterRef("project_id")))
    qs = (
        Task.objects.select_related(*TASK_RELATED)
        .annotate(**annotations)
        .filter(pk=task_id, ws_role__isnull=False)
        # NO KEY UPDATE, not UPDATE: a comment or subtask insert checks its
        # foreign key to this task with KEY SHARE (at commit, while holding
        # the counters row); FOR UPDATE would make the two deadlock.
        .select_for_update(of=("self",), no_key=True)
    )
    return qs[:1]


_TASK_FOR_WRITE = PreparedQuery(
    _task_for_write, task_id=Task._meta.pk, user_id=User._meta.pk, status_id=Status._meta.pk,
    after_id=Task._meta.pk, before_id=Task._meta.pk, parent_id=Task._meta.pk,
)


def task_list_for_project(
    *,
    project: Project,
    status_id: uuid.UUID | None = None,
    assignee_id: uuid.UUID | None = None,
    priority: str | None = None,
    type: str | None = None,
    q: str | None = None,
    archived: bool = False,
) -> QuerySet[Task]:
    """Filtered tasks of a project: in rank order within one status, else newest first.

    The project is the caller's, already in memory: callers attach it to the
    page's tasks (``attach_project``) instead of joining it into every row.
    """
    qs = (
        Task.objects.filter(project=project, archived_at__isnull=not archived)
        .select_related("status", "assignee", "reporter")
        .only(*CARD_FIELDS, "status__id", "status__name", "status__group")
    )
    if status_id is not None:
        qs = qs.filter(status_id=status_id).order_by("rank", "id")
    else:
        qs = qs.order_by("-created_at", "-id")
    if assignee_id is not None:
        qs = qs.filter(assignee_id=assignee_id)
    if priority is not None:
        qs = qs.filter(priority=priority)
    if type is not None:
        qs = qs.filter(type=type)
    if q:
        qs = qs.filter(Q(title__icontains=q) | Q(description__icontains=q))
    return qs


# A card's columns as values_list() names them: the task's, then its column's and its two people's.
CARD_VALUES = (
    "id", "number", "title", "description", "status_id", "priority", "type", "story_points", "due_date", "parent_id",
    "rank", "version", "created_at", "updated_at", "completed_at", "archived_at", "status__name", "status__group",
    "assignee__id", "assignee__display_name", "reporter__id", "reporter__display_name",
)


def card_reader(project: Project):
    """A function from a ``CARD_VALUES`` row of ``project`` to the task's ``task_data`` dict."""
    key = f"{project.key}-"

    def read(row) -> dict:
        (id_, number, title, description, status_id, priority, type_, story_points, due_date, parent_id, rank,
         version, created_at, updated_at, completed_at, archived_at, status_name, status_group, assignee_id,
         assignee_name, reporter_id, reporter_name) = row
        return {
            "id": id_, "key": f"{key}{number}", "project_id": project.pk, "title": title, "description": description,
            "status": {"id": status_id, "name": status_name, "group": status_group},
            "assignee": None if assignee_id is None else {"id": assignee_id, "display_name": assignee_name},
            "reporter": None if reporter_id is None else {"id": reporter_id, "display_name": reporter_name},
            "priority": priority, "type": type_, "story_points": story_points, "due_date": due_date,
            "parent_id": parent_id, "rank": rank, "version": version, "created_at": created_at,
            "updated_at": updated_at, "completed_at": completed_at, "archived_at": archived_at,
        }

    return read


def _task_pages(order: list[str]) -> PreparedPages:
    # Rows, not instances: building 50 tasks and their people took 40% of a page's time in process.
    return PreparedPages(
        Task,
        lambda project_id, archived, **filters: task_list_for_project(
            project=Project(pk=project_id), archived=archived, **filters).values_list(*CARD_VALUES),
        order=order, project_id=Project._meta.pk, status_id=Status._meta.pk, assignee_id=User._meta.pk,
        priority=Task._meta.get_field("priority"), type=Task._meta.get_field("type"),
    )


_TASK_PAGES = {True: _task_pages(["rank", "id"]), False: _task_pages(["-created_at", "-id"])}


def task_page_for_project(
    *, project: Project, limit: int, cursor: str | None, status_id: uuid.UUID | None = None,
    assignee_id: uuid.UUID | None = None, priority: str | None = None, type: str | None = None,
    q: str | None = None, archived: bool = False,
) -> tuple[list[dict], str | None]:
    """A page of ``task_list_for_project`` as ``task_data`` dicts, and the next cursor.

    Without ``q`` (a substring search, which cannot be prepared) the page's
    SQL is compiled once per shape (``PreparedPages``) and the cards are read
    straight from its rows.
    """
    filters = {"status_id": status_id, "assignee_id": assignee_id, "priority": priority, "type": type,
               "archived": archived}
    if q:
        order = ["rank", "id"] if status_id is not None else ["-created_at", "-id"]
        items, next_cursor = paginate(task_list_for_project(project=project, q=q, **filters), order=order,
                                      limit=limit, cursor=cursor)
        return [task_data(task) for task in attach_project(items, project)], next_cursor
    return _TASK_PAGES[status_id is not None].page(limit=limit, cursor=cursor, read=card_reader(project),
                                                   project_id=project.pk, **filters)


def attach_project(tasks: list[Task], project: Project) -> list[Task]:
    for task in tasks:
        task.project = project
    return tasks


def task_list_for_board(*, status: Status) -> QuerySet[Task]:
    """Live tasks of one column in rank order (the board index covers it)."""
    return (
        Task.objects.filter(status=status, archived_at__isnull=True)
        .select_related(*TASK_RELATED)
        .order_by("rank", "id")
    )


def task_list_assigned_to(*, user) -> QuerySet[Task]:
    """Tasks assigned to ``user`` in workspaces they still belong to, newest first."""
    return (
        Task.objects.filter(assignee=user, archived_at__isnull=True)
        .annotate(ws_role=workspace_role_subquery(user, "project__workspace_id"))
        .filter(ws_role__isnull=False)
        .select_related(*TASK_RELATED)
        .order_by("-created_at", "-id")
    )


def comment_list_for_task(*, task: Task) -> QuerySet[Comment]:
    return Comment.objects.filter(task=task).select_related("author").order_by("created_at", "id")


_COMMENT_PAGES = PreparedPages(Comment, lambda task_id: comment_list_for_task(task=Task(pk=task_id)),
                               order=["created_at", "id"], task_id=Task._meta.pk)


def comment_page_for_task(*, task: Task, limit: int, cursor: str | None) -> tuple[list[Comment], str | None]:
    return _COMMENT_PAGES.page(limit=limit, cursor=cursor, task_id=task.pk)


def comment_get_for_member(*, comment_id: uuid.UUID, user, for_update: bool = False) -> Comment:
    """A comment on a task the caller may see; ``ws_role`` annotated."""
    qs = (
        Comment.objects.select_related("author", "task", "task__project")
        .annotate(ws_role=workspace_role_subquery(user, "task__project__workspace_id"))
        .filter(pk=comment_id, ws_role__isnull=False)
    )
    if for_update:
        qs = qs.select_for_update(of=("self",), no_key=True)
    comment = qs.first()
    if comment is None:
        raise NotFound("Comment not found.")
    return comment



_CARD_TASK = RowReader(Task, CARD_VALUES[:16])  # the task's own columns; card_reader takes the rest from the join
_CARD_PERSON = RowReader(User, ["id", "display_name"])


def _cards_sql(columns: int) -> str:
    q = connection.ops.quote_name
    table = q(Task._meta.db_table)
    users = q(User._meta.db_table)
    branches = " UNION ALL ".join(
        f"SELECT {q('id')} FROM (SELECT {q('id')} FROM {table} WHERE {q('status_id')} = %s "
        f"AND {q('archived_at')} IS NULL ORDER BY {q('rank')}, {q('id')} LIMIT %s) AS c{index}"
        for index in range(columns)
    )
    return (f"SELECT {_CARD_TASK.columns('t')}, {_CARD_PERSON.columns('a')}, {_CARD_PERSON.columns('r')} "
            f"FROM {table} t LEFT JOIN {users} a ON a.{q('id')} = t.{q('assignee_id')} "
            f"LEFT JOIN {users} r ON r.{q('id')} = t.{q('reporter_id')} "
            f"WHERE t.{q('id')} IN ({branches}) ORDER BY t.{q('rank')}, t.{q('id')}")


_BOARD_STATUSES = PreparedQuery(
    lambda project_id: Status.objects.filter(project_id=project_id).order_by("position", "id"),
    project_id=Project._meta.pk,
)


def board_columns(*, project: Project, per_column: int) -> list[Status]:
    """The board's columns, each with ``board_cards`` (its first ``per_column`` live tasks) and ``count``.

    Queries: the columns; the tasks of all columns at once (one statement: a
    UNION ALL of per-column ``ORDER BY rank LIMIT n`` index range scans, so the
    cost follows ``per_column``, not the project's size); and only when two
    columns share a status group, one GROUP BY for those columns' totals. The
    other totals come from the project's counters row (``project.counters``
    must be loaded), which counts live tasks by group.

    The cards are ``task_data`` dicts read straight from the rows, without
    model instances: in a profile of the board (1 000 tasks, 50 per column),
    building 250 tasks and their 500 people through the ORM took 55% of the
    view's time.
    """
    statuses = _BOARD_STATUSES.fetch(project_id=project.pk)
    if not statuses:
        return []
    status_field = Task._meta.get_field("status")
    params = []
    for status in statuses:
        params += [status_field.get_db_prep_value(status.pk, connection), per_column]
    with connection.cursor() as cursor:
        cursor.execute(_cards_sql(len(statuses)), params)
        rows = cursor.fetchall()
    by_status: dict = {status.pk: [] for status in statuses}
    columns = {status.pk: status for status in statuses}
    people = len(_CARD_TASK)
    tasks = _CARD_TASK.rows(rows)
    assignees = _CARD_PERSON.rows(rows, people)
    reporters = _CARD_PERSON.rows(rows, people + len(_CARD_PERSON))
    read = card_reader(project)
    for task, assignee, reporter in zip(tasks, assignees, reporters, strict=True):
        status = columns[task[4]]  # status_id
        by_status[status.pk].append(read((*task, status.name, status.group, *assignee, *reporter)))
    per_group: dict[str, list[Status]] = {}
    for status in statuses:
        per_group.setdefault(status.group, []).append(status)
    shared = {s.pk for group in per_group.values() if len(group) > 1 for s in group}
    exact: dict = {}
    if shared:
        exact = dict(
            Task.objects.filter(status_id__in=shared, archived_at__isnull=True)
            .values("status_id").annotate(n=Count("pk")).values_list("status_id", "n").order_by()
        )
    counts = project.counters.counts()
    for status in statuses:
        status.board_cards = by_status[status.pk]
        status.count = exact.get(status.pk, 0) if status.pk in shared else counts[status.group]
    return statuses
