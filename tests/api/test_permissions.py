"""The role table of API.md as a matrix: every endpoint x every actor -> the exact status code.

Actors: ``owner`` (workspace owner, project admin), ``editor`` (workspace editor,
project member), ``editor_outside`` (workspace editor, not in the project),
``viewer``, ``outsider`` (owner of another workspace) and ``anonymous``.
``404`` for whoever may not see the thing, ``403`` for seeing but not
changing, ``401`` without credentials. A refused request writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from notifications.models import Notification
from projects import services as project_services
from projects.models import Project, ProjectMember, Status, WorkspaceMember
from tasks import services as task_services
from tasks.models import Task
from tests import factories
from tests.api.conftest import assert_same_rows, new_id

pytestmark = pytest.mark.django_db

ACTORS = ("owner", "editor", "editor_outside", "viewer", "outsider", "anonymous")


@dataclass
class World:
    """Everything the matrix needs ids of; built fresh for every case."""

    ids: dict
    users: dict


@pytest.fixture
def world(owner, editor, editor_outside, viewer, outsider, workspace, project, statuses, other_project):
    member2 = factories.user("member2@example.com", "Max Member")
    project_services.workspace_member_add(workspace_id=workspace.pk, actor=owner, email=member2.email, role="editor")
    project_services.project_member_add(project_id=project.pk, actor=owner, user_id=member2.pk, role="member")
    newcomer = factories.user("newcomer@example.com", "Nell Newcomer")
    task = factories.task(project, owner, title="Visible")
    archived_task = factories.task(project, owner, title="Archived")
    task_services.task_archive(task_id=archived_task.pk, user=owner)
    comment = task_services.comment_create(task_id=task.pk, user=owner, body="By the owner")
    checklist = task_services.checklist_create(task_id=task.pk, user=owner, title="Steps")
    item = task_services.checklist_item_create(checklist_id=checklist.pk, user=owner, text="First")
    other_checklist = task_services.checklist_create(task_id=task.pk, user=owner, title="Other")
    archived = factories.project(workspace, owner, key="ARC", members=[editor])
    project_services.project_archive(project_id=archived.pk, user=owner)
    # The viewer mentions the owner (the owner's notification); the owner invites the outsider.
    mention = task_services.comment_create(task_id=task.pk, user=viewer, body=f"For <@{owner.pk}>")
    invitation = project_services.invitation_create(workspace_id=workspace.pk, actor=owner, email=outsider.email,
                                                    role="viewer")
    users = {"owner": owner, "editor": editor, "editor_outside": editor_outside, "viewer": viewer,
             "outsider": outsider, "anonymous": None}
    ids = {
        "ws": workspace.pk, "p": project.pk, "arc": archived.pk, "t": task.pk, "at": archived_task.pk,
        "c": comment.pk, "cl": checklist.pk, "ci": item.pk, "cl2": other_checklist.pk,
        "todo": statuses["todo"].pk, "review": statuses["review"].pk,
        "issue": statuses["issue"].pk, "done": statuses["done"].pk, "viewer": viewer.pk, "member2": member2.pk,
        "editor_outside": editor_outside.pk, "newcomer_email": newcomer.email,
        "n": Notification.objects.get(user=owner, comment_id=mention.pk).pk, "inv": invitation.pk,
    }
    return World(ids=ids, users=users)


def row(name, method, path, body, owner, editor, editor_outside, viewer, outsider, anonymous=401):
    return name, method, path, body, dict(zip(ACTORS, (owner, editor, editor_outside, viewer, outsider, anonymous),
                                              strict=True))


# name, method, path, body, and the code for: owner, editor, editor_outside, viewer, outsider (anonymous: 401).
# "{me}" is the acting user's own id.
MATRIX = [
    # auth and realtime
    row("me", "GET", "/auth/me", None, 200, 200, 200, 200, 200),
    row("token_revoke", "DELETE", "/auth/token", None, 204, 204, 204, 204, 204),
    row("ticket", "POST", "/realtime/ticket", None, 201, 201, 201, 201, 201),
    # workspaces
    row("ws_list", "GET", "/workspaces", None, 200, 200, 200, 200, 200),
    row("ws_create", "POST", "/workspaces", {"name": "Mine"}, 201, 201, 201, 201, 201),
    row("ws_get", "GET", "/workspaces/{ws}", None, 200, 200, 200, 200, 404),
    row("ws_update", "PATCH", "/workspaces/{ws}", {"name": "Renamed"}, 200, 403, 403, 403, 404),
    row("ws_delete", "DELETE", "/workspaces/{ws}", None, 204, 403, 403, 403, 404),
    row("ws_members", "GET", "/workspaces/{ws}/members", None, 200, 200, 200, 200, 404),
    row("ws_member_add_viewer", "POST", "/workspaces/{ws}/members", {"email": "{newcomer_email}", "role": "viewer"},
        201, 201, 201, 403, 404),
    row("ws_member_add_editor", "POST", "/workspaces/{ws}/members", {"email": "{newcomer_email}", "role": "editor"},
        201, 201, 201, 403, 404),
    row("ws_member_add_owner", "POST", "/workspaces/{ws}/members", {"email": "{newcomer_email}", "role": "owner"},
        201, 403, 403, 403, 404),
    row("ws_member_role", "PATCH", "/workspaces/{ws}/members/{viewer}", {"role": "editor"}, 200, 403, 403, 403, 404),
    row("ws_member_remove_other", "DELETE", "/workspaces/{ws}/members/{member2}", None, 204, 403, 403, 403, 404),
    # Everyone may leave; the last owner may not (409).
    row("ws_member_remove_self", "DELETE", "/workspaces/{ws}/members/{me}", None, 409, 204, 204, 204, 404),
    # projects
    row("project_list", "GET", "/workspaces/{ws}/projects", None, 200, 200, 200, 200, 404),
    row("project_create", "POST", "/workspaces/{ws}/projects", {"name": "New", "key": "NEW"}, 201, 201, 201, 403,
        404),
    row("project_get", "GET", "/projects/{p}", None, 200, 200, 200, 200, 404),
    row("project_update", "PATCH", "/projects/{p}", {"name": "Renamed"}, 200, 200, 200, 403, 404),
    row("project_delete", "DELETE", "/projects/{p}", None, 204, 403, 403, 403, 404),
    row("project_archive", "POST", "/projects/{p}/archive", None, 200, 403, 403, 403, 404),
    row("project_restore", "POST", "/projects/{arc}/restore", None, 200, 403, 403, 403, 404),
    row("archived_project_get", "GET", "/projects/{arc}", None, 200, 200, 200, 200, 404),
    row("override_set", "PUT", "/projects/{p}/status-override", {"status": "done", "reason": "Shipped"},
        200, 403, 403, 403, 404),
    row("override_clear", "DELETE", "/projects/{p}/status-override", None, 200, 403, 403, 403, 404),
    row("board", "GET", "/projects/{p}/board", None, 200, 200, 200, 200, 404),
    row("events", "GET", "/projects/{p}/events", None, 200, 200, 200, 200, 404),
    row("project_members", "GET", "/projects/{p}/members", None, 200, 200, 200, 200, 404),
    row("project_member_add", "POST", "/projects/{p}/members", {"user_id": "{editor_outside}", "role": "member"},
        201, 403, 403, 403, 404),
    row("project_member_role", "PATCH", "/projects/{p}/members/{member2}", {"role": "admin"},
        200, 403, 403, 403, 404),
    row("project_member_remove", "DELETE", "/projects/{p}/members/{member2}", None, 204, 403, 403, 403, 404),
    # statuses
    row("status_list", "GET", "/projects/{p}/statuses", None, 200, 200, 200, 200, 404),
    row("status_create", "POST", "/projects/{p}/statuses", {"name": "QA", "group": "review"},
        201, 201, 403, 403, 404),
    row("status_update", "PATCH", "/statuses/{review}", {"name": "Checking"}, 200, 200, 403, 403, 404),
    row("status_delete", "DELETE", "/statuses/{issue}", None, 204, 204, 403, 403, 404),
    # tasks
    row("task_list", "GET", "/projects/{p}/tasks", None, 200, 200, 200, 200, 404),
    row("task_create", "POST", "/projects/{p}/tasks", {"title": "New task"}, 201, 201, 403, 403, 404),
    row("task_get", "GET", "/tasks/{t}", None, 200, 200, 200, 200, 404),
    row("archived_task_get", "GET", "/tasks/{at}", None, 200, 200, 200, 200, 404),
    row("task_update", "PATCH", "/tasks/{t}", {"title": "Changed"}, 200, 200, 403, 403, 404),
    row("task_move", "POST", "/tasks/{t}/move", {"status_id": "{done}"}, 200, 200, 403, 403, 404),
    row("task_delete", "DELETE", "/tasks/{t}", None, 204, 204, 403, 403, 404),
    row("task_archive", "POST", "/tasks/{t}/archive", None, 200, 200, 403, 403, 404),
    row("task_restore", "POST", "/tasks/{at}/restore", None, 200, 200, 403, 403, 404),
    row("my_tasks", "GET", "/me/tasks", None, 200, 200, 200, 200, 200),
    # comments
    row("comment_list", "GET", "/tasks/{t}/comments", None, 200, 200, 200, 200, 404),
    row("comment_create", "POST", "/tasks/{t}/comments", {"body": "Me too"}, 201, 201, 201, 201, 404),
    row("comment_update", "PATCH", "/comments/{c}", {"body": "Edited"}, 200, 403, 403, 403, 404),
    row("comment_delete", "DELETE", "/comments/{c}", None, 204, 403, 403, 403, 404),
    row("presence", "GET", "/projects/{p}/presence", None, 200, 200, 200, 200, 404),
    row("task_activity", "GET", "/tasks/{t}/activity", None, 200, 200, 200, 200, 404),
    row("archived_task_activity", "GET", "/tasks/{at}/activity", None, 200, 200, 200, 200, 404),
    # checklists: reading follows task reading, writing follows task editing
    row("checklist_list", "GET", "/tasks/{t}/checklists", None, 200, 200, 200, 200, 404),
    row("checklist_list_archived_task", "GET", "/tasks/{at}/checklists", None, 200, 200, 200, 200, 404),
    row("checklist_create", "POST", "/tasks/{t}/checklists", {"title": "New"}, 201, 201, 403, 403, 404),
    row("checklist_update", "PATCH", "/checklists/{cl}", {"title": "Renamed", "position": 1},
        200, 200, 403, 403, 404),
    row("checklist_delete", "DELETE", "/checklists/{cl}", None, 204, 204, 403, 403, 404),
    row("checklist_item_create", "POST", "/checklists/{cl}/items", {"text": "More"}, 201, 201, 403, 403, 404),
    row("checklist_item_tick", "PATCH", "/checklist-items/{ci}", {"done": True}, 200, 200, 403, 403, 404),
    row("checklist_item_move", "PATCH", "/checklist-items/{ci}", {"checklist_id": "{cl2}", "position": 0},
        200, 200, 403, 403, 404),
    row("checklist_item_delete", "DELETE", "/checklist-items/{ci}", None, 204, 204, 403, 403, 404),
    # invitations: owners invite any role, editors viewers and editors; the invitee (here the outsider) answers;
    # the inviter or an owner cancels; anyone else gets 404
    row("invite_viewer", "POST", "/workspaces/{ws}/invitations", {"email": "fresh@example.com", "role": "viewer"},
        201, 201, 201, 403, 404),
    row("invite_owner", "POST", "/workspaces/{ws}/invitations", {"email": "fresh@example.com", "role": "owner"},
        201, 403, 403, 403, 404),
    row("invitation_list", "GET", "/workspaces/{ws}/invitations", None, 200, 200, 200, 403, 404),
    row("my_invitations", "GET", "/me/invitations", None, 200, 200, 200, 200, 200),
    row("invitation_accept", "POST", "/invitations/{inv}/accept", None, 404, 404, 404, 404, 200),
    row("invitation_decline", "POST", "/invitations/{inv}/decline", None, 404, 404, 404, 404, 200),
    row("invitation_cancel", "DELETE", "/invitations/{inv}", None, 204, 404, 404, 404, 404),
    # notifications: one's own only
    row("notifications", "GET", "/notifications", None, 200, 200, 200, 200, 200),
    row("notification_count", "GET", "/notifications/count", None, 200, 200, 200, 200, 200),
    row("notifications_read_all", "POST", "/notifications/read-all", {}, 200, 200, 200, 200, 200),
    row("notification_read", "POST", "/notifications/{n}/read", None, 200, 404, 404, 404, 404),
    row("notification_unread", "POST", "/notifications/{n}/unread", None, 200, 404, 404, 404, 404),
    row("notification_delete", "DELETE", "/notifications/{n}", None, 204, 404, 404, 404, 404),
]

CASES = [
    pytest.param(method, path, body, actor, codes[actor], id=f"{name}-{actor}")
    for name, method, path, body, codes in MATRIX
    for actor in ACTORS
]


def _fill(value, ids: dict):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def test_matrix_covers_every_endpoint():
    from tests.api.conftest import ENDPOINTS, PUBLIC

    def shape(path):
        import re

        return re.sub(r"\{[^}]+\}", "{}", path)

    covered = {(method, shape(path)) for _, method, path, _, _ in MATRIX}
    wanted = {(method, shape(path)) for method, path in ENDPOINTS if (method, path) not in PUBLIC}
    assert wanted <= covered, sorted(wanted - covered)


@pytest.mark.parametrize("method,path,body,actor,expected", CASES)
def test_permission_matrix(api, world, db_rows, method, path, body, actor, expected):
    user = world.users[actor]
    ids = {**world.ids, "me": user.pk if user is not None else new_id()}
    caller = api(user)
    before = db_rows()
    args = () if body is None else (_fill(body, ids),)
    reply = caller.request(method, _fill(path, ids), *args)
    assert reply.status == expected, reply
    if expected >= 400:
        assert isinstance(reply.body["detail"], str) and reply.body["code"], reply
        assert_same_rows(before)


# --- project admins who are editors ---------------------------------------------------------------------


@pytest.fixture
def editor_admin(owner, editor, project):
    project_services.project_member_update(project_id=project.pk, actor=owner, user_id=editor.pk, role="admin")
    return editor


def test_an_editor_who_is_project_admin_manages_the_project(api, editor_admin, editor_outside, project):
    me = api(editor_admin)
    assert me.post(f"/projects/{project.pk}/members", {"user_id": str(editor_outside.pk)}).status == 201
    assert me.patch(f"/projects/{project.pk}/members/{editor_outside.pk}", {"role": "admin"}).status == 200
    assert me.delete(f"/projects/{project.pk}/members/{editor_outside.pk}").status == 204
    assert me.post(f"/projects/{project.pk}/archive").status == 200
    assert me.post(f"/projects/{project.pk}/restore").status == 200
    # ...but the status override stays the owners'.
    assert me.put(f"/projects/{project.pk}/status-override", {"status": "done", "reason": ""}).status == 403
    assert me.delete(f"/projects/{project.pk}").status == 204
    assert not Project.objects.filter(pk=project.pk).exists()


def test_a_project_creator_is_its_admin(api, editor_outside, workspace):
    me = api(editor_outside)
    created = me.post(f"/workspaces/{workspace.pk}/projects", {"name": "Mine", "key": "MINE"})
    assert created.status == 201
    assert ProjectMember.objects.get(project_id=created.body["id"], user=editor_outside).role == "admin"
    assert me.post(f"/projects/{created.body['id']}/tasks", {"title": "Mine too"}).status == 201
    assert me.post(f"/projects/{created.body['id']}/archive").status == 200


def test_viewers_edit_and_delete_their_own_comments_only(api, owner, viewer, project):
    task = factories.task(project, owner)
    mine = api(viewer).post(f"/tasks/{task.pk}/comments", {"body": "Mine"}).body
    assert api(viewer).patch(f"/comments/{mine['id']}", {"body": "Still mine"}).status == 200
    # Not even the workspace owner edits someone else's comment.
    assert api(owner).patch(f"/comments/{mine['id']}", {"body": "Hijack"}).status == 403
    assert api(owner).delete(f"/comments/{mine['id']}").status == 403
    assert api(viewer).delete(f"/comments/{mine['id']}").status == 204


def test_removed_member_loses_access_at_once(api, owner, editor, workspace, project):
    task = factories.task(project, owner, assignee_id=editor.pk)
    me = api(editor)
    assert me.get(f"/tasks/{task.pk}").status == 200
    assert [t["id"] for t in me.get("/me/tasks").body["items"]] == [str(task.pk)]
    assert api(owner).delete(f"/workspaces/{workspace.pk}/members/{editor.pk}").status == 204
    assert me.get(f"/tasks/{task.pk}").status == 404
    assert me.get(f"/projects/{project.pk}").status == 404
    assert me.patch(f"/tasks/{task.pk}", {"title": "Too late"}).status == 404
    assert me.get("/me/tasks").body["items"] == []


def test_demoted_to_viewer_can_no_longer_write(api, owner, editor, workspace, project):
    me = api(editor)
    assert me.post(f"/projects/{project.pk}/tasks", {"title": "ok"}).status == 201
    assert api(owner).patch(f"/workspaces/{workspace.pk}/members/{editor.pk}", {"role": "viewer"}).status == 200
    assert me.post(f"/projects/{project.pk}/tasks", {"title": "not ok"}).status == 403
    assert me.get(f"/projects/{project.pk}").status == 200
    assert not ProjectMember.objects.filter(project=project, user=editor).exists()


# --- another workspace's ids ------------------------------------------------------------------------------


@pytest.fixture
def foreign(other_project, outsider):
    """Things of the outsider's workspace: a status, a task and a comment."""
    task = factories.task(other_project, outsider, title="Theirs")
    comment = task_services.comment_create(task_id=task.pk, user=outsider, body="Theirs")
    status = Status.objects.get(project=other_project, group="done")
    return {"project": other_project, "task": task, "comment": comment, "status": status}


