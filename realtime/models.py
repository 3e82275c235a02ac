from django.conf import settings
from django.db import models
from django.utils import timezone


class Event(models.Model):
    """One entry of a project's event log (the outbox).

    Written in the same transaction as the change it describes, with the next
    per-project ``seq`` from the project's counters row, so the log has no gaps
    and never holds a change that was rolled back. It serves replay after a
    reconnect, ``GET /projects/{id}/events`` and the activity feed.

    Workspace-level events that outlive their project (``project_deleted``) or
    belong to no project (workspace membership) have ``project`` and ``seq`` null.
    """

    workspace = models.ForeignKey("projects.Workspace", on_delete=models.DB_CASCADE, related_name="+")
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.DB_CASCADE, related_name="+"
    )
    seq = models.PositiveBigIntegerField(null=True, blank=True)
    type = models.CharField(max_length=40)
    data = models.JSONField(default=dict)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="+"
    )
    request_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The task the event is about (``realtime.events.subject_task_id``), for the task's activity feed. No
    # foreign key: the log keeps ``task_deleted`` after the task has gone, and it imports no domain app.
    task_id = models.UUIDField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "seq"], name="realtime_event_project_seq_unique"),
            models.CheckConstraint(
                condition=models.Q(project__isnull=True, seq__isnull=True)
                | models.Q(project__isnull=False, seq__isnull=False),
                name="realtime_event_seq_with_project",
            ),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="realtime_event_created"),
            # A task's activity, newest first: one index range scan of the task's own entries, whatever the
            # size of its project's log (GET /tasks/{id}/activity).
            models.Index(fields=["task_id", "-seq"], condition=models.Q(task_id__isnull=False),
                         name="realtime_event_task"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq} of {self.project_id}"
