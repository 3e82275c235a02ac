"""Bad input on every write endpoint: the right 4xx, a useful ``detail``, never a 500, nothing half-written.

Each refused request is checked against a snapshot of every domain row (the
event log included), so a write that slipped through before the failure (a
version bump, a counters increment, an event) fails the test too.
"""

from __future__ import annotations

import json
import re

import pytest

from notifications.models import Notification
from projects import services as project_services
from projects.models import Status
from tasks import services as task_services
from tests import factories
from tests.api.conftest import assert_error, assert_invalid, assert_same_rows, db_counts, new_id

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


@pytest.fixture
def ids(owner, editor, editor_outside, viewer, workspace, project, statuses):
    factories.user("newcomer@example.com", "Nell Newcomer")
    task = factories.task(project, owner, title="Existing")
    archived_task = factories.task(project, owner, title="Archived")
    task_services.task_archive(task_id=archived_task.pk, user=owner)
    comment = task_services.comment_create(task_id=task.pk, user=owner, body="Existing")
    mention = task_services.comment_create(task_id=task.pk, user=editor, body=f"For <@{owner.pk}>")
    host = factories.user("host@example.com", "Hal Host")
    elsewhere = factories.workspace(host, name="Elsewhere")
    invitation = project_services.invitation_create(workspace_id=elsewhere.pk, actor=host, email=owner.email,
                                                    role="viewer")
    mine = project_services.invitation_create(workspace_id=workspace.pk, actor=owner, email="x@example.com",
                                              role="viewer")
    checklist = task_services.checklist_create(task_id=task.pk, user=owner, title="Steps")
    item = task_services.checklist_item_create(checklist_id=checklist.pk, user=owner, text="First")
    return {
        "cl": checklist.pk, "ci": item.pk,
        "n": Notification.objects.get(user=owner, comment_id=mention.pk).pk, "inv": invitation.pk, "mine": mine.pk,
        "ws": workspace.pk, "p": project.pk, "t": task.pk, "at": archived_task.pk, "c": comment.pk,
        "review": statuses["review"].pk, "issue": statuses["issue"].pk, "done": statuses["done"].pk,
        "viewer": viewer.pk, "editor": editor.pk, "editor_outside": editor_outside.pk,
    }


def fill(value, ids: dict):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


# name, method, path, a valid body, a body with wrong types.
BODY_ENDPOINTS = [
    ("register", "POST", "/auth/register", {"email": "fresh@example.com", "password": "a-long-passphrase"},
     {"email": ["fresh@example.com"], "password": 1234567890123}),
    ("token", "POST", "/auth/token", {"email": "owner@example.com", "password": factories.PASSWORD},
     {"email": {"at": "owner"}, "password": None}),
    ("ws_create", "POST", "/workspaces", {"name": "New"}, {"name": 7, "description": ["x"]}),
    ("ws_update", "PATCH", "/workspaces/{ws}", {"name": "New"}, {"name": ["x"]}),
    ("ws_member_add", "POST", "/workspaces/{ws}/members", {"email": "newcomer@example.com", "role": "viewer"},
     {"email": "newcomer@example.com", "role": "boss"}),
    ("ws_member_role", "PATCH", "/workspaces/{ws}/members/{viewer}", {"role": "editor"}, {"role": 3}),
    ("project_create", "POST", "/workspaces/{ws}/projects", {"name": "New", "key": "NEW"},
     {"name": "New", "key": "NEW", "due_date": "tomorrow"}),
    ("project_update", "PATCH", "/projects/{p}", {"name": "New"}, {"lead_id": "not-a-uuid"}),
    ("override_set", "PUT", "/projects/{p}/status-override", {"status": "done", "reason": ""},
     {"status": "finished", "reason": ""}),
    ("project_member_add", "POST", "/projects/{p}/members", {"user_id": "{editor_outside}"}, {"user_id": 12}),
    ("project_member_role", "PATCH", "/projects/{p}/members/{editor}", {"role": "admin"}, {"role": "boss"}),
    ("status_create", "POST", "/projects/{p}/statuses", {"name": "QA", "group": "review"},
     {"name": "QA", "group": "later"}),
    ("status_update", "PATCH", "/statuses/{review}", {"name": "Checking"}, {"position": "first"}),
    ("task_create", "POST", "/projects/{p}/tasks", {"title": "New"}, {"title": "New", "priority": "urgent"}),
    ("task_update", "PATCH", "/tasks/{t}", {"title": "New"}, {"due_date": "soon"}),
    ("task_move", "POST", "/tasks/{t}/move", {"status_id": "{done}"}, {"status_id": "done"}),
    ("comment_create", "POST", "/tasks/{t}/comments", {"body": "New"}, {"body": {"text": "x"}}),
    ("comment_update", "PATCH", "/comments/{c}", {"body": "New"}, {"body": 1}),
    ("invite", "POST", "/workspaces/{ws}/invitations", {"email": "fresh@example.com", "role": "viewer"},
     {"email": ["fresh@example.com"], "role": "boss"}),
    ("notifications_read_all", "POST", "/notifications/read-all", {"up_to_seq": 1}, {"up_to_seq": "all"}),
    ("checklist_create", "POST", "/tasks/{t}/checklists", {"title": "New"}, {"title": ["x"]}),
    ("checklist_update", "PATCH", "/checklists/{cl}", {"title": "New", "position": 0}, {"position": "first"}),
    ("checklist_item_create", "POST", "/checklists/{cl}/items", {"text": "New"}, {"text": 5}),
    ("checklist_item_update", "PATCH", "/checklist-items/{ci}", {"done": True}, {"done": "yes", "position": -1}),
]

