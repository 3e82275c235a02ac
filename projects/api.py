"""REST endpoints for workspaces, members, projects and statuses (API.md)."""

from __future__ import annotations

import datetime
import uuid

from django.http import HttpResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from projects import selectors, services
from projects.models import InvitationStatus
from projects.schemas import (
    InvitationIn,
    InvitationOut,
    MemberOut,
    OverrideIn,
    ProjectIn,
    ProjectMemberIn,
    ProjectMemberPatch,
    ProjectOut,
    ProjectPatch,
    StatusIn,
    StatusOut,
    StatusPatch,
    WorkspaceIn,
    WorkspaceMemberIn,
    WorkspaceOut,
    WorkspacePatch,
)
from taskhub.errors import PreconditionFailed, ValidationError
from taskhub.http import if_match_version, set_etag
from taskhub.openapi import conditional
from taskhub.pagination import MAX_LIMIT
from taskhub.schemas import ErrorOut, Page, ValidationErrorOut

router = Router(tags=["projects"])

ERRORS = {400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ValidationErrorOut}
# Operations that answer with a project send its version as the ETag.
PROJECT_ETAG = conditional(etag=(200,))


class PageParams(Schema):
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=500)


class ProjectFilter(PageParams):
    archived: bool = False
    status: str | None = Field(None, pattern="^(todo|active|review|issue|done)$")
    q: str | None = Field(None, max_length=200)


# --- workspaces ----------------------------------------------------------------------------


