"""The project's counters row: the one write every board change goes through.

``counters_apply`` is shared by the project and task services (``tasks`` may
use it, as it may use ``projects.selectors``): it is the single place where
counts, task numbers and event sequence numbers change.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from projects import cache as counts_cache
from projects.models import COUNT_FIELDS, Project, ProjectCounters, derived_status
from realtime import events as event_log
from taskhub.db import RowWriter
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


@dataclass(frozen=True)
class _Update:
    """The counters ``UPDATE`` of one write, as SQL, and how its ``RETURNING`` row reads back.

    Its ``RETURNING`` list is the counts, ``last_number`` and ``last_seq``, then,
    when the derived status is tracked, that status before and after for the
    one-statement form of ``counters_log`` (from the row's new values, which
    is what ``RETURNING`` sees); ``first_seq_sql`` is the write's first
    reserved seq in that statement.
    """

    sql: str
    delta: tuple[tuple[str, int], ...]
    events: int
    track_status: bool
    first_seq_sql: str

    @property
    def counts_changed(self) -> bool:
        return bool(self.delta)

    @classmethod
    @functools.cache
    def build(cls, vendor: str, delta: tuple[tuple[str, int], ...], events: int, take_number: bool,
              track_status: bool) -> _Update:
        # ``vendor`` is only part of the cache key: quoting differs between backends.
        given = dict(delta)
        table = connection.ops.quote_name(ProjectCounters._meta.db_table)
        sets = [f"{name} = {name} + {given[name]}" for name in COUNT_FIELDS if name in given]
        if take_number:
            sets.append("last_number = last_number + 1")
        tracked = bool(given) and track_status
        fixed = events + (1 if given else 0)
        seq_increment = str(fixed)
        returning = [*COUNT_FIELDS, "last_number", "last_seq"]
        if tracked:
            # In SET a column is its old value; in RETURNING, its new one.
            current = _derived_status_sql(lambda name: name)
            after = _derived_status_sql(lambda name: f"({name} + {given.get(name, 0)})")
            before = _derived_status_sql(lambda name: f"({name} - {given.get(name, 0)})")
            seq_increment += f" + CASE WHEN ({current}) <> ({after}) THEN 1 ELSE 0 END"
            returning += [f"{before} AS old_status", f"{current} AS new_status"]
        sets.append(f"last_seq = last_seq + {seq_increment}")
        sets.append("updated_at = %s")
        sql = f"UPDATE {table} SET {', '.join(sets)} WHERE project_id = %s RETURNING {', '.join(returning)}"
        first_seq = f"c.last_seq - {fixed - 1}"
        if tracked:
            first_seq += " - (c.old_status <> c.new_status)::int"
        return cls(sql=sql, delta=delta, events=events, track_status=tracked, first_seq_sql=first_seq)

    @staticmethod
    def params(project_id) -> list:
        return [
            ProjectCounters._meta.get_field("updated_at").get_db_prep_value(timezone.now(), connection),
            ProjectCounters._meta.get_field("project").get_db_prep_value(project_id, connection),
        ]

    def change(self, project_id, row) -> CountersChange:
        """The ``CountersChange`` of the returned row; the cached counts are refreshed after commit."""
        if row is None:
            raise NotFound("Project not found.")
        delta = dict(self.delta)
        counts = dict(zip(COUNT_FIELDS, (int(v) for v in row[: len(COUNT_FIELDS)]), strict=True))
        old_counts = {name: counts[name] - delta.get(name, 0) for name in COUNT_FIELDS}
        status_changed = self.track_status and derived_status(old_counts) != derived_status(counts)
        reserved = self.events + int(self.counts_changed) + int(status_changed)
        last_seq = int(row[len(COUNT_FIELDS) + 1])
        change = CountersChange(
            project_id=project_id,
            counts=counts,
            old_counts=old_counts,
            last_number=int(row[len(COUNT_FIELDS)]),
            last_seq=last_seq,
            first_seq=last_seq - reserved + 1,
            counts_changed=self.counts_changed,
            status_changed=status_changed,
        )
        transaction.on_commit(lambda: counts_cache.counts_set_if_newer(project_id, last_seq, counts))
        return change


def _update_for(events: int, delta: dict[str, int] | None, take_number: bool, track_status: bool) -> _Update:
    key = tuple((name, int(value)) for name, value in sorted((delta or {}).items()) if value)
    return _Update.build(connection.vendor, key, events, take_number, track_status)


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
    ``counters_log`` does this and the events' INSERT together.
    """
    update = _update_for(events, delta, take_number, track_status)
    with connection.cursor() as cursor:
        cursor.execute(update.sql, update.params(project_id))
        row = cursor.fetchone()
    return update.change(project_id, row)


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


