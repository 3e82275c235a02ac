"""Reads of tasks and comments, each with the access check in the same query."""

from __future__ import annotations

import uuid

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    UUIDField,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber

from projects.models import Project, Status, StatusGroup
from projects.selectors import project_get_for_member, project_role_subquery, workspace_role_subquery
from taskhub.db import first_locked
from taskhub.errors import NotFound, ValidationError
from taskhub.pagination import check_limit, page_after, page_finish, paginate
from tasks import queries
from tasks.models import Checklist, ChecklistItem, Comment, Task
from tasks.schemas import CARD_RELATED, TaskOut, card_columns

# A card's people and column (the related rows a TaskOut reads), and the columns it reads of them.
CARD_ONLY = card_columns()


def cards(qs: QuerySet[Task]) -> QuerySet[Task]:
    """``qs`` reading what a card (``TaskOut``) shows, and no more: the task's columns and its related rows'.

    The project is not joined: callers hold it already and attach it
    (``attach_project``), instead of reading it again in every row.
    """
    return qs.select_related(*CARD_RELATED).only(*CARD_ONLY)


def attach_project(tasks: list[Task], project: Project) -> list[Task]:
    for task in tasks:
        task.project = project
    return tasks


def _last_rank(status_ref) -> Subquery:
    """The rank of the last live task of the column ``status_ref`` (an ``OuterRef`` or a value)."""
    return Subquery(
        Task.objects.filter(status_id=status_ref, archived_at__isnull=True).order_by("-rank").values("rank")[:1]
    )


def status_get_for_task_create(
    *, project_id: uuid.UUID, user, status_id: uuid.UUID | None, parent_id: uuid.UUID | None
) -> Status:
    """The column a new task goes to, with its project, the caller's roles and the column's last rank.

    One query. ``status_id`` None picks the project's first ``todo`` column (or
    its first column if it has none). Annotations: ``ws_role``,
    ``project_role``, ``last_rank`` and, when ``parent_id`` is given,
    ``parent_ok``. ``NotFound`` when the caller may not see the project,
    ``ValidationError`` when ``status_id`` is not one of its columns.
    """
    if queries.available():
        status = queries.column_for_create(project_id=project_id, user_id=user.pk, status_id=status_id,
                                           parent_id=parent_id)
    else:
        status = column_for_create_orm(project_id=project_id, user=user, status_id=status_id, parent_id=parent_id)
    if status is None:
        # Error path only: tell "no such project" from "not a status of this project".
        project_get_for_member(project_id=project_id, user=user)
        raise ValidationError("status_id is not a status of this project.")
    return status


def column_for_create_orm(*, project_id, user, status_id, parent_id) -> Status | None:
    """``status_get_for_task_create``'s read on the ORM (the reference of ``tasks.queries.column_for_create``)."""
    annotations = {
        "ws_role": workspace_role_subquery(user, "project__workspace_id"),
        "project_role": project_role_subquery(user, "project_id"),
        "last_rank": _last_rank(OuterRef("pk")),
    }
    if parent_id is not None:
        annotations["parent_ok"] = Exists(Task.objects.filter(pk=parent_id, project_id=OuterRef("project_id")))
    qs = (
        Status.objects.select_related("project")
        .annotate(**annotations)
        .filter(project_id=project_id, ws_role__isnull=False)
    )
    if status_id is not None:
        qs = qs.filter(pk=status_id)
    else:
        todo_first = Case(When(group=StatusGroup.TODO, then=Value(0)), default=Value(1), output_field=IntegerField())
        qs = qs.order_by(todo_first, "position", "id")
    return qs.first()


def task_for_member_queryset(user) -> QuerySet[Task]:
    """Tasks as ``task_get_for_member`` gives them (the ORM reference of ``tasks.queries.task_for_member``)."""
    return (
        Task.objects.select_related("project", *CARD_RELATED)
        .annotate(
            ws_role=workspace_role_subquery(user, "project__workspace_id"),
            project_role=project_role_subquery(user, "project_id"),
        )
        .filter(ws_role__isnull=False)
    )