# Writes that take no body (the path names everything).
BODYLESS_ENDPOINTS = [
    ("token_revoke", "DELETE", "/auth/token"),
    ("ticket", "POST", "/realtime/ticket"),
    ("ws_delete", "DELETE", "/workspaces/{ws}"),
    ("ws_member_remove", "DELETE", "/workspaces/{ws}/members/{viewer}"),
    ("project_delete", "DELETE", "/projects/{p}"),
    ("project_archive", "POST", "/projects/{p}/archive"),
    ("project_restore", "POST", "/projects/{p}/restore"),
    ("override_clear", "DELETE", "/projects/{p}/status-override"),
    ("project_member_remove", "DELETE", "/projects/{p}/members/{editor}"),
    ("status_delete", "DELETE", "/statuses/{issue}"),
    ("task_delete", "DELETE", "/tasks/{t}"),
    ("task_archive", "POST", "/tasks/{t}/archive"),
    ("task_restore", "POST", "/tasks/{at}/restore"),
    ("comment_delete", "DELETE", "/comments/{c}"),
    ("invitation_accept", "POST", "/invitations/{inv}/accept"),
    ("invitation_decline", "POST", "/invitations/{inv}/decline"),
    ("invitation_cancel", "DELETE", "/invitations/{mine}"),
    ("notification_read", "POST", "/notifications/{n}/read"),
    ("notification_unread", "POST", "/notifications/{n}/unread"),
    ("notification_delete", "DELETE", "/notifications/{n}"),
    ("checklist_delete", "DELETE", "/checklists/{cl}"),
    ("checklist_item_delete", "DELETE", "/checklist-items/{ci}"),
]

PUBLIC_WRITES = {"register", "token"}


def by_name(rows):
    return [pytest.param(*row[1:], id=row[0]) for row in rows]


def test_the_lists_cover_every_write_endpoint():
    from tests.api.conftest import ENDPOINTS

    listed = {(m, re.sub(r"\{[^}]+\}", "{}", p)) for _, m, p, *_ in BODY_ENDPOINTS + BODYLESS_ENDPOINTS}
    writes = {(m, re.sub(r"\{[^}]+\}", "{}", p)) for m, p in ENDPOINTS if m != "GET"}
    assert writes == listed, sorted(writes ^ listed)


