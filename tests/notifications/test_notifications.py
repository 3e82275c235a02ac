"""Notifications (API.md, "Notifications", "Mentions"): who is told what, when, and with which ``seq``."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import services
from notifications.models import Notification, NotificationCounter
from projects import services as project_services
from tasks import services as task_services
from tasks.models import Comment
from tests import factories
from tests.api import conftest as api_conftest
from tests.conftest import work_statements

pytestmark = pytest.mark.django_db

api = api_conftest.api


def notes(user, *, added: bool = False) -> list[Notification]:
    """The user's notifications in seq order; without ``added``, not the "added to a project" ones that the
    fixtures' project memberships made (the ``project`` fixture adds the editor)."""
    qs = Notification.objects.filter(user=user).order_by("seq")
    return list(qs if added else qs.exclude(type="project_member_added"))


def told() -> bool:
    return Notification.objects.exclude(type="project_member_added").exists()


def mention(user) -> str:
    return f"<@{user.pk}>"


# --- who is told what --------------------------------------------------------------------------------------


def test_creating_a_task_for_someone_tells_them(project, owner, editor):
    task = factories.task(project, owner, title="Fix it", assignee_id=editor.pk)
    [note] = notes(editor)
    # seq 2: the editor's first was being added to the project (the fixture's doing)
    assert (note.type, note.text, note.seq, note.actor_id) == ("task_assigned", f"{owner.display_name} assigned you "
                                                                                f"{task.key}", 2, owner.pk)
    assert (note.workspace_id, note.project_id, note.task_id, note.task_key, note.task_title) == (
        project.workspace_id, project.pk, task.pk, task.key, "Fix it")
    assert notes(owner) == []


def test_assigning_oneself_tells_nobody(project, owner):
    factories.task(project, owner, assignee_id=owner.pk)
    task = factories.task(project, owner)
    task_services.task_update(task_id=task.pk, user=owner, fields={"assignee_id": owner.pk})
    assert not told()


def test_changing_the_assignee_tells_the_new_one_only(project, owner, editor):
    task = factories.task(project, owner, assignee_id=editor.pk)
    task_services.task_update(task_id=task.pk, user=owner, fields={"assignee_id": owner.pk})
    task_services.task_update(task_id=task.pk, user=owner, fields={"title": "Retitled"})
    task_services.task_update(task_id=task.pk, user=editor, fields={"assignee_id": owner.pk})  # unchanged
    assert [n.type for n in notes(editor)] == ["task_assigned"]
    assert notes(owner) == []  # they assigned themselves
    task_services.task_update(task_id=task.pk, user=editor, fields={"assignee_id": editor.pk})
    task_services.task_update(task_id=task.pk, user=editor, fields={"assignee_id": owner.pk})
    assert [n.text for n in notes(owner)] == [f"{editor.display_name} assigned you {task.key}"]


def test_a_comment_tells_the_mentioned_then_assignee_and_reporter(project, owner, editor, viewer, editor_outside):
    task = factories.task(project, owner, assignee_id=editor.pk)
    # The viewer mentions the editor (who is also the assignee) and the editor outside the project.
    comment = task_services.comment_create(task_id=task.pk, user=viewer,
                                           body=f"{mention(editor)} and {mention(editor_outside)}: see this")
    # once, as mentioned (not also as the assignee); before it, being assigned the task
    assert [(n.type, n.comment_id) for n in notes(editor)] == [("task_assigned", None), ("mentioned", comment.pk)]
    assert [n.type for n in notes(editor_outside)] == ["mentioned"]
    assert [(n.type, n.text) for n in notes(owner)] == [("comment_added", f"{viewer.display_name} commented on "
                                                                          f"{task.key}")]  # the reporter
    assert notes(viewer) == []
    assert comment.mentions == [{"id": str(editor.pk), "display_name": editor.display_name},
                                {"id": str(editor_outside.pk), "display_name": editor_outside.display_name}]


