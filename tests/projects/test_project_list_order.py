"""``GET /workspaces/{id}/projects`` lists projects newest activity first (docs/rest.md).

A project's activity is the last change of its counters: its creation, then
every task written in it. So a task created in the oldest project puts that
project first.
"""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from tests import factories
from tests.api import conftest as api_conftest

# The HTTP tests' ``api`` fixture (every request through Django's client), used here by name.
api = api_conftest.api

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def strictly_increasing_clock(monkeypatch):
    """``timezone.now()`` as usual, except that it never repeats nor goes back.

    The order under test is by time; two writes in the same microsecond, or a
    wall-clock step back between them, must not be able to swap two projects.
    """
    real_now = timezone.now
    last = [real_now()]

    def now():
        last[0] = max(real_now(), last[0] + datetime.timedelta(microseconds=1))
        return last[0]

    monkeypatch.setattr(timezone, "now", now)


def keys(reply) -> list[str]:
    assert reply.status == 200, reply
    return [item["key"] for item in reply.body["items"]]


def test_newest_activity_first_and_a_task_moves_its_project_to_the_top(api, workspace, owner):
    for key in ("OLD", "MID", "NEW"):
        factories.project(workspace, owner, key=key)
    me = api(owner)
    url = f"/workspaces/{workspace.pk}/projects"
    assert keys(me.get(url)) == ["NEW", "MID", "OLD"]

    oldest = me.get(url).body["items"][-1]
    created = me.post(f"/projects/{oldest['id']}/tasks", {"title": "activity"})
    assert created.status == 201, created
    assert keys(me.get(url)) == ["OLD", "NEW", "MID"]

    middle = next(item for item in me.get(url).body["items"] if item["key"] == "MID")
    assert me.post(f"/projects/{middle['id']}/tasks", {"title": "more"}).status == 201
    assert keys(me.get(url)) == ["MID", "OLD", "NEW"]

    # The same order on the filtered path (built per request) and across pages.
    assert keys(me.get(f"{url}?status=todo")) == ["MID", "OLD", "NEW"]
    first = me.get(f"{url}?limit=2")
    assert keys(first) == ["MID", "OLD"]
    assert keys(me.get(f"{url}?limit=2&cursor={first.body['next_cursor']}")) == ["NEW"]