# --- the whole write in one statement ---------------------------------------------------------


@dataclass(frozen=True)
class FromCounters:
    """A value that the write's counters ``UPDATE`` decides: a new task's number, its rank, its key.

    In ``counters_log``'s one statement it is computed by the database from
    ``c``, the ``UPDATE``'s returned row (``sql`` with ``params``); on return,
    and on backends without that statement, it is ``value(change)``. The two
    must agree, which the tests check.
    """

    sql: str
    params: tuple
    value: Callable[[CountersChange], Any]


def counters_log(
    *,
    project: Project,
    items: list[tuple[str, dict]],
    actor,
    delta: dict[str, int] | None = None,
    take_number: bool = False,
    track_status: bool = True,
    rows: Sequence[tuple[RowWriter, Any]] = (),
) -> CountersChange:
    """``counters_apply``, the INSERT of ``rows`` and ``log_project_events``, in one statement on PostgreSQL.

    Why: the ``UPDATE`` takes the project's row lock, and every round trip
    between it and the COMMIT holds that lock. With the ``UPDATE``, the rows
    and the events sent as separate statements, a task creation held it for
    three round trips (and as many waits for the GIL under a threaded server);
    at 16 clients the pg_stat_activity samples showed most backends waiting
    for it. As ``WITH c AS (UPDATE ... RETURNING ...) INSERT ... SELECT ...
    FROM c`` it is held for one statement and the COMMIT, as in the minimal
    view that does only the INSERT and the UPDATE.

    ``rows`` are ``(writer, instance)`` pairs inserted in the same statement;
    the instances' attributes, and the items' data (to one level of nesting),
    may hold ``FromCounters`` values, which are replaced by their values on
    return. Elsewhere (SQLite) the same writes go out one after the other.
    """
    if connection.vendor != "postgresql":
        change = counters_apply(project_id=project.pk, events=len(items), delta=delta, take_number=take_number,
                                track_status=track_status)
        for writer, obj in rows:
            _resolve_instance(obj, change)
            writer.insert([obj])
        log_project_events(project=project, change=change, items=_resolve_items(items, change), actor=actor)
        return change

    update = _update_for(len(items), delta, take_number, track_status)
    # One unsaved event, for the columns every event of the write shares (workspace, project,
    # actor, request id, time): the statement's parameters, and the envelopes' values after it.
    template = event_log.build(workspace_id=project.workspace_id, project_id=project.pk, first_seq=None,
                               items=[("", None)], actor_id=actor.pk if actor else None)[0]
    row_exprs = [{attname: value for attname, value in vars(obj).items() if isinstance(value, FromCounters)}
                 for _writer, obj in rows]
    split = [(event_type, *_split_data(data)) for event_type, data in items]
    sql = _statement_sql(
        update,
        tuple((writer, tuple((attname, value.sql) for attname, value in exprs.items()))
              for (writer, _obj), exprs in zip(rows, row_exprs, strict=True)),
        tuple(tuple((path, leaf.sql) for path, leaf in leaves) for _type, _plain, leaves in split),
    )
    params = update.params(project.pk)
    for (writer, obj), exprs in zip(rows, row_exprs, strict=True):
        params += writer.select_params(obj, {attname: value.params for attname, value in exprs.items()})
    if split or update.counts_changed:
        params += event_log.writer.select_params(template, _EVENT_EXPRS)
        data_field = template._meta.get_field("data")
        for event_type, plain, leaves in split:
            params += [event_type, data_field.get_db_prep_save(plain, connection)]
            for path, leaf in leaves:
                params += [list(path), *leaf.params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        change = update.change(project.pk, cursor.fetchone())
    for _writer, obj in rows:
        _resolve_instance(obj, change)
        obj._state.adding = False
        obj._state.db = connection.alias
    events = event_log.build(workspace_id=project.workspace_id, project_id=project.pk, first_seq=change.first_seq,
                             items=_resolve_items(items, change) + change.trailing_items(),
                             actor_id=template.actor_id, now=template.created_at)
    event_log.publish_after_commit(events)
    return change


# The event columns that ``counters_log``'s statement computes (they take no parameters).
_EVENT_EXPRS = {"seq": (), "type": (), "data": ()}


@functools.lru_cache(maxsize=256)
def _statement_sql(update: _Update, rows: tuple, leaves: tuple) -> str:
    """The text of ``counters_log``'s statement for one shape of write (built once: it is long).

    ``rows`` is ``((writer, ((attname, sql), ...)), ...)``, ``leaves`` the
    ``((path, sql), ...)`` of each item's ``FromCounters`` values.
    """
    ctes = [f"c AS ({update.sql})"]
    for index, (writer, exprs) in enumerate(rows):
        ctes.append(f"r{index} AS ({writer.select_sql(exprs, source='c')})")
    if leaves or update.counts_changed:
        ctes.append(f"e AS ({_events_sql(update, leaves)})")
    returned = ", ".join((*COUNT_FIELDS, "last_number", "last_seq"))
    return f"WITH {', '.join(ctes)} SELECT {returned} FROM c"


def _events_sql(update: _Update, leaves: tuple) -> str:
    """``INSERT INTO <events> ... SELECT ... FROM c``: the items, then the trailing events, numbered from ``c``.

    Each item is a row of a ``VALUES`` list, ``(n, %s type, %s data)``, its data
    completed in the database where it holds ``FromCounters`` values.
    """
    values = []
    for n, item_leaves in enumerate(leaves):
        data = "%s::jsonb"
        for _path, sql in item_leaves:
            data = f"jsonb_set({data}, %s::text[], to_jsonb({sql}))"
        values.append(f"({n}, %s::text, {data})")
    where = ""
    if update.counts_changed:
        counts = ", ".join(f"'{name}', c.{name}" for name in COUNT_FIELDS)
        values.append(
            f"({len(leaves)}, 'project_counts_changed', jsonb_build_object('counts', jsonb_build_object({counts})))"
        )
        if update.track_status:
            values.append(
                f"({len(leaves) + 1}, 'project_status_changed', jsonb_build_object("
                "'old', c.old_status, 'new', c.new_status, 'derived', c.new_status, 'override', NULL))"
            )
            where = f"v.n <= {len(leaves)} OR c.old_status <> c.new_status"
    exprs = (("seq", f"{update.first_seq_sql} + v.n"), ("type", "v.type"), ("data", "v.data"))
    # The VALUES list, and so its parameters, comes after the select list's.
    source = f"c CROSS JOIN LATERAL (VALUES {', '.join(values)}) AS v (n, type, data)"
    return event_log.writer.select_sql(exprs, source=source, where=where)


def _split_data(data):
    """``data`` with its ``FromCounters`` leaves set to None, and ``[(path, leaf)]``."""
    if not isinstance(data, dict):
        return data, []
    plain, leaves = {}, []
    for key, value in data.items():
        if isinstance(value, FromCounters):
            plain[key] = None
            leaves.append(((key,), value))
        elif isinstance(value, dict) and any(isinstance(v, FromCounters) for v in value.values()):
            plain[key] = {k: None if isinstance(v, FromCounters) else v for k, v in value.items()}
            leaves += [((key, k), v) for k, v in value.items() if isinstance(v, FromCounters)]
        else:
            plain[key] = value
    return plain, leaves


def _resolve_items(items, change: CountersChange) -> list[tuple[str, dict]]:
    resolved = []
    for event_type, data in items:
        plain, leaves = _split_data(data)
        for path, leaf in leaves:
            target = plain
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = leaf.value(change)
        resolved.append((event_type, plain))
    return resolved


def _resolve_instance(obj, change: CountersChange) -> None:
    for attname, value in list(vars(obj).items()):
        if isinstance(value, FromCounters):
            setattr(obj, attname, value.value(change))
