"""REST side of the live boards: WebSocket tickets and the project's event log."""

from __future__ import annotations

import uuid

from django.db.models import Min
from ninja import Query, Router, Schema, Status
from pydantic import Field

from projects.selectors import project_get_for_member
from realtime.events import envelope
from realtime.models import Event
from realtime.presence import presence_now
from realtime.schemas import EventOut, PresencePage
from realtime.tickets import TTL_SECONDS, ticket_issue
from taskhub.errors import Gone, ValidationError
from taskhub.pagination import MAX_LIMIT
from taskhub.schemas import ErrorOut, ValidationErrorOut

router = Router(tags=["realtime"])


class TicketOut(Schema):
    ticket: str
    expires_in: int


class EventPage(Schema):
    items: list[EventOut]
    next_cursor: str | None
    latest_seq: int


class EventParams(Schema):
    since: int = Field(0, ge=0)
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=40)


@router.post("/realtime/ticket", response={201: TicketOut})
def realtime_ticket(request):
    """A single-use ticket for ``/ws/?ticket=...``, valid for 30 seconds."""
    return Status(201, {"ticket": ticket_issue(user_id=request.user.pk), "expires_in": TTL_SECONDS})


@router.get("/projects/{project_id}/events", response={200: EventPage, 404: ErrorOut, 410: ErrorOut,
                                                      422: ValidationErrorOut})
def event_list(request, project_id: uuid.UUID, params: Query[EventParams]):
    """Events after ``since``, oldest first; ``410`` (``code: "resync"``) when that range was trimmed.

    ``next_cursor`` is the seq to pass as ``since`` (or ``cursor``) for the next page.
    """
    project = project_get_for_member(project_id=project_id, user=request.user)
    latest = project.counters.last_seq
    since = params.since
    if params.cursor is not None:
        try:
            since = int(params.cursor)
        except ValueError:
            raise ValidationError("Invalid cursor.", code="invalid_cursor") from None
    if since < latest:
        oldest = Event.objects.filter(project_id=project.pk).aggregate(m=Min("seq"))["m"]
        if oldest is None or oldest > since + 1:
            raise Gone("Those events are no longer kept; reload the board and subscribe again.")
    events = list(Event.objects.filter(project_id=project.pk, seq__gt=since).order_by("seq")[: params.limit + 1])
    next_cursor = None
    if len(events) > params.limit:
        events = events[: params.limit]
        next_cursor = str(events[-1].seq)
    return {"items": [envelope(e) for e in events], "next_cursor": next_cursor, "latest_seq": latest}


@router.get("/projects/{project_id}/presence", response={200: PresencePage, 404: ErrorOut, 422: ValidationErrorOut})
def presence_list(request, project_id: uuid.UUID):
    """Who has the board or one of its tasks open, and how: the list of the socket's ``presence`` frames.

    One per user and task, in their most recent state, oldest first. Ephemeral (Redis, or this process on
    the embedded default); one query, the access check.
    """
    project_get_for_member(project_id=project_id, user=request.user)
    return {"items": presence_now(project_id=project_id), "next_cursor": None}
