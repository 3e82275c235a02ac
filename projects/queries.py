"""The projects app's literal SQL: the hot statements the ORM does not make fast enough.

Each is one fixed statement for PostgreSQL, run with ``connection.cursor()``
and named parameters; nothing here builds SQL. On any
other backend (the embedded SQLite default) the caller runs the ORM
selector the statement stands for, which is also its reference: tests on
the PostgreSQL pass compare the two on the same data
(``tests/projects/test_queries.py``).

Measured in process on this machine with ``bench/inprocess.py`` (PostgreSQL 15 on
localhost, median of 300 calls, 2026-12-01 11:20 UTC; the literal statement, then
its ORM reference, in ms). The statements' rows become model instances through the
documented ``Model.from_db`` (``from_row``).

``COUNTERS_UPDATE`` (0.16 against 0.61)
    The counters row's one ``UPDATE ... RETURNING`` of every board write. The
    ORM reference is ``Model.save(update_fields=...)`` with ``F()``
    expressions, which Django 6 reads back with ``RETURNING``. With the
    derived-status comparison as an ORM ``Case`` in the same statement it took
    2.7 ms, so that decision is taken in Python from the returned counts
    (``projects.counters``).
``EVENTS_INSERT`` (0.22 against 0.78 for two events)
    The events of one write, from arrays (``unnest``), and, when the write
    changed the derived status, the one more sequence number that the
    ``project_status_changed`` event takes, in the same statement (a
    data-modifying ``WITH``): such a write costs no extra round trip while it
    holds the counters row's lock. The reference is ``bulk_create`` (and, for
    the status event, an ``UPDATE`` of its own).
``PROJECT_FOR_MEMBER`` (0.24 against 1.33)
    The read access check of every request about a project (the task list,
    the board, members, statuses, events): the project, the caller's two
    roles, the counters row and the three people, in one statement. Compiling
    the ORM's query (four joins, two role subqueries) is most of its cost.
``WORKSPACE_FOR_MEMBER`` (0.15 against 0.98)
    The workspace with the caller's role and its live projects' count.
``PROJECT_PAGE`` (0.53 against 1.38 for 11 projects), ``WORKSPACE_PAGE`` (0.16 against 0.98)
    The project list (counters and people joined, newest activity first) and
    the caller's workspaces, with keyset cursors.
"""

from __future__ import annotations

import datetime
import functools
import json
import uuid
from collections.abc import Sequence

from django.db import connection
from django.db.models import F, Value

from accounts.models import User
from projects.models import COUNT_FIELDS, Project, ProjectCounters, Workspace


def available() -> bool:
    """Whether the literal statements apply: they are written for PostgreSQL."""
    return connection.vendor == "postgresql"


def person(user_id, email, display_name) -> User | None:
    """A user row read as part of another statement: id, email and display name (the rest deferred)."""
    if user_id is None:
        return None
    return User.from_db(connection.alias, ["id", "email", "display_name"], [user_id, email, display_name])


def rows(sql: str, params: dict) -> list[dict]:
    """The rows of one statement as dicts by column name."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@functools.cache
def _columns(model) -> tuple[str, ...]:
    """The model's columns, in the order ``Model.from_db`` takes its values (the model's field order)."""
    return tuple(field.attname for field in model._meta.get_fields() if field.concrete and not field.many_to_many)


def from_row(model, row: dict, prefix: str = ""):
    """A model instance, as loaded from the database, from the columns ``prefix + column`` of ``row``.

    What ``Manager.raw()`` does, without its per-query work of matching the
    columns to the fields (which cost more than the statement in the access
    checks): the statements name their columns after the fields.
    """
    names = _columns(model)
    return model.from_db(connection.alias, names, [row[prefix + name] for name in names])


# --- the counters row ------------------------------------------------------------------------------

COUNTERS_UPDATE = """
UPDATE projects_projectcounters
   SET total = total + %(total)s, todo = todo + %(todo)s, active = active + %(active)s,
       review = review + %(review)s, issue = issue + %(issue)s, done = done + %(done)s,
       last_number = last_number + %(numbers)s, last_seq = last_seq + %(seqs)s, updated_at = %(now)s
 WHERE project_id = %(project_id)s
