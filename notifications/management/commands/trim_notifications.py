"""Delete read notifications older than ``--days`` days; unread ones are kept, whatever their age."""

from django.core.management.base import BaseCommand, CommandError

from notifications.services import notifications_trim


class Command(BaseCommand):
    help = "Delete read notifications older than --days days (unread ones stay)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, required=True, help="keep read notifications newer than this")

    def handle(self, *args, days: int, **options):
        if days < 0:
            raise CommandError("--days must be 0 or more.")
        deleted = notifications_trim(days=days)
        self.stdout.write(f"Deleted {deleted} read notification(s) older than {days} day(s).")
