"""The tasks app's literal SQL: the hot reads the ORM does not make fast enough.

As in ``projects.queries``: fixed statements for PostgreSQL with named
parameters, each standing for an ORM selector of ``tasks.selectors``, which
runs instead on other backends and is the statement's reference in
``tests/tasks/test_queries.py`` (same data, same result).

Cards come back as dicts shaped like ``TaskOut`` (``tasks.schemas.card_from_row``, which reads the
shape off ``TaskOut``; the statements name their columns to match): a page of 50
model instances with their three related rows cost more to build than the
statement takes to run. Measured in process with ``bench/inprocess.py``
(PostgreSQL 15 on localhost, median of 300 calls, 2026-12-01 11:20 UTC; the
literal statement, then its ORM reference, in ms):

``PROJECT_PAGE`` / ``COLUMN_PAGE`` (0.43 against 1.63 / 0.43 against 1.86, 50 cards)
    A page of cards, newest first or in one column's rank order. The task list
    is a third of the seed system's traffic.
``BOARD_CARDS`` (0.66 against 3.94, 50 per column)
    The first ``per_column`` cards of every column, as one index range scan
    per column (``LATERAL``), so the board costs the same at 10 and 10 000
    tasks; the ORM's one-statement form (``Window(RowNumber())`` per column)
    numbers every live task of the project first.
``TASK_FOR_MEMBER`` (0.29 against 1.38)
    A task with its project, column, people and the caller's roles (get
    task, the comments, a new comment).
``TASK_FOR_WRITE`` (0.54 against 2.59)
    The locking read of a PATCH or a move: the task, its roles, the target
    column, the neighbours' ranks and the parent check in one statement.
``COLUMN_FOR_CREATE`` (0.22 against 1.47)
    Task creation's read: the column, its project, the caller's roles, the
    column's last rank and the parent check.
``COMMENT_PAGE`` (0.30 against 1.01, 30 comments)
    A page of a task's comments with their authors.
``CHECKLIST_WRITES`` (``ITEM_INSERT``: 0.33 against 1.48, 2026-12-01 13:25 UTC, a loaded machine: the
    other rows of that run were 1.5-7x their figures above)
    A checklist's or an item's write and its task's ``checklist {total, done}`` in one statement, which
    keeps a checklist write at four statements (DESIGN.md) while it holds the task's row lock.
"""

from __future__ import annotations

import datetime
import json
import uuid

from projects.models import Project, Status
from projects.queries import available, from_row, person, rows  # noqa: F401 (available: asked by the selectors)
from tasks.models import Task
from tasks.schemas import card_from_row as card

# --- pages of cards ------------------------------------------------------------------------------

PROJECT_PAGE = """
SELECT t.id, t.number, t.title, t.description, t.status_id, s.name AS status_name, s."group" AS status_group,
       t.assignee_id, a.display_name AS assignee_display_name, t.reporter_id, r.display_name AS reporter_display_name,
       t.priority, t.type, t.story_points, t.due_date, t.parent_id, t.rank, t.version, t.checklist_total,
       t.checklist_done, t.created_at, t.updated_at,
       t.completed_at, t.archived_at
  FROM tasks_task t
  JOIN projects_status s ON s.id = t.status_id
  LEFT JOIN accounts_user a ON a.id = t.assignee_id
  LEFT JOIN accounts_user r ON r.id = t.reporter_id
 WHERE t.project_id = %(project_id)s AND t.archived_at IS NULL
   AND (t.created_at, t.id) < (%(after_created_at)s, %(after_id)s)
 ORDER BY t.created_at DESC, t.id DESC
 LIMIT %(limit)s
"""

COLUMN_PAGE = """
SELECT t.id, t.number, t.title, t.description, t.status_id, s.name AS status_name, s."group" AS status_group,
       t.assignee_id, a.display_name AS assignee_display_name, t.reporter_id, r.display_name AS reporter_display_name,
       t.priority, t.type, t.story_points, t.due_date, t.parent_id, t.rank, t.version, t.checklist_total,
       t.checklist_done, t.created_at, t.updated_at,
       t.completed_at, t.archived_at
  FROM tasks_task t
  JOIN projects_status s ON s.id = t.status_id
  LEFT JOIN accounts_user a ON a.id = t.assignee_id
  LEFT JOIN accounts_user r ON r.id = t.reporter_id
 WHERE t.project_id = %(project_id)s AND t.status_id = %(status_id)s AND t.archived_at IS NULL
   AND (t.rank, t.id) > (%(after_rank)s, %(after_id)s)
 ORDER BY t.rank, t.id
 LIMIT %(limit)s
"""