RETURNING total, todo, active, review, issue, done, last_number, last_seq
"""


def counters_update(*, project_id: uuid.UUID, delta: dict[str, int], numbers: int, seqs: int,
                    now) -> dict[str, int] | None:
    """Add ``delta`` to the counts, ``numbers`` to ``last_number`` and ``seqs`` to ``last_seq``.

    Returns the new values (``None`` when the project has no counters row).
    The ORM equivalent on other backends: ``Model.save(update_fields=...)``
    with ``F()`` expressions, which Django 6 reads back with ``RETURNING``.
    """
    if available():
        params = {name: delta.get(name, 0) for name in COUNT_FIELDS}
        params.update(numbers=numbers, seqs=seqs, now=now, project_id=project_id)
        with connection.cursor() as cursor:
            cursor.execute(COUNTERS_UPDATE, params)
            row = cursor.fetchone()
        return None if row is None else dict(zip((*COUNT_FIELDS, "last_number", "last_seq"), row, strict=True))
    counters = ProjectCounters(project_id=project_id)
    for name in COUNT_FIELDS:
        setattr(counters, name, F(name) + Value(delta.get(name, 0)))
    counters.last_number = F("last_number") + Value(numbers)
    counters.last_seq = F("last_seq") + Value(seqs)
    counters.updated_at = now
    try:
        counters.save(update_fields=[*COUNT_FIELDS, "last_number", "last_seq", "updated_at"])
    except ProjectCounters.NotUpdated:
        return None
    return {name: getattr(counters, name) for name in (*COUNT_FIELDS, "last_number", "last_seq")}


# --- the events of a project write -----------------------------------------------------------------

EVENTS_INSERT = """
WITH status_seq AS (
    UPDATE projects_projectcounters SET last_seq = last_seq + 1
     WHERE project_id = %(project_id)s AND %(take_status_seq)s
)
INSERT INTO realtime_event (workspace_id, project_id, seq, type, data, actor_id, request_id, created_at, task_id)
SELECT %(workspace_id)s, %(project_id)s, item.seq, item.type, item.data, %(actor_id)s, %(request_id)s,
       %(created_at)s, item.task_id
  FROM unnest(%(seqs)s::bigint[], %(types)s::varchar[], %(data)s::jsonb[], %(task_ids)s::uuid[])
       AS item (seq, type, data, task_id)
"""


def events_insert(events: Sequence, *, take_status_seq: bool) -> None:
    """Insert one write's ``realtime.models.Event`` rows (same project, actor, request and time).

    ``take_status_seq``: also move the counters row's ``last_seq`` on by one,
    for the ``project_status_changed`` event among them (see the module's
    docstring). On other backends: ``bulk_create`` and, for that, an UPDATE.
    """
    first = events[0]
    if available():
        with connection.cursor() as cursor:
            cursor.execute(EVENTS_INSERT, {
                "project_id": first.project_id, "take_status_seq": take_status_seq,
                "workspace_id": first.workspace_id, "actor_id": first.actor_id, "request_id": first.request_id,
                "created_at": first.created_at, "seqs": [event.seq for event in events],
                "types": [event.type for event in events],
                "data": [json.dumps(event.data, separators=(",", ":")) for event in events],
                "task_ids": [event.task_id for event in events],
            })
        return
    from realtime.models import Event

    if take_status_seq:
        counters = ProjectCounters(project_id=first.project_id)
        counters.last_seq = F("last_seq") + Value(1)
        counters.save(update_fields=["last_seq"])
    Event.objects.bulk_create(events)


# --- access checks ---------------------------------------------------------------------------------

PROJECT_FOR_MEMBER = """
SELECT p.*, wm.role AS ws_role, pm.role AS project_role,
       c.total AS c_total, c.todo AS c_todo, c.active AS c_active, c.review AS c_review, c.issue AS c_issue,
       c.done AS c_done, c.last_number AS c_last_number, c.last_seq AS c_last_seq, c.updated_at AS c_updated_at,
       lead.email AS lead_email, lead.display_name AS lead_display_name,
       creator.email AS creator_email, creator.display_name AS creator_display_name,
       overrider.email AS overrider_email, overrider.display_name AS overrider_display_name
  FROM projects_project p
  JOIN projects_workspacemember wm ON wm.workspace_id = p.workspace_id AND wm.user_id = %(user_id)s
  LEFT JOIN projects_projectmember pm ON pm.project_id = p.id AND pm.user_id = %(user_id)s
  LEFT JOIN projects_projectcounters c ON c.project_id = p.id
  LEFT JOIN accounts_user lead ON lead.id = p.lead_id
  LEFT JOIN accounts_user creator ON creator.id = p.created_by_id
  LEFT JOIN accounts_user overrider ON overrider.id = p.override_by_id
 WHERE p.id = %(project_id)s
