"""Shapes shared by every router: errors and paginated lists."""

import re
from datetime import date, datetime
from typing import Annotated, Generic, TypeVar

from ninja import Schema
from pydantic import BeforeValidator, Field

T = TypeVar("T")


class ErrorOut(Schema):
    """Every error but a validation error: one human sentence and a machine code (API.md, "Errors")."""

    detail: str
    code: str


class ValidationItem(Schema):
    """One refused input: where (``["body", "payload", "title"]``), why, and pydantic's or the domain's type."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(Schema):
    """A ``422``: the list of refused inputs, ``code`` always ``"invalid"``."""

    detail: list[ValidationItem]
    code: str


class Page(Schema, Generic[T]):  # noqa: UP046 (pydantic generic model)
    items: list[T]
    next_cursor: str | None


# Request bodies take a value only in the JSON type the schema documents.
# Pydantic's lax mode would read ``false`` as the integer 0, ``0`` or ``"0"``
# as the date 1970-01-01, and a number of seconds as a datetime; schemathesis
# found the first two. (Query parameters arrive as text and stay lax.)
def _json_integer(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)  # JSON Schema counts 5.0 as an integer
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError("must be an integer")


def _iso_date(value):
    if isinstance(value, date) or (isinstance(value, str) and _DATE.fullmatch(value)):
        return value  # pydantic checks the calendar
    raise ValueError("must be a date as YYYY-MM-DD")


def _iso_datetime(value):
    if isinstance(value, datetime) or (isinstance(value, str) and _DATETIME.match(value)):
        return value
    raise ValueError("must be an RFC 3339 date-time, such as 2026-05-01T12:00:00Z")


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")

JsonInt = Annotated[int, BeforeValidator(_json_integer)]


def json_int(*, ge: int, le: int):
    """``JsonInt`` within ``[ge, le]``, the bounds declared as JSON Schema's ``minimum``/``maximum``.

    Written as ``Field(None, ge=..., le=...)`` on an optional ``JsonInt``, pydantic
    copied ``ge``/``le`` into the schema as keys of their own, which no client reads
    (and OpenAPI linters refuse): inside the ``Annotated``, before the validator, they
    become the standard keywords.
    """
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_json_integer)]
JsonDate = Annotated[date, BeforeValidator(_iso_date)]
JsonDateTime = Annotated[datetime, BeforeValidator(_iso_datetime)]
