"""Public data shapes of workspaces, projects, members and statuses.

The Out schemas are also the payloads of the WebSocket events, so REST and
events cannot drift apart.
"""

import uuid
from datetime import date, datetime

from ninja import Schema
from pydantic import Field

from accounts.schemas import UserOut
from projects.models import (
    COUNT_FIELDS,
    InvitationStatus,
    ProjectRole,
    StatusGroup,
    WorkspaceRole,
    derived_status,
)
from taskhub.schemas import JsonDate, JsonDateTime, json_int

Name = Field(min_length=1, max_length=200)
Position = json_int(ge=0, le=10_000)


class WorkspaceIn(Schema):
    name: str = Name
    description: str = Field("", max_length=10_000)


class WorkspacePatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)


class WorkspaceOut(Schema):
    id: uuid.UUID
    name: str
    description: str
    role: WorkspaceRole
    projects_count: int
    created_at: datetime
    updated_at: datetime


class MemberOut(Schema):
    user: UserOut
    role: str
    joined_at: datetime


class WorkspaceMemberIn(Schema):
    email: str = Field(min_length=3, max_length=254)
    role: WorkspaceRole


class WorkspaceMemberPatch(Schema):
    role: WorkspaceRole


class ProjectMemberIn(Schema):
    user_id: uuid.UUID
    role: ProjectRole = ProjectRole.MEMBER


class ProjectMemberPatch(Schema):
    role: ProjectRole


class CountsOut(Schema):
    total: int
    todo: int
    active: int
    review: int
    issue: int
    done: int


class OverrideOut(Schema):
    status: StatusGroup
    reason: str
    by: UserOut | None
    expires_at: datetime | None


class OverrideIn(Schema):
    status: StatusGroup
    reason: str = Field("", max_length=500)
    expires_at: JsonDateTime | None = None


class ProjectIn(Schema):
    name: str = Name
    key: str = Field(pattern=r"^[A-Z][A-Z0-9]{1,9}$")
    description: str = Field("", max_length=100_000)
    due_date: JsonDate | None = None


class ProjectPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=100_000)
    due_date: JsonDate | None = None
    lead_id: uuid.UUID | None = None


def project_counts(project) -> dict[str, int]:
    """Counts attached by a selector (cache hit) or read from the joined counters row."""
    counts = getattr(project, "live_counts", None)
    if counts is None:
        counts = project.counters.counts()
    return counts


class ProjectOut(Schema):
    id: uuid.UUID
    workspace_id: uuid.UUID
    key: str
    name: str
    description: str
    due_date: date | None
    lead: UserOut | None
    created_by: UserOut | None
    counts: CountsOut
    derived_status: StatusGroup
    status: StatusGroup
    override: OverrideOut | None
    archived_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_counts(obj) -> dict[str, int]:
        return project_counts(obj)

    @staticmethod
    def resolve_derived_status(obj) -> str:
        return derived_status(project_counts(obj))

    @staticmethod
    def resolve_status(obj) -> str:
        return obj.active_override() or derived_status(project_counts(obj))

    @staticmethod
    def resolve_override(obj) -> dict | None:
        if obj.active_override() is None:
            return None
        return {
            "status": obj.override_status,
            "reason": obj.override_reason,
            "by": obj.override_by,
            "expires_at": obj.override_expires_at,
        }


class StatusIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    group: StatusGroup
    position: Position | None = None


class StatusPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    position: Position | None = None


class StatusOut(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    group: StatusGroup
    position: int


def counts_dict(counts: dict[str, int]) -> dict[str, int]:
    return {name: int(counts[name]) for name in COUNT_FIELDS}


class InvitationIn(Schema):
    email: str = Field(min_length=3, max_length=254)
    role: WorkspaceRole


class InvitationWorkspaceOut(Schema):
    id: uuid.UUID
    name: str


class InvitationOut(Schema):
    id: uuid.UUID
    workspace: InvitationWorkspaceOut
    email: str
    role: WorkspaceRole
    status: InvitationStatus
    invited_by: UserOut | None
    created_at: datetime
    responded_at: datetime | None
    expires_at: datetime

    @staticmethod
    def resolve_status(obj) -> str:
        return obj.effective_status()


class InvitationFilter(Schema):
    status: InvitationStatus | None = None
