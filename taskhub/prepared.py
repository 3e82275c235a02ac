"""Querysets compiled once per connection and run again with new parameter values.

Why: for the reads every request makes (the access checks, the pages of the
seed mix), building the queryset and compiling it cost several times what the
database takes. Measured in process on PostgreSQL, ``workspace_get_for_member``
took 3.3 ms of CPU, of which 1.1 ms building the queryset, 0.8 ms compiling it
and 0.26 ms running its SQL.

How: ``PreparedQuery(build, workspace_id=Workspace._meta.pk, ...)`` calls
``build`` once (per backend and shape) with a random sentinel for each named value,
compiles the queryset, and records where each sentinel landed in the SQL's
parameters. ``fetch(**values)`` then puts the real values (converted by the
named field, as the ORM's lookups convert them) in those places, runs the SQL,
and turns the rows into model instances the way ``ModelIterable`` does:
select_related objects, annotations and deferred fields included. A
``values_list()`` queryset gives its converted tuples, with no instances.

Only what compiles to the same SQL whatever the values may be prepared:
equality and range lookups on the named values, no ``__in`` lists, no
``icontains`` (it rewrites its value), no ``prefetch_related``, and nothing
read at build time that changes between calls (``timezone.now()`` would be
compiled in as a constant). Whether each named value is ``None`` (the ORM
compiles ``None`` to ``IS NULL``; a builder may leave its filter out) and
any keyword not named at construction (a page size, a flag) select a
variant, compiled once each. Compiling checks that every sentinel reached
the parameters and none was written into the SQL text; it cannot tell a
value that is also used some other way (a named value must be used only as
a lookup's value, or tested for ``None``).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import DateTimeField, Field, IntegerField, Model, QuerySet, UUIDField
from django.db.models.fetch_modes import FETCH_ONE
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators
from django.db.transaction import TransactionManagementError
from django.utils import timezone


def _sentinel(field: Field):
    if isinstance(field, UUIDField):
        return uuid.uuid4()
    if isinstance(field, DateTimeField):
        # Whole random microseconds far in the past: no real row or default value is this instant.
        seconds = uuid.uuid4().int % 10**9
        return datetime.datetime(1901, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(microseconds=seconds)
    if field.get_internal_type() in ("CharField", "TextField"):
        return f"sentinel-{uuid.uuid4().hex}"
    if isinstance(field, IntegerField):  # AutoFields included; within 32 bits, so any integer column takes it
        return 2**30 + uuid.uuid4().int % 2**30
    raise ImproperlyConfigured(f"PreparedQuery cannot stand in for a {type(field).__name__}.")


@dataclass
class _Compiled:
    sql: str
    params: list
    locks: bool  # select_for_update
    slots: list[tuple[str, Field, list[int]]]  # (name, field, positions in params)
    columns: list  # the selected expressions, for the backend's converters
    col_count: int | None  # rows are cut to this many columns (extra ORDER BY columns)
    tuples: bool = False  # a values_list(): converted rows, no instances
    init_list: list[str] = dataclasses.field(default_factory=list)
    model_start: int = 0
    model_end: int = 0
    from_db: Callable | None = None
    populators: list = dataclasses.field(default_factory=list)
    annotations: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    # The converters of ``columns``, unbound from the connection (``converter_plan``); None until
    # first read, False when one of them cannot be unbound (then they are looked up on each read).
    converters: list | bool | None = None


MAX_SHAPES = 512  # compiled variants kept (page sizes times cursor and filter shapes); then it starts over


class PreparedQuery:
    """A queryset built by ``build(**values)``, compiled once per process and backend.

    What is kept holds no connection: under ASGI every request runs in a
    thread of its own, with a connection object of its own, so anything tied
    to one would be compiled again per request and would keep every such
    connection alive. The threads share the compiled SQL (it depends only on
    the backend); converters are looked up on the current connection.
    """

    def __init__(self, build: Callable[..., QuerySet], **fields: Field):
        self.build = build
        self.fields = fields
        self._compiled: dict[tuple, _Compiled] = {}

    def fetch(self, **values) -> list:
        """The instances (or, for a ``values_list()``, the tuples) ``list(build(**values))`` would give,
        in the same one query.

        Keywords not named at construction are shape arguments (a page size, a
        flag): passed to ``build`` as given, and compiled once per distinct set.
        So is whether each named value is ``None``: the ORM compiles ``None`` to
        ``IS NULL``, and builders may leave a filter out for it.
        """
        missing = set(self.fields) - set(values)
        if missing:
            raise TypeError(f"missing values for {sorted(missing)}")
        shape = tuple(sorted((name, value) for name, value in values.items() if name not in self.fields))
        shape += tuple(sorted(name for name in self.fields if values[name] is None))
        shape = (connection.vendor, *shape)
        compiled = self._compiled.get(shape)
        if compiled is None:
            if len(self._compiled) >= MAX_SHAPES:
                self._compiled.clear()
            # Two threads may compile the same shape at once; both results are equal, either is kept.
            compiled = self._compiled[shape] = self._compile(values)
        if compiled.locks and connection.get_autocommit():
            # What the ORM checks when it compiles a locking read, checked here on every run.
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        params = list(compiled.params)
        for name, field, positions in compiled.slots:
            value = field.get_db_prep_value(_aware(field, values[name]), connection, prepared=False)
            for position in positions:
                params[position] = value
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        return self._instances(compiled, rows)

    def first(self, **values) -> Model | None:
        found = self.fetch(**values)
        return found[0] if found else None

    def _compile(self, values: dict) -> _Compiled:
        sentinels = {name: None if values[name] is None else _sentinel(field) for name, field in self.fields.items()}
        qs = self.build(**{**values, **sentinels})
        if (qs._iterable_class not in (ModelIterable, ValuesListIterable) or qs._prefetch_related_lookups
                or qs._known_related_objects or qs.db != DEFAULT_DB_ALIAS):
            raise ImproperlyConfigured("PreparedQuery takes a model or values_list() queryset on the default database.")
        compiler = qs.query.get_compiler(using=qs.db)
        sql, params = compiler.as_sql()
        params = list(params)
        slots = []
        for name, field in self.fields.items():
            sentinel = sentinels[name]
            if sentinel is None:
                continue
            prepped = field.get_db_prep_value(sentinel, connection, prepared=False)
            positions = [i for i, param in enumerate(params) if param == prepped]
            if not positions:
                raise ImproperlyConfigured(f"PreparedQuery: {name} does not reach the SQL's parameters as itself.")
            if str(sentinel) in sql or (isinstance(sentinel, uuid.UUID) and sentinel.hex in sql):
                raise ImproperlyConfigured(f"PreparedQuery: {name} was written into the SQL text.")
            slots.append((name, field, positions))
        columns = [column[0] for column in compiler.select[:compiler.col_count]]
        if compiler.has_composite_fields(columns):
            raise ImproperlyConfigured("PreparedQuery does not read composite primary keys.")
        col_count = compiler.col_count if compiler.has_extra_select else None
        if qs._iterable_class is ValuesListIterable:
            return _Compiled(sql=sql, params=params, slots=slots, columns=columns, locks=False, col_count=col_count,
                             tuples=True)
        if qs._fetch_mode is not FETCH_ONE:  # other modes keep per-query state (peers) in the populators
            raise ImproperlyConfigured("PreparedQuery reads with the default fetch mode only.")
        klass_info, select = compiler.klass_info, compiler.select
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        fetch_mode = qs._fetch_mode
        return _Compiled(
            sql=sql, params=params, slots=slots, columns=columns,
            locks=qs.query.select_for_update and connection.features.has_select_for_update,
            col_count=col_count,
            init_list=[column[0].target.attname for column in select[start:end]],
            model_start=start, model_end=end,
            from_db=_from_db(klass_info["model"], fetch_mode),
            populators=get_related_populators(klass_info, select, qs.db, fetch_mode),
            annotations=list(compiler.annotation_col_map.items()),
        )

    @staticmethod
    def _instances(compiled: _Compiled, rows: list) -> list[Model]:
        if compiled.col_count is not None:
            rows = [row[:compiled.col_count] for row in rows]
        rows = _converted(compiled, rows)
        if compiled.tuples:
            return [tuple(row) for row in rows]
        objs = []
        for row in rows:
            obj = compiled.from_db(DEFAULT_DB_ALIAS, compiled.init_list, row[compiled.model_start:compiled.model_end])
            for populator in compiled.populators:
                populator.populate(row, obj)
            for name, position in compiled.annotations:
                setattr(obj, name, row[position])
            objs.append(obj)
        return objs


def converter_plan(columns: list, conn) -> list | bool:
    """The converters of ``columns`` as ``[(index, expression, [(function, takes_ops)])]``, or False.

    Looking them up took 58 ``get_db_converters`` calls for one task read, a
    sixth of the request's CPU, so they are looked up once per compiled query.
    Kept without the connection (see ``PreparedQuery``): a converter that is a
    method of the backend's operations (SQLite's UUID and datetime ones) is
    kept as its function and bound to the current connection's on each read.
    When one is tied to the connection any other way, the plan is False and
    the converters are looked up on each read, as the ORM does.
    """
    plan = []
    for index, expression in enumerate(columns):
        entries = []
        for convert in conn.ops.get_db_converters(expression) + expression.get_db_converters(conn):
            owner = getattr(convert, "__self__", None)
            if owner is conn.ops:
                entries.append((convert.__func__, True))
            elif owner is conn or any(cell.cell_contents in (conn, conn.ops)
                                      for cell in getattr(convert, "__closure__", None) or ()):
                return False
            else:
                entries.append((convert, False))
        if entries:
            plan.append((index, expression, entries))
    return plan


def _converted(compiled: _Compiled, rows: list) -> list:
    """``rows`` through the backend's and the fields' converters, as ``SQLCompiler.results_iter`` applies them."""
    conn = connections[DEFAULT_DB_ALIAS]
    if compiled.converters is None:
        compiled.converters = converter_plan(compiled.columns, conn)
    return convert_rows(compiled.converters, compiled.columns, rows, conn)


def convert_rows(plan: list | bool, columns: list, rows: list, conn) -> list:
    """``rows`` (lists or tuples of the ``columns``' values) converted by ``plan`` (``converter_plan``)."""
    if plan is False:
        plan = [(index, expression, [(convert, False) for convert in found])
                for index, expression in enumerate(columns)
                if (found := conn.ops.get_db_converters(expression) + expression.get_db_converters(conn))]
    if not plan:
        return [list(row) for row in rows]
    ops = conn.ops
    out = []
    for row in rows:
        row = list(row)
        for index, expression, entries in plan:
            value = row[index]
            for convert, takes_ops in entries:
                value = convert(ops, value, expression, conn) if takes_ops else convert(value, expression, conn)
            row[index] = value
        out.append(row)
    return out


def _aware(field: Field, value):
    # The ORM's DateTimeField lookups make naive values aware in the default time zone (with a warning).
    if isinstance(field, DateTimeField) and isinstance(value, datetime.datetime) and timezone.is_naive(value):
        return timezone.make_aware(value, timezone.get_default_timezone())
    return value


def _from_db(model, fetch_mode):
    return functools.partial(model.from_db, fetch_mode=fetch_mode)
