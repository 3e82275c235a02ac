"""Writes to tasks and comments.

Each service is one transaction shaped like DESIGN.md's write path: a locking
read that also checks access, the row write, then ``counters_log``: counts,
task number and event sequence in a single ``UPDATE ... RETURNING``, and the
INSERT of the events (on PostgreSQL in the same statement). The counters row
is the project's hot lock, so it is taken as late as possible, in the last
statement before the COMMIT.
"""

from __future__ import annotations

import datetime
import itertools
import re
import uuid

from django.db.models import F, Value
from django.utils import timezone

from notifications.selectors import mentioned_by_comment
from notifications.services import Notice, notify
from projects import services as project_services
from projects.counters import counters_apply, counters_log, log_project_events
from projects.models import Project, StatusGroup, WorkspaceMember, WorkspaceRole
from projects.schemas import ProjectOut
from projects.selectors import assignable_member, can_edit_tasks, require, workspace_members_among
from taskhub.db import write_transaction
from taskhub.errors import (
    Conflict,
    PermissionDenied,
    PreconditionFailed,
    ValidationError,
)
from tasks import queries, ranks
from tasks.models import Checklist, ChecklistItem, Comment, Task
from tasks.schemas import ChecklistItemOut, ChecklistOut, CommentOut, checklist_counts, task_payload
from tasks.selectors import (
    CARD_RELATED,
    checklist_get_for_write,
    comment_get_for_member,
    item_get_for_write,
    status_get_for_task_create,
    task_get_for_checklist_create,
    task_get_for_member,
    task_get_for_write,
)

# Fields of Task that need no lookup to validate (FKs are checked by the selectors).
_PLAIN_FIELDS = ("title", "description", "priority", "type", "due_date", "story_points")
_NULLABLE_FIELDS = ("due_date", "story_points")


def _check_editable(task_or_status, *, project: Project) -> None:
    require(
        can_edit_tasks(task_or_status.ws_role, task_or_status.project_role),
        "Only project members can change tasks.",
    )
    if project.archived_at is not None:
        raise Conflict("The project is archived; restore it first.", code="archived")


def _check_if_match(task: Task, if_match: int | None) -> None:
    if if_match is not None and if_match != task.version:
        raise PreconditionFailed("The task has changed since you read it.", current=task)


def _group_delta(old_group: str, new_group: str) -> dict[str, int]:
    if old_group == new_group:
        return {}
    return {old_group: -1, new_group: 1}


def _completed_at(task: Task, new_group: str, now: datetime.datetime) -> datetime.datetime | None:
    if new_group != StatusGroup.DONE:
        return None
    return task.completed_at or now


@write_transaction
def task_create(
    *,
    project_id: uuid.UUID,
    user,
    title: str,
    description: str = "",
    status_id: uuid.UUID | None = None,
    assignee_id: uuid.UUID | None = None,
    priority: str = "medium",
    type: str = "task",
    due_date: datetime.date | None = None,
    story_points: int | None = None,
    parent_id: uuid.UUID | None = None,
) -> Task:
    """Create a task at the end of its column.

    Queries (DESIGN.md budget 4, 5 with an assignee):
    1. the column, its project, the caller's roles and the column's last rank;
    2. (with ``assignee_id``) the assignee's workspace membership;
    3. ``UPDATE counters ... RETURNING`` (number, sequence, counts; takes the row lock);
    4. ``INSERT`` the task;
    5. ``INSERT`` the events.
    Everything that can be done before the counters row is locked is done first.
    """
    status = status_get_for_task_create(project_id=project_id, user=user, status_id=status_id, parent_id=parent_id)
    project = status.project
    _check_editable(status, project=project)
    if parent_id is not None and not status.parent_ok:
        raise ValidationError("parent_id is not a task of this project.")
    assignee = None
    if assignee_id is not None:
        assignee = assignable_member(workspace_id=project.workspace_id, user_id=assignee_id).user
    now = timezone.now()
    task = Task(
        project=project, status=status, title=title, description=description, assignee=assignee,
        reporter=user, priority=priority, type=type, due_date=due_date, story_points=story_points,
        parent_id=parent_id, created_at=now, updated_at=now,
        completed_at=now if status.group == StatusGroup.DONE else None,
    )
    task.clean_fields(exclude=[f.name for f in Task._meta.get_fields() if f.name not in _PLAIN_FIELDS])
    core = ranks.after(status.last_rank)
    change = counters_apply(project_id=project.pk, events=1, delta={"total": 1, status.group: 1}, take_number=True,
                            track_status=project.active_override() is None)
    # The number comes from the counters row; the rank's tail is made from it (see tasks.ranks).
    task.number = change.last_number
    task.rank = ranks.with_suffix(core, task.number)
    task.save(force_insert=True)
    log_project_events(project=project, change=change, items=[("task_created", {"task": task_payload(task)})],
                       actor=user)
    if assignee is not None:
        notify(notices=[_assigned(task, to=assignee.pk, actor=user)], actor=user)
    return task


