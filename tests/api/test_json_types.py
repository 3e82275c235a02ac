"""JSON bodies take numbers and dates only in their documented JSON type (schemathesis found the lax ones).

Before: ``{"position": false}`` moved a column to 0 and ``{"due_date": 0}``
made a project due on 1970-01-01.
"""

from __future__ import annotations

import pytest

from tests.api.conftest import assert_invalid, assert_same_rows

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("story_points", [True, False, "5", 5.5, [5], {"n": 5}])
@pytest.mark.parametrize("field", ["story_points"])
def test_integers_must_be_json_numbers(api, owner, project, db_rows, field, story_points):
    before = db_rows()
    assert_invalid(api(owner).post(f"/projects/{project.pk}/tasks", {"title": "x", field: story_points}))
    assert_same_rows(before)


@pytest.mark.parametrize("due_date", [0, 1700000000, "0", "1700000000", "2026-W18-5", "20260501", "2026-02-30",
                                      True, "2026-05-01T10:00:00Z"])
def test_dates_must_be_yyyy_mm_dd_text(api, owner, workspace, db_rows, due_date):
    before = db_rows()
    assert_invalid(api(owner).post(f"/workspaces/{workspace.pk}/projects",
                                   {"name": "P", "key": "PP", "due_date": due_date}))
    assert_same_rows(before)


@pytest.mark.parametrize("expires_at", [0, 1700000000, "1700000000", "2026-05-01", False])
def test_datetimes_must_be_rfc3339_text(api, owner, project, db_rows, expires_at):
    before = db_rows()
    assert_invalid(api(owner).put(f"/projects/{project.pk}/status-override",
                                  {"status": "done", "expires_at": expires_at}))
    assert_same_rows(before)


def test_the_documented_forms_are_accepted(api, owner, project, workspace):
    caller = api(owner)
    task = caller.post(f"/projects/{project.pk}/tasks", {"title": "x", "story_points": 5.0, "due_date": "2026-05-01"})
    assert task.status == 201 and (task.body["story_points"], task.body["due_date"]) == (5, "2026-05-01")
    override = caller.put(f"/projects/{project.pk}/status-override",
                          {"status": "done", "expires_at": "2099-05-01T12:00:00+02:00"})
    assert override.status == 200, override
    assert override.body["override"]["expires_at"] == "2099-05-01T10:00:00Z"
