"""The success path of every endpoint of API.md, with the body checked field by field.

Bodies are compared with the database after the request, so a field that is
present but wrong (a stale version, another user, a count off by one) fails.
"""

from __future__ import annotations

import base64
import datetime
import json

import pytest
from django.utils import timezone

from projects import services as project_services
from projects.models import Project, ProjectCounters, ProjectMember, Status, Workspace, WorkspaceMember
from realtime import tickets
from realtime.models import Event
from tasks import services as task_services
from tasks.models import Comment, Task
from tests import factories
from tests.api.conftest import assert_error, assert_invalid, assert_same_rows, new_id

pytestmark = pytest.mark.django_db

USER_KEYS = {"id", "email", "display_name"}
WORKSPACE_KEYS = {"id", "name", "description", "role", "projects_count", "created_at", "updated_at"}
MEMBER_KEYS = {"user", "role", "joined_at"}
PROJECT_KEYS = {"id", "workspace_id", "key", "name", "description", "due_date", "lead", "created_by", "counts",
                "derived_status", "status", "override", "archived_at", "version", "created_at", "updated_at"}
COUNT_KEYS = {"total", "todo", "active", "review", "issue", "done"}
STATUS_KEYS = {"id", "project_id", "name", "group", "position"}
TASK_KEYS = {"id", "key", "project_id", "title", "description", "status", "assignee", "reporter", "priority", "type",
             "story_points", "due_date", "parent_id", "rank", "version", "checklist", "created_at", "updated_at",
             "completed_at", "archived_at"}
COMMENT_KEYS = {"id", "task_id", "author", "body", "mentions", "created_at", "updated_at"}
EVENT_KEYS = {"type", "project_id", "workspace_id", "seq", "ts", "actor_id", "request_id", "data"}
ZERO = dict.fromkeys(COUNT_KEYS, 0)


# --- comparing bodies with the database --------------------------------------------------------------


def ts(value: str | None) -> datetime.datetime | None:
    """An API timestamp: ISO 8601 with a UTC time zone."""
    if value is None:
        return None
    parsed = datetime.datetime.fromisoformat(value)
    assert parsed.utcoffset() == datetime.timedelta(0), value
    return parsed


def same_instant(value: str | None, expected: datetime.datetime | None) -> bool:
    if expected is None or value is None:
        return value is None and expected is None
    return abs(ts(value) - expected) < datetime.timedelta(milliseconds=1)


def user_body(user) -> dict:
    return {"id": str(user.pk), "email": user.email, "display_name": user.display_name}


def brief(user) -> dict | None:
    return None if user is None else {"id": str(user.pk), "display_name": user.display_name}


def check_workspace(body: dict, workspace_id, *, role: str, projects_count: int) -> None:
    ws = Workspace.objects.get(pk=workspace_id)
    assert set(body) == WORKSPACE_KEYS, body
    assert body["id"] == str(ws.pk)
    assert body["name"] == ws.name
    assert body["description"] == ws.description
    assert body["role"] == role
    assert body["projects_count"] == projects_count
    assert same_instant(body["created_at"], ws.created_at)
    assert same_instant(body["updated_at"], ws.updated_at)


def check_member(body: dict, user, role: str, joined_at) -> None:
    assert set(body) == MEMBER_KEYS, body
    assert body["user"] == user_body(user)
    assert body["role"] == role
    assert same_instant(body["joined_at"], joined_at)


def check_project(body: dict, project_id, *, counts: dict, derived: str, status: str | None = None) -> None:
    p = Project.objects.select_related("lead", "created_by", "override_by").get(pk=project_id)
    assert set(body) == PROJECT_KEYS, body
    assert body["id"] == str(p.pk)
    assert body["workspace_id"] == str(p.workspace_id)
    assert body["key"] == p.key
    assert body["name"] == p.name
    assert body["description"] == p.description
    assert body["due_date"] == (p.due_date.isoformat() if p.due_date else None)
    assert body["lead"] == (user_body(p.lead) if p.lead else None)
    assert body["created_by"] == (user_body(p.created_by) if p.created_by else None)
    assert body["counts"] == counts
    assert body["derived_status"] == derived
    assert body["status"] == (status or derived)
    if p.active_override():
        assert body["override"] == {
            "status": p.override_status, "reason": p.override_reason,
            "by": user_body(p.override_by) if p.override_by else None,
            "expires_at": body["override"]["expires_at"],
        }
        assert same_instant(body["override"]["expires_at"], p.override_expires_at)
    else:
        assert body["override"] is None
    assert same_instant(body["archived_at"], p.archived_at)
    assert body["version"] == p.version
    assert same_instant(body["created_at"], p.created_at)
    assert same_instant(body["updated_at"], p.updated_at)
    # The counts the body shows are the counters row's.
    row = ProjectCounters.objects.get(project=p)
    assert counts == {name: getattr(row, name) for name in COUNT_KEYS}


def check_status(body: dict, status: Status) -> None:
    status.refresh_from_db()
    assert set(body) == STATUS_KEYS, body
    assert body == {"id": str(status.pk), "project_id": str(status.project_id), "name": status.name,
                    "group": status.group, "position": status.position}


def check_task(body: dict, task_id) -> Task:
    t = Task.objects.select_related("project", "status", "assignee", "reporter").get(pk=task_id)
    assert set(body) == TASK_KEYS, body
    assert body["id"] == str(t.pk)
    assert body["key"] == f"{t.project.key}-{t.number}"
    assert body["project_id"] == str(t.project_id)
    assert body["title"] == t.title
    assert body["description"] == t.description
    assert body["status"] == {"id": str(t.status_id), "name": t.status.name, "group": t.status.group}
    assert body["assignee"] == brief(t.assignee)
    assert body["reporter"] == brief(t.reporter)
    assert body["priority"] == t.priority
    assert body["type"] == t.type
    assert body["story_points"] == t.story_points
    assert body["due_date"] == (t.due_date.isoformat() if t.due_date else None)
    assert body["parent_id"] == (str(t.parent_id) if t.parent_id else None)
    assert body["rank"] == t.rank
    assert body["version"] == t.version
    assert same_instant(body["created_at"], t.created_at)
    assert same_instant(body["updated_at"], t.updated_at)
    assert same_instant(body["completed_at"], t.completed_at)
    assert same_instant(body["archived_at"], t.archived_at)
    return t


def check_comment(body: dict, comment_id) -> None:
    c = Comment.objects.select_related("author").get(pk=comment_id)
    assert set(body) == COMMENT_KEYS, body
    assert body["id"] == str(c.pk)
    assert body["task_id"] == str(c.task_id)
    assert body["author"] == user_body(c.author)
    assert body["mentions"] == c.mentions
    assert body["body"] == c.body
    assert same_instant(body["created_at"], c.created_at)
    assert same_instant(body["updated_at"], c.updated_at)


def page_keys(reply) -> None:
    assert reply.status == 200, reply
    assert set(reply.body) == {"items", "next_cursor"}, reply


# --- workspaces -------------------------------------------------------------------------------------------


def test_workspace_list(api, owner, viewer, outsider, project, other_project):
    factories.project(project.workspace, owner, key="SEC")
    reply = api(owner).get("/workspaces")
    page_keys(reply)
    assert reply.body["next_cursor"] is None
    assert len(reply.body["items"]) == 1
    check_workspace(reply.body["items"][0], project.workspace_id, role="owner", projects_count=2)
    as_viewer = api(viewer).get("/workspaces").body["items"]
    assert [w["id"] for w in as_viewer] == [str(project.workspace_id)]
    assert as_viewer[0]["role"] == "viewer"
    as_outsider = api(outsider).get("/workspaces").body["items"]
    assert [w["id"] for w in as_outsider] == [str(other_project.workspace_id)]


