"""A user who stops being an owner or editor of a workspace loses what only they may hold.

API.md: only owners and editors can be project members, leads or assignees.
Demoting one to viewer, or removing them, unassigns their tasks and clears
them as project lead across the workspace, in the same transaction, each
change with its event; nothing outside the workspace moves.
"""

import pytest

from projects import services
from projects.models import Project
from taskhub.errors import Conflict
from tasks import services as task_services
from tasks.models import Task
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def holdings(workspace, project, owner, editor, other_workspace, outsider):
    """The editor leads ``project`` and holds two of its tasks; an owner's task and a task elsewhere stay."""
    services.project_update(project_id=project.pk, user=owner, fields={"lead_id": editor.pk})
    mine = [factories.task(project, owner, title=f"editor's {i}", assignee_id=editor.pk) for i in range(2)]
    owners = factories.task(project, owner, title="owner's", assignee_id=owner.pk)
    # The same person, as an editor of another workspace: untouched.
    services.workspace_member_add(workspace_id=other_workspace.pk, actor=outsider, email=editor.email, role="editor")
    elsewhere_project = factories.project(other_workspace, outsider, key="EL")
    elsewhere = factories.task(elsewhere_project, outsider, assignee_id=editor.pk)
    return {"mine": mine, "owners": owners, "elsewhere": elsewhere, "elsewhere_project": elsewhere_project}


def _check_revoked(project, editor, owner, holdings, got):
    for task in holdings["mine"]:
        fresh = Task.objects.get(pk=task.pk)
        assert fresh.assignee_id is None
        assert fresh.version == task.version + 1
    assert Task.objects.get(pk=holdings["owners"].pk).assignee_id == owner.pk
    assert Task.objects.get(pk=holdings["elsewhere"].pk).assignee_id == editor.pk
    assert Project.objects.get(pk=project.pk).lead_id is None
    updated = [e for e in got if e.type == "task_updated"]
    assert sorted(e.data["task"]["id"] for e in updated) == sorted(str(t.pk) for t in holdings["mine"])
    assert all(e.data["task"]["assignee"] is None for e in updated)
    assert got.one("project_updated").data["project"]["lead"] is None


def test_demoting_to_viewer_unassigns_and_clears_the_lead(workspace, project, owner, editor, holdings, new_events):
    with new_events(project) as got:
        task_services.workspace_member_update(workspace_id=workspace.pk, actor=owner, user_id=editor.pk, role="viewer")
    _check_revoked(project, editor, owner, holdings, got)


def test_removing_a_member_unassigns_and_clears_the_lead(workspace, project, owner, editor, holdings, new_events):
    with new_events(project) as got:
        task_services.workspace_member_remove(workspace_id=workspace.pk, actor=owner, user_id=editor.pk)
    _check_revoked(project, editor, owner, holdings, got)


def test_leaving_unassigns_too(workspace, project, owner, editor, holdings, new_events):
    with new_events(project) as got:
        task_services.workspace_member_remove(workspace_id=workspace.pk, actor=editor, user_id=editor.pk)
    _check_revoked(project, editor, owner, holdings, got)


def test_a_role_that_may_still_hold_assignments_keeps_them(workspace, project, owner, editor, holdings, unchanged):
    before = {t.pk: t.version for t in Task.objects.all()}
    task_services.workspace_member_update(workspace_id=workspace.pk, actor=owner, user_id=editor.pk, role="owner")
    assert {t.pk: t.version for t in Task.objects.all()} == before
    assert Task.objects.filter(assignee=editor).count() == 3
    assert Project.objects.get(pk=project.pk).lead_id == editor.pk


def test_a_refused_demotion_changes_nothing(workspace, project, owner, editor, holdings, unchanged):
    # The editor is the only admin of a project of their own: the demotion is refused as a whole.
    factories.project(workspace, editor, key="ED")
    with unchanged(), pytest.raises(Conflict):
        task_services.workspace_member_update(workspace_id=workspace.pk, actor=owner, user_id=editor.pk, role="viewer")


def test_the_board_and_counters_stay_exact(workspace, project, owner, editor, holdings):
    from projects.management.commands.recount import recount_project
    from projects.models import ProjectCounters

    task_services.workspace_member_remove(workspace_id=workspace.pk, actor=owner, user_id=editor.pk)
    counts = ProjectCounters.objects.get(project=project).counts()
    recounted = recount_project(project.pk)
    assert counts == {name: recounted[name] for name in counts}