def _name(user) -> str:
    return user.display_name or user.email


def _about(task: Task, *, to, kind: str, text: str, comment_id=None) -> Notice:
    return Notice(user_id=to, type=kind, text=text, workspace_id=task.project.workspace_id, project_id=task.project_id,
                  task=(task.pk, task.key, task.title), comment_id=comment_id)


def _assigned(task: Task, *, to, actor) -> Notice:
    return _about(task, to=to, kind="task_assigned", text=f"{_name(actor)} assigned you {task.key}")


def _apply_status(task: Task, *, status_id: uuid.UUID, now) -> tuple[dict[str, int], uuid.UUID]:
    """Point ``task`` at the column ``task_get_for_write`` annotated; return the counts delta and the old id."""
    if task.target_name is None:
        raise ValidationError("status_id is not a status of this project.")
    old_status_id, old_group = task.status_id, task.status.group
    task.status = task.status.__class__(
        id=status_id, project_id=task.project_id, name=task.target_name, group=task.target_group,
        position=task.target_position,
    )
    task.completed_at = _completed_at(task, task.target_group, now)
    delta = {} if task.archived_at is not None else _group_delta(old_group, task.target_group)
    return delta, old_status_id


@write_transaction
def task_update(*, task_id: uuid.UUID, user, fields: dict, if_match: int | None = None) -> Task:
    """Partial update: only the keys present in ``fields`` change.

    A change of ``status_id`` moves the task to the end of that column and logs
    ``task_moved``; anything else logs ``task_updated``. Queries: the locking
    read (roles, target column, last rank and parent check folded in), the
    assignee check when the assignee changes, the task UPDATE, the counters
    UPDATE, the event INSERT.
    """
    status_id = fields.get("status_id")
    parent_id = fields.get("parent_id")
    task = task_get_for_write(
        task_id=task_id, user=user, status_id=status_id, parent_id=parent_id, to_end=status_id is not None
    )
    project = task.project
    _check_editable(task, project=project)
    _check_if_match(task, if_match)
    now = timezone.now()
    changed = []
    for name in _PLAIN_FIELDS:
        if name not in fields:
            continue
        value = fields[name]
        if value is None and name not in _NULLABLE_FIELDS:
            if name != "description":
                raise ValidationError(f"{name} cannot be null.")
            value = ""
        setattr(task, name, value)
        changed.append(name)
    task.clean_fields(exclude=[f.name for f in Task._meta.get_fields() if f.name not in _PLAIN_FIELDS])
    update_fields = [*changed, "version", "updated_at"]
    notices = []
    if "assignee_id" in fields and fields["assignee_id"] != task.assignee_id:
        assignee_id = fields["assignee_id"]
        task.assignee = None if assignee_id is None else assignable_member(
            workspace_id=project.workspace_id, user_id=assignee_id
        ).user
        update_fields.append("assignee")
        if assignee_id is not None:
            notices.append(_assigned(task, to=assignee_id, actor=user))
    if "parent_id" in fields and parent_id != task.parent_id:
        if parent_id is not None and (parent_id == task.pk or not task.parent_ok):
            raise ValidationError("parent_id must be another task of this project.")
        task.parent_id = parent_id
        update_fields.append("parent")
    delta: dict[str, int] = {}
    moved_from = None
    if status_id is not None and status_id != task.status_id:
        delta, moved_from = _apply_status(task, status_id=status_id, now=now)
        task.rank = ranks.with_suffix(ranks.after(task.last_rank), task.number)
        update_fields += ["status", "completed_at", "rank"]
    task.version += 1
    task.updated_at = now
    task.save(update_fields=update_fields)
    if moved_from is not None:
        item = ("task_moved", {"task": task_payload(task), "from_status_id": str(moved_from),
                               "to_status_id": str(task.status_id)})
    else:
        item = ("task_updated", {"task": task_payload(task)})
    counters_log(project=project, items=[item], actor=user, delta=delta,
                 track_status=project.active_override() is None)
    notify(notices=notices, actor=user)
    return task