# Where a first page starts: before every (created_at, id), after every (rank, id).
_LAST_ID = uuid.UUID(int=2**128 - 1)
_FIRST_ID = uuid.UUID(int=0)


def project_page(*, project: Project, after: list | None, limit: int) -> list[dict]:
    """Up to ``limit`` live cards of the project, newest first, after the cursor values ``[created_at, id]``."""
    created_at, task_id = after or (datetime.datetime.max.replace(tzinfo=datetime.UTC), _LAST_ID)
    found = rows(PROJECT_PAGE, {"project_id": project.pk, "after_created_at": created_at, "after_id": task_id,
                                "limit": limit})
    return [card(row, project) for row in found]


def column_page(*, project: Project, status_id: uuid.UUID, after: list | None, limit: int) -> list[dict]:
    """Up to ``limit`` live cards of one column in rank order, after the cursor values ``[rank, id]``."""
    rank, task_id = after or ("", _FIRST_ID)
    found = rows(COLUMN_PAGE, {"project_id": project.pk, "status_id": status_id, "after_rank": rank,
                               "after_id": task_id, "limit": limit})
    return [card(row, project) for row in found]


BOARD_CARDS = """
SELECT t.id, t.number, t.title, t.description, t.status_id, s.name AS status_name, s."group" AS status_group,
       t.assignee_id, a.display_name AS assignee_display_name, t.reporter_id, r.display_name AS reporter_display_name,
       t.priority, t.type, t.story_points, t.due_date, t.parent_id, t.rank, t.version, t.checklist_total,
       t.checklist_done, t.created_at, t.updated_at,
       t.completed_at, t.archived_at
  FROM unnest(%(status_ids)s::uuid[]) AS column_ (status_id)
 CROSS JOIN LATERAL (
       SELECT * FROM tasks_task
        WHERE status_id = column_.status_id AND archived_at IS NULL
        ORDER BY rank, id
        LIMIT %(per_column)s
       ) t
  JOIN projects_status s ON s.id = t.status_id
  LEFT JOIN accounts_user a ON a.id = t.assignee_id
  LEFT JOIN accounts_user r ON r.id = t.reporter_id
 ORDER BY t.rank, t.id
"""


def board_cards(*, project: Project, status_ids: list[uuid.UUID], per_column: int) -> list[dict]:
    """The first ``per_column`` live cards of each column, in (rank, id) order."""
    found = rows(BOARD_CARDS, {"status_ids": status_ids, "per_column": per_column})
    return [card(row, project) for row in found]


# --- single tasks --------------------------------------------------------------------------------

TASK_FOR_MEMBER = """
SELECT t.*, wm.role AS ws_role, pm.role AS project_role,
       p.id AS p_id, p.workspace_id AS p_workspace_id, p.key AS p_key, p.name AS p_name,
       p.description AS p_description, p.due_date AS p_due_date, p.lead_id AS p_lead_id,
       p.created_by_id AS p_created_by_id, p.archived_at AS p_archived_at, p.override_status AS p_override_status,
       p.override_reason AS p_override_reason, p.override_by_id AS p_override_by_id,
       p.override_expires_at AS p_override_expires_at, p.version AS p_version, p.created_at AS p_created_at,
       p.updated_at AS p_updated_at,
       s.id AS s_id, s.project_id AS s_project_id, s.name AS s_name, s."group" AS s_group, s.position AS s_position,
       a.email AS assignee_email, a.display_name AS assignee_display_name,
       r.email AS reporter_email, r.display_name AS reporter_display_name
  FROM tasks_task t
  JOIN projects_project p ON p.id = t.project_id
  JOIN projects_workspacemember wm ON wm.workspace_id = p.workspace_id AND wm.user_id = %(user_id)s
  LEFT JOIN projects_projectmember pm ON pm.project_id = p.id AND pm.user_id = %(user_id)s
  JOIN projects_status s ON s.id = t.status_id
  LEFT JOIN accounts_user a ON a.id = t.assignee_id
  LEFT JOIN accounts_user r ON r.id = t.reporter_id
 WHERE t.id = %(task_id)s
"""