FOREIGN_READS = [
    "/projects/{p}", "/projects/{p}/board", "/projects/{p}/events", "/projects/{p}/tasks",
    "/projects/{p}/statuses", "/projects/{p}/members", "/tasks/{t}", "/tasks/{t}/comments",
    "/workspaces/{ws}", "/workspaces/{ws}/projects", "/workspaces/{ws}/members",
]


@pytest.mark.parametrize("path", FOREIGN_READS)
def test_another_workspaces_things_are_404(api, owner, foreign, path):
    url = path.format(p=foreign["project"].pk, t=foreign["task"].pk, ws=foreign["project"].workspace_id)
    reply = api(owner).get(url)
    assert reply.status == 404, reply
    assert reply.body["code"] == "not_found"


FOREIGN_WRITES = [
    ("PATCH", "/projects/{p}", {"name": "Mine now"}),
    ("POST", "/projects/{p}/tasks", {"title": "Sneaky"}),
    ("POST", "/projects/{p}/statuses", {"name": "Sneaky", "group": "todo"}),
    ("PATCH", "/statuses/{s}", {"name": "Sneaky"}),
    ("DELETE", "/statuses/{s}", None),
    ("PATCH", "/tasks/{t}", {"title": "Sneaky"}),
    ("POST", "/tasks/{t}/move", {"status_id": "{s}"}),
    ("DELETE", "/tasks/{t}", None),
    ("POST", "/tasks/{t}/archive", None),
    ("POST", "/tasks/{t}/comments", {"body": "Sneaky"}),
    ("PATCH", "/comments/{c}", {"body": "Sneaky"}),
    ("DELETE", "/comments/{c}", None),
    ("POST", "/projects/{p}/members", {"user_id": "{me}"}),
    ("POST", "/workspaces/{ws}/members", {"email": "owner@example.com", "role": "owner"}),
    ("DELETE", "/projects/{p}", None),
]


