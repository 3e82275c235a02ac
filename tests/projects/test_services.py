"""Services of projects/services.py: workspaces, members, projects, overrides, statuses.

Every failure case asserts the domain error *and* that nothing was written
(``unchanged``: every domain row is the same afterwards). Every write asserts
the events it appended (``new_events`` also checks that their sequence
numbers continue the project's log without a gap).
"""

import datetime

import pytest
from django.utils import timezone

from projects import services
from projects.management.commands.recount import recount_project
from projects.models import (
    COUNT_FIELDS,
    Project,
    ProjectCounters,
    ProjectMember,
    Status,
    Workspace,
    WorkspaceMember,
)
from projects.schemas import ProjectOut
from projects.selectors import project_get_for_member
from realtime.models import Event
from taskhub.errors import Conflict, NotFound, PermissionDenied, PreconditionFailed, ValidationError
from tasks import services as task_services
from tasks.models import Comment, Task
from tests import factories

pytestmark = pytest.mark.django_db

# The resource shapes of API.md; event payloads reuse them.
PROJECT_KEYS = {"id", "workspace_id", "key", "name", "description", "due_date", "lead", "created_by", "counts",
                "derived_status", "status", "override", "archived_at", "version", "created_at", "updated_at"}
MEMBER_KEYS = {"user", "role", "joined_at"}
USER_KEYS = {"id", "email", "display_name"}
STATUS_KEYS = {"id", "project_id", "name", "group", "position"}
DEFAULT_BOARD = [("Todo", "todo", 0), ("In Progress", "active", 1), ("In Review", "review", 2),
                 ("Issue", "issue", 3), ("Done", "done", 4)]


def role_in(workspace, user) -> str | None:
    return WorkspaceMember.objects.filter(workspace=workspace, user=user).values_list("role", flat=True).first()


def project_role(project, user) -> str | None:
    return ProjectMember.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def db_version(project) -> int:
    return Project.objects.values_list("version", flat=True).get(pk=project.pk)


def counts_of(project) -> dict[str, int]:
    return ProjectCounters.objects.get(project=project).counts()


# --- workspaces --------------------------------------------------------------------------


def test_workspace_create_makes_the_caller_its_owner(owner):
    workspace = services.workspace_create(user=owner, name="Studio", description="Design work")

    stored = Workspace.objects.get(pk=workspace.pk)
    assert (stored.name, stored.description, stored.created_by_id) == ("Studio", "Design work", owner.pk)
    assert role_in(stored, owner) == "owner"
    assert WorkspaceMember.objects.filter(workspace=stored).count() == 1
    assert (workspace.role, workspace.projects_count) == ("owner", 0)
    assert not Event.objects.filter(workspace=stored).exists()


def test_workspace_update_changes_only_the_given_fields(workspace, owner):
    before = Workspace.objects.get(pk=workspace.pk)

    services.workspace_update(workspace_id=workspace.pk, user=owner, name="Renamed")
    services.workspace_update(workspace_id=workspace.pk, user=owner, description="Now with text")

    after = Workspace.objects.get(pk=workspace.pk)
    assert (after.name, after.description) == ("Renamed", "Now with text")
    assert after.updated_at > before.updated_at


@pytest.mark.parametrize(("who", "error"), [
    ("editor", PermissionDenied),
    ("viewer", PermissionDenied),
    ("outsider", NotFound),
])
def test_workspace_update_is_owner_only(request, workspace, who, error, unchanged):
    user = request.getfixturevalue(who)
    with unchanged(), pytest.raises(error):
        services.workspace_update(workspace_id=workspace.pk, user=user, name="Hijacked")


def test_workspace_delete_cascades_to_everything_inside(workspace, project, other_project, owner, editor):
    task = factories.task(project, owner)
    task_services.comment_create(task_id=task.pk, user=editor, body="Looks good")
    other_rows = (Project.objects.filter(pk=other_project.pk).count(),
                  Event.objects.filter(project=other_project).count())

    services.workspace_delete(workspace_id=workspace.pk, user=owner)

    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    assert not WorkspaceMember.objects.filter(workspace_id=workspace.pk).exists()
    assert not Project.objects.filter(workspace_id=workspace.pk).exists()
    assert not Status.objects.filter(project_id=project.pk).exists()
    assert not ProjectCounters.objects.filter(project_id=project.pk).exists()
    assert not Task.objects.filter(project_id=project.pk).exists()
    assert not Comment.objects.filter(task_id=task.pk).exists()
    assert not Event.objects.filter(workspace_id=workspace.pk).exists()
    # Another workspace is untouched.
    assert (Project.objects.filter(pk=other_project.pk).count(),
            Event.objects.filter(project=other_project).count()) == other_rows


@pytest.mark.parametrize(("who", "error"), [
    ("editor", PermissionDenied),
    ("viewer", PermissionDenied),
    ("outsider", NotFound),
])
def test_workspace_delete_is_owner_only(request, workspace, project, who, error, unchanged):
    user = request.getfixturevalue(who)
    with unchanged(), pytest.raises(error):
        services.workspace_delete(workspace_id=workspace.pk, user=user)