@write_transaction
def task_move(
    *,
    task_id: uuid.UUID,
    user,
    status_id: uuid.UUID | None = None,
    after_id: uuid.UUID | None = None,
    before_id: uuid.UUID | None = None,
    if_match: int | None = None,
) -> Task:
    """Move a task to a column and/or between two cards; writes one task row.

    ``after_id`` is the card above, ``before_id`` the card below, both live
    tasks of the target column. With neither, the task goes to the end of the
    column. Four queries: the locking read with the neighbours' ranks, the task
    UPDATE, the counters UPDATE and the event INSERT.
    """
    if task_id in (after_id, before_id):
        raise ValidationError("A task cannot be placed next to itself.")
    to_end = after_id is None and before_id is None
    task = task_get_for_write(
        task_id=task_id, user=user, status_id=status_id, after_id=after_id, before_id=before_id, to_end=to_end
    )
    project = task.project
    _check_editable(task, project=project)
    _check_if_match(task, if_match)
    if task.archived_at is not None:
        raise Conflict("The task is archived; restore it first.", code="archived")
    if after_id is not None and task.after_rank is None:
        raise ValidationError("after_id is not a live task of the target column.")
    if before_id is not None and task.before_rank is None:
        raise ValidationError("before_id is not a live task of the target column.")
    if to_end:
        core = ranks.after(task.last_rank)
    elif after_id is not None and before_id is not None:
        if not task.after_rank < task.before_rank:
            raise ValidationError("after_id must be above before_id.")
        core = ranks.between(task.after_rank, task.before_rank)
    elif after_id is not None:
        core = ranks.between(task.after_rank, task.next_rank) if task.next_rank else ranks.after(task.after_rank)
    else:
        core = ranks.between(task.prev_rank, task.before_rank) if task.prev_rank else ranks.before(task.before_rank)
    now = timezone.now()
    delta: dict[str, int] = {}
    from_status_id = task.status_id
    if status_id is not None and status_id != task.status_id:
        delta, _ = _apply_status(task, status_id=status_id, now=now)
    task.rank = ranks.with_suffix(core, task.number)
    task.version += 1
    task.updated_at = now
    task.save(update_fields=["status", "rank", "completed_at", "version", "updated_at"])
    item = ("task_moved", {"task": task_payload(task), "from_status_id": str(from_status_id),
                           "to_status_id": str(task.status_id)})
    counters_log(project=project, items=[item], actor=user, delta=delta,
                 track_status=project.active_override() is None)
    return task


@write_transaction
def task_archive(*, task_id: uuid.UUID, user) -> Task:
    task = task_get_for_write(task_id=task_id, user=user)
    _check_editable(task, project=task.project)
    if task.archived_at is not None:
        raise Conflict("The task is already archived.")
    now = timezone.now()
    task.archived_at = now
    task.version += 1
    task.updated_at = now
    task.save(update_fields=["archived_at", "version", "updated_at"])
    project = task.project
    counters_log(project=project, items=[("task_archived", {"task": task_payload(task)})], actor=user,
                 delta={"total": -1, task.status.group: -1}, track_status=project.active_override() is None)
    return task