def test_the_valid_bodies_are_valid(api, owner, ids):
    """The baseline: each endpoint accepts its valid body, so a refusal below is about the bad part."""
    me = api(owner)
    for name, method, path, good, _ in BODY_ENDPOINTS:
        reply = me.request(method, fill(path, ids), fill(good, ids))
        assert reply.status in (200, 201), (name, reply)


# --- malformed bodies ---------------------------------------------------------------------------------


MALFORMED = ["{", '{"title": }', "{'title': 'x'}", '{"title": "x",}', "nul\x00l", b"\xff", "{}{}"]
NOT_AN_OBJECT = ['"fix"', "[]", "[1, 2]", "null", "1", "true"]


@pytest.mark.parametrize("method,path,good,wrong", by_name(BODY_ENDPOINTS))
def test_malformed_json_is_400(api, owner, ids, db_rows, method, path, good, wrong):
    me = api(owner)
    before = db_rows()
    for raw in MALFORMED:
        reply = me.request(method, fill(path, ids), raw=raw)
        assert_error(reply, 400)
        assert reply.body["detail"] == "The request body is not valid JSON.", (raw, reply)
    assert_same_rows(before)


@pytest.mark.parametrize("method,path,good,wrong", by_name(BODY_ENDPOINTS))
def test_a_body_that_is_not_an_object_is_400(api, owner, ids, db_rows, method, path, good, wrong):
    # ninja read fields off any JSON value as attributes: the body "fix" made a task titled "Fix" (str.title).
    me = api(owner)
    before = db_rows()
    for raw in NOT_AN_OBJECT:
        reply = me.request(method, fill(path, ids), raw=raw)
        assert_error(reply, 400)
        assert "JSON object" in reply.body["detail"], (raw, reply)
    assert_same_rows(before)


@pytest.mark.parametrize("method,path,good,wrong", by_name(BODY_ENDPOINTS))
def test_a_form_encoded_body_is_400(api, owner, ids, db_rows, method, path, good, wrong):
    before = db_rows()
    reply = api(owner).request(method, fill(path, ids), raw="title=x&name=y",
                               content_type="application/x-www-form-urlencoded")
    assert_error(reply, 400)
    assert_same_rows(before)


@pytest.mark.parametrize("method,path,good,wrong", by_name(BODY_ENDPOINTS))
def test_wrong_types_are_422(api, owner, ids, db_rows, method, path, good, wrong):
    before = db_rows()
    reply = api(owner).request(method, fill(path, ids), fill(wrong, ids))
    assert_invalid(reply)
    assert all(item["loc"][0] == "body" for item in reply.body["detail"]), reply
    assert_same_rows(before)


# Bodies with a required field. POST /tasks/{id}/move has none (an empty move sends the task to the end of
# its column), nor has "read all" (no up_to_seq marks everything).
WITH_REQUIRED = [r for r in BODY_ENDPOINTS
                 if r[1] in ("POST", "PUT") and r[0] not in ("task_move", "notifications_read_all")]


@pytest.mark.parametrize("method,path,good,wrong", by_name(WITH_REQUIRED))
def test_missing_required_fields_are_422(api, owner, ids, db_rows, method, path, good, wrong):
    before = db_rows()
    reply = api(owner).request(method, fill(path, ids), {})
    assert_invalid(reply)
    assert {item["type"] for item in reply.body["detail"]} == {"missing"}
    assert_same_rows(before)


# Bodies with text in them (``{"up_to_seq": 1}`` has none to put a NUL in).
WITH_TEXT = [r for r in BODY_ENDPOINTS if any(isinstance(v, str) for v in r[3].values())]


@pytest.mark.parametrize("method,path,good,wrong", by_name(WITH_TEXT))
def test_nul_characters_are_refused(api, owner, ids, db_rows, method, path, good, wrong):
    # PostgreSQL cannot store a NUL in text: it used to surface as a 500 there.
    body = {key: (value + "\x00" if isinstance(value, str) else value) for key, value in fill(good, ids).items()}
    before = db_rows()
    reply = api(owner).request(method, fill(path, ids), body)
    assert_error(reply, 400)
    assert "NUL" in reply.body["detail"]
    assert_same_rows(before)