# --- workspace members -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "editor", "viewer"])
def test_owner_adds_a_member_with_any_role(workspace, owner, role, new_events):
    newcomer = factories.user("new@example.com", "Nina New")

    with new_events(workspace=workspace) as got:
        # The lookup ignores case and surrounding blanks.
        member = services.workspace_member_add(workspace_id=workspace.pk, actor=owner, email=" NEW@Example.com ",
                                               role=role)

    assert member.user_id == newcomer.pk
    assert role_in(workspace, newcomer) == role
    assert got.types == ["member_added"]
    event = got[0]
    assert (event.project_id, event.seq, event.actor_id) == (None, None, owner.pk)
    assert set(event.data) == MEMBER_KEYS
    assert set(event.data["user"]) == USER_KEYS
    assert (event.data["user"]["id"], event.data["role"]) == (str(newcomer.pk), role)


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_editor_adds_editors_and_viewers(workspace, editor, role):
    newcomer = factories.user("new@example.com")
    services.workspace_member_add(workspace_id=workspace.pk, actor=editor, email=newcomer.email, role=role)
    assert role_in(workspace, newcomer) == role


def test_editor_cannot_add_an_owner(workspace, editor, unchanged):
    newcomer = factories.user("new@example.com")
    with unchanged(), pytest.raises(PermissionDenied):
        services.workspace_member_add(workspace_id=workspace.pk, actor=editor, email=newcomer.email, role="owner")


@pytest.mark.parametrize("role", ["owner", "editor", "viewer"])
def test_viewer_cannot_add_members(workspace, viewer, role, unchanged):
    newcomer = factories.user("new@example.com")
    with unchanged(), pytest.raises(PermissionDenied):
        services.workspace_member_add(workspace_id=workspace.pk, actor=viewer, email=newcomer.email, role=role)


def test_outsider_cannot_add_members(workspace, outsider, unchanged):
    newcomer = factories.user("new@example.com")
    with unchanged(), pytest.raises(NotFound):
        services.workspace_member_add(workspace_id=workspace.pk, actor=outsider, email=newcomer.email,
                                      role="viewer")


def test_adding_an_existing_member_conflicts(workspace, owner, viewer, unchanged):
    with unchanged(), pytest.raises(Conflict):
        services.workspace_member_add(workspace_id=workspace.pk, actor=owner, email=viewer.email, role="editor")


def test_adding_an_unknown_email_is_not_found(workspace, owner, unchanged):
    with unchanged(), pytest.raises(NotFound) as exc_info:
        services.workspace_member_add(workspace_id=workspace.pk, actor=owner, email="nobody@example.com",
                                      role="viewer")
    assert exc_info.value.code == "user_not_found"


def test_owner_changes_a_role(workspace, owner, viewer, new_events):
    with new_events(workspace=workspace) as got:
        member = task_services.workspace_member_update(workspace_id=workspace.pk, actor=owner, user_id=viewer.pk,
                                                  role="editor")

    assert member.role == "editor"
    assert role_in(workspace, viewer) == "editor"
    assert got.types == ["member_role_changed"]
    assert (got[0].data["user"]["id"], got[0].data["role"]) == (str(viewer.pk), "editor")


def test_changing_to_the_same_role_writes_nothing(workspace, owner, viewer, unchanged):
    with unchanged():
        member = task_services.workspace_member_update(workspace_id=workspace.pk, actor=owner, user_id=viewer.pk,
                                                  role="viewer")
    assert member.role == "viewer"


def test_downgrading_to_viewer_drops_project_memberships(workspace, project, owner, editor, new_events):
    second = factories.project(workspace, owner, key="SEC", members=[editor])
    assert project_role(project, editor) == project_role(second, editor) == "member"

    with new_events(workspace=workspace) as got:
        task_services.workspace_member_update(workspace_id=workspace.pk, actor=owner, user_id=editor.pk, role="viewer")

    assert role_in(workspace, editor) == "viewer"
    assert not ProjectMember.objects.filter(user=editor).exists()
    # The owner's own memberships stay.
    assert project_role(project, owner) == project_role(second, owner) == "admin"
    # Each board hears that the editor left it (in its own stream, with a seq), then the workspace.
    assert got.types == ["member_removed", "member_removed", "member_role_changed"]
    assert sorted(str(e.project_id) for e in got[:2]) == sorted([str(project.pk), str(second.pk)])
    assert all(e.seq is not None and e.data["user"]["id"] == str(editor.pk) for e in got[:2])
    assert got[2].project_id is None and got[2].data["role"] == "viewer"


def test_downgrading_the_last_admin_of_a_project_conflicts(workspace, owner, editor, unchanged):
    # The editor created this project, so it is its only admin.
    factories.project(workspace, editor, key="ED")
    with unchanged(), pytest.raises(Conflict):
        task_services.workspace_member_update(workspace_id=workspace.pk, actor=owner, user_id=editor.pk, role="viewer")


def test_the_last_owner_cannot_be_demoted(workspace, owner, unchanged):
    with unchanged(), pytest.raises(Conflict):
        task_services.workspace_member_update(workspace_id=workspace.pk, actor=owner, user_id=owner.pk, role="editor")


def test_an_owner_can_be_demoted_while_another_owner_remains(workspace, owner, editor):
    task_services.workspace_member_update(workspace_id=workspace.pk, actor=owner, user_id=editor.pk, role="owner")
    task_services.workspace_member_update(workspace_id=workspace.pk, actor=editor, user_id=owner.pk, role="editor")
    assert (role_in(workspace, owner), role_in(workspace, editor)) == ("editor", "owner")


