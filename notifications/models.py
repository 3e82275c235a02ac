"""The per-user notification stream.

A lower layer, like ``realtime.events``: it imports no domain app. The rows
refer to workspaces and projects by string label, and keep what they show of
a task (id, key, title) as written, so a notification still reads right after
the task is renamed or gone.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class NotificationType(models.TextChoices):
    TASK_ASSIGNED = "task_assigned"
    MENTIONED = "mentioned"
    COMMENT_ADDED = "comment_added"
    INVITATION_RECEIVED = "invitation_received"
    INVITATION_ACCEPTED = "invitation_accepted"
    INVITATION_DECLINED = "invitation_declined"
    PROJECT_MEMBER_ADDED = "project_member_added"


class NotificationCounter(models.Model):
    """One row per user who was ever notified: the last ``seq`` handed out and how many are unread.

    Both change only by in-database increments in the transaction that writes
    or reads the notifications (``notifications.services``), as a project's
    counters row does for its events: concurrent writers never share or skip
    a ``seq``, and the unread count costs no count on read.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.DB_CASCADE, related_name="+"
    )
    last_seq = models.BigIntegerField(default=0)
    unread = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(last_seq__gte=0), name="notifications_counter_seq_gte_0"),
            models.CheckConstraint(condition=Q(unread__gte=0), name="notifications_counter_unread_gte_0"),
        ]

    def __str__(self) -> str:
        return f"notifications of {self.user_id}: {self.unread} unread of {self.last_seq}"


class Notification(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="notifications")
    seq = models.BigIntegerField()
    type = models.CharField(max_length=40, choices=NotificationType.choices)
    text = models.CharField(max_length=500)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="+"
    )
    workspace = models.ForeignKey("projects.Workspace", on_delete=models.DB_CASCADE, related_name="+")
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.DB_CASCADE, related_name="+"
    )
    # What the notification shows of its task, as it was: no foreign key, so it outlives the task.
    task_id = models.UUIDField(null=True, blank=True)
    task_key = models.CharField(max_length=40, blank=True)
    task_title = models.CharField(max_length=500, blank=True)
    comment_id = models.UUIDField(null=True, blank=True)
    invitation_id = models.UUIDField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "seq"], name="notifications_user_seq_unique"),
            models.CheckConstraint(condition=Q(type__in=NotificationType.values), name="notifications_type_valid"),
        ]
        indexes = [
            # The unread list of a user, newest first (the bell); the whole list uses the unique index.
            models.Index(fields=["user", "-seq"], condition=Q(read_at__isnull=True), name="notifications_unread"),
            # trim_notifications: read ones older than N days.
            models.Index(fields=["read_at"], condition=Q(read_at__isnull=False), name="notifications_read_at"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq} for {self.user_id}"