def test_workspace_projects_count_ignores_archived(api, owner, project):
    Project.objects.filter(pk=project.pk).update(archived_at=timezone.now())
    body = api(owner).get(f"/workspaces/{project.workspace_id}").body
    assert body["projects_count"] == 0


def test_workspace_create(api, editor):
    reply = api(editor).post("/workspaces", {"name": "Skunkworks", "description": "Secret"})
    assert reply.status == 201, reply
    ws = Workspace.objects.get(name="Skunkworks")
    check_workspace(reply.body, ws.pk, role="owner", projects_count=0)
    assert reply.body["description"] == "Secret"
    assert WorkspaceMember.objects.get(workspace=ws).user_id == editor.pk
    assert WorkspaceMember.objects.get(workspace=ws).role == "owner"


def test_workspace_get(api, viewer, workspace):
    reply = api(viewer).get(f"/workspaces/{workspace.pk}")
    assert reply.status == 200, reply
    check_workspace(reply.body, workspace.pk, role="viewer", projects_count=0)


def test_workspace_update(api, owner, workspace):
    before = Workspace.objects.get(pk=workspace.pk).updated_at
    reply = api(owner).patch(f"/workspaces/{workspace.pk}", {"name": "Renamed", "description": "New words"})
    assert reply.status == 200, reply
    check_workspace(reply.body, workspace.pk, role="owner", projects_count=0)
    assert reply.body["name"] == "Renamed"
    assert reply.body["description"] == "New words"
    assert ts(reply.body["updated_at"]) > before
    # Only the fields sent change.
    reply = api(owner).patch(f"/workspaces/{workspace.pk}", {"description": ""})
    assert reply.body["name"] == "Renamed"
    assert reply.body["description"] == ""


def test_workspace_delete_cascades(api, owner, workspace, project):
    task = factories.task(project, owner)
    reply = api(owner).delete(f"/workspaces/{workspace.pk}")
    assert reply.status == 204, reply
    assert reply.raw.content == b""
    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Task.objects.filter(pk=task.pk).exists()
    assert not Event.objects.filter(workspace_id=workspace.pk).exists()
    assert_error(api(owner).get(f"/workspaces/{workspace.pk}"), 404)


def test_workspace_members_list(api, viewer, owner, editor, editor_outside, workspace):
    reply = api(viewer).get(f"/workspaces/{workspace.pk}/members")
    page_keys(reply)
    rows = list(WorkspaceMember.objects.filter(workspace=workspace).select_related("user").order_by("joined_at", "id"))
    assert [item["user"]["id"] for item in reply.body["items"]] == [str(m.user_id) for m in rows]
    assert [item["user"]["email"] for item in reply.body["items"]] == [
        owner.email, editor.email, editor_outside.email, viewer.email]
    for item, row in zip(reply.body["items"], rows, strict=True):
        check_member(item, row.user, row.role, row.joined_at)
    assert reply.body["next_cursor"] is None


def test_workspace_members_pages(api, owner, workspace):
    first = api(owner).get(f"/workspaces/{workspace.pk}/members?limit=3")
    assert len(first.body["items"]) == 3
    assert first.body["next_cursor"]
    second = api(owner).get(f"/workspaces/{workspace.pk}/members?limit=3&cursor={first.body['next_cursor']}")
    assert len(second.body["items"]) == 1
    assert second.body["next_cursor"] is None
    emails = [i["user"]["email"] for i in first.body["items"] + second.body["items"]]
    assert len(set(emails)) == 4


def test_workspace_member_add(api, owner, workspace):
    newcomer = factories.user("new@example.com", "Nina New")
    reply = api(owner).post(f"/workspaces/{workspace.pk}/members", {"email": "NEW@example.com", "role": "editor"})
    assert reply.status == 201, reply
    row = WorkspaceMember.objects.get(workspace=workspace, user=newcomer)
    check_member(reply.body, newcomer, "editor", row.joined_at)
    assert row.role == "editor"
    # Adding them again is a conflict.
    again = api(owner).post(f"/workspaces/{workspace.pk}/members", {"email": "new@example.com", "role": "viewer"})
    assert_error(again, 409)
    assert WorkspaceMember.objects.get(workspace=workspace, user=newcomer).role == "editor"


def test_workspace_member_add_unknown_email(api, owner, workspace):
    reply = api(owner).post(f"/workspaces/{workspace.pk}/members", {"email": "ghost@example.com", "role": "viewer"})
    assert_error(reply, 404)


def test_workspace_member_update(api, owner, viewer, workspace):
    reply = api(owner).patch(f"/workspaces/{workspace.pk}/members/{viewer.pk}", {"role": "editor"})
    assert reply.status == 200, reply
    row = WorkspaceMember.objects.get(workspace=workspace, user=viewer)
    assert row.role == "editor"
    check_member(reply.body, viewer, "editor", row.joined_at)


def test_workspace_member_remove(api, owner, viewer, workspace):
    reply = api(owner).delete(f"/workspaces/{workspace.pk}/members/{viewer.pk}")
    assert reply.status == 204, reply
    assert not WorkspaceMember.objects.filter(workspace=workspace, user=viewer).exists()
    assert_error(api(viewer).get(f"/workspaces/{workspace.pk}"), 404)


def test_workspace_keeps_an_owner(api, owner, workspace):
    assert_error(api(owner).delete(f"/workspaces/{workspace.pk}/members/{owner.pk}"), 409)
    assert_error(api(owner).patch(f"/workspaces/{workspace.pk}/members/{owner.pk}", {"role": "editor"}), 409)
    assert WorkspaceMember.objects.get(workspace=workspace, user=owner).role == "owner"


# --- projects ---------------------------------------------------------------------------------------------


def test_project_create(api, editor, workspace):
    reply = api(editor).post(f"/workspaces/{workspace.pk}/projects",
                             {"name": "Launch", "key": "LAU", "description": "Go live", "due_date": "2031-05-06"})
    assert reply.status == 201, reply
    project = Project.objects.get(workspace=workspace, key="LAU")
    check_project(reply.body, project.pk, counts=ZERO, derived="todo")
    assert reply.body["created_by"] == user_body(editor)
    assert reply.body["due_date"] == "2031-05-06"
    assert reply.body["version"] == 1
    assert reply.headers["ETag"] == '"1"'
    # The default statuses, the counters row and the creator's admin membership came with it.
    columns = list(Status.objects.filter(project=project).order_by("position"))
    assert [(s.name, s.group, s.position) for s in columns] == [
        ("Todo", "todo", 0), ("In Progress", "active", 1), ("In Review", "review", 2), ("Issue", "issue", 3),
        ("Done", "done", 4)]
    assert ProjectCounters.objects.filter(project=project).exists()
    assert ProjectMember.objects.get(project=project).user_id == editor.pk
    assert ProjectMember.objects.get(project=project).role == "admin"


def test_project_create_duplicate_key(api, owner, project):
    reply = api(owner).post(f"/workspaces/{project.workspace_id}/projects", {"name": "Again", "key": "TH"})
    assert_error(reply, 409)
    assert Project.objects.filter(workspace=project.workspace).count() == 1


def test_project_create_same_key_in_another_workspace(api, outsider, project, other_workspace):
    reply = api(outsider).post(f"/workspaces/{other_workspace.pk}/projects", {"name": "Mine", "key": "TH"})
    assert reply.status == 201, reply