def task_get_for_member(*, task_id: uuid.UUID, user) -> Task:
    """A task (archived too) the caller may see, with ``ws_role`` and ``project_role``."""
    if queries.available():
        task = queries.task_for_member(task_id=task_id, user_id=user.pk)
    else:
        task = task_for_member_queryset(user).filter(pk=task_id).first()
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
    if queries.available():
        return first_locked(
            lambda: queries.task_for_write(task_id=task_id, user_id=user.pk, status_id=status_id, after_id=after_id,
                                           before_id=before_id, parent_id=parent_id, to_end=to_end),
            "Task not found.",
        )
    qs = task_for_write_queryset(task_id=task_id, user=user, status_id=status_id, after_id=after_id,
                                 before_id=before_id, parent_id=parent_id, to_end=to_end)
    return first_locked(qs.first, "Task not found.")


def task_for_write_queryset(*, task_id, user, status_id, after_id, before_id, parent_id, to_end) -> QuerySet[Task]:
    """``task_get_for_write``'s locking read on the ORM (the reference of ``tasks.queries.task_for_write``)."""
    column = Value(status_id, output_field=UUIDField()) if status_id is not None else OuterRef("status_id")
    annotations = {
        "ws_role": workspace_role_subquery(user, "project__workspace_id"),
        "project_role": project_role_subquery(user, "project_id"),
    }
    if status_id is not None:
        target = Status.objects.filter(pk=status_id, project_id=OuterRef("project_id"))
        for field in ("name", "group", "position"):
            annotations[f"target_{field}"] = Subquery(target.values(field)[:1])
    others = Task.objects.filter(status_id=column, archived_at__isnull=True).exclude(pk=task_id)

    def neighbour_rank(pk) -> Subquery:
        return Subquery(others.filter(pk=pk, project_id=OuterRef("project_id")).values("rank")[:1])

    if after_id is not None:
        annotations["after_rank"] = neighbour_rank(after_id)
        if before_id is None:
            annotations["next_rank"] = Subquery(
                others.filter(rank__gt=neighbour_rank(after_id)).order_by("rank").values("rank")[:1]
            )
    if before_id is not None:
        annotations["before_rank"] = neighbour_rank(before_id)
        if after_id is None:
            annotations["prev_rank"] = Subquery(
                others.filter(rank__lt=neighbour_rank(before_id)).order_by("-rank").values("rank")[:1]
            )
    if to_end:
        annotations["last_rank"] = Subquery(others.order_by("-rank").values("rank")[:1])
    if parent_id is not None:
        annotations["parent_ok"] = Exists(Task.objects.filter(pk=parent_id, project_id=OuterRef("project_id")))
    qs = (
        Task.objects.select_related("project", *CARD_RELATED)
        .annotate(**annotations)
        .filter(pk=task_id, ws_role__isnull=False)
        # NO KEY UPDATE, not UPDATE: a comment or subtask insert checks its
        # foreign key to this task with KEY SHARE (at commit, while holding
        # the counters row); FOR UPDATE would make the two deadlock.
        .select_for_update(of=("self",), no_key=True)
    )
    return qs


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
    """Filtered tasks of a project as cards: in rank order within one status, else newest first."""
    qs = cards(Task.objects.filter(project=project, archived_at__isnull=not archived))
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