@write_transaction
def task_restore(*, task_id: uuid.UUID, user) -> Task:
    """Restore an archived task; an archived project is restored with it (API.md)."""
    task = task_get_for_write(task_id=task_id, user=user)
    require(can_edit_tasks(task.ws_role, task.project_role), "Only project members can change tasks.")
    if task.archived_at is None:
        raise Conflict("The task is not archived.")
    project = task.project
    now = timezone.now()
    items = []
    if project.archived_at is not None:
        Project.objects.filter(pk=project.pk).update(archived_at=None, version=F("version") + 1, updated_at=now)
        project.archived_at = None
        project.version += 1
        project.updated_at = now
        items.append(("project_restored", None))
    task.archived_at = None
    task.version += 1
    task.updated_at = now
    task.save(update_fields=["archived_at", "version", "updated_at"])
    change = counters_apply(
        project_id=project.pk, events=1 + len(items), delta={"total": 1, task.status.group: 1},
        track_status=project.active_override() is None,
    )
    if items:
        project.live_counts = change.counts
        project.lead, project.created_by, project.override_by = _project_people(project)
        items[0] = ("project_restored", {"project": ProjectOut.from_orm(project).model_dump(mode="json")})
    items.insert(0, ("task_restored", {"task": task_payload(task)}))
    log_project_events(project=project, change=change, items=items, actor=user)
    return task


def _project_people(project: Project):
    """Load the project's user references for its payload (restore-with-project path only)."""
    fresh = Project.objects.select_related("lead", "created_by", "override_by").get(pk=project.pk)
    return fresh.lead, fresh.created_by, fresh.override_by


@write_transaction
def task_delete(*, task_id: uuid.UUID, user) -> None:
    task = task_get_for_write(task_id=task_id, user=user)
    _check_editable(task, project=task.project)
    project = task.project
    key = task.key
    delta = {} if task.archived_at is not None else {"total": -1, task.status.group: -1}
    # Its subtasks lose their parent in the database (``Task.parent`` is ``DB_SET_NULL``).
    Task.objects.filter(pk=task.pk).delete()
    counters_log(project=project, items=[("task_deleted", {"task_id": str(task_id), "key": key})], actor=user,
                 delta=delta, track_status=project.active_override() is None)


# --- comments --------------------------------------------------------------------------


def _comment_payload(comment: Comment) -> dict:
    return {"comment": CommentOut.model_validate(comment).model_dump(mode="json")}


# ``<@USER_ID>`` in a comment's body mentions that user (API.md, "Mentions"). The comment keeps at most
# ``MAX_MENTIONS`` of those who may see the project; up to ``MAX_MENTION_IDS`` ids are looked at to find
# them, so ids of outsiders (or of nobody) written first cannot push a member's mention out.
MENTION = re.compile(r"<@([0-9A-Fa-f-]{32,36})>")
MAX_MENTIONS = 50
MAX_MENTION_IDS = 200


def mentioned_ids(body: str) -> list[uuid.UUID]:
    """The ids the body mentions, in order of first appearance, each once, at most ``MAX_MENTION_IDS``."""
    found: list[uuid.UUID] = []
    for raw in MENTION.findall(body):
        try:
            user_id = uuid.UUID(raw)
        except ValueError:
            continue  # stays in the text as written
        if user_id not in found:
            found.append(user_id)
            if len(found) == MAX_MENTION_IDS:
                break
    return found


def _mentions(ids: list[uuid.UUID], visible: dict, author) -> list[dict]:
    """The comment's ``mentions``: of ``ids``, those who may see the project (``visible``, and the author)."""
    people = {**visible, author.pk: author}
    return [{"id": str(user_id), "display_name": people[user_id].display_name} for user_id in ids
            if user_id in people][:MAX_MENTIONS]


