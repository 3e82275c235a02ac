from django.contrib import admin

from projects import services
from projects.models import (
    Invitation,
    InvitationStatus,
    Project,
    ProjectCounters,
    ProjectMember,
    Status,
    Workspace,
    WorkspaceMember,
)
from taskhub.admin_utils import ServiceAdminMixin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that only services may write (their events and invariants live there)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class WorkspaceMemberInline(admin.TabularInline):
    model = WorkspaceMember
    fields = ["user", "role", "joined_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Workspace)
class WorkspaceAdmin(ServiceAdminMixin, admin.ModelAdmin):
    list_display = ["name", "created_by", "created_at", "updated_at"]
    list_select_related = ["created_by"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    inlines = [WorkspaceMemberInline]

    def save_model(self, request, obj, form, change):
        if change:
            self.run_service(request, services.workspace_update, workspace_id=obj.pk, user=request.user,
                             name=obj.name, description=obj.description)
        else:
            created = self.run_service(request, services.workspace_create, user=request.user, name=obj.name,
                                       description=obj.description)
            if created is not None:
                obj.pk = created.pk

    def delete_model(self, request, obj):
        self.run_service(request, services.workspace_delete, workspace_id=obj.pk, user=request.user)


@admin.register(WorkspaceMember)
class WorkspaceMemberAdmin(ReadOnlyAdmin):
    list_display = ["user", "workspace", "role", "joined_at"]
    list_select_related = ["user", "workspace"]
    list_filter = ["role"]
    search_fields = ["user__email", "workspace__name"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Project)
class ProjectAdmin(ServiceAdminMixin, admin.ModelAdmin):
    list_display = ["key", "name", "workspace", "lead", "archived_at", "override_status", "updated_at"]
    list_select_related = ["workspace", "lead"]
    list_filter = ["archived_at", "override_status"]
    search_fields = ["key", "name", "workspace__name"]
    fields = ["workspace", "key", "name", "description", "due_date", "lead", "archived_at", "override_status",
              "override_reason", "override_by", "override_expires_at", "version", "created_by", "created_at"]
    readonly_fields = ["workspace", "key", "lead", "archived_at", "override_status", "override_reason",
                       "override_by", "override_expires_at", "version", "created_by", "created_at"]
    actions = ["archive_projects", "restore_projects"]

    def has_add_permission(self, request):
        return False  # projects are created through the API (they need statuses, counters, an admin)

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in ("name", "description", "due_date")
                  if name in form.changed_data}
        if fields:
            self.run_service(request, services.project_update, project_id=obj.pk, user=request.user, fields=fields)

    def delete_model(self, request, obj):
        self.run_service(request, services.project_delete, project_id=obj.pk, user=request.user)

    def delete_queryset(self, request, queryset):
        for project in queryset:
            self.delete_model(request, project)

    @admin.action(description="Archive selected projects")
    def archive_projects(self, request, queryset):
        for project in queryset:
            self.run_service(request, services.project_archive, project_id=project.pk, user=request.user)

    @admin.action(description="Restore selected projects")
    def restore_projects(self, request, queryset):
        for project in queryset:
            self.run_service(request, services.project_restore, project_id=project.pk, user=request.user)


@admin.register(ProjectMember)
class ProjectMemberAdmin(ReadOnlyAdmin):
    list_display = ["user", "project", "role", "joined_at"]
    list_select_related = ["user", "project"]
    list_filter = ["role"]
    search_fields = ["user__email", "project__key", "project__name"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Status)
class StatusAdmin(ReadOnlyAdmin):
    list_display = ["name", "project", "group", "position"]
    list_select_related = ["project"]
    list_filter = ["group"]
    search_fields = ["name", "project__key"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ProjectCounters)
class ProjectCountersAdmin(ReadOnlyAdmin):
    """Read-only: counters change only by increments in the services (``manage.py recount`` repairs drift)."""

    list_display = ["project", "total", "todo", "active", "review", "issue", "done", "last_number", "last_seq",
                    "updated_at"]
    list_select_related = ["project"]
    search_fields = ["project__key", "project__name"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Invitation)
class InvitationAdmin(ServiceAdminMixin, ReadOnlyAdmin):
    """Invitations are sent and answered through the API; staff may cancel pending ones (as an owner would)."""

    list_display = ["email", "workspace", "role", "current_status", "invited_by", "expires_at"]
    list_select_related = ["workspace", "invited_by"]
    ordering = ["-created_at", "-id"]
    list_filter = ["status", "role"]
    search_fields = ["email", "workspace__name", "invited_by__email"]
    actions = ["cancel_invitations"]

    def has_delete_permission(self, request, obj=None):
        return False  # cancel instead: the row is the record of who was invited

    @admin.display(description="status", ordering="status")
    def current_status(self, invitation):
        # A pending one past expires_at reads as expired, as in the API.
        return InvitationStatus(invitation.effective_status()).label

    @admin.action(description="Cancel selected pending invitations")
    def cancel_invitations(self, request, queryset):
        for invitation in queryset:
            self.run_service(request, services.invitation_cancel, invitation_id=invitation.pk, user=request.user)