@pytest.mark.parametrize("method,path,body", FOREIGN_WRITES)
def test_writes_to_another_workspaces_things_are_404(api, owner, foreign, db_rows, method, path, body):
    ids = {"p": foreign["project"].pk, "t": foreign["task"].pk, "c": foreign["comment"].pk,
           "s": foreign["status"].pk, "ws": foreign["project"].workspace_id, "me": owner.pk}
    before = db_rows()
    args = () if body is None else (_fill(body, ids),)
    reply = api(owner).request(method, _fill(path, ids), *args)
    assert reply.status == 404, reply
    assert_same_rows(before)


def _refused(reply) -> None:
    """A reference to another workspace's thing: refused as unknown (404) or invalid (422), never applied."""
    assert reply.status in (404, 422), reply
    assert reply.body["code"] in ("not_found", "invalid"), reply


def test_create_task_with_another_projects_status(api, owner, project, foreign, db_rows):
    before = db_rows()
    _refused(api(owner).post(f"/projects/{project.pk}/tasks", {"title": "x", "status_id": str(foreign["status"].pk)}))
    assert_same_rows(before)


def test_create_task_with_another_projects_parent(api, owner, project, foreign, db_rows):
    before = db_rows()
    _refused(api(owner).post(f"/projects/{project.pk}/tasks", {"title": "x", "parent_id": str(foreign["task"].pk)}))
    assert_same_rows(before)


