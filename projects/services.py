"""Writes to workspaces, projects, members and statuses.

Every service runs in one transaction, checks access in the fetch, keeps the
project's counters exact with in-database increments (``counters_apply``),
appends its events to the project's log, and schedules the cache refresh and
the publishing with ``transaction.on_commit``.
"""

from __future__ import annotations

import datetime
import re
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from notifications.services import Notice, notifications_forget, notify
from projects import cache as counts_cache
from projects.counters import CountersChange, counters_apply, log_project_events
from projects.models import (
    DEFAULT_STATUSES,
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
    derived_status,
)
from projects.schemas import MemberOut, OverrideOut, ProjectOut, StatusOut
from projects.selectors import (
    assignable_member,
    can_admin_project,
    can_edit_project_fields,
    can_edit_tasks,
    can_manage_workspace,
    can_override_status,
    project_get_for_member,
    require,
    status_get_for_member,
    workspace_get_for_member,
    workspace_role_subquery,
)
from realtime import events as event_log
from taskhub.db import retrying, unique_violation, write_transaction
from taskhub.errors import Conflict, NotFound, PreconditionFailed, ValidationError

User = get_user_model()

PROJECT_KEY = re.compile(r"[A-Z][A-Z0-9]{1,9}")

# Foreign keys are checked by the selectors; clean_fields would query each one.
_PROJECT_FKS = ["workspace", "lead", "created_by", "override_by"]

def _project_payload(project: Project, change: CountersChange | None = None) -> dict:
    if change is not None:
        project.live_counts = change.counts
    return {"project": ProjectOut.from_orm(project).model_dump(mode="json")}


def _member_payload(member) -> dict:
    return MemberOut.from_orm(member).model_dump(mode="json")


def _check_if_match(current_version: int, if_match: int | None, current: object) -> None:
    if if_match is not None and if_match != current_version:
        raise PreconditionFailed("The resource has changed since you read it.", current=current)


# --- workspaces --------------------------------------------------------------------


@write_transaction
def workspace_create(*, user, name: str, description: str = "") -> Workspace:
    workspace = Workspace(name=name, description=description, created_by=user)
    workspace.clean_fields(exclude=["created_by"])
    workspace.save(force_insert=True)
    WorkspaceMember.objects.create(workspace=workspace, user=user, role=WorkspaceRole.OWNER)
    workspace.role = WorkspaceRole.OWNER
    workspace.projects_count = 0
    return workspace


@write_transaction
def workspace_update(
    *, workspace_id: uuid.UUID, user, name: str | None = None, description: str | None = None
) -> Workspace:
    workspace = workspace_get_for_member(workspace_id=workspace_id, user=user, for_update=True)
    require(can_manage_workspace(workspace.role), "Only an owner can update the workspace.")
    if name is not None:
        workspace.name = name
    if description is not None:
        workspace.description = description
    workspace.updated_at = timezone.now()
    workspace.clean_fields(exclude=["created_by"])
    workspace.save(update_fields=["name", "description", "updated_at"])
    return workspace


@write_transaction
def workspace_delete(*, workspace_id: uuid.UUID, user) -> None:
    workspace = workspace_get_for_member(workspace_id=workspace_id, user=user, for_update=True)
    require(can_manage_workspace(workspace.role), "Only an owner can delete the workspace.")
    project_ids = list(Project.objects.filter(workspace=workspace).values_list("pk", flat=True))
    member_ids = list(WorkspaceMember.objects.filter(workspace=workspace).values_list("user_id", flat=True))
    notifications_forget(workspace_id=workspace.pk)
    workspace.delete()
    for project_id in project_ids:
        transaction.on_commit(lambda pid=project_id: counts_cache.counts_invalidate(pid))
    # The workspace's log went with it: tell subscribed sockets directly.
    transaction.on_commit(
        lambda: event_log.notify_revoked(
            user_ids=member_ids, workspace_id=workspace_id, project_ids=project_ids
        )
    )


def _workspace_member_event(
    *, workspace: Workspace, event_type: str, member: WorkspaceMember, actor, extra_groups=()
) -> None:
    event_log.record(
        workspace_id=workspace.pk,
        project_id=None,
        first_seq=None,
        items=[(event_type, _member_payload(member))],
        actor_id=actor.pk,
        audience=[event_log.workspace_group(workspace.pk), *extra_groups],
    )


