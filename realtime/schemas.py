"""Public data shapes of the event log (REST bodies of the events it serves)."""

import uuid
from typing import Literal

from ninja import Schema
from pydantic import BaseModel, Field


class EventOut(Schema):
    """The envelope of API.md, as ``realtime.events.envelope`` builds it."""

    type: str
    project_id: uuid.UUID | None
    workspace_id: uuid.UUID
    seq: int | None
    ts: str
    actor_id: uuid.UUID | None
    request_id: str | None
    data: dict


class PresenceUserOut(BaseModel):
    id: uuid.UUID
    display_name: str


class PresenceOut(BaseModel):
    """One user's presence on the board (``task_id`` null) or on one task, in their most recent state."""

    user: PresenceUserOut
    task_id: uuid.UUID | None
    state: Literal["viewing", "editing", "typing"]
    since: str = Field(description="ISO 8601, UTC: when this task and state began")


class PresencePage(Schema):
    items: list[PresenceOut]
    next_cursor: None = None