def _mentioned(*, comment: Comment, user) -> list[uuid.UUID]:
    """The users the comment's ``mentions`` list who are told of it: everyone there but its author."""
    return [uuid.UUID(m["id"]) for m in comment.mentions if m["id"] != str(user.pk)]


def _mention_notice(task, *, to: uuid.UUID, comment: Comment, user) -> Notice:
    return _about(task, to=to, kind="mentioned", comment_id=comment.pk,
                  text=f"{_name(user)} mentioned you in {task.key}")


@write_transaction
def comment_create(*, task_id: uuid.UUID, user, body: str) -> Comment:
    """Any workspace member who can see the task may comment (viewers too).

    Notifies, in one statement, each user it mentions who may see the project
    (``mentioned``), and the task's assignee and reporter (``comment_added``)
    unless they wrote it or were mentioned. Queries: the task with the access
    check, the people who may be notified (when there are any), the comment,
    the counters row, the events, and the notifications (when there are any).
    """
    task = task_get_for_member(task_id=task_id, user=user)
    ids = mentioned_ids(body)
    candidates = {*ids, task.assignee_id, task.reporter_id} - {None, user.pk}
    visible = workspace_members_among(workspace_id=task.project.workspace_id, user_ids=candidates)
    now = timezone.now()
    comment = Comment(task=task, author=user, body=body, mentions=_mentions(ids, visible, user), created_at=now,
                      updated_at=now)
    comment.clean_fields(exclude=["task", "author", "mentions"])
    comment.save(force_insert=True)
    mentioned = _mentioned(comment=comment, user=user)
    notices = [_mention_notice(task, to=user_id, comment=comment, user=user) for user_id in mentioned]
    notices += [_about(task, to=user_id, kind="comment_added", comment_id=comment.pk,
                       text=f"{_name(user)} commented on {task.key}")
                for user_id in (task.assignee_id, task.reporter_id) if user_id in visible and user_id not in mentioned]
    counters_log(project=task.project, items=[("comment_added", _comment_payload(comment))], actor=user)
    notify(notices=notices, actor=user)  # last, as in every write: the project's counters row, then the users'
    return comment


def _own_comment(*, comment_id: uuid.UUID, user) -> Comment:
    comment = comment_get_for_member(comment_id=comment_id, user=user, for_update=True)
    if comment.author_id != user.pk:
        raise PermissionDenied("Only the author can change a comment.")
    return comment


@write_transaction
def comment_update(*, comment_id: uuid.UUID, user, body: str) -> Comment:
    """Edit one's own comment; only users it newly mentions are notified.

    "Newly" is against every earlier version: someone this comment has already
    told of a mention (a notification) is not told again when an edit takes
    the mention out and puts it back.
    """
    comment = _own_comment(comment_id=comment_id, user=user)
    task = comment.task
    ids = mentioned_ids(body)
    before = {uuid.UUID(m["id"]) for m in comment.mentions}
    visible = workspace_members_among(workspace_id=task.project.workspace_id, user_ids=set(ids) - {user.pk})
    comment.body = body
    comment.mentions = _mentions(ids, visible, user)
    comment.updated_at = timezone.now()
    comment.clean_fields(exclude=["task", "author", "mentions"])
    comment.save(update_fields=["body", "mentions", "updated_at"])
    project = comment.task.project
    counters_log(project=project, items=[("comment_updated", _comment_payload(comment))], actor=user)
    new = [user_id for user_id in _mentioned(comment=comment, user=user) if user_id not in before]
    if new:
        told = mentioned_by_comment(comment_id=comment.pk, user_ids=new)
        notify(notices=[_mention_notice(task, to=user_id, comment=comment, user=user)
                        for user_id in new if user_id not in told], actor=user)
    return comment


@write_transaction
def comment_delete(*, comment_id: uuid.UUID, user) -> None:
    comment = _own_comment(comment_id=comment_id, user=user)
    project = comment.task.project
    data = {"comment_id": str(comment.pk), "task_id": str(comment.task_id)}
    comment.delete()
    counters_log(project=project, items=[("comment_deleted", data)], actor=user)