def task_page_for_project(
    *, project: Project, limit: int, cursor: str | None, status_id: uuid.UUID | None = None,
    assignee_id: uuid.UUID | None = None, priority: str | None = None, type: str | None = None,
    q: str | None = None, archived: bool = False,
) -> tuple[list[Task], str | None]:
    """A page of ``task_list_for_project`` (cards: tasks with their project attached, or dicts), and the next cursor.

    The two pages a board reads, every live task newest first and one column in
    rank order, are literal statements (``tasks.queries``); filtered ones the ORM's.
    """
    limit = check_limit(limit)
    order = ["rank", "id"] if status_id is not None else ["-created_at", "-id"]
    plain = assignee_id is None and priority is None and type is None and not q and not archived
    if plain and queries.available():
        after = page_after(Task, order, cursor)
        if status_id is None:
            rows = queries.project_page(project=project, after=after, limit=limit + 1)
        else:
            rows = queries.column_page(project=project, status_id=status_id, after=after, limit=limit + 1)
        return page_finish(rows, order=order, limit=limit)
    qs = task_list_for_project(project=project, status_id=status_id, assignee_id=assignee_id, priority=priority,
                               type=type, q=q, archived=archived)
    items, next_cursor = paginate(qs, order=order, limit=limit, cursor=cursor)
    return attach_project(items, project), next_cursor


def task_list_assigned_to(*, user) -> QuerySet[Task]:
    """Live tasks assigned to ``user`` in workspaces they still belong to, newest first."""
    return (
        cards(Task.objects.filter(assignee=user, archived_at__isnull=True))
        .select_related("project")
        .annotate(ws_role=workspace_role_subquery(user, "project__workspace_id"))
        .filter(ws_role__isnull=False)
        .order_by("-created_at", "-id")
    )


def task_page_assigned_to(*, user, limit: int, cursor: str | None) -> tuple[list[Task], str | None]:
    return paginate(task_list_assigned_to(user=user), order=["-created_at", "-id"], limit=limit, cursor=cursor)


def comment_list_for_task(*, task: Task) -> QuerySet[Comment]:
    return Comment.objects.filter(task=task).select_related("author").order_by("created_at", "id")


def comment_page_for_task(*, task: Task, limit: int, cursor: str | None) -> tuple[list, str | None]:
    """A page of the task's comments, oldest first: ``Comment`` objects, or ``CommentOut`` dicts (``queries``)."""
    order = ["created_at", "id"]
    if queries.available():
        limit = check_limit(limit)
        rows = queries.comment_page(task_id=task.pk, after=page_after(Comment, order, cursor), limit=limit + 1)
        return page_finish(rows, order=order, limit=limit)
    return paginate(comment_list_for_task(task=task), order=order, limit=limit, cursor=cursor)


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


def board_columns(*, project: Project, per_column: int) -> list[Status]:
    """The board's columns, each with ``cards`` (its first ``per_column`` live cards, as dicts) and ``count``.

    Queries: the columns; the cards of all columns at once; and only when two
    columns share a status group, one GROUP BY for those columns' totals. The
    other totals come from the project's counters row (``project.counters``
    must be loaded), which counts live tasks by group.
    """
    statuses = list(Status.objects.filter(project=project).order_by("position", "id"))
    if not statuses:
        return []
    by_status: dict = {status.pk: [] for status in statuses}
    for card in board_cards(project=project, status_ids=list(by_status), per_column=per_column):
        by_status[card["status"]["id"]].append(card)
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
        status.cards = by_status[status.pk]
        status.count = exact.get(status.pk, 0) if status.pk in shared else counts[status.group]
    return statuses


def board_cards(*, project: Project, status_ids: list[uuid.UUID], per_column: int) -> list[dict]:
    """The first ``per_column`` live cards of each column, in (rank, id) order, as ``TaskOut``-shaped dicts."""
    if queries.available():
        return queries.board_cards(project=project, status_ids=status_ids, per_column=per_column)
    return board_cards_orm(project=project, status_ids=status_ids, per_column=per_column)


def board_cards_orm(*, project: Project, status_ids: list[uuid.UUID], per_column: int) -> list[dict]:
    """``board_cards`` on the ORM (the reference of ``tasks.queries.board_cards``): one statement, a row
    number per column over its live tasks."""
    ranked = cards(Task.objects.filter(status_id__in=status_ids, archived_at__isnull=True)).annotate(
        place=Window(RowNumber(), partition_by=F("status_id"), order_by=[F("rank").asc(), F("id").asc()])
    )
    tasks = attach_project(list(ranked.filter(place__lte=per_column).order_by("rank", "id")), project)
    return [TaskOut.model_validate(task).model_dump() for task in tasks]