@pytest.mark.parametrize("query", ["q=a%00b", "status=todo%00", "cursor=%00", "assignee=%00"])
@pytest.mark.parametrize("path", ["/projects/{p}/tasks", "/workspaces/{ws}/projects", "/workspaces",
                                  "/projects/{p}/events"])
def test_nul_characters_in_the_query_are_refused(api, owner, ids, path, query):
    reply = api(owner).get(f"{fill(path, ids)}?{query}")
    assert reply.status in (400, 422), reply
    assert reply.body["detail"], reply


# --- size limits ------------------------------------------------------------------------------------------


ALL_WRITES = [(name, method, path) for name, method, path, *_ in BODY_ENDPOINTS] + BODYLESS_ENDPOINTS


@pytest.mark.parametrize("method,path", by_name(ALL_WRITES))
def test_body_over_one_mib_is_413(api, owner, ids, db_rows, method, path):
    body = json.dumps({"title": "x" * MIB, "name": "x", "body": "x"})
    before = db_rows()
    reply = api(owner).request(method, fill(path, ids), raw=body)
    assert_error(reply, 413)
    assert_same_rows(before)


def test_body_of_exactly_one_mib_is_read(api, owner, ids):
    padding = MIB - len(json.dumps({"title": "ok", "description": ""}))
    body = json.dumps({"title": "ok", "description": " " * padding})
    assert len(body.encode()) == MIB
    reply = api(owner).post(fill("/projects/{p}/tasks", ids), raw=body)
    # Read, then refused only for the description's length (100 000 characters at most).
    assert_invalid(reply)


def _asgi_post(path: str, token: str, chunks: list[bytes]) -> tuple[int, bytes]:
    """POST through Django's ASGI handler (as daphne serves it), the body in chunks and no Content-Length."""
    import asyncio

    from asgiref.sync import async_to_sync
    from django.core.asgi import get_asgi_application
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    app = get_asgi_application()
    sent: list[dict] = []

    async def run():
        messages = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
                    for i, chunk in enumerate(chunks)]

        async def receive():
            if messages:
                return messages.pop(0)
            await asyncio.Event().wait()  # the client stays connected

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "server": ("testserver", 80),
            "client": ("127.0.0.1", 50000),
            "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                        (b"authorization", f"Bearer {token}".encode())],
        }
        await app(scope, receive, send)

    # As Django's own test clients do: the test's transaction must survive the request signals.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        async_to_sync(run)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body


def test_chunked_body_over_one_mib_is_413(owner, ids, db_rows):
    """A body sent without Content-Length (chunked) is caught when it is read."""
    from tests.api.conftest import token_for

    token = token_for(owner)
    body = json.dumps({"title": "x", "description": "d" * (2 * MIB)}).encode()
    before = db_rows()
    status, content = _asgi_post(f"/api/v1/projects/{ids['p']}/tasks", token,
                                 [body[i:i + 65536] for i in range(0, len(body), 65536)])
    assert status == 413
    assert json.loads(content)["code"]
    assert_same_rows(before)
    # The same path takes a small chunked body.
    status, content = _asgi_post(f"/api/v1/projects/{ids['p']}/tasks", token, [b'{"title": ', b'"chunked"}'])
    assert status == 201, content
    assert json.loads(content)["title"] == "chunked"


def test_bad_content_length_is_400(api, owner, ids, db_rows):
    before = db_rows()
    reply = api(owner).post(fill("/projects/{p}/tasks", ids), {"title": "x"}, environ={"CONTENT_LENGTH": "ten"})
    assert_error(reply, 400)
    assert_same_rows(before)