@write_transaction
def workspace_member_add(*, workspace_id: uuid.UUID, actor, email: str, role: str) -> WorkspaceMember:
    workspace = workspace_get_for_member(workspace_id=workspace_id, user=actor, for_update=True)
    if workspace.role == WorkspaceRole.EDITOR:
        require(role in (WorkspaceRole.EDITOR, WorkspaceRole.VIEWER), "Editors can add only editors and viewers.")
    else:
        require(can_manage_workspace(workspace.role), "Viewers cannot add members.")
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise NotFound("No user has that email address.", code="user_not_found")
    if WorkspaceMember.objects.filter(workspace=workspace, user=user).exists():
        raise Conflict("That user is already a member of the workspace.")
    member = WorkspaceMember.objects.create(workspace=workspace, user=user, role=role)
    _workspace_member_event(workspace=workspace, event_type="member_added", member=member, actor=actor)
    return member


def _owners_left(workspace: Workspace, excluding_user_id) -> int:
    return (
        WorkspaceMember.objects.filter(workspace=workspace, role=WorkspaceRole.OWNER)
        .exclude(user_id=excluding_user_id)
        .count()
    )


# A workspace member's role change or removal reaches the tasks app (only owners and editors may be
# assignees), so the services that do it live in ``tasks.services`` (``workspace_member_update``,
# ``workspace_member_remove``) and call the steps below, inside their transaction, in this order:
# ``workspace_member_for_change``, then the tasks' row locks, then ``workspace_member_revoke_projects``,
# the unassignment, and ``workspace_member_set_role`` or ``workspace_member_delete``.


def workspace_member_for_change(
    *, workspace_id: uuid.UUID, actor, user_id: uuid.UUID, role: str | None
) -> tuple[Workspace, WorkspaceMember]:
    """Lock the workspace and load the member whose role becomes ``role`` (``None``: who is removed).

    Checks the actor's right (owners change roles and remove anyone; anyone may
    leave) and that the workspace keeps an owner. Caller holds the transaction.
    """
    workspace = workspace_get_for_member(workspace_id=workspace_id, user=actor, for_update=True)
    if role is not None:
        require(can_manage_workspace(workspace.role), "Only an owner can change roles.")
    elif actor.pk != user_id:
        require(can_manage_workspace(workspace.role), "Only an owner can remove other members.")
    member = WorkspaceMember.objects.select_related("user").filter(workspace=workspace, user_id=user_id).first()
    if member is None:
        raise NotFound("Member not found.")
    if member.role == WorkspaceRole.OWNER and role != WorkspaceRole.OWNER and _owners_left(workspace, user_id) == 0:
        raise Conflict("A workspace must keep at least one owner.")
    return workspace, member


def workspace_member_revoke_projects(*, workspace: Workspace, user_id: uuid.UUID, actor) -> None:
    """Take from ``user_id`` what only owners and editors may hold: project memberships and leads.

    Each project they leave logs ``member_removed``, each project they led
    ``project_updated``, so boards drop them live. ``Conflict`` when they are
    a project's last admin. Precondition: the caller holds the transaction and
    has already locked the other rows it changes (the user's tasks), since
    this takes counters rows, which come last in every write's lock order.
    """
    memberships = list(
        ProjectMember.objects.select_related("user", "project").filter(project__workspace=workspace, user_id=user_id)
        .order_by("project_id")
    )
    admin_of = [m.project_id for m in memberships if m.role == ProjectRole.ADMIN]
    if admin_of:
        with_other_admin = set(
            ProjectMember.objects.filter(project_id__in=admin_of, role=ProjectRole.ADMIN)
            .exclude(user_id=user_id)
            .values_list("project_id", flat=True)
        )
        if set(admin_of) - with_other_admin:
            raise Conflict("That user is the last admin of a project; make someone else admin first.")
    led = list(
        Project.objects.select_related(*_PROJECT_FKS)
        .filter(workspace=workspace, lead_id=user_id)
        .order_by("pk")
        .select_for_update(of=("self",), no_key=True)
    )
    ProjectMember.objects.filter(pk__in=[m.pk for m in memberships]).delete()
    for member in memberships:
        _project_member_event(project=member.project, event_type="member_removed", member=member, actor=actor)
    now = timezone.now()
    for project in led:
        project.lead = None
        project.version += 1
        project.updated_at = now
        project.save(update_fields=["lead", "version", "updated_at"])
        change = counters_apply(project_id=project.pk, events=1)
        log_project_events(
            project=project, change=change, items=[("project_updated", _project_payload(project, change))],
            actor=actor,
        )


