from django.contrib import admin

from realtime.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The event log, read-only: it is append-only and trimmed by ``manage.py trim_events``."""

    list_display = ["created_at", "type", "project", "seq", "actor", "request_id"]
    list_select_related = ["project", "actor"]
    list_filter = ["type"]
    search_fields = ["type", "request_id", "project__key"]
    readonly_fields = ["workspace", "project", "seq", "type", "data", "actor", "request_id", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
