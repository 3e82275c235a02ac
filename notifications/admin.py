from django.contrib import admin

from notifications import services
from notifications.models import Notification, NotificationCounter


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Read-only: notifications are written by the services that cause them."""

    list_display = ["user", "seq", "type", "text", "read_at", "created_at"]
    list_select_related = ["user", "actor"]
    ordering = ["-created_at", "-seq"]
    list_filter = ["type", ("read_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "text", "task_key"]
    readonly_fields = [f.name for f in Notification._meta.get_fields() if f.concrete]
    actions = ["mark_read"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        # Through the service, as the user would: it keeps their unread count and tells their sockets.
        services.notification_delete(notification_id=obj.pk, user=obj.user)

    def delete_queryset(self, request, queryset):
        for notification in queryset.select_related("user"):
            self.delete_model(request, notification)

    @admin.action(description="Mark selected notifications read (as their users would)")
    def mark_read(self, request, queryset):
        for notification in queryset.select_related("user"):
            services.notification_mark(notification_id=notification.pk, user=notification.user, read=True)


@admin.register(NotificationCounter)
class NotificationCounterAdmin(admin.ModelAdmin):
    list_display = ["user", "last_seq", "unread"]
    list_select_related = ["user"]
    search_fields = ["user__email"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
