"""Helpers for the HTTP-level tests: every request goes through Django's test client.

So the whole stack runs: the request-id and body-size middleware, sessions,
CSRF, the bearer/session authentication, ninja's parsing and the error
handlers of ``taskhub.api``.

- ``api(user)`` gives a :class:`Caller` that sends JSON with a bearer token of
  ``user`` (``api(None)`` sends none, i.e. an anonymous caller).
- ``db_rows()`` snapshots every row of every domain table (and the event log),
  so a failed request can be shown to have written nothing at all.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client

from accounts import services as account_services
from tests import factories

API = "/api/v1"

# The tables a write may touch. Comparing whole rows (not only counts) also
# catches an UPDATE that slipped through before a failure (a version bump, a
# counters increment). API tokens are left out: making a caller issues one.
DOMAIN_MODELS = (
    "accounts.User", "projects.Workspace", "projects.WorkspaceMember", "projects.Project",
    "projects.ProjectMember", "projects.Status", "projects.ProjectCounters", "tasks.Task", "tasks.Comment",
    "tasks.Checklist", "tasks.ChecklistItem", "realtime.Event",
    "projects.Invitation", "notifications.Notification", "notifications.NotificationCounter",
)

_NO_BODY = object()

# Every operation of API.md under /api/v1, as (method, path template). The
# OpenAPI test checks the schema lists each; the anonymous test calls each.
ENDPOINTS = (
    ("POST", "/auth/register"), ("POST", "/auth/token"), ("DELETE", "/auth/token"), ("GET", "/auth/me"),
    ("POST", "/realtime/ticket"), ("GET", "/health"),
    ("GET", "/workspaces"), ("POST", "/workspaces"),
    ("GET", "/workspaces/{workspace_id}"), ("PATCH", "/workspaces/{workspace_id}"),
    ("DELETE", "/workspaces/{workspace_id}"),
    ("GET", "/workspaces/{workspace_id}/members"), ("POST", "/workspaces/{workspace_id}/members"),
    ("PATCH", "/workspaces/{workspace_id}/members/{user_id}"),
    ("DELETE", "/workspaces/{workspace_id}/members/{user_id}"),
    ("GET", "/workspaces/{workspace_id}/projects"), ("POST", "/workspaces/{workspace_id}/projects"),
    ("GET", "/projects/{project_id}"), ("PATCH", "/projects/{project_id}"), ("DELETE", "/projects/{project_id}"),
    ("POST", "/projects/{project_id}/archive"), ("POST", "/projects/{project_id}/restore"),
    ("PUT", "/projects/{project_id}/status-override"), ("DELETE", "/projects/{project_id}/status-override"),
    ("GET", "/projects/{project_id}/board"), ("GET", "/projects/{project_id}/events"),
    ("GET", "/projects/{project_id}/members"), ("POST", "/projects/{project_id}/members"),
    ("PATCH", "/projects/{project_id}/members/{user_id}"), ("DELETE", "/projects/{project_id}/members/{user_id}"),
    ("GET", "/projects/{project_id}/statuses"), ("POST", "/projects/{project_id}/statuses"),
    ("PATCH", "/statuses/{status_id}"), ("DELETE", "/statuses/{status_id}"),
    ("GET", "/projects/{project_id}/tasks"), ("POST", "/projects/{project_id}/tasks"),
    ("GET", "/tasks/{task_id}"), ("PATCH", "/tasks/{task_id}"), ("DELETE", "/tasks/{task_id}"),
    ("POST", "/tasks/{task_id}/move"), ("POST", "/tasks/{task_id}/archive"), ("POST", "/tasks/{task_id}/restore"),
    ("GET", "/me/tasks"),
    ("GET", "/tasks/{task_id}/comments"), ("POST", "/tasks/{task_id}/comments"),
    ("PATCH", "/comments/{comment_id}"), ("DELETE", "/comments/{comment_id}"),
    ("GET", "/tasks/{task_id}/checklists"), ("POST", "/tasks/{task_id}/checklists"),
    ("PATCH", "/checklists/{checklist_id}"), ("DELETE", "/checklists/{checklist_id}"),
    ("POST", "/checklists/{checklist_id}/items"), ("PATCH", "/checklist-items/{item_id}"),
    ("DELETE", "/checklist-items/{item_id}"), ("GET", "/tasks/{task_id}/activity"),
    ("GET", "/projects/{project_id}/presence"),
    ("POST", "/workspaces/{workspace_id}/invitations"), ("GET", "/workspaces/{workspace_id}/invitations"),
    ("GET", "/me/invitations"), ("POST", "/invitations/{invitation_id}/accept"),
    ("POST", "/invitations/{invitation_id}/decline"), ("DELETE", "/invitations/{invitation_id}"),
    ("GET", "/notifications"), ("GET", "/notifications/count"), ("POST", "/notifications/{notification_id}/read"),
    ("POST", "/notifications/{notification_id}/unread"), ("POST", "/notifications/read-all"),
    ("DELETE", "/notifications/{notification_id}"),
)
# API.md: "Every path except POST /auth/register, POST /auth/token, GET /health and GET /metrics needs one".
PUBLIC = {("POST", "/auth/register"), ("POST", "/auth/token"), ("GET", "/health")}


@dataclass
class Reply:
    """A response with its JSON body parsed (``None`` when it has none)."""

    status: int
    body: object
    headers: dict
    raw: object

    def __repr__(self) -> str:  # shows up in assertion messages
        return f"<Reply {self.status} {self.body!r:.500}>"


class Caller:
    """Sends requests to ``/api/v1`` as one user (bearer token) or anonymously."""

    def __init__(self, client: Client, token: str | None, user=None):
        self.client = client
        self.token = token
        self.user = user

    def request(self, method: str, path: str, body=_NO_BODY, *, raw: bytes | str | None = None,
                content_type: str = "application/json", headers: dict | None = None,
                environ: dict | None = None) -> Reply:
        all_headers = {}
        if self.token is not None:
            all_headers["Authorization"] = f"Bearer {self.token}"
        all_headers.update(headers or {})
        if raw is not None:
            data = raw
        elif body is _NO_BODY:
            data = ""
        else:
            data = json.dumps(body, default=str)
        # Paths are relative to /api/v1 unless they name another root ("/metrics", "/api/...").
        url = path if path.startswith(("/api/", "/metrics")) else API + path
        run_commit_hooks()  # what the test did before this request has committed
        response = self.client.generic(method, url, data, content_type=content_type, headers=all_headers,
                                       **(environ or {}))
        run_commit_hooks()  # the request's transaction has committed
        parsed = None
        if response.content and response.get("Content-Type", "").startswith("application/json"):
            parsed = json.loads(response.content)
        return Reply(response.status_code, parsed, dict(response.headers), response)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=_NO_BODY, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=_NO_BODY, **kw):
        return self.request("PUT", path, body, **kw)

    def patch(self, path, body=_NO_BODY, **kw):
        return self.request("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def run_commit_hooks() -> None:
    """Run the ``on_commit`` callbacks registered so far, as a real commit would.

    pytest-django runs each test inside one transaction that is rolled back, so
    ``on_commit`` callbacks (the counts-cache refresh, the publisher) never run
    by themselves, and a cached value would stay stale across requests. Here
    every request, and whatever the test wrote before it, counts as committed.
    Callbacks of a request that failed were discarded with its savepoint, as in
    production.
    """
    pending = connection.run_on_commit
    while pending:
        _savepoints, callback, _robust = pending.pop(0)
        callback()


def token_for(user) -> str:
    raw, _ = account_services.token_create(email=user.email, password=factories.PASSWORD)
    return raw


@pytest.fixture
def api(client):
    """``api(user)`` makes a :class:`Caller` with a fresh bearer token; ``api(None)`` is anonymous."""
    tokens: dict = {}

    def make(user) -> Caller:
        if user is None:
            return Caller(client, None)
        if user.pk not in tokens:
            tokens[user.pk] = token_for(user)
        return Caller(client, tokens[user.pk], user)

    return make


def _rows() -> dict[str, list[tuple]]:
    snapshot = {}
    for label in DOMAIN_MODELS:
        model = apps.get_model(label)
        snapshot[label] = list(model.objects.order_by("pk").values_list())
    return snapshot


@pytest.fixture
def db_rows():
    """``before = db_rows()`` ... ``assert_same_rows(before)``: nothing was written in between."""
    return _rows


def db_counts() -> dict[str, int]:
    """Row counts of the domain tables: a cheaper check than :func:`db_rows` for loops of requests."""
    return {label: apps.get_model(label).objects.count() for label in DOMAIN_MODELS}


def assert_same_rows(before: dict[str, list[tuple]]) -> None:
    after = _rows()
    for label, rows in before.items():
        assert after[label] == rows, f"{label} changed: {len(rows)} rows before, {len(after[label])} after"


def new_id() -> str:
    return str(uuid.uuid4())


def assert_error(reply: Reply, status: int) -> None:
    """The error shape of API.md: ``{"detail": "<one human sentence>", "code": "<machine_code>"}``."""
    assert reply.status == status, reply
    assert isinstance(reply.body, dict), reply
    assert isinstance(reply.body.get("detail"), str) and reply.body["detail"], reply
    assert isinstance(reply.body.get("code"), str) and reply.body["code"], reply


def assert_invalid(reply: Reply) -> None:
    """API.md: ``422`` with ``{"detail": [{"loc": [...], "msg": "...", "type": "..."}], "code": "invalid"}``."""
    assert reply.status == 422, reply
    assert reply.body["code"] == "invalid", reply
    items = reply.body["detail"]
    assert isinstance(items, list) and items, reply
    for item in items:
        assert set(item) == {"loc", "msg", "type"}, item
        assert isinstance(item["loc"], list), item
        assert isinstance(item["msg"], str) and item["msg"], item
        assert isinstance(item["type"], str) and item["type"], item