def task_for_member(*, task_id: uuid.UUID, user_id: uuid.UUID) -> Task | None:
    """The task as ``tasks.selectors.task_get_for_member`` gives it (project, column, people, roles), or None."""
    found = rows(TASK_FOR_MEMBER, {"task_id": task_id, "user_id": user_id})
    return _task(found[0]) if found else None


def _task(row: dict) -> Task:
    """The task of a row of these statements, with its project, column, people and the caller's roles."""
    task = from_row(Task, row)
    task.ws_role, task.project_role = row["ws_role"], row["project_role"]
    task.project = from_row(Project, row, "p_")
    task.status = from_row(Status, row, "s_")
    task.assignee = person(task.assignee_id, row["assignee_email"], row["assignee_display_name"])
    task.reporter = person(task.reporter_id, row["reporter_email"], row["reporter_display_name"])
    return task


COLUMN_FOR_CREATE = """
SELECT s.*, wm.role AS ws_role, pm.role AS project_role,
       p.id AS p_id, p.workspace_id AS p_workspace_id, p.key AS p_key, p.name AS p_name,
       p.description AS p_description, p.due_date AS p_due_date, p.lead_id AS p_lead_id,
       p.created_by_id AS p_created_by_id, p.archived_at AS p_archived_at, p.override_status AS p_override_status,
       p.override_reason AS p_override_reason, p.override_by_id AS p_override_by_id,
       p.override_expires_at AS p_override_expires_at, p.version AS p_version, p.created_at AS p_created_at,
       p.updated_at AS p_updated_at,
       (SELECT t.rank FROM tasks_task t WHERE t.status_id = s.id AND t.archived_at IS NULL
         ORDER BY t.rank DESC LIMIT 1) AS last_rank,
       EXISTS (SELECT 1 FROM tasks_task parent WHERE parent.id = %(parent_id)s AND parent.project_id = p.id)
           AS parent_ok
  FROM projects_status s
  JOIN projects_project p ON p.id = s.project_id
  JOIN projects_workspacemember wm ON wm.workspace_id = p.workspace_id AND wm.user_id = %(user_id)s
  LEFT JOIN projects_projectmember pm ON pm.project_id = p.id AND pm.user_id = %(user_id)s
 WHERE s.project_id = %(project_id)s AND (s.id = %(status_id)s OR %(status_id)s::uuid IS NULL)
 ORDER BY s."group" <> 'todo', s.position, s.id
 LIMIT 1
"""


def column_for_create(*, project_id: uuid.UUID, user_id: uuid.UUID, status_id: uuid.UUID | None,
                      parent_id: uuid.UUID | None) -> Status | None:
    """The column as ``tasks.selectors.status_get_for_task_create`` gives it, or None.

    With ``status_id`` None, the project's first ``todo`` column, else its first column.
    """
    found = rows(COLUMN_FOR_CREATE, {"project_id": project_id, "user_id": user_id, "status_id": status_id,
                                     "parent_id": parent_id})
    if not found:
        return None
    row = found[0]
    status = from_row(Status, row)
    status.project = from_row(Project, row, "p_")
    status.ws_role, status.project_role, status.last_rank = row["ws_role"], row["project_role"], row["last_rank"]
    status.parent_ok = row["parent_ok"]
    return status