LONG = [
    # name, method, path, body with one field too long (or badly formed)
    ("title-501", "POST", "/projects/{p}/tasks", {"title": "x" * 501}),
    ("title-empty", "POST", "/projects/{p}/tasks", {"title": ""}),
    ("description-100001", "POST", "/projects/{p}/tasks", {"title": "x", "description": "d" * 100_001}),
    ("patch-title-501", "PATCH", "/tasks/{t}", {"title": "x" * 501}),
    ("patch-title-empty", "PATCH", "/tasks/{t}", {"title": ""}),
    ("patch-description-100001", "PATCH", "/tasks/{t}", {"description": "d" * 100_001}),
    ("story-points-negative", "POST", "/projects/{p}/tasks", {"title": "x", "story_points": -1}),
    ("story-points-huge", "PATCH", "/tasks/{t}", {"story_points": 10**12}),
    ("comment-50001", "POST", "/tasks/{t}/comments", {"body": "c" * 50_001}),
    ("comment-empty", "POST", "/tasks/{t}/comments", {"body": ""}),
    ("patch-comment-50001", "PATCH", "/comments/{c}", {"body": "c" * 50_001}),
    ("key-lowercase", "POST", "/workspaces/{ws}/projects", {"name": "x", "key": "ab"}),
    ("key-one-char", "POST", "/workspaces/{ws}/projects", {"name": "x", "key": "A"}),
    ("key-digit-first", "POST", "/workspaces/{ws}/projects", {"name": "x", "key": "1AB"}),
    ("key-eleven", "POST", "/workspaces/{ws}/projects", {"name": "x", "key": "ABCDEFGHIJK"}),
    ("key-dash", "POST", "/workspaces/{ws}/projects", {"name": "x", "key": "A-B"}),
    ("key-umlaut", "POST", "/workspaces/{ws}/projects", {"name": "x", "key": "\u00c4B"}),
    ("key-trailing-newline", "POST", "/workspaces/{ws}/projects", {"name": "x", "key": "AB\n"}),
    ("project-name-201", "POST", "/workspaces/{ws}/projects", {"name": "n" * 201, "key": "OK"}),
    ("project-name-empty", "PATCH", "/projects/{p}", {"name": ""}),
    ("project-description-100001", "PATCH", "/projects/{p}", {"description": "d" * 100_001}),
    ("workspace-name-201", "POST", "/workspaces", {"name": "n" * 201}),
    ("workspace-name-empty", "PATCH", "/workspaces/{ws}", {"name": ""}),
    ("status-name-101", "POST", "/projects/{p}/statuses", {"name": "s" * 101, "group": "todo"}),
    ("status-position-negative", "PATCH", "/statuses/{review}", {"position": -1}),
    ("override-reason-501", "PUT", "/projects/{p}/status-override", {"status": "done", "reason": "r" * 501}),
    ("display-name-151", "POST", "/auth/register", {"email": "long@example.com", "password": "a-long-passphrase",
                                                    "display_name": "d" * 151}),
    ("email-255", "POST", "/auth/register", {"email": "e" * 243 + "@example.com", "password": "a-long-passphrase"}),
]


@pytest.mark.parametrize("expires_at", ["2031-01-01T00:00:00", "2031-01-01", "2031-01-01T00:00:00.5"])
def test_override_expiry_without_time_zone_is_422(api, owner, ids, db_rows, expires_at):
    # API.md: timestamps carry a time zone. A naive one could not be compared with "now" (it was a 500).
    before = db_rows()
    reply = api(owner).put(fill("/projects/{p}/status-override", ids),
                           {"status": "done", "reason": "", "expires_at": expires_at})
    assert_invalid(reply)
    assert reply.body["detail"][0]["loc"][-1] == "expires_at"
    assert_same_rows(before)
    ok = api(owner).put(fill("/projects/{p}/status-override", ids),
                        {"status": "done", "reason": "", "expires_at": "2031-01-01T00:00:00+02:00"})
    assert ok.status == 200, ok
    assert ok.body["override"]["expires_at"].startswith("2030-12-31T22:00:00")


