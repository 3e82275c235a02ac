"""REST endpoints for tasks, the board and comments (API.md)."""

from __future__ import annotations

import uuid

from django.http import HttpResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from projects.schemas import MemberOut, ProjectOut, StatusOut, WorkspaceMemberPatch
from projects.selectors import project_get_for_member, project_members_all
from realtime.events import task_activity_page
from realtime.schemas import EventOut
from taskhub.errors import PreconditionFailed
from taskhub.http import etag, if_match_version, set_etag
from taskhub.openapi import conditional
from taskhub.pagination import MAX_LIMIT, encode_cursor
from taskhub.schemas import ErrorOut, Page, ValidationErrorOut
from tasks import selectors, services
from tasks.models import Priority, TaskType
from tasks.schemas import (
    ChecklistIn,
    ChecklistItemIn,
    ChecklistItemOut,
    ChecklistItemPatch,
    ChecklistOut,
    ChecklistPatch,
    ChecklistWithItemsOut,
    CommentIn,
    CommentOut,
    TaskIn,
    TaskMoveIn,
    TaskOut,
    TaskPatch,
)

router = Router(tags=["tasks"])

ERRORS = {400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ValidationErrorOut}
# Operations that answer with a task send its version as the ETag.
TASK_ETAG = conditional(etag=(200,))
TASK_IF_MATCH = conditional(etag=(200, 412), if_match=True)


class PageParams(Schema):
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=2000)


class TaskFilter(PageParams):
    status: uuid.UUID | None = None
    assignee: uuid.UUID | None = None
    priority: Priority | None = None
    type: TaskType | None = None
    q: str | None = Field(None, max_length=200)
    archived: bool = False


class BoardColumnOut(StatusOut):
    count: int
    tasks: list[TaskOut]
    next_cursor: str | None


class BoardOut(Schema):
    project: ProjectOut
    statuses: list[BoardColumnOut]
    members: list[MemberOut]
    as_of_seq: int


def _task_response(response: HttpResponse, task):
    set_etag(response, task.version)
    return task


# --- tasks --------------------------------------------------------------------------------------


@router.get("/projects/{project_id}/tasks", response={200: Page[TaskOut], **ERRORS})
def task_list(request, project_id: uuid.UUID, params: Query[TaskFilter]):
    """Filtered tasks: in rank order within one ``status``, else newest first. Two queries."""
    project = project_get_for_member(project_id=project_id, user=request.user)
    items, next_cursor = selectors.task_page_for_project(
        project=project, limit=params.limit, cursor=params.cursor, status_id=params.status,
        assignee_id=params.assignee, priority=params.priority, type=params.type, q=params.q, archived=params.archived,
    )
    return {"items": items, "next_cursor": next_cursor}


@router.post("/projects/{project_id}/tasks", response={201: TaskOut, **ERRORS},
             openapi_extra=conditional(etag=(201,)))
def task_create(request, response: HttpResponse, project_id: uuid.UUID, payload: TaskIn):
    """Create a task at the end of its column (default: the project's first ``todo`` column)."""
    task = services.task_create(project_id=project_id, user=request.user, **payload.dict())
    return Status(201, _task_response(response, task))


@router.get("/tasks/{task_id}", response={200: TaskOut, 404: ErrorOut}, openapi_extra=TASK_ETAG)
def task_get(request, response: HttpResponse, task_id: uuid.UUID):
    """One task the caller may see, archived ones included."""
    return _task_response(response, selectors.task_get_for_member(task_id=task_id, user=request.user))


def _precondition_failed(response: HttpResponse, task_id, user):
    current = selectors.task_get_for_member(task_id=task_id, user=user)
    set_etag(response, current.version)
    return Status(412, current)


@router.patch("/tasks/{task_id}", response={200: TaskOut, 412: TaskOut, **ERRORS}, openapi_extra=TASK_IF_MATCH)
def task_update(request, response: HttpResponse, task_id: uuid.UUID, payload: TaskPatch):
    """Partial update; honours ``If-Match`` (``412`` with the current task when stale)."""
    try:
        task = services.task_update(task_id=task_id, user=request.user, fields=payload.dict(exclude_unset=True),
                                    if_match=if_match_version(request))
    except PreconditionFailed:
        return _precondition_failed(response, task_id, request.user)
    return _task_response(response, task)


@router.post("/tasks/{task_id}/move", response={200: TaskOut, 412: TaskOut, **ERRORS}, openapi_extra=TASK_IF_MATCH)
def task_move(request, response: HttpResponse, task_id: uuid.UUID, payload: TaskMoveIn):
    """Move to a column and/or between two cards (``after_id`` above, ``before_id`` below)."""
    try:
        task = services.task_move(task_id=task_id, user=request.user, status_id=payload.status_id,
                                  after_id=payload.after_id, before_id=payload.before_id,
                                  if_match=if_match_version(request))
    except PreconditionFailed:
        return _precondition_failed(response, task_id, request.user)
    return _task_response(response, task)