"""


def project_for_member(*, project_id: uuid.UUID, user_id: uuid.UUID) -> Project | None:
    """The project as ``projects.selectors.project_get_for_member`` gives it (roles, counters, people), or None.

    PostgreSQL only (``available()``); the selector's ORM query elsewhere.
    """
    found = rows(PROJECT_FOR_MEMBER, {"project_id": project_id, "user_id": user_id})
    if not found:
        return None
    project = _project(found[0])
    project.ws_role = found[0]["ws_role"]
    return project


def _project(row: dict) -> Project:
    """The project of a row of these statements, with its ``project_role``, counters row and three people."""
    project = from_row(Project, row)
    project.project_role = row["project_role"]
    if row["c_last_seq"] is not None:
        project.counters = from_row(ProjectCounters, {"c_project_id": project.pk, **row}, "c_")
    project.lead = person(project.lead_id, row["lead_email"], row["lead_display_name"])
    project.created_by = person(project.created_by_id, row["creator_email"], row["creator_display_name"])
    project.override_by = person(project.override_by_id, row["overrider_email"], row["overrider_display_name"])
    return project


WORKSPACE_FOR_MEMBER = """
SELECT w.*, wm.role AS role,
       (SELECT count(*) FROM projects_project p WHERE p.workspace_id = w.id AND p.archived_at IS NULL)
           AS projects_count
  FROM projects_workspace w
  JOIN projects_workspacemember wm ON wm.workspace_id = w.id AND wm.user_id = %(user_id)s
 WHERE w.id = %(workspace_id)s
"""


def workspace_for_member(*, workspace_id: uuid.UUID, user_id: uuid.UUID) -> Workspace | None:
    """The workspace as ``projects.selectors.workspace_get_for_member`` gives it (``role``, ``projects_count``)."""
    found = rows(WORKSPACE_FOR_MEMBER, {"workspace_id": workspace_id, "user_id": user_id})
    return _workspace(found[0]) if found else None


def _workspace(row: dict) -> Workspace:
    workspace = from_row(Workspace, row)
    workspace.role, workspace.projects_count = row["role"], row["projects_count"]
    return workspace


# --- pages -----------------------------------------------------------------------------------------

PROJECT_PAGE = """
SELECT p.*, pm.role AS project_role,
       c.total AS c_total, c.todo AS c_todo, c.active AS c_active, c.review AS c_review, c.issue AS c_issue,
       c.done AS c_done, c.last_number AS c_last_number, c.last_seq AS c_last_seq, c.updated_at AS c_updated_at,
       lead.email AS lead_email, lead.display_name AS lead_display_name,
       creator.email AS creator_email, creator.display_name AS creator_display_name,
       overrider.email AS overrider_email, overrider.display_name AS overrider_display_name
  FROM projects_project p
  JOIN projects_projectcounters c ON c.project_id = p.id
  LEFT JOIN projects_projectmember pm ON pm.project_id = p.id AND pm.user_id = %(user_id)s
  LEFT JOIN accounts_user lead ON lead.id = p.lead_id
  LEFT JOIN accounts_user creator ON creator.id = p.created_by_id
  LEFT JOIN accounts_user overrider ON overrider.id = p.override_by_id
 WHERE p.workspace_id = %(workspace_id)s AND (p.archived_at IS NOT NULL) = %(archived)s
   AND (c.updated_at, p.id) < (%(after_updated_at)s, %(after_id)s)
 ORDER BY c.updated_at DESC, p.id DESC
 LIMIT %(limit)s
"""

# Where a first page starts: before every (time, id) going down, after every (text, id) going up.
_LAST_ID = uuid.UUID(int=2**128 - 1)
_FIRST_ID = uuid.UUID(int=0)
_END_OF_TIME = datetime.datetime.max.replace(tzinfo=datetime.UTC)


def project_page(*, workspace_id: uuid.UUID, user_id: uuid.UUID, archived: bool, after: list | None,
                 limit: int) -> list[Project]:
    """Up to ``limit`` projects of the workspace, newest activity first, after the cursor ``[updated_at, id]``.

    As ``projects.selectors.project_list_for_workspace`` gives them (unfiltered by ``q`` or ``status``): with
    ``project_role``, the counters row and the people.
    """
    updated_at, project_id = after or (_END_OF_TIME, _LAST_ID)
    return [_project(row) for row in rows(PROJECT_PAGE, {
        "workspace_id": workspace_id, "user_id": user_id, "archived": archived, "after_updated_at": updated_at,
        "after_id": project_id, "limit": limit,
    })]


WORKSPACE_PAGE = """
SELECT w.*, wm.role AS role,
       (SELECT count(*) FROM projects_project p WHERE p.workspace_id = w.id AND p.archived_at IS NULL)
           AS projects_count
  FROM projects_workspace w
  JOIN projects_workspacemember wm ON wm.workspace_id = w.id AND wm.user_id = %(user_id)s
 WHERE (w.name, w.id) > (%(after_name)s, %(after_id)s)
 ORDER BY w.name, w.id
 LIMIT %(limit)s
"""


def workspace_page(*, user_id: uuid.UUID, after: list | None, limit: int) -> list[Workspace]:
    """Up to ``limit`` of the user's workspaces by name, after the cursor ``[name, id]``.

    As ``projects.selectors.workspace_list_for_user`` gives them: with ``role`` and ``projects_count``.
    """
    name, workspace_id = after or ("", _FIRST_ID)
    return [_workspace(row) for row in rows(WORKSPACE_PAGE, {"user_id": user_id, "after_name": name,
                                                            "after_id": workspace_id, "limit": limit})]
