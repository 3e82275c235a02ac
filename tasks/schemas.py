"""Public data shapes of tasks and comments (REST bodies and event payloads)."""

import uuid
from datetime import date, datetime

from ninja import Schema
from pydantic import BaseModel, ConfigDict, Field

from accounts.schemas import UserBriefOut, UserOut
from taskhub.schemas import JsonDate, json_int
from tasks.models import Priority, TaskType

Title = Field(min_length=1, max_length=500)
Description = Field(max_length=100_000)
StoryPoints = json_int(ge=0, le=1_000_000)


class TaskStatusOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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
    due_date: JsonDate | None = None
    story_points: StoryPoints | None = None
    parent_id: uuid.UUID | None = None


class TaskPatch(Schema):
    title: str | None = Field(None, min_length=1, max_length=500)
    description: str | None = Field(None, max_length=100_000)
    status_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None
    priority: Priority | None = None
    type: TaskType | None = None
    due_date: JsonDate | None = None
    story_points: StoryPoints | None = None
    parent_id: uuid.UUID | None = None


class TaskMoveIn(Schema):
    status_id: uuid.UUID | None = None
    before_id: uuid.UUID | None = None
    after_id: uuid.UUID | None = None


class TaskOut(BaseModel):
    """A task as REST and the events show it.

    A plain pydantic model read with ``from_attributes`` (the ``key`` property
    included) rather than a ninja Schema: boards carry hundreds of these, and
    ninja's per-field getter was the largest cost of a board response.
    """

    model_config = ConfigDict(from_attributes=True)

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


class CommentOut(BaseModel):
    """A plain pydantic model (see ``TaskOut``): in a profile of a 50-comment page, ninja's
    per-field getter took 40% of the operation's time."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    task_id: uuid.UUID
    author: UserOut | None
    body: str
    created_at: datetime
    updated_at: datetime


def _person(user) -> dict | None:
    return None if user is None else {"id": user.id, "display_name": user.display_name}


def task_data(task) -> dict:
    """TaskOut's fields as a dict, read straight off the model: the fast path for pages and boards.

    Equal to ``TaskOut.model_validate(task)`` (a test compares the two on every
    kind of task); responses are still validated against ``TaskOut``. Needs
    ``project``, ``status``, ``assignee`` and ``reporter`` loaded.
    """
    status = task.status
    return {
        "id": task.id, "key": f"{task.project.key}-{task.number}", "project_id": task.project_id,
        "title": task.title, "description": task.description,
        "status": {"id": status.id, "name": status.name, "group": status.group},
        "assignee": _person(task.assignee), "reporter": _person(task.reporter),
        "priority": task.priority, "type": task.type, "story_points": task.story_points, "due_date": task.due_date,
        "parent_id": task.parent_id, "rank": task.rank, "version": task.version, "created_at": task.created_at,
        "updated_at": task.updated_at, "completed_at": task.completed_at, "archived_at": task.archived_at,
    }
