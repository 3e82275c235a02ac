"""Reads of workspaces, projects, members and statuses.

Every ``*_get_for_member`` selector fetches the thing and the caller's roles in
one query and raises ``NotFound`` when the caller may not see it, so the REST
API, the services and the WebSocket consumer share one access rule.
"""

from __future__ import annotations

import uuid

from django.db.models import Case, CharField, Count, Expression, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.db.models.lookups import Exact, GreaterThan
from django.utils import timezone

from projects import cache as counts_cache
from projects import queries
from projects.models import (
    COUNT_FIELDS,
    DERIVED_DEFAULT,
    DERIVED_RULES,
    Invitation,
    InvitationStatus,
    Project,
    ProjectCounters,
    ProjectMember,
    ProjectRole,
    Status,
    Workspace,
    WorkspaceMember,
    WorkspaceRole,
)
from taskhub.db import first_locked
from taskhub.errors import NotFound, PermissionDenied, ValidationError
from taskhub.pagination import check_limit, page_after, page_finish, paginate

# --- role rules (API.md "Roles") -----------------------------------------


def can_manage_workspace(ws_role: str | None) -> bool:
    return ws_role == WorkspaceRole.OWNER


def can_edit_project_fields(ws_role: str | None) -> bool:
    return ws_role in (WorkspaceRole.OWNER, WorkspaceRole.EDITOR)


def can_admin_project(ws_role: str | None, project_role: str | None) -> bool:
    """Archive/restore/delete a project, manage its members."""
    return ws_role == WorkspaceRole.OWNER or (
        ws_role == WorkspaceRole.EDITOR and project_role == ProjectRole.ADMIN
    )


def can_edit_tasks(ws_role: str | None, project_role: str | None) -> bool:
    """Create/edit/move/archive/delete tasks and manage statuses."""
    return ws_role == WorkspaceRole.OWNER or (ws_role == WorkspaceRole.EDITOR and project_role is not None)


def can_override_status(ws_role: str | None) -> bool:
    return ws_role == WorkspaceRole.OWNER


def require(allowed: bool, detail: str) -> None:
    if not allowed:
        raise PermissionDenied(detail)


def workspace_role_subquery(user, workspace_ref: str = "workspace_id") -> Subquery:
    return Subquery(
        WorkspaceMember.objects.filter(workspace_id=OuterRef(workspace_ref), user_id=user.pk).values("role")[:1]
    )


def project_role_subquery(user, project_ref: str = "pk") -> Subquery:
    return Subquery(
        ProjectMember.objects.filter(project_id=OuterRef(project_ref), user_id=user.pk).values("role")[:1]
    )


# --- workspaces ------------------------------------------------------------


