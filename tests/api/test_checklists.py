"""Checklists and their items (API.md "Checklists"): the endpoints, the task's counts, order, limits, events.

Every request goes through the whole stack (``tests.api.conftest.Caller``). The permission matrix is in
``tests/api/test_permissions.py`` and the query counts in ``tests/budgets``; concurrent writers on
PostgreSQL in ``test_checklists_concurrent.py``.
"""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command
from django.utils import timezone

from realtime.models import Event
from tasks import ranks
from tasks import services as task_services
from tasks.models import Checklist, ChecklistItem, Task
from tests import factories
from tests.api.conftest import assert_same_rows

pytestmark = pytest.mark.django_db

ITEM_KEYS = {"id", "checklist_id", "text", "done", "done_by", "done_at", "position"}


@pytest.fixture
def task(project, owner):
    return factories.task(project, owner, title="With a checklist")


@pytest.fixture
def caller(api, editor):
    return api(editor)


def _checklist(caller, task, title="Steps") -> dict:
    reply = caller.post(f"/tasks/{task.pk}/checklists", {"title": title})
    assert reply.status == 201, reply
    return reply.body


def _item(caller, checklist, text) -> dict:
    reply = caller.post(f"/checklists/{checklist['id']}/items", {"text": text})
    assert reply.status == 201, reply
    return reply.body


def _lists(caller, task) -> list[dict]:
    reply = caller.get(f"/tasks/{task.pk}/checklists")
    assert reply.status == 200, reply
    assert reply.body["next_cursor"] is None
    return reply.body["items"]


def _order(caller, task) -> list[tuple[str, list[str]]]:
    """(title, [item texts]) in order, after checking every position is the 0-based index."""
    found = []
    for place, checklist in enumerate(_lists(caller, task)):
        assert checklist["position"] == place
        assert [item["position"] for item in checklist["items"]] == list(range(len(checklist["items"])))
        found.append((checklist["title"], [item["text"] for item in checklist["items"]]))
    return found


def _counts(task) -> dict:
    fresh = Task.objects.get(pk=task.pk)
    return {"total": fresh.checklist_total, "done": fresh.checklist_done}


def _events(project, since: int = 0) -> list[Event]:
    return list(Event.objects.filter(project=project, seq__gt=since).order_by("seq"))


def _last_seq(project) -> int:
    return Event.objects.filter(project=project).order_by("-seq").values_list("seq", flat=True).first()


# --- the resources -------------------------------------------------------------------------------------


def test_it_creates_lists_and_ticks_items(caller, editor, task):
    steps = _checklist(caller, task)
    assert steps == {"id": steps["id"], "task_id": str(task.pk), "title": "Steps", "position": 0}
    first = _item(caller, steps, "Write it")
    assert set(first) == ITEM_KEYS
    assert (first["checklist_id"], first["text"], first["done"], first["done_by"], first["done_at"],
            first["position"]) == (steps["id"], "Write it", False, None, None, 0)
    assert _item(caller, steps, "Test it")["position"] == 1
    before = timezone.now()
    ticked = caller.patch(f"/checklist-items/{first['id']}", {"done": True})
    assert ticked.status == 200, ticked
    assert ticked.body["done"] is True and ticked.body["position"] == 0
    assert ticked.body["done_by"] == {"id": str(editor.pk), "email": editor.email, "display_name": editor.display_name}
    assert ticked.body["done_at"] >= before.isoformat().replace("+00:00", "Z")[:19]
    listed = _lists(caller, task)
    assert [(i["text"], i["done"]) for i in listed[0]["items"]] == [("Write it", True), ("Test it", False)]
    assert listed[0]["items"][0] == ticked.body
    assert _counts(task) == {"total": 2, "done": 1}
    # Unticking clears who and when; ticking twice changes nothing more.
    assert caller.patch(f"/checklist-items/{first['id']}", {"done": True}).status == 200
    assert _counts(task) == {"total": 2, "done": 1}
    unticked = caller.patch(f"/checklist-items/{first['id']}", {"done": False}).body
    assert (unticked["done"], unticked["done_by"], unticked["done_at"]) == (False, None, None)
    assert _counts(task) == {"total": 2, "done": 0}
    edited = caller.patch(f"/checklist-items/{first['id']}", {"text": "Write it well"}).body
    assert edited["text"] == "Write it well" and edited["position"] == 0
    renamed = caller.patch(f"/checklists/{steps['id']}", {"title": "Plan"})
    assert renamed.status == 200 and renamed.body == {**steps, "title": "Plan"}