TASK_FOR_WRITE = """
SELECT t.*, wm.role AS ws_role, pm.role AS project_role,
       p.id AS p_id, p.workspace_id AS p_workspace_id, p.key AS p_key, p.name AS p_name,
       p.description AS p_description, p.due_date AS p_due_date, p.lead_id AS p_lead_id,
       p.created_by_id AS p_created_by_id, p.archived_at AS p_archived_at, p.override_status AS p_override_status,
       p.override_reason AS p_override_reason, p.override_by_id AS p_override_by_id,
       p.override_expires_at AS p_override_expires_at, p.version AS p_version, p.created_at AS p_created_at,
       p.updated_at AS p_updated_at,
       s.id AS s_id, s.project_id AS s_project_id, s.name AS s_name, s."group" AS s_group, s.position AS s_position,
       a.email AS assignee_email, a.display_name AS assignee_display_name,
       r.email AS reporter_email, r.display_name AS reporter_display_name,
       target.name AS target_name, target."group" AS target_group, target.position AS target_position,
       after_.rank AS after_rank, before_.rank AS before_rank,
       (SELECT n.rank FROM tasks_task n
         WHERE n.status_id = COALESCE(%(status_id)s, t.status_id) AND n.archived_at IS NULL AND n.id <> t.id
           AND n.rank > after_.rank AND %(before_id)s::uuid IS NULL
         ORDER BY n.rank LIMIT 1) AS next_rank,
       (SELECT n.rank FROM tasks_task n
         WHERE n.status_id = COALESCE(%(status_id)s, t.status_id) AND n.archived_at IS NULL AND n.id <> t.id
           AND n.rank < before_.rank AND %(after_id)s::uuid IS NULL
         ORDER BY n.rank DESC LIMIT 1) AS prev_rank,
       (SELECT n.rank FROM tasks_task n
         WHERE n.status_id = COALESCE(%(status_id)s, t.status_id) AND n.archived_at IS NULL AND n.id <> t.id
           AND %(to_end)s
         ORDER BY n.rank DESC LIMIT 1) AS last_rank,
       EXISTS (SELECT 1 FROM tasks_task parent WHERE parent.id = %(parent_id)s AND parent.project_id = t.project_id)
           AS parent_ok
  FROM tasks_task t
  JOIN projects_project p ON p.id = t.project_id
  JOIN projects_workspacemember wm ON wm.workspace_id = p.workspace_id AND wm.user_id = %(user_id)s
  LEFT JOIN projects_projectmember pm ON pm.project_id = p.id AND pm.user_id = %(user_id)s
  JOIN projects_status s ON s.id = t.status_id
  LEFT JOIN accounts_user a ON a.id = t.assignee_id
  LEFT JOIN accounts_user r ON r.id = t.reporter_id
  LEFT JOIN projects_status target ON target.id = %(status_id)s AND target.project_id = t.project_id
  LEFT JOIN tasks_task after_ ON after_.id = %(after_id)s AND after_.id <> t.id AND after_.project_id = t.project_id
        AND after_.status_id = COALESCE(%(status_id)s, t.status_id) AND after_.archived_at IS NULL
  LEFT JOIN tasks_task before_ ON before_.id = %(before_id)s AND before_.id <> t.id
        AND before_.project_id = t.project_id AND before_.status_id = COALESCE(%(status_id)s, t.status_id)
        AND before_.archived_at IS NULL
 WHERE t.id = %(task_id)s
   FOR NO KEY UPDATE OF t
"""


def task_for_write(*, task_id: uuid.UUID, user_id: uuid.UUID, status_id: uuid.UUID | None,
                   after_id: uuid.UUID | None, before_id: uuid.UUID | None, parent_id: uuid.UUID | None,
                   to_end: bool) -> Task | None:
    """The task, locked, as ``tasks.selectors.task_get_for_write`` gives it (see there), or None.

    ``FOR NO KEY UPDATE OF t``: the task's row only, as the ORM's
    ``select_for_update(of=("self",), no_key=True)``.
    """
    found = rows(TASK_FOR_WRITE, {
        "task_id": task_id, "user_id": user_id, "status_id": status_id, "after_id": after_id,
        "before_id": before_id, "parent_id": parent_id, "to_end": to_end,
    })
    if not found:
        return None
    task = _task(found[0])
    for name in ("target_name", "target_group", "target_position", "after_rank", "before_rank", "next_rank",
                 "prev_rank", "last_rank", "parent_ok"):
        setattr(task, name, found[0][name])
    return task


# --- comments ------------------------------------------------------------------------------------

COMMENT_PAGE = """
SELECT c.id, c.task_id, c.body, c.mentions, c.created_at, c.updated_at,
       c.author_id, u.email AS author_email, u.display_name AS author_display_name
  FROM tasks_comment c
  LEFT JOIN accounts_user u ON u.id = c.author_id
 WHERE c.task_id = %(task_id)s AND (c.created_at, c.id) > (%(after_created_at)s, %(after_id)s)
 ORDER BY c.created_at, c.id
 LIMIT %(limit)s
"""

_START_OF_TIME = datetime.datetime.min.replace(tzinfo=datetime.UTC)


