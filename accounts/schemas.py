import uuid
from datetime import datetime

from ninja import Schema
from pydantic import BaseModel, ConfigDict, Field


class UserOut(BaseModel):
    """A plain pydantic model read with ``from_attributes``, as ``UserBriefOut``: it sits in
    every comment and member of a page, where ninja's per-field getter took 40% of a comment
    page's time (see ``tasks.schemas.CommentOut``)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str


class UserBriefOut(BaseModel):
    """A plain pydantic model (not a ninja Schema): it sits in every task card, and
    ninja's per-field getter costs more than the rest of a board's serialization."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    display_name: str


class RegisterIn(Schema):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=4096)
    display_name: str = Field("", max_length=150)


class TokenIn(Schema):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=4096)


class TokenOut(Schema):
    token: str
    expires_at: datetime
    user: UserOut


class TicketOut(Schema):
    ticket: str
    expires_in: int


class HealthOut(Schema):
    status: str
    database: str
    cache: str
    channel_layer: str
