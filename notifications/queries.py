"""The notifications app's literal SQL (PostgreSQL; the ORM reference runs on other backends).

``NOTIFY``
    Every notifying write's one statement for its notifications, however many
    people it notifies: each recipient's counter row moves its ``last_seq``
    and ``unread`` on by one (created on a first notification: ``INSERT ...
    ON CONFLICT DO UPDATE``), and the notifications are inserted with those
    numbers, from arrays. The ORM reference takes one ``UPDATE ...
    RETURNING`` per recipient (``Model.save`` with ``F()``), then
    ``bulk_create``: the budget of a write that notifies would grow with the
    number notified (DESIGN.md: "+ 2, however many are notified"). Measured
    in process with ``bench/inprocess.py`` (PostgreSQL 15 on localhost,
    median of 300 calls, 2026-12-01 12:52 UTC, the machine shared with other
    work): 0.49 ms against the ORM reference's 1.18 ms for one recipient,
    0.70 ms against 3.67 ms for five.

``NUMBER_SQLITE``
    The same numbering on the embedded SQLite default (no arrays there: the
    ids come as a JSON list), one statement, then the notifications'
    ``bulk_create``: two statements however many are notified. The ORM has
    no upsert that adds to a column (``bulk_create(update_conflicts=True)``
    sets the new value), and one ``save()`` per recipient would make the
    count grow with them.

Recipients are taken in the order of their ids, so that two writes that
notify the same people lock their counter rows in the same order.
"""

from __future__ import annotations

import json
import uuid

from django.db import connection

NOTIFY = """
WITH counters AS (
    INSERT INTO notifications_notificationcounter (user_id, last_seq, unread)
    SELECT recipient, 1, 1 FROM unnest(%(user_ids)s::uuid[]) AS recipient
    ON CONFLICT (user_id) DO UPDATE
       SET last_seq = notifications_notificationcounter.last_seq + 1,
           unread = notifications_notificationcounter.unread + 1
    RETURNING user_id, last_seq
)
INSERT INTO notifications_notification (
    id, user_id, seq, type, text, actor_id, workspace_id, project_id, task_id, task_key, task_title, comment_id,
    invitation_id, created_at)
SELECT item.id, item.user_id, counters.last_seq, item.type, item.text, %(actor_id)s, item.workspace_id,
       item.project_id, item.task_id, item.task_key, item.task_title, item.comment_id, item.invitation_id,
       %(created_at)s
  FROM unnest(%(ids)s::uuid[], %(user_ids)s::uuid[], %(types)s::varchar[], %(texts)s::varchar[],
              %(workspace_ids)s::uuid[], %(project_ids)s::uuid[], %(task_ids)s::uuid[], %(task_keys)s::varchar[],
              %(task_titles)s::varchar[], %(comment_ids)s::uuid[], %(invitation_ids)s::uuid[])
       AS item (id, user_id, type, text, workspace_id, project_id, task_id, task_key, task_title, comment_id,
                invitation_id)
  JOIN counters ON counters.user_id = item.user_id
RETURNING user_id, seq
"""


def available() -> bool:
    return connection.vendor == "postgresql"


def notify(notifications: list, *, actor_id, created_at) -> dict:
    """Insert ``notifications`` (unsaved rows, one per recipient, in recipient-id order) with their numbers.

    Returns ``{user_id: seq}``. PostgreSQL only (``available()``).
    """
    columns = {
        "ids": "id", "user_ids": "user_id", "types": "type", "texts": "text", "workspace_ids": "workspace_id",
        "project_ids": "project_id", "task_ids": "task_id", "task_keys": "task_key", "task_titles": "task_title",
        "comment_ids": "comment_id", "invitation_ids": "invitation_id",
    }
    params = {name: [getattr(n, attribute) for n in notifications] for name, attribute in columns.items()}
    params.update(actor_id=actor_id, created_at=created_at)
    with connection.cursor() as cursor:
        cursor.execute(NOTIFY, params)
        return dict(cursor.fetchall())


NUMBER_SQLITE = """
INSERT INTO notifications_notificationcounter (user_id, last_seq, unread)
SELECT value, 1, 1 FROM json_each(%(user_ids)s) WHERE true
ON CONFLICT (user_id) DO UPDATE SET last_seq = last_seq + 1, unread = unread + 1
RETURNING user_id, last_seq
"""


def number_sqlite(user_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """``{user_id: seq}``: each user's next notification number, taken (SQLite, which stores UUIDs as hex)."""
    with connection.cursor() as cursor:
        cursor.execute(NUMBER_SQLITE, {"user_ids": json.dumps([user_id.hex for user_id in user_ids])})
        return {uuid.UUID(user_id): seq for user_id, seq in cursor.fetchall()}