def test_project_get_with_counts_and_derived_status(api, owner, viewer, project, statuses):
    # no tasks -> todo
    reply = api(viewer).get(f"/projects/{project.pk}")
    assert reply.status == 200, reply
    check_project(reply.body, project.pk, counts=ZERO, derived="todo")
    assert reply.headers["ETag"] == f'"{project.version}"'
    a = factories.task(project, owner, title="a", status_id=statuses["active"].pk)
    factories.task(project, owner, title="b", status_id=statuses["review"].pk)
    reply = api(viewer).get(f"/projects/{project.pk}")
    check_project(reply.body, project.pk, derived="active",
                  counts={**ZERO, "total": 2, "active": 1, "review": 1})
    factories.task(project, owner, title="c", status_id=statuses["issue"].pk)
    check_project(api(viewer).get(f"/projects/{project.pk}").body, project.pk, derived="issue",
                  counts={**ZERO, "total": 3, "active": 1, "review": 1, "issue": 1})
    for task in Task.objects.filter(project=project):
        task_services.task_move(task_id=task.pk, user=owner, status_id=statuses["done"].pk)
    check_project(api(viewer).get(f"/projects/{project.pk}").body, project.pk, derived="done",
                  counts={**ZERO, "total": 3, "done": 3})
    factories.task(project, owner, title="d")
    check_project(api(viewer).get(f"/projects/{project.pk}").body, project.pk, derived="todo",
                  counts={**ZERO, "total": 4, "done": 3, "todo": 1})
    # Archived tasks are not counted.
    task_services.task_archive(task_id=a.pk, user=owner)
    check_project(api(viewer).get(f"/projects/{project.pk}").body, project.pk, derived="todo",
                  counts={**ZERO, "total": 3, "done": 2, "todo": 1})


def test_project_list(api, owner, viewer, workspace, project):
    second = factories.project(workspace, owner, key="TWO")
    factories.task(second, owner)  # most recent activity
    archived = factories.project(workspace, owner, key="OLD")
    project_services.project_archive(project_id=archived.pk, user=owner)
    reply = api(viewer).get(f"/workspaces/{workspace.pk}/projects")
    page_keys(reply)
    assert [p["key"] for p in reply.body["items"]] == ["TWO", "TH"]
    check_project(reply.body["items"][0], second.pk, counts={**ZERO, "total": 1, "todo": 1}, derived="todo")
    check_project(reply.body["items"][1], project.pk, counts=ZERO, derived="todo")
    assert [p["key"] for p in api(viewer).get(f"/workspaces/{workspace.pk}/projects?archived=true").body["items"]] \
        == ["OLD"]
    assert [p["key"] for p in api(viewer).get(f"/workspaces/{workspace.pk}/projects?q=tw").body["items"]] == ["TWO"]


def test_project_list_filters_on_effective_status(api, owner, workspace, project, statuses):
    busy = factories.project(workspace, owner, key="BUSY")
    busy_active = Status.objects.get(project=busy, group="active")
    factories.task(busy, owner, status_id=busy_active.pk)
    project_services.project_override_set(project_id=project.pk, user=owner, status="issue", reason="Blocked")

    def keys(status: str) -> list[str]:
        return [p["key"] for p in api(owner).get(f"/workspaces/{workspace.pk}/projects?status={status}").body["items"]]

    assert keys("active") == ["BUSY"]
    assert keys("issue") == ["TH"]
    assert keys("todo") == []


def test_project_update(api, editor, owner, project):
    reply = api(editor).patch(f"/projects/{project.pk}", {
        "name": "Renamed", "description": "Longer words", "due_date": "2030-01-02", "lead_id": str(owner.pk)})
    assert reply.status == 200, reply
    check_project(reply.body, project.pk, counts=ZERO, derived="todo")
    assert reply.body["name"] == "Renamed"
    assert reply.body["lead"] == user_body(owner)
    assert reply.body["due_date"] == "2030-01-02"
    assert reply.body["version"] == project.version + 1
    assert reply.headers["ETag"] == f'"{project.version + 1}"'
    # Clearing the lead and the due date.
    reply = api(editor).patch(f"/projects/{project.pk}", {"lead_id": None, "due_date": None})
    assert reply.body["lead"] is None
    assert reply.body["due_date"] is None
    assert reply.body["name"] == "Renamed"


def test_project_update_lead_must_be_owner_or_editor(api, owner, viewer, project):
    reply = api(owner).patch(f"/projects/{project.pk}", {"lead_id": str(viewer.pk)})
    assert_invalid(reply)
    assert Project.objects.get(pk=project.pk).lead_id is None


def test_project_update_when_archived_is_409(api, owner, project):
    project_services.project_archive(project_id=project.pk, user=owner)
    assert_error(api(owner).patch(f"/projects/{project.pk}", {"name": "Nope"}), 409)


def test_project_delete(api, owner, project):
    task = factories.task(project, owner)
    reply = api(owner).delete(f"/projects/{project.pk}")
    assert reply.status == 204, reply
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Task.objects.filter(pk=task.pk).exists()
    assert_error(api(owner).get(f"/projects/{project.pk}"), 404)


def test_project_archive_and_restore(api, owner, project):
    reply = api(owner).post(f"/projects/{project.pk}/archive")
    assert reply.status == 200, reply
    check_project(reply.body, project.pk, counts=ZERO, derived="todo")
    assert reply.body["archived_at"] is not None
    assert reply.headers["ETag"] == f'"{reply.body["version"]}"'
    assert_error(api(owner).post(f"/projects/{project.pk}/archive"), 409)
    reply = api(owner).post(f"/projects/{project.pk}/restore")
    assert reply.status == 200, reply
    check_project(reply.body, project.pk, counts=ZERO, derived="todo")
    assert reply.body["archived_at"] is None
    types = [e["type"] for e in api(owner).get(f"/projects/{project.pk}/events").body["items"]]
    assert types[-2:] == ["project_archived", "project_restored"]


def test_status_override(api, owner, project, statuses):
    factories.task(project, owner, status_id=statuses["active"].pk)
    expires = (timezone.now() + datetime.timedelta(days=2)).replace(microsecond=0)
    reply = api(owner).put(f"/projects/{project.pk}/status-override",
                           {"status": "issue", "reason": "Vendor late", "expires_at": expires.isoformat()})
    assert reply.status == 200, reply
    counts = {**ZERO, "total": 1, "active": 1}
    check_project(reply.body, project.pk, counts=counts, derived="active", status="issue")
    assert reply.body["override"]["status"] == "issue"
    assert reply.body["override"]["reason"] == "Vendor late"
    assert reply.body["override"]["by"] == user_body(owner)
    assert ts(reply.body["override"]["expires_at"]) == expires
    assert reply.headers["ETag"] == f'"{reply.body["version"]}"'
    # Reads agree.
    got = api(owner).get(f"/projects/{project.pk}").body
    assert got["status"] == "issue" and got["derived_status"] == "active"
    # Cleared.
    reply = api(owner).delete(f"/projects/{project.pk}/status-override")
    assert reply.status == 200, reply
    check_project(reply.body, project.pk, counts=counts, derived="active")
    assert reply.body["override"] is None


def test_expired_override_is_ignored_by_reads(api, owner, workspace, project):
    project_services.project_override_set(project_id=project.pk, user=owner, status="done")
    Project.objects.filter(pk=project.pk).update(override_expires_at=timezone.now() - datetime.timedelta(minutes=1))
    body = api(owner).get(f"/projects/{project.pk}").body
    assert body["override"] is None
    assert body["status"] == body["derived_status"] == "todo"
    listed = api(owner).get(f"/workspaces/{workspace.pk}/projects").body["items"][0]
    assert listed["override"] is None and listed["status"] == "todo"
    assert api(owner).get(f"/workspaces/{workspace.pk}/projects?status=done").body["items"] == []
    board = api(owner).get(f"/projects/{project.pk}/board").body
    assert board["project"]["status"] == "todo"


