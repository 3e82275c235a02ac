"""Test data built through the services, so counters and the event log stay right."""

from __future__ import annotations

from accounts.models import User
from projects import services as project_services
from projects.models import WorkspaceRole
from tasks import services as task_services

PASSWORD = "correct-horse-battery"


def user(email: str, display_name: str = "") -> User:
    return User.objects.create_user(email, PASSWORD, display_name=display_name)


def workspace(owner, *, name: str = "Acme", editors=(), viewers=(), owners=()):
    ws = project_services.workspace_create(user=owner, name=name)
    for role, people in ((WorkspaceRole.OWNER, owners), (WorkspaceRole.EDITOR, editors),
                         (WorkspaceRole.VIEWER, viewers)):
        for person in people:
            project_services.workspace_member_add(workspace_id=ws.pk, actor=owner, email=person.email, role=role)
    return ws


def project(ws, creator, *, key: str = "TH", name: str | None = None, members=(), admins=()):
    p = project_services.project_create(workspace_id=ws.pk, user=creator, name=name or f"Project {key}", key=key)
    for person in members:
        project_services.project_member_add(project_id=p.pk, actor=creator, user_id=person.pk, role="member")
    for person in admins:
        project_services.project_member_add(project_id=p.pk, actor=creator, user_id=person.pk, role="admin")
    return p


def task(project, user, **fields):
    fields.setdefault("title", "A task")
    return task_services.task_create(project_id=project.pk, user=user, **fields)