# --- checklists --------------------------------------------------------------------------------------
# Reading follows task reading, writing follows task editing (API.md). Each write is four statements on
# PostgreSQL (DESIGN.md): the locking read (``tasks.selectors``: the task's row lock, the access check,
# what ordering and the limits need), the row's write together with the task's counts
# (``tasks.queries.checklist_write``), the counters row (the event's seq) and the event. On other
# backends the ORM writes the row and the task in two statements.

MAX_CHECKLISTS = 50
MAX_ITEMS = 200


def _rank_at(position: int | None, found) -> tuple[str, int]:
    """The rank for ``position`` among the siblings ``found`` was annotated with, and the position it gets.

    ``None`` (or a position past the end): after the last sibling.
    """
    count = found.others_count
    if position is None or position >= count:
        return ranks.after(found.last_rank), count
    if position == 0:
        return ranks.before(found.high_rank), 0
    return ranks.between(found.low_rank, found.high_rank), position


_UPDATED_FIELDS = {"checklist": ["title", "rank"], "item": ["checklist", "text", "done", "done_by", "done_at", "rank"]}


def _task_write(task: Task, kind: str, action: str, params: dict, *, row, total: int = 0, done: int = 0) -> None:
    """Write the checklist/item ``row`` (``action``: insert, update, delete) and move the task's counts by
    ``total``/``done`` and its ``checklist_version`` on; ``task`` gets the new counts."""
    if queries.available():
        task.checklist_total, task.checklist_done = queries.checklist_write(
            kind, action, {**params, "task_id": task.pk, "total": total, "done": done})
        return
    if action == "insert":
        row.save(force_insert=True)
    elif action == "update":
        row.save(update_fields=_UPDATED_FIELDS[kind])
    else:
        row.delete()
    # Increments in the database (the row is locked anyway), read back with RETURNING.
    task.checklist_total = F("checklist_total") + Value(total)
    task.checklist_done = F("checklist_done") + Value(done)
    task.checklist_version = F("checklist_version") + Value(1)
    task.save(update_fields=["checklist_total", "checklist_done", "checklist_version"])


def _checklist_params(checklist: Checklist) -> dict:
    return {"id": checklist.pk, "title": checklist.title, "rank": checklist.rank}


def _item_params(item: ChecklistItem) -> dict:
    return {"id": item.pk, "checklist_id": item.checklist_id, "text": item.text, "is_done": item.done,
            "done_by_id": item.done_by_id, "done_at": item.done_at, "rank": item.rank}


def _log_checklist(task: Task, event: str, data: dict, *, user) -> None:
    counters_log(project=task.project, items=[(event, {**data, "task_id": str(task.pk),
                                                       "checklist_counts": checklist_counts(task)})], actor=user)


def _checklist_payload(checklist: Checklist) -> dict:
    return {"checklist": ChecklistOut.model_validate(checklist).model_dump(mode="json")}


def _item_payload(item: ChecklistItem) -> dict:
    return {"item": ChecklistItemOut.model_validate(item).model_dump(mode="json"),
            "checklist_id": str(item.checklist_id)}


@write_transaction
def checklist_create(*, task_id: uuid.UUID, user, title: str) -> Checklist:
    """Append a checklist to the task. ``409`` when the task has ``MAX_CHECKLISTS`` already."""
    task = task_get_for_checklist_create(task_id=task_id, user=user)
    _check_editable(task, project=task.project)
    if task.checklists_count >= MAX_CHECKLISTS:
        raise Conflict(f"A task has at most {MAX_CHECKLISTS} checklists.", code="limit")
    checklist = Checklist(task=task, title=title, rank=ranks.after(task.last_rank), created_at=timezone.now())
    checklist.clean_fields(exclude=["task"])
    checklist.position = task.checklists_count
    _task_write(task, "checklist", "insert", {**_checklist_params(checklist), "task_id": task.pk,
                                              "created_at": checklist.created_at}, row=checklist)
    _log_checklist(task, "checklist_created", _checklist_payload(checklist), user=user)
    return checklist