def _invitations_withdraw(*, workspace: Workspace, inviter_id: uuid.UUID, role: str | None) -> None:
    """Cancel the inviter's pending invitations that ``role`` (``None``: no longer a member) could not send.

    An invitation grants what its inviter could grant when it is accepted, not
    only when it was sent: a member removed or demoted cannot keep a way in
    for someone else (or for a second account of their own).
    """
    if role == WorkspaceRole.OWNER:
        return
    pending = Invitation.objects.filter(workspace=workspace, invited_by_id=inviter_id, status=InvitationStatus.PENDING)
    if role == WorkspaceRole.EDITOR:
        pending = pending.filter(role=WorkspaceRole.OWNER)
    pending.update(status=InvitationStatus.CANCELLED, responded_at=timezone.now())


def workspace_member_set_role(*, workspace: Workspace, member: WorkspaceMember, role: str, actor) -> WorkspaceMember:
    """Save the member's new role and log ``member_role_changed`` (see ``workspace_member_for_change``).

    Their pending invitations that the new role could not send are cancelled.
    """
    member.role = role
    member.save(update_fields=["role"])
    _invitations_withdraw(workspace=workspace, inviter_id=member.user_id, role=role)
    _workspace_member_event(
        workspace=workspace,
        event_type="member_role_changed",
        member=member,
        actor=actor,
        extra_groups=[event_log.user_group(member.user_id)],
    )
    return member


def workspace_member_delete(*, workspace: Workspace, member: WorkspaceMember, actor) -> None:
    """Delete the membership, log ``member_removed``, tell the user's sockets (see ``workspace_member_for_change``).

    Their pending invitations to the workspace are cancelled.
    """
    project_ids = list(Project.objects.filter(workspace=workspace).values_list("pk", flat=True))
    user_id = member.user_id
    member.delete()
    _invitations_withdraw(workspace=workspace, inviter_id=user_id, role=None)
    _workspace_member_event(
        workspace=workspace,
        event_type="member_removed",
        member=member,
        actor=actor,
        extra_groups=[event_log.user_group(user_id)],
    )
    transaction.on_commit(
        lambda: event_log.notify_revoked(user_ids=[user_id], workspace_id=workspace.pk, project_ids=project_ids)
    )


# --- projects --------------------------------------------------------------------------


@retrying
def project_create(
    *,
    workspace_id: uuid.UUID,
    user,
    name: str,
    key: str,
    description: str = "",
    due_date: datetime.date | None = None,
) -> Project:
    """Create a project with its five statuses, counters row and the creator as admin.

    Six queries: the workspace with the caller's role, then INSERTs of the
    project, the counters row, the statuses (one statement), the membership
    and the ``project_created`` event.
    """
    try:
        with transaction.atomic():
            workspace = workspace_get_for_member(workspace_id=workspace_id, user=user)
            require(can_edit_project_fields(workspace.role), "Viewers cannot create projects.")
            if not PROJECT_KEY.fullmatch(key):
                raise ValidationError("key must be 2-10 capital letters or digits, starting with a letter.")
            now = timezone.now()
            project = Project(
                workspace=workspace, key=key, name=name, description=description, due_date=due_date,
                created_by=user, created_at=now, updated_at=now,
            )
            project.clean_fields(exclude=_PROJECT_FKS)
            project.save(force_insert=True)
            # The project_created event is seq 1 of the project's log.
            counters = ProjectCounters.objects.create(project=project, last_seq=1, updated_at=now)
            project.counters = counters
            Status.objects.bulk_create(
                Status(project=project, name=status_name, group=group, position=position)
                for position, (status_name, group) in enumerate(DEFAULT_STATUSES)
            )
            ProjectMember.objects.create(project=project, user=user, role=ProjectRole.ADMIN, joined_at=now)
            project.ws_role = workspace.role
            project.project_role = ProjectRole.ADMIN
            project.lead = None
            project.override_by = None
            event_log.record(
                workspace_id=workspace.pk,
                project_id=project.pk,
                first_seq=1,
                items=[("project_created", _project_payload(project))],
                actor_id=user.pk,
            )
            transaction.on_commit(lambda: counts_cache.counts_set_if_newer(project.pk, 1, counters.counts()))
    except IntegrityError as exc:
        if unique_violation(exc, "key"):
            raise Conflict(f"A project with key {key} already exists in this workspace.") from exc
        raise
    return project


