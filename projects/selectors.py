"""Reads of workspaces, projects, members and statuses.

Every ``*_get_for_member`` selector fetches the thing and the caller's roles in
one query and raises ``NotFound`` when the caller may not see it, so the REST
API, the services and the WebSocket consumer share one access rule.
"""

from __future__ import annotations

import itertools
import uuid

from django.db.models import Case, CharField, Count, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from projects import cache as counts_cache
from projects.models import (
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
from taskhub.pagination import PreparedPages, paginate
from taskhub.prepared import PreparedQuery

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


def _workspaces_for(user) -> QuerySet[Workspace]:
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
    return _workspaces_for(user).order_by("name", "id")


_WORKSPACE_FOR_MEMBER = PreparedQuery(
    lambda workspace_id, user_id: _workspaces_for(User(pk=user_id)).filter(pk=workspace_id).order_by()[:1],
    workspace_id=Workspace._meta.pk, user_id=User._meta.pk,
)


def workspace_get_for_member(*, workspace_id: uuid.UUID, user, for_update: bool = False) -> Workspace:
    if for_update:
        # NO KEY: foreign-key checks of concurrent inserts (KEY SHARE) need not wait.
        workspace = _workspaces_for(user).filter(pk=workspace_id).select_for_update(of=("self",), no_key=True).first()
    else:
        workspace = _WORKSPACE_FOR_MEMBER.first(workspace_id=workspace_id, user_id=user.pk)
    if workspace is None:
        raise NotFound("Workspace not found.")
    return workspace


_WORKSPACE_PAGES = PreparedPages(Workspace, lambda user_id: workspace_list_for_user(user=User(pk=user_id)),
                                 order=["name", "id"], user_id=User._meta.pk)


def workspace_page_for_user(*, user, limit: int, cursor: str | None) -> tuple[list[Workspace], str | None]:
    return _WORKSPACE_PAGES.page(limit=limit, cursor=cursor, user_id=user.pk)


def workspace_member_list(*, workspace: Workspace) -> QuerySet[WorkspaceMember]:
    return WorkspaceMember.objects.filter(workspace=workspace).select_related("user").order_by("joined_at", "id")


_WORKSPACE_MEMBER_PAGES = PreparedPages(
    WorkspaceMember, lambda workspace_id: workspace_member_list(workspace=Workspace(pk=workspace_id)),
    order=["joined_at", "id"], workspace_id=Workspace._meta.pk,
)


def workspace_member_page(*, workspace: Workspace, limit: int, cursor: str | None):
    return _WORKSPACE_MEMBER_PAGES.page(limit=limit, cursor=cursor, workspace_id=workspace.pk)


# --- projects ----------------------------------------------------------------


def _projects_for(user) -> QuerySet[Project]:
    return Project.objects.annotate(
        ws_role=workspace_role_subquery(user),
        project_role=project_role_subquery(user),
    ).filter(ws_role__isnull=False)


def project_get_for_member(
    *, project_id: uuid.UUID, user, for_update: bool = False, with_counters: bool = True, with_people: bool = True
) -> Project:
    """The project with ``ws_role``/``project_role`` of ``user``; ``NotFound`` if they may not see it.

    ``with_counters`` joins the counters row (for writes and cache misses);
    reads that hit the counts cache skip it and stay at one query.
    ``with_people=False`` skips the lead, creator and override author, for
    reads of the project's children that only need the access check and the
    project's own columns (three joins fewer to run and three people fewer to build).
    """
    prepared = _PROJECT_FOR_MEMBER[with_counters, with_people, for_update]
    if for_update:
        return first_locked(lambda: prepared.first(project_id=project_id, user_id=user.pk), "Project not found.")
    project = prepared.first(project_id=project_id, user_id=user.pk)
    if project is None:
        raise NotFound("Project not found.")
    return project


def _project_for_member(project_id, user_id, *, with_counters: bool, with_people: bool,
                        for_update: bool) -> QuerySet[Project]:
    related = ["lead", "created_by", "override_by"] if with_people else []
    if with_counters:
        related.append("counters")
    qs = _projects_for(User(pk=user_id)).filter(pk=project_id).order_by()
    if related:  # select_related() with no names would follow every foreign key
        qs = qs.select_related(*related)
    if for_update:
        # NO KEY: inserts of tasks and events check their foreign key to the
        # project with KEY SHARE, which must not wait behind a project edit.
        qs = qs.select_for_update(of=("self",), no_key=True)
    return qs[:1]


_PROJECT_FOR_MEMBER = {
    variant: PreparedQuery(
        lambda project_id, user_id, variant=variant: _project_for_member(
            project_id, user_id, with_counters=variant[0], with_people=variant[1], for_update=variant[2]),
        project_id=Project._meta.pk, user_id=User._meta.pk,
    )
    for variant in itertools.product((True, False), repeat=3)
}


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
        counts = row.counts() if row else dict.fromkeys(("total", "todo", "active", "review", "issue", "done"), 0)
        project.live_counts = counts
        project.live_seq = row.last_seq if row else 0
        if row is not None:
            counts_cache.counts_set_if_newer(project.pk, row.last_seq, counts)


def derived_status_expression(prefix: str = "counters__") -> Case:
    """``projects.models.derived_status`` as an ORM expression over the joined counters row."""
    return Case(
        When(**{f"{prefix}total": 0}, then=Value("todo")),
        When(**{f"{prefix}done": F(f"{prefix}total")}, then=Value("done")),
        When(**{f"{prefix}issue__gt": 0}, then=Value("issue")),
        When(**{f"{prefix}todo__gt": 0}, then=Value("todo")),
        When(Q(**{f"{prefix}active__gt": 0}) | Q(**{f"{prefix}review__gt": 0}), then=Value("active")),
        default=Value("todo"),
        output_field=CharField(),
    )


def effective_status_expression() -> Case:
    """The override while it is set and not expired, else the derived status."""
    active_override = ~Q(override_status="") & (
        Q(override_expires_at__isnull=True) | Q(override_expires_at__gt=timezone.now())
    )
    return Case(When(active_override, then=F("override_status")), default=derived_status_expression(),
                output_field=CharField())


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
        .select_related("lead", "created_by", "override_by", "counters")
        .annotate(project_role=project_role_subquery(user))
        .order_by("-counters__updated_at", "-id")
    )
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(key__icontains=q))
    if status:
        qs = qs.annotate(effective_status=effective_status_expression()).filter(effective_status=status)
    return qs