@pytest.mark.parametrize("method,path,body", by_name(LONG))
def test_limits_are_422(api, owner, ids, db_rows, method, path, body):
    before = db_rows()
    reply = api(owner).request(method, fill(path, ids), body)
    assert_invalid(reply)
    assert_same_rows(before)


def test_limits_are_inclusive(api, owner, ids):
    me = api(owner)
    task = me.post(fill("/projects/{p}/tasks", ids), {"title": "t" * 500, "description": "d" * 100_000})
    assert task.status == 201, task
    assert len(task.body["title"]) == 500 and len(task.body["description"]) == 100_000
    comment = me.post(f"/tasks/{task.body['id']}/comments", {"body": "c" * 50_000})
    assert comment.status == 201, comment
    for key in ("AB", "A123456789", "Z9"):
        assert me.post(fill("/workspaces/{ws}/projects", ids), {"name": key, "key": key}).status == 201


# --- unknown and malformed ids ------------------------------------------------------------------------------


def _with_unknown_ids(path: str, ids: dict) -> str:
    return path.format(**{key: new_id() for key in ids})


WITH_IDS = [row for row in ALL_WRITES if "{" in row[2]]


@pytest.mark.parametrize("method,path", by_name(WITH_IDS))
def test_unknown_ids_are_404(api, owner, ids, db_rows, method, path):
    good = {row[0]: row[3] for row in BODY_ENDPOINTS}
    name = next(row[0] for row in ALL_WRITES if row[1:3] == (method, path))
    args = (fill(good[name], ids),) if name in good else ()
    before = db_rows()
    reply = api(owner).request(method, _with_unknown_ids(path, ids), *args)
    assert_error(reply, 404)
    assert reply.body["code"] == "not_found"
    assert_same_rows(before)


@pytest.mark.parametrize("method,path", by_name(WITH_IDS))
def test_malformed_ids_are_refused(api, owner, ids, db_rows, method, path):
    before = db_rows()
    url = re.sub(r"\{[^}]+\}", "not-a-uuid", path)
    reply = api(owner).request(method, url, {})
    assert reply.status in (404, 422), reply
    assert reply.body["detail"]
    assert_same_rows(before)


UNKNOWN_REFERENCES = [
    ("task-status", "POST", "/projects/{p}/tasks", {"title": "x", "status_id": "{unknown}"}),
    ("task-parent", "POST", "/projects/{p}/tasks", {"title": "x", "parent_id": "{unknown}"}),
    ("task-assignee", "POST", "/projects/{p}/tasks", {"title": "x", "assignee_id": "{unknown}"}),
    ("patch-status", "PATCH", "/tasks/{t}", {"status_id": "{unknown}"}),
    ("patch-parent", "PATCH", "/tasks/{t}", {"parent_id": "{unknown}"}),
    ("patch-assignee", "PATCH", "/tasks/{t}", {"assignee_id": "{unknown}"}),
    ("move-status", "POST", "/tasks/{t}/move", {"status_id": "{unknown}"}),
    ("move-after", "POST", "/tasks/{t}/move", {"after_id": "{unknown}"}),
    ("move-before", "POST", "/tasks/{t}/move", {"before_id": "{unknown}"}),
    ("project-lead", "PATCH", "/projects/{p}", {"lead_id": "{unknown}"}),
    ("project-member", "POST", "/projects/{p}/members", {"user_id": "{unknown}"}),
    ("ws-member-email", "POST", "/workspaces/{ws}/members", {"email": "ghost@example.com", "role": "viewer"}),
]


@pytest.mark.parametrize("method,path,body", by_name(UNKNOWN_REFERENCES))
def test_unknown_referenced_ids_are_refused(api, owner, ids, db_rows, method, path, body):
    before = db_rows()
    reply = api(owner).request(method, fill(path, ids), fill(body, {**ids, "unknown": new_id()}))
    assert reply.status in (404, 422), reply
    assert reply.body["detail"], reply
    assert_same_rows(before)


