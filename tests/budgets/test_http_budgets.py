"""DESIGN.md's query budgets, pinned on the HTTP path: test client, bearer token, warm cache.

Each test lists the statements the request may issue. Transaction control
(BEGIN/COMMIT/SAVEPOINT) is not counted (see ``assert_max_queries``). The list
and board budgets are checked at two sizes to show they do not grow.
"""

import json

import pytest
from django.db import connection

from accounts.services import token_create
from projects import services as project_services
from projects.cache import counts_invalidate
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def auth(client, owner):
    raw, _ = token_create(email=owner.email, password=factories.PASSWORD)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert client.get("/api/v1/auth/me", **headers).status_code == 200  # warms the token cache
    return headers


def post(client, url, body, auth):
    return client.post(url, json.dumps(body), content_type="application/json", **auth)


def patch(client, url, body, auth):
    return client.patch(url, json.dumps(body), content_type="application/json", **auth)


def fill(project, user, n, statuses):
    groups = list(statuses)
    for i in range(n):
        factories.task(project, user, title=f"task {i}", status_id=statuses[groups[i % len(groups)]].pk)


def test_token_auth_costs_no_query_when_warm(client, auth, assert_max_queries):
    with assert_max_queries(0):
        assert client.get("/api/v1/auth/me", **auth).status_code == 200


def test_create_task(client, auth, project, editor, assert_max_queries):
    url = f"/api/v1/projects/{project.pk}/tasks"
    # 1 SELECT column + project + roles + last rank, 2 UPDATE counters RETURNING,
    # 3 INSERT task, 4 INSERT events (2-4 in one statement on PostgreSQL)
    with assert_max_queries(4) as ctx:
        assert post(client, url, {"title": "First"}, auth).status_code == 201
    assert len(ctx.work_queries) == (2 if connection.vendor == "postgresql" else 4)
    # + SELECT the assignee's workspace membership
    with assert_max_queries(5):
        assert post(client, url, {"title": "Second", "assignee_id": str(editor.pk)}, auth).status_code == 201


def test_patch_and_move_task(client, auth, project, owner, editor, statuses, assert_max_queries):
    a = factories.task(project, owner, title="a")
    b = factories.task(project, owner, title="b")
    c = factories.task(project, owner, title="c")
    # 1 SELECT task FOR UPDATE + roles (+ target column, last rank), 2 UPDATE task,
    # 3 UPDATE counters RETURNING, 4 INSERT events
    with assert_max_queries(4):
        assert patch(client, f"/api/v1/tasks/{a.pk}", {"title": "A"}, auth).status_code == 200
    with assert_max_queries(4):
        assert patch(client, f"/api/v1/tasks/{a.pk}", {"status_id": str(statuses["done"].pk)}, auth).status_code == 200
    # + SELECT the new assignee's membership
    with assert_max_queries(5):
        assert patch(client, f"/api/v1/tasks/{a.pk}", {"assignee_id": str(editor.pk)}, auth).status_code == 200
    # move: 1 SELECT task FOR UPDATE + roles + target column + neighbour ranks, 2 UPDATE task,
    # 3 UPDATE counters RETURNING, 4 INSERT events
    with assert_max_queries(4):
        r = post(client, f"/api/v1/tasks/{c.pk}/move", {"after_id": str(b.pk)}, auth)
        assert r.status_code == 200
    with assert_max_queries(4):
        body = {"status_id": str(statuses["active"].pk)}
        assert post(client, f"/api/v1/tasks/{b.pk}/move", body, auth).status_code == 200


def test_create_project(client, auth, workspace, assert_max_queries):
    # 1 SELECT workspace + role, 2 INSERT project, 3 INSERT counters, 4 INSERT statuses,
    # 5 INSERT admin membership, 6 INSERT project_created event
    with assert_max_queries(6):
        r = post(client, f"/api/v1/workspaces/{workspace.pk}/projects", {"name": "New", "key": "NEW"}, auth)
        assert r.status_code == 201


@pytest.mark.parametrize("size", [5, 500])
def test_board_does_not_grow(client, auth, project, owner, statuses, size, assert_max_queries):
    fill(project, owner, size, statuses)
    # 1 SELECT project + counters + roles, 2 SELECT columns, 3 SELECT first tasks of every
    # column (one UNION ALL statement), 4 SELECT members; (5 GROUP BY only if two
    # columns share a group, see the next test)
    with assert_max_queries(4):
        r = client.get(f"/api/v1/projects/{project.pk}/board?per_column=50", **auth)
    assert r.status_code == 200
    body = r.json()
    assert sum(column["count"] for column in body["statuses"]) == size
    assert all(len(column["tasks"]) == min(50, column["count"]) for column in body["statuses"])


def test_board_with_two_columns_in_one_group(client, auth, project, owner, statuses, assert_max_queries):
    extra = project_services.status_create(project_id=project.pk, user=owner, name="Blocked", group="issue")
    factories.task(project, owner, title="x", status_id=extra.pk)
    fill(project, owner, 10, statuses)
    with assert_max_queries(5):
        r = client.get(f"/api/v1/projects/{project.pk}/board", **auth)
    counts = {column["name"]: column["count"] for column in r.json()["statuses"]}
    assert counts["Blocked"] == 1 and counts["Issue"] == 2


@pytest.mark.parametrize("size", [5, 300])
def test_task_list_does_not_grow(client, auth, project, owner, statuses, size, assert_max_queries):
    fill(project, owner, size, statuses)
    # 1 SELECT project + roles, 2 SELECT the page of tasks with status/assignee/reporter joined
    with assert_max_queries(3):
        r = client.get(f"/api/v1/projects/{project.pk}/tasks?limit=200", **auth)
    assert len(r.json()["items"]) == min(size, 200)
    with assert_max_queries(3):
        r = client.get(f"/api/v1/projects/{project.pk}/tasks?status={statuses['todo'].pk}", **auth)
    assert r.status_code == 200


@pytest.mark.parametrize("size", [2, 40])
def test_project_list_does_not_grow(client, auth, workspace, owner, size, assert_max_queries):
    for i in range(size):
        factories.project(workspace, owner, key=f"P{i}")
    # 1 SELECT workspace + role, 2 SELECT projects joined with counters and people
    with assert_max_queries(3):
        r = client.get(f"/api/v1/workspaces/{workspace.pk}/projects?limit=200", **auth)
    assert len(r.json()["items"]) == size


def test_project_get_on_cache_hit(client, auth, project, owner, assert_max_queries):
    factories.task(project, owner)
    client.get(f"/api/v1/projects/{project.pk}", **auth)  # the after-commit refresh or this read fills the cache
    # 1 SELECT project + roles; counts come from the cache
    with assert_max_queries(1):
        r = client.get(f"/api/v1/projects/{project.pk}", **auth)
    assert r.json()["counts"]["total"] == 1


def test_project_get_falls_back_to_database(client, auth, project, owner, assert_max_queries):
    factories.task(project, owner)
    counts_invalidate(project.pk)
    # 1 SELECT project + roles, 2 SELECT counters (cache miss)
    with assert_max_queries(2):
        r = client.get(f"/api/v1/projects/{project.pk}", **auth)
    assert r.json()["counts"]["total"] == 1
