"""Shapes shared by every router: errors and paginated lists."""

from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from ninja import Schema
from pydantic import BeforeValidator, Strict

T = TypeVar("T")


class ErrorOut(Schema):
    detail: Any
    code: str


class Page(Schema, Generic[T]):  # noqa: UP046 (pydantic generic model)
    items: list[T]
    next_cursor: str | None


# Request bodies take a value only in the JSON type the schema documents.
# Pydantic's lax mode would read ``false`` as the integer 0, and ``0`` as the
# date 1970-01-01; schemathesis found both. (Query parameters arrive as text
# and stay lax.)
def _iso_text(value):
    if isinstance(value, str | date):  # a datetime is a date
        return value
    raise ValueError("must be an ISO 8601 string")


JsonInt = Annotated[int, Strict()]
JsonDate = Annotated[date, BeforeValidator(_iso_text)]
JsonDateTime = Annotated[datetime, BeforeValidator(_iso_text)]