def test_status_delete_with_unknown_move_to(api, owner, ids, project, db_rows):
    factories.task(project, owner, status_id=ids["issue"])
    before = db_rows()
    reply = api(owner).delete(f"/statuses/{ids['issue']}?move_to={new_id()}")
    assert reply.status in (404, 422), reply
    assert_same_rows(before)
    reply = api(owner).delete(f"/statuses/{ids['issue']}?move_to=not-a-uuid")
    assert_invalid(reply)
    assert_same_rows(before)
    assert Status.objects.filter(pk=ids["issue"]).exists()


# --- missing auth --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method,path", by_name([row for row in ALL_WRITES if row[0] not in PUBLIC_WRITES]))
def test_missing_auth_is_401(api, ids, db_rows, method, path):
    good = {row[0]: row[3] for row in BODY_ENDPOINTS}
    name = next(row[0] for row in ALL_WRITES if row[1:3] == (method, path))
    args = (fill(good[name], ids),) if name in good else ()
    before = db_rows()
    reply = api(None).request(method, fill(path, ids), *args)
    assert_error(reply, 401)
    assert_same_rows(before)


# --- never a 500 ----------------------------------------------------------------------------------------------------


ODD_VALUES = [
    None, True, -1, 2**63, 1e308, float("nan"), "", "\u202e\u0645\U0001f600", [None], {"nested": [1, {"a": None}]},
    "2031-02-30", "2031-01-01T00:00:00", "00000000-0000-0000-0000-000000000000",
]


@pytest.mark.parametrize("method,path,good,wrong", by_name(BODY_ENDPOINTS))
def test_odd_values_never_give_a_500(api, owner, ids, method, path, good, wrong):
    """Every field of the endpoint, and a few it does not take, set to each odd value in turn."""
    me = api(owner)
    fields = dict.fromkeys([*fill(good, ids), "status_id", "position", "expires_at"])
    for field in fields:
        for value in ODD_VALUES:
            counts = db_counts()
            reply = me.request(method, fill(path, ids), raw=json.dumps({**fill(good, ids), field: value}))
            assert reply.status < 500, (field, value, reply)
            if reply.status >= 400:
                assert reply.body["detail"], (field, value, reply)
                assert db_counts() == counts, (field, value, reply)


READS = [
    ("/workspaces", ["limit", "cursor"]),
    ("/workspaces/{ws}/members", ["limit", "cursor"]),
    ("/workspaces/{ws}/projects", ["archived", "status", "q", "limit", "cursor"]),
    ("/projects/{p}/board", ["per_column"]),
    ("/projects/{p}/events", ["since", "limit", "cursor"]),
    ("/projects/{p}/members", ["limit", "cursor"]),
    ("/projects/{p}/tasks", ["status", "assignee", "priority", "type", "q", "archived", "limit", "cursor"]),
    ("/me/tasks", ["limit", "cursor"]),
    ("/tasks/{t}/comments", ["limit", "cursor"]),
]
ODD_QUERY_VALUES = ["", "x", "-1", "99999999999999999999999", "1e3", "null", "true", "%FF", "\u00e9", "a" * 3000,
                    "00000000-0000-0000-0000-000000000000", "[1]"]


@pytest.mark.parametrize("path,params", READS, ids=[r[0] for r in READS])
def test_odd_query_values_never_give_a_500(api, owner, ids, path, params):
    from urllib.parse import quote

    me = api(owner)
    for param in params:
        for value in ODD_QUERY_VALUES:
            query = f"{param}={value if value.startswith('%') else quote(value)}"
            reply = me.get(f"{fill(path, ids)}?{query}")
            assert reply.status < 500, (query, reply)
            if reply.status >= 400:
                assert reply.body["detail"], (query, reply)


def test_deeply_nested_json_is_400(api, owner, ids, db_rows):
    before = db_rows()
    raw = "[" * 100_000 + "]" * 100_000
    reply = api(owner).post(fill("/projects/{p}/tasks", ids), raw=raw)
    assert_error(reply, 400)
    assert_same_rows(before)