def test_override_in_the_past_is_refused(api, owner, project):
    past = (timezone.now() - datetime.timedelta(hours=1)).isoformat()
    assert_invalid(api(owner).put(f"/projects/{project.pk}/status-override",
                                  {"status": "done", "reason": "", "expires_at": past}))


# --- project members --------------------------------------------------------------------------------------


def test_project_members(api, owner, editor, editor_outside, viewer, project):
    reply = api(viewer).get(f"/projects/{project.pk}/members")
    page_keys(reply)
    rows = list(ProjectMember.objects.filter(project=project).select_related("user").order_by("joined_at", "id"))
    assert [i["user"]["id"] for i in reply.body["items"]] == [str(owner.pk), str(editor.pk)]
    for item, row in zip(reply.body["items"], rows, strict=True):
        check_member(item, row.user, row.role, row.joined_at)
    assert [i["role"] for i in reply.body["items"]] == ["admin", "member"]

    added = api(owner).post(f"/projects/{project.pk}/members", {"user_id": str(editor_outside.pk), "role": "member"})
    assert added.status == 201, added
    row = ProjectMember.objects.get(project=project, user=editor_outside)
    check_member(added.body, editor_outside, "member", row.joined_at)
    assert_error(api(owner).post(f"/projects/{project.pk}/members", {"user_id": str(editor_outside.pk)}), 409)

    changed = api(owner).patch(f"/projects/{project.pk}/members/{editor_outside.pk}", {"role": "admin"})
    assert changed.status == 200, changed
    check_member(changed.body, editor_outside, "admin", row.joined_at)
    assert ProjectMember.objects.get(project=project, user=editor_outside).role == "admin"

    removed = api(owner).delete(f"/projects/{project.pk}/members/{editor_outside.pk}")
    assert removed.status == 204, removed
    assert not ProjectMember.objects.filter(project=project, user=editor_outside).exists()


def test_project_member_must_be_owner_or_editor(api, owner, viewer, project):
    assert_invalid(api(owner).post(f"/projects/{project.pk}/members", {"user_id": str(viewer.pk)}))
    assert not ProjectMember.objects.filter(project=project, user=viewer).exists()


def test_project_keeps_an_admin(api, owner, project):
    assert_error(api(owner).delete(f"/projects/{project.pk}/members/{owner.pk}"), 409)
    assert_error(api(owner).patch(f"/projects/{project.pk}/members/{owner.pk}", {"role": "member"}), 409)
    assert ProjectMember.objects.get(project=project, user=owner).role == "admin"


# --- statuses ------------------------------------------------------------------------------------------------


def test_status_list(api, viewer, project, statuses):
    reply = api(viewer).get(f"/projects/{project.pk}/statuses")
    page_keys(reply)
    assert reply.body["next_cursor"] is None
    order = ["todo", "active", "review", "issue", "done"]
    assert [s["group"] for s in reply.body["items"]] == order
    for item, group in zip(reply.body["items"], order, strict=True):
        check_status(item, statuses[group])


def test_status_create_update_delete(api, editor, owner, project, statuses):
    reply = api(editor).post(f"/projects/{project.pk}/statuses", {"name": "Blocked", "group": "issue"})
    assert reply.status == 201, reply
    blocked = Status.objects.get(project=project, name="Blocked")
    check_status(reply.body, blocked)
    assert reply.body["position"] == 5  # at the end by default

    reply = api(editor).post(f"/projects/{project.pk}/statuses", {"name": "Triage", "group": "todo", "position": 0})
    assert reply.status == 201, reply
    assert reply.body["position"] == 0
    names = list(Status.objects.filter(project=project).order_by("position").values_list("name", flat=True))
    assert names == ["Triage", "Todo", "In Progress", "In Review", "Issue", "Done", "Blocked"]
    assert_error(api(editor).post(f"/projects/{project.pk}/statuses", {"name": "Triage", "group": "todo"}), 409)

    reply = api(editor).patch(f"/statuses/{blocked.pk}", {"name": "Stuck", "position": 1})
    assert reply.status == 200, reply
    check_status(reply.body, blocked)
    assert reply.body["name"] == "Stuck" and reply.body["position"] == 1
    names = list(Status.objects.filter(project=project).order_by("position").values_list("name", flat=True))
    assert names == ["Triage", "Stuck", "Todo", "In Progress", "In Review", "Issue", "Done"]

    reply = api(editor).delete(f"/statuses/{blocked.pk}")
    assert reply.status == 204, reply
    assert not Status.objects.filter(pk=blocked.pk).exists()


def test_status_delete_moves_its_tasks(api, owner, project, statuses):
    task = factories.task(project, owner, status_id=statuses["issue"].pk)
    assert_error(api(owner).delete(f"/statuses/{statuses['issue'].pk}"), 409)
    assert Status.objects.filter(pk=statuses["issue"].pk).exists()
    reply = api(owner).delete(f"/statuses/{statuses['issue'].pk}?move_to={statuses['done'].pk}")
    assert reply.status == 204, reply
    task.refresh_from_db()
    assert task.status_id == statuses["done"].pk
    body = api(owner).get(f"/projects/{project.pk}").body
    assert body["counts"] == {**ZERO, "total": 1, "done": 1}
    assert body["derived_status"] == "done"


# --- tasks ------------------------------------------------------------------------------------------------------


def test_task_create(api, editor, owner, project, statuses):
    reply = api(editor).post(f"/projects/{project.pk}/tasks", {
        "title": "Write the docs", "description": "All of them", "assignee_id": str(owner.pk),
        "priority": "high", "type": "story", "due_date": "2031-01-31", "story_points": 5})
    assert reply.status == 201, reply
    task = check_task(reply.body, reply.body["id"])
    assert reply.body["key"] == "TH-1"
    assert reply.body["status"] == {"id": str(statuses["todo"].pk), "name": "Todo", "group": "todo"}
    assert reply.body["assignee"] == {"id": str(owner.pk), "display_name": "Olive Owner"}
    assert reply.body["reporter"] == {"id": str(editor.pk), "display_name": "Eddie Editor"}
    assert (reply.body["priority"], reply.body["type"], reply.body["story_points"]) == ("high", "story", 5)
    assert reply.body["due_date"] == "2031-01-31"
    assert reply.body["version"] == 1
    assert reply.body["completed_at"] is None and reply.body["archived_at"] is None
    assert reply.headers["ETag"] == '"1"'
    assert task.reporter_id == editor.pk
    assert api(owner).get(f"/projects/{project.pk}").body["counts"] == {**ZERO, "total": 1, "todo": 1}


def test_task_create_defaults(api, owner, project, statuses):
    reply = api(owner).post(f"/projects/{project.pk}/tasks", {"title": "Bare"})
    assert reply.status == 201, reply
    check_task(reply.body, reply.body["id"])
    assert reply.body["description"] == ""
    assert reply.body["status"]["id"] == str(statuses["todo"].pk)
    assert reply.body["assignee"] is None
    assert (reply.body["priority"], reply.body["type"]) == ("medium", "task")
    assert reply.body["story_points"] is None and reply.body["due_date"] is None and reply.body["parent_id"] is None


def test_task_create_in_done_is_completed(api, owner, project, statuses):
    reply = api(owner).post(f"/projects/{project.pk}/tasks", {"title": "Done already",
                                                              "status_id": str(statuses["done"].pk)})
    assert reply.status == 201, reply
    check_task(reply.body, reply.body["id"])
    assert reply.body["completed_at"] is not None


def test_task_create_with_parent(api, owner, project):
    parent = factories.task(project, owner, title="Epic")
    reply = api(owner).post(f"/projects/{project.pk}/tasks", {"title": "Child", "parent_id": str(parent.pk),
                                                              "type": "subtask"})
    assert reply.status == 201, reply
    assert reply.body["parent_id"] == str(parent.pk)


