"""Recount every project's counters from the tasks table and report (and fix) any drift.

There should never be drift: counters change only by increments in the same
transaction as the task write. This command is the proof, and the repair if
someone edits the database by hand.
"""

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count, Max

from projects.models import COUNT_FIELDS, ProjectCounters


def recount_project(project_id) -> dict[str, int]:
    """The counts, and the highest task number, recomputed from the tasks table for one project."""
    Task = apps.get_model("tasks", "Task")  # projects never imports tasks (STYLE.md)
    actual = dict.fromkeys(COUNT_FIELDS, 0)
    rows = (
        Task.objects.filter(project_id=project_id, archived_at__isnull=True)
        .values("status__group")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in rows:
        actual[row["status__group"]] = row["n"]
        actual["total"] += row["n"]
    actual["last_number"] = Task.objects.filter(project_id=project_id).aggregate(m=Max("number"))["m"] or 0
    return actual


class Command(BaseCommand):
    help = "Recompute project counters from the tasks table; report and fix drift (--check only reports)."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Report drift and exit 1 if any; change nothing.")

    def handle(self, *args, check: bool = False, **options):
        drifted = 0
        project_ids = list(ProjectCounters.objects.values_list("project_id", flat=True))
        for project_id in project_ids:
            with transaction.atomic():
                # Lock the row so no task write lands between the recount and the fix.
                counters = ProjectCounters.objects.select_for_update().filter(project_id=project_id).first()
                if counters is None:
                    continue
                actual = recount_project(project_id)
                diffs = {name: (getattr(counters, name), actual[name]) for name in COUNT_FIELDS
                         if getattr(counters, name) != actual[name]}
                if counters.last_number < actual["last_number"]:
                    diffs["last_number"] = (counters.last_number, actual["last_number"])
                if not diffs:
                    continue
                drifted += 1
                detail = ", ".join(f"{name} {old} -> {new}" for name, (old, new) in diffs.items())
                self.stdout.write(f"project {project_id}: {detail}")
                if not check:
                    for name, (_old, new) in diffs.items():
                        setattr(counters, name, new)
                    counters.save(update_fields=list(diffs))
                    from projects import cache as counts_cache

                    transaction.on_commit(lambda pid=project_id: counts_cache.counts_invalidate(pid))
        summary = f"{len(project_ids)} projects checked, {drifted} with drift"
        if check and drifted:
            raise CommandError(summary)
        self.stdout.write(summary + ("" if check or not drifted else " (fixed)"))