@pytest.mark.parametrize(("who", "error"), [
    ("editor", PermissionDenied),
    ("viewer", PermissionDenied),
    ("outsider", NotFound),
])
def test_only_owners_change_roles(request, workspace, editor_outside, who, error, unchanged):
    user = request.getfixturevalue(who)
    with unchanged(), pytest.raises(error):
        task_services.workspace_member_update(workspace_id=workspace.pk, actor=user, user_id=editor_outside.pk,
                                         role="owner")


def test_changing_the_role_of_a_non_member_is_not_found(workspace, owner, outsider, unchanged):
    with unchanged(), pytest.raises(NotFound):
        task_services.workspace_member_update(workspace_id=workspace.pk, actor=owner, user_id=outsider.pk,
                                              role="editor")


def test_owner_removes_a_member_and_their_project_memberships(workspace, project, owner, editor, new_events):
    with new_events(workspace=workspace) as got:
        task_services.workspace_member_remove(workspace_id=workspace.pk, actor=owner, user_id=editor.pk)

    assert role_in(workspace, editor) is None
    assert not ProjectMember.objects.filter(user=editor).exists()
    assert got.types == ["member_removed", "member_removed"]
    # First the project's own stream (the editor was a member of it), then the workspace's.
    assert (got[0].project_id, got[0].data["user"]["id"], got[0].data["role"]) == (project.pk, str(editor.pk),
                                                                                   "member")
    assert (got[1].seq, got[1].data["user"]["id"], got[1].data["role"]) == (None, str(editor.pk), "editor")


@pytest.mark.parametrize("who", ["editor", "viewer", "editor_outside"])
def test_anyone_may_leave(request, workspace, project, who):
    user = request.getfixturevalue(who)
    task_services.workspace_member_remove(workspace_id=workspace.pk, actor=user, user_id=user.pk)
    assert role_in(workspace, user) is None
    assert not ProjectMember.objects.filter(user=user).exists()


@pytest.mark.parametrize(("who", "error"), [
    ("editor", PermissionDenied),
    ("viewer", PermissionDenied),
    ("outsider", NotFound),
])
def test_only_owners_remove_others(request, workspace, editor_outside, who, error, unchanged):
    user = request.getfixturevalue(who)
    with unchanged(), pytest.raises(error):
        task_services.workspace_member_remove(workspace_id=workspace.pk, actor=user, user_id=editor_outside.pk)


def test_the_last_owner_cannot_leave(workspace, owner, unchanged):
    with unchanged(), pytest.raises(Conflict):
        task_services.workspace_member_remove(workspace_id=workspace.pk, actor=owner, user_id=owner.pk)


def test_an_owner_can_leave_while_another_owner_remains(workspace, owner, editor_outside):
    task_services.workspace_member_update(workspace_id=workspace.pk, actor=owner, user_id=editor_outside.pk,
                                     role="owner")
    task_services.workspace_member_remove(workspace_id=workspace.pk, actor=editor_outside, user_id=owner.pk)
    assert role_in(workspace, owner) is None


def test_the_last_admin_of_a_project_cannot_leave(workspace, owner, editor, unchanged):
    factories.project(workspace, editor, key="ED")
    with unchanged(), pytest.raises(Conflict):
        task_services.workspace_member_remove(workspace_id=workspace.pk, actor=editor, user_id=editor.pk)


def test_removing_a_non_member_is_not_found(workspace, owner, outsider, unchanged):
    with unchanged(), pytest.raises(NotFound):
        task_services.workspace_member_remove(workspace_id=workspace.pk, actor=owner, user_id=outsider.pk)


# --- project create ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "editor"])
def test_project_create_builds_the_board(request, workspace, who, new_events):
    creator = request.getfixturevalue(who)

    with new_events(workspace=workspace) as got:
        project = services.project_create(workspace_id=workspace.pk, user=creator, name="Board", key="BRD",
                                          description="All of it", due_date=datetime.date(2030, 1, 31))

    stored = Project.objects.get(pk=project.pk)
    assert (stored.key, stored.name, stored.description, stored.due_date, stored.created_by_id, stored.version) == (
        "BRD", "Board", "All of it", datetime.date(2030, 1, 31), creator.pk, 1)
    statuses = Status.objects.filter(project=project).order_by("position")
    assert [(s.name, s.group, s.position) for s in statuses] == DEFAULT_BOARD
    counters = ProjectCounters.objects.get(project=project)
    assert counters.counts() == dict.fromkeys(COUNT_FIELDS, 0)
    assert (counters.last_number, counters.last_seq) == (0, 1)
    assert list(ProjectMember.objects.filter(project=project).values_list("user_id", "role")) == [
        (creator.pk, "admin")]

    assert got.types == ["project_created"]
    event = got[0]
    assert (event.project_id, event.seq, event.actor_id, event.workspace_id) == (
        project.pk, 1, creator.pk, workspace.pk)
    assert set(event.data) == {"project"}
    payload = event.data["project"]
    assert set(payload) == PROJECT_KEYS
    assert (payload["id"], payload["key"], payload["status"], payload["derived_status"], payload["override"]) == (
        str(project.pk), "BRD", "todo", "todo", None)
    assert payload["counts"] == dict.fromkeys(COUNT_FIELDS, 0)
    assert payload["created_by"]["id"] == str(creator.pk)