def test_one_writes_comment_tells_nobody_about_it_to_themselves(project, owner):
    task = factories.task(project, owner, assignee_id=owner.pk)
    comment = task_services.comment_create(task_id=task.pk, user=owner, body=f"Note to {mention(owner)}")
    assert not told()
    assert comment.mentions == [{"id": str(owner.pk), "display_name": owner.display_name}]


def test_mentions_of_outsiders_and_nobody_look_alike_and_tell_nobody(api, project, owner, outsider):
    task = factories.task(project, owner)
    ghost = "123e4567-e89b-12d3-a456-426614174000"
    me = api(owner)
    with_outsider = me.post(f"/tasks/{task.pk}/comments", {"body": f"hi {mention(outsider)}"}).body
    with_nobody = me.post(f"/tasks/{task.pk}/comments", {"body": f"hi <@{ghost}>"}).body
    assert with_outsider["mentions"] == with_nobody["mentions"] == []
    assert with_outsider["body"] == f"hi {mention(outsider)}"  # stays in the text as written
    assert not told()


def test_mentions_in_order_of_first_appearance_each_once_at_most_50(project, owner, editor, viewer):
    task = factories.task(project, owner)
    body = f"{mention(viewer)} {mention(editor)} {mention(viewer)} <@not-a-uuid> {mention(owner)}"
    comment = task_services.comment_create(task_id=task.pk, user=owner, body=body)
    assert [m["id"] for m in comment.mentions] == [str(viewer.pk), str(editor.pk), str(owner.pk)]
    many = [uuid.uuid4() for _ in range(task_services.MAX_MENTION_IDS + 10)]
    assert task_services.mentioned_ids(" ".join(f"<@{u}>" for u in many)) == many[:task_services.MAX_MENTION_IDS]


def test_a_comment_keeps_at_most_50_mentions_and_tells_those(workspace, project, owner):
    from projects.models import WorkspaceMember

    people = [factories.user(f"m{i}@example.com", f"M {i}") for i in range(task_services.MAX_MENTIONS + 5)]
    WorkspaceMember.objects.bulk_create([WorkspaceMember(workspace=workspace, user=p, role="viewer") for p in people])
    task = factories.task(project, owner)
    comment = task_services.comment_create(task_id=task.pk, user=owner, body=" ".join(mention(p) for p in people))
    assert [m["id"] for m in comment.mentions] == [str(p.pk) for p in people[:task_services.MAX_MENTIONS]]
    assert set(Notification.objects.filter(type="mentioned").values_list("user_id", flat=True)) == {
        p.pk for p in people[:task_services.MAX_MENTIONS]}


def test_editing_a_comment_tells_only_the_newly_mentioned(project, owner, editor, viewer):
    task = factories.task(project, owner)
    comment = task_services.comment_create(task_id=task.pk, user=owner, body=f"{mention(editor)}")
    task_services.comment_update(comment_id=comment.pk, user=owner, body=f"{mention(editor)} {mention(viewer)}")
    task_services.comment_update(comment_id=comment.pk, user=owner, body=f"{mention(editor)} {mention(viewer)}!")
    assert [n.type for n in notes(editor)] == ["mentioned"]
    assert [n.type for n in notes(viewer)] == ["mentioned"]
    assert Comment.objects.get(pk=comment.pk).mentions[1]["id"] == str(viewer.pk)


def test_a_reporter_who_left_the_workspace_is_not_told(project, owner, editor):
    task = factories.task(project, editor)  # the editor reports it
    task_services.workspace_member_remove(workspace_id=project.workspace_id, actor=owner, user_id=editor.pk)
    task_services.comment_create(task_id=task.pk, user=owner, body="Done?")
    assert notes(editor) == []


def test_being_added_to_a_project_tells_the_added(project, owner, editor_outside):
    project_services.project_member_add(project_id=project.pk, actor=owner, user_id=editor_outside.pk, role="member")
    [note] = notes(editor_outside, added=True)
    assert (note.type, note.project_id, note.text) == ("project_member_added", project.pk,
                                                       f"{owner.display_name} added you to {project.name}")