# --- checklists --------------------------------------------------------------------------------------
# A checklist write reads everything it needs in one locking statement: the checklist or item, its task
# (locked: FOR NO KEY UPDATE of the task's row, the one lock every write of the task's checklists takes),
# the project, the caller's roles, and what ordering and the limits need of the siblings (their count,
# the ranks around the wanted position, the last rank). Positions are never stored: a checklist's (an
# item's) position is the number of its siblings with a smaller rank, so they stay dense and unique.
#
# Under READ COMMITTED the subqueries of that statement read its snapshot, taken before it waited for
# the task's lock, while the locked row itself is read as the writer it waited for left it. Every
# checklist write moves the task's ``checklist_version`` on, so ``seen_version`` (the snapshot's) differs
# from the locked row's exactly when another checklist write committed meanwhile, and the read is run
# again, holding the lock now, on fresh data. Only a write that waited pays that one query.


def _count(qs: QuerySet, by: str) -> Coalesce:
    """The number of rows of ``qs`` (filtered on an ``OuterRef``), as a subquery; 0 for none."""
    return Coalesce(Subquery(qs.order_by().values(by).annotate(n=Count("pk")).values("n")[:1]), 0)


def _ranks_around(siblings: QuerySet, position: int) -> dict:
    """``low_rank``/``high_rank``: the ranks of the siblings at ``position - 1`` and ``position``; ``last_rank``."""
    ordered = siblings.order_by("rank").values("rank")
    annotations = {
        "high_rank": Subquery(ordered[position:position + 1]),
        "last_rank": Subquery(siblings.order_by("-rank").values("rank")[:1]),
    }
    if position > 0:
        annotations["low_rank"] = Subquery(ordered[position - 1:position])
    return annotations


def _witness(task_ref: str) -> Subquery:
    return Subquery(Task.objects.filter(pk=OuterRef(task_ref)).values("checklist_version")[:1])


def _fresh(fetch, not_found: str, task_of):
    """``fetch()`` (a locking read), run again when it waited for another checklist write (see above)."""
    found = first_locked(fetch, not_found)
    if found.seen_version != task_of(found).checklist_version:
        found = first_locked(fetch, not_found)
    return found


def task_get_for_checklist_create(*, task_id: uuid.UUID, user) -> Task:
    """The task, locked, with its project, the caller's roles, ``checklists_count`` and ``last_rank``."""

    def fetch():
        checklists = Checklist.objects.filter(task_id=OuterRef("pk"))
        return (
            Task.objects.select_related("project")
            .annotate(
                ws_role=workspace_role_subquery(user, "project__workspace_id"),
                project_role=project_role_subquery(user, "project_id"),
                checklists_count=_count(checklists, "task_id"),
                last_rank=Subquery(checklists.order_by("-rank").values("rank")[:1]),
                seen_version=_witness("pk"),
            )
            .filter(pk=task_id, ws_role__isnull=False)
            .select_for_update(of=("self",), no_key=True)
            .first()
        )

    return _fresh(fetch, "Task not found.", lambda task: task)


