import uuid
from datetime import datetime

from ninja import Schema
from pydantic import Field


class UserOut(Schema):
    id: uuid.UUID
    email: str
    display_name: str


class UserBriefOut(Schema):
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