def _lock_project(*, project_id: uuid.UUID, user) -> Project:
    return project_get_for_member(project_id=project_id, user=user, for_update=True)


@write_transaction
def project_update(
    *, project_id: uuid.UUID, user, fields: dict, if_match: int | None = None
) -> Project:
    """Update name, description, due_date and lead_id (only the keys present in ``fields``)."""
    project = _lock_project(project_id=project_id, user=user)
    require(can_edit_project_fields(project.ws_role), "Viewers cannot edit projects.")
    _check_if_match(project.version, if_match, project)
    if project.archived_at is not None:
        raise Conflict("The project is archived; restore it first.", code="archived")
    for name in ("name", "description", "due_date"):
        if name in fields:
            value = fields[name]
            # PATCH passes explicit nulls through; clean_fields would raise Django's
            # ValidationError (a 500 at the API), so answer with the domain error.
            if value is None and name == "name":
                raise ValidationError("name cannot be null.")
            setattr(project, name, "" if value is None and name == "description" else value)
    if "lead_id" in fields:
        lead_id = fields["lead_id"]
        project.lead = None if lead_id is None else assignable_member(
            workspace_id=project.workspace_id, user_id=lead_id
        ).user
    project.version += 1
    project.updated_at = timezone.now()
    project.clean_fields(exclude=_PROJECT_FKS)
    project.save(update_fields=["name", "description", "due_date", "lead", "version", "updated_at"])
    change = counters_apply(project_id=project.pk, events=1)
    log_project_events(
        project=project, change=change, items=[("project_updated", _project_payload(project, change))], actor=user
    )
    return project


def _set_archived(*, project_id: uuid.UUID, user, archived: bool) -> Project:
    project = _lock_project(project_id=project_id, user=user)
    require(can_admin_project(project.ws_role, project.project_role), "Only project admins can do that.")
    if (project.archived_at is not None) == archived:
        raise Conflict("The project is already archived." if archived else "The project is not archived.")
    project.archived_at = timezone.now() if archived else None
    project.version += 1
    project.updated_at = timezone.now()
    project.save(update_fields=["archived_at", "version", "updated_at"])
    change = counters_apply(project_id=project.pk, events=1)
    event_type = "project_archived" if archived else "project_restored"
    log_project_events(
        project=project, change=change, items=[(event_type, _project_payload(project, change))], actor=user
    )
    return project


@write_transaction
def project_archive(*, project_id: uuid.UUID, user) -> Project:
    return _set_archived(project_id=project_id, user=user, archived=True)


@write_transaction
def project_restore(*, project_id: uuid.UUID, user) -> Project:
    return _set_archived(project_id=project_id, user=user, archived=False)


@write_transaction
def project_delete(*, project_id: uuid.UUID, user) -> None:
    project = _lock_project(project_id=project_id, user=user)
    require(can_admin_project(project.ws_role, project.project_role), "Only project admins can delete it.")
    payload = _project_payload(project)
    # The project's log is deleted with it, so this event lives at workspace level.
    event_log.record(
        workspace_id=project.workspace_id,
        project_id=None,
        first_seq=None,
        items=[("project_deleted", payload)],
        actor_id=user.pk,
        audience=[event_log.project_group(project.pk), event_log.workspace_group(project.workspace_id)],
    )
    notifications_forget(project_id=project.pk)
    project.delete()
    transaction.on_commit(lambda: counts_cache.counts_invalidate(project_id))


