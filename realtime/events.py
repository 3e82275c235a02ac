"""The event log and the envelope every event travels in.

Nothing domain-specific lives here: services build the payloads (from the REST
Out schemas) and call :func:`record` inside their transaction. This module
imports no domain app; the Event model refers to projects by string label.
"""

from __future__ import annotations

import contextvars
import datetime
import uuid
from collections.abc import Callable, Sequence

from django.db import transaction
from django.utils import timezone

from realtime.models import Event
from taskhub.pagination import paginate

# The X-Request-ID of the request being served, set by the request middleware,
# so that events can echo it without every service taking it as an argument.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("taskhub_request_id", default="")

# Called after commit with the list of envelopes a transaction logged. The
# realtime publisher registers itself here; tests may add their own.
# Each hook receives ``[(envelope, extra_groups), ...]`` in log order.
Hook = Callable[[list[tuple[dict, list[str]]]], None]
_after_commit_hooks: list[Hook] = []


def add_after_commit_hook(hook: Hook) -> None:
    if hook not in _after_commit_hooks:
        _after_commit_hooks.append(hook)


def remove_after_commit_hook(hook: Hook) -> None:
    if hook in _after_commit_hooks:
        _after_commit_hooks.remove(hook)


# Events that also go to the workspace's group (API.md: project created/archived/status changed...).
WORKSPACE_EVENT_TYPES = frozenset({
    "project_created", "project_updated", "project_archived", "project_restored", "project_deleted",
    "project_status_changed",
})


def project_group(project_id: uuid.UUID | str) -> str:
    return f"project.{project_id}"


def workspace_group(workspace_id: uuid.UUID | str) -> str:
    return f"workspace.{workspace_id}"


def user_group(user_id: uuid.UUID | str) -> str:
    return f"user.{user_id}"


def envelope(event: Event) -> dict:
    """The wire shape of API.md: ``{type, project_id, workspace_id, seq, ts, actor_id, request_id, data}``."""
    return {
        "type": event.type,
        "project_id": str(event.project_id) if event.project_id else None,
        "workspace_id": str(event.workspace_id),
        "seq": event.seq,
        "ts": event.created_at.isoformat().replace("+00:00", "Z"),
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "request_id": event.request_id or None,
        "data": event.data,
    }


def record(
    *,
    workspace_id: uuid.UUID,
    project_id: uuid.UUID | None,
    first_seq: int | None,
    items: Sequence[tuple[str, dict]],
    actor_id: uuid.UUID | None,
    audience: Sequence[str] = (),
) -> list[Event]:
    """Append ``items`` (``(type, data)`` pairs) to the log in one INSERT.

    Precondition: the caller is inside ``transaction.atomic()`` and has taken
    ``first_seq .. first_seq + len(items) - 1`` from the project's counters row
    in the same transaction (``counters_apply``), which is what keeps the
    sequence gap-free under concurrency. Project-less events pass ``None`` for
    both ``project_id`` and ``first_seq``.

    ``audience`` lists extra groups (workspace, user) the events go to besides
    the project's. After commit the envelopes are handed to the publisher; a
    rolled-back write therefore never reaches a socket.
    """
    events = build(workspace_id=workspace_id, project_id=project_id, first_seq=first_seq, items=items,
                   actor_id=actor_id)
    Event.objects.bulk_create(events)
    publish_after_commit(events, audience)
    return events


def subject_task_id(data: dict) -> str | None:
    """The task an event is about, read off its payload (API.md's shapes): ``data.task_id``, else
    ``data.task.id``, else ``data.comment.task_id``; ``None`` for an event about no one task."""
    if not isinstance(data, dict):
        return None
    for holder, key in ((data, "task_id"), (data.get("task"), "id"), (data.get("comment"), "task_id")):
        if isinstance(holder, dict) and holder.get(key):
            try:
                return str(uuid.UUID(str(holder[key])))
            except ValueError:
                return None  # not a task's id: the event is about no one task
    return None


def build(
    *,
    workspace_id: uuid.UUID,
    project_id: uuid.UUID | None,
    first_seq: int | None,
    items: Sequence[tuple[str, dict]],
    actor_id: uuid.UUID | None,
    now: datetime.datetime | None = None,
) -> list[Event]:
    """The unsaved ``Event`` rows of ``items``, numbered from ``first_seq`` (see ``record``)."""
    now = now or timezone.now()
    request_id = request_id_var.get()
    return [
        Event(
            workspace_id=workspace_id,
            project_id=project_id,
            seq=None if first_seq is None else first_seq + offset,
            type=event_type,
            data=data,
            actor_id=actor_id,
            request_id=request_id,
            created_at=now,
            task_id=subject_task_id(data),
        )
        for offset, (event_type, data) in enumerate(items)
    ]


def publish_after_commit(events: Sequence[Event], audience: Sequence[str] = ()) -> None:
    """Hand the envelopes of ``events`` (written in this transaction) to the hooks once it commits."""
    if _after_commit_hooks:
        groups = list(audience)
        envelopes = [(envelope(event), groups) for event in events]
        transaction.on_commit(lambda: _run_hooks(envelopes))


def publish_messages_after_commit(messages: Sequence[tuple[dict, Sequence[str]]]) -> None:
    """Hand ``[(message, groups)]`` to the publisher once the current transaction commits.

    For frames that are not project events (a user's notifications): they
    carry no project, so they go to ``groups`` only.
    """
    if _after_commit_hooks and messages:
        queued = [(message, list(groups)) for message, groups in messages]
        transaction.on_commit(lambda: _run_hooks(queued))


def _run_hooks(envelopes: list[tuple[dict, list[str]]]) -> None:
    for hook in list(_after_commit_hooks):
        hook(envelopes)


def notify_revoked(*, user_ids: Sequence, workspace_id: uuid.UUID, project_ids: Sequence = ()) -> None:
    """Tell the sockets of ``user_ids`` they lost access to a workspace and its projects.

    Not logged: it concerns sockets, not the board. Called after commit.
    """
    if not _after_commit_hooks or not user_ids:
        return
    ts = timezone.now().isoformat().replace("+00:00", "Z")
    messages = []
    for user_id in user_ids:
        groups = [user_group(user_id)]
        messages.append(({"type": "access_revoked", "ts": ts, "data": {"workspace_id": str(workspace_id)}}, groups))
        for project_id in project_ids:
            messages.append(
                ({"type": "access_revoked", "ts": ts, "data": {"project_id": str(project_id)}}, groups)
            )
    _run_hooks(messages)


def events_since(*, project_id, since: int, limit: int) -> list[dict]:
    """Envelopes of the project's events with ``seq > since``, oldest first (at most ``limit``)."""
    rows = Event.objects.filter(project_id=project_id, seq__gt=since).order_by("seq")[:limit]
    return [envelope(event) for event in rows]


def task_activity_page(*, task_id, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    """A page of the task's events, newest first, as envelopes, and the next cursor.

    One statement: a range of the ``realtime_event_task`` index, so its cost
    does not depend on how many events the project has. What the log has
    trimmed is simply not there (no ``resync``, unlike ``events?since=``).
    """
    events, next_cursor = paginate(Event.objects.filter(task_id=task_id), order=["-seq"], limit=limit,
                                   cursor=cursor)
    return [envelope(event) for event in events], next_cursor


def oldest_seq(*, project_id) -> int | None:
    """The oldest seq still in the log (None when the project has no events left)."""
    row = Event.objects.filter(project_id=project_id).order_by("seq").values_list("seq", flat=True).first()
    return row