@pytest.mark.parametrize("who", ["outsider", "viewer", "unknown"])
def test_assignee_must_be_an_owner_or_editor_of_the_workspace(api, owner, outsider, viewer, project, db_rows, who):
    assignee = {"outsider": outsider.pk, "viewer": viewer.pk, "unknown": new_id()}[who]
    task = factories.task(project, owner)
    before = db_rows()
    _refused(api(owner).post(f"/projects/{project.pk}/tasks", {"title": "x", "assignee_id": str(assignee)}))
    _refused(api(owner).patch(f"/tasks/{task.pk}", {"assignee_id": str(assignee)}))
    assert_same_rows(before)


def test_patch_task_to_another_projects_status_or_parent(api, owner, project, foreign, db_rows):
    task = factories.task(project, owner)
    before = db_rows()
    _refused(api(owner).patch(f"/tasks/{task.pk}", {"status_id": str(foreign["status"].pk)}))
    _refused(api(owner).patch(f"/tasks/{task.pk}", {"parent_id": str(foreign["task"].pk)}))
    _refused(api(owner).patch(f"/tasks/{task.pk}", {"parent_id": str(task.pk)}))
    assert_same_rows(before)


def test_move_task_next_to_another_projects_things(api, owner, project, statuses, foreign, db_rows):
    task = factories.task(project, owner)
    other_column = factories.task(project, owner, status_id=statuses["review"].pk)
    before = db_rows()
    me = api(owner)
    _refused(me.post(f"/tasks/{task.pk}/move", {"status_id": str(foreign["status"].pk)}))
    _refused(me.post(f"/tasks/{task.pk}/move", {"after_id": str(foreign["task"].pk)}))
    _refused(me.post(f"/tasks/{task.pk}/move", {"before_id": str(foreign["task"].pk)}))
    _refused(me.post(f"/tasks/{task.pk}/move", {"after_id": new_id()}))
    # A neighbour in another column of my own project is not a neighbour either.
    _refused(me.post(f"/tasks/{task.pk}/move", {"after_id": str(other_column.pk)}))
    _refused(me.post(f"/tasks/{task.pk}/move", {"after_id": str(task.pk)}))
    assert_same_rows(before)