def _set_override(*, project_id: uuid.UUID, user, status: str | None, reason: str = "", expires_at=None) -> Project:
    project = _lock_project(project_id=project_id, user=user)
    require(can_override_status(project.ws_role), "Only an owner can override the project status.")
    if expires_at is not None and timezone.is_naive(expires_at):
        raise ValidationError("expires_at must include a time zone.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError("expires_at must be in the future.")
    # Lock the counters row first so the counts cannot move while we compare.
    counters = ProjectCounters.objects.select_for_update().get(project_id=project.pk)
    counts = counters.counts()
    derived = derived_status(counts)
    old_override = project.active_override()
    old_effective = old_override or derived
    project.override_status = status or ""
    project.override_reason = reason if status else ""
    project.override_by = user if status else None
    project.override_expires_at = expires_at if status else None
    project.version += 1
    project.updated_at = timezone.now()
    project.save(update_fields=[
        "override_status", "override_reason", "override_by", "override_expires_at", "version", "updated_at",
    ])
    new_override = project.active_override()
    new_effective = new_override or derived
    items = [("project_updated", None)]
    if old_effective != new_effective:
        override = None
        if new_override:
            # The REST shape of the project's ``override`` (``by`` is a user), so the two cannot drift.
            override = OverrideOut.model_validate(ProjectOut.resolve_override(project)).model_dump(mode="json")
        items.append(
            ("project_status_changed", {"old": old_effective, "new": new_effective, "derived": derived,
                                        "override": override})
        )
    change = counters_apply(project_id=project.pk, events=len(items), track_status=False)
    items[0] = ("project_updated", _project_payload(project, change))
    log_project_events(project=project, change=change, items=items, actor=user)
    return project


@write_transaction
def project_override_set(
    *, project_id: uuid.UUID, user, status: str, reason: str = "", expires_at=None
) -> Project:
    return _set_override(project_id=project_id, user=user, status=status, reason=reason, expires_at=expires_at)


@write_transaction
def project_override_clear(*, project_id: uuid.UUID, user) -> Project:
    return _set_override(project_id=project_id, user=user, status=None)


# --- project members ---------------------------------------------------------------------


def _project_member_event(*, project: Project, event_type: str, member: ProjectMember, actor) -> None:
    change = counters_apply(project_id=project.pk, events=1)
    log_project_events(project=project, change=change, items=[(event_type, _member_payload(member))], actor=actor)


@write_transaction
def project_member_add(*, project_id: uuid.UUID, actor, user_id: uuid.UUID, role: str) -> ProjectMember:
    project = _lock_project(project_id=project_id, user=actor)
    require(can_admin_project(project.ws_role, project.project_role), "Only project admins can add members.")
    ws_member = assignable_member(workspace_id=project.workspace_id, user_id=user_id)
    if ProjectMember.objects.filter(project=project, user_id=user_id).exists():
        raise Conflict("That user is already a member of the project.")
    member = ProjectMember.objects.create(project=project, user=ws_member.user, role=role)
    _project_member_event(project=project, event_type="member_added", member=member, actor=actor)
    notify(notices=[Notice(user_id=member.user_id, type="project_member_added", workspace_id=project.workspace_id,
                           project_id=project.pk, text=f"{_name(actor)} added you to {project.name}")], actor=actor)
    return member


def _project_admins_left(project: Project, excluding_user_id) -> int:
    return (
        ProjectMember.objects.filter(project=project, role=ProjectRole.ADMIN).exclude(user_id=excluding_user_id).count()
    )


@write_transaction
def project_member_update(*, project_id: uuid.UUID, actor, user_id: uuid.UUID, role: str) -> ProjectMember:
    project = _lock_project(project_id=project_id, user=actor)
    require(can_admin_project(project.ws_role, project.project_role), "Only project admins can change roles.")
    member = ProjectMember.objects.select_related("user").filter(project=project, user_id=user_id).first()
    if member is None:
        raise NotFound("Member not found.")
    if member.role == role:
        return member
    if member.role == ProjectRole.ADMIN and _project_admins_left(project, user_id) == 0:
        raise Conflict("A project must keep at least one admin.")
    member.role = role
    member.save(update_fields=["role"])
    _project_member_event(project=project, event_type="member_role_changed", member=member, actor=actor)
    return member


@write_transaction
def project_member_remove(*, project_id: uuid.UUID, actor, user_id: uuid.UUID) -> None:
    project = _lock_project(project_id=project_id, user=actor)
    if actor.pk != user_id:
        require(can_admin_project(project.ws_role, project.project_role), "Only project admins can remove members.")
    member = ProjectMember.objects.select_related("user").filter(project=project, user_id=user_id).first()
    if member is None:
        raise NotFound("Member not found.")
    if member.role == ProjectRole.ADMIN and _project_admins_left(project, user_id) == 0:
        raise Conflict("A project must keep at least one admin.")
    member.delete()
    _project_member_event(project=project, event_type="member_removed", member=member, actor=actor)


# --- statuses (board columns) --------------------------------------------------------------


def _status_payload(status: Status) -> dict:
    return {"status": StatusOut.from_orm(status).model_dump(mode="json")}


def _name_taken(exc: IntegrityError) -> bool:
    return unique_violation(exc, "name")


@retrying
def status_create(*, project_id: uuid.UUID, user, name: str, group: str, position: int | None = None) -> Status:
    try:
        with transaction.atomic():
            project = _lock_project(project_id=project_id, user=user)
            require(can_edit_tasks(project.ws_role, project.project_role), "Only project members can manage statuses.")
            last = Status.objects.filter(project=project).aggregate(m=Max("position"))["m"]
            end = 0 if last is None else last + 1
            if position is None or position >= end:
                position = end
            else:
                Status.objects.filter(project=project, position__gte=position).update(position=F("position") + 1)
            status = Status.objects.create(project=project, name=name, group=group, position=position)
            change = counters_apply(project_id=project.pk, events=1)
            log_project_events(project=project, change=change, items=[("status_created", _status_payload(status))],
                               actor=user)
    except IntegrityError as exc:
        if _name_taken(exc):
            raise Conflict(f"The project already has a status named {name!r}.") from exc
        raise
    return status


@retrying
def status_update(
    *, status_id: uuid.UUID, user, name: str | None = None, position: int | None = None
) -> Status:
    """Rename a column and/or move it to ``position`` (the others are renumbered 0..n-1)."""
    try:
        with transaction.atomic():
            status = status_get_for_member(status_id=status_id, user=user, for_update=True)
            project = status.project
            require(can_edit_tasks(project.ws_role, project.project_role), "Only project members can manage statuses.")
            if name is not None and name != status.name:
                status.name = name
                status.save(update_fields=["name"])
            if position is not None:
                columns = [s for s in Status.objects.filter(project=project).order_by("position", "id")]
                columns = [s for s in columns if s.pk != status.pk]
                columns.insert(min(position, len(columns)), status)
                for index, column in enumerate(columns):
                    column.position = index
                Status.objects.bulk_update(columns, ["position"])
            status.project = project
            change = counters_apply(project_id=project.pk, events=1)
            log_project_events(project=project, change=change, items=[("status_updated", _status_payload(status))],
                               actor=user)
    except IntegrityError as exc:
        if _name_taken(exc):
            raise Conflict(f"The project already has a status named {name!r}.") from exc
        raise
    return status


@write_transaction
def status_delete(*, status_id: uuid.UUID, user, move_to: uuid.UUID | None = None) -> None:
    """Delete a column; its tasks (archived ones too) move to ``move_to`` in the same transaction.

    The moved tasks keep their ranks, so they interleave with the target
    column's tasks in a valid order; no other row is renumbered.
    """
    status = status_get_for_member(status_id=status_id, user=user, for_update=True)
    project = status.project
    require(can_edit_tasks(project.ws_role, project.project_role), "Only project members can manage statuses.")
    tasks = status.tasks.all()
    live = tasks.filter(archived_at__isnull=True).count()
    has_tasks = live > 0 or tasks.exists()
    target = None
    if move_to is not None:
        target = Status.objects.filter(pk=move_to, project_id=project.pk).exclude(pk=status.pk).first()
        if target is None:
            raise ValidationError("move_to must be another status of the same project.")
    if has_tasks and target is None:
        raise Conflict("The status still has tasks; pass move_to to move them.", code="status_not_empty")
    if Status.objects.filter(project_id=project.pk).count() == 1:
        raise Conflict("A project must keep at least one status.")
    delta: dict[str, int] = {}
    if has_tasks:
        now = timezone.now()
        update = {"status": target, "version": F("version") + 1, "updated_at": now}
        if target.group == "done" and status.group != "done":
            update["completed_at"] = now
        elif status.group == "done" and target.group != "done":
            update["completed_at"] = None
        tasks.update(**update)
        if target.group != status.group and live:
            delta = {status.group: -live, target.group: live}
    payload = _status_payload(status)
    payload["move_to"] = str(target.pk) if target else None
    status.delete()
    change = counters_apply(project_id=project.pk, events=1, delta=delta,
                            track_status=project.active_override() is None)
    log_project_events(project=project, change=change, items=[("status_deleted", payload)], actor=user)


# --- invitations -------------------------------------------------------------------------------------------------


def _name(user) -> str:
    return user.display_name or user.email


def _invitation_notice(invitation: Invitation, *, to, kind: str, text: str) -> Notice:
    return Notice(user_id=to, type=kind, text=text, workspace_id=invitation.workspace_id,
                  invitation_id=invitation.pk)


def _invitable_role(workspace: Workspace, role: str) -> None:
    if workspace.role == WorkspaceRole.EDITOR:
        require(role in (WorkspaceRole.EDITOR, WorkspaceRole.VIEWER), "Editors can invite only editors and viewers.")
    else:
        require(can_manage_workspace(workspace.role), "Viewers cannot invite.")


@write_transaction
def invitation_create(*, workspace_id: uuid.UUID, actor, email: str, role: str) -> Invitation:
    """Invite ``email`` to the workspace as ``role`` (owners: any role; editors: editors and viewers).

    ``409`` when the address is a member already or has a pending invitation
    here. The address need not have an account yet: the invitation waits for
    whoever registers with it (``invitations_deliver``). Someone who has one
    is notified now.
    """
    workspace = workspace_get_for_member(workspace_id=workspace_id, user=actor, for_update=True)
    _invitable_role(workspace, role)
    address = User.objects.normalize_email(email.strip()).lower()
    try:
        validate_email(address)
    except DjangoValidationError as exc:
        raise ValidationError("Enter a valid email address.", extra={"loc": ["body", "payload", "email"]}) from exc
    invitee = User.objects.filter(email__iexact=address).first()
    if invitee is not None and WorkspaceMember.objects.filter(workspace=workspace, user=invitee).exists():
        raise Conflict("That address belongs to a member of the workspace already.", code="already_member")
    now = timezone.now()
    # A pending invitation that has run out no longer blocks a new one.
    Invitation.objects.filter(workspace=workspace, email=address, status=InvitationStatus.PENDING,
                              expires_at__lte=now).update(status=InvitationStatus.EXPIRED)
    invitation = Invitation(workspace=workspace, email=address, role=role, invited_by=actor, created_at=now,
                            expires_at=now + datetime.timedelta(days=settings.TASKHUB_INVITATION_DAYS))
    try:
        with transaction.atomic():
            invitation.save(force_insert=True)
    except IntegrityError as exc:
        if unique_violation(exc, "email"):
            raise Conflict("That address has a pending invitation to this workspace already.",
                           code="already_invited") from exc
        raise
    if invitee is not None:
        notify(notices=[_invitation_notice(invitation, to=invitee.pk, kind="invitation_received",
                                           text=f"{_name(actor)} invited you to {workspace.name}")], actor=actor)
    return invitation


def invitations_deliver(*, user) -> None:
    """Tell a new account of the invitations that were waiting for its address (one notification each).

    Called by registration, in its transaction (``accounts.services.user_register``).
    """
    waiting = list(Invitation.objects.filter(email=user.email.lower(), status=InvitationStatus.PENDING,
                                             expires_at__gt=timezone.now())
                   .select_related("workspace", "invited_by").order_by("created_at", "id"))
    for invitation in waiting:
        inviter = invitation.invited_by
        who = _name(inviter) if inviter is not None else "Someone"
        notify(notices=[_invitation_notice(invitation, to=user.pk, kind="invitation_received",
                                           text=f"{who} invited you to {invitation.workspace.name}")],
               actor=inviter)


def _invitation_for_invitee(invitation_id: uuid.UUID, user) -> Invitation:
    """The invitation addressed to the caller's email, locked; ``NotFound`` for anyone else."""
    invitation = (Invitation.objects.select_related("workspace", "invited_by")
                  .select_for_update(of=("self",), no_key=True)
                  .filter(pk=invitation_id, email=user.email.lower()).first())
    if invitation is None:
        raise NotFound("Invitation not found.")
    return invitation


def _answered(invitation: Invitation, status: str) -> None:
    invitation.status = status
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["status", "responded_at"])