@router.delete("/tasks/{task_id}", response={204: None, **ERRORS})
def task_delete(request, task_id: uuid.UUID):
    """Delete the task; its subtasks lose their parent."""
    services.task_delete(task_id=task_id, user=request.user)
    return Status(204, None)


@router.post("/tasks/{task_id}/archive", response={200: TaskOut, **ERRORS}, openapi_extra=TASK_ETAG)
def task_archive(request, response: HttpResponse, task_id: uuid.UUID):
    """Archive the task: it leaves the board and the counts, and can be restored."""
    return _task_response(response, services.task_archive(task_id=task_id, user=request.user))


@router.post("/tasks/{task_id}/restore", response={200: TaskOut, **ERRORS}, openapi_extra=TASK_ETAG)
def task_restore(request, response: HttpResponse, task_id: uuid.UUID):
    """Restore a task (and its project, if that was archived)."""
    return _task_response(response, services.task_restore(task_id=task_id, user=request.user))


@router.get("/me/tasks", response={200: Page[TaskOut], 422: ValidationErrorOut})
def my_task_list(request, params: Query[PageParams]):
    """Live tasks assigned to the caller, across workspaces, newest first."""
    items, next_cursor = selectors.task_page_assigned_to(user=request.user, limit=params.limit, cursor=params.cursor)
    return {"items": items, "next_cursor": next_cursor}


# --- board ----------------------------------------------------------------------------------------


@router.get("/projects/{project_id}/board", response={200: BoardOut, 304: None, **ERRORS}, tags=["board"],
            openapi_extra=conditional(etag=(200, 304), if_none_match=True))
def board_get(request, response: HttpResponse, project_id: uuid.UUID, per_column: int = Query(50, ge=1, le=MAX_LIMIT)):
    """The board snapshot; its ETag follows the project's event sequence (``If-None-Match`` gives ``304``).

    Subscribe from ``as_of_seq`` to miss nothing: it is read in the first
    query, before the tasks, so the snapshot is at least that new.
    Queries: the project with its counters and the caller's roles; the
    columns; the first ``per_column`` tasks of every column; the members; and
    a GROUP BY only when two columns share a status group.
    """
    project = project_get_for_member(project_id=project_id, user=request.user)
    seq = project.counters.last_seq
    tag = etag(f"{seq}-{per_column}-{int(project.active_override() is not None)}")
    if tag in [value.strip() for value in request.headers.get("If-None-Match", "").split(",")]:
        not_modified = HttpResponse(status=304)
        not_modified["ETag"] = tag
        return not_modified
    columns = []
    for status in selectors.board_columns(project=project, per_column=per_column):
        cards = status.cards
        more = status.count > len(cards)
        columns.append({
            "id": status.pk, "project_id": status.project_id, "name": status.name, "group": status.group,
            "position": status.position, "count": status.count, "tasks": cards,
            "next_cursor": encode_cursor([cards[-1]["rank"], cards[-1]["id"]]) if more and cards else None,
        })
    response["ETag"] = tag
    return {"project": project, "statuses": columns, "members": project_members_all(project=project),
            "as_of_seq": seq}


# --- comments ---------------------------------------------------------------------------------------


