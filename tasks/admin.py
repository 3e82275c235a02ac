from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from taskhub.admin_utils import ServiceAdminMixin
from tasks import services
from tasks.models import Comment, Task
from tasks.selectors import checklists_for_task


@admin.register(Task)
class TaskAdmin(ServiceAdminMixin, admin.ModelAdmin):
    list_display = ["key", "title", "status", "priority", "type", "assignee", "archived_at", "updated_at"]
    list_display_links = ["key", "title"]
    list_select_related = ["project", "status", "assignee"]
    list_filter = ["priority", "type", "status__group", "archived_at"]
    search_fields = ["title", "description", "project__key"]
    fields = ["project", "number", "title", "description", "status", "priority", "type", "assignee", "reporter",
              "story_points", "due_date", "rank", "version", "checklist_progress", "checklists", "completed_at",
              "archived_at", "created_at"]
    readonly_fields = ["project", "number", "status", "assignee", "reporter", "rank", "version", "checklist_progress",
                       "checklists", "completed_at", "archived_at", "created_at"]

    actions = ["archive_tasks", "restore_tasks"]

    @admin.display(description="key", ordering="number")
    def key(self, obj):
        return obj.key  # the project is in list_select_related

    @admin.display(description="checklist")
    def checklist_progress(self, obj):
        return f"{obj.checklist_done}/{obj.checklist_total}"

    @admin.display(description="checklists")
    def checklists(self, obj):
        """Read only: checklist writes go through the API's services, which keep the counts and log the events."""
        lists = checklists_for_task(task=obj)
        if not lists:
            return "-"
        return format_html_join("", "<p><strong>{}</strong><br>{}</p>", (
            (checklist["title"], format_html_join(mark_safe("<br>"), "[{}] {}", (
                ("x" if item["done"] else "\u00a0", item["text"][:200]) for item in checklist["items"])))
            for checklist in lists))

    def has_add_permission(self, request):
        return False  # created through the API, which numbers and ranks them

    def save_model(self, request, obj, form, change):
        editable = ("title", "description", "priority", "type", "story_points", "due_date")
        fields = {name: form.cleaned_data[name] for name in editable if name in form.changed_data}
        if fields:
            self.run_service(request, services.task_update, task_id=obj.pk, user=request.user, fields=fields)

    def delete_model(self, request, obj):
        self.run_service(request, services.task_delete, task_id=obj.pk, user=request.user)

    def delete_queryset(self, request, queryset):
        for task in queryset:
            self.delete_model(request, task)

    @admin.action(description="Archive selected tasks")
    def archive_tasks(self, request, queryset):
        for task in queryset:
            self.run_service(request, services.task_archive, task_id=task.pk, user=request.user)

    @admin.action(description="Restore selected tasks")
    def restore_tasks(self, request, queryset):
        for task in queryset:
            self.run_service(request, services.task_restore, task_id=task.pk, user=request.user)


@admin.register(Comment)
class CommentAdmin(ServiceAdminMixin, admin.ModelAdmin):
    list_display = ["id", "task", "author", "created_at"]
    list_select_related = ["task", "task__project", "author"]
    search_fields = ["body", "author__email"]
    readonly_fields = ["task", "author", "body", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        self.run_service(request, services.comment_delete, comment_id=obj.pk, user=request.user)

    def delete_queryset(self, request, queryset):
        for comment in queryset:
            self.delete_model(request, comment)