def _tell_inviter(invitation: Invitation, *, user, kind: str, verb: str) -> None:
    """Notify the inviter of the answer, if they are still in the workspace."""
    inviter_id = invitation.invited_by_id
    if inviter_id is None or not WorkspaceMember.objects.filter(workspace_id=invitation.workspace_id,
                                                                 user_id=inviter_id).exists():
        return
    notify(notices=[_invitation_notice(invitation, to=inviter_id, kind=kind,
                                       text=f"{_name(user)} {verb} your invitation to {invitation.workspace.name}")],
           actor=user)


@write_transaction
def invitation_accept(*, invitation_id: uuid.UUID, user) -> Workspace:
    """The invitee joins with the invited role; answers the workspace (with the caller's role).

    Idempotent: the invitation row is locked, so of two concurrent accepts
    (a double click) one makes the membership and the other finds it made
    and answers the same. ``409`` when it was declined, cancelled or expired.
    """
    invitation = _invitation_for_invitee(invitation_id, user)
    already = WorkspaceMember.objects.filter(workspace_id=invitation.workspace_id, user=user).exists()
    if invitation.status == InvitationStatus.ACCEPTED and already:
        return workspace_get_for_member(workspace_id=invitation.workspace_id, user=user)
    if invitation.effective_status() != InvitationStatus.PENDING:
        raise Conflict(f"The invitation is {invitation.effective_status()}.", code="not_pending")
    _answered(invitation, InvitationStatus.ACCEPTED)
    if not already:
        try:
            with transaction.atomic():
                member = WorkspaceMember.objects.create(workspace_id=invitation.workspace_id, user=user,
                                                        role=invitation.role)
        except IntegrityError as exc:
            if not unique_violation(exc, "user"):
                raise
            # An owner added them directly meanwhile: they are a member, as the accept asked.
            return workspace_get_for_member(workspace_id=invitation.workspace_id, user=user)
        member.user = user
        _workspace_member_event(workspace=invitation.workspace, event_type="member_added", member=member, actor=user)
        _tell_inviter(invitation, user=user, kind="invitation_accepted", verb="accepted")
    return workspace_get_for_member(workspace_id=invitation.workspace_id, user=user)