_PROJECT_PAGES = PreparedPages(
    Project,
    lambda workspace_id, user_id, archived: project_list_for_workspace(
        workspace=Workspace(pk=workspace_id), user=User(pk=user_id), archived=archived),
    order=["-counters__updated_at", "-id"], workspace_id=Workspace._meta.pk, user_id=User._meta.pk,
)


def project_page_for_workspace(
    *, workspace: Workspace, user, limit: int, cursor: str | None, archived: bool = False, q: str | None = None,
    status: str | None = None,
) -> tuple[list[Project], str | None]:
    """A page of ``project_list_for_workspace``; prepared (``PreparedPages``) unless filtered by ``q`` or
    ``status`` (a substring search, and a filter on an expression holding the current time)."""
    if q or status:
        qs = project_list_for_workspace(workspace=workspace, user=user, archived=archived, q=q, status=status)
        return paginate(qs, order=["-counters__updated_at", "-id"], limit=limit, cursor=cursor)
    return _PROJECT_PAGES.page(limit=limit, cursor=cursor, workspace_id=workspace.pk, user_id=user.pk,
                               archived=archived)


def project_member_list(*, project: Project) -> QuerySet[ProjectMember]:
    return ProjectMember.objects.filter(project=project).select_related("user").order_by("joined_at", "id")


_PROJECT_MEMBER_PAGES = PreparedPages(
    ProjectMember, lambda project_id: project_member_list(project=Project(pk=project_id)),
    order=["joined_at", "id"], project_id=Project._meta.pk,
)


_PROJECT_MEMBERS = PreparedQuery(lambda project_id: project_member_list(project=Project(pk=project_id)),
                                 project_id=Project._meta.pk)


def project_members_all(*, project: Project) -> list[ProjectMember]:
    """Every member of the project with their user, in joining order (the board lists them all)."""
    return _PROJECT_MEMBERS.fetch(project_id=project.pk)


def project_member_page(*, project: Project, limit: int, cursor: str | None):
    return _PROJECT_MEMBER_PAGES.page(limit=limit, cursor=cursor, project_id=project.pk)


# --- statuses ------------------------------------------------------------------


def status_list_for_project(*, project: Project) -> QuerySet[Status]:
    return Status.objects.filter(project=project).order_by("position", "id")


def status_get_for_member(*, status_id: uuid.UUID, user, for_update: bool = False) -> Status:
    """The status with its project (roles annotated on the project); ``NotFound`` if hidden."""
    project = project_get_for_member_by_status(status_id=status_id, user=user)
    qs = Status.objects.filter(pk=status_id)
    if for_update:
        qs = qs.select_for_update()
    status = qs.first()
    if status is None:
        raise NotFound("Status not found.")
    status.project = project
    return status


def project_get_for_member_by_status(*, status_id: uuid.UUID, user) -> Project:
    project_id = Status.objects.filter(pk=status_id).values("project_id")
    project = (
        _projects_for(user).select_related("counters", "lead", "created_by", "override_by")
        .filter(pk__in=Subquery(project_id))
        .first()
    )
    if project is None:
        raise NotFound("Status not found.")
    return project


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
