import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from projects.models import Project, Status


class Priority(models.TextChoices):
    LOWEST = "lowest"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    HIGHEST = "highest"


class TaskType(models.TextChoices):
    TASK = "task"
    STORY = "story"
    BUG = "bug"
    EPIC = "epic"
    SUBTASK = "subtask"


class Task(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.DB_CASCADE, related_name="tasks")
    # Per-project number from the counters row; the key is "<project key>-<number>".
    number = models.PositiveBigIntegerField()
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True, max_length=100_000)
    # No ON DELETE: a column that still has tasks cannot be deleted (the database
    # refuses it at commit; the status-delete service moves them first, in the
    # same transaction), while deleting the whole project cascades to both.
    status = models.ForeignKey(Status, on_delete=models.DO_NOTHING, related_name="tasks")
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    type = models.CharField(max_length=10, choices=TaskType.choices, default=TaskType.TASK)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="assigned_tasks"
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="reported_tasks"
    )
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="children")
    story_points = models.PositiveIntegerField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    # Fractional index (base-36 digits, see tasks.ranks); ordered bytewise.
    rank = models.CharField(max_length=1024)
    version = models.PositiveIntegerField(default=1)
    # The task's checklist progress ("3/5" on its card): items, and ticked items, over all its checklists.
    # Changed only by increments in the same transaction as the item write (tasks.services), never counted
    # on read; ``manage.py recount_checklists`` verifies them.
    checklist_total = models.PositiveIntegerField(default=0, db_default=0)
    checklist_done = models.PositiveIntegerField(default=0, db_default=0)
    # Moved on by every write of the task's checklists or items, in the statement that writes them: the
    # witness that tells a checklist write's locking read it waited for another one (tasks.selectors).
    checklist_version = models.PositiveIntegerField(default=0, db_default=0)
    completed_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="tasks_task_number_unique"),
            models.CheckConstraint(condition=Q(priority__in=Priority.values), name="tasks_task_priority_valid"),
            models.CheckConstraint(condition=Q(type__in=TaskType.values), name="tasks_task_type_valid"),
            models.CheckConstraint(condition=~Q(parent=models.F("id")), name="tasks_task_not_own_parent"),
        ]
        indexes = [
            # A board column: live tasks of one status in (rank, id) order,
            # the exact ORDER BY of a column page, so LIMIT stops early.
            models.Index(
                fields=["status", "rank", "id"], condition=Q(archived_at__isnull=True), name="tasks_task_column"
            ),
            # Lists of a project, newest first: (-created_at, -id) is the exact ORDER BY,
            # so a page reads 50 index entries, not every task of the project.
            models.Index(fields=["project", "-created_at", "-id"], name="tasks_task_project_newest"),
            # "My tasks" across workspaces, newest first.
            models.Index(
                fields=["assignee", "-created_at", "-id"], condition=Q(assignee__isnull=False),
                name="tasks_task_assignee_newest",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def key(self) -> str:
        """Needs ``project`` loaded (the selectors select_related it)."""
        return f"{self.project.key}-{self.number}"

    @property
    def checklist(self) -> dict[str, int]:
        """The ``checklist {total, done}`` of the task resource."""
        return {"total": self.checklist_total, "done": self.checklist_done}


class Comment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(Task, on_delete=models.DB_CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.DB_SET_NULL, related_name="comments"
    )
    body = models.TextField(max_length=50_000)
    # The users the body mentions (``<@USER_ID>``) who could see the project when it was written, in order of
    # first appearance, at most 50: ``[{"id", "display_name"}]``, so a page of comments needs no lookup.
    mentions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["task", "created_at", "id"], name="tasks_comment_task")]

    def __str__(self) -> str:
        return f"comment {self.id} on {self.task_id}"


class Checklist(models.Model):
    """A named list of items on a task.

    Order: ``rank`` is a fractional index (``tasks.ranks``), unique within the
    task; the API's ``position`` is a checklist's 0-based place in that order,
    so positions are dense and unique by construction, and a reorder or a
    delete writes one row. Writers of a task's checklists and items hold the
    task's row lock (``tasks.selectors``), so two of them never compute a rank
    from the same neighbours.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(Task, on_delete=models.DB_CASCADE, related_name="checklists")
    title = models.CharField(max_length=255)
    rank = models.CharField(max_length=1024)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "rank"], name="tasks_checklist_rank_unique")]

    def __str__(self) -> str:
        return self.title


class ChecklistItem(models.Model):
    """One line of a checklist; ``rank`` and ``position`` as for ``Checklist``, within the checklist."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    checklist = models.ForeignKey(Checklist, on_delete=models.DB_CASCADE, related_name="items")
    text = models.TextField(max_length=10_000)
    done = models.BooleanField(default=False)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)
    rank = models.CharField(max_length=1024)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["checklist", "rank"], name="tasks_checklistitem_rank_unique"),
            models.CheckConstraint(condition=Q(done=True) | Q(done_at__isnull=True),
                                   name="tasks_checklistitem_done_at_when_done"),
        ]

    def __str__(self) -> str:
        return self.text[:60]