def test_the_counts_are_on_every_task_resource_card_and_event(caller, project, statuses, task):
    steps = _checklist(caller, task)
    for text in ("a", "b", "c"):
        _item(caller, steps, text)
    item = _lists(caller, task)[0]["items"][1]
    caller.patch(f"/checklist-items/{item['id']}", {"done": True})
    expected = {"total": 3, "done": 1}
    assert caller.get(f"/tasks/{task.pk}").body["checklist"] == expected
    assert [t["checklist"] for t in caller.get(f"/projects/{project.pk}/tasks").body["items"]] == [expected]
    column = caller.get(f"/projects/{project.pk}/tasks?status={statuses['todo'].pk}").body["items"]
    assert [t["checklist"] for t in column] == [expected]
    filtered = caller.get(f"/projects/{project.pk}/tasks?priority=medium").body["items"]
    assert [t["checklist"] for t in filtered] == [expected]
    board = caller.get(f"/projects/{project.pk}/board").body
    cards = [card for column in board["statuses"] for card in column["tasks"]]
    assert [card["checklist"] for card in cards] == [expected]
    assert caller.get("/me/tasks").body["items"] == []  # nobody is assigned; the field is on TaskOut for all
    seq = _last_seq(project)
    patched = caller.patch(f"/tasks/{task.pk}", {"title": "Renamed"}).body
    assert patched["checklist"] == expected
    (event, *_rest) = _events(project, seq)
    assert event.type == "task_updated" and event.data["task"]["checklist"] == expected
    assert caller.post(f"/projects/{project.pk}/tasks", {"title": "New"}).body["checklist"] == {"total": 0, "done": 0}


def test_every_write_logs_its_event_with_seq_and_the_counts(caller, project, task):
    seq = _last_seq(project)
    steps = _checklist(caller, task)
    other = _checklist(caller, task, "Other")
    item = _item(caller, steps, "one")
    caller.patch(f"/checklist-items/{item['id']}", {"done": True})
    caller.patch(f"/checklists/{other['id']}", {"position": 0})
    caller.patch(f"/checklist-items/{item['id']}", {"checklist_id": other["id"]})
    caller.delete(f"/checklist-items/{item['id']}")
    caller.delete(f"/checklists/{steps['id']}")
    events = _events(project, seq)
    assert [e.seq for e in events] == list(range(seq + 1, seq + 1 + len(events)))
    assert [e.type for e in events] == [
        "checklist_created", "checklist_created", "checklist_item_created", "checklist_item_updated",
        "checklist_updated", "checklist_item_updated", "checklist_item_deleted", "checklist_deleted",
    ]
    task_id = str(task.pk)
    assert [e.data["checklist_counts"] for e in events] == [
        {"total": 0, "done": 0}, {"total": 0, "done": 0}, {"total": 1, "done": 0}, {"total": 1, "done": 1},
        {"total": 1, "done": 1}, {"total": 1, "done": 1}, {"total": 0, "done": 0}, {"total": 0, "done": 0},
    ]
    assert all(e.data["task_id"] == task_id for e in events)
    assert events[0].data["checklist"] == {**steps}
    assert events[2].data == {"item": item, "checklist_id": steps["id"], "task_id": task_id,
                              "checklist_counts": {"total": 1, "done": 0}}
    assert events[4].data["checklist"] == {**other, "position": 0}
    assert events[5].data["item"]["checklist_id"] == other["id"] and events[5].data["checklist_id"] == other["id"]
    assert events[6].data == {"item_id": item["id"], "checklist_id": other["id"], "task_id": task_id,
                              "checklist_counts": {"total": 0, "done": 0}}
    assert events[7].data == {"checklist_id": steps["id"], "task_id": task_id,
                              "checklist_counts": {"total": 0, "done": 0}}
    # The same envelopes over REST.
    page = caller.get(f"/projects/{project.pk}/events?since={seq}").body["items"]
    assert [(e["type"], e["seq"], e["data"]) for e in page] == [(e.type, e.seq, e.data) for e in events]


