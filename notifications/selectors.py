"""Reads of the notification stream: always the caller's own."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from notifications.models import Notification, NotificationCounter, NotificationType
from notifications.schemas import notification_data, notification_payload
from taskhub.pagination import paginate


def notification_list_for_user(*, user, unread: bool = False) -> QuerySet[Notification]:
    qs = Notification.objects.filter(user_id=user.pk).select_related("actor")
    if unread:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-seq")


def notification_page(*, user, unread: bool, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    """A page of the caller's notifications, newest first, as ``NotificationOut`` dicts."""
    items, next_cursor = paginate(notification_list_for_user(user=user, unread=unread), order=["-seq"], limit=limit,
                                  cursor=cursor)
    return [notification_data(n) for n in items], next_cursor


def notification_counts(*, user_id: uuid.UUID) -> tuple[int, int]:
    """``(unread, latest_seq)`` of the user, from their counter row (``(0, 0)`` before any notification)."""
    counter = NotificationCounter.objects.filter(user_id=user_id).only("unread", "last_seq").first()
    return (counter.unread, counter.last_seq) if counter is not None else (0, 0)


def notifications_since(*, user_id: uuid.UUID, since: int, limit: int) -> list[dict]:
    """The user's notification frames with ``seq > since``, oldest first (for a socket's replay)."""
    rows = (Notification.objects.filter(user_id=user_id, seq__gt=since).select_related("actor")
            .order_by("seq")[:limit])
    return [{"type": "notification", "seq": n.seq, "data": notification_payload(n)} for n in rows]


def notification_latest_seqs(*, user_ids) -> dict[str, int]:
    """``{user_id: last_seq}`` of the given users who were ever notified (for the sockets' heartbeat)."""
    return {str(user_id): seq for user_id, seq in
            NotificationCounter.objects.filter(user_id__in=list(user_ids)).values_list("user_id", "last_seq")}


def mentioned_by_comment(*, comment_id: uuid.UUID, user_ids) -> set[uuid.UUID]:
    """Which of ``user_ids`` a comment has already notified of a mention (an edit tells each of them only once)."""
    return set(Notification.objects.filter(comment_id=comment_id, type=NotificationType.MENTIONED,
                                           user_id__in=user_ids).values_list("user_id", flat=True))