def workspaces_for_member(user) -> QuerySet[Workspace]:
    """The user's workspaces with ``role`` and ``projects_count`` (the ORM reference of ``projects.queries``)."""
    projects_count = Subquery(
        Project.objects.filter(workspace_id=OuterRef("pk"), archived_at__isnull=True)
        .order_by()
        .values("workspace_id")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return Workspace.objects.annotate(
        role=workspace_role_subquery(user, "pk"),
        projects_count=Coalesce(projects_count, 0),
    ).filter(role__isnull=False)


def workspace_list_for_user(*, user) -> QuerySet[Workspace]:
    """The caller's workspaces with ``role`` and ``projects_count``, by name then id."""
    return workspaces_for_member(user).order_by("name", "id")


def workspace_get_for_member(*, workspace_id: uuid.UUID, user, for_update: bool = False) -> Workspace:
    """The workspace with the caller's ``role`` and ``projects_count``; ``NotFound`` unless a member."""
    if for_update:
        # NO KEY: foreign-key checks of concurrent inserts (KEY SHARE) need not wait.
        locked = workspaces_for_member(user).select_for_update(of=("self",), no_key=True)
        workspace = locked.filter(pk=workspace_id).first()
    elif queries.available():
        workspace = queries.workspace_for_member(workspace_id=workspace_id, user_id=user.pk)
    else:
        workspace = workspaces_for_member(user).filter(pk=workspace_id).first()
    if workspace is None:
        raise NotFound("Workspace not found.")
    return workspace


def workspace_page_for_user(*, user, limit: int, cursor: str | None) -> tuple[list[Workspace], str | None]:
    if queries.available():
        limit, order = check_limit(limit), ["name", "id"]
        items = queries.workspace_page(user_id=user.pk, after=page_after(Workspace, order, cursor), limit=limit + 1)
        return page_finish(items, order=order, limit=limit)
    return paginate(workspace_list_for_user(user=user), order=["name", "id"], limit=limit, cursor=cursor)


def workspace_member_list(*, workspace: Workspace) -> QuerySet[WorkspaceMember]:
    return WorkspaceMember.objects.filter(workspace=workspace).select_related("user").order_by("joined_at", "id")


def workspace_member_page(*, workspace: Workspace, limit: int, cursor: str | None):
    return paginate(workspace_member_list(workspace=workspace), order=["joined_at", "id"], limit=limit,
                    cursor=cursor)


# --- projects ----------------------------------------------------------------


def _projects_for(user) -> QuerySet[Project]:
    """Projects with the user's two roles, in workspaces the user belongs to."""
    return Project.objects.annotate(
        ws_role=workspace_role_subquery(user),
        project_role=project_role_subquery(user),
    ).filter(ws_role__isnull=False)


PROJECT_PEOPLE = ("lead", "created_by", "override_by")


def project_get_for_member(*, project_id: uuid.UUID, user, for_update: bool = False) -> Project:
    """The project with ``ws_role``/``project_role`` of ``user``, its counters row and its three people.

    ``NotFound`` if they may not see it. One query (``projects.queries.project_for_member``
    on PostgreSQL). ``for_update`` locks the project's row (``NO KEY``: inserts of
    tasks and events check their foreign key to the project with KEY SHARE, which
    must not wait behind a project edit).
    """
    if not for_update and queries.available():
        project = queries.project_for_member(project_id=project_id, user_id=user.pk)
        if project is None:
            raise NotFound("Project not found.")
        return project
    qs = project_for_member_queryset(user).filter(pk=project_id)
    if for_update:
        return first_locked(qs.select_for_update(of=("self",), no_key=True).first, "Project not found.")
    project = qs.first()
    if project is None:
        raise NotFound("Project not found.")
    return project


def project_for_member_queryset(user) -> QuerySet[Project]:
    """Projects as ``project_get_for_member`` gives them (the ORM reference of ``projects.queries``)."""
    return _projects_for(user).select_related(*PROJECT_PEOPLE, "counters")


def project_attach_counts(projects: list[Project]) -> None:
    """Set ``live_counts`` (and ``live_seq``) on each project: from the cache, else one query.

    A cache hit costs no SQL; misses are read in one query and written back
    versioned by the project's event sequence.
    """
    if not projects:
        return
    cached = counts_cache.counts_get_many([p.pk for p in projects])
    missing = []
    for project in projects:
        hit = cached.get(str(project.pk))
        if hit is None:
            missing.append(project)
        else:
            project.live_seq, project.live_counts = hit
    if not missing:
        return
    rows = {c.project_id: c for c in ProjectCounters.objects.filter(project_id__in=[p.pk for p in missing])}
    for project in missing:
        row = rows.get(project.pk)
        counts = row.counts() if row else dict.fromkeys(COUNT_FIELDS, 0)
        project.live_counts = counts
        project.live_seq = row.last_seq if row else 0
        if row is not None:
            counts_cache.counts_set_if_newer(project.pk, row.last_seq, counts)


def derived_status_expression(counts: dict[str, Expression]) -> Case:
    """``projects.models.DERIVED_RULES`` as an ORM expression over ``counts`` (count name to expression).

    The same table ``derived_status`` reads in Python, so the database and the
    API apply one rule: the project list filters on it (over the joined
    counters row), and the counters UPDATE compares it before and after.
    """
    whens = []
    for status, conditions in DERIVED_RULES:
        checks = [
            (Exact if op == "eq" else GreaterThan)(counts[name], counts[other] if isinstance(other, str) else other)
            for name, op, other in conditions
        ]
        condition = checks[0]
        for check in checks[1:]:
            condition = condition & check
        whens.append(When(condition, then=Value(status)))
    return Case(*whens, default=Value(DERIVED_DEFAULT), output_field=CharField())


def effective_status_expression() -> Case:
    """The override while it is set and not expired, else the derived status (over the joined counters)."""
    active_override = ~Q(override_status="") & (
        Q(override_expires_at__isnull=True) | Q(override_expires_at__gt=timezone.now())
    )
    derived = derived_status_expression({name: F(f"counters__{name}") for name in COUNT_FIELDS})
    return Case(When(active_override, then=F("override_status")), default=derived, output_field=CharField())


def project_list_for_workspace(
    *, workspace: Workspace, user, archived: bool = False, q: str | None = None, status: str | None = None
) -> QuerySet[Project]:
    """Projects of a workspace the caller belongs to, newest activity first.

    The counters row is joined (the activity order needs it), so counts and
    status come with the page at no extra cost. ``status`` filters on the
    effective status, computed in SQL.
    """
    qs = (
        Project.objects.filter(workspace=workspace, archived_at__isnull=not archived)
        .select_related(*PROJECT_PEOPLE, "counters")
        .annotate(project_role=project_role_subquery(user))
        .order_by("-counters__updated_at", "-id")
    )
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(key__icontains=q))
    if status:
        qs = qs.annotate(effective_status=effective_status_expression()).filter(effective_status=status)
    return qs