def test_a_rolled_back_write_tells_nobody(project, owner, editor, django_capture_on_commit_callbacks):
    published = []
    from realtime import events

    events.add_after_commit_hook(published.extend)
    try:
        with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            factories.task(project, owner, assignee_id=editor.pk)
            raise RuntimeError("boom")
    finally:
        events.remove_after_commit_hook(published.extend)
    assert not told() and NotificationCounter.objects.get(user=editor).last_seq == 1  # the fixture's one
    assert [m for m, _ in published if m["type"] == "notification"] == []


def test_notifications_go_to_the_users_group_after_commit(project, owner, editor, django_capture_on_commit_callbacks):
    published = []
    from realtime import events

    events.add_after_commit_hook(published.extend)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            task = factories.task(project, owner, assignee_id=editor.pk)
        assert [m for m, _ in published if m["type"] == "notification"] == []  # nothing before the commit
        for callback in callbacks:
            callback()
    finally:
        events.remove_after_commit_hook(published.extend)
    [(frame, groups)] = [(m, g) for m, g in published if m["type"] == "notification"]
    assert groups == [f"user.{editor.pk}"]
    assert frame["seq"] == 2 and frame["data"]["task"] == {"id": str(task.pk), "key": task.key, "title": task.title}
    assert frame["data"]["actor"]["id"] == str(owner.pk)


# --- seq, unread, reading ---------------------------------------------------------------------------------


def test_seq_counts_from_1_per_user_with_no_gaps(project, owner, editor, viewer):
    for i in range(4):
        factories.task(project, owner, title=f"t{i}", assignee_id=editor.pk)
    task = factories.task(project, owner)
    task_services.comment_create(task_id=task.pk, user=owner, body=f"{mention(viewer)} {mention(editor)}")
    assert [n.seq for n in notes(editor, added=True)] == [1, 2, 3, 4, 5, 6]
    assert [n.seq for n in notes(viewer)] == [1]
    counter = NotificationCounter.objects.get(user=editor)
    assert (counter.last_seq, counter.unread) == (6, 6)


def test_one_write_notifying_many_costs_the_same_statements_as_notifying_one(project, workspace, owner):
    people = [factories.user(f"p{i}@example.com", f"P {i}") for i in range(5)]
    for person in people:
        project_services.workspace_member_add(workspace_id=workspace.pk, actor=owner, email=person.email,
                                              role="viewer")
    task = factories.task(project, owner)
    counts = []
    for group in (people[:1], people):
        with CaptureQueriesContext(connection) as ctx:
            task_services.comment_create(task_id=task.pk, user=owner, body=" ".join(mention(p) for p in group))
        counts.append(len(work_statements(ctx.captured_queries)))
    assert counts[0] == counts[1]
    assert all(len(notes(p)) == (2 if p is people[0] else 1) for p in people)


def test_read_unread_read_all_and_delete_keep_the_unread_count(api, project, owner, editor):
    for i in range(3):
        factories.task(project, owner, title=f"t{i}", assignee_id=editor.pk)
    first, second, third = notes(editor)
    me = api(editor)
    me.post("/notifications/read-all", {"up_to_seq": 1})  # the fixture's "added to the project"
    assert me.get("/notifications/count").body == {"unread": 3, "latest_seq": 4}
    read = me.post(f"/notifications/{first.pk}/read")
    assert read.status == 200 and read.body["read_at"] and read.body["id"] == str(first.pk)
    assert me.post(f"/notifications/{first.pk}/read").status == 200  # again: nothing changes
    assert me.get("/notifications").body["unread"] == 2
    assert me.post(f"/notifications/{first.pk}/unread").body["read_at"] is None
    assert me.post("/notifications/read-all", {"up_to_seq": 3}).body == {"unread": 1}
    assert [n.read_at is not None for n in notes(editor)] == [True, True, False]
    assert me.delete(f"/notifications/{third.pk}").status == 204
    assert me.get("/notifications/count").body == {"unread": 0, "latest_seq": 4}
    assert me.post("/notifications/read-all", {}).body == {"unread": 0}


