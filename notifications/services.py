"""Writes of the notification stream: notify (called by the domain services), read, unread, delete.

``notify`` runs inside the caller's transaction, so a notification exists
exactly when the change that caused it committed, and is delivered after
that commit (to the recipient's ``user.<id>`` group), never before.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Value
from django.utils import timezone

from notifications import queries
from notifications.models import Notification, NotificationCounter
from notifications.schemas import notification_payload
from realtime import events as event_log
from taskhub.errors import NotFound


@dataclass(frozen=True)
class Notice:
    """One notification to write: to whom, what, and what it is about."""

    user_id: uuid.UUID
    type: str
    text: str
    workspace_id: uuid.UUID
    project_id: uuid.UUID | None = None
    task: tuple[uuid.UUID, str, str] | None = None  # (id, key, title), as shown now
    comment_id: uuid.UUID | None = None
    invitation_id: uuid.UUID | None = None


def notify(*, notices: Iterable[Notice], actor) -> list[Notification]:
    """Write ``notices`` in the caller's transaction, each with the recipient's next ``seq``; deliver after commit.

    The actor is never notified of their own doing, and a recipient gets one
    notification per call (the first notice for them wins: callers list the
    most specific first, e.g. a mention before a comment). Precondition: the
    caller has checked that every recipient may see what the notice is about.
    One statement on PostgreSQL however many are notified (``queries.NOTIFY``).

    Lock order: it takes the recipients' counter rows, so callers notify last,
    after the project's counters row (which every board write takes first).
    """
    actor_id = actor.pk if actor is not None else None
    chosen: dict[uuid.UUID, Notice] = {}
    for notice in notices:
        if notice.user_id != actor_id and notice.user_id not in chosen:
            chosen[notice.user_id] = notice
    if not chosen:
        return []
    now = timezone.now()
    # In the order of the recipients' ids: concurrent writes lock their counter rows in the same order.
    rows = [_row(chosen[user_id], actor_id, now) for user_id in sorted(chosen, key=str)]
    if queries.available():
        seqs = queries.notify(rows, actor_id=actor_id, created_at=now)
    else:
        seqs = queries.number_sqlite([row.user_id for row in rows])
        for row in rows:
            row.seq = seqs[row.user_id]
        Notification.objects.bulk_create(rows)
    for row in rows:
        row.seq = seqs[row.user_id]
        row.actor = actor
    messages = [({"type": "notification", "seq": row.seq, "data": notification_payload(row)},
                 [event_log.user_group(row.user_id)]) for row in rows]
    event_log.publish_messages_after_commit(messages)
    return rows


def notify_rows_orm(rows: list[Notification]) -> dict[uuid.UUID, int]:
    """The ORM reference of ``queries.NOTIFY`` (and of ``NUMBER_SQLITE`` with its ``bulk_create``).

    Writes the same rows with the same numbers, but its statements grow with
    the recipients: the missing counter rows in one INSERT, then one
    ``UPDATE ... RETURNING`` per recipient, then the notifications. The tests
    hold the literal statements to its result; ``bench/inprocess.py`` times
    both.
    """
    NotificationCounter.objects.bulk_create([NotificationCounter(user_id=row.user_id) for row in rows],
                                            ignore_conflicts=True)
    seqs = {}
    for row in rows:
        counter = NotificationCounter(user_id=row.user_id)
        counter.last_seq = F("last_seq") + Value(1)
        counter.unread = F("unread") + Value(1)
        counter.save(update_fields=["last_seq", "unread"])
        seqs[row.user_id] = row.seq = counter.last_seq
    Notification.objects.bulk_create(rows)
    return seqs


def _row(notice: Notice, actor_id, now) -> Notification:
    task_id, task_key, task_title = notice.task or (None, "", "")
    return Notification(
        user_id=notice.user_id, seq=0, type=notice.type, text=notice.text[:500], actor_id=actor_id,
        workspace_id=notice.workspace_id, project_id=notice.project_id, task_id=task_id, task_key=task_key,
        task_title=task_title[:500], comment_id=notice.comment_id, invitation_id=notice.invitation_id,
        created_at=now,
    )


# --- reading ---------------------------------------------------------------------------------------


def _own(notification_id: uuid.UUID, user) -> Notification:
    """The caller's notification, locked; ``NotFound`` for anyone else's."""
    found = (Notification.objects.select_related("actor").select_for_update(of=("self",))
             .filter(pk=notification_id, user_id=user.pk).first())
    if found is None:
        raise NotFound("Notification not found.")
    return found


def _move_unread(user, by: int) -> tuple[int, int]:
    """Add ``by`` to the user's unread count; ``(unread, last_seq)`` after it (``(0, 0)`` before any notification)."""
    if by == 0:
        counter = NotificationCounter.objects.filter(user_id=user.pk).first()
        return (counter.unread, counter.last_seq) if counter else (0, 0)
    counter = NotificationCounter(user_id=user.pk)
    counter.unread = F("unread") + Value(by)
    counter.last_seq = F("last_seq") + Value(0)  # returned with it
    counter.save(update_fields=["unread", "last_seq"])
    return counter.unread, counter.last_seq