def test_delete_status_moving_to_another_projects_status(api, owner, project, statuses, foreign, db_rows):
    factories.task(project, owner, status_id=statuses["issue"].pk)
    before = db_rows()
    _refused(api(owner).delete(f"/statuses/{statuses['issue'].pk}?move_to={foreign['status'].pk}"))
    assert_same_rows(before)


def test_project_lead_and_members_come_from_the_workspace(api, owner, outsider, project, db_rows):
    before = db_rows()
    _refused(api(owner).patch(f"/projects/{project.pk}", {"lead_id": str(outsider.pk)}))
    _refused(api(owner).post(f"/projects/{project.pk}/members", {"user_id": str(outsider.pk)}))
    _refused(api(owner).post(f"/projects/{project.pk}/members", {"user_id": new_id()}))
    assert_same_rows(before)
    assert not WorkspaceMember.objects.filter(workspace=project.workspace, user=outsider).exists()


def test_filtering_by_another_projects_ids_reveals_nothing(api, owner, outsider, project, statuses, foreign):
    """My task list filtered by their column or their user shows none of their tasks.

    Their task sits in exactly that column and is assigned to exactly that user,
    so a filter that matched the id without keeping to my project would return
    it. The same filters with my own ids do find my task: the filters run.
    """
    mine = factories.task(project, owner, assignee_id=owner.pk)
    theirs = factories.task(foreign["project"], outsider, title="Theirs, filed", status_id=foreign["status"].pk,
                            assignee_id=outsider.pk)
    me = api(owner)
    for query in (f"status={foreign['status'].pk}", f"assignee={outsider.pk}",
                  f"status={foreign['status'].pk}&assignee={outsider.pk}"):
        reply = me.get(f"/projects/{project.pk}/tasks?{query}")
        assert reply.status == 200, (query, reply)
        assert reply.body["items"] == [], (query, reply)
    for query in (f"status={statuses['todo'].pk}", f"assignee={owner.pk}"):
        reply = me.get(f"/projects/{project.pk}/tasks?{query}")
        assert reply.status == 200, (query, reply)
        assert [item["id"] for item in reply.body["items"]] == [str(mine.pk)], (query, reply)
    # Their own list under the same filter does hold it (the setup is what the test says).
    assert [item["id"] for item in api(outsider).get(
        f"/projects/{foreign['project'].pk}/tasks?status={foreign['status'].pk}&assignee={outsider.pk}"
    ).body["items"]] == [str(theirs.pk)]


def test_another_workspaces_member_ids_are_404(api, owner, outsider, workspace, db_rows):
    before = db_rows()
    assert api(owner).patch(f"/workspaces/{workspace.pk}/members/{outsider.pk}", {"role": "viewer"}).status == 404
    assert api(owner).delete(f"/workspaces/{workspace.pk}/members/{outsider.pk}").status == 404
    assert_same_rows(before)


def test_restoring_an_archived_task_of_another_workspace_is_404(api, owner, foreign, outsider, db_rows):
    task_services.task_archive(task_id=foreign["task"].pk, user=outsider)
    before = db_rows()
    assert api(owner).post(f"/tasks/{foreign['task'].pk}/restore").status == 404
    assert_same_rows(before)
    assert Task.objects.get(pk=foreign["task"].pk).archived_at is not None