def test_deleting_takes_the_items_and_their_counts(caller, task):
    steps = _checklist(caller, task)
    keep = _checklist(caller, task, "Keep")
    items = [_item(caller, steps, t) for t in "abc"]
    _item(caller, keep, "x")
    for item in items[:2]:
        caller.patch(f"/checklist-items/{item['id']}", {"done": True})
    assert _counts(task) == {"total": 4, "done": 2}
    assert caller.delete(f"/checklist-items/{items[0]['id']}").status == 204
    assert _counts(task) == {"total": 3, "done": 1}
    assert caller.delete(f"/checklists/{steps['id']}").status == 204
    assert _counts(task) == {"total": 1, "done": 0}
    assert not ChecklistItem.objects.filter(checklist_id=steps["id"]).exists()
    assert _order(caller, task) == [("Keep", ["x"])]
    assert caller.delete(f"/checklists/{steps['id']}").status == 404
    assert caller.patch(f"/checklist-items/{items[1]['id']}", {"done": False}).status == 404


def test_deleting_the_task_deletes_its_checklists(caller, editor, task):
    steps = _checklist(caller, task)
    _item(caller, steps, "a")
    task_services.task_delete(task_id=task.pk, user=editor)
    assert not Checklist.objects.exists() and not ChecklistItem.objects.exists()


# --- order -------------------------------------------------------------------------------------------


def test_reordering_keeps_positions_dense(caller, task):
    lists = [_checklist(caller, task, title) for title in "ABCD"]
    assert [c["position"] for c in lists] == [0, 1, 2, 3]
    moved = caller.patch(f"/checklists/{lists[3]['id']}", {"position": 1}).body
    assert moved["position"] == 1
    assert [t for t, _ in _order(caller, task)] == ["A", "D", "B", "C"]
    assert caller.patch(f"/checklists/{lists[0]['id']}", {"position": 3}).body["position"] == 3
    assert [t for t, _ in _order(caller, task)] == ["D", "B", "C", "A"]
    # Past the end means last; 0 means first.
    assert caller.patch(f"/checklists/{lists[3]['id']}", {"position": 40}).body["position"] == 3
    assert caller.patch(f"/checklists/{lists[2]['id']}", {"position": 0}).body["position"] == 0
    assert [t for t, _ in _order(caller, task)] == ["C", "B", "A", "D"]
    # A rename keeps the place; the answer says where it is.
    assert caller.patch(f"/checklists/{lists[0]['id']}", {"title": "A2"}).body["position"] == 2
    # Deleting one closes the gap.
    caller.delete(f"/checklists/{lists[1]['id']}")
    assert [t for t, _ in _order(caller, task)] == ["C", "A2", "D"]


def test_items_reorder_and_move_between_checklists_of_the_task(caller, task):
    one, two = _checklist(caller, task, "one"), _checklist(caller, task, "two")
    items = {t: _item(caller, one, t) for t in "abcd"}
    _item(caller, two, "x")
    assert caller.patch(f"/checklist-items/{items['d']['id']}", {"position": 0}).body["position"] == 0
    assert caller.patch(f"/checklist-items/{items['a']['id']}", {"position": 2}).body["position"] == 2
    assert _order(caller, task) == [("one", ["d", "b", "a", "c"]), ("two", ["x"])]
    # To the end of another checklist, then to a given place in it; its counts stay with the task.
    caller.patch(f"/checklist-items/{items['b']['id']}", {"done": True})
    moved = caller.patch(f"/checklist-items/{items['b']['id']}", {"checklist_id": two["id"]}).body
    assert (moved["checklist_id"], moved["position"], moved["done"]) == (two["id"], 1, True)
    moved = caller.patch(f"/checklist-items/{items['c']['id']}", {"checklist_id": two["id"], "position": 0}).body
    assert (moved["checklist_id"], moved["position"]) == (two["id"], 0)
    assert _order(caller, task) == [("one", ["d", "a"]), ("two", ["c", "x", "b"])]
    assert _counts(task) == {"total": 5, "done": 1}
    # Naming its own checklist is a plain reorder.
    same = caller.patch(f"/checklist-items/{items['b']['id']}", {"checklist_id": two["id"], "position": 1}).body
    assert same["position"] == 1
    assert _order(caller, task) == [("one", ["d", "a"]), ("two", ["c", "b", "x"])]
    # Several fields at once.
    both = caller.patch(f"/checklist-items/{items['a']['id']}", {"text": "A", "done": True, "position": 0}).body
    assert (both["text"], both["done"], both["position"]) == ("A", True, 0)
    assert _counts(task) == {"total": 5, "done": 2}


