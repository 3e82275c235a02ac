"""Public data shapes of the event log (REST bodies of the events it serves)."""

import uuid

from ninja import Schema


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