def test_task_keys_count_per_project_and_are_never_reused(api, owner, project):
    me = api(owner)
    first = me.post(f"/projects/{project.pk}/tasks", {"title": "one"}).body
    second = me.post(f"/projects/{project.pk}/tasks", {"title": "two"}).body
    assert (first["key"], second["key"]) == ("TH-1", "TH-2")
    assert me.delete(f"/tasks/{second['id']}").status == 204
    assert me.post(f"/projects/{project.pk}/tasks", {"title": "three"}).body["key"] == "TH-3"


def test_new_tasks_go_to_the_end_of_their_column(api, owner, project, statuses):
    me = api(owner)
    ids = [me.post(f"/projects/{project.pk}/tasks", {"title": f"t{i}"}).body["id"] for i in range(4)]
    listed = me.get(f"/projects/{project.pk}/tasks?status={statuses['todo'].pk}").body["items"]
    assert [t["id"] for t in listed] == ids
    ranks = [t["rank"] for t in listed]
    assert ranks == sorted(ranks) and len(set(ranks)) == 4


def test_task_get(api, viewer, owner, project):
    task = factories.task(project, owner, title="Look at me")
    reply = api(viewer).get(f"/tasks/{task.pk}")
    assert reply.status == 200, reply
    check_task(reply.body, task.pk)
    assert reply.headers["ETag"] == '"1"'
    task_services.task_archive(task_id=task.pk, user=owner)
    archived = api(viewer).get(f"/tasks/{task.pk}")
    assert archived.status == 200, archived
    assert archived.body["archived_at"] is not None


def test_task_update(api, editor, owner, project, statuses):
    task = factories.task(project, owner, title="Old")
    reply = api(editor).patch(f"/tasks/{task.pk}", {
        "title": "New", "description": "More", "priority": "highest", "type": "bug", "story_points": 3,
        "due_date": "2031-02-03", "assignee_id": str(editor.pk)})
    assert reply.status == 200, reply
    check_task(reply.body, task.pk)
    assert reply.body["title"] == "New"
    assert reply.body["assignee"] == {"id": str(editor.pk), "display_name": "Eddie Editor"}
    assert reply.body["version"] == 2
    assert reply.headers["ETag"] == '"2"'
    # Partial: only what is sent changes; null clears the nullable fields.
    reply = api(editor).patch(f"/tasks/{task.pk}", {"assignee_id": None, "story_points": None})
    check_task(reply.body, task.pk)
    assert reply.body["assignee"] is None and reply.body["story_points"] is None
    assert reply.body["title"] == "New" and reply.body["priority"] == "highest"
    assert reply.body["version"] == 3


def test_task_status_change_by_patch_sets_and_clears_completed_at(api, owner, project, statuses):
    task = factories.task(project, owner)
    done = api(owner).patch(f"/tasks/{task.pk}", {"status_id": str(statuses["done"].pk)})
    assert done.status == 200, done
    check_task(done.body, task.pk)
    assert done.body["status"] == {"id": str(statuses["done"].pk), "name": "Done", "group": "done"}
    assert done.body["completed_at"] is not None
    back = api(owner).patch(f"/tasks/{task.pk}", {"status_id": str(statuses["active"].pk)})
    check_task(back.body, task.pk)
    assert back.body["completed_at"] is None
    assert api(owner).get(f"/projects/{project.pk}").body["counts"] == {**ZERO, "total": 1, "active": 1}
    types = [e["type"] for e in api(owner).get(f"/projects/{project.pk}/events").body["items"]]
    assert "task_moved" in types


def test_task_move(api, editor, owner, project, statuses):
    a, b, c = (factories.task(project, owner, title=t) for t in "abc")
    me = api(editor)
    todo = f"/projects/{project.pk}/tasks?status={statuses['todo'].pk}"
    # c between a and b
    reply = me.post(f"/tasks/{c.pk}/move", {"after_id": str(a.pk), "before_id": str(b.pk)})
    assert reply.status == 200, reply
    check_task(reply.body, c.pk)
    assert reply.body["version"] == 2
    assert reply.headers["ETag"] == '"2"'
    assert [t["title"] for t in me.get(todo).body["items"]] == ["a", "c", "b"]
    # b to the top, only before_id
    me.post(f"/tasks/{b.pk}/move", {"before_id": str(a.pk)})
    assert [t["title"] for t in me.get(todo).body["items"]] == ["b", "a", "c"]
    # a below c, only after_id
    me.post(f"/tasks/{a.pk}/move", {"after_id": str(c.pk)})
    assert [t["title"] for t in me.get(todo).body["items"]] == ["b", "c", "a"]
    # c to the end of another column
    d = factories.task(project, owner, title="d", status_id=statuses["review"].pk)
    reply = me.post(f"/tasks/{c.pk}/move", {"status_id": str(statuses["review"].pk)})
    check_task(reply.body, c.pk)
    assert reply.body["status"]["group"] == "review"
    review = me.get(f"/projects/{project.pk}/tasks?status={statuses['review'].pk}").body["items"]
    assert [t["id"] for t in review] == [str(d.pk), str(c.pk)]
    # to the top of a column and into done
    reply = me.post(f"/tasks/{a.pk}/move", {"status_id": str(statuses["review"].pk), "before_id": str(d.pk)})
    assert reply.status == 200, reply
    review = me.get(f"/projects/{project.pk}/tasks?status={statuses['review'].pk}").body["items"]
    assert [t["title"] for t in review] == ["a", "d", "c"]
    done = me.post(f"/tasks/{a.pk}/move", {"status_id": str(statuses["done"].pk)})
    assert done.body["completed_at"] is not None
    assert me.get(f"/projects/{project.pk}").body["counts"] == {
        **ZERO, "total": 4, "todo": 1, "review": 2, "done": 1}


def test_task_archive_and_restore(api, owner, editor, project):
    task = factories.task(project, owner)
    reply = api(editor).post(f"/tasks/{task.pk}/archive")
    assert reply.status == 200, reply
    check_task(reply.body, task.pk)
    assert reply.body["archived_at"] is not None
    assert reply.headers["ETag"] == f'"{reply.body["version"]}"'
    assert api(owner).get(f"/projects/{project.pk}").body["counts"] == ZERO
    assert api(owner).get(f"/projects/{project.pk}/tasks").body["items"] == []
    assert [t["id"] for t in api(owner).get(f"/projects/{project.pk}/tasks?archived=true").body["items"]] == [
        str(task.pk)]
    reply = api(editor).post(f"/tasks/{task.pk}/restore")
    assert reply.status == 200, reply
    check_task(reply.body, task.pk)
    assert reply.body["archived_at"] is None
    assert api(owner).get(f"/projects/{project.pk}").body["counts"] == {**ZERO, "total": 1, "todo": 1}


def test_restoring_a_task_restores_its_archived_project(api, owner, project):
    task = factories.task(project, owner)
    task_services.task_archive(task_id=task.pk, user=owner)
    project_services.project_archive(project_id=project.pk, user=owner)
    reply = api(owner).post(f"/tasks/{task.pk}/restore")
    assert reply.status == 200, reply
    project_body = api(owner).get(f"/projects/{project.pk}").body
    assert project_body["archived_at"] is None
    types = [e["type"] for e in api(owner).get(f"/projects/{project.pk}/events").body["items"]]
    assert "project_restored" in types and "task_restored" in types