def _publish_read(user, data: dict) -> None:
    event_log.publish_messages_after_commit([({"type": "notifications_read", "data": data},
                                              [event_log.user_group(user.pk)])])


@transaction.atomic
def notification_mark(*, notification_id: uuid.UUID, user, read: bool) -> Notification:
    """Mark one of the caller's notifications read (or unread again); others' are ``404``."""
    notification = _own(notification_id, user)
    if (notification.read_at is not None) != read:
        notification.read_at = timezone.now() if read else None
        notification.save(update_fields=["read_at"])
        unread, _ = _move_unread(user, -1 if read else 1)
        _publish_read(user, {"ids": [str(notification.pk)], "unread": unread, "read": read})
    return notification


@transaction.atomic
def notification_read_all(*, user, up_to_seq: int | None = None) -> int:
    """Mark every unread notification of the caller up to ``up_to_seq`` (default: all) read; the unread count.

    The counter row is locked first: a notification being written now waits
    for this transaction (``notify`` moves the same row), so every ``seq`` up
    to the row's ``last_seq`` has committed, and the ``up_to_seq`` told to the
    user's sockets never covers one that this read left unread.
    """
    counter = NotificationCounter.objects.select_for_update().filter(user_id=user.pk).first()
    if counter is None:
        return 0  # never notified
    bound = counter.last_seq if up_to_seq is None else min(up_to_seq, counter.last_seq)
    marked = Notification.objects.filter(user_id=user.pk, read_at__isnull=True, seq__lte=bound).update(
        read_at=timezone.now()
    )
    if marked:
        counter.unread -= marked
        counter.save(update_fields=["unread"])
        _publish_read(user, {"up_to_seq": bound, "unread": counter.unread})
    return counter.unread


@transaction.atomic
def notification_delete(*, notification_id: uuid.UUID, user) -> None:
    notification = _own(notification_id, user)
    notification.delete()
    if notification.read_at is None:
        unread, _ = _move_unread(user, -1)
        _publish_read(user, {"ids": [str(notification_id)], "unread": unread, "read": True, "deleted": True})


def notifications_forget(*, project_id: uuid.UUID | None = None, workspace_id: uuid.UUID | None = None) -> None:
    """Before a project (or a whole workspace) is deleted: take its unread notifications out of the counts.

    The notifications go with the project in the database (``DB_CASCADE``),
    but each recipient's ``unread`` is a stored count: without this it would
    keep counting them forever. Called by ``projects.services`` in the
    deleting transaction, before the delete; the recipients' sockets are told
    with a ``notifications_read`` frame (``deleted: true``). Three statements
    when someone had unread ones there, one otherwise.
    """
    gone = Notification.objects.filter(read_at__isnull=True)
    gone = gone.filter(project_id=project_id) if project_id is not None else gone.filter(workspace_id=workspace_id)
    ids_of: dict[uuid.UUID, list[str]] = {}
    for user_id, notification_id in gone.values_list("user_id", "pk"):
        ids_of.setdefault(user_id, []).append(str(notification_id))
    if not ids_of:
        return
    # Locked in the order of the users' ids, as ``notify`` takes them.
    counters = list(NotificationCounter.objects.select_for_update().filter(user_id__in=ids_of).order_by("user_id"))
    for counter in counters:
        counter.unread = max(counter.unread - len(ids_of[counter.user_id]), 0)
    NotificationCounter.objects.bulk_update(counters, ["unread"])
    event_log.publish_messages_after_commit([
        ({"type": "notifications_read",
          "data": {"ids": ids_of[counter.user_id], "unread": counter.unread, "read": True, "deleted": True}},
         [event_log.user_group(counter.user_id)])
        for counter in counters
    ])


def notifications_trim(*, days: int) -> int:
    """Delete read notifications older than ``days`` days; unread ones are kept whatever their age."""
    cutoff = timezone.now() - datetime.timedelta(days=days)
    deleted, _ = Notification.objects.filter(read_at__isnull=False, created_at__lt=cutoff).delete()
    return deleted