def test_project_create_duplicate_key_conflicts_and_writes_nothing(workspace, project, editor, unchanged):
    with unchanged(), pytest.raises(Conflict):
        services.project_create(workspace_id=workspace.pk, user=editor, name="Again", key="TH")
    # No second project, no orphan statuses, counters, memberships or events (``unchanged``).
    assert Project.objects.filter(workspace=workspace).count() == 1


def test_the_same_key_is_fine_in_another_workspace(workspace, project, other_workspace, outsider):
    services.project_create(workspace_id=other_workspace.pk, user=outsider, name="Twin", key="TH")
    assert Project.objects.filter(key="TH").count() == 2


@pytest.mark.parametrize(("who", "error"), [("viewer", PermissionDenied), ("outsider", NotFound)])
def test_project_create_denied(request, workspace, who, error, unchanged):
    user = request.getfixturevalue(who)
    with unchanged(), pytest.raises(error):
        services.project_create(workspace_id=workspace.pk, user=user, name="Nope", key="NOPE")


# --- project update / archive / restore / delete ---------------------------------------------


def test_project_update_is_partial_and_bumps_the_version(project, owner, editor, new_events):
    version = db_version(project)

    with new_events(project) as got:
        updated = services.project_update(project_id=project.pk, user=owner,
                                          fields={"name": "Renamed", "lead_id": editor.pk})

    stored = Project.objects.get(pk=project.pk)
    assert (stored.name, stored.description, stored.lead_id) == ("Renamed", "", editor.pk)
    assert stored.version == updated.version == version + 1
    assert got.types == ["project_updated"]
    payload = got[0].data["project"]
    assert set(payload) == PROJECT_KEYS
    assert (payload["name"], payload["version"], payload["lead"]["id"]) == ("Renamed", version + 1, str(editor.pk))

    services.project_update(project_id=project.pk, user=owner, fields={"lead_id": None, "due_date": None})
    stored.refresh_from_db()
    assert (stored.name, stored.lead_id, stored.version) == ("Renamed", None, version + 2)


def test_project_update_rejects_a_null_name_and_blanks_a_null_description(project, owner, unchanged):
    # PATCH passes the fields that were sent, so an explicit null reaches the service.
    with unchanged(), pytest.raises(ValidationError):
        services.project_update(project_id=project.pk, user=owner, fields={"name": None})

    services.project_update(project_id=project.pk, user=owner, fields={"description": "Text"})
    services.project_update(project_id=project.pk, user=owner, fields={"description": None})
    assert Project.objects.get(pk=project.pk).description == ""


@pytest.mark.parametrize("who", ["editor", "editor_outside"])
def test_any_editor_may_edit_project_fields(request, project, who):
    user = request.getfixturevalue(who)
    services.project_update(project_id=project.pk, user=user, fields={"description": "By an editor"})
    assert Project.objects.get(pk=project.pk).description == "By an editor"


def test_project_update_with_a_stale_if_match_fails(project, owner, unchanged):
    version = db_version(project)
    with unchanged(), pytest.raises(PreconditionFailed):
        services.project_update(project_id=project.pk, user=owner, fields={"name": "Late"}, if_match=version - 1)
    services.project_update(project_id=project.pk, user=owner, fields={"name": "On time"}, if_match=version)
    assert Project.objects.get(pk=project.pk).name == "On time"


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_project_lead_must_be_an_owner_or_editor(request, project, owner, who, unchanged):
    candidate = request.getfixturevalue(who)
    with unchanged(), pytest.raises(ValidationError):
        services.project_update(project_id=project.pk, user=owner, fields={"lead_id": candidate.pk})


def test_an_archived_project_cannot_be_edited(project, owner, unchanged):
    services.project_archive(project_id=project.pk, user=owner)
    with unchanged(), pytest.raises(Conflict):
        services.project_update(project_id=project.pk, user=owner, fields={"name": "Frozen"})


@pytest.mark.parametrize(("who", "error"), [("viewer", PermissionDenied), ("outsider", NotFound)])
def test_project_update_denied(request, project, who, error, unchanged):
    user = request.getfixturevalue(who)
    with unchanged(), pytest.raises(error):
        services.project_update(project_id=project.pk, user=user, fields={"name": "Nope"})


def test_archive_and_restore(project, owner, new_events, unchanged):
    version = db_version(project)

    with new_events(project) as archived:
        services.project_archive(project_id=project.pk, user=owner)
    stored = Project.objects.get(pk=project.pk)
    assert stored.archived_at is not None
    assert stored.version == version + 1
    assert archived.types == ["project_archived"]
    assert archived[0].data["project"]["archived_at"] is not None

    with unchanged(), pytest.raises(Conflict):
        services.project_archive(project_id=project.pk, user=owner)

    with new_events(project) as restored:
        services.project_restore(project_id=project.pk, user=owner)
    stored.refresh_from_db()
    assert stored.archived_at is None
    assert stored.version == version + 2
    assert restored.types == ["project_restored"]
    assert set(restored[0].data["project"]) == PROJECT_KEYS

    with unchanged(), pytest.raises(Conflict):
        services.project_restore(project_id=project.pk, user=owner)


