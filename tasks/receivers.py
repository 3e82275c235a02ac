"""Receivers of the projects app's signals: what tasks must do when a projects write says so."""

from __future__ import annotations

import itertools

from django.db.models import F
from django.dispatch import receiver
from django.utils import timezone

from projects.counters import counters_apply, log_project_events
from projects.signals import assignments_revoked
from tasks.models import Task
from tasks.selectors import TASK_RELATED
from tasks.services import task_payload


@receiver(assignments_revoked, dispatch_uid="tasks.unassign_revoked_user")
def unassign_revoked_user(sender, *, workspace_id, user_id, actor, **kwargs) -> None:
    """Unassign the user's tasks in the workspace (they may no longer be assigned), one ``task_updated`` each.

    Runs inside the member change's transaction. Per project: the tasks' rows
    are locked, updated in one statement, and the counters row reserves their
    event sequence numbers, in the order every task write takes its locks.
    """
    tasks = list(
        Task.objects.select_related(*TASK_RELATED)
        .filter(project__workspace_id=workspace_id, assignee_id=user_id)
        .order_by("project_id", "pk")
        .select_for_update(of=("self",), no_key=True)
    )
    now = timezone.now()
    for project_id, group in itertools.groupby(tasks, key=lambda task: task.project_id):
        group = list(group)
        Task.objects.filter(pk__in=[task.pk for task in group]).update(
            assignee=None, version=F("version") + 1, updated_at=now
        )
        for task in group:
            task.assignee = None
            task.version += 1
            task.updated_at = now
        change = counters_apply(project_id=project_id, events=len(group))
        log_project_events(
            project=group[0].project, change=change,
            items=[("task_updated", {"task": task_payload(task)}) for task in group], actor=actor,
        )
