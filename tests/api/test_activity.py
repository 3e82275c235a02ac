"""``GET /tasks/{id}/activity`` (API.md "Activity"): the task's events from the project's log, newest first.

The permission matrix is in ``tests/api/test_permissions.py``; the query count at 5 and 300 rows in
``tests/budgets``. Here: what it lists, its pages, and that it costs the same at 10 and 10 000 events
of the project (on PostgreSQL, through the per-task index).
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from realtime.events import build, subject_task_id
from realtime.models import Event
from tasks import services as task_services
from tests import factories

pytestmark = pytest.mark.django_db

EVENT_KEYS = {"type", "project_id", "workspace_id", "seq", "ts", "actor_id", "request_id", "data"}


@pytest.fixture
def task(project, owner):
    return factories.task(project, owner, title="Watched")


def _activity(caller, task, **query) -> dict:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    reply = caller.get(f"/tasks/{task.pk}/activity" + (f"?{params}" if params else ""))
    assert reply.status == 200, reply
    return reply.body


def test_it_lists_the_tasks_events_newest_first(api, owner, editor, project, statuses, task):
    other = factories.task(project, owner, title="Other")
    task_services.task_update(task_id=task.pk, user=editor, fields={"title": "Watched closely"})
    task_services.comment_create(task_id=other.pk, user=owner, body="elsewhere")
    comment = task_services.comment_create(task_id=task.pk, user=editor, body="Looking")
    task_services.comment_update(comment_id=comment.pk, user=editor, body="Looked")
    checklist = task_services.checklist_create(task_id=task.pk, user=owner, title="Steps")
    item = task_services.checklist_item_create(checklist_id=checklist.pk, user=owner, text="One")
    task_services.checklist_item_update(item_id=item.pk, user=owner, fields={"done": True})
    task_services.task_move(task_id=task.pk, user=owner, status_id=statuses["done"].pk)
    task_services.comment_delete(comment_id=comment.pk, user=editor)
    caller = api(editor)
    body = _activity(caller, task)
    assert body["next_cursor"] is None
    types = [event["type"] for event in body["items"]]
    assert types == ["comment_deleted", "task_moved", "checklist_item_updated", "checklist_item_created",
                     "checklist_created", "comment_updated", "comment_added", "task_updated", "task_created"]
    assert all(set(event) == EVENT_KEYS for event in body["items"])
    seqs = [event["seq"] for event in body["items"]]
    assert seqs == sorted(seqs, reverse=True)
    # The same envelopes as the project's log serves.
    log = {e["seq"]: e for e in caller.get(f"/projects/{project.pk}/events?since=0&limit=200").body["items"]}
    assert body["items"] == [log[seq] for seq in seqs]
    # The project's own events (counts, the other task's) are not the task's.
    assert {"project_counts_changed", "project_created"} <= {e["type"] for e in log.values()}
    assert [e["type"] for e in _activity(caller, other)["items"]] == ["comment_added", "task_created"]


def test_pages_follow_the_cursor(api, owner, task):
    for i in range(7):
        task_services.task_update(task_id=task.pk, user=owner, fields={"description": f"v{i}"})
    caller = api(owner)
    seen, cursor = [], None
    while True:
        body = _activity(caller, task, limit=3, **({"cursor": cursor} if cursor else {}))
        assert len(body["items"]) <= 3
        seen += [event["seq"] for event in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    everything = [event["seq"] for event in _activity(caller, task, limit=200)["items"]]
    assert seen == everything and len(everything) == 8


def test_what_the_log_trimmed_is_simply_absent(api, owner, project, task):
    for i in range(4):
        task_services.task_update(task_id=task.pk, user=owner, fields={"description": f"v{i}"})
    oldest = list(Event.objects.filter(task_id=task.pk).order_by("seq")[:3].values_list("pk", flat=True))
    Event.objects.filter(pk__in=oldest).delete()
    body = _activity(api(owner), task)
    assert [event["type"] for event in body["items"]] == ["task_updated", "task_updated"]


def test_a_deleted_task_has_no_activity_to_show(api, owner, task):
    task_services.task_delete(task_id=task.pk, user=owner)
    reply = api(owner).get(f"/tasks/{task.pk}/activity")
    assert reply.status == 404 and reply.body["code"] == "not_found"
    # Its events stay in the project's log, task_deleted included, with their task.
    assert Event.objects.filter(task_id=task.pk, type="task_deleted").exists()


@pytest.mark.parametrize("query", ["cursor=nonsense", "limit=0", "limit=201", "limit=x", "cursor=" + "a" * 2001])
def test_bad_input_is_a_422(api, owner, task, query):
    reply = api(owner).get(f"/tasks/{task.pk}/activity?{query}")
    assert reply.status == 422 and reply.body["code"] in ("invalid", "invalid_cursor"), reply


def test_the_subject_of_an_event_is_read_off_its_payload():
    task_id = str(uuid.uuid4())
    assert subject_task_id({"task": {"id": task_id, "title": "x"}}) == task_id
    assert subject_task_id({"task_id": task_id, "key": "TH-1"}) == task_id
    assert subject_task_id({"comment": {"id": "c", "task_id": task_id}}) == task_id
    assert subject_task_id({"item": {"id": "i"}, "checklist_id": "c", "task_id": task_id}) == task_id
    assert subject_task_id({"task": {"id": "x"}}) is None  # not an id
    for data in ({"project": {"id": task_id}}, {"counts": {}}, {"user": {"id": task_id}, "role": "member"}, {}, []):
        assert subject_task_id(data) is None


def _flood(project, task, n: int, *, ours_every: int) -> None:
    """``n`` events in the project's log, one in ``ours_every`` about ``task``, the rest about 500 others."""
    from projects.models import ProjectCounters

    counters = ProjectCounters.objects.get(project=project)
    others = [str(uuid.uuid4()) for _ in range(500)]
    items = [("task_updated", {"task": {"id": str(task.pk) if i % ours_every == 0 else others[i % 500]}})
             for i in range(n)]
    Event.objects.bulk_create(build(workspace_id=project.workspace_id, project_id=project.pk,
                                    first_seq=counters.last_seq + 1, items=items, actor_id=None), batch_size=2000)
    ProjectCounters.objects.filter(project=project).update(last_seq=counters.last_seq + n)


@pytest.mark.parametrize("size", [10, 10_000])
def test_the_cost_does_not_grow_with_the_projects_log(api, owner, project, task, size, assert_num_queries):
    _flood(project, task, size, ours_every=max(size // 40, 1))
    caller = api(owner)
    caller.get("/auth/me")  # the token's cache entry
    with assert_num_queries(2):  # the task with the access check, one page of its events
        reply = caller.get(f"/tasks/{task.pk}/activity")
    assert reply.status == 200 and len(reply.body["items"]) == min(50, 1 + min(size, 40))
    assert all(subject_task_id(event["data"]) == str(task.pk) for event in reply.body["items"])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan")
def test_the_plan_is_a_range_of_the_per_task_index(project, task):
    _flood(project, task, 10_000, ours_every=250)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE realtime_event")
    qs = Event.objects.filter(task_id=task.pk).order_by("-seq")[:51]
    plan = qs.explain()
    assert "realtime_event_task" in plan, plan
    assert "Seq Scan" not in plan, plan