def test_a_project_admin_editor_may_archive(workspace, project, owner, editor_outside):
    services.project_member_add(project_id=project.pk, actor=owner, user_id=editor_outside.pk, role="admin")
    services.project_archive(project_id=project.pk, user=editor_outside)
    assert Project.objects.get(pk=project.pk).archived_at is not None


@pytest.mark.parametrize(("who", "error"), [
    ("editor", PermissionDenied),  # a project member, not an admin
    ("editor_outside", PermissionDenied),
    ("viewer", PermissionDenied),
    ("outsider", NotFound),
])
def test_archive_restore_and_delete_are_for_admins(request, project, owner, who, error, unchanged):
    user = request.getfixturevalue(who)
    with unchanged(), pytest.raises(error):
        services.project_archive(project_id=project.pk, user=user)
    with unchanged(), pytest.raises(error):
        services.project_delete(project_id=project.pk, user=user)
    services.project_archive(project_id=project.pk, user=owner)
    with unchanged(), pytest.raises(error):
        services.project_restore(project_id=project.pk, user=user)


def test_project_delete_removes_the_board_and_logs_at_workspace_level(workspace, project, other_project, owner,
                                                                      editor, new_events):
    parent = factories.task(project, owner, title="Parent")
    child = factories.task(project, owner, title="Child", parent_id=parent.pk)
    task_services.comment_create(task_id=child.pk, user=editor, body="Hi")
    other_events = Event.objects.filter(project=other_project).count()

    with new_events(workspace=workspace) as got:
        services.project_delete(project_id=project.pk, user=owner)

    assert not Project.objects.filter(pk=project.pk).exists()
    for model in (Status, ProjectCounters, ProjectMember, Task, Event):
        assert not model.objects.filter(project_id=project.pk).exists(), model
    assert not Comment.objects.filter(task_id=child.pk).exists()
    assert got.types == ["project_deleted"]
    event = got[0]
    assert (event.project_id, event.seq, event.workspace_id) == (None, None, workspace.pk)
    assert event.data["project"]["id"] == str(project.pk)
    assert Event.objects.filter(project=other_project).count() == other_events


# --- status override ------------------------------------------------------------------------


def test_override_logs_a_status_change_when_the_effective_status_changes(project, owner, new_events):
    expires = timezone.now() + datetime.timedelta(days=3)
    version = db_version(project)

    with new_events(project) as got:
        services.project_override_set(project_id=project.pk, user=owner, status="done", reason="Shipped",
                                      expires_at=expires)

    stored = Project.objects.get(pk=project.pk)
    assert (stored.override_status, stored.override_reason, stored.override_by_id, stored.override_expires_at) == (
        "done", "Shipped", owner.pk, expires)
    assert stored.version == version + 1
    assert got.types == ["project_updated", "project_status_changed"]
    assert got[0].data["project"]["status"] == "done"
    assert got[0].data["project"]["derived_status"] == "todo"
    changed = got[1].data
    assert (changed["old"], changed["new"], changed["derived"]) == ("todo", "done", "todo")
    assert (changed["override"]["status"], changed["override"]["reason"]) == ("done", "Shipped")
    # The override has the REST shape (by is a user), as in the project payload of the same write.
    assert changed["override"] == got[0].data["project"]["override"]
    assert changed["override"]["by"] == {"id": str(owner.pk), "email": owner.email,
                                         "display_name": owner.display_name}

    with new_events(project) as cleared:
        services.project_override_clear(project_id=project.pk, user=owner)
    stored.refresh_from_db()
    assert (stored.override_status, stored.override_reason, stored.override_by_id, stored.override_expires_at) == (
        "", "", None, None)
    assert cleared.types == ["project_updated", "project_status_changed"]
    changed = cleared[1].data
    assert (changed["old"], changed["new"], changed["derived"], changed["override"]) == ("done", "todo", "todo", None)


def test_override_equal_to_the_derived_status_logs_no_status_change(project, owner, new_events):
    with new_events(project) as got:
        services.project_override_set(project_id=project.pk, user=owner, status="todo", reason="As is")
    assert got.types == ["project_updated"]

    with new_events(project) as got:
        services.project_override_clear(project_id=project.pk, user=owner)
    assert got.types == ["project_updated"]


def test_clearing_when_there_is_no_override_logs_no_status_change(project, owner, new_events):
    with new_events(project) as got:
        services.project_override_clear(project_id=project.pk, user=owner)
    assert got.types == ["project_updated"]


def test_an_expired_override_is_ignored(project, owner, statuses, new_events):
    services.project_override_set(project_id=project.pk, user=owner, status="issue", reason="Blocked",
                                  expires_at=timezone.now() + datetime.timedelta(hours=1))
    Project.objects.filter(pk=project.pk).update(override_expires_at=timezone.now() - datetime.timedelta(minutes=1))

    shown = ProjectOut.from_orm(project_get_for_member(project_id=project.pk, user=owner))
    assert (shown.status, shown.override) == ("todo", None)

    # The effective status was already the derived one: no status change either way.
    with new_events(project) as got:
        services.project_override_set(project_id=project.pk, user=owner, status="todo")
    assert got.types == ["project_updated"]
    Project.objects.filter(pk=project.pk).update(override_status="issue",
                                                 override_expires_at=timezone.now() - datetime.timedelta(minutes=1))
    with new_events(project) as got:
        services.project_override_clear(project_id=project.pk, user=owner)
    assert got.types == ["project_updated"]

    # Task writes track the derived status again.
    Project.objects.filter(pk=project.pk).update(override_status="issue",
                                                 override_expires_at=timezone.now() - datetime.timedelta(minutes=1))
    with new_events(project) as got:
        factories.task(project, owner, status_id=statuses["done"].pk)
    assert got.types == ["task_created", "project_counts_changed", "project_status_changed"]
    assert (got[2].data["old"], got[2].data["new"]) == ("todo", "done")


