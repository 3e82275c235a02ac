"""The Django admin: every changelist opens, list pages do not grow with rows, edits go through services."""

import datetime

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, User, new_token
from notifications.models import Notification, NotificationCounter
from projects import services as project_services
from projects.models import Invitation, Project, ProjectCounters
from realtime.models import Event
from tasks import services as task_services
from tasks.models import Task
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root@example.com", "root-password-1", display_name="Root")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def staff_owner(workspace, owner, superuser):
    """The superuser as a workspace owner: services check roles, not ``is_superuser``."""
    project_services.workspace_member_add(workspace_id=workspace.pk, actor=owner, email=superuser.email,
                                          role="owner")
    return superuser


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def test_every_registered_changelist_opens(admin_client, project, owner, editor, viewer):
    task = factories.task(project, owner, assignee_id=editor.pk)
    task_services.comment_create(task_id=task.pk, user=viewer, body="Hello")
    raw, key_hash = new_token()
    ApiToken.objects.create(user=owner, name="cli", key_hash=key_hash,
                            expires_at=timezone.now() + datetime.timedelta(days=1))

    models = [model for model in apps.get_models() if admin.site.is_registered(model)]
    assert {Task, Project, Event} <= set(models)
    for model in models:
        response = admin_client.get(changelist(model))
        assert response.status_code == 200, model._meta.label
    # The list pages show the rows, not just a frame.
    assert "TH-1" in admin_client.get(changelist(Task)).content.decode()


def _queries(django_assert_num_queries, client, url: str, budget: int) -> int:
    with django_assert_num_queries(budget) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


# 1. SELECT the session  2. SELECT the user  3. COUNT the filtered rows  4. COUNT all rows
# 5. SELECT the page with its list_select_related joins. No query per row. (Exact: at both sizes.)
CHANGELIST_BUDGET = 5


def test_task_changelist_queries_do_not_grow_with_rows(admin_client, project, owner, editor, statuses,
                                                       django_assert_num_queries):
    for i in range(3):
        factories.task(project, owner, title=f"t{i}", assignee_id=editor.pk)
    few = _queries(django_assert_num_queries, admin_client, changelist(Task), CHANGELIST_BUDGET)

    for i in range(27):
        factories.task(project, owner, title=f"u{i}", assignee_id=editor.pk if i % 2 else None,
                       status_id=statuses["done"].pk if i % 3 else None)
    assert Task.objects.count() == 30
    many = _queries(django_assert_num_queries, admin_client, changelist(Task), CHANGELIST_BUDGET)

    assert many == few


def test_project_changelist_queries_do_not_grow_with_rows(admin_client, workspace, owner, editor,
                                                          django_assert_num_queries):
    for i in range(3):
        factories.project(workspace, owner, key=f"A{i}")
    few = _queries(django_assert_num_queries, admin_client, changelist(Project), CHANGELIST_BUDGET)

    for i in range(27):
        project = factories.project(workspace, owner, key=f"B{i}")
        if i % 2:
            project_services.project_update(project_id=project.pk, user=owner, fields={"lead_id": editor.pk})
    many = _queries(django_assert_num_queries, admin_client, changelist(Project), CHANGELIST_BUDGET)

    assert many == few


def test_task_change_form_goes_through_the_service(admin_client, staff_owner, project, owner):
    task = factories.task(project, owner, title="Before", story_points=2)
    url = reverse("admin:tasks_task_change", args=[task.pk])
    assert admin_client.get(url).status_code == 200

    response = admin_client.post(url, {
        "title": "After", "description": "", "priority": "high", "type": "task", "story_points": "2",
        "due_date": "", "_save": "Save",
    })

    assert response.status_code == 302
    stored = Task.objects.get(pk=task.pk)
    assert (stored.title, stored.priority, stored.version) == ("After", "high", 2)
    event = Event.objects.get(project=project, type="task_updated")
    assert event.actor_id == staff_owner.pk
    assert (event.data["task"]["title"], event.data["task"]["version"]) == ("After", 2)


def test_admin_edits_are_refused_without_a_role(admin_client, project, owner, unchanged):
    """A superuser who is not a member of the workspace gets the service's answer, not a bypass."""
    task = factories.task(project, owner, title="Before")
    url = reverse("admin:tasks_task_change", args=[task.pk])

    with unchanged():
        response = admin_client.post(url, {
            "title": "Hijacked", "description": "", "priority": "medium", "type": "task", "story_points": "",
            "due_date": "", "_save": "Save",
        }, follow=True)

    assert response.status_code == 200
    assert "Task not found." in [str(m) for m in response.context["messages"]]


def test_project_change_form_goes_through_the_service(admin_client, staff_owner, project):
    url = reverse("admin:projects_project_change", args=[project.pk])
    assert admin_client.get(url).status_code == 200

    response = admin_client.post(url, {"name": "Renamed in admin", "description": "", "due_date": "",
                                       "_save": "Save"})

    assert response.status_code == 302
    stored = Project.objects.get(pk=project.pk)
    assert (stored.name, stored.version) == ("Renamed in admin", 2)
    assert Event.objects.filter(project=project, type="project_updated", actor=staff_owner).count() == 1


