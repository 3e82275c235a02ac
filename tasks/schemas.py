"""Public data shapes of tasks and comments (REST bodies and event payloads)."""

import uuid
from datetime import date, datetime

from ninja import Schema
from pydantic import Field

from accounts.schemas import UserBriefOut, UserOut
from tasks.models import Priority, TaskType

Title = Field(min_length=1, max_length=500)
Description = Field(max_length=100_000)


class TaskStatusOut(Schema):
    id: uuid.UUID
    name: str
    group: str


class TaskIn(Schema):
    title: str = Title
    description: str = Field("", max_length=100_000)
    status_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None
    priority: Priority = Priority.MEDIUM
    type: TaskType = TaskType.TASK
    due_date: date | None = None
    story_points: int | None = Field(None, ge=0, le=1_000_000)
    parent_id: uuid.UUID | None = None


class TaskPatch(Schema):
    title: str | None = Field(None, min_length=1, max_length=500)
    description: str | None = Field(None, max_length=100_000)
    status_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None
    priority: Priority | None = None
    type: TaskType | None = None
    due_date: date | None = None
    story_points: int | None = Field(None, ge=0, le=1_000_000)
    parent_id: uuid.UUID | None = None


class TaskMoveIn(Schema):
    status_id: uuid.UUID | None = None
    before_id: uuid.UUID | None = None
    after_id: uuid.UUID | None = None


class TaskOut(Schema):
    id: uuid.UUID
    key: str
    project_id: uuid.UUID
    title: str
    description: str
    status: TaskStatusOut
    assignee: UserBriefOut | None
    reporter: UserBriefOut | None
    priority: Priority
    type: TaskType
    story_points: int | None
    due_date: date | None
    parent_id: uuid.UUID | None
    rank: str
    version: int
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    archived_at: datetime | None


class CommentIn(Schema):
    body: str = Field(min_length=1, max_length=50_000)


class CommentOut(Schema):
    id: uuid.UUID
    task_id: uuid.UUID
    author: UserOut | None
    body: str
    created_at: datetime
    updated_at: datetime