def test_an_active_override_hides_derived_status_changes(project, owner, statuses, new_events):
    services.project_override_set(project_id=project.pk, user=owner, status="active", reason="Busy")

    with new_events(project) as got:
        factories.task(project, owner, status_id=statuses["done"].pk)

    assert got.types == ["task_created", "project_counts_changed"]


def test_override_expiry_must_be_in_the_future(project, owner, unchanged):
    with unchanged(), pytest.raises(ValidationError):
        services.project_override_set(project_id=project.pk, user=owner, status="done",
                                      expires_at=timezone.now() - datetime.timedelta(seconds=1))


@pytest.mark.parametrize(("who", "error"), [
    ("editor", PermissionDenied),
    ("viewer", PermissionDenied),
    ("outsider", NotFound),
])
def test_override_is_owner_only(request, project, owner, who, error, unchanged):
    user = request.getfixturevalue(who)
    with unchanged(), pytest.raises(error):
        services.project_override_set(project_id=project.pk, user=user, status="done")
    services.project_override_set(project_id=project.pk, user=owner, status="done")
    with unchanged(), pytest.raises(error):
        services.project_override_clear(project_id=project.pk, user=user)


# --- project members --------------------------------------------------------------------------


def test_project_member_add(project, owner, editor_outside, new_events):
    with new_events(project) as got:
        member = services.project_member_add(project_id=project.pk, actor=owner, user_id=editor_outside.pk,
                                             role="member")

    assert member.role == "member"
    assert project_role(project, editor_outside) == "member"
    assert got.types == ["member_added"]
    assert set(got[0].data) == MEMBER_KEYS
    assert (got[0].data["user"]["id"], got[0].data["role"]) == (str(editor_outside.pk), "member")


def test_a_workspace_owner_can_be_added(workspace, project, owner, editor_outside):
    task_services.workspace_member_update(workspace_id=workspace.pk, actor=owner, user_id=editor_outside.pk,
                                     role="owner")
    services.project_member_add(project_id=project.pk, actor=owner, user_id=editor_outside.pk, role="admin")
    assert project_role(project, editor_outside) == "admin"


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_only_workspace_owners_and_editors_can_be_project_members(request, project, owner, who, unchanged):
    candidate = request.getfixturevalue(who)
    with unchanged(), pytest.raises(ValidationError):
        services.project_member_add(project_id=project.pk, actor=owner, user_id=candidate.pk, role="member")


def test_adding_a_project_member_twice_conflicts(project, owner, editor, unchanged):
    with unchanged(), pytest.raises(Conflict):
        services.project_member_add(project_id=project.pk, actor=owner, user_id=editor.pk, role="admin")


@pytest.mark.parametrize(("who", "error"), [
    ("editor", PermissionDenied),
    ("viewer", PermissionDenied),
    ("outsider", NotFound),
])
def test_only_admins_manage_project_members(request, project, owner, editor_outside, who, error, unchanged):
    user = request.getfixturevalue(who)
    with unchanged(), pytest.raises(error):
        services.project_member_add(project_id=project.pk, actor=user, user_id=editor_outside.pk, role="member")
    services.project_member_add(project_id=project.pk, actor=owner, user_id=editor_outside.pk, role="member")
    with unchanged(), pytest.raises(error):
        services.project_member_update(project_id=project.pk, actor=user, user_id=editor_outside.pk, role="admin")
    with unchanged(), pytest.raises(error):
        services.project_member_remove(project_id=project.pk, actor=user, user_id=editor_outside.pk)


def test_a_project_admin_editor_manages_members(project, owner, editor, editor_outside):
    services.project_member_update(project_id=project.pk, actor=owner, user_id=editor.pk, role="admin")
    services.project_member_add(project_id=project.pk, actor=editor, user_id=editor_outside.pk, role="member")
    assert project_role(project, editor_outside) == "member"


def test_project_member_role_change(project, owner, editor, new_events):
    with new_events(project) as got:
        member = services.project_member_update(project_id=project.pk, actor=owner, user_id=editor.pk, role="admin")

    assert member.role == "admin"
    assert project_role(project, editor) == "admin"
    assert got.types == ["member_role_changed"]
    assert (got[0].data["user"]["id"], got[0].data["role"]) == (str(editor.pk), "admin")

    # Now the owner is not the last admin and may step down.
    services.project_member_update(project_id=project.pk, actor=owner, user_id=owner.pk, role="member")
    assert project_role(project, owner) == "member"


def test_the_last_project_admin_cannot_be_demoted_or_removed(project, owner, unchanged):
    with unchanged(), pytest.raises(Conflict):
        services.project_member_update(project_id=project.pk, actor=owner, user_id=owner.pk, role="member")
    with unchanged(), pytest.raises(Conflict):
        services.project_member_remove(project_id=project.pk, actor=owner, user_id=owner.pk)


