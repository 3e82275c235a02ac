"""The project's counters row: the one write every board change goes through.

``counters_apply`` is shared by the project and task services (``tasks`` may
use it, as it may use ``projects.selectors``): it is the single place where
counts, task numbers and event sequence numbers change, and
``log_project_events`` the single place a project's events are appended.

A write's counters change is one ``UPDATE ... RETURNING``
(``projects.queries.counters_update``): the increments happen in the
database under the row lock (no read-modify-write in Python, no recount),
and the write learns its task number, its sequence numbers and the new
counts from the same statement. From the old counts (new minus delta) and
the new ones, Python tells whether the derived status changed
(``projects.models.derived_status``, the rule's one statement); only then
is ``project_status_changed`` logged, and the sequence number it takes is
moved on in the statement that inserts the events.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from projects import cache as counts_cache
from projects import queries
from projects.models import COUNT_FIELDS, Project, derived_status
from realtime import events as event_log
from taskhub.errors import NotFound


@dataclass
class CountersChange:
    """What one ``counters_apply`` did: the new and old counts and the numbers it handed out."""

    project_id: uuid.UUID
    counts: dict[str, int]
    old_counts: dict[str, int]
    last_number: int
    last_seq: int
    first_seq: int
    counts_changed: bool
    status_changed: bool

    def trailing_items(self) -> list[tuple[str, dict]]:
        """The ``project_counts_changed`` / ``project_status_changed`` events the change owes."""
        items: list[tuple[str, dict]] = []
        if self.counts_changed:
            items.append(("project_counts_changed", {"counts": dict(self.counts)}))
        if self.status_changed:
            old, new = derived_status(self.old_counts), derived_status(self.counts)
            items.append(
                ("project_status_changed", {"old": old, "new": new, "derived": new, "override": None})
            )
        return items


def counters_apply(
    *,
    project_id: uuid.UUID,
    events: int,
    delta: dict[str, int] | None = None,
    take_number: bool = False,
    track_status: bool = True,
) -> CountersChange:
    """Apply ``delta`` to the project's counters and reserve event sequence numbers.

    One ``UPDATE ... RETURNING``: it takes the row lock that serialises the
    project's writes, so callers do everything they can *before* calling it and
    as little as possible after (DESIGN.md "Hot rows"). It reserves ``events``
    sequence numbers for the caller's own events and one more for
    ``project_counts_changed`` when ``delta`` changes a count; when
    ``track_status`` is set (no active override) and the derived status
    changed, ``project_status_changed`` follows with the next number, which
    ``log_project_events`` takes when it inserts the events. The caller
    appends its events in that order from ``first_seq``. ``take_number``
    hands out the next task number.
    """
    delta = {name: int(value) for name, value in (delta or {}).items() if value}
    counts_changed = bool(delta)
    reserved = events + int(counts_changed)
    row = queries.counters_update(project_id=project_id, delta=delta, numbers=int(take_number), seqs=reserved,
                                  now=timezone.now())
    if row is None:
        raise NotFound("Project not found.")
    counts = {name: int(row[name]) for name in COUNT_FIELDS}
    old_counts = {name: counts[name] - delta.get(name, 0) for name in COUNT_FIELDS}
    status_changed = counts_changed and track_status and derived_status(old_counts) != derived_status(counts)
    # The status event's number is the one after the reserved ones; ``log_project_events`` takes it.
    last_seq = int(row["last_seq"]) + int(status_changed)
    change = CountersChange(
        project_id=project_id,
        counts=counts,
        old_counts=old_counts,
        last_number=int(row["last_number"]),
        last_seq=last_seq,
        first_seq=int(row["last_seq"]) - reserved + 1,
        counts_changed=counts_changed,
        status_changed=status_changed,
    )
    transaction.on_commit(lambda: counts_cache.counts_set_if_newer(project_id, last_seq, counts))
    return change


def log_project_events(
    *, project: Project, change: CountersChange, items: list[tuple[str, dict]], actor
) -> None:
    """Append ``items`` plus the counters' trailing events, at the sequence ``change`` reserved.

    One INSERT, which also takes the status event's sequence number when
    there is one (``projects.queries.events_insert``); the envelopes go to the
    publisher after commit (``realtime.events.publish_after_commit``).
    """
    events = event_log.build(workspace_id=project.workspace_id, project_id=project.pk, first_seq=change.first_seq,
                             items=list(items) + change.trailing_items(), actor_id=actor.pk if actor else None)
    queries.events_insert(events, take_status_seq=change.status_changed)
    event_log.publish_after_commit(events)


def counters_log(
    *,
    project: Project,
    items: list[tuple[str, dict]],
    actor,
    delta: dict[str, int] | None = None,
    take_number: bool = False,
    track_status: bool = True,
) -> CountersChange:
    """``counters_apply`` then ``log_project_events``: the end of every write of a project's board."""
    change = counters_apply(project_id=project.pk, events=len(items), delta=delta, take_number=take_number,
                            track_status=track_status)
    log_project_events(project=project, change=change, items=items, actor=actor)
    return change