@write_transaction
def invitation_decline(*, invitation_id: uuid.UUID, user) -> Invitation:
    invitation = _invitation_for_invitee(invitation_id, user)
    if invitation.effective_status() != InvitationStatus.PENDING:
        raise Conflict(f"The invitation is {invitation.effective_status()}.", code="not_pending")
    _answered(invitation, InvitationStatus.DECLINED)
    _tell_inviter(invitation, user=user, kind="invitation_declined", verb="declined")
    return invitation


@write_transaction
def invitation_cancel(*, invitation_id: uuid.UUID, user) -> None:
    """The inviter (while still a member), or an owner of the workspace, withdraws a pending invitation.

    Anyone else gets ``404``, a former member included: nothing tells them the invitation exists.
    """
    invitation = (Invitation.objects.select_for_update(of=("self",), no_key=True)
                  .annotate(role_of_caller=workspace_role_subquery(user))
                  .filter(pk=invitation_id).first())
    inviter_here = invitation is not None and invitation.invited_by_id == user.pk and invitation.role_of_caller
    if invitation is None or not (inviter_here or invitation.role_of_caller == WorkspaceRole.OWNER):
        raise NotFound("Invitation not found.")
    if invitation.effective_status() != InvitationStatus.PENDING:
        raise Conflict(f"The invitation is {invitation.effective_status()}.", code="not_pending")
    _answered(invitation, InvitationStatus.CANCELLED)
