"""Recount every task's ``checklist {total, done}`` from its items and report (and fix) any drift.

The sibling of ``recount`` (the projects' counters), in the tasks app that owns checklists. There should
never be drift: the counts change only by increments in the same statement as the item write
(``tasks.services``). This command is the proof, and the repair if someone edits the database by hand.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count, Q

from tasks.models import ChecklistItem, Task


def checklist_counts_of(task_ids) -> dict:
    """``{task_id: (total, done)}`` recomputed from the items of ``task_ids`` (tasks without items: absent)."""
    rows = (
        ChecklistItem.objects.filter(checklist__task_id__in=task_ids)
        .values("checklist__task_id")
        .annotate(total=Count("pk"), done=Count("pk", filter=Q(done=True)))
        .order_by()
    )
    return {row["checklist__task_id"]: (row["total"], row["done"]) for row in rows}


class Command(BaseCommand):
    help = "Recompute tasks' checklist counts from their items; report and fix drift (--check only reports)."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Report drift and exit 1 if any; change nothing.")
        parser.add_argument("--batch", type=int, default=500, help="Tasks locked and recounted per transaction.")

    def handle(self, *args, check: bool = False, batch: int = 500, **options):
        drifted = checked = 0
        ids = list(Task.objects.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), batch):
            with transaction.atomic():
                # The task rows are the lock every checklist write takes: none lands between recount and fix.
                tasks = list(Task.objects.filter(pk__in=ids[start:start + batch]).order_by("pk")
                             .select_for_update(no_key=True).only("pk", "checklist_total", "checklist_done"))
                actual = checklist_counts_of([task.pk for task in tasks])
                for task in tasks:
                    checked += 1
                    total, done = actual.get(task.pk, (0, 0))
                    if (task.checklist_total, task.checklist_done) == (total, done):
                        continue
                    drifted += 1
                    self.stdout.write(f"task {task.pk}: total {task.checklist_total} -> {total}, "
                                      f"done {task.checklist_done} -> {done}")
                    if not check:
                        Task.objects.filter(pk=task.pk).update(checklist_total=total, checklist_done=done)
        summary = f"{checked} tasks checked, {drifted} with drift"
        if check and drifted:
            raise CommandError(summary)
        self.stdout.write(summary + ("" if check or not drifted else " (fixed)"))