def project_page_for_workspace(
    *, workspace: Workspace, user, limit: int, cursor: str | None, archived: bool = False, q: str | None = None,
    status: str | None = None,
) -> tuple[list[Project], str | None]:
    order = ["-counters__updated_at", "-id"]
    if not q and not status and queries.available():
        limit = check_limit(limit)
        items = queries.project_page(workspace_id=workspace.pk, user_id=user.pk, archived=archived,
                                     after=page_after(Project, order, cursor), limit=limit + 1)
        return page_finish(items, order=order, limit=limit)
    qs = project_list_for_workspace(workspace=workspace, user=user, archived=archived, q=q, status=status)
    return paginate(qs, order=order, limit=limit, cursor=cursor)


def project_member_list(*, project: Project) -> QuerySet[ProjectMember]:
    return ProjectMember.objects.filter(project=project).select_related("user").order_by("joined_at", "id")


def project_members_all(*, project: Project) -> list[ProjectMember]:
    """Every member of the project with their user, in joining order (the board lists them all)."""
    return list(project_member_list(project=project))


def project_member_page(*, project: Project, limit: int, cursor: str | None):
    return paginate(project_member_list(project=project), order=["joined_at", "id"], limit=limit, cursor=cursor)


# --- statuses ------------------------------------------------------------------


def status_list_for_project(*, project: Project) -> QuerySet[Status]:
    return Status.objects.filter(project=project).order_by("position", "id")


def status_get_for_member(*, status_id: uuid.UUID, user, for_update: bool = False) -> Status:
    """The status with its project (the caller's roles annotated on the project); ``NotFound`` if hidden.

    One query: the column, its project with the counters row and people, and the roles.
    ``for_update`` locks the column's row and its project's (columns are renumbered under
    the project's lock; ``NO KEY``, as every lock of a row others refer to).
    """
    qs = (
        Status.objects.select_related("project", "project__counters", *(f"project__{p}" for p in PROJECT_PEOPLE))
        .annotate(ws_role=workspace_role_subquery(user, "project__workspace_id"),
                  project_role=project_role_subquery(user, "project_id"))
        .filter(pk=status_id, ws_role__isnull=False)
    )
    if for_update:
        qs = qs.select_for_update(of=("self", "project"), no_key=True)
    status = qs.first()
    if status is None:
        raise NotFound("Status not found.")
    status.project.ws_role, status.project.project_role = status.ws_role, status.project_role
    return status


