import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class WorkspaceRole(models.TextChoices):
    OWNER = "owner"
    EDITOR = "editor"
    VIEWER = "viewer"


class ProjectRole(models.TextChoices):
    ADMIN = "admin"
    MEMBER = "member"


class StatusGroup(models.TextChoices):
    TODO = "todo"
    ACTIVE = "active"
    REVIEW = "review"
    ISSUE = "issue"
    DONE = "done"


COUNT_FIELDS = ("total", "todo", "active", "review", "issue", "done")

# The five columns every new project starts with, in board order.
DEFAULT_STATUSES = (
    ("Todo", StatusGroup.TODO),
    ("In Progress", StatusGroup.ACTIVE),
    ("In Review", StatusGroup.REVIEW),
    ("Issue", StatusGroup.ISSUE),
    ("Done", StatusGroup.DONE),
)


# The derived status of a project, as a pure function of its counters (API.md): the first rule
# whose conditions all hold gives the status, else DERIVED_DEFAULT. A condition is
# ``(count, "eq" | "gt", other)``, ``other`` being a number or another count's name. This table is
# the rule's only statement: ``derived_status`` reads it in Python, and
# ``projects.selectors.derived_status_expression`` turns it into an ORM expression for the
# database (the project list's status filter, the counters UPDATE that logs status changes).
DERIVED_RULES: tuple[tuple[str, tuple[tuple[str, str, int | str], ...]], ...] = (
    (StatusGroup.TODO, (("total", "eq", 0),)),  # no tasks
    (StatusGroup.DONE, (("done", "eq", "total"),)),  # all done
    (StatusGroup.ISSUE, (("issue", "gt", 0),)),  # any issue
    (StatusGroup.TODO, (("todo", "gt", 0),)),  # any todo
    (StatusGroup.ACTIVE, (("active", "gt", 0),)),  # any active ...
    (StatusGroup.ACTIVE, (("review", "gt", 0),)),  # ... or review
)
DERIVED_DEFAULT = StatusGroup.TODO


def derived_status(counts: dict[str, int]) -> str:
    """The project's status from its counts (``DERIVED_RULES``; first match wins)."""
    for status, conditions in DERIVED_RULES:
        if all(_holds(counts, name, op, other) for name, op, other in conditions):
            return status
    return DERIVED_DEFAULT


def _holds(counts: dict[str, int], name: str, op: str, other: int | str) -> bool:
    value = counts[other] if isinstance(other, str) else other
    return counts[name] == value if op == "eq" else counts[name] > value


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=10_000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WorkspaceMember(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.DB_CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="workspace_memberships"
    )
    role = models.CharField(max_length=10, choices=WorkspaceRole.choices)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="projects_wsmember_unique"),
            models.CheckConstraint(
                condition=Q(role__in=WorkspaceRole.values), name="projects_wsmember_role_valid"
            ),
        ]
        indexes = [models.Index(fields=["user", "workspace"], name="projects_wsmember_user")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.workspace_id} ({self.role})"


class Project(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Deletes cascade in the database (DB_CASCADE, DB_SET_NULL), down the whole chain of a workspace's
    # and a project's rows: one DELETE whatever the project's size, where Django's collector would read
    # every task and comment id into Python and delete them a hundred at a time.
    workspace = models.ForeignKey(Workspace, on_delete=models.DB_CASCADE, related_name="projects")
    # Immutable after creation: task keys (KEY-n) are built from it.
    key = models.CharField(max_length=10)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=100_000)
    due_date = models.DateField(null=True, blank=True)
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="+"
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    override_status = models.CharField(max_length=10, choices=StatusGroup.choices, blank=True)
    override_reason = models.CharField(max_length=500, blank=True)
    override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="+"
    )
    override_expires_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="projects_project_key_unique"),
            models.CheckConstraint(
                condition=Q(key__regex=r"^[A-Z][A-Z0-9]{1,9}$"), name="projects_project_key_format"
            ),
            models.CheckConstraint(
                condition=Q(override_status="") | Q(override_status__in=StatusGroup.values),
                name="projects_project_override_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.name}"

    def active_override(self, now=None) -> str | None:
        """The override status if one is set and not expired, else None."""
        if not self.override_status:
            return None
        if self.override_expires_at is not None and self.override_expires_at <= (now or timezone.now()):
            return None
        return self.override_status


class ProjectMember(models.Model):
    project = models.ForeignKey(Project, on_delete=models.DB_CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="project_memberships"
    )
    role = models.CharField(max_length=10, choices=ProjectRole.choices)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="projects_pmember_unique"),
            models.CheckConstraint(
                condition=Q(role__in=ProjectRole.values), name="projects_pmember_role_valid"
            ),
        ]
        indexes = [models.Index(fields=["user", "project"], name="projects_pmember_user")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.project_id} ({self.role})"