def checklist_get_for_write(*, checklist_id: uuid.UUID, user, position: int | None = None,
                            items: bool = False) -> Checklist:
    """The checklist with its task (locked) and project, the caller's roles and its ``place``.

    ``position``: also the ranks around that position among the other
    checklists of the task (``low_rank``, ``high_rank``, ``last_rank``) and
    their count (``others_count``). ``items``: its items' ``items_count``,
    ``items_done`` and ``last_item_rank`` (for a new item, or a delete).
    """

    def fetch():
        siblings = Checklist.objects.filter(task_id=OuterRef("task_id"))
        annotations = {
            "ws_role": workspace_role_subquery(user, "task__project__workspace_id"),
            "project_role": project_role_subquery(user, "task__project_id"),
            "place": _count(siblings.filter(rank__lt=OuterRef("rank")), "task_id"),
            "seen_version": _witness("task_id"),
        }
        if position is not None:
            others = siblings.exclude(pk=OuterRef("pk"))
            annotations.update(_ranks_around(others, position), others_count=_count(others, "task_id"))
        if items:
            own = ChecklistItem.objects.filter(checklist_id=OuterRef("pk"))
            annotations.update(
                items_count=_count(own, "checklist_id"), items_done=_count(own.filter(done=True), "checklist_id"),
                last_item_rank=Subquery(own.order_by("-rank").values("rank")[:1]),
            )
        return (
            Checklist.objects.select_related("task", "task__project")
            .annotate(**annotations)
            .filter(pk=checklist_id, ws_role__isnull=False)
            .select_for_update(of=("task",), no_key=True)
            .first()
        )

    return _fresh(fetch, "Checklist not found.", lambda checklist: checklist.task)


def item_get_for_write(*, item_id: uuid.UUID, user, checklist_id: uuid.UUID | None = None,
                       position: int | None = None) -> ChecklistItem:
    """The item with its checklist, task (locked), project and ``done_by``, the caller's roles and its ``place``.

    When the item moves (``checklist_id``, another checklist of the same
    task, or ``position``): ``target_ok`` (the target checklist is one of the
    task's), the ranks around ``position`` among the target's other items
    (``low_rank``, ``high_rank``, ``last_rank``; with no ``position``, only
    ``last_rank``) and their count (``others_count``).
    """
    moves = checklist_id is not None or position is not None

    def fetch():
        own = ChecklistItem.objects.filter(checklist_id=OuterRef("checklist_id"))
        annotations = {
            "ws_role": workspace_role_subquery(user, "checklist__task__project__workspace_id"),
            "project_role": project_role_subquery(user, "checklist__task__project_id"),
            "place": _count(own.filter(rank__lt=OuterRef("rank")), "checklist_id"),
            "seen_version": _witness("checklist__task_id"),
        }
        if moves:
            target = Value(checklist_id, output_field=UUIDField()) if checklist_id is not None else OuterRef(
                "checklist_id")
            others = ChecklistItem.objects.filter(checklist_id=target).exclude(pk=OuterRef("pk"))
            annotations["target_ok"] = Exists(
                Checklist.objects.filter(pk=target, task_id=OuterRef("checklist__task_id")))
            annotations["others_count"] = _count(others, "checklist_id")
            if position is not None:
                annotations.update(_ranks_around(others, position))
            else:
                annotations["last_rank"] = Subquery(others.order_by("-rank").values("rank")[:1])
        return (
            ChecklistItem.objects.select_related("checklist", "checklist__task", "checklist__task__project",
                                                 "done_by")
            .annotate(**annotations)
            .filter(pk=item_id, ws_role__isnull=False)
            .select_for_update(of=("checklist__task",), no_key=True)
            .first()
        )

    return _fresh(fetch, "Checklist item not found.", lambda item: item.checklist.task)


def checklists_for_task(*, task: Task) -> list[dict]:
    """The task's checklists in order, each with its items in order and their ``done_by``, as
    ``ChecklistWithItemsOut``-shaped dicts, positions counted from 0. Two queries."""
    items = Prefetch("items", queryset=ChecklistItem.objects.select_related("done_by").order_by("rank"))
    found = []
    for position, checklist in enumerate(Checklist.objects.filter(task=task).order_by("rank").prefetch_related(items)):
        found.append({
            "id": checklist.pk, "task_id": checklist.task_id, "title": checklist.title, "position": position,
            "items": [item_shape(item, place) for place, item in enumerate(checklist.items.all())],
        })
    return found


def item_shape(item: ChecklistItem, position: int) -> dict:
    """The ``ChecklistItemOut`` of ``item`` (its ``done_by`` loaded) at ``position``."""
    return {"id": item.pk, "checklist_id": item.checklist_id, "text": item.text, "done": item.done,
            "done_by": item.done_by, "done_at": item.done_at, "position": position}