def test_the_list_is_newest_first_with_pages_and_the_unread_filter(api, project, owner, editor):
    for i in range(5):
        factories.task(project, owner, title=f"t{i}", assignee_id=editor.pk)
    me = api(editor)
    me.post(f"/notifications/{notes(editor)[4].pk}/read")  # seq 6 (1 is the fixture's)
    page = me.get("/notifications?limit=2").body
    assert [n["seq"] for n in page["items"]] == [6, 5] and page["unread"] == 5
    rest = me.get(f"/notifications?limit=10&cursor={page['next_cursor']}").body
    assert [n["seq"] for n in rest["items"]] == [4, 3, 2, 1] and rest["next_cursor"] is None
    assert [n["seq"] for n in me.get("/notifications?unread=true").body["items"]] == [5, 4, 3, 2, 1]
    item = page["items"][1]
    assert set(item) == {"id", "seq", "type", "text", "actor", "workspace_id", "project_id", "task", "comment_id",
                         "invitation_id", "read_at", "created_at"}
    assert item["actor"] == {"id": str(owner.pk), "email": owner.email, "display_name": owner.display_name}


def test_someone_elses_notification_is_not_found(api, project, owner, editor, viewer):
    factories.task(project, owner, assignee_id=editor.pk)
    [note] = notes(editor)
    other = api(viewer)
    before = api_conftest._rows()
    for method, path in (("POST", f"/notifications/{note.pk}/read"), ("POST", f"/notifications/{note.pk}/unread"),
                         ("DELETE", f"/notifications/{note.pk}")):
        reply = other.request(method, path)
        assert (reply.status, reply.body["code"]) == (404, "not_found")
    api_conftest.assert_same_rows(before)
    assert other.get("/notifications").body == {"items": [], "next_cursor": None, "unread": 0}


def test_anonymous_gets_401(api):
    assert api(None).get("/notifications").status == 401


def test_trim_notifications_removes_old_read_ones_only(project, owner, editor, capsys):
    for i in range(3):
        factories.task(project, owner, title=f"t{i}", assignee_id=editor.pk)
    old_read, old_unread, new_read = notes(editor)
    services.notification_mark(notification_id=old_read.pk, user=editor, read=True)
    services.notification_mark(notification_id=new_read.pk, user=editor, read=True)
    Notification.objects.filter(pk__in=[old_read.pk, old_unread.pk]).update(
        created_at=timezone.now() - datetime.timedelta(days=40))
    call_command("trim_notifications", "--days", "30")
    assert [n.pk for n in notes(editor)] == [old_unread.pk, new_read.pk]
    assert "Deleted 1" in capsys.readouterr().out
    assert NotificationCounter.objects.get(user=editor).unread == 2  # old_unread, and the fixture's


def test_trim_refuses_negative_days():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("trim_notifications", "--days", "-1")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_share_or_skip_a_seq(workspace, project, owner, editor):
    """Eight threads each create tasks assigned to the editor at the same time: the editor's seqs are 1..N."""
    import threading

    from django.db import connections

    writers, per_writer = 8, 5
    people = [factories.user(f"w{i}@example.com", f"W {i}") for i in range(writers)]
    for person in people:
        project_services.workspace_member_add(workspace_id=workspace.pk, actor=owner, email=person.email,
                                              role="editor")
        project_services.project_member_add(project_id=project.pk, actor=owner, user_id=person.pk, role="member")
    start = threading.Barrier(writers)
    errors = []

    def write(person):
        try:
            start.wait()
            for i in range(per_writer):
                factories.task(project, person, title=f"{person.display_name} {i}", assignee_id=editor.pk)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    seqs = [n.seq for n in notes(editor, added=True)]
    assert seqs == list(range(1, writers * per_writer + 2))  # 1: the fixture's "added to the project"
    assert NotificationCounter.objects.get(user=editor).last_seq == writers * per_writer + 1


# --- the unread count stays true ----------------------------------------------------------------------------