class Status(models.Model):
    """A board column. Its ``group`` is what the project's counters count."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.DB_CASCADE, related_name="statuses")
    name = models.CharField(max_length=100)
    group = models.CharField(max_length=10, choices=StatusGroup.choices)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        verbose_name_plural = "statuses"
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="projects_status_name_unique"),
            models.CheckConstraint(
                condition=Q(group__in=StatusGroup.values), name="projects_status_group_valid"
            ),
        ]
        indexes = [models.Index(fields=["project", "position"], name="projects_status_order")]

    def __str__(self) -> str:
        return f"{self.name} ({self.group})"


class ProjectCounters(models.Model):
    """The project's live numbers, one row per project, created with it.

    ``total`` .. ``done`` count non-archived tasks by status group; ``last_number``
    is the last task number handed out (numbers are never reused); ``last_seq`` is
    the last event sequence number of the project's event log. All of them change
    only through in-database increments in the same transaction as the write
    (``projects.services.counters_apply``), so one ``UPDATE ... RETURNING`` gives
    the write its task number, its event sequence and the new counts.
    """

    project = models.OneToOneField(
        Project, primary_key=True, on_delete=models.DB_CASCADE, related_name="counters"
    )
    total = models.BigIntegerField(default=0)
    todo = models.BigIntegerField(default=0)
    active = models.BigIntegerField(default=0)
    review = models.BigIntegerField(default=0)
    issue = models.BigIntegerField(default=0)
    done = models.BigIntegerField(default=0)
    last_number = models.BigIntegerField(default=0)
    last_seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "project counters"
        constraints = [
            models.CheckConstraint(condition=Q(**{f"{name}__gte": 0}), name=f"projects_counters_{name}_gte_0")
            for name in (*COUNT_FIELDS, "last_number", "last_seq")
        ] + [
            models.CheckConstraint(
                condition=Q(total=models.F("todo") + models.F("active") + models.F("review")
                            + models.F("issue") + models.F("done")),
                name="projects_counters_total_is_sum",
            ),
        ]
        # No index on updated_at, on purpose: every write updates this row, and an
        # indexed column that changes rules out PostgreSQL's HOT updates. Without
        # them each write leaves a dead row version plus index entries that only
        # VACUUM clears, and the hot row's UPDATE slows as they pile up (measured:
        # p99 +23% in three minutes of the seed load with autovacuum off). With
        # them, and the free space a lower fillfactor keeps on the page (see the
        # migration), old versions are pruned in place on the next write. Lists
        # sort one workspace's projects by activity, a handful of rows.

    def __str__(self) -> str:
        return f"counters of {self.project_id}"

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNT_FIELDS}


class InvitationStatus(models.TextChoices):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Invitation(models.Model):
    """An invitation to a workspace, addressed to an email (which may have no account yet).

    ``status`` is what was last decided; a pending invitation past
    ``expires_at`` reads as expired (``effective_status``) and cannot be
    accepted, and is marked so when a new one to the same address is sent.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.DB_CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)  # stored lower-cased: addresses are matched whatever their case
    role = models.CharField(max_length=10, choices=WorkspaceRole.choices)
    status = models.CharField(max_length=10, choices=InvitationStatus.choices, default=InvitationStatus.PENDING)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    responded_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            # One pending invitation per address and workspace (a second one is a 409).
            models.UniqueConstraint(fields=["workspace", "email"], condition=Q(status="pending"),
                                    name="projects_invitation_one_pending"),
            models.CheckConstraint(condition=Q(role__in=WorkspaceRole.values), name="projects_invitation_role_valid"),
            models.CheckConstraint(condition=Q(status__in=InvitationStatus.values),
                                   name="projects_invitation_status_valid"),
        ]
        indexes = [
            models.Index(fields=["email", "status"], name="projects_invitation_email"),
            models.Index(fields=["workspace", "-created_at", "-id"], name="projects_invitation_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.workspace_id} ({self.status})"

    def effective_status(self, now=None) -> str:
        if self.status == InvitationStatus.PENDING and self.expires_at <= (now or timezone.now()):
            return InvitationStatus.EXPIRED
        return self.status