def test_archive_action_goes_through_the_service(admin_client, staff_owner, project, owner):
    tasks = [factories.task(project, owner, title=f"t{i}") for i in range(2)]

    response = admin_client.post(changelist(Task), {
        "action": "archive_tasks", "_selected_action": [str(t.pk) for t in tasks],
    })

    assert response.status_code == 302
    assert Task.objects.filter(archived_at__isnull=False).count() == 2
    assert Event.objects.filter(project=project, type="task_archived", actor=staff_owner).count() == 2
    assert ProjectCounters.objects.get(project=project).total == 0


def test_invitation_and_notification_changelists_do_not_grow_with_rows(admin_client, workspace, owner, editor,
                                                                        django_assert_num_queries):
    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            project_services.invitation_create(workspace_id=workspace.pk, actor=owner, email=f"guest{i}@example.com",
                                               role="viewer")
            factories.task(factories.project(workspace, owner, key=f"N{i}"), owner, assignee_id=editor.pk)

    add(2, 0)
    few = [_queries(django_assert_num_queries, admin_client, changelist(model), CHANGELIST_BUDGET)
           for model in (Invitation, Notification)]
    add(10, 2)
    many = [_queries(django_assert_num_queries, admin_client, changelist(model), CHANGELIST_BUDGET)
            for model in (Invitation, Notification)]
    assert many == few
    assert "guest11@example.com" in admin_client.get(changelist(Invitation)).content.decode()
    assert "N11-1" in admin_client.get(changelist(Notification)).content.decode()


def test_cancelling_invitations_in_the_admin_goes_through_the_service(admin_client, staff_owner, workspace, owner):
    invitation = project_services.invitation_create(workspace_id=workspace.pk, actor=owner,
                                                    email="guest@example.com", role="editor")

    response = admin_client.post(changelist(Invitation), {
        "action": "cancel_invitations", "_selected_action": [str(invitation.pk)],
    })

    assert response.status_code == 302
    stored = Invitation.objects.get(pk=invitation.pk)
    assert (stored.status, stored.responded_at is not None) == ("cancelled", True)


def test_cancelling_is_refused_without_the_role(admin_client, workspace, owner, unchanged):
    """A superuser who is neither the inviter nor an owner gets the service's answer."""
    invitation = project_services.invitation_create(workspace_id=workspace.pk, actor=owner,
                                                    email="guest@example.com", role="editor")
    with unchanged():
        response = admin_client.post(changelist(Invitation), {
            "action": "cancel_invitations", "_selected_action": [str(invitation.pk)],
        }, follow=True)
    assert "Invitation not found." in [str(m) for m in response.context["messages"]]
    assert Invitation.objects.get(pk=invitation.pk).status == "pending"


def test_notification_admin_reads_and_deletes_through_the_service(admin_client, project, owner, editor):
    tasks = [factories.task(project, owner, title=f"t{i}", assignee_id=editor.pk) for i in range(3)]
    assigned = list(Notification.objects.filter(user=editor, type="task_assigned").order_by("seq"))
    assert [n.task_id for n in assigned] == [t.pk for t in tasks]
    unread = NotificationCounter.objects.get(user=editor).unread

    response = admin_client.post(changelist(Notification), {
        "action": "mark_read", "_selected_action": [str(assigned[0].pk)],
    })
    assert response.status_code == 302
    assert Notification.objects.get(pk=assigned[0].pk).read_at is not None
    assert NotificationCounter.objects.get(user=editor).unread == unread - 1

    response = admin_client.post(changelist(Notification), {
        "action": "delete_selected", "_selected_action": [str(assigned[1].pk)], "post": "yes",
    })
    assert response.status_code == 302
    assert not Notification.objects.filter(pk=assigned[1].pk).exists()
    assert NotificationCounter.objects.get(user=editor).unread == unread - 2


def test_task_change_form_shows_its_checklists_read_only(admin_client, staff_owner, project, owner):
    from tasks import services as task_services

    task = factories.task(project, owner, title="With a list")
    checklist = task_services.checklist_create(task_id=task.pk, user=owner, title="Steps")
    item = task_services.checklist_item_create(checklist_id=checklist.pk, user=owner, text="Write it")
    task_services.checklist_item_update(item_id=item.pk, user=owner, fields={"done": True})
    task_services.checklist_item_create(checklist_id=checklist.pk, user=owner, text="Ship it")
    page = admin_client.get(reverse("admin:tasks_task_change", args=[task.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "<strong>Steps</strong>" in body and "[x] Write it<br>[\u00a0] Ship it" in body and "1/2" in body
    # Saving the task's fields leaves its checklists alone (the inline is read only).
    response = admin_client.post(reverse("admin:tasks_task_change", args=[task.pk]), {
        "title": "Renamed", "description": "", "priority": "medium", "type": "task", "story_points": "",
        "due_date": "", "_save": "Save",
    })
    assert response.status_code == 302
    stored = Task.objects.get(pk=task.pk)
    assert (stored.title, stored.checklist_total, stored.checklist_done) == ("Renamed", 2, 1)
