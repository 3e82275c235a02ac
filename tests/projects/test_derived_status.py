"""The derived status, from the rules of the API contract (docs/design.md, "Counters and derived status").

The first rule that matches wins:

1. no tasks: ``todo``;
2. all tasks done: ``done``;
3. any ``issue``: ``issue``;
4. any ``todo``: ``todo``;
5. any ``active`` or ``review``: ``active``;
6. otherwise: ``todo``.

The rows below are written from those rules, not from the code. Then the same
through the API: ``GET /projects/{id}`` shows ``derived_status`` and ``status``,
and ``GET /workspaces/{id}/projects?status=`` (computed in SQL) lists exactly
the projects whose effective status it is.
"""

from __future__ import annotations

import pytest

from projects import services as project_services
from projects.models import COUNT_FIELDS, Status, derived_status
from tests import factories
from tests.api import conftest as api_conftest

# The HTTP tests' ``api`` fixture (every request through Django's client), used here by name.
api = api_conftest.api


def counts(*, todo=0, active=0, review=0, issue=0, done=0, total=None) -> dict[str, int]:
    groups = {"todo": todo, "active": active, "review": review, "issue": issue, "done": done}
    return {"total": sum(groups.values()) if total is None else total, **groups}


ROWS = [
    # (what the row shows, counts, expected)
    ("no tasks gives todo", counts(), "todo"),
    ("one done of one gives done", counts(done=1), "done"),
    ("all of several done gives done", counts(done=7), "done"),
    ("one todo only gives todo", counts(todo=1), "todo"),
    ("active only gives active", counts(active=2), "active"),
    ("review only gives active", counts(review=1), "active"),
    ("active and review give active", counts(active=1, review=3), "active"),
    ("issue only gives issue", counts(issue=1), "issue"),
    ("issue and done gives issue", counts(issue=1, done=9), "issue"),
    ("issue beats todo", counts(issue=1, todo=5), "issue"),
    ("issue beats active and review", counts(issue=1, active=4, review=4), "issue"),
    ("one of each gives issue", counts(todo=1, active=1, review=1, issue=1, done=1), "issue"),
    ("done and todo gives todo", counts(done=3, todo=1), "todo"),
    ("todo beats active", counts(todo=1, active=6), "todo"),
    ("todo beats review", counts(todo=2, review=1), "todo"),
    ("active and done gives active", counts(active=1, done=4), "active"),
    ("review and done gives active", counts(review=1, done=1), "active"),
    # Rule 6 is reached only by counts whose groups do not add up to the total (the database's
    # constraints rule that out for stored rows); the function still answers by the rules.
    ("groups short of the total fall through to todo", counts(done=1, total=2), "todo"),
]


@pytest.mark.parametrize(("counts_", "expected"), [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_derived_status_follows_the_rules(counts_, expected):
    assert set(counts_) == set(COUNT_FIELDS)
    assert derived_status(dict(counts_)) == expected


# --- through the API ------------------------------------------------------------------------------

# Projects by the tasks they hold (the groups of their columns), and the status each must show.
BOARDS = {
    "EM": ([], "todo"),
    "DN": (["done"], "done"),
    "IS": (["issue", "done", "todo"], "issue"),
    "TD": (["done", "todo"], "todo"),
    "RV": (["review"], "active"),
    "AC": (["active", "done"], "active"),
}


@pytest.fixture
def boards(workspace, owner):
    """One project per row of ``BOARDS``, filled through the task service; plus ``OV``, done but overridden."""
    made = {}
    for key, (groups, _) in BOARDS.items():
        project = factories.project(workspace, owner, key=key)
        columns = {s.group: s for s in Status.objects.filter(project=project)}
        for group in groups:
            factories.task(project, owner, title=f"{key} {group}", status_id=columns[group].pk)
        made[key] = project
    overridden = factories.project(workspace, owner, key="OV")
    done = Status.objects.get(project=overridden, group="done")
    factories.task(overridden, owner, title="OV done", status_id=done.pk)
    project_services.project_override_set(project_id=overridden.pk, user=owner, status="review", reason="waiting")
    made["OV"] = overridden
    return made


@pytest.mark.django_db
def test_each_project_shows_its_derived_status(api, owner, boards):
    me = api(owner)
    for key, (groups, expected) in BOARDS.items():
        reply = me.get(f"/projects/{boards[key].pk}")
        assert reply.status == 200, reply
        body = reply.body
        assert body["counts"] == counts(**{g: groups.count(g) for g in set(groups)}), (key, body["counts"])
        assert (body["derived_status"], body["status"], body["override"]) == (expected, expected, None), key
    overridden = me.get(f"/projects/{boards['OV'].pk}").body
    assert (overridden["derived_status"], overridden["status"]) == ("done", "review")
    assert overridden["override"]["status"] == "review"


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["todo", "active", "review", "issue", "done"])
def test_the_list_filter_returns_exactly_the_projects_with_that_status(api, owner, workspace, project, boards,
                                                                       status):
    # The ``project`` fixture (no tasks) is in the workspace too: a todo project.
    expected = {str(project.pk)} if status == "todo" else set()
    expected |= {str(boards[key].pk) for key, (_, shown) in BOARDS.items() if shown == status}
    if status == "review":
        expected.add(str(boards["OV"].pk))  # its override; its derived status is done
    reply = api(owner).get(f"/workspaces/{workspace.pk}/projects?status={status}&limit=100")
    assert reply.status == 200, reply
    ids = [item["id"] for item in reply.body["items"]]
    assert len(ids) == len(set(ids)), ids
    assert set(ids) == expected
    assert {item["status"] for item in reply.body["items"]} <= {status}
    assert reply.body["next_cursor"] is None
    assert expected, "every status has at least one project here, so the filter is tested on a non-empty answer"
