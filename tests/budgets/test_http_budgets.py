"""Every endpoint's query count, pinned exactly (DESIGN.md "Query and work budgets").

Each case is one request through the whole stack (Django's test client, a
bearer token whose cache entry is warm, the counts cache warm), made in a
world of 5 and of 300 rows of whatever the endpoint lists or sits on (tasks
of the project, comments of the task, the user's workspaces, the
workspace's projects and members, the project's members and events); the
count must be the same at both sizes. Transaction control is not counted
(``tests.conftest.work_statements``). Where the backends differ, the count
is given per backend: on PostgreSQL the hot statements are the literal ones
of ``projects.queries`` and ``tasks.queries``; on SQLite the ORM runs them,
and the status event's sequence number costs an UPDATE of its own when a
write changes the derived status (``projects.queries.events_insert``).

The statements of each case are listed beside it, PostgreSQL's first.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

import pytest
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from accounts.models import User
from notifications import services as notification_services
from notifications.models import Notification, NotificationCounter
from projects import services as project_services
from projects.models import Invitation, Project, ProjectCounters, ProjectMember, Workspace, WorkspaceMember
from realtime.events import build
from realtime.models import Event
from tasks import ranks
from tasks import services as task_services
from tasks.models import Checklist, ChecklistItem, Comment, Task
from tests import factories
from tests.api.conftest import Caller, run_commit_hooks, token_for

pytestmark = pytest.mark.django_db

SIZES = [5, 300]


@dataclass
class World:
    caller: Caller
    owner: User
    workspace: Workspace
    project: Project
    statuses: dict
    task: Task
    comment: Comment
    spare: User  # an editor of the workspace who is in no project
    notification: object  # one of the owner's notifications
    invitation_to_me: object  # an invitation of another workspace, addressed to the owner
    invitation_by_me: object  # a pending invitation the owner sent
    checklist: object  # the task's first checklist, with ``size`` items (at most 190)
    item: object  # its first item
    other_checklist: object  # the task's last checklist (``size`` of them, at most 45)


def _fill(world_owner, workspace, project, statuses, task, size: int) -> None:
    """``size`` rows of every listed kind, written in bulk (what is counted is the read, not these writes)."""
    now = timezone.now()
    password = make_password(factories.PASSWORD)
    people = User.objects.bulk_create(
        User(email=f"member{i}-{uuid.uuid4().hex[:6]}@example.com", display_name=f"Member {i}", password=password)
        for i in range(size)
    )
    WorkspaceMember.objects.bulk_create(WorkspaceMember(workspace=workspace, user=u, role="editor") for u in people)
    ProjectMember.objects.bulk_create(ProjectMember(project=project, user=u, role="member") for u in people)
    columns = list(statuses.values())
    rank, rows = ranks.after(Task.objects.filter(status=columns[0]).order_by("-rank").values_list("rank", flat=True)
                             .first()), []
    counters = ProjectCounters.objects.get(project=project)
    for i in range(size):
        rank = ranks.after(rank)
        rows.append(Task(project=project, status=columns[i % len(columns)], number=counters.last_number + i + 1,
                         title=f"filler {i}", reporter=world_owner, assignee=people[i] if i % 2 else None,
                         rank=ranks.with_suffix(rank, counters.last_number + i + 1), created_at=now, updated_at=now))
    Task.objects.bulk_create(rows)
    Comment.objects.bulk_create(Comment(task=task, author=people[i], body=f"c{i}", created_at=now, updated_at=now)
                                for i in range(size))
    events = build(workspace_id=workspace.pk, project_id=project.pk, first_seq=counters.last_seq + 1,
                   items=[("task_updated", {"task_id": str(task.pk), "n": i}) for i in range(size)],
                   actor_id=world_owner.pk)
    Event.objects.bulk_create(events)
    counts = {group: counters.counts()[group] for group in ("todo", "active", "review", "issue", "done")}
    for i in range(size):
        counts[columns[i % len(columns)].group] += 1
    ProjectCounters.objects.filter(project=project).update(
        last_number=counters.last_number + size, last_seq=counters.last_seq + size, total=sum(counts.values()),
        **counts)
    # The owner's other workspaces, and the workspace's other projects.
    others = Workspace.objects.bulk_create(Workspace(name=f"Other {i:03d}", created_by=world_owner)
                                           for i in range(size))
    WorkspaceMember.objects.bulk_create(WorkspaceMember(workspace=w, user=world_owner, role="owner") for w in others)
    Project.objects.bulk_create(
        Project(workspace=workspace, key=f"F{i}", name=f"Filler {i}", created_by=world_owner) for i in range(size))
    ProjectCounters.objects.bulk_create(
        ProjectCounters(project=p) for p in Project.objects.filter(workspace=workspace, key__startswith="F"))
    # The owner's notifications, and the workspace's invitations.
    counter, _ = NotificationCounter.objects.get_or_create(user=world_owner)
    Notification.objects.bulk_create(
        Notification(user=world_owner, seq=counter.last_seq + i + 1, type="mentioned", text=f"n{i}",
                     workspace=workspace) for i in range(size))
    NotificationCounter.objects.filter(user=world_owner).update(last_seq=counter.last_seq + size,
                                                               unread=counter.unread + size)
    Invitation.objects.bulk_create(
        Invitation(workspace=workspace, email=f"invited{i}@example.com", role="viewer", invited_by=world_owner,
                   expires_at=now + datetime.timedelta(days=14)) for i in range(size))


@pytest.fixture(params=SIZES, ids=lambda size: f"{size}rows")
def world(request, client, owner, editor, editor_outside, workspace, project, statuses):
    size = request.param
    task = factories.task(project, owner, title="The task", assignee_id=editor.pk)
    comment = task_services.comment_create(task_id=task.pk, user=owner, body="First")
    # The editor mentions the owner: the owner's notification.
    mention = task_services.comment_create(task_id=task.pk, user=editor, body=f"For <@{owner.pk}>")
    host = factories.user("host@example.com", "Hal Host")
    elsewhere = factories.workspace(host, name="Elsewhere")
    invitation_to_me = project_services.invitation_create(workspace_id=elsewhere.pk, actor=host, email=owner.email,
                                                          role="editor")
    invitation_by_me = project_services.invitation_create(workspace_id=workspace.pk, actor=owner,
                                                          email="someone@example.com", role="viewer")
    _fill(owner, workspace, project, statuses, task, size)
    checklist, item, other_checklist = _fill_checklists(task, owner, size)
    run_commit_hooks()
    caller = Caller(client, token_for(owner), owner)
    assert caller.get("/auth/me").status == 200  # the token's cache entry
    assert caller.get(f"/projects/{project.pk}").status == 200  # the counts cache
    return World(caller, owner, workspace, project, statuses, task, comment, editor_outside,
                 Notification.objects.get(user=owner, comment_id=mention.pk), invitation_to_me, invitation_by_me,
                 checklist, item, other_checklist)


def _fill_checklists(task, owner, size: int):
    """The task's checklists (``size``, at most 45) and its first checklist's items (``size``, at most 190, every
    other one ticked), through the services for the first ones, in bulk for the rest."""
    first = task_services.checklist_create(task_id=task.pk, user=owner, title="First")
    item = task_services.checklist_item_create(checklist_id=first.pk, user=owner, text="item 0")
    rank, rows = item.rank, []
    for i in range(1, min(size, 190)):
        rank = ranks.after(rank)
        ticked = i % 2 == 0
        rows.append(ChecklistItem(checklist=first, text=f"item {i}", rank=rank, done=ticked,
                                  done_by=owner if ticked else None, done_at=timezone.now() if ticked else None))
    ChecklistItem.objects.bulk_create(rows)
    rank, lists = first.rank, []
    for i in range(1, min(size, 45)):
        rank = ranks.after(rank)
        lists.append(Checklist(task=task, title=f"list {i}", rank=rank))
    Checklist.objects.bulk_create(lists)
    Task.objects.filter(pk=task.pk).update(checklist_total=min(size, 190),
                                           checklist_done=sum(1 for row in rows if row.done))
    return first, item, lists[-1]


# --- the cases ---------------------------------------------------------------------------------------------
# Each builds one request from the world: (method, path, body, the status it must answer).


def _new_user() -> User:
    return factories.user(f"new-{uuid.uuid4().hex[:8]}@example.com", "New person")


def _live_tasks(w: World, status_group: str | None = None):
    qs = Task.objects.filter(project=w.project, archived_at__isnull=True).exclude(pk=w.task.pk)
    if status_group:
        qs = qs.filter(status__group=status_group)
    return qs.order_by("rank", "id")


CASES = {
    # auth and health
    "auth_me": lambda w: ("GET", "/auth/me", None, 200),
    "token_create": lambda w: ("POST", "/auth/token", {"email": w.owner.email, "password": factories.PASSWORD}, 201),
    "token_revoke": lambda w: ("DELETE", "/auth/token", None, 204),
    "user_register": lambda w: ("POST", "/auth/register", {"email": f"r{uuid.uuid4().hex[:6]}@example.com",
                                                            "password": "a-long-password-9"}, 201),
    "realtime_ticket": lambda w: ("POST", "/realtime/ticket", None, 201),
    "health": lambda w: ("GET", "/health", None, 200),
    # workspaces
    "workspace_list": lambda w: ("GET", "/workspaces?limit=200", None, 200),
    "workspace_create": lambda w: ("POST", "/workspaces", {"name": "New"}, 201),
    "workspace_get": lambda w: ("GET", f"/workspaces/{w.workspace.pk}", None, 200),
    "workspace_update": lambda w: ("PATCH", f"/workspaces/{w.workspace.pk}", {"name": "Renamed"}, 200),
    "workspace_delete": lambda w: ("DELETE", f"/workspaces/{w.workspace.pk}", None, 204),
    "workspace_member_list": lambda w: ("GET", f"/workspaces/{w.workspace.pk}/members?limit=200", None, 200),
    "workspace_member_add": lambda w: ("POST", f"/workspaces/{w.workspace.pk}/members",
                                       {"email": _new_user().email, "role": "viewer"}, 201),
    "workspace_member_update": lambda w: ("PATCH", f"/workspaces/{w.workspace.pk}/members/{w.spare.pk}",
                                          {"role": "owner"}, 200),
    "workspace_member_demote": lambda w: ("PATCH", f"/workspaces/{w.workspace.pk}/members/{w.spare.pk}",
                                          {"role": "viewer"}, 200),
    "workspace_member_remove": lambda w: ("DELETE", f"/workspaces/{w.workspace.pk}/members/{w.spare.pk}", None,
                                          204),
    # projects
    "project_list": lambda w: ("GET", f"/workspaces/{w.workspace.pk}/projects?limit=200", None, 200),
    "project_list_filtered": lambda w: ("GET", f"/workspaces/{w.workspace.pk}/projects?limit=200&status=todo",
                                        None, 200),
    "project_create": lambda w: ("POST", f"/workspaces/{w.workspace.pk}/projects", {"name": "N", "key": "NEW"},
                                 201),
    "project_get": lambda w: ("GET", f"/projects/{w.project.pk}", None, 200),
    "project_update": lambda w: ("PATCH", f"/projects/{w.project.pk}", {"name": "Renamed"}, 200),
    "project_delete": lambda w: ("DELETE", f"/projects/{w.project.pk}", None, 204),
    "project_archive": lambda w: ("POST", f"/projects/{w.project.pk}/archive", None, 200),
    "project_restore": lambda w: (project_services.project_archive(project_id=w.project.pk, user=w.owner) and
                                  ("POST", f"/projects/{w.project.pk}/restore", None, 200)),
    "project_override_set": lambda w: ("PUT", f"/projects/{w.project.pk}/status-override",
                                       {"status": "issue", "reason": "blocked"}, 200),
    "project_override_clear": lambda w: (
        project_services.project_override_set(project_id=w.project.pk, user=w.owner, status="issue") and
        ("DELETE", f"/projects/{w.project.pk}/status-override", None, 200)),
    "board_get": lambda w: ("GET", f"/projects/{w.project.pk}/board?per_column=50", None, 200),
    "event_list": lambda w: ("GET", f"/projects/{w.project.pk}/events?since=0&limit=200", None, 200),
    "project_member_list": lambda w: ("GET", f"/projects/{w.project.pk}/members?limit=200", None, 200),
    "project_member_add": lambda w: ("POST", f"/projects/{w.project.pk}/members", {"user_id": str(w.spare.pk)},
                                     201),
    "project_member_update": lambda w: ("PATCH", f"/projects/{w.project.pk}/members/"
                                        f"{ProjectMember.objects.filter(project=w.project, role='member')[0].user_id}",
                                        {"role": "admin"}, 200),
    "project_member_remove": lambda w: ("DELETE", f"/projects/{w.project.pk}/members/"
                                        f"{ProjectMember.objects.filter(project=w.project, role='member')[0].user_id}",
                                        None, 204),
    "status_list": lambda w: ("GET", f"/projects/{w.project.pk}/statuses", None, 200),
    "status_create": lambda w: ("POST", f"/projects/{w.project.pk}/statuses", {"name": "Blocked", "group": "issue"},
                                201),
    "status_update": lambda w: ("PATCH", f"/statuses/{w.statuses['review'].pk}", {"name": "QA", "position": 0}, 200),
    "status_delete": lambda w: ("DELETE", f"/statuses/{w.statuses['review'].pk}?move_to={w.statuses['todo'].pk}",
                                None, 204),
    # tasks
    "task_list": lambda w: ("GET", f"/projects/{w.project.pk}/tasks?limit=200", None, 200),
    "task_list_column": lambda w: ("GET", f"/projects/{w.project.pk}/tasks?limit=200&status={w.statuses['todo'].pk}",
                                   None, 200),
    "task_list_filtered": lambda w: ("GET", f"/projects/{w.project.pk}/tasks?limit=200&priority=medium", None, 200),
    "task_create": lambda w: ("POST", f"/projects/{w.project.pk}/tasks", {"title": "New"}, 201),
    "task_create_assigned": lambda w: ("POST", f"/projects/{w.project.pk}/tasks",
                                       {"title": "New", "assignee_id": str(w.spare.pk)}, 201),
    "task_get": lambda w: ("GET", f"/tasks/{w.task.pk}", None, 200),
    "task_update": lambda w: ("PATCH", f"/tasks/{w.task.pk}", {"title": "Renamed"}, 200),
    "task_update_assignee": lambda w: ("PATCH", f"/tasks/{w.task.pk}", {"assignee_id": str(w.spare.pk)}, 200),
    "task_update_status": lambda w: ("PATCH", f"/tasks/{w.task.pk}", {"status_id": str(w.statuses["done"].pk)},
                                     200),
    "task_move": lambda w: ("POST", f"/tasks/{w.task.pk}/move", {"after_id": str(_live_tasks(w, "todo")[0].pk)},
                            200),
    "task_move_column": lambda w: ("POST", f"/tasks/{w.task.pk}/move", {"status_id": str(w.statuses["active"].pk)},
                                   200),
    "task_delete": lambda w: ("DELETE", f"/tasks/{w.task.pk}", None, 204),
    "task_archive": lambda w: ("POST", f"/tasks/{w.task.pk}/archive", None, 200),
    "task_restore": lambda w: (
        task_services.task_archive(task_id=w.task.pk, user=w.owner) and
        ("POST", f"/tasks/{w.task.pk}/restore", None, 200)),
    "my_task_list": lambda w: ("GET", "/me/tasks?limit=200", None, 200),
    # comments
    "comment_list": lambda w: ("GET", f"/tasks/{w.task.pk}/comments?limit=200", None, 200),
    "comment_create": lambda w: ("POST", f"/tasks/{w.task.pk}/comments", {"body": "Hello"}, 201),
    "comment_update": lambda w: ("PATCH", f"/comments/{w.comment.pk}", {"body": "Edited"}, 200),
    "comment_delete": lambda w: ("DELETE", f"/comments/{w.comment.pk}", None, 204),
    "comment_create_mentioning": lambda w: ("POST", f"/tasks/{w.task.pk}/comments",
                                            {"body": f"<@{w.spare.pk}> and <@{w.owner.pk}>, have a look"}, 201),
    "presence_list": lambda w: ("GET", f"/projects/{w.project.pk}/presence", None, 200),
    "task_activity": lambda w: ("GET", f"/tasks/{w.task.pk}/activity?limit=200", None, 200),
    # checklists
    "checklist_list": lambda w: ("GET", f"/tasks/{w.task.pk}/checklists", None, 200),
    "checklist_create": lambda w: ("POST", f"/tasks/{w.task.pk}/checklists", {"title": "New"}, 201),
    "checklist_update": lambda w: ("PATCH", f"/checklists/{w.checklist.pk}", {"title": "Renamed", "position": 2},
                                   200),
    "checklist_delete": lambda w: ("DELETE", f"/checklists/{w.checklist.pk}", None, 204),
    "checklist_item_create": lambda w: ("POST", f"/checklists/{w.checklist.pk}/items", {"text": "New"}, 201),
    "checklist_item_update": lambda w: ("PATCH", f"/checklist-items/{w.item.pk}", {"done": True}, 200),
    "checklist_item_update_move": lambda w: ("PATCH", f"/checklist-items/{w.item.pk}",
                                             {"checklist_id": str(w.other_checklist.pk), "position": 0}, 200),
    "checklist_item_update_reorder": lambda w: ("PATCH", f"/checklist-items/{w.item.pk}", {"position": 3}, 200),
    "checklist_item_delete": lambda w: ("DELETE", f"/checklist-items/{w.item.pk}", None, 204),
    # invitations
    "invitation_create": lambda w: ("POST", f"/workspaces/{w.workspace.pk}/invitations",
                                    {"email": "new-person@example.com", "role": "editor"}, 201),
    "invitation_create_to_an_account": lambda w: ("POST", f"/workspaces/{w.workspace.pk}/invitations",
                                                  {"email": _new_user().email, "role": "viewer"}, 201),
    "invitation_list": lambda w: ("GET", f"/workspaces/{w.workspace.pk}/invitations?limit=200&status=pending",
                                  None, 200),
    "my_invitation_list": lambda w: ("GET", "/me/invitations?limit=200", None, 200),
    "invitation_accept": lambda w: ("POST", f"/invitations/{w.invitation_to_me.pk}/accept", None, 200),
    "invitation_decline": lambda w: ("POST", f"/invitations/{w.invitation_to_me.pk}/decline", None, 200),
    "invitation_cancel": lambda w: ("DELETE", f"/invitations/{w.invitation_by_me.pk}", None, 204),
    # notifications
    "notification_list": lambda w: ("GET", "/notifications?limit=200", None, 200),
    "notification_list_unread": lambda w: ("GET", "/notifications?limit=200&unread=true", None, 200),
    "notification_count": lambda w: ("GET", "/notifications/count", None, 200),
    "notification_read_all": lambda w: ("POST", "/notifications/read-all", {}, 200),
    "notification_read": lambda w: ("POST", f"/notifications/{w.notification.pk}/read", None, 200),
    "notification_unread": lambda w: (
        notification_services.notification_mark(notification_id=w.notification.pk, user=w.owner, read=True) and
        ("POST", f"/notifications/{w.notification.pk}/unread", None, 200)),
    "notification_delete": lambda w: ("DELETE", f"/notifications/{w.notification.pk}", None, 204),
}

# The statements of each case, in order. "access" is the literal access check of projects.queries or
# tasks.queries on PostgreSQL (the ORM's select_related + role subqueries on SQLite): one statement either way.
EXPECTED: dict[str, int | dict] = {
    "auth_me": 0,  # the token's cache entry is warm
    "token_create": 2,  # SELECT the user by email (authenticate), INSERT the token
    "token_revoke": 1,  # DELETE the token
    # SELECT the email taken?, then create_user's full_clean: SELECT the unique email (field and constraint),
    # SELECT the user's case-insensitive email constraint, INSERT the user, SELECT invitations waiting for it
    "user_register": 6,
    "realtime_ticket": 0,  # the ticket lives in the cache
    "health": 1,  # SELECT 1 row of accounts_user
    "workspace_list": 1,  # SELECT the page of workspaces with role and projects' count
    "workspace_create": 2,  # INSERT the workspace, INSERT the owner's membership
    "workspace_get": 1,  # access (role, projects' count)
    "workspace_update": 3,  # SELECT the workspace FOR NO KEY UPDATE, UPDATE it, access for the answer
    # SELECT the workspace FOR NO KEY UPDATE, SELECT its project ids and member ids (for the sockets), SELECT the
    # unread notifications about it, SELECT their recipients' counter rows FOR UPDATE, UPDATE those counts (one
    # statement), DELETE the workspace (everything under it goes in the database: DB_CASCADE)
    "workspace_delete": 7,
    "workspace_member_list": 2,  # access, SELECT the page of members with their users
    # SELECT the workspace FOR NO KEY UPDATE, SELECT the user by email, SELECT already a member?, INSERT the
    # membership, INSERT the workspace event
    "workspace_member_add": 5,
    # SELECT the workspace FOR NO KEY UPDATE, SELECT the member, UPDATE the role, INSERT the workspace event
    "workspace_member_update": 4,
    # as above, and: SELECT the member's tasks FOR NO KEY UPDATE, SELECT their project memberships, SELECT the
    # projects they lead FOR NO KEY UPDATE (none: nothing to drop or to unassign in this world), UPDATE their pending
    # invitations that a viewer could not send to cancelled
    "workspace_member_demote": 8,
    # SELECT the workspace FOR NO KEY UPDATE, SELECT the member, SELECT their tasks FOR NO KEY UPDATE, SELECT their
    # project memberships, SELECT the projects they lead, SELECT the workspace's project ids (for the sockets),
    # DELETE the membership, UPDATE their pending invitations to cancelled, INSERT the workspace event
    "workspace_member_remove": 9,
    "project_list": 2,  # access to the workspace, SELECT the page (counters and people joined)
    "project_list_filtered": 2,  # the same, on the ORM, the effective status computed in SQL
    # access to the workspace, INSERT the project, INSERT its counters, INSERT its five statuses (one statement),
    # INSERT the creator's admin membership, INSERT project_created
    "project_create": 6,
    "project_get": 1,  # access, with the counters row and the people
    # SELECT the project FOR NO KEY UPDATE, UPDATE it, UPDATE counters RETURNING, INSERT project_updated
    "project_update": 4,
    # SELECT the project FOR NO KEY UPDATE, INSERT project_deleted, SELECT the unread notifications about it, SELECT
    # their recipients' counter rows FOR UPDATE, UPDATE those counts (one statement), DELETE (DB_CASCADE)
    "project_delete": 6,
    "project_archive": 4,  # as project_update
    "project_restore": 4,  # as project_update
    # SELECT the project FOR NO KEY UPDATE, SELECT its counters FOR UPDATE (the derived status under the lock),
    # UPDATE the project, UPDATE counters RETURNING, INSERT the events
    "project_override_set": 5,
    "project_override_clear": 5,
    # access (counters: counts and as_of_seq), SELECT the columns, SELECT the first cards of every column (one
    # statement), SELECT the members with their users
    "board_get": 4,
    "event_list": 3,  # access (latest seq), SELECT the oldest seq kept, SELECT the page of events
    "project_member_list": 2,  # access, SELECT the page of members with their users
    # SELECT the project FOR NO KEY UPDATE, SELECT the user's workspace role (owners and editors only),
    # SELECT already a member?, INSERT the membership, UPDATE counters RETURNING, INSERT member_added, and the
    # notification: one statement on PostgreSQL (notifications.queries.NOTIFY), two on SQLite
    "project_member_add": {"postgresql": 7, "sqlite": 8},
    # SELECT the project FOR NO KEY UPDATE, SELECT the member, UPDATE the role (or DELETE the membership),
    # UPDATE counters RETURNING, INSERT the event (the last admin is not touched: no count of admins)
    "project_member_update": 5,
    "project_member_remove": 5,
    "status_list": 2,  # access, SELECT the columns
    # SELECT the project FOR NO KEY UPDATE, SELECT the last position, INSERT the column, UPDATE counters
    # RETURNING, INSERT status_created
    "status_create": 5,
    # SELECT the column and its project FOR NO KEY UPDATE, UPDATE the name, SELECT the columns, UPDATE their
    # positions (one statement), UPDATE counters RETURNING, INSERT status_updated
    "status_update": 6,
    # SELECT the column and its project FOR NO KEY UPDATE, COUNT its live tasks, SELECT the target column, COUNT
    # the project's columns, UPDATE the moved tasks, DELETE the column, UPDATE counters RETURNING, INSERT the events
    "status_delete": 8,
    "task_list": 2,  # access, SELECT the page of cards (literal on PostgreSQL)
    "task_list_column": 2,  # access, SELECT one column's page of cards
    "task_list_filtered": 2,  # access, SELECT the filtered page on the ORM
    # SELECT the column + project + roles + last rank, UPDATE counters RETURNING (number, seq, counts),
    # INSERT the task, INSERT the events
    "task_create": 4,
    # as task_create, and SELECT the assignee's workspace role, and the assignee's notification (NOTIFY; SQLite:
    # number the notification, INSERT it)
    "task_create_assigned": {"postgresql": 6, "sqlite": 7},
    # SELECT the task FOR NO KEY UPDATE (+ roles, target column, ranks, parent), UPDATE the task,
    # UPDATE counters RETURNING, INSERT the events
    "task_get": 1,  # access: the task with its project, column, people and the caller's roles
    "task_update": 4,
    "task_update_assignee": {"postgresql": 6, "sqlite": 7},  # as task_update, the assignee's role, the notification
    "task_update_status": 4,
    "task_move": 4,
    "task_move_column": 4,
    "task_delete": 4,  # SELECT the task FOR NO KEY UPDATE, DELETE it, UPDATE counters RETURNING, INSERT the events
    "task_archive": 4,
    "task_restore": 4,
    "my_task_list": 1,  # SELECT the page of cards assigned to the caller, with the workspace role check
    "comment_list": 2,  # access to the task, SELECT the page of comments with their authors
    # access to the task, SELECT who of the assignee and reporter may be notified, INSERT the comment, UPDATE counters
    # RETURNING, INSERT the event, and the assignee's comment_added notification (NOTIFY; SQLite: two)
    "comment_create": {"postgresql": 6, "sqlite": 7},
    # the same: mentioning two people (one of them the author) notifies one, however many are mentioned
    "comment_create_mentioning": {"postgresql": 6, "sqlite": 7},
    # SELECT the comment FOR NO KEY UPDATE (+ task, project, role), UPDATE (or DELETE) it, UPDATE counters
    # RETURNING, INSERT the event
    "comment_update": 4,
    "comment_delete": 4,
    "presence_list": 1,  # access (the presence itself is in Redis, or in this process)
    "task_activity": 2,  # access to the task, SELECT the page of its events (the log's per-task index)
    # access to the task, SELECT its checklists, SELECT their items with who ticked them
    "checklist_list": 3,
    # SELECT the task FOR NO KEY UPDATE (+ roles, the checklists' count and last rank; or the checklist or item
    # with its task locked, the roles and the ranks around the new place), the row's write and the task's counts
    # in one statement (tasks.queries; SQLite: the row, then UPDATE the task RETURNING the counts), UPDATE counters
    # RETURNING, INSERT the event
    "checklist_create": {"postgresql": 4, "sqlite": 5},
    "checklist_update": {"postgresql": 4, "sqlite": 5},
    "checklist_delete": {"postgresql": 4, "sqlite": 5},  # the items go in the database (DB_CASCADE)
    "checklist_item_create": {"postgresql": 4, "sqlite": 5},
    "checklist_item_update": {"postgresql": 4, "sqlite": 5},
    "checklist_item_update_move": {"postgresql": 4, "sqlite": 5},
    "checklist_item_update_reorder": {"postgresql": 4, "sqlite": 5},
    "checklist_item_delete": {"postgresql": 4, "sqlite": 5},
    # SELECT the workspace FOR NO KEY UPDATE, SELECT the user by email (none), UPDATE expired pending invitations
    # of the address, INSERT the invitation
    "invitation_create": 4,
    # as above, and SELECT already a member? (the address has an account), and the invitee's notification
    "invitation_create_to_an_account": {"postgresql": 6, "sqlite": 7},
    "invitation_list": 2,  # access to the workspace, SELECT the page of invitations with workspace and inviter
    "my_invitation_list": 1,  # SELECT the page of pending invitations to the caller's email
    # SELECT the invitation FOR NO KEY UPDATE, SELECT already a member?, UPDATE it, INSERT the membership, INSERT
    # member_added, SELECT is the inviter still a member?, the inviter's notification, access to the workspace
    "invitation_accept": {"postgresql": 8, "sqlite": 9},
    # SELECT the invitation FOR NO KEY UPDATE, UPDATE it, SELECT is the inviter still a member?, the notification
    "invitation_decline": {"postgresql": 4, "sqlite": 5},
    "invitation_cancel": 2,  # SELECT the invitation FOR NO KEY UPDATE with the caller's role, UPDATE it
    "notification_list": 2,  # SELECT the page with the actors, SELECT the counter row (unread)
    "notification_list_unread": 2,
    "notification_count": 1,  # SELECT the counter row
    # SELECT the counter row FOR UPDATE (every seq up to its last_seq has committed), UPDATE the unread ones,
    # UPDATE the counter row
    "notification_read_all": 3,
    # SELECT the notification FOR UPDATE, UPDATE it, UPDATE the counter row RETURNING
    "notification_read": 3,
    "notification_unread": 3,
    "notification_delete": 3,  # SELECT it FOR UPDATE, DELETE it, UPDATE the counter row RETURNING (it was unread)
}


def test_every_operation_of_the_api_has_a_case():
    from tests.api.conftest import ENDPOINTS

    operations = set(CASES)
    assert set(EXPECTED) == operations
    assert len({(method, path) for method, path in ENDPOINTS}) == len(ENDPOINTS)
    # One case per operation at least (some operations have several: a filter, a column, an assignee).
    from taskhub.api import api

    ids = {op["operationId"] for methods in api.get_openapi_schema()["paths"].values() for op in methods.values()}
    assert ids <= operations, sorted(ids - operations)


@pytest.mark.parametrize("case", list(CASES))
def test_the_query_count_is_exact_and_does_not_grow(world, case, assert_num_queries):
    method, path, body, status = CASES[case](world)
    run_commit_hooks()
    with assert_num_queries(EXPECTED[case]):
        reply = world.caller.request(method, path, body) if body is not None else world.caller.request(method, path)
    assert reply.status == status, reply