def test_task_delete(api, owner, project):
    task = factories.task(project, owner)
    reply = api(owner).delete(f"/tasks/{task.pk}")
    assert reply.status == 204, reply
    assert not Task.objects.filter(pk=task.pk).exists()
    assert_error(api(owner).get(f"/tasks/{task.pk}"), 404)
    assert api(owner).get(f"/projects/{project.pk}").body["counts"] == ZERO
    last = api(owner).get(f"/projects/{project.pk}/events").body["items"]
    deleted = [e for e in last if e["type"] == "task_deleted"]
    assert deleted[0]["data"] == {"task_id": str(task.pk), "key": "TH-1"}


def test_task_list_filters(api, owner, editor, viewer, project, statuses):
    a = factories.task(project, owner, title="Fix the login bug", priority="high", type="bug",
                       assignee_id=editor.pk)
    b = factories.task(project, owner, title="Write docs", description="about login", priority="low")
    c = factories.task(project, owner, title="Ship", status_id=statuses["done"].pk, assignee_id=editor.pk)
    me = api(viewer)
    base = f"/projects/{project.pk}/tasks"

    def ids(query: str) -> list[str]:
        reply = me.get(base + query)
        page_keys(reply)
        return [t["id"] for t in reply.body["items"]]

    assert ids("") == [str(c.pk), str(b.pk), str(a.pk)]  # newest first
    listed = me.get(base).body["items"]
    for item in listed:
        check_task(item, item["id"])
    assert ids(f"?status={statuses['done'].pk}") == [str(c.pk)]
    assert ids(f"?assignee={editor.pk}") == [str(c.pk), str(a.pk)]
    assert ids("?priority=high") == [str(a.pk)]
    assert ids("?type=bug") == [str(a.pk)]
    assert ids("?q=login") == [str(b.pk), str(a.pk)]
    assert ids("?q=LOGIN&priority=low") == [str(b.pk)]


def test_my_tasks(api, owner, editor, outsider, project, other_project):
    mine = factories.task(project, owner, title="mine", assignee_id=editor.pk)
    factories.task(project, owner, title="not mine", assignee_id=owner.pk)
    reply = api(editor).get("/me/tasks")
    page_keys(reply)
    assert [t["id"] for t in reply.body["items"]] == [str(mine.pk)]
    check_task(reply.body["items"][0], mine.pk)
    # Across workspaces.
    theirs = factories.task(other_project, outsider, title="theirs", assignee_id=outsider.pk)
    assert [t["id"] for t in api(outsider).get("/me/tasks").body["items"]] == [str(theirs.pk)]


# --- comments ------------------------------------------------------------------------------------------------


def test_comments(api, viewer, owner, project):
    task = factories.task(project, owner)
    reply = api(viewer).post(f"/tasks/{task.pk}/comments", {"body": "Looks good"})
    assert reply.status == 201, reply
    check_comment(reply.body, reply.body["id"])
    assert reply.body["author"] == user_body(viewer)
    assert reply.body["task_id"] == str(task.pk)
    second = api(owner).post(f"/tasks/{task.pk}/comments", {"body": "Thanks"}).body

    listed = api(owner).get(f"/tasks/{task.pk}/comments")
    page_keys(listed)
    assert [c["id"] for c in listed.body["items"]] == [reply.body["id"], second["id"]]  # oldest first
    for item in listed.body["items"]:
        check_comment(item, item["id"])

    edited = api(viewer).patch(f"/comments/{reply.body['id']}", {"body": "Looks great"})
    assert edited.status == 200, edited
    check_comment(edited.body, reply.body["id"])
    assert edited.body["body"] == "Looks great"
    assert ts(edited.body["updated_at"]) >= ts(reply.body["updated_at"])

    deleted = api(viewer).delete(f"/comments/{reply.body['id']}")
    assert deleted.status == 204, deleted
    assert not Comment.objects.filter(pk=reply.body["id"]).exists()
    types = [e["type"] for e in api(owner).get(f"/projects/{project.pk}/events").body["items"]]
    assert types[-4:] == ["comment_added", "comment_added", "comment_updated", "comment_deleted"]


# --- board ------------------------------------------------------------------------------------------------------


def test_board_snapshot(api, owner, editor, viewer, project, statuses):
    todo = [factories.task(project, owner, title=f"todo {i}") for i in range(3)]
    active = factories.task(project, owner, title="active", assignee_id=editor.pk, status_id=statuses["active"].pk)
    archived = factories.task(project, owner, title="gone")
    task_services.task_archive(task_id=archived.pk, user=owner)
    reply = api(viewer).get(f"/projects/{project.pk}/board?per_column=2")
    assert reply.status == 200, reply
    body = reply.body
    assert set(body) == {"project", "statuses", "members", "as_of_seq"}
    check_project(body["project"], project.pk, counts={**ZERO, "total": 4, "todo": 3, "active": 1}, derived="todo")
    assert [c["group"] for c in body["statuses"]] == ["todo", "active", "review", "issue", "done"]
    for column in body["statuses"]:
        assert set(column) == STATUS_KEYS | {"count", "tasks", "next_cursor"}
        check_status({k: column[k] for k in STATUS_KEYS}, statuses[column["group"]])
        for task in column["tasks"]:
            check_task(task, task["id"])
    first = body["statuses"][0]
    assert first["count"] == 3
    assert [t["id"] for t in first["tasks"]] == [str(todo[0].pk), str(todo[1].pk)]
    assert first["next_cursor"]
    second = body["statuses"][1]
    assert (second["count"], [t["id"] for t in second["tasks"]], second["next_cursor"]) == (1, [str(active.pk)], None)
    assert all(c["count"] == 0 and c["tasks"] == [] and c["next_cursor"] is None for c in body["statuses"][2:])
    # The column's next page is the task list of that status from the cursor.
    rest = api(viewer).get(f"/projects/{project.pk}/tasks?status={statuses['todo'].pk}&cursor={first['next_cursor']}")
    assert rest.status == 200, rest
    assert [t["id"] for t in rest.body["items"]] == [str(todo[2].pk)]
    assert rest.body["next_cursor"] is None
    # Members and the sequence to subscribe from.
    assert [m["user"]["id"] for m in body["members"]] == [str(owner.pk), str(editor.pk)]
    for member in body["members"]:
        assert set(member) == MEMBER_KEYS
    assert body["as_of_seq"] == ProjectCounters.objects.get(project=project).last_seq
    assert body["as_of_seq"] == api(viewer).get(f"/projects/{project.pk}/events").body["latest_seq"]


def test_board_counts_with_two_columns_of_one_group(api, owner, project, statuses):
    extra = Status.objects.get(pk=api(owner).post(f"/projects/{project.pk}/statuses",
                                                  {"name": "Later", "group": "todo"}).body["id"])
    factories.task(project, owner, title="a")
    factories.task(project, owner, title="b", status_id=extra.pk)
    factories.task(project, owner, title="c", status_id=extra.pk)
    columns = {c["name"]: c for c in api(owner).get(f"/projects/{project.pk}/board").body["statuses"]}
    assert columns["Todo"]["count"] == 1
    assert columns["Later"]["count"] == 2


def test_board_etag_and_if_none_match(api, owner, project):
    me = api(owner)
    first = me.get(f"/projects/{project.pk}/board")
    assert first.status == 200
    tag = first.headers["ETag"]
    assert tag.startswith('"') and tag.endswith('"')
    again = me.get(f"/projects/{project.pk}/board", headers={"If-None-Match": tag})
    assert again.status == 304
    assert again.raw.content == b""
    assert again.headers["ETag"] == tag
    assert me.get(f"/projects/{project.pk}/board", headers={"If-None-Match": f'"x", {tag}'}).status == 304
    factories.task(project, owner)
    changed = me.get(f"/projects/{project.pk}/board", headers={"If-None-Match": tag})
    assert changed.status == 200
    assert changed.headers["ETag"] != tag
    assert changed.body["statuses"][0]["count"] == 1


