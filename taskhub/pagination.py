"""Keyset pagination: ``?limit=`` (default 50, max 200) and an opaque ``?cursor=``.

The cursor encodes the sort key of the last item returned, so a page is one
indexed range query whatever the offset, and items added meanwhile neither
shift nor repeat what the client already has.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import DateTimeField, Field, Model, Q, QuerySet
from django.utils.dateparse import parse_datetime

from taskhub.errors import ValidationError

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
    ``500``. A NUL character is refused too (PostgreSQL cannot compare one), and a
    lone surrogate (no UTF-8 for the driver to send).
    """
    try:
        raw.encode()  # a lone surrogate (JSON allows "\ud800") reaches no database
    except UnicodeEncodeError as exc:
        raise _invalid_cursor() from exc
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


def page_after(model: type[Model], order: Sequence[str], cursor: str | None) -> list | None:
    """The cursor's values as the ``order`` fields' Python types (``None`` for the first page).

    For pages read by literal SQL (``tasks.queries``), which then hand their
    ``limit + 1`` rows to ``page_finish``: the same cursors as ``paginate``'s.
    """
    return _after(model, [name.lstrip("-") for name in order], cursor)


def page_finish(items: list, *, order: Sequence[str], limit: int) -> tuple[list, str | None]:
    """``(items, next_cursor)`` from up to ``limit + 1`` items (objects or dicts holding the ``order`` fields)."""
    return _finish(items, order, _check_limit(limit))


def check_limit(limit: int | None) -> int:
    """``limit`` (default 50), or the ``422`` of a limit outside 1..200."""
    return _check_limit(limit)
