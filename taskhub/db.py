"""Transaction helpers for the write services."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Sequence

from django.db import DEFAULT_DB_ALIAS, IntegrityError, OperationalError, connection, connections, transaction
from django.db.models import AutoField, Model

from taskhub.errors import NotFound
from taskhub.prepared import convert_rows, converter_plan

logger = logging.getLogger(__name__)

# PostgreSQL: deadlock_detected, serialization_failure, and foreign_key_violation: foreign keys
# are checked at COMMIT (deferred), so a write that read a row a concurrent transaction then
# deleted (a comment or subtask on a task being deleted), or a delete that raced a new
# reference to its row, fails only there. Run again, it reads the current rows and answers as
# for any missing row (404, 422), or, for the delete, clears the new reference too.
_RETRYABLE = {"40P01", "40001", "23503"}
ATTEMPTS = 3


def unique_violation(exc: IntegrityError, *fields: str) -> bool:
    """Whether ``exc`` is a unique-constraint violation on ``fields`` (PostgreSQL or SQLite).

    Only that is a "taken" conflict: a foreign-key violation also mentions a
    "Key (...)" and must not be mistaken for one.
    """
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is not None:  # PostgreSQL: detail reads 'Key (workspace_id, key)=(..., TH) already exists.'
        detail = getattr(getattr(cause, "diag", None), "message_detail", None) or ""
        columns = detail.split(")", 1)[0]
        return sqlstate == "23505" and all(field in columns for field in fields)
    text = str(exc)  # SQLite: 'UNIQUE constraint failed: projects_project.workspace_id, projects_project.key'
    return text.startswith("UNIQUE constraint failed") and all(f".{field}" in text for field in fields)


def _retryable(exc: BaseException) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in _RETRYABLE


def write_transaction(func):
    """``transaction.atomic`` that retries the whole write when PostgreSQL reports a deadlock (see ``retrying``)."""
    return retrying(transaction.atomic(func))


def retrying(func):
    """Run ``func`` (which opens its own transaction) again when PostgreSQL reports a deadlock.

    Lock order is kept consistent (the row being changed, then the project's
    counters row; ``FOR NO KEY UPDATE`` so foreign-key checks of concurrent
    inserts never wait on it), but a few rare pairs can still cross, e.g.
    deleting a task while a subtask is created under it. PostgreSQL then aborts
    one of them (a deadlock, or, when one commits first, a deferred foreign-key
    check failing at the other's COMMIT); rather than answering 500, the aborted
    write runs again from the start. Only an outermost transaction is retried:
    inside an enclosing ``atomic`` the caller owns the transaction.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if connection.in_atomic_block:
            return func(*args, **kwargs)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return func(*args, **kwargs)
            except (OperationalError, IntegrityError) as exc:
                if attempt == ATTEMPTS or not _retryable(exc):
                    raise
                logger.info("%s: %s, retrying (attempt %d)", func.__name__, exc.__cause__.sqlstate, attempt + 1)
        raise AssertionError("unreachable")

    return wrapper


def first_locked(fetch: Callable[[], Model | None], not_found: str):
    """``fetch()`` (a locking read that joins other tables, e.g. ``qs.first``), retried when it comes back empty.

    When the locked row was changed by a writer we waited for, PostgreSQL
    re-checks it against the joined rows it had already read (READ COMMITTED's
    EvalPlanQual); if that writer changed a foreign key (a move changes a
    task's ``status_id``), the stale join drops the row and the query returns
    nothing. Running it again reads fresh rows. Only the empty case pays.
    """
    for _ in range(3):
        found = fetch()
        if found is not None:
            return found
    raise NotFound(not_found)


class RowReader:
    """Model instances (or plain values) from the rows of hand-written SQL, converted as the ORM converts them.

    For the few hottest reads, where building and compiling the queryset cost
    several times what the database takes (see ``tasks.selectors``). The SQL
    selects ``columns(alias)`` for the model (all its concrete fields, or the
    ``fields`` named); ``read`` turns that slice of a row into an instance and
    ``values`` into a list, through the backend's converters (SQLite returns
    UUIDs and datetimes as text).
    """

    def __init__(self, model, fields: Sequence[str] | None = None):
        self.model = model
        if fields is None:
            self.fields = list(model._meta.concrete_fields)
        else:
            self.fields = [model._meta.get_field(name) for name in fields]
        self.attnames = [field.attname for field in self.fields]
        self._columns = [field.get_col(model._meta.db_table) for field in self.fields]
        self._converters: dict[str, list | bool] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def columns(self, alias: str) -> str:
        quote = connection.ops.quote_name
        return ", ".join(f"{alias}.{quote(field.column)}" for field in self.fields)

    def _plan(self, conn) -> list:
        """``[(index, column, [(converter, takes_ops)])]`` for the fields whose values the backend converts.

        Planned once per backend and kept without the connection (``taskhub.prepared.converter_plan``).
        """
        plan = self._converters.get(conn.vendor)
        if plan is None:
            plan = self._converters[conn.vendor] = converter_plan(self._columns, conn)
        return plan

    def values(self, row, start: int = 0) -> list:
        return self.rows([row], start)[0]

    def rows(self, rows, start: int = 0) -> list[list]:
        """Each row's slice for this model, converted (the connection is looked up once for all rows)."""
        conn = connections[DEFAULT_DB_ALIAS]
        end = start + len(self.fields)
        return convert_rows(self._plan(conn), self._columns, [row[start:end] for row in rows], conn)

    def read(self, row, start: int = 0):
        return self.model.from_db(connection.alias, self.attnames, self.values(row, start))


class RowWriter:
    """INSERT of model instances with the statement built once per model, not per call.

    For the writes every board change makes (the task row, the event rows, a comment):
    ``Model.save`` and ``bulk_create`` compile the INSERT each time, and on
    PostgreSQL ``bulk_create`` sends the rows as arrays for ``UNNEST``; both
    cost several times what the database takes for one or two rows. Values go
    through each field's ``get_db_prep_save``, as the ORM's own INSERT does.
    No signals are sent (nothing in TaskHub listens for ``post_save``) and an
    auto-increment primary key is left to the database and not read back.
    """

    def __init__(self, model):
        self.model = model
        self.fields = [field for field in model._meta.concrete_fields if not isinstance(field, AutoField)]
        self._head: dict[str, str] = {}

    def insert(self, objs) -> None:
        """Insert ``objs`` (model instances of this writer's model): one statement, or one per batch
        where the backend caps the parameters of a statement (SQLite), as ``bulk_create`` batches."""
        objs = list(objs)
        if not objs:
            return
        head = self._head.get(connection.vendor)
        if head is None:
            quote = connection.ops.quote_name
            head = (f"INSERT INTO {quote(self.model._meta.db_table)} "
                    f"({', '.join(quote(field.column) for field in self.fields)}) VALUES ")
            self._head[connection.vendor] = head
        row = "(" + ", ".join(["%s"] * len(self.fields)) + ")"
        size = max(1, connection.ops.bulk_batch_size(self.fields, objs))
        with connection.cursor() as cursor:
            for start in range(0, len(objs), size):
                batch = objs[start:start + size]
                params = [field.get_db_prep_save(field.pre_save(obj, add=True), connection)
                          for obj in batch for field in self.fields]
                cursor.execute(head + ", ".join([row] * len(batch)), params)
        for obj in objs:
            obj._state.adding = False
            obj._state.db = connection.alias

    def select_sql(self, exprs: tuple[tuple[str, str], ...], *, source: str, where: str = "") -> str:
        """``INSERT ... SELECT`` of one row from ``source`` (PostgreSQL, inside a ``WITH``).

        ``exprs`` gives the SQL of the columns whose values come from
        ``source``, as ``(attname, sql)`` pairs; the other values are
        parameters (``select_params``), cast to their column's type, since a
        parameter in a select list has no type of its own to be assigned from.
        """
        given = dict(exprs)
        quote = connection.ops.quote_name
        select = [given.get(field.attname) or f"%s::{cast_type(field)}" for field in self.fields]
        sql = (f"INSERT INTO {quote(self.model._meta.db_table)} "
               f"({', '.join(quote(field.column) for field in self.fields)}) "
               f"SELECT {', '.join(select)} FROM {source}")
        return f"{sql} WHERE {where}" if where else sql

    def select_params(self, obj, exprs_params: dict[str, Sequence]) -> list:
        """The parameters of ``select_sql`` for ``obj``: each computed column's own, or the field's value."""
        params = []
        for field in self.fields:
            given = exprs_params.get(field.attname)
            if given is not None:
                params += given
            else:
                params.append(field.get_db_prep_save(field.pre_save(obj, add=True), connection))
        return params


def cast_type(field) -> str:
    """The column type of ``field`` for a cast, without a length: ``varchar``, not ``varchar(200)``.

    An explicit cast to ``varchar(200)`` would cut a longer value short; cast to
    ``varchar``, the value is still checked against the column when assigned.
    """
    return re.sub(r"\(.*\)", "", field.db_type(connection)).strip()