@router.get("/workspaces", response=Page[WorkspaceOut], tags=["workspaces"])
def workspace_list(request, params: Query[PageParams]):
    """The caller's workspaces, by name, each with the caller's ``role`` and its ``projects_count``."""
    items, next_cursor = selectors.workspace_page_for_user(user=request.user, limit=params.limit,
                                                           cursor=params.cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.post("/workspaces", response={201: WorkspaceOut, **ERRORS}, tags=["workspaces"])
def workspace_create(request, payload: WorkspaceIn):
    """Create a workspace; the caller becomes its owner."""
    return Status(201, services.workspace_create(user=request.user, name=payload.name,
                                                 description=payload.description))


@router.get("/workspaces/{workspace_id}", response={200: WorkspaceOut, 404: ErrorOut}, tags=["workspaces"])
def workspace_get(request, workspace_id: uuid.UUID):
    """One workspace the caller belongs to (``404`` otherwise)."""
    return selectors.workspace_get_for_member(workspace_id=workspace_id, user=request.user)


@router.patch("/workspaces/{workspace_id}", response={200: WorkspaceOut, **ERRORS}, tags=["workspaces"])
def workspace_update(request, workspace_id: uuid.UUID, payload: WorkspacePatch):
    """Rename or re-describe the workspace (owners only)."""
    fields = payload.dict(exclude_unset=True)
    workspace = services.workspace_update(workspace_id=workspace_id, user=request.user, **fields)
    return selectors.workspace_get_for_member(workspace_id=workspace.pk, user=request.user)


@router.delete("/workspaces/{workspace_id}", response={204: None, **ERRORS}, tags=["workspaces"])
def workspace_delete(request, workspace_id: uuid.UUID):
    """Delete the workspace with its projects, tasks and event logs (owners only)."""
    services.workspace_delete(workspace_id=workspace_id, user=request.user)
    return Status(204, None)


@router.get("/workspaces/{workspace_id}/members", response={200: Page[MemberOut], **ERRORS}, tags=["workspaces"])
def workspace_member_list(request, workspace_id: uuid.UUID, params: Query[PageParams]):
    """The workspace's members with their roles, in joining order."""
    workspace = selectors.workspace_get_for_member(workspace_id=workspace_id, user=request.user)
    items, next_cursor = selectors.workspace_member_page(workspace=workspace, limit=params.limit,
                                                         cursor=params.cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.post("/workspaces/{workspace_id}/members", response={201: MemberOut, **ERRORS}, tags=["workspaces"])
def workspace_member_add(request, workspace_id: uuid.UUID, payload: WorkspaceMemberIn):
    """Add an existing account by email (owners: any role; editors: editors and viewers). ``409`` if already a member.

    """
    member = services.workspace_member_add(workspace_id=workspace_id, actor=request.user, email=payload.email,
                                           role=payload.role)
    return Status(201, member)


# PATCH and DELETE /workspaces/{workspace_id}/members/{user_id} are in tasks.api: a demotion or a
# removal also unassigns the member's tasks, which the projects app may not touch.


# --- projects ----------------------------------------------------------------------------------


@router.get("/workspaces/{workspace_id}/projects", response={200: Page[ProjectOut], **ERRORS})
def project_list(request, workspace_id: uuid.UUID, params: Query[ProjectFilter]):
    """Projects with ``counts`` and ``status``, newest activity first.

    Three queries at most: the workspace with the caller's role, the page of
    projects (the counters row is joined, since the activity order needs it
    anyway, so the counts cost nothing more), and nothing else.
    """
    workspace = selectors.workspace_get_for_member(workspace_id=workspace_id, user=request.user)
    items, next_cursor = selectors.project_page_for_workspace(
        workspace=workspace, user=request.user, limit=params.limit, cursor=params.cursor, archived=params.archived,
        q=params.q, status=params.status,
    )
    return {"items": items, "next_cursor": next_cursor}


def _project_response(response: HttpResponse, project):
    set_etag(response, project.version)
    return project


def _fresh_project(project_id, user):
    project = selectors.project_get_for_member(project_id=project_id, user=user)
    selectors.project_attach_counts([project])
    return project


@router.post("/workspaces/{workspace_id}/projects", response={201: ProjectOut, **ERRORS},
             openapi_extra=conditional(etag=(201,)))
def project_create(request, response: HttpResponse, workspace_id: uuid.UUID, payload: ProjectIn):
    """Create a project with its five default statuses, its counters and the caller as admin."""
    project = services.project_create(workspace_id=workspace_id, user=request.user, name=payload.name,
                                      key=payload.key, description=payload.description, due_date=payload.due_date)
    return Status(201, _project_response(response, project))


@router.get("/projects/{project_id}", response={200: ProjectOut, 404: ErrorOut}, openapi_extra=PROJECT_ETAG)
def project_get(request, response: HttpResponse, project_id: uuid.UUID):
    """One query on a counts-cache hit: the project with the caller's roles."""
    return _project_response(response, _fresh_project(project_id, request.user))


@router.patch("/projects/{project_id}", response={200: ProjectOut, 412: ProjectOut, **ERRORS},
              openapi_extra=conditional(etag=(200, 412), if_match=True))
def project_update(request, response: HttpResponse, project_id: uuid.UUID, payload: ProjectPatch):
    """Honours ``If-Match``: a stale version gives ``412`` with the current project."""
    try:
        project = services.project_update(project_id=project_id, user=request.user,
                                          fields=payload.dict(exclude_unset=True),
                                          if_match=if_match_version(request))
    except PreconditionFailed:
        current = _fresh_project(project_id, request.user)
        set_etag(response, current.version)
        return Status(412, current)
    return _project_response(response, project)


@router.delete("/projects/{project_id}", response={204: None, **ERRORS})
def project_delete(request, project_id: uuid.UUID):
    """Delete the project with its tasks and event log (owners and project admins)."""
    services.project_delete(project_id=project_id, user=request.user)
    return Status(204, None)


@router.post("/projects/{project_id}/archive", response={200: ProjectOut, **ERRORS}, openapi_extra=PROJECT_ETAG)
def project_archive(request, response: HttpResponse, project_id: uuid.UUID):
    """Archive the project (owners and project admins); its board becomes read-only."""
    return _project_response(response, services.project_archive(project_id=project_id, user=request.user))


@router.post("/projects/{project_id}/restore", response={200: ProjectOut, **ERRORS}, openapi_extra=PROJECT_ETAG)
def project_restore(request, response: HttpResponse, project_id: uuid.UUID):
    """Restore an archived project (owners and project admins)."""
    return _project_response(response, services.project_restore(project_id=project_id, user=request.user))


@router.put("/projects/{project_id}/status-override", response={200: ProjectOut, **ERRORS},
            openapi_extra=PROJECT_ETAG)
def project_override_set(request, response: HttpResponse, project_id: uuid.UUID, payload: OverrideIn):
    """Set the status override (owners only); ``status`` is a group name."""
    expires_at = payload.expires_at
    if expires_at is not None:
        if expires_at.tzinfo is None:
            # API.md: timestamps carry a time zone; a naive one cannot be compared with "now".
            raise ValidationError("expires_at must include a time zone (e.g. 2031-01-01T00:00:00Z).",
                                  extra={"loc": ["body", "payload", "expires_at"]})
        expires_at = expires_at.astimezone(datetime.UTC)  # answered (and logged) in UTC, as every timestamp
    project = services.project_override_set(project_id=project_id, user=request.user, status=payload.status,
                                            reason=payload.reason, expires_at=expires_at)
    return _project_response(response, project)


@router.delete("/projects/{project_id}/status-override", response={200: ProjectOut, **ERRORS},
               openapi_extra=PROJECT_ETAG)
def project_override_clear(request, response: HttpResponse, project_id: uuid.UUID):
    """Clear the status override (owners only); ``status`` is the derived status again."""
    return _project_response(response, services.project_override_clear(project_id=project_id, user=request.user))


# --- project members ---------------------------------------------------------------------------


@router.get("/projects/{project_id}/members", response={200: Page[MemberOut], **ERRORS})
def project_member_list(request, project_id: uuid.UUID, params: Query[PageParams]):
    """The project's members with their project roles, in joining order."""
    project = selectors.project_get_for_member(project_id=project_id, user=request.user)
    items, next_cursor = selectors.project_member_page(project=project, limit=params.limit, cursor=params.cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.post("/projects/{project_id}/members", response={201: MemberOut, **ERRORS})
def project_member_add(request, project_id: uuid.UUID, payload: ProjectMemberIn):
    """Add a workspace owner or editor to the project (owners and project admins). ``409`` if already a member."""
    member = services.project_member_add(project_id=project_id, actor=request.user, user_id=payload.user_id,
                                         role=payload.role)
    return Status(201, member)


@router.patch("/projects/{project_id}/members/{user_id}", response={200: MemberOut, **ERRORS})
def project_member_update(request, project_id: uuid.UUID, user_id: uuid.UUID, payload: ProjectMemberPatch):
    """Change a project member's role. ``409`` when it would leave no admin."""
    return services.project_member_update(project_id=project_id, actor=request.user, user_id=user_id,
                                          role=payload.role)


@router.delete("/projects/{project_id}/members/{user_id}", response={204: None, **ERRORS})
def project_member_remove(request, project_id: uuid.UUID, user_id: uuid.UUID):
    """Remove a project member (admins), or leave (anyone). ``409`` when it would leave no admin."""
    services.project_member_remove(project_id=project_id, actor=request.user, user_id=user_id)
    return Status(204, None)


# --- statuses -------------------------------------------------------------------------------------


@router.get("/projects/{project_id}/statuses", response={200: Page[StatusOut], **ERRORS}, tags=["statuses"])
def status_list(request, project_id: uuid.UUID):
    """All columns of the board in order (a small, bounded list: ``next_cursor`` is always null)."""
    project = selectors.project_get_for_member(project_id=project_id, user=request.user)
    return {"items": list(selectors.status_list_for_project(project=project)), "next_cursor": None}


@router.post("/projects/{project_id}/statuses", response={201: StatusOut, **ERRORS}, tags=["statuses"])
def status_create(request, project_id: uuid.UUID, payload: StatusIn):
    """Add a board column in a status group, at ``position`` (default: the end)."""
    status = services.status_create(project_id=project_id, user=request.user, name=payload.name,
                                    group=payload.group, position=payload.position)
    return Status(201, status)


@router.patch("/statuses/{status_id}", response={200: StatusOut, **ERRORS}, tags=["statuses"])
def status_update(request, status_id: uuid.UUID, payload: StatusPatch):
    """Rename a column and/or move it to ``position`` (the others are renumbered)."""
    return services.status_update(status_id=status_id, user=request.user, **payload.dict(exclude_unset=True))


@router.delete("/statuses/{status_id}", response={204: None, **ERRORS}, tags=["statuses"])
def status_delete(request, status_id: uuid.UUID, move_to: uuid.UUID | None = None):
    """Delete a column; its tasks move to ``move_to`` in the same transaction (``409`` without it)."""
    services.status_delete(status_id=status_id, user=request.user, move_to=move_to)
    return Status(204, None)


# --- invitations -----------------------------------------------------------------------------------------------


@router.post("/workspaces/{workspace_id}/invitations", response={201: InvitationOut, **ERRORS}, tags=["invitations"])
def invitation_create(request, workspace_id: uuid.UUID, payload: InvitationIn):
    """Invite an email address (owners: any role; editors: editors and viewers). ``409`` when it is a member or
    has a pending invitation here. The address need not have an account yet."""
    invitation = services.invitation_create(workspace_id=workspace_id, actor=request.user, email=payload.email,
                                            role=payload.role)
    return Status(201, invitation)


class InvitationPageParams(PageParams):
    status: InvitationStatus | None = None


@router.get("/workspaces/{workspace_id}/invitations", response={200: Page[InvitationOut], **ERRORS},
            tags=["invitations"])
def invitation_list(request, workspace_id: uuid.UUID, params: Query[InvitationPageParams]):
    """The workspace's invitations, newest first (owners and editors); ``status`` filters them as they read now."""
    workspace = selectors.workspace_get_for_member(workspace_id=workspace_id, user=request.user)
    items, next_cursor = selectors.invitation_page_for_workspace(workspace=workspace, user=request.user,
                                                                 status=params.status, limit=params.limit,
                                                                 cursor=params.cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/me/invitations", response={200: Page[InvitationOut], 422: ValidationErrorOut}, tags=["invitations"])
def my_invitation_list(request, params: Query[PageParams]):
    """Pending invitations addressed to the caller's email, newest first."""
    items, next_cursor = selectors.invitation_page_for_user(user=request.user, limit=params.limit,
                                                            cursor=params.cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.post("/invitations/{invitation_id}/accept", response={200: WorkspaceOut, **ERRORS}, tags=["invitations"])
def invitation_accept(request, invitation_id: uuid.UUID):
    """Join the workspace with the invited role (the invitee only). Answered again, it answers the same;
    ``409`` once declined, cancelled or expired."""
    return services.invitation_accept(invitation_id=invitation_id, user=request.user)


@router.post("/invitations/{invitation_id}/decline", response={200: InvitationOut, **ERRORS}, tags=["invitations"])
def invitation_decline(request, invitation_id: uuid.UUID):
    """Decline an invitation (the invitee only); the inviter is notified."""
    return services.invitation_decline(invitation_id=invitation_id, user=request.user)


@router.delete("/invitations/{invitation_id}", response={204: None, **ERRORS}, tags=["invitations"])
def invitation_cancel(request, invitation_id: uuid.UUID):
    """Withdraw a pending invitation (its inviter, or an owner of the workspace)."""
    services.invitation_cancel(invitation_id=invitation_id, user=request.user)
    return Status(204, None)