@write_transaction
def checklist_update(*, checklist_id: uuid.UUID, user, title: str | None = None,
                     position: int | None = None) -> Checklist:
    """Rename and/or move a checklist to ``position`` (0-based among the task's; past the end: last)."""
    checklist = checklist_get_for_write(checklist_id=checklist_id, user=user, position=position)
    task = checklist.task
    _check_editable(checklist, project=task.project)
    checklist.position = checklist.place
    if title is not None:
        checklist.title = title
    if position is not None:
        checklist.rank, checklist.position = _rank_at(position, checklist)
    checklist.clean_fields(exclude=["task"])
    _task_write(task, "checklist", "update", _checklist_params(checklist), row=checklist)
    _log_checklist(task, "checklist_updated", _checklist_payload(checklist), user=user)
    return checklist


@write_transaction
def checklist_delete(*, checklist_id: uuid.UUID, user) -> None:
    """Delete a checklist with its items (in the database: ``DB_CASCADE``); the task's counts lose them."""
    checklist = checklist_get_for_write(checklist_id=checklist_id, user=user, items=True)
    task = checklist.task
    _check_editable(checklist, project=task.project)
    _task_write(task, "checklist", "delete", {"id": checklist.pk}, row=checklist, total=-checklist.items_count,
                done=-checklist.items_done)
    _log_checklist(task, "checklist_deleted", {"checklist_id": str(checklist_id)}, user=user)


@write_transaction
def checklist_item_create(*, checklist_id: uuid.UUID, user, text: str) -> ChecklistItem:
    """Append an item. ``409`` when the checklist has ``MAX_ITEMS`` already."""
    checklist = checklist_get_for_write(checklist_id=checklist_id, user=user, items=True)
    task = checklist.task
    _check_editable(checklist, project=task.project)
    if checklist.items_count >= MAX_ITEMS:
        raise Conflict(f"A checklist has at most {MAX_ITEMS} items.", code="limit")
    item = ChecklistItem(checklist=checklist, text=text, rank=ranks.after(checklist.last_item_rank),
                         created_at=timezone.now())
    item.clean_fields(exclude=["checklist", "done_by"])
    item.position = checklist.items_count
    _task_write(task, "item", "insert", {**_item_params(item), "created_at": item.created_at}, row=item, total=1)
    _log_checklist(task, "checklist_item_created", _item_payload(item), user=user)
    return item


@write_transaction
def checklist_item_update(*, item_id: uuid.UUID, user, fields: dict) -> ChecklistItem:
    """Edit, tick or untick (sets or clears ``done_by`` and ``done_at``), reorder, or move the item to
    another checklist of the same task (``checklist_id``; at ``position``, else at its end).

    ``409`` when the target checklist has ``MAX_ITEMS`` already.
    """
    target_id = fields.get("checklist_id")
    position = fields.get("position")
    item = item_get_for_write(item_id=item_id, user=user, checklist_id=target_id, position=position)
    checklist = item.checklist
    task = checklist.task
    _check_editable(item, project=task.project)
    item.position = item.place
    done = 0
    if fields.get("text") is not None:
        item.text = fields["text"]
    if fields.get("done") is not None and fields["done"] != item.done:
        item.done = fields["done"]
        item.done_by, item.done_at = (user, timezone.now()) if item.done else (None, None)
        done = 1 if item.done else -1
    if target_id is not None and target_id != item.checklist_id:
        if not item.target_ok:
            raise ValidationError("checklist_id is not a checklist of this task.",
                                      extra={"loc": ["body", "payload", "checklist_id"]})
        if item.others_count >= MAX_ITEMS:
            raise Conflict(f"A checklist has at most {MAX_ITEMS} items.", code="limit")
        item.checklist_id = target_id
        item.rank, item.position = _rank_at(position, item)
    elif position is not None:
        item.rank, item.position = _rank_at(position, item)
    item.clean_fields(exclude=["checklist", "done_by"])
    _task_write(task, "item", "update", _item_params(item), row=item, done=done)
    _log_checklist(task, "checklist_item_updated", _item_payload(item), user=user)
    return item


