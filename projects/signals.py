"""Signals other apps answer inside a projects write (``projects`` never imports ``tasks``)."""

from django.dispatch import Signal

# Sent inside the write's transaction when a user stops being an owner or
# editor of a workspace (demoted to viewer, or removed). Only owners and
# editors may hold assignments (API.md, Roles), so receivers drop theirs and
# log the events that say so. Arguments: ``workspace_id``, ``user_id``, ``actor``.
assignments_revoked = Signal()