def test_board_etag_changes_when_an_override_expires(api, owner, project, monkeypatch):
    project_services.project_override_set(
        project_id=project.pk, user=owner, status="done", expires_at=timezone.now() + datetime.timedelta(hours=1))
    me = api(owner)
    before = me.get(f"/projects/{project.pk}/board")
    assert before.body["project"]["status"] == "done"
    Project.objects.filter(pk=project.pk).update(override_expires_at=timezone.now() - datetime.timedelta(seconds=1))
    after = me.get(f"/projects/{project.pk}/board", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status == 200, after
    assert after.body["project"]["status"] == "todo"


# --- events -----------------------------------------------------------------------------------------------------


def test_events(api, owner, viewer, project):
    me = api(owner)
    created = me.post(f"/projects/{project.pk}/tasks", {"title": "Evented"}, headers={"X-Request-ID": "opt-1"})
    assert created.status == 201
    reply = api(viewer).get(f"/projects/{project.pk}/events")
    assert reply.status == 200, reply
    body = reply.body
    assert set(body) == {"items", "next_cursor", "latest_seq"}
    assert body["next_cursor"] is None
    assert body["latest_seq"] == ProjectCounters.objects.get(project=project).last_seq
    seqs = [e["seq"] for e in body["items"]]
    assert seqs == list(range(1, body["latest_seq"] + 1))
    rows = {e.seq: e for e in Event.objects.filter(project=project)}
    for item in body["items"]:
        assert set(item) == EVENT_KEYS
        row = rows[item["seq"]]
        assert item["type"] == row.type
        assert item["project_id"] == str(project.pk)
        assert item["workspace_id"] == str(project.workspace_id)
        assert same_instant(item["ts"], row.created_at)
        assert item["data"] == row.data
    assert body["items"][0]["type"] == "project_created"
    task_created = [e for e in body["items"] if e["type"] == "task_created"]
    assert len(task_created) == 1
    assert task_created[0]["actor_id"] == str(owner.pk)
    assert task_created[0]["request_id"] == "opt-1"
    assert task_created[0]["data"]["task"]["id"] == created.body["id"]
    assert task_created[0]["data"]["task"]["key"] == "TH-1"
    assert {"project_counts_changed"} <= {e["type"] for e in body["items"]}


def test_events_since_and_pages(api, owner, project):
    for i in range(5):
        factories.task(project, owner, title=str(i))
    me = api(owner)
    latest = me.get(f"/projects/{project.pk}/events").body["latest_seq"]
    assert latest > 6
    since = me.get(f"/projects/{project.pk}/events?since=3")
    assert [e["seq"] for e in since.body["items"]] == list(range(4, latest + 1))
    seen, cursor = [], None
    while True:
        query = "?since=0&limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = me.get(f"/projects/{project.pk}/events{query}").body
        assert len(page["items"]) <= 3
        seen += [e["seq"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert int(cursor) == seen[-1]
    assert seen == list(range(1, latest + 1))
    # Nothing new: an empty page.
    empty = me.get(f"/projects/{project.pk}/events?since={latest}").body
    assert empty == {"items": [], "next_cursor": None, "latest_seq": latest}


def test_events_410_when_the_range_was_trimmed(api, owner, project):
    for i in range(4):
        factories.task(project, owner, title=str(i))
    latest = ProjectCounters.objects.get(project=project).last_seq
    Event.objects.filter(project=project, seq__lte=3).delete()  # what trim_events does to old rows
    me = api(owner)
    for since in (0, 1, 2):
        reply = me.get(f"/projects/{project.pk}/events?since={since}")
        assert_error(reply, 410)
        assert reply.body["code"] == "resync"
    ok = me.get(f"/projects/{project.pk}/events?since=3")
    assert ok.status == 200, ok
    assert [e["seq"] for e in ok.body["items"]] == list(range(4, latest + 1))


def test_events_410_when_everything_was_trimmed(api, owner, project):
    factories.task(project, owner)
    Event.objects.filter(project=project).delete()
    reply = api(owner).get(f"/projects/{project.pk}/events?since=1")
    assert_error(reply, 410)
    assert reply.body["code"] == "resync"


# --- realtime ticket --------------------------------------------------------------------------------------------


def test_realtime_ticket(api, viewer):
    reply = api(viewer).post("/realtime/ticket")
    assert reply.status == 201, reply
    assert set(reply.body) == {"ticket", "expires_in"}
    assert reply.body["expires_in"] == 30
    assert len(reply.body["ticket"]) >= 32
    other = api(viewer).post("/realtime/ticket").body["ticket"]
    assert other != reply.body["ticket"]
    # Single use: it names the user once.
    assert tickets.ticket_consume(reply.body["ticket"]) == str(viewer.pk)
    assert tickets.ticket_consume(reply.body["ticket"]) is None


# --- ETag and If-Match ------------------------------------------------------------------------------------------


def test_task_patch_if_match(api, owner, project):
    task = factories.task(project, owner, title="Original")
    me = api(owner)
    ok = me.patch(f"/tasks/{task.pk}", {"title": "First"}, headers={"If-Match": '"1"'})
    assert ok.status == 200, ok
    assert ok.headers["ETag"] == '"2"'
    stale = me.patch(f"/tasks/{task.pk}", {"title": "Second"}, headers={"If-Match": '"1"'})
    assert stale.status == 412, stale
    check_task(stale.body, task.pk)  # the current task, not an error message
    assert stale.body["title"] == "First" and stale.body["version"] == 2
    assert stale.headers["ETag"] == '"2"'
    assert Task.objects.get(pk=task.pk).title == "First"
    # A weak validator, "*" and no If-Match at all are applied.
    assert me.patch(f"/tasks/{task.pk}", {"title": "Third"}, headers={"If-Match": 'W/"2"'}).status == 200
    assert me.patch(f"/tasks/{task.pk}", {"title": "Fourth"}, headers={"If-Match": "*"}).status == 200
    last = me.patch(f"/tasks/{task.pk}", {"title": "Fifth"})
    assert last.status == 200 and last.body["version"] == 5
    assert me.patch(f"/tasks/{task.pk}", {"title": "Nope"}, headers={"If-Match": "garbage"}).status == 412


def test_task_move_if_match(api, owner, project, statuses):
    task = factories.task(project, owner)
    task_services.task_update(task_id=task.pk, user=owner, fields={"title": "Bumped"})
    seq = ProjectCounters.objects.get(project=project).last_seq
    stale = api(owner).post(f"/tasks/{task.pk}/move", {"status_id": str(statuses["done"].pk)},
                            headers={"If-Match": '"1"'})
    assert stale.status == 412, stale
    check_task(stale.body, task.pk)
    assert stale.body["status"]["group"] == "todo"
    assert ProjectCounters.objects.get(project=project).last_seq == seq
    ok = api(owner).post(f"/tasks/{task.pk}/move", {"status_id": str(statuses["done"].pk)},
                         headers={"If-Match": '"2"'})
    assert ok.status == 200, ok
    assert ok.headers["ETag"] == '"3"'


def test_project_patch_if_match(api, owner, project):
    me = api(owner)
    version = project.version
    ok = me.patch(f"/projects/{project.pk}", {"name": "One"}, headers={"If-Match": f'"{version}"'})
    assert ok.status == 200, ok
    assert ok.headers["ETag"] == f'"{version + 1}"'
    stale = me.patch(f"/projects/{project.pk}", {"name": "Two"}, headers={"If-Match": f'"{version}"'})
    assert stale.status == 412, stale
    check_project(stale.body, project.pk, counts=ZERO, derived="todo")
    assert stale.body["name"] == "One"
    assert stale.headers["ETag"] == f'"{version + 1}"'
    assert Project.objects.get(pk=project.pk).name == "One"


# --- keyset pagination ----------------------------------------------------------------------------------------


def _walk(me, path: str, limit: int, between_pages=None) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        sep = "&" if "?" in path else "?"
        reply = me.get(f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert reply.status == 200, reply
        pages.append([t["title"] for t in reply.body["items"]])
        cursor = reply.body["next_cursor"]
        if cursor is None:
            return pages
        assert isinstance(cursor, str)
        if between_pages:
            between_pages(len(pages))


def test_cursor_is_stable_while_tasks_are_added_newest_first(api, owner, project):
    for i in range(1, 6):
        factories.task(project, owner, title=f"t{i}")

    def add(page_number):
        if page_number == 1:
            factories.task(project, owner, title="new-a")
            factories.task(project, owner, title="new-b")

    pages = _walk(api(owner), f"/projects/{project.pk}/tasks", 2, add)
    assert pages == [["t5", "t4"], ["t3", "t2"], ["t1"]]


def test_cursor_is_stable_while_tasks_are_added_in_rank_order(api, owner, project, statuses):
    for i in range(1, 6):
        factories.task(project, owner, title=f"t{i}")

    def add(page_number):
        if page_number == 1:
            factories.task(project, owner, title="t6")
            factories.task(project, owner, title="t7")

    pages = _walk(api(owner), f"/projects/{project.pk}/tasks?status={statuses['todo'].pk}", 2, add)
    assert pages == [["t1", "t2"], ["t3", "t4"], ["t5", "t6"], ["t7"]]


def test_cursor_pages_through_ties_on_created_at(api, owner, project):
    tasks = [factories.task(project, owner, title=f"t{i}") for i in range(6)]
    Task.objects.filter(pk__in=[t.pk for t in tasks]).update(created_at=timezone.now())
    pages = _walk(api(owner), f"/projects/{project.pk}/tasks", 4)
    titles = [t for page in pages for t in page]
    assert sorted(titles) == sorted(t.title for t in tasks)
    assert len(pages) == 2


def test_project_list_pages(api, owner, workspace, project):
    for key in ("PA", "PB", "PC"):
        factories.project(workspace, owner, key=key)
    seen, cursor = [], None
    while True:
        reply = api(owner).get(f"/workspaces/{workspace.pk}/projects?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert reply.status == 200, reply
        seen += [p["key"] for p in reply.body["items"]]
        cursor = reply.body["next_cursor"]
        if not cursor:
            break
    assert seen == ["PC", "PB", "PA", "TH"]


def test_workspace_list_pages(api, owner):
    for name in ("Beta", "Alpha", "Gamma"):
        factories.workspace(owner, name=name)
    first = api(owner).get("/workspaces?limit=2").body
    second = api(owner).get(f"/workspaces?limit=2&cursor={first['next_cursor']}").body
    assert [w["name"] for w in first["items"] + second["items"]] == ["Alpha", "Beta", "Gamma"]
    assert second["next_cursor"] is None


def test_comment_pages(api, owner, project):
    task = factories.task(project, owner)
    for i in range(3):
        task_services.comment_create(task_id=task.pk, user=owner, body=f"c{i}")
    first = api(owner).get(f"/tasks/{task.pk}/comments?limit=2").body
    second = api(owner).get(f"/tasks/{task.pk}/comments?limit=2&cursor={first['next_cursor']}").body
    assert [c["body"] for c in first["items"] + second["items"]] == ["c0", "c1", "c2"]


def test_my_tasks_pages(api, owner, editor, project):
    for i in range(3):
        factories.task(project, owner, title=f"m{i}", assignee_id=editor.pk)
    first = api(editor).get("/me/tasks?limit=2").body
    second = api(editor).get(f"/me/tasks?limit=2&cursor={first['next_cursor']}").body
    assert [t["title"] for t in first["items"] + second["items"]] == ["m2", "m1", "m0"]


LIST_PATHS = [
    "/workspaces", "/workspaces/{ws}/members", "/workspaces/{ws}/projects", "/projects/{p}/members",
    "/projects/{p}/tasks", "/projects/{p}/tasks?status={todo}", "/me/tasks", "/tasks/{t}/comments",
]


def _fill(path: str, project, statuses, task) -> str:
    return path.format(ws=project.workspace_id, p=project.pk, todo=statuses["todo"].pk, t=task.pk)


@pytest.mark.parametrize("path", LIST_PATHS)
def test_limit_bounds(api, owner, project, statuses, path):
    task = factories.task(project, owner)
    url = _fill(path, project, statuses, task)
    sep = "&" if "?" in url else "?"
    assert api(owner).get(f"{url}{sep}limit=200").status == 200
    for bad in (201, 0, -1, "ten"):
        assert_invalid(api(owner).get(f"{url}{sep}limit={bad}"))


def _b64(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


BAD_CURSORS = [
    "!!!", "abc", _b64({"a": 1}), _b64(["only-one"]), _b64([1, 2]), _b64(["x", "y"]), _b64(["2020-01-01", "y"]),
    _b64(["2020-01-01T00:00:00+00:00", "not-a-uuid"]),
    _b64(["a\u0000b", new_id()]), _b64(["x", "y", "z"]), base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    _b64(["\ud800", new_id()]),  # a lone surrogate: valid JSON, but no driver can send it
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
@pytest.mark.parametrize("path", LIST_PATHS)
def test_bad_cursor_is_422_with_detail(api, owner, project, statuses, path, cursor):
    task = factories.task(project, owner)
    url = _fill(path, project, statuses, task)
    sep = "&" if "?" in url else "?"
    reply = api(owner).get(f"{url}{sep}cursor={cursor}")
    assert_invalid(reply)


@pytest.mark.parametrize("path", ["/projects/{p}/tasks", "/me/tasks", "/tasks/{t}/comments",
                                  "/workspaces/{ws}/members", "/workspaces/{ws}/projects"])
def test_cursor_with_a_naive_datetime_is_422(api, owner, project, statuses, path):
    task = factories.task(project, owner)
    url = _fill(path, project, statuses, task)
    assert_invalid(api(owner).get(f"{url}?cursor={_b64(['2020-01-01T00:00:00', new_id()])}"))


def test_bad_event_cursor(api, owner, project):
    assert_invalid(api(owner).get(f"/projects/{project.pk}/events?cursor=abc"))
    assert_invalid(api(owner).get(f"/projects/{project.pk}/events?since=-1"))
    assert_invalid(api(owner).get(f"/projects/{project.pk}/events?limit=201"))


def test_board_per_column_bounds(api, owner, project):
    assert api(owner).get(f"/projects/{project.pk}/board?per_column=200").status == 200
    for bad in (0, 201, "x"):
        assert_invalid(api(owner).get(f"/projects/{project.pk}/board?per_column={bad}"))


def test_unknown_user_for_member_endpoints(api, owner, workspace, project, db_rows):
    """A user id that is nobody: 404 for the member (not for the route or its parent), and nothing written.

    A bare 404 would also be what a missing route or an unknown workspace or
    project answers; the detail says which thing was not found.
    """
    ghost = new_id()
    before = db_rows()
    for reply in (api(owner).patch(f"/workspaces/{workspace.pk}/members/{ghost}", {"role": "viewer"}),
                  api(owner).delete(f"/workspaces/{workspace.pk}/members/{ghost}"),
                  api(owner).patch(f"/projects/{project.pk}/members/{ghost}", {"role": "member"}),
                  api(owner).delete(f"/projects/{project.pk}/members/{ghost}")):
        assert_error(reply, 404)
        assert reply.body == {"detail": "Member not found.", "code": "not_found"}, reply
    assert_same_rows(before)
