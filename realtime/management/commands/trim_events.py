"""Trim the event log to its retention window (settings TASKHUB_EVENT_RETENTION_DAYS / _COUNT).

A project's events older than the age limit are removed, and so are all but
its newest COUNT events. Clients that ask for a trimmed range are told to
resync (REST ``410``; WebSocket ``resync_required``).
"""

import datetime

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import Max
from django.utils import timezone

from realtime.models import Event


class Command(BaseCommand):
    help = "Delete event-log rows older than the retention age or beyond the per-project count."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=settings.TASKHUB_EVENT_RETENTION_DAYS)
        parser.add_argument("--keep", type=int, default=settings.TASKHUB_EVENT_RETENTION_COUNT,
                            help="events to keep per project at most")

    def handle(self, *args, days: int, keep: int, **options):
        cutoff = timezone.now() - datetime.timedelta(days=days)
        by_age, _ = Event.objects.filter(created_at__lt=cutoff).delete()
        by_count = 0
        latest = Event.objects.filter(project__isnull=False).values("project_id").annotate(top=Max("seq"))
        for row in latest:
            if row["top"] > keep:
                deleted, _ = Event.objects.filter(project_id=row["project_id"], seq__lte=row["top"] - keep).delete()
                by_count += deleted
        self.stdout.write(f"trimmed {by_age} event(s) by age and {by_count} by count")