def test_an_item_cannot_move_to_another_tasks_checklist(caller, project, owner, task, db_rows):
    steps = _checklist(caller, task)
    item = _item(caller, steps, "a")
    other_task = factories.task(project, owner, title="Other")
    elsewhere = _checklist(caller, other_task)
    before = db_rows()
    for target in (elsewhere["id"], str(uuid.uuid4())):
        reply = caller.patch(f"/checklist-items/{item['id']}", {"checklist_id": target})
        assert reply.status == 422 and reply.body["detail"][0]["loc"][-1] == "checklist_id", reply
    assert_same_rows(before)


# --- limits and bad input -------------------------------------------------------------------------------


def _fill_checklists(task, n):
    rank = None
    rows = []
    for i in range(n):
        rank = ranks.after(rank)
        rows.append(Checklist(task=task, title=f"c{i}", rank=rank))
    return Checklist.objects.bulk_create(rows)


def _fill_items(checklist_id, n):
    rank = None
    rows = []
    for i in range(n):
        rank = ranks.after(rank)
        rows.append(ChecklistItem(checklist_id=checklist_id, text=f"i{i}", rank=rank))
    ChecklistItem.objects.bulk_create(rows)


def test_at_most_50_checklists_per_task(caller, task, db_rows):
    _fill_checklists(task, 49)
    assert _checklist(caller, task, "fiftieth")["position"] == 49
    before = db_rows()
    reply = caller.post(f"/tasks/{task.pk}/checklists", {"title": "one too many"})
    assert reply.status == 409 and reply.body["code"] == "limit" and "50" in reply.body["detail"], reply
    assert_same_rows(before)


def test_at_most_200_items_per_checklist(caller, task, db_rows):
    full, other = _checklist(caller, task), _checklist(caller, task, "other")
    _fill_items(full["id"], 199)
    assert _item(caller, full, "last one")["position"] == 199
    spare = _item(caller, other, "spare")
    before = db_rows()
    reply = caller.post(f"/checklists/{full['id']}/items", {"text": "one too many"})
    assert reply.status == 409 and reply.body["code"] == "limit" and "200" in reply.body["detail"], reply
    moved = caller.patch(f"/checklist-items/{spare['id']}", {"checklist_id": full["id"]})
    assert moved.status == 409 and moved.body["code"] == "limit", moved
    assert_same_rows(before)
    # Within the full checklist, reordering is still fine.
    first = ChecklistItem.objects.filter(checklist_id=full["id"]).order_by("rank").first()
    assert caller.patch(f"/checklist-items/{first.pk}", {"position": 199}).body["position"] == 199


