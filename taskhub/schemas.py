"""Shapes shared by every router: errors and paginated lists."""

from typing import Any, Generic, TypeVar

from ninja import Schema

T = TypeVar("T")


class ErrorOut(Schema):
    detail: Any
    code: str


class Page(Schema, Generic[T]):  # noqa: UP046 (pydantic generic model)
    items: list[T]
    next_cursor: str | None