def assignable_member(*, workspace_id: uuid.UUID, user_id: uuid.UUID) -> WorkspaceMember:
    """The user's membership if they may be a project member, lead or assignee (owners and editors)."""
    member = (
        WorkspaceMember.objects.select_related("user")
        .filter(
            workspace_id=workspace_id,
            user_id=user_id,
            role__in=[WorkspaceRole.OWNER, WorkspaceRole.EDITOR],
        )
        .first()
    )
    if member is None:
        raise ValidationError("Only owners and editors of the workspace can be chosen here.")
    return member


# --- invitations ---------------------------------------------------------------------------------


def workspace_members_among(*, workspace_id: uuid.UUID, user_ids) -> dict:
    """``{user_id: user}`` of the ``user_ids`` that belong to the workspace (so may see its projects). One query."""
    ids = list(user_ids)
    if not ids:
        return {}
    members = WorkspaceMember.objects.filter(workspace_id=workspace_id, user_id__in=ids).select_related("user")
    return {member.user_id: member.user for member in members}


def invitation_list_for_workspace(*, workspace: Workspace, status: str | None = None) -> QuerySet[Invitation]:
    """The workspace's invitations, newest first; ``status`` as it reads now (a pending one past its date is
    expired)."""
    qs = Invitation.objects.filter(workspace=workspace).select_related("workspace", "invited_by")
    now = timezone.now()
    if status == InvitationStatus.PENDING:
        qs = qs.filter(status=InvitationStatus.PENDING, expires_at__gt=now)
    elif status == InvitationStatus.EXPIRED:
        qs = qs.filter(Q(status=InvitationStatus.EXPIRED) | Q(status=InvitationStatus.PENDING, expires_at__lte=now))
    elif status is not None:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def invitation_page_for_workspace(*, workspace: Workspace, user, status: str | None, limit: int,
                                  cursor: str | None) -> tuple[list[Invitation], str | None]:
    require(can_edit_project_fields(workspace.role), "Only owners and editors see the workspace's invitations.")
    return paginate(invitation_list_for_workspace(workspace=workspace, status=status), order=["-created_at", "-id"],
                    limit=limit, cursor=cursor)


def invitation_list_for_user(*, user) -> QuerySet[Invitation]:
    """Pending invitations addressed to the user's email (whatever its case), newest first."""
    return (Invitation.objects.filter(email=user.email.lower(), status=InvitationStatus.PENDING,
                                      expires_at__gt=timezone.now())
            .select_related("workspace", "invited_by").order_by("-created_at", "-id"))


def invitation_page_for_user(*, user, limit: int, cursor: str | None) -> tuple[list[Invitation], str | None]:
    return paginate(invitation_list_for_user(user=user), order=["-created_at", "-id"], limit=limit, cursor=cursor)


def workspace_memberships(*, workspace_ids, user_ids) -> set[tuple[str, str]]:
    """``{(workspace_id, user_id)}`` of the given users' memberships in the given workspaces (the heartbeat's
    access check: a socket whose user left a workspace, and missed the ``access_revoked``, is told then)."""
    return {(str(workspace_id), str(user_id)) for workspace_id, user_id in
            WorkspaceMember.objects.filter(workspace_id__in=list(workspace_ids), user_id__in=list(user_ids))
            .values_list("workspace_id", "user_id")}


def project_latest_seqs(*, project_ids) -> dict[str, int]:
    """``{project_id: last_seq}`` of the given projects (for the sockets' heartbeat; no access check)."""
    return {str(project_id): seq for project_id, seq in
            ProjectCounters.objects.filter(project_id__in=list(project_ids)).values_list("project_id", "last_seq")}


def project_has_task(*, project_id, task_id) -> bool:
    """Whether ``task_id`` is a task of the project (presence frames name one; no access check)."""
    return Project.objects.filter(pk=project_id, tasks__pk=task_id).exists()
