"""Helpers for admin pages whose writes go through the services."""

from django.contrib import messages

from taskhub.errors import ApplicationError


class ServiceAdminMixin:
    """Run a service from the admin and show a domain error as a message, not a 500.

    Services check access with the same rules as the API, so a staff user edits
    a board only where they hold the role to do it.
    """

    def run_service(self, request, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except ApplicationError as exc:
            request._taskhub_admin_error = True
            messages.error(request, exc.detail)
            return None

    def message_user(self, request, message, level=messages.INFO, *args, **kwargs):
        if getattr(request, "_taskhub_admin_error", False) and level in (messages.INFO, messages.SUCCESS):
            return
        super().message_user(request, message, level, *args, **kwargs)
