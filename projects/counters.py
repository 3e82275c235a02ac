"""The project's counters row: the one write every board change goes through.

``counters_apply`` is shared by the project and task services (``tasks`` may
use it, as it may use ``projects.selectors``): it is the single place where
counts, task numbers and event sequence numbers change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from projects import cache as counts_cache
from projects.models import COUNT_FIELDS, Project, ProjectCounters, derived_status
from realtime import events as event_log
from taskhub.errors import NotFound

# --- counters --------------------------------------------------------------------


def _derived_status_sql(column) -> str:
    """The rule of ``projects.models.derived_status`` as an SQL CASE.

    ``column(name)`` returns the SQL for one counter. A test checks that this
    and the Python function agree on every combination that matters.
    """
    t, todo, active, review, issue, done = (column(name) for name in COUNT_FIELDS)
    return (
        f"CASE WHEN {t} = 0 THEN 'todo' WHEN {done} = {t} THEN 'done' WHEN {issue} > 0 THEN 'issue' "
        f"WHEN {todo} > 0 THEN 'todo' WHEN {active} + {review} > 0 THEN 'active' ELSE 'todo' END"
    )


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
    sequence numbers for the caller's own events, one more for
    ``project_counts_changed`` when ``delta`` changes a count, and, when
    ``track_status`` is set (no active override), one more for
    ``project_status_changed`` exactly when the derived status changes; that
    last one is decided in SQL from the old and new values under the lock.
    The caller appends the events in that order starting at ``first_seq``.
    """
    delta = {name: int(value) for name, value in (delta or {}).items() if value}
    table = connection.ops.quote_name(ProjectCounters._meta.db_table)
    sets = [f"{name} = {name} + {delta[name]}" for name in COUNT_FIELDS if name in delta]
    if take_number:
        sets.append("last_number = last_number + 1")
    counts_changed = bool(delta)
    seq_increment = str(events + (1 if counts_changed else 0))
    if counts_changed and track_status:
        old = _derived_status_sql(lambda name: name)
        new = _derived_status_sql(lambda name: f"({name} + {delta.get(name, 0)})")
        seq_increment += f" + CASE WHEN ({old}) <> ({new}) THEN 1 ELSE 0 END"
    sets.append(f"last_seq = last_seq + {seq_increment}")
    sets.append("updated_at = %s")
    sql = (
        f"UPDATE {table} SET {', '.join(sets)} WHERE project_id = %s "
        f"RETURNING {', '.join(COUNT_FIELDS)}, last_number, last_seq"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [
            ProjectCounters._meta.get_field("updated_at").get_db_prep_value(timezone.now(), connection),
            ProjectCounters._meta.get_field("project").get_db_prep_value(project_id, connection),
        ])
        row = cursor.fetchone()
    if row is None:
        raise NotFound("Project not found.")
    counts = dict(zip(COUNT_FIELDS, (int(v) for v in row[: len(COUNT_FIELDS)]), strict=True))
    old_counts = {name: counts[name] - delta.get(name, 0) for name in COUNT_FIELDS}
    status_changed = counts_changed and track_status and derived_status(old_counts) != derived_status(counts)
    reserved = events + int(counts_changed) + int(status_changed)
    last_seq = int(row[-1])
    change = CountersChange(
        project_id=project_id,
        counts=counts,
        old_counts=old_counts,
        last_number=int(row[-2]),
        last_seq=last_seq,
        first_seq=last_seq - reserved + 1,
        counts_changed=counts_changed,
        status_changed=status_changed,
    )
    transaction.on_commit(lambda: counts_cache.counts_set_if_newer(project_id, last_seq, counts))
    return change


def log_project_events(
    *, project: Project, change: CountersChange, items: list[tuple[str, dict]], actor
) -> None:
    """Append ``items`` plus the counters' trailing events, at the sequence ``change`` reserved."""
    all_items = list(items) + change.trailing_items()
    event_log.record(
        workspace_id=project.workspace_id,
        project_id=project.pk,
        first_seq=change.first_seq,
        items=all_items,
        actor_id=actor.pk if actor else None,
    )