def test_project_member_remove(project, owner, editor, new_events):
    with new_events(project) as got:
        services.project_member_remove(project_id=project.pk, actor=owner, user_id=editor.pk)

    assert project_role(project, editor) is None
    assert got.types == ["member_removed"]
    assert got[0].data["user"]["id"] == str(editor.pk)


def test_a_project_member_may_leave(project, editor):
    services.project_member_remove(project_id=project.pk, actor=editor, user_id=editor.pk)
    assert project_role(project, editor) is None


def test_changing_or_removing_a_non_member_is_not_found(project, owner, editor_outside, unchanged):
    with unchanged(), pytest.raises(NotFound):
        services.project_member_update(project_id=project.pk, actor=owner, user_id=editor_outside.pk, role="admin")
    with unchanged(), pytest.raises(NotFound):
        services.project_member_remove(project_id=project.pk, actor=owner, user_id=editor_outside.pk)


# --- statuses -----------------------------------------------------------------------------------


def board(project) -> list[tuple[str, int]]:
    return list(Status.objects.filter(project=project).order_by("position", "id").values_list("name", "position"))


def test_status_create_appends_a_column(project, editor, new_events):
    with new_events(project) as got:
        status = services.status_create(project_id=project.pk, user=editor, name="Blocked", group="issue")

    assert (status.group, status.position) == ("issue", 5)
    assert board(project)[-1] == ("Blocked", 5)
    assert got.types == ["status_created"]
    assert set(got[0].data) == {"status"}
    assert set(got[0].data["status"]) == STATUS_KEYS
    assert (got[0].data["status"]["id"], got[0].data["status"]["position"]) == (str(status.pk), 5)


def test_status_create_at_a_position_shifts_the_others(project, owner):
    services.status_create(project_id=project.pk, user=owner, name="Backlog", group="todo", position=0)
    services.status_create(project_id=project.pk, user=owner, name="QA", group="review", position=3)
    services.status_create(project_id=project.pk, user=owner, name="Later", group="todo", position=99)

    assert board(project) == [("Backlog", 0), ("Todo", 1), ("In Progress", 2), ("QA", 3), ("In Review", 4),
                              ("Issue", 5), ("Done", 6), ("Later", 7)]


def test_status_names_are_unique_in_a_project(project, other_project, owner, outsider, unchanged):
    with unchanged(), pytest.raises(Conflict):
        services.status_create(project_id=project.pk, user=owner, name="Done", group="done")
    services.status_create(project_id=other_project.pk, user=outsider, name="Blocked", group="issue")
    services.status_create(project_id=project.pk, user=owner, name="Blocked", group="issue")


@pytest.mark.parametrize(("who", "error"), [
    ("editor_outside", PermissionDenied),
    ("viewer", PermissionDenied),
    ("outsider", NotFound),
])
def test_status_writes_need_a_project_member(request, project, statuses, who, error, unchanged):
    user = request.getfixturevalue(who)
    with unchanged(), pytest.raises(error):
        services.status_create(project_id=project.pk, user=user, name="Blocked", group="issue")
    with unchanged(), pytest.raises(error):
        services.status_update(status_id=statuses["review"].pk, user=user, name="QA")
    with unchanged(), pytest.raises(error):
        services.status_delete(status_id=statuses["review"].pk, user=user)


def test_status_rename(project, editor, statuses, new_events):
    with new_events(project) as got:
        status = services.status_update(status_id=statuses["review"].pk, user=editor, name="QA")

    assert Status.objects.get(pk=statuses["review"].pk).name == status.name == "QA"
    assert board(project)[2] == ("QA", 2)
    assert got.types == ["status_updated"]
    assert (got[0].data["status"]["name"], got[0].data["status"]["id"]) == ("QA", str(status.pk))


def test_status_reorder_renumbers_the_columns(project, owner, statuses, new_events):
    with new_events(project) as got:
        services.status_update(status_id=statuses["done"].pk, user=owner, position=0)
    assert board(project) == [("Done", 0), ("Todo", 1), ("In Progress", 2), ("In Review", 3), ("Issue", 4)]
    assert got.types == ["status_updated"]
    assert got[0].data["status"]["position"] == 0

    services.status_update(status_id=statuses["done"].pk, user=owner, position=2, name="Shipped")
    assert board(project) == [("Todo", 0), ("In Progress", 1), ("Shipped", 2), ("In Review", 3), ("Issue", 4)]

    services.status_update(status_id=statuses["todo"].pk, user=owner, position=50)
    assert board(project) == [("In Progress", 0), ("Shipped", 1), ("In Review", 2), ("Issue", 3), ("Todo", 4)]


def test_status_rename_to_a_taken_name_conflicts(statuses, owner, unchanged):
    with unchanged(), pytest.raises(Conflict):
        services.status_update(status_id=statuses["review"].pk, user=owner, name="Done")


def test_status_delete_of_an_empty_column(project, owner, statuses, new_events):
    with new_events(project) as got:
        services.status_delete(status_id=statuses["review"].pk, user=owner)

    assert not Status.objects.filter(pk=statuses["review"].pk).exists()
    assert got.types == ["status_deleted"]
    assert set(got[0].data) == {"status", "move_to"}
    assert set(got[0].data["status"]) == STATUS_KEYS
    assert (got[0].data["status"]["id"], got[0].data["move_to"]) == (str(statuses["review"].pk), None)