@write_transaction
def checklist_item_delete(*, item_id: uuid.UUID, user) -> None:
    item = item_get_for_write(item_id=item_id, user=user)
    task = item.checklist.task
    _check_editable(item, project=task.project)
    _task_write(task, "item", "delete", {"id": item.pk}, row=item, total=-1, done=-int(item.done))
    _log_checklist(task, "checklist_item_deleted", {"item_id": str(item_id), "checklist_id": str(item.checklist_id)},
                   user=user)


# --- membership changes that reach tasks --------------------------------------------------
# Only owners and editors may be assignees (API.md, Roles), so demoting a member to viewer or
# removing them unassigns their tasks. These services own that whole change: the projects app's
# steps (``projects.services.workspace_member_*``) and the unassignment, in one transaction, with
# every row lock (the tasks, then the projects they led) taken before any counters row.


def _lock_assigned_tasks(*, workspace_id: uuid.UUID, user_id: uuid.UUID) -> list[Task]:
    return list(
        Task.objects.select_related("project", *CARD_RELATED)
        .filter(project__workspace_id=workspace_id, assignee_id=user_id)
        .order_by("project_id", "pk")
        .select_for_update(of=("self",), no_key=True)
    )


def task_unassign(*, tasks: list[Task], actor) -> None:
    """Clear the assignee of ``tasks`` (locked by the caller), one ``task_updated`` each.

    Per project: one UPDATE of its tasks, then the counters row reserves their
    sequence numbers, in the order every task write takes its locks.
    """
    now = timezone.now()
    for _project_id, group in itertools.groupby(tasks, key=lambda task: task.project_id):
        group = list(group)
        Task.objects.filter(pk__in=[task.pk for task in group]).update(
            assignee=None, version=F("version") + 1, updated_at=now
        )
        for task in group:
            task.assignee = None
            task.version += 1
            task.updated_at = now
        counters_log(project=group[0].project, items=[("task_updated", {"task": task_payload(t)}) for t in group],
                     actor=actor)


@write_transaction
def workspace_member_update(*, workspace_id: uuid.UUID, actor, user_id: uuid.UUID, role: str) -> WorkspaceMember:
    """Change a member's role (owners only); a demotion to viewer takes their projects, leads and tasks."""
    workspace, member = project_services.workspace_member_for_change(workspace_id=workspace_id, actor=actor,
                                                                     user_id=user_id, role=role)
    if member.role == role:
        return member
    if role == WorkspaceRole.VIEWER:
        tasks = _lock_assigned_tasks(workspace_id=workspace.pk, user_id=user_id)
        project_services.workspace_member_revoke_projects(workspace=workspace, user_id=user_id, actor=actor)
        task_unassign(tasks=tasks, actor=actor)
    return project_services.workspace_member_set_role(workspace=workspace, member=member, role=role, actor=actor)


@write_transaction
def workspace_member_remove(*, workspace_id: uuid.UUID, actor, user_id: uuid.UUID) -> None:
    """Remove a member (owners), or leave (anyone): with their projects, leads and task assignments."""
    workspace, member = project_services.workspace_member_for_change(workspace_id=workspace_id, actor=actor,
                                                                     user_id=user_id, role=None)
    tasks = [] if member.role == WorkspaceRole.VIEWER else _lock_assigned_tasks(workspace_id=workspace.pk,
                                                                               user_id=user_id)
    project_services.workspace_member_revoke_projects(workspace=workspace, user_id=user_id, actor=actor)
    task_unassign(tasks=tasks, actor=actor)
    project_services.workspace_member_delete(workspace=workspace, member=member, actor=actor)