def comment_page(*, task_id: uuid.UUID, after: list | None, limit: int) -> list[dict]:
    """Up to ``limit`` of the task's comments, oldest first, after the cursor ``[created_at, id]``: ``CommentOut``
    dicts."""
    created_at, comment_id = after or (_START_OF_TIME, _FIRST_ID)
    found = rows(COMMENT_PAGE, {"task_id": task_id, "after_created_at": created_at, "after_id": comment_id,
                                "limit": limit})
    return [{
        # jsonb arrives as text (Django leaves decoding JSON to the field, as JSONField.from_db_value does).
        "id": row["id"], "task_id": row["task_id"], "body": row["body"], "mentions": json.loads(row["mentions"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "author": None if row["author_id"] is None else {
            "id": row["author_id"], "email": row["author_email"], "display_name": row["author_display_name"]},
    } for row in found]


# --- checklists ----------------------------------------------------------------------------------
# Each write of a checklist or an item, and the change of its task's row that goes with it (the
# ``checklist {total, done}`` counts and ``checklist_version``), in one statement: the row's write as a
# data-modifying ``WITH``, then ``UPDATE tasks_task ... RETURNING`` the new counts. The references
# (``tasks.services``' ORM path, on other backends) are the row's ``save``/``delete`` and
# ``Model.save(update_fields=...)`` of the task with ``F()`` expressions, read back with RETURNING:
# two statements where these are one, which keeps a checklist write at DESIGN.md's four queries.

CHECKLIST_INSERT = """
WITH checklist AS (
    INSERT INTO tasks_checklist (id, task_id, title, rank, created_at)
    VALUES (%(id)s, %(task_id)s, %(title)s, %(rank)s, %(created_at)s)
)
UPDATE tasks_task SET checklist_version = checklist_version + 1
 WHERE id = %(task_id)s
RETURNING checklist_total, checklist_done
"""

CHECKLIST_UPDATE = """
WITH checklist AS (
    UPDATE tasks_checklist SET title = %(title)s, rank = %(rank)s WHERE id = %(id)s
)
UPDATE tasks_task SET checklist_version = checklist_version + 1
 WHERE id = %(task_id)s
RETURNING checklist_total, checklist_done
"""

CHECKLIST_DELETE = """
WITH checklist AS (
    DELETE FROM tasks_checklist WHERE id = %(id)s
)
UPDATE tasks_task SET checklist_total = checklist_total + %(total)s, checklist_done = checklist_done + %(done)s,
       checklist_version = checklist_version + 1
 WHERE id = %(task_id)s
RETURNING checklist_total, checklist_done
"""

ITEM_INSERT = """
WITH item AS (
    INSERT INTO tasks_checklistitem (id, checklist_id, text, done, done_by_id, done_at, rank, created_at)
    VALUES (%(id)s, %(checklist_id)s, %(text)s, %(is_done)s, %(done_by_id)s, %(done_at)s, %(rank)s, %(created_at)s)
)
UPDATE tasks_task SET checklist_total = checklist_total + %(total)s, checklist_done = checklist_done + %(done)s,
       checklist_version = checklist_version + 1
 WHERE id = %(task_id)s
RETURNING checklist_total, checklist_done
"""

ITEM_UPDATE = """
WITH item AS (
    UPDATE tasks_checklistitem
       SET checklist_id = %(checklist_id)s, text = %(text)s, done = %(is_done)s, done_by_id = %(done_by_id)s,
           done_at = %(done_at)s, rank = %(rank)s
     WHERE id = %(id)s
)
UPDATE tasks_task SET checklist_total = checklist_total + %(total)s, checklist_done = checklist_done + %(done)s,
       checklist_version = checklist_version + 1
 WHERE id = %(task_id)s
RETURNING checklist_total, checklist_done
"""

ITEM_DELETE = """
WITH item AS (
    DELETE FROM tasks_checklistitem WHERE id = %(id)s
)
UPDATE tasks_task SET checklist_total = checklist_total + %(total)s, checklist_done = checklist_done + %(done)s,
       checklist_version = checklist_version + 1
 WHERE id = %(task_id)s
RETURNING checklist_total, checklist_done
"""

CHECKLIST_WRITES = {
    ("checklist", "insert"): CHECKLIST_INSERT, ("checklist", "update"): CHECKLIST_UPDATE,
    ("checklist", "delete"): CHECKLIST_DELETE, ("item", "insert"): ITEM_INSERT, ("item", "update"): ITEM_UPDATE,
    ("item", "delete"): ITEM_DELETE,
}


def checklist_write(kind: str, action: str, params: dict) -> tuple[int, int]:
    """Run the statement of ``CHECKLIST_WRITES[(kind, action)]``; the task's new ``(total, done)``."""
    found = rows(CHECKLIST_WRITES[(kind, action)], params)
    return found[0]["checklist_total"], found[0]["checklist_done"]
