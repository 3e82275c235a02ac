"""Authorisation sweep: every operation of the API, and the WebSocket subscribe, with every actor.

The operations come from the app's own OpenAPI schema, not from a list kept
here, and the URL conf is checked against the schema, so a new route is swept
as soon as it exists: until :data:`RULES` states who may call it (from API.md),
:func:`test_every_operation_in_the_schema_has_a_rule` fails.

Actors (API.md "Roles"): ``owner``; ``project_admin`` (workspace editor and
project admin); ``editor`` (workspace editor and project member);
``editor_outside`` (workspace editor, not in the project); ``viewer``;
``outsider`` (owner of another workspace); ``anonymous``.

Each actor sends every case three ways:

- *main*: ids of our workspace. Expected: 2xx for the actors the rule
  allows, 403 for members who may see but not change, 404 for the outsider,
  401 for anonymous.
- *foreign*: every id from the other workspace (which mirrors ours). Every
  actor but the outsider gets 404.
- *mixed*: one id from the other workspace, the rest ours (a project's
  member with another workspace's user, a task moved to another project's
  status). Never applied: 404 or 422 (a read may answer 2xx but show nothing
  of the other workspace).

And on every answer:

- a thing the caller may not see is indistinguishable from one that does
  not exist: the same request with those ids replaced by random UUIDs gets
  the same status and code;
- a 2xx body holds no id of a workspace the caller is not in;
- a refused write leaves every domain row as it was.

Each request runs in a savepoint that is rolled back afterwards, so every
case meets the same pristine data (a DELETE does not starve the next case)
and the whole matrix costs one set-up per actor. The ``on_commit`` callbacks
registered inside are discarded with the savepoint, as after a real rollback.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.apps import apps
from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.test import Client
from django.urls import URLResolver, get_resolver

from accounts import services as account_services
from notifications.models import Notification
from projects import services as project_services
from projects.models import ProjectMember, Status, WorkspaceMember
from tasks import services as task_services
from tests import factories

API = "/api/v1"
OK = "2xx"

ACTORS = ("owner", "project_admin", "editor", "editor_outside", "viewer", "outsider", "anonymous")
MEMBERS = frozenset({"owner", "project_admin", "editor", "editor_outside", "viewer"})
WRITERS = MEMBERS - {"viewer"}  # workspace owners and editors
PROJECT_ADMINS = frozenset({"owner", "project_admin"})
PROJECT_MEMBERS = frozenset({"owner", "project_admin", "editor"})
OWNER = frozenset({"owner"})
SIGNED_IN = MEMBERS | {"outsider"}

# The tables a refused request must leave alone (API tokens are not among them: signing in writes one).
DOMAIN_MODELS = (
    "accounts.User", "projects.Workspace", "projects.WorkspaceMember", "projects.Project",
    "projects.ProjectMember", "projects.Status", "projects.ProjectCounters", "tasks.Task", "tasks.Comment",
    "realtime.Event", "projects.Invitation", "notifications.Notification", "notifications.NotificationCounter",
)


# --- the rules of API.md -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """Who may call an operation.

    ``scope``: ``"public"`` (no credentials needed), ``"account"`` (any
    signed-in user, about their own account), or ``"workspace"`` (the ids
    name things of a workspace: a non-member gets 404, a member outside
    ``allowed`` gets 403). ``special`` overrides the answer for one actor.
    """

    allowed: frozenset
    scope: str = "workspace"
    special: dict = field(default_factory=dict)

    def expect(self, actor: str) -> frozenset:
        if actor in self.special:
            return frozenset(self.special[actor])
        if self.scope == "public":
            return frozenset({OK})
        if actor == "anonymous":
            return frozenset({401})
        if actor in self.allowed:
            return frozenset({OK})
        if self.scope == "workspace" and actor not in MEMBERS:
            return frozenset({404})
        return frozenset({403})


PUBLIC = Rule(frozenset(ACTORS), scope="public")
ACCOUNT = Rule(SIGNED_IN, scope="account")


def only(*actors: str) -> Rule:
    """A thing of one person (a notification, an invitation): theirs to act on; anyone else gets 404."""
    return Rule(frozenset(actors), scope="account", special={a: {404} for a in SIGNED_IN - set(actors)})


def see(allowed=MEMBERS, **special) -> Rule:
    return Rule(frozenset(allowed), special=special)


@dataclass(frozen=True)
class Ref:
    """The id of a thing of the world the request draws from (ours, or the other workspace's)."""

    key: str


@dataclass(frozen=True)
class Email:
    """An email address: ``"self"`` is the actor's own (a user in no workspace for anonymous)."""

    key: str


@dataclass(frozen=True)
class Case:
    name: str
    rule: Rule
    ids: dict = field(default_factory=dict)  # path parameter -> world key, or "self" for the actor's id
    body: dict | None = None
    query: dict = field(default_factory=dict)

    def path_key(self, param: str) -> str | None:
        return self.ids.get(param, DEFAULT_PATH_KEYS.get(param))

    def slots(self, operation: Operation) -> list[tuple[tuple[str, str], str]]:
        """Every id this case sends that names a thing of a workspace: ((where, name), world key)."""
        found = [(("path", p), self.path_key(p)) for p in operation.path_params if self.path_key(p) != "self"]
        found += [(("body", k), v.key) for k, v in (self.body or {}).items() if isinstance(v, Ref)]
        found += [(("query", k), v.key) for k, v in self.query.items() if isinstance(v, Ref)]
        return found


# Path parameters filled without being named in a case.
DEFAULT_PATH_KEYS = {
    "workspace_id": "workspace", "project_id": "project", "task_id": "task", "comment_id": "comment",
    "status_id": "review_status", "notification_id": "notification", "invitation_id": "invitation",
    "checklist_id": "checklist", "item_id": "checklist_item",
}

TASK_FIELDS = {"status_id": Ref("review_status"), "assignee_id": Ref("bystander")}

# (method, path under /api/v1) -> the cases sent to it. Every operation of the schema needs an entry.
RULES: dict[tuple[str, str], list[Case]] = {
    # auth, health, realtime
    ("POST", "/auth/register"): [
        Case("register", PUBLIC, body={"email": "sweep-new@example.com", "password": "a-long-password-9"})],
    ("POST", "/auth/token"): [Case("sign_in", PUBLIC, body={"email": Email("self"), "password": factories.PASSWORD})],
    ("DELETE", "/auth/token"): [Case("sign_out", ACCOUNT)],
    ("GET", "/auth/me"): [Case("me", ACCOUNT)],
    ("GET", "/health"): [Case("health", PUBLIC)],
    ("POST", "/realtime/ticket"): [Case("ticket", ACCOUNT)],
    # workspaces
    ("GET", "/workspaces"): [Case("list", ACCOUNT)],
    ("POST", "/workspaces"): [Case("create", ACCOUNT, body={"name": "Mine"})],
    ("GET", "/workspaces/{workspace_id}"): [Case("get", see())],
    ("PATCH", "/workspaces/{workspace_id}"): [Case("update", see(OWNER), body={"name": "Renamed"})],
    ("DELETE", "/workspaces/{workspace_id}"): [Case("delete", see(OWNER))],
    ("GET", "/workspaces/{workspace_id}/members"): [Case("list", see())],
    ("POST", "/workspaces/{workspace_id}/members"): [
        Case(f"add_{role}", see(allowed), body={"email": Email("newcomer"), "role": role})
        for role, allowed in (("viewer", WRITERS), ("editor", WRITERS), ("owner", OWNER))
    ],
    ("PATCH", "/workspaces/{workspace_id}/members/{user_id}"): [
        Case("change_other", see(OWNER), ids={"user_id": "bystander"}, body={"role": "viewer"}),
        # Promoting oneself is the escalation to watch for; the owner already is one.
        Case("promote_self", see(OWNER, owner={OK, 409}), ids={"user_id": "self"}, body={"role": "owner"}),
    ],
    ("DELETE", "/workspaces/{workspace_id}/members/{user_id}"): [
        Case("remove_other", see(OWNER), ids={"user_id": "bystander"}),
        # Anyone may leave, but the last owner may not (409).
        Case("leave", see(MEMBERS, owner={409}), ids={"user_id": "self"}),
    ],
    # projects
    ("GET", "/workspaces/{workspace_id}/projects"): [Case("list", see(), query={"archived": "false"})],
    ("POST", "/workspaces/{workspace_id}/projects"): [Case("create", see(WRITERS), body={"name": "N", "key": "NEW"})],
    ("GET", "/projects/{project_id}"): [
        Case("get", see()), Case("get_archived", see(), ids={"project_id": "archived_project"})],
    ("PATCH", "/projects/{project_id}"): [
        Case("update", see(WRITERS), body={"name": "Renamed", "lead_id": Ref("bystander")})],
    ("DELETE", "/projects/{project_id}"): [Case("delete", see(PROJECT_ADMINS))],
    ("POST", "/projects/{project_id}/archive"): [Case("archive", see(PROJECT_ADMINS))],
    ("POST", "/projects/{project_id}/restore"): [
        Case("restore", see(PROJECT_ADMINS), ids={"project_id": "archived_project"})],
    ("PUT", "/projects/{project_id}/status-override"): [
        Case("set", see(OWNER), body={"status": "done", "reason": "Shipped"})],
    ("DELETE", "/projects/{project_id}/status-override"): [Case("clear", see(OWNER))],
    ("GET", "/projects/{project_id}/board"): [Case("board", see())],
    ("GET", "/projects/{project_id}/events"): [Case("events", see(), query={"since": "0"})],
    ("GET", "/projects/{project_id}/members"): [Case("list", see())],
    ("POST", "/projects/{project_id}/members"): [
        Case("add", see(PROJECT_ADMINS), body={"user_id": Ref("candidate"), "role": "member"})],
    ("PATCH", "/projects/{project_id}/members/{user_id}"): [
        Case("change_other", see(PROJECT_ADMINS), ids={"user_id": "bystander"}, body={"role": "admin"}),
        # Not in the project at all: "you may not" (403) or "no such member" (404) both reveal nothing
        # these users cannot already read from the member list.
        Case("promote_self", see(PROJECT_ADMINS, editor_outside={403, 404}, viewer={403, 404}),
             ids={"user_id": "self"}, body={"role": "admin"}),
    ],
    ("DELETE", "/projects/{project_id}/members/{user_id}"): [
        Case("remove_other", see(PROJECT_ADMINS), ids={"user_id": "bystander"})],
    # statuses
    ("GET", "/projects/{project_id}/statuses"): [Case("list", see())],
    ("POST", "/projects/{project_id}/statuses"): [
        Case("create", see(PROJECT_MEMBERS), body={"name": "QA", "group": "review"})],
    ("PATCH", "/statuses/{status_id}"): [Case("update", see(PROJECT_MEMBERS), body={"name": "Checking"})],
    ("DELETE", "/statuses/{status_id}"): [
        Case("delete", see(PROJECT_MEMBERS), ids={"status_id": "issue_status"},
             query={"move_to": Ref("todo_status")})],
    # tasks
    ("GET", "/projects/{project_id}/tasks"): [
        Case("list", see()),
        Case("filtered", see(), query={"status": Ref("review_status"), "assignee": Ref("bystander")}),
    ],
    ("POST", "/projects/{project_id}/tasks"): [
        Case("create", see(PROJECT_MEMBERS), body={"title": "New", **TASK_FIELDS, "parent_id": Ref("task")})],
    ("GET", "/tasks/{task_id}"): [Case("get", see()), Case("get_archived", see(), ids={"task_id": "archived_task"})],
    ("PATCH", "/tasks/{task_id}"): [
        Case("update", see(PROJECT_MEMBERS),
             body={"title": "Changed", **TASK_FIELDS, "parent_id": Ref("review_task")})],
    ("DELETE", "/tasks/{task_id}"): [Case("delete", see(PROJECT_MEMBERS))],
    ("POST", "/tasks/{task_id}/move"): [
        Case("after", see(PROJECT_MEMBERS), body={"status_id": Ref("review_status"), "after_id": Ref("review_task")}),
        Case("before", see(PROJECT_MEMBERS), body={"status_id": Ref("review_status"), "before_id": Ref("review_task")}),
    ],
    ("POST", "/tasks/{task_id}/archive"): [Case("archive", see(PROJECT_MEMBERS))],
    ("POST", "/tasks/{task_id}/restore"): [
        Case("restore", see(PROJECT_MEMBERS), ids={"task_id": "archived_task"})],
    ("GET", "/me/tasks"): [Case("mine", ACCOUNT)],
    # comments: "PATCH / DELETE /comments/{id} (author only)"
    ("GET", "/tasks/{task_id}/comments"): [Case("list", see())],
    ("POST", "/tasks/{task_id}/comments"): [Case("create", see(), body={"body": "Me too"})],
    ("PATCH", "/comments/{comment_id}"): [
        Case("owners_comment", see(OWNER), body={"body": "Edited"}),
        Case("viewers_comment", see({"viewer"}), ids={"comment_id": "viewer_comment"}, body={"body": "Edited"}),
    ],
    ("DELETE", "/comments/{comment_id}"): [
        Case("owners_comment", see(OWNER)),
        Case("viewers_comment", see({"viewer"}), ids={"comment_id": "viewer_comment"}),
    ],
    ("GET", "/projects/{project_id}/presence"): [
        Case("presence", see()), Case("presence_archived", see(), ids={"project_id": "archived_project"})],
    ("GET", "/tasks/{task_id}/activity"): [
        Case("activity", see()), Case("activity_archived", see(), ids={"task_id": "archived_task"})],
    # checklists: reading follows task reading, writing follows task editing
    ("GET", "/tasks/{task_id}/checklists"): [
        Case("list", see()), Case("list_archived", see(), ids={"task_id": "archived_task"})],
    ("POST", "/tasks/{task_id}/checklists"): [Case("create", see(PROJECT_MEMBERS), body={"title": "New"})],
    ("PATCH", "/checklists/{checklist_id}"): [
        Case("update", see(PROJECT_MEMBERS), body={"title": "Renamed", "position": 1})],
    ("DELETE", "/checklists/{checklist_id}"): [Case("delete", see(PROJECT_MEMBERS))],
    ("POST", "/checklists/{checklist_id}/items"): [Case("create", see(PROJECT_MEMBERS), body={"text": "More"})],
    ("PATCH", "/checklist-items/{item_id}"): [
        Case("tick", see(PROJECT_MEMBERS), body={"done": True, "text": "Ticked"}),
        Case("move", see(PROJECT_MEMBERS), body={"checklist_id": Ref("other_checklist"), "position": 0}),
    ],
    ("DELETE", "/checklist-items/{item_id}"): [Case("delete", see(PROJECT_MEMBERS))],
    # invitations: owners invite any role, editors viewers and editors; only the invitee answers; the inviter or an
    # owner cancels; "Anyone else gets 404"
    ("POST", "/workspaces/{workspace_id}/invitations"): [
        Case(f"invite_{role}", see(allowed), body={"email": "invitee-new@example.com", "role": role})
        for role, allowed in (("viewer", WRITERS), ("editor", WRITERS), ("owner", OWNER))
    ],
    ("GET", "/workspaces/{workspace_id}/invitations"): [Case("list", see(WRITERS), query={"status": "pending"})],
    ("GET", "/me/invitations"): [Case("mine", ACCOUNT)],
    # The world's invitation is addressed to an account-less email: no actor is its invitee.
    ("POST", "/invitations/{invitation_id}/accept"): [Case("accept", only())],
    ("POST", "/invitations/{invitation_id}/decline"): [Case("decline", only())],
    ("DELETE", "/invitations/{invitation_id}"): [Case("cancel", only("owner"))],
    # notifications: the caller's own only
    ("GET", "/notifications"): [Case("list", ACCOUNT), Case("unread", ACCOUNT, query={"unread": "true"})],
    ("GET", "/notifications/count"): [Case("count", ACCOUNT)],
    ("POST", "/notifications/read-all"): [Case("read_all", ACCOUNT, body={})],
    ("POST", "/notifications/{notification_id}/read"): [Case("read", only("owner"))],
    ("POST", "/notifications/{notification_id}/unread"): [Case("unread", only("owner"))],
    ("DELETE", "/notifications/{notification_id}"): [Case("delete", only("owner"))],
}

# Routes in the URL conf that are not operations of the schema, each with the reason it is not swept.
# A route missing from both the schema and this table fails the sweep.
KNOWN_ROUTES = {
    "/admin/": "Django admin: staff only; test_sweep checks that no actor (none is staff) gets in",
    "/metrics": "Prometheus text (API.md, GET /metrics): no data of any workspace; a setting restricts it",
    API + "/openapi.json": "the schema this sweep reads: describes the API, holds no data",
    API + "/docs": "the Swagger page of that schema",
    API + "/": "ninja's root of the API, no data",
    "/bench/floor/{project_id}/{status_id}": "benchmark baseline, mounted only with TASKHUB_BENCH_FLOOR=1",
    # The browser client (web/): pages that hold no data; their modules read everything through
    # the API, which this sweep covers. tests/web/test_views.py checks them.
    "/": "the client's page shell (login required)",
    "/p/{project_id}/": "the same shell, on a board's address",
    "/p/{project_id}/t/{task_id}/": "the same shell, on a card's address",
    "/login/": "Django's session login",
    "/logout/": "Django's session logout (POST)",
    "/register/": "the sign-up form, which posts to POST /auth/register",
}
KNOWN_WEBSOCKET_ROUTES = {"ws/": "the board socket: test_websocket_subscribe_sweep"}


# --- the schema --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # under /api/v1
    path_params: tuple[str, ...]
    id_fields: tuple[tuple[str, str], ...]  # ("body" or "query", name) of every UUID-typed input

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path


def _resolve(schema: dict, components: dict) -> dict:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _is_uuid(schema: dict, components: dict) -> bool:
    schema = _resolve(schema, components)
    return schema.get("format") == "uuid" or any(_is_uuid(s, components) for s in schema.get("anyOf", ()))


def schema_operations() -> list[Operation]:
    from taskhub.api import api

    schema = api.get_openapi_schema()
    components = schema.get("components", {}).get("schemas", {})
    operations = []
    for full_path, methods in schema["paths"].items():
        assert full_path.startswith(API + "/"), full_path
        for method, spec in methods.items():
            params = spec.get("parameters", [])
            ids = [("query", p["name"]) for p in params if p["in"] == "query" and _is_uuid(p["schema"], components)]
            body = spec.get("requestBody")
            if body:
                body_schema = _resolve(body["content"]["application/json"]["schema"], components)
                ids += [("body", name) for name, prop in body_schema.get("properties", {}).items()
                        if _is_uuid(prop, components)]
            operations.append(Operation(method.upper(), full_path.removeprefix(API),
                                        tuple(p["name"] for p in params if p["in"] == "path"), tuple(ids)))
    return operations


def test_every_operation_in_the_schema_has_a_rule():
    operations = {op.key for op in schema_operations()}
    missing = sorted(operations - set(RULES))
    stale = sorted(set(RULES) - operations)
    assert not missing, (
        "operations with no authorisation rule: add each to RULES in tests/security/test_authz_sweep.py "
        f"with who may call it per API.md: {missing}")
    assert not stale, f"RULES names operations the schema no longer has: {stale}"


def test_every_path_parameter_and_id_field_is_swept():
    """Each path parameter gets a value, and each UUID input is sent at least once with another workspace's id."""
    problems = []
    for op in schema_operations():
        cases = RULES.get(op.key, [])
        for case in cases:
            problems += [f"{op.method} {op.path} [{case.name}]: no value for path parameter {p!r} "
                         "(name a world key in Case.ids)" for p in op.path_params if case.path_key(p) is None]
        sent = {slot for case in cases for slot, _ in case.slots(op)}
        problems += [f"{op.method} {op.path}: no case sends an id in {where} field {name!r} "
                     "(add a Ref to a case's body/query)" for where, name in op.id_fields if (where, name) not in sent]
    assert not problems, "\n".join(problems)


def _routes(patterns, prefix: str = ""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        else:
            yield "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def test_every_route_in_the_url_conf_is_in_the_schema_or_known():
    in_schema = {API + op.path for op in schema_operations()}
    unknown = sorted({
        route for route in _routes(get_resolver().url_patterns)
        if route not in in_schema and route not in KNOWN_ROUTES
        and not any(known.endswith("/") and known not in (API + "/", "/") and route.startswith(known)
                    for known in KNOWN_ROUTES)
    })
    assert not unknown, (
        "routes outside the API schema that the sweep does not know: mount them on the NinjaAPI, "
        f"or add them to KNOWN_ROUTES with the reason they need no sweep: {unknown}")


def test_every_websocket_route_is_known():
    from realtime.routing import websocket_urlpatterns

    unknown = sorted(str(p.pattern) for p in websocket_urlpatterns if str(p.pattern) not in KNOWN_WEBSOCKET_ROUTES)
    assert not unknown, f"WebSocket routes the sweep does not cover: {unknown}"


# --- the data ---------------------------------------------------------------------------------------------


@dataclass
class World:
    """One workspace with one thing of every kind the rules name, and the ids a foreigner must never see."""

    things: dict
    emails: dict
    ids: set


def _join(workspace, project, owner, user, ws_role: str, project_role: str | None) -> None:
    if not WorkspaceMember.objects.filter(workspace=workspace, user=user).exists():
        project_services.workspace_member_add(workspace_id=workspace.pk, actor=owner, email=user.email, role=ws_role)
    if project_role and not ProjectMember.objects.filter(project=project, user=user).exists():
        project_services.project_member_add(project_id=project.pk, actor=owner, user_id=user.pk, role=project_role)


def build_world(tag: str, workspace, project, owner, people: dict) -> World:
    """Give ``workspace`` the shape the rules expect; ``people`` maps the actor roles to users.

    Both worlds are built by this one function, so "the other workspace" is
    a true mirror of ours and a foreign id is never refused merely for
    naming a thing that does not exist there.
    """
    bystander = factories.user(f"bystander-{tag}@example.com", "Bea Bystander")  # editor, project member
    candidate = factories.user(f"candidate-{tag}@example.com", "Cal Candidate")  # editor, not in the project
    newcomer = factories.user(f"newcomer-{tag}@example.com", "Ned Newcomer")  # in no workspace
    for user, ws_role, project_role in (
        (people["project_admin"], "editor", "admin"), (people["editor"], "editor", "member"),
        (people["editor_outside"], "editor", None), (people["viewer"], "viewer", None),
        (bystander, "editor", "member"), (candidate, "editor", None),
    ):
        _join(workspace, project, owner, user, ws_role, project_role)
    archived_project = factories.project(workspace, owner, key="ARC", members=[people["editor"]],
                                         admins=[people["project_admin"]])
    project_services.project_archive(project_id=archived_project.pk, user=owner)
    statuses = {s.group: s for s in Status.objects.filter(project=project)}
    task = factories.task(project, owner, title="Visible")
    review_task = factories.task(project, owner, title="In review", status_id=statuses["review"].pk,
                                 assignee_id=bystander.pk)
    factories.task(project, owner, title="An issue", status_id=statuses["issue"].pk)
    archived_task = factories.task(project, owner, title="Archived")
    task_services.task_archive(task_id=archived_task.pk, user=owner)
    comment = task_services.comment_create(task_id=task.pk, user=owner, body="By the owner")
    # The viewer mentions the owner: the owner's notification.
    viewer_comment = task_services.comment_create(task_id=task.pk, user=people["viewer"],
                                                  body=f"By the viewer, for <@{owner.pk}>")
    notification = Notification.objects.get(user=owner, comment_id=viewer_comment.pk)
    checklist = task_services.checklist_create(task_id=task.pk, user=owner, title="Steps")
    checklist_item = task_services.checklist_item_create(checklist_id=checklist.pk, user=owner, text="First")
    other_checklist = task_services.checklist_create(task_id=task.pk, user=owner, title="Other")
    invitation = project_services.invitation_create(workspace_id=workspace.pk, actor=owner,
                                                    email=f"invitee-{tag}@example.com", role="editor")
    things = {
        "workspace": workspace, "project": project, "archived_project": archived_project, "task": task,
        "review_task": review_task, "archived_task": archived_task, "comment": comment,
        "viewer_comment": viewer_comment, "todo_status": statuses["todo"], "review_status": statuses["review"],
        "issue_status": statuses["issue"], "bystander": bystander, "candidate": candidate,
        "notification": notification, "invitation": invitation, "checklist": checklist,
        "checklist_item": checklist_item, "other_checklist": other_checklist,
    }
    ids = {str(workspace.pk)}
    for model, lookup in (("projects.Project", "workspace"), ("projects.Status", "project__workspace"),
                          ("tasks.Task", "project__workspace"), ("tasks.Comment", "task__project__workspace"),
                          ("tasks.Checklist", "task__project__workspace"),
                          ("tasks.ChecklistItem", "checklist__task__project__workspace")):
        rows = apps.get_model(model).objects.filter(**{lookup: workspace})
        ids |= {str(pk) for pk in rows.values_list("pk", flat=True)}
    ids |= {str(pk) for pk in WorkspaceMember.objects.filter(workspace=workspace).values_list("user_id", flat=True)}
    return World(things=things, emails={"newcomer": newcomer.email}, ids=ids)


@pytest.fixture
def worlds(owner, editor, editor_outside, viewer, outsider, workspace, project, other_workspace, other_project):
    """Our workspace (the actors') and the outsider's, built alike; and every actor's user."""
    project_admin = factories.user("admin@example.com", "Ada Admin")
    users = {"owner": owner, "project_admin": project_admin, "editor": editor, "editor_outside": editor_outside,
             "viewer": viewer, "outsider": outsider, "anonymous": None}
    ours = build_world("ours", workspace, project, owner, users)
    theirs = build_world("theirs", other_workspace, other_project, outsider, {
        role: factories.user(f"{role}-theirs@example.com", role) for role in
        ("project_admin", "editor", "editor_outside", "viewer")})
    return ours, theirs, users


# --- the sweep ---------------------------------------------------------------------------------------------


class _Rollback(Exception):
    pass


def _rows() -> dict:
    return {label: list(apps.get_model(label).objects.order_by("pk").values_list()) for label in DOMAIN_MODELS}


def _matches(status: int, expected: frozenset) -> bool:
    return status in expected or (OK in expected and 200 <= status < 300)


def _code(content: bytes) -> str | None:
    """The ``code`` of an API.md error body, if the body is one."""
    try:
        payload = json.loads(content) if content else None
    except ValueError:
        return None
    return payload.get("code") if isinstance(payload, dict) else None


def _show(expected: frozenset) -> str:
    return "/".join(sorted(str(e) for e in expected))


@dataclass
class Sweep:
    """One actor's pass over every case, collecting violations instead of stopping at the first."""

    actor: str
    user: object
    token: str | None
    ours: World
    theirs: World
    loner_email: str
    pristine: dict
    client: Client = field(default_factory=lambda: Client(raise_request_exception=False))
    violations: list = field(default_factory=list)
    checks: int = 0

    def fill(self, op: Operation, case: Case, source: dict, ghosts: set) -> tuple[str, dict | None]:
        """The URL and body of ``case``: each slot's id drawn from ``source[slot]``, ghosts random."""

        def value(slot, key):
            if slot in ghosts:
                return str(uuid.uuid4())
            return str(source[slot].things[key].pk)

        path = op.path
        for param in op.path_params:
            key = case.path_key(param)
            ident = str(self.user.pk if self.user else uuid.uuid4()) if key == "self" else value(("path", param), key)
            path = path.replace("{" + param + "}", ident)

        def resolve(where, name, raw):
            if isinstance(raw, Ref):
                return value((where, name), raw.key)
            if isinstance(raw, Email):
                if raw.key == "self":
                    return self.user.email if self.user else self.loner_email
                return self.ours.emails[raw.key]
            return raw

        query = {name: resolve("query", name, raw) for name, raw in case.query.items()}
        body = None if case.body is None else {name: resolve("body", name, raw) for name, raw in case.body.items()}
        return API + path + ("?" + urlencode(query) if query else ""), body

    def send(self, method: str, url: str, body: dict | None, check_rows: bool):
        """Send one request inside a savepoint that is rolled back: the next one meets the same data."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        changed = None
        try:
            with transaction.atomic():
                response = self.client.generic(method, url, "" if body is None else json.dumps(body),
                                               content_type="application/json", headers=headers)
                if check_rows:
                    try:
                        after = _rows()
                    except DatabaseError as exc:  # the request left the transaction broken
                        changed = f"database unusable after the request: {exc}"
                    else:
                        changed = [label for label, rows in after.items() if rows != self.pristine[label]]
                raise _Rollback
        except _Rollback:
            pass
        # Caches filled inside the savepoint may describe rows that are gone now; rate limits reset too.
        cache.clear()
        return response, changed

    def check(self, op: Operation, case: Case, mode: str, source: dict, hidden: set, expected: frozenset):
        self.checks += 1
        url, body = self.fill(op, case, source, ghosts=set())
        # A refused write must leave no trace (reads are not compared: they cost a third of the run).
        response, changed = self.send(op.method, url, body, check_rows=op.method != "GET")
        status = response.status_code
        label = f"{self.actor:<14} {op.method:<6} {op.path} [{case.name}, {mode}]"
        try:
            payload = json.loads(response.content) if response.content else None
        except ValueError:
            payload = None
        if not _matches(status, expected):
            self.violations.append(f"{label}: expected {_show(expected)}, got {status} {response.content[:300]!r}")
        success = 200 <= status < 300
        if changed and not success:
            self.violations.append(f"{label}: answered {status} but changed {changed}")
        if success:
            leak = self.leaked_ids(response.content)
            if leak:
                self.violations.append(f"{label}: the {status} answer shows ids of a workspace the caller is "
                                       f"not in: {sorted(leak)[:5]}")
        elif payload is not None and not (isinstance(payload, dict) and payload.get("code")):
            self.violations.append(f"{label}: error {status} without the API.md error shape: {payload!r:.200}")
        if hidden and self.user is not None:
            # Never reveal existence: hidden things must answer like things that do not exist.
            ghost_url, ghost_body = self.fill(op, case, source, ghosts=hidden)
            ghost, _ = self.send(op.method, ghost_url, ghost_body, check_rows=False)
            ghost_code, code = _code(ghost.content), _code(response.content)
            if (ghost.status_code, ghost_code) != (status, code):
                self.violations.append(
                    f"{label}: answers {status}/{code} for another workspace's {sorted(n for _, n in hidden)} but "
                    f"{ghost.status_code}/{ghost_code} for ids that do not exist (reveals existence)")

    def leaked_ids(self, content: bytes) -> set:
        text = content.decode("utf-8", "replace")
        foreign = self.theirs.ids if self.actor != "outsider" else self.ours.ids
        if self.actor == "anonymous":
            foreign = self.ours.ids | self.theirs.ids
        return {ident for ident in foreign if ident in text}

    def run(self, operations: list[Operation]) -> None:
        for op in operations:
            cases = RULES.get(op.key)
            if cases is None:
                self.violations.append(f"{op.method} {op.path}: no rule (see test_every_operation_in_the_schema_has"
                                       "_a_rule)")
                continue
            for case in cases:
                self.run_case(op, case)

    def run_case(self, op: Operation, case: Case) -> None:
        if any(case.path_key(p) is None for p in op.path_params):
            self.violations.append(f"{op.method} {op.path} [{case.name}]: no value for a path parameter")
            return
        slots = case.slots(op)
        names = {slot for slot, _ in slots}
        expected = case.rule.expect(self.actor)
        ours = dict.fromkeys(names, self.ours)
        theirs = dict.fromkeys(names, self.theirs)
        outsider = self.actor == "outsider"
        self.check(op, case, "ours", ours, hidden=names if outsider else set(), expected=expected)
        if case.rule.scope != "workspace" or not slots:
            return
        if not outsider:
            self.check(op, case, "theirs", theirs, hidden=names,
                       expected=frozenset({401} if self.actor == "anonymous" else {404}))
        if len(slots) < 2:
            return
        for slot in names:
            source = {**ours, slot: self.theirs}
            hidden = names - {slot} if outsider else {slot}
            # A write is refused either way. A read may answer (a filter by another workspace's status
            # finds nothing), but shows nothing of that workspace: the leak check runs on every 2xx.
            mixed = {401} if self.actor == "anonymous" else {404, 422} | (expected & {403, 404})
            if op.method == "GET" and self.actor != "anonymous":
                mixed |= {OK}
            self.check(op, case, f"their {slot[0]} {slot[1]}", source, hidden=hidden, expected=frozenset(mixed))

    def probe_admin(self) -> None:
        """No actor is staff: the admin sends every one of them to its login page."""
        if self.user is not None:
            self.client.force_login(self.user)
        for url in ("/admin/", "/admin/projects/project/", "/admin/tasks/task/"):
            self.checks += 1
            response = self.client.get(url)
            if response.status_code != 302 or "/admin/login/" not in response.get("Location", ""):
                self.violations.append(f"{self.actor:<14} GET    {url}: expected a redirect to the admin login, "
                                       f"got {response.status_code}")
        self.client.logout()


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
def test_sweep(worlds, actor):
    ours, theirs, users = worlds
    user = users[actor]
    token = account_services.token_create(email=user.email, password=factories.PASSWORD)[0] if user else None
    loner = factories.user("loner@example.com", "Lou Loner")
    sweep = Sweep(actor=actor, user=user, token=token, ours=ours, theirs=theirs, loner_email=loner.email,
                  pristine=_rows())
    sweep.run(schema_operations())
    sweep.probe_admin()
    assert sweep.checks > 0
    if sweep.violations:
        pytest.fail(f"{len(sweep.violations)} of {sweep.checks} checks for {actor} break API.md:\n"
                    + "\n".join(sweep.violations), pytrace=False)


# --- WebSocket subscribe -----------------------------------------------------------------------------------

ORIGIN = [(b"origin", b"http://testserver")]


@pytest.fixture
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


async def _frames_until_answer(communicator) -> list[dict]:
    """Frames up to the answer of a subscribe: ``subscribed``, ``error`` or ``resync_required``."""
    frames = []
    while True:
        frame = json.loads(await communicator.receive_from(timeout=3))
        frames.append(frame)
        if frame["type"] in ("subscribed", "error", "resync_required"):
            return frames


async def _drain(communicator) -> list[dict]:
    frames = []
    while not await communicator.receive_nothing(timeout=0.3):
        frames.append(json.loads(await communicator.receive_from(timeout=1)))
    return frames


def _owning_workspace(frame: dict, world_of: dict) -> str | None:
    """The workspace a frame tells about, found from any id in it that a world owns."""
    text = json.dumps(frame)
    for ident, name in world_of.items():
        if ident in text:
            return name
    return None


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_websocket_subscribe_sweep(in_memory_layer, worlds):
    from realtime.tickets import ticket_issue
    from taskhub.asgi import application

    ours, theirs, users = worlds
    world_of = {**dict.fromkeys(ours.ids, "ours"), **dict.fromkeys(theirs.ids, "theirs")}
    violations = []
    checks = 0

    # Anonymous: no ticket, or a made-up one, and the handshake is refused with 4401.
    for url in ("/ws/", "/ws/?ticket=made-up"):
        checks += 1
        communicator = WebsocketCommunicator(application, url, headers=ORIGIN)
        await communicator.connect()
        output = await communicator.receive_output(timeout=3)
        if output != {"type": "websocket.close", "code": 4401}:
            violations.append(f"anonymous      {url}: expected close 4401, got {output}")

    targets = [
        ("project_id", "ours", ours.things["project"].pk), ("project_id", "ours", ours.things["archived_project"].pk),
        ("workspace_id", "ours", ours.things["workspace"].pk),
        ("project_id", "theirs", theirs.things["project"].pk),
        ("project_id", "theirs", theirs.things["archived_project"].pk),
        ("workspace_id", "theirs", theirs.things["workspace"].pk),
    ]
    sockets = {}
    for actor, user in users.items():
        if user is None:
            continue
        ticket = await database_sync_to_async(ticket_issue)(user_id=user.pk)
        communicator = WebsocketCommunicator(application, f"/ws/?ticket={ticket}", headers=ORIGIN)
        connected, _ = await communicator.connect()
        assert connected, actor
        sockets[actor] = communicator
        visible = "theirs" if actor == "outsider" else "ours"
        for kind, nothing_id in (("project_id", uuid.uuid4()), ("workspace_id", uuid.uuid4())):
            frame = {"type": "subscribe", kind: str(nothing_id)} | ({"since": 0} if kind == "project_id" else {})
            await communicator.send_json_to(frame)
            unknown = (await _frames_until_answer(communicator))[-1]
            for _kind, world, ident in [t for t in targets if t[0] == kind]:
                checks += 1
                label = f"{actor:<14} subscribe {kind}={world}"
                await communicator.send_json_to({**frame, kind: str(ident)})
                frames = await _frames_until_answer(communicator)
                answer = frames[-1]
                if world == visible:
                    if answer.get("type") != "subscribed":
                        violations.append(f"{label}: expected subscribed, got {answer}")
                    continue
                if answer.get("type") != "error" or answer.get("code") != "not_found":
                    violations.append(f"{label}: expected error not_found, got {answer}")
                elif {k: v for k, v in answer.items() if k != kind} != {k: v for k, v in unknown.items()
                                                                        if k != kind}:
                    violations.append(f"{label}: answers {answer} but {unknown} for an id that does not exist")
                if len(frames) > 1:
                    violations.append(f"{label}: replayed {len(frames) - 1} events of a hidden project")

    # Writes in both workspaces, then: every socket hears its own workspace and nothing of the other.
    for world, owner in ((ours, users["owner"]), (theirs, users["outsider"])):
        await database_sync_to_async(task_services.task_create)(
            project_id=world.things["project"].pk, user=owner, title="Live")
        await database_sync_to_async(project_services.project_create)(
            workspace_id=world.things["workspace"].pk, user=owner, name="Live", key="LIVE")
    for actor, communicator in sockets.items():
        checks += 1
        visible = "theirs" if actor == "outsider" else "ours"
        heard = [_owning_workspace(frame, world_of) for frame in await _drain(communicator)]
        if visible not in heard:
            violations.append(f"{actor:<14} heard no event of its own workspace (the check below proves nothing)")
        leaked = [w for w in heard if w is not None and w != visible]
        if leaked:
            violations.append(f"{actor:<14} received {len(leaked)} events of a workspace it is not in")
        await communicator.disconnect()

    if violations:
        pytest.fail(f"{len(violations)} of {checks} WebSocket checks break API.md:\n" + "\n".join(violations),
                    pytrace=False)