@pytest.mark.parametrize("deleted", ["project", "workspace"])
def test_deleting_a_project_or_its_workspace_takes_its_notifications_out_of_the_count(
        deleted, api, workspace, project, other_project, owner, editor, outsider, django_capture_on_commit_callbacks):
    project_services.workspace_member_add(workspace_id=other_project.workspace_id, actor=outsider, email=editor.email,
                                          role="editor")
    project_services.project_member_add(project_id=other_project.pk, actor=outsider, user_id=editor.pk, role="member")
    factories.task(project, owner, assignee_id=editor.pk)
    factories.task(other_project, outsider, assignee_id=editor.pk)
    me = api(editor)
    unread_before = me.get("/notifications/count").body["unread"]
    assert unread_before == 4  # two "added to the project", two assignments
    with django_capture_on_commit_callbacks(execute=False):
        if deleted == "project":
            project_services.project_delete(project_id=project.pk, user=owner)
        else:
            project_services.workspace_delete(workspace_id=workspace.pk, user=owner)
    page = me.get("/notifications").body
    assert page["unread"] == me.get("/notifications/count").body["unread"] == len(page["items"]) == 2
    assert {n["project_id"] for n in page["items"]} == {str(other_project.pk)}
    assert me.post("/notifications/read-all").body == {"unread": 0}


def test_the_forgotten_notifications_are_told_to_the_users_sockets(project, owner, editor, monkeypatch):
    sent = []
    monkeypatch.setattr(services.event_log, "publish_messages_after_commit", sent.extend)
    factories.task(project, owner, assignee_id=editor.pk)
    gone = [str(n.pk) for n in Notification.objects.filter(user=editor)]
    sent.clear()
    services.notifications_forget(project_id=project.pk)
    [(message, groups)] = sent
    data = message["data"]
    assert (message["type"], sorted(data["ids"]), data["unread"], data["deleted"]) == (
        "notifications_read", sorted(gone), 0, True)
    assert groups == [services.event_log.user_group(editor.pk)]


def test_read_all_tells_the_seq_it_read_up_to_and_nothing_when_nothing_was_unread(project, owner, editor,
                                                                                   monkeypatch):
    sent = []
    monkeypatch.setattr(services.event_log, "publish_messages_after_commit", sent.extend)
    factories.task(project, owner, assignee_id=editor.pk)  # seq 2 (1: "added to the project")
    sent.clear()
    assert services.notification_read_all(user=editor, up_to_seq=10**6) == 0
    assert [m["data"] for m, _ in sent] == [{"up_to_seq": 2, "unread": 0}]  # not beyond what exists
    sent.clear()
    assert services.notification_read_all(user=editor) == 0
    assert services.notification_read_all(user=owner) == 0  # never notified
    assert sent == []


def test_read_all_takes_no_body(api, project, owner, editor):
    factories.task(project, owner, assignee_id=editor.pk)
    reply = api(editor).post("/notifications/read-all")
    assert (reply.status, reply.body) == (200, {"unread": 0})


# --- mentions: once each, members first -------------------------------------------------------------------


def test_taking_a_mention_out_and_putting_it_back_tells_them_once(project, owner, editor):
    task = factories.task(project, owner)
    comment = task_services.comment_create(task_id=task.pk, user=owner, body=f"{mention(editor)} look")
    for body in ("never mind", f"{mention(editor)} look again", "no", f"{mention(editor)} really"):
        task_services.comment_update(comment_id=comment.pk, user=owner, body=body)
    assert [n.type for n in notes(editor)] == ["mentioned"]


def test_ids_of_nobody_written_first_push_no_members_mention_out(project, owner, editor):
    task = factories.task(project, owner)
    nobody = " ".join(f"<@{uuid.uuid4()}>" for _ in range(task_services.MAX_MENTIONS))
    comment = task_services.comment_create(task_id=task.pk, user=owner, body=f"{nobody} {mention(editor)}")
    assert comment.mentions == [{"id": str(editor.pk), "display_name": editor.display_name}]
    assert [n.type for n in notes(editor)] == ["mentioned"]