@pytest.mark.parametrize("path,method,body", [
    ("/tasks/{task}/checklists", "POST", {"title": ""}),
    ("/tasks/{task}/checklists", "POST", {"title": "x" * 256}),
    ("/tasks/{task}/checklists", "POST", {}),
    ("/tasks/{task}/checklists", "POST", {"title": 5}),
    ("/checklists/{checklist}", "PATCH", {"title": ""}),
    ("/checklists/{checklist}", "PATCH", {"position": -1}),
    ("/checklists/{checklist}", "PATCH", {"position": 1.5}),
    ("/checklists/{checklist}", "PATCH", {"position": "first"}),
    ("/checklists/{checklist}", "PATCH", {"position": True}),
    ("/checklists/{checklist}/items", "POST", {"text": ""}),
    ("/checklists/{checklist}/items", "POST", {"text": "x" * 10_001}),
    ("/checklist-items/{item}", "PATCH", {"text": "x" * 10_001}),
    ("/checklist-items/{item}", "PATCH", {"done": "maybe"}),
    ("/checklist-items/{item}", "PATCH", {"checklist_id": "not-a-uuid"}),
    ("/checklist-items/{item}", "PATCH", {"position": 10_001}),
])
def test_bad_input_is_a_422_that_writes_nothing(caller, task, db_rows, path, method, body):
    steps = _checklist(caller, task)
    item = _item(caller, steps, "a")
    before = db_rows()
    reply = caller.request(method, path.format(task=task.pk, checklist=steps["id"], item=item["id"]), body)
    assert reply.status == 422 and reply.body["code"] == "invalid", reply
    assert_same_rows(before)


def test_the_longest_title_and_text_fit(caller, task):
    steps = _checklist(caller, task, "t" * 255)
    assert _item(caller, steps, "x" * 10_000)["text"] == "x" * 10_000


def test_unknown_ids_are_404(caller):
    ghost = uuid.uuid4()
    for method, path, body in [("GET", f"/tasks/{ghost}/checklists", None),
                               ("POST", f"/tasks/{ghost}/checklists", {"title": "x"}),
                               ("PATCH", f"/checklists/{ghost}", {"title": "x"}),
                               ("DELETE", f"/checklists/{ghost}", None),
                               ("POST", f"/checklists/{ghost}/items", {"text": "x"}),
                               ("PATCH", f"/checklist-items/{ghost}", {"done": True}),
                               ("DELETE", f"/checklist-items/{ghost}", None)]:
        reply = caller.request(method, path, body) if body is not None else caller.request(method, path)
        assert reply.status == 404 and reply.body["code"] == "not_found", (method, path, reply)


def test_an_archived_project_refuses_checklist_writes(caller, api, owner, project, task, db_rows):
    from projects import services as project_services

    steps = _checklist(caller, task)
    item = _item(caller, steps, "a")
    project_services.project_archive(project_id=project.pk, user=owner)
    before = db_rows()
    for method, path, body in [("POST", f"/tasks/{task.pk}/checklists", {"title": "x"}),
                               ("PATCH", f"/checklists/{steps['id']}", {"title": "x"}),
                               ("DELETE", f"/checklists/{steps['id']}", None),
                               ("POST", f"/checklists/{steps['id']}/items", {"text": "x"}),
                               ("PATCH", f"/checklist-items/{item['id']}", {"done": True}),
                               ("DELETE", f"/checklist-items/{item['id']}", None)]:
        reply = caller.request(method, path, body) if body is not None else caller.request(method, path)
        assert reply.status == 409 and reply.body["code"] == "archived", (method, path, reply)
    assert_same_rows(before)
    assert len(caller.get(f"/tasks/{task.pk}/checklists").body["items"]) == 1


# --- recount_checklists --------------------------------------------------------------------------------


def test_recount_checklists_reports_and_repairs_drift(caller, task, project, owner, capsys):
    steps = _checklist(caller, task)
    for text in "abc":
        _item(caller, steps, text)
    caller.patch(f"/checklist-items/{_lists(caller, task)[0]['items'][0]['id']}", {"done": True})
    factories.task(project, owner, title="empty")
    call_command("recount_checklists", "--check")
    assert "2 tasks checked, 0 with drift" in capsys.readouterr().out
    Task.objects.filter(pk=task.pk).update(checklist_total=7, checklist_done=0)
    with pytest.raises(Exception, match="1 with drift"):
        call_command("recount_checklists", "--check")
    assert _counts(task) == {"total": 7, "done": 0}
    capsys.readouterr()
    call_command("recount_checklists")
    out = capsys.readouterr().out
    assert f"task {task.pk}: total 7 -> 3, done 0 -> 1" in out and "(fixed)" in out
    assert _counts(task) == {"total": 3, "done": 1}
