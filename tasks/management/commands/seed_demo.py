"""Create demo data (idempotent): a demo user, a workspace, two projects, a few dozen tasks.

A teammate, Ana, works in the same workspace: she assigns the demo user two
tasks, mentions them in a comment, and invites them to a workspace of her own,
so that the demo user's notifications and invitations are not empty.
"""

import os

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from projects import services as project_services
from projects.models import Status, Workspace
from tasks import services as task_services

DEMO_EMAIL = "demo@taskhub.local"
TEAMMATE_EMAIL = "ana@taskhub.local"
DEMO_PASSWORD = os.environ.get("TASKHUB_DEMO_PASSWORD", "taskhub-demo-2026")
WORKSPACE_NAME = "Demo workspace"

PROJECTS = [
    ("WEB", "Website relaunch", [
        ("Design the landing page", "done"), ("Write the pricing copy", "review"), ("Set up CDN", "done"),
        ("Cookie banner", "todo"), ("Fix mobile menu", "issue"), ("Blog migration", "active"),
        ("Accessibility audit", "todo"), ("Newsletter form", "active"), ("404 page", "done"),
        ("Image compression", "todo"), ("Search box", "todo"), ("Footer links", "done"),
        ("Analytics events", "active"), ("Sitemap", "review"), ("Social cards", "todo"),
        ("Load testing", "todo"), ("Favicon set", "done"), ("Dark mode", "todo"),
    ]),
    ("API", "Public API v2", [
        ("Pagination cursors", "done"), ("Rate limiting", "active"), ("OpenAPI docs", "review"),
        ("Webhooks", "todo"), ("Token scopes", "todo"), ("Idempotency keys", "active"),
        ("Error codes", "done"), ("SDK for Python", "todo"), ("SDK for JS", "todo"),
        ("Changelog", "todo"), ("Deprecation policy", "review"), ("Load balancer health", "done"),
        ("Retry headers", "todo"), ("Batch endpoint", "issue"), ("Field filtering", "todo"),
        ("ETags", "done"),
    ]),
]


class Command(BaseCommand):
    help = "Create the demo user, workspace, projects and tasks (does nothing if they exist)."

    def handle(self, *args, **options):
        user = User.objects.filter(email__iexact=DEMO_EMAIL).first()
        if user is None:
            user = User.objects.create_user(DEMO_EMAIL, DEMO_PASSWORD, display_name="Demo User")
            if not User.objects.filter(is_superuser=True).exclude(pk=user.pk).exists():
                # A fresh install has no staff: let the demo user open the admin.
                User.objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
        if not Workspace.objects.filter(name=WORKSPACE_NAME, members__user=user).exists():
            with transaction.atomic():
                self._seed(user)
            self.stdout.write(self.style.SUCCESS("Demo data created."))
        else:
            self.stdout.write("Demo data already present.")
        self.stdout.write(f"Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}  (API, and the admin at /admin/)")

    def _seed(self, user):
        workspace = project_services.workspace_create(user=user, name=WORKSPACE_NAME,
                                                      description="Created by manage.py seed_demo")
        for key, name, tasks in PROJECTS:
            project = project_services.project_create(workspace_id=workspace.pk, user=user, name=name, key=key)
            columns = {s.group: s for s in Status.objects.filter(project=project)}
            for index, (title, group) in enumerate(tasks):
                task_services.task_create(
                    project_id=project.pk, user=user, title=title, status_id=columns[group].pk,
                    priority=("low", "medium", "high")[index % 3], assignee_id=user.pk if index % 2 else None,
                )
        self._teammate(user, workspace, project)

    def _teammate(self, user, workspace, project):
        ana = User.objects.filter(email__iexact=TEAMMATE_EMAIL).first()
        if ana is None:
            ana = User.objects.create_user(TEAMMATE_EMAIL, DEMO_PASSWORD, display_name="Ana Teammate")
        project_services.workspace_member_add(workspace_id=workspace.pk, actor=user, email=ana.email, role="editor")
        project_services.project_member_add(project_id=project.pk, actor=user, user_id=ana.pk, role="member")
        columns = {s.group: s for s in Status.objects.filter(project=project)}
        for title in ("Review the webhook payloads", "Answer the SDK survey"):
            task_services.task_create(project_id=project.pk, user=ana, title=title, status_id=columns["todo"].pk,
                                      assignee_id=user.pk)
        task = task_services.task_create(project_id=project.pk, user=ana, title="Plan the v2 launch",
                                         status_id=columns["active"].pk, assignee_id=ana.pk)
        task_services.comment_create(task_id=task.pk, user=ana,
                                     body=f"<@{user.pk}> could you check the launch dates with me?")
        own = project_services.workspace_create(user=ana, name="Ana's studio", description="Ana's side projects")
        project_services.invitation_create(workspace_id=own.pk, actor=ana, email=user.email, role="editor")