def test_status_delete_with_tasks_needs_move_to(project, owner, statuses, unchanged):
    factories.task(project, owner, status_id=statuses["active"].pk)
    with unchanged(), pytest.raises(Conflict):
        services.status_delete(status_id=statuses["active"].pk, user=owner)


def test_status_delete_with_only_archived_tasks_needs_move_to(project, owner, statuses, unchanged):
    task = factories.task(project, owner, status_id=statuses["active"].pk)
    task_services.task_archive(task_id=task.pk, user=owner)
    with unchanged(), pytest.raises(Conflict):
        services.status_delete(status_id=statuses["active"].pk, user=owner)


def test_status_delete_move_to_must_be_another_column_of_the_project(project, other_project, owner, statuses,
                                                                     unchanged):
    factories.task(project, owner, status_id=statuses["active"].pk)
    foreign = Status.objects.filter(project=other_project).first()
    with unchanged(), pytest.raises(ValidationError):
        services.status_delete(status_id=statuses["active"].pk, user=owner, move_to=foreign.pk)
    with unchanged(), pytest.raises(ValidationError):
        services.status_delete(status_id=statuses["active"].pk, user=owner, move_to=statuses["active"].pk)


def test_status_delete_moves_its_tasks_and_counts_in_one_write(project, owner, statuses, new_events):
    todo, done = statuses["todo"], statuses["done"]
    moved = [factories.task(project, owner, title=f"t{i}", status_id=todo.pk) for i in range(3)]
    archived = factories.task(project, owner, title="old", status_id=todo.pk)
    task_services.task_archive(task_id=archived.pk, user=owner)
    stays = factories.task(project, owner, title="stays", status_id=statuses["active"].pk)
    assert counts_of(project) == {"total": 4, "todo": 3, "active": 1, "review": 0, "issue": 0, "done": 0}
    versions = dict(Task.objects.values_list("pk", "version"))

    with new_events(project) as got:
        services.status_delete(status_id=todo.pk, user=owner, move_to=done.pk)

    assert not Status.objects.filter(pk=todo.pk).exists()
    for task in [*moved, archived]:
        task.refresh_from_db()
        assert task.status_id == done.pk
        assert task.completed_at is not None
        assert task.version == versions[task.pk] + 1
    stays.refresh_from_db()
    assert (stays.status_id, stays.version, stays.completed_at) == (statuses["active"].pk, versions[stays.pk], None)
    counts = counts_of(project)
    assert counts == {"total": 4, "todo": 0, "active": 1, "review": 0, "issue": 0, "done": 3}
    assert {name: value for name, value in recount_project(project.pk).items() if name in COUNT_FIELDS} == counts
    assert got.types == ["status_deleted", "project_counts_changed", "project_status_changed"]
    assert got[0].data["move_to"] == str(done.pk)
    assert got[1].data["counts"] == counts
    assert (got[2].data["old"], got[2].data["new"]) == ("todo", "active")


def test_status_delete_out_of_done_clears_completed_at(project, owner, statuses):
    task = factories.task(project, owner, status_id=statuses["done"].pk)
    assert task.completed_at is not None

    services.status_delete(status_id=statuses["done"].pk, user=owner, move_to=statuses["review"].pk)

    task.refresh_from_db()
    assert (task.status_id, task.completed_at) == (statuses["review"].pk, None)
    assert counts_of(project) == {"total": 1, "todo": 0, "active": 0, "review": 1, "issue": 0, "done": 0}


def test_status_delete_into_the_same_group_leaves_the_counts(project, owner, statuses, new_events):
    backlog = services.status_create(project_id=project.pk, user=owner, name="Backlog", group="todo")
    factories.task(project, owner, status_id=backlog.pk)
    before = counts_of(project)

    with new_events(project) as got:
        services.status_delete(status_id=backlog.pk, user=owner, move_to=statuses["todo"].pk)

    assert counts_of(project) == before
    assert got.types == ["status_deleted"]


def test_the_last_status_cannot_be_deleted(project, owner, statuses, unchanged):
    for group in ("todo", "active", "review", "issue"):
        services.status_delete(status_id=statuses[group].pk, user=owner)
    with unchanged(), pytest.raises(Conflict):
        services.status_delete(status_id=statuses["done"].pk, user=owner)


def test_override_with_a_naive_expiry_is_refused(project, owner):
    import datetime

    from projects import services as project_services
    from taskhub.errors import ValidationError as DomainValidationError

    with pytest.raises(DomainValidationError):
        project_services.project_override_set(project_id=project.pk, user=owner, status="issue",
                                              expires_at=datetime.datetime(2031, 1, 1))


def test_project_get_for_member_loads_roles_counters_and_people_in_one_query(
        project, owner, editor, outsider, django_assert_num_queries):
    services.project_update(project_id=project.pk, user=owner, fields={"lead_id": editor.pk})
    with django_assert_num_queries(1):
        got = project_get_for_member(project_id=project.pk, user=editor)
    with django_assert_num_queries(0):  # nothing left to load lazily
        assert (got.pk, got.ws_role, got.project_role) == (project.pk, "editor", "member")
        assert (got.lead.display_name, got.created_by.email) == (editor.display_name, owner.email)
        assert got.override_by is None and got.counters.last_seq >= 2
    with pytest.raises(NotFound):
        project_get_for_member(project_id=project.pk, user=outsider)
