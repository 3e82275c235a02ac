"""Public shapes of notifications (REST bodies and WebSocket frames)."""

import uuid
from datetime import datetime

from ninja import Schema
from pydantic import BaseModel, ConfigDict

from accounts.schemas import UserOut
from taskhub.schemas import json_int


class NotificationTaskOut(BaseModel):
    id: uuid.UUID
    key: str
    title: str


class NotificationOut(BaseModel):
    """A notification as REST and the WebSocket show it (API.md, "Notifications")."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    seq: int
    type: str
    text: str
    actor: UserOut | None
    workspace_id: uuid.UUID
    project_id: uuid.UUID | None
    task: NotificationTaskOut | None
    comment_id: uuid.UUID | None
    invitation_id: uuid.UUID | None
    read_at: datetime | None
    created_at: datetime


class NotificationPage(Schema):
    items: list[NotificationOut]
    next_cursor: str | None
    unread: int


class NotificationCountOut(Schema):
    unread: int
    latest_seq: int


class ReadAllIn(Schema):
    up_to_seq: json_int(ge=0, le=2**62) | None = None


class UnreadOut(Schema):
    unread: int


def notification_data(notification) -> dict:
    """``NotificationOut``'s fields as a dict, from a ``Notification`` row (its ``actor`` loaded)."""
    task = None
    if notification.task_id is not None:
        task = {"id": notification.task_id, "key": notification.task_key, "title": notification.task_title}
    return {
        "id": notification.id, "seq": notification.seq, "type": notification.type, "text": notification.text,
        "actor": notification.actor, "workspace_id": notification.workspace_id,
        "project_id": notification.project_id, "task": task, "comment_id": notification.comment_id,
        "invitation_id": notification.invitation_id, "read_at": notification.read_at,
        "created_at": notification.created_at,
    }


def notification_payload(notification) -> dict:
    """The notification as JSON, for the WebSocket frame."""
    return NotificationOut.model_validate(notification_data(notification)).model_dump(mode="json")
