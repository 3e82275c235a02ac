"""Keyset pagination: ``?limit=`` (default 50, max 200) and an opaque ``?cursor=``.

The cursor encodes the sort key of the last item returned, so a page is one
indexed range query whatever the offset, and items added meanwhile neither
shift nor repeat what the client already has.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import DateTimeField, Field, Model, Q, QuerySet
from django.utils.dateparse import parse_datetime

from taskhub.errors import ValidationError
from taskhub.prepared import PreparedQuery

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode_cursor(values: list) -> str:
    raw = json.dumps([None if v is None else str(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _invalid_cursor() -> ValidationError:
    return ValidationError("Invalid cursor.", code="invalid_cursor", extra={"loc": ["query", "cursor"]})


def _decode(cursor: str, size: int) -> list:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid_cursor() from exc
    if not isinstance(values, list) or len(values) != size or not all(isinstance(v, str) for v in values):
        raise _invalid_cursor()
    return values


def _field(model: type[Model], path: str) -> Field:
    field = None
    for part in path.split("__"):
        field = model._meta.get_field(part)
        if field.is_relation:
            model = field.related_model
    return field


def _coerce(model: type[Model], path: str, raw: str):
    """The cursor value as the field's Python type, so a forged cursor fails here and not in the database.

    Lookups convert their values when the filter is built, outside any later
    ``try``: a cursor holding a non-UUID or a date that is not a datetime was a
    ``500``. A NUL character is refused too (PostgreSQL cannot compare one).
    """
    if "\x00" in raw:
        raise _invalid_cursor()
    field = _field(model, path)
    if isinstance(field, DateTimeField):
        try:
            value = parse_datetime(raw)
        except ValueError:
            value = None
        if value is None or value.tzinfo is None:  # encode_cursor always writes an aware datetime
            raise _invalid_cursor()
        return value
    try:
        return field.to_python(raw)
    except (DjangoValidationError, ValueError, TypeError) as exc:
        raise _invalid_cursor() from exc


def _value(obj, path: str):
    if isinstance(obj, dict):
        return obj[path]
    for part in path.split("__"):
        obj = getattr(obj, part)
    return obj


def _check_limit(limit: int | None) -> int:
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}.", code="invalid_limit",
                              extra={"loc": ["query", "limit"]})
    return limit


def _after(model: type[Model], fields: list[str], cursor: str | None) -> list | None:
    if not cursor:
        return None
    return [_coerce(model, name, raw) for name, raw in zip(fields, _decode(cursor, len(fields)), strict=True)]


def _page(qs: QuerySet, order: Sequence[str], limit: int, after: list | None) -> QuerySet:
    """The page's queryset: ``order``, then past the ``after`` values when given, at most ``limit + 1`` rows."""
    fields = [name.lstrip("-") for name in order]
    qs = qs.order_by(*order)
    if after is not None:
        op = "lt" if order[0].startswith("-") else "gt"
        condition = Q()
        for i, name in enumerate(fields):
            step = Q(**{f"{name}__{op}": after[i]})
            for prev, prev_value in zip(fields[:i], after[:i], strict=False):
                step &= Q(**{prev: prev_value})
            condition |= step
        qs = qs.filter(condition)
    return qs[: limit + 1]


def _finish(items: list, order: Sequence[str], limit: int) -> tuple[list, str | None]:
    if len(items) <= limit:
        return items, None
    items = items[:limit]
    return items, encode_cursor([_value(items[-1], name.lstrip("-")) for name in order])


def paginate(
    qs: QuerySet, *, order: Sequence[str], limit: int | None, cursor: str | None
) -> tuple[list, str | None]:
    """Return ``(items, next_cursor)``; ``order`` lists fields all ascending or all descending ("-")."""
    limit = _check_limit(limit)
    after = _after(qs.model, [name.lstrip("-") for name in order], cursor)
    try:
        items = list(_page(qs, order, limit, after))
    except (ValueError, TypeError, DjangoValidationError) as exc:
        raise _invalid_cursor() from exc
    return _finish(items, order, limit)


class PreparedPages:
    """``paginate`` over a queryset built by ``build(**values)``, its SQL compiled once per shape (``PreparedQuery``).

    ``fields`` name the values of ``build`` as for ``PreparedQuery``; the page
    size and whether a cursor is given select the compiled variant, and the
    cursor's values are parameters like the others.
    """

    def __init__(self, model: type[Model], build: Callable[..., QuerySet], *, order: Sequence[str], **fields: Field):
        self.order = list(order)
        self.model = model
        self._names = [name.lstrip("-") for name in self.order]
        cursor_fields = {f"after_{i}": _field(model, name) for i, name in enumerate(self._names)}
        self.query = PreparedQuery(self._build_page(build), **fields, **cursor_fields)

    def _build_page(self, build):
        def page(*, limit, **values):
            after = [values.pop(f"after_{i}") for i in range(len(self._names))]
            return _page(build(**values), self.order, limit, None if after[0] is None else after)

        return page

    def page(self, *, limit: int | None, cursor: str | None, read: Callable | None = None,
             **values) -> tuple[list, str | None]:
        """``(items, next_cursor)``; ``read`` turns each fetched item (a ``values_list()`` tuple, say)
        into the page's item, which then holds the ``order`` fields as attributes or keys."""
        limit = _check_limit(limit)
        after = _after(self.model, self._names, cursor) or [None] * len(self._names)
        try:
            items = self.query.fetch(limit=limit, **values, **{f"after_{i}": v for i, v in enumerate(after)})
        except (ValueError, TypeError, DjangoValidationError) as exc:
            if cursor:  # as paginate: a value the driver cannot send (a lone surrogate) is a bad cursor
                raise _invalid_cursor() from exc
            raise
        if read is not None:
            items = [read(item) for item in items]
        return _finish(items, self.order, limit)