@router.get("/tasks/{task_id}/comments", response={200: Page[CommentOut], **ERRORS}, tags=["comments"])
def comment_list(request, task_id: uuid.UUID, params: Query[PageParams]):
    """The task's comments, oldest first."""
    task = selectors.task_get_for_member(task_id=task_id, user=request.user)
    items, next_cursor = selectors.comment_page_for_task(task=task, limit=params.limit, cursor=params.cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.post("/tasks/{task_id}/comments", response={201: CommentOut, **ERRORS}, tags=["comments"])
def comment_create(request, task_id: uuid.UUID, payload: CommentIn):
    """Comment on a task (any workspace member who can see it, viewers too)."""
    return Status(201, services.comment_create(task_id=task_id, user=request.user, body=payload.body))


@router.patch("/comments/{comment_id}", response={200: CommentOut, **ERRORS}, tags=["comments"])
def comment_update(request, comment_id: uuid.UUID, payload: CommentIn):
    """Edit a comment (its author only)."""
    return services.comment_update(comment_id=comment_id, user=request.user, body=payload.body)


@router.delete("/comments/{comment_id}", response={204: None, **ERRORS}, tags=["comments"])
def comment_delete(request, comment_id: uuid.UUID):
    """Delete a comment (its author only)."""
    services.comment_delete(comment_id=comment_id, user=request.user)
    return Status(204, None)


# --- activity ------------------------------------------------------------------------------------------


@router.get("/tasks/{task_id}/activity", response={200: Page[EventOut], **ERRORS})
def task_activity(request, task_id: uuid.UUID, params: Query[PageParams]):
    """The task's events from its project's event log, newest first, in the event envelope.

    What the log has trimmed is simply absent (no ``410``). Two queries: the
    task with the access check, and one range of the log's per-task index.
    """
    task = selectors.task_get_for_member(task_id=task_id, user=request.user)
    items, next_cursor = task_activity_page(task_id=task.pk, limit=params.limit, cursor=params.cursor)
    return {"items": items, "next_cursor": next_cursor}


# --- checklists -------------------------------------------------------------------------------------
# Reading follows task reading, writing follows task editing. A write answers the checklist's or the
# item's own fields (a checklist's items are listed by GET only) and logs its event with the task's new
# ``checklist_counts``.


class ChecklistPage(Schema):
    items: list[ChecklistWithItemsOut]
    next_cursor: None = None


@router.get("/tasks/{task_id}/checklists", response={200: ChecklistPage, **ERRORS}, tags=["checklists"])
def checklist_list(request, task_id: uuid.UUID):
    """The task's checklists in order, each with its items in order (at most 50 of 200: one page)."""
    task = selectors.task_get_for_member(task_id=task_id, user=request.user)
    return {"items": selectors.checklists_for_task(task=task), "next_cursor": None}


@router.post("/tasks/{task_id}/checklists", response={201: ChecklistOut, **ERRORS}, tags=["checklists"])
def checklist_create(request, task_id: uuid.UUID, payload: ChecklistIn):
    """Append a checklist (``409`` above 50 per task)."""
    return Status(201, services.checklist_create(task_id=task_id, user=request.user, title=payload.title))


@router.patch("/checklists/{checklist_id}", response={200: ChecklistOut, **ERRORS}, tags=["checklists"])
def checklist_update(request, checklist_id: uuid.UUID, payload: ChecklistPatch):
    """Rename, or move to ``position`` (0-based among the task's checklists; past the end: last)."""
    return services.checklist_update(checklist_id=checklist_id, user=request.user, title=payload.title,
                                     position=payload.position)


@router.delete("/checklists/{checklist_id}", response={204: None, **ERRORS}, tags=["checklists"])
def checklist_delete(request, checklist_id: uuid.UUID):
    """Delete the checklist with its items."""
    services.checklist_delete(checklist_id=checklist_id, user=request.user)
    return Status(204, None)


@router.post("/checklists/{checklist_id}/items", response={201: ChecklistItemOut, **ERRORS}, tags=["checklists"])
def checklist_item_create(request, checklist_id: uuid.UUID, payload: ChecklistItemIn):
    """Append an item (``409`` above 200 per checklist)."""
    return Status(201, services.checklist_item_create(checklist_id=checklist_id, user=request.user,
                                                      text=payload.text))


@router.patch("/checklist-items/{item_id}", response={200: ChecklistItemOut, **ERRORS}, tags=["checklists"])
def checklist_item_update(request, item_id: uuid.UUID, payload: ChecklistItemPatch):
    """Edit, tick or untick (sets or clears ``done_by``, ``done_at``), reorder (``position``), or move to
    another checklist of the same task (``checklist_id``: at ``position``, else at its end)."""
    return services.checklist_item_update(item_id=item_id, user=request.user, fields=payload.dict(exclude_unset=True))


@router.delete("/checklist-items/{item_id}", response={204: None, **ERRORS}, tags=["checklists"])
def checklist_item_delete(request, item_id: uuid.UUID):
    """Delete the item."""
    services.checklist_item_delete(item_id=item_id, user=request.user)
    return Status(204, None)


# --- workspace members (a role change or removal reaches the member's tasks) -------------------------


@router.patch("/workspaces/{workspace_id}/members/{user_id}", response={200: MemberOut, **ERRORS},
              tags=["workspaces"])
def workspace_member_update(request, workspace_id: uuid.UUID, user_id: uuid.UUID, payload: WorkspaceMemberPatch):
    """Change a member's role (owners only). ``409`` when it would leave no owner.

    A demotion to viewer also takes the member's project memberships, project leads and task assignments.
    """
    return services.workspace_member_update(workspace_id=workspace_id, actor=request.user, user_id=user_id,
                                            role=payload.role)


@router.delete("/workspaces/{workspace_id}/members/{user_id}", response={204: None, **ERRORS}, tags=["workspaces"])
def workspace_member_remove(request, workspace_id: uuid.UUID, user_id: uuid.UUID):
    """Remove a member (owners), or leave (anyone). ``409`` when it would leave no owner.

    The member's project memberships, project leads and task assignments go with them.
    """
    services.workspace_member_remove(workspace_id=workspace_id, actor=request.user, user_id=user_id)
    return Status(204, None)
