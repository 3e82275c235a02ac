"""The Django admin: every changelist opens, list pages do not grow with rows, edits go through services."""

import datetime

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, User, new_token
from projects import services as project_services
from projects.models import Project, ProjectCounters
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

    models = list(admin.site._registry)
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
