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


class ChecklistCountsOut(BaseModel):
    """A task's checklist progress: its items, and its ticked items, over all its checklists."""

    model_config = ConfigDict(from_attributes=True)

    total: int
    done: int


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
    checklist: ChecklistCountsOut
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
    mentions: list[UserBriefOut]
    created_at: datetime
    updated_at: datetime


# The related rows a card shows, by TaskOut's nested fields.
CARD_RELATED = ("status", "assignee", "reporter")


def card_columns() -> list[str]:
    """The model fields a ``TaskOut`` reads (for ``QuerySet.only``), derived from its fields.

    ``TaskOut`` is where a card's shape is declared; REST, the board and the
    events all serialize through it, and the selectors read what this lists:
    each nested field's own fields on its related row (a nested shape
    without an ``id``, such as ``checklist``, is the task's own columns
    ``<name>_<field>``), ``key`` from the task's ``number`` (the project, held
    by the caller, gives the rest), and ``*_id`` fields from their foreign key.
    """
    names = []
    for name, field in TaskOut.model_fields.items():
        nested = _nested_model(field.annotation)
        if nested is not None and "id" not in nested.model_fields:
            names += [f"{name}_{sub}" for sub in nested.model_fields]
        elif nested is not None:
            names += [f"{name}__{sub}" for sub in nested.model_fields]
        elif name == "key":
            names.append("number")
        elif name.endswith("_id"):
            names.append(name.removesuffix("_id"))
        else:
            names.append(name)
    return names


def _nested_model(annotation):
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _card_plan() -> list[tuple[str, str, tuple[str, ...]]]:
    """How a flat row (``tasks.queries``' column names) becomes a ``TaskOut`` dict, read off ``TaskOut``."""
    plan = []
    for name, field in TaskOut.model_fields.items():
        nested = _nested_model(field.annotation)
        if nested is not None and "id" not in nested.model_fields:
            plan.append(("columns", name, tuple(nested.model_fields)))
        elif nested is not None:
            plan.append(("nested", name, tuple(nested.model_fields)))
        else:
            plan.append(("plain", name, ()))
    return plan


_CARD_PLAN = _card_plan()


def card_from_row(row: dict, project) -> dict:
    """A ``TaskOut``-shaped dict from a flat row naming its columns as ``card_columns`` does, ``__`` read as ``_``.

    A nested field ``status`` comes from ``status_id``, ``status_name``, ...
    (``None`` when the ``_id`` is), one without an ``id`` (``checklist``) from
    the task's ``checklist_total``, ...; ``key`` from ``number`` and the
    project's key; ``project_id`` from the project. The one shape is ``TaskOut``'s.
    """
    card = {}
    for kind, name, subs in _CARD_PLAN:
        if kind == "columns":
            card[name] = {sub: row[f"{name}_{sub}"] for sub in subs}
        elif kind == "nested":
            card[name] = None if row[f"{name}_id"] is None else {sub: row[f"{name}_{sub}"] for sub in subs}
        elif name == "key":
            card[name] = f"{project.key}-{row['number']}"
        elif name == "project_id":
            card[name] = project.pk
        else:
            card[name] = row[name]
    return card


def task_payload(task) -> dict:
    """The REST shape of the task, as JSON (event payloads). Needs the task's card fields and project."""
    return TaskOut.model_validate(task).model_dump(mode="json")


# --- checklists ---------------------------------------------------------------------------------------

ChecklistTitle = Field(min_length=1, max_length=255)
ItemText = Field(min_length=1, max_length=10_000)
Position = json_int(ge=0, le=10_000)


class ChecklistIn(Schema):
    title: str = ChecklistTitle


class ChecklistPatch(Schema):
    title: str | None = Field(None, min_length=1, max_length=255)
    position: Position | None = None


class ChecklistItemIn(Schema):
    text: str = ItemText


class ChecklistItemPatch(Schema):
    text: str | None = Field(None, min_length=1, max_length=10_000)
    done: bool | None = None
    position: Position | None = None
    checklist_id: uuid.UUID | None = None


class ChecklistItemOut(BaseModel):
    """One item; ``position`` is its 0-based place in its checklist."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    checklist_id: uuid.UUID
    text: str
    done: bool
    done_by: UserOut | None
    done_at: datetime | None
    position: int


class ChecklistOut(BaseModel):
    """A checklist's own fields, as its writes answer and its events carry them; ``position`` is its 0-based
    place among the task's checklists."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    task_id: uuid.UUID
    title: str
    position: int


class ChecklistWithItemsOut(ChecklistOut):
    """A checklist with its items in order (``GET /tasks/{id}/checklists``)."""

    items: list[ChecklistItemOut]


def checklist_counts(task) -> dict[str, int]:
    """The ``checklist_counts`` of a checklist event: the task's ``checklist {total, done}``."""
    return ChecklistCountsOut.model_validate(task.checklist).model_dump()
