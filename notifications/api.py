"""REST endpoints of the caller's notifications (API.md, "Notifications")."""

from __future__ import annotations

import uuid

from ninja import Query, Router, Schema, Status
from pydantic import Field

from notifications import selectors, services
from notifications.schemas import (
    NotificationCountOut,
    NotificationOut,
    NotificationPage,
    ReadAllIn,
    UnreadOut,
    notification_data,
)
from taskhub.pagination import MAX_LIMIT
from taskhub.schemas import ErrorOut, ValidationErrorOut

router = Router(tags=["notifications"])

ERRORS = {404: ErrorOut, 422: ValidationErrorOut}


class NotificationFilter(Schema):
    unread: bool = False
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=200)


@router.get("/notifications", response={200: NotificationPage, 422: ValidationErrorOut})
def notification_list(request, params: Query[NotificationFilter]):
    """The caller's notifications, newest first (``unread=true``: only the unread), with the unread count."""
    items, next_cursor = selectors.notification_page(user=request.user, unread=params.unread, limit=params.limit,
                                                     cursor=params.cursor)
    unread, _latest = selectors.notification_counts(user_id=request.user.pk)
    return {"items": items, "next_cursor": next_cursor, "unread": unread}


@router.get("/notifications/count", response=NotificationCountOut)
def notification_count(request):
    """How many of the caller's notifications are unread, and the latest ``seq`` (to subscribe from)."""
    unread, latest = selectors.notification_counts(user_id=request.user.pk)
    return {"unread": unread, "latest_seq": latest}


@router.post("/notifications/read-all", response={200: UnreadOut, **ERRORS})
def notification_read_all(request, payload: ReadAllIn | None = None):
    """Mark every notification up to ``up_to_seq`` (default: all) read; answers the unread count left.

    The body is optional: a bare POST marks everything read.
    """
    up_to_seq = payload.up_to_seq if payload is not None else None
    return {"unread": services.notification_read_all(user=request.user, up_to_seq=up_to_seq)}


@router.post("/notifications/{notification_id}/read", response={200: NotificationOut, **ERRORS})
def notification_read(request, notification_id: uuid.UUID):
    """Mark one of the caller's notifications read (another user's is ``404``)."""
    return notification_data(services.notification_mark(notification_id=notification_id, user=request.user,
                                                        read=True))


@router.post("/notifications/{notification_id}/unread", response={200: NotificationOut, **ERRORS})
def notification_unread(request, notification_id: uuid.UUID):
    """Mark one of the caller's notifications unread again."""
    return notification_data(services.notification_mark(notification_id=notification_id, user=request.user,
                                                        read=False))


@router.delete("/notifications/{notification_id}", response={204: None, **ERRORS})
def notification_delete(request, notification_id: uuid.UUID):
    """Delete one of the caller's notifications."""
    services.notification_delete(notification_id=notification_id, user=request.user)
    return Status(204, None)

