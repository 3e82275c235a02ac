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
from django.db.models import DateTimeField, Model, Q, QuerySet
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


def _coerce(model: type[Model], path: str, raw: str):
    """The cursor value as the field's Python type, so a forged cursor fails here and not in the database.

    Lookups convert their values when the filter is built, outside any later
    ``try``: a cursor holding a non-UUID or a date that is not a datetime was a
    ``500``. A NUL character is refused too (PostgreSQL cannot compare one).
    """
    if "\x00" in raw:
        raise _invalid_cursor()
    field = None
    for part in path.split("__"):
        field = model._meta.get_field(part)
        if field.is_relation:
            model = field.related_model
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
    for part in path.split("__"):
        obj = getattr(obj, part)
    return obj


def paginate(
    qs: QuerySet, *, order: Sequence[str], limit: int | None, cursor: str | None
) -> tuple[list, str | None]:
    """Return ``(items, next_cursor)``; ``order`` lists fields all ascending or all descending ("-")."""
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}.", code="invalid_limit",
                              extra={"loc": ["query", "limit"]})
    descending = order[0].startswith("-")
    fields = [name.lstrip("-") for name in order]
    qs = qs.order_by(*order)
    if cursor:
        values = [_coerce(qs.model, name, raw) for name, raw in zip(fields, _decode(cursor, len(fields)), strict=True)]
        op = "lt" if descending else "gt"
        condition = Q()
        for i, name in enumerate(fields):
            step = Q(**{f"{name}__{op}": values[i]})
            for prev, prev_value in zip(fields[:i], values[:i], strict=False):
                step &= Q(**{prev: prev_value})
            condition |= step
        qs = qs.filter(condition)
    try:
        items = list(qs[: limit + 1])
    except (ValueError, TypeError, DjangoValidationError) as exc:
        raise _invalid_cursor() from exc
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = encode_cursor([_value(items[-1], name) for name in fields])
    return items, next_cursor
