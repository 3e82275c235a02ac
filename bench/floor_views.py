"""A minimal Django view doing the create-task transaction (INSERT + counter UPDATE) and nothing else.

Only mounted when TASKHUB_BENCH_FLOOR=1 (the benchmark sets it): it is the
"same work under the same server" baseline that TaskHub's own create-task
endpoint is compared with.
"""

import json
import uuid

from django.db import transaction
from django.db.models import F
from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from projects.models import ProjectCounters
from tasks.models import Task


@csrf_exempt
def floor_insert(request, project_id, status_id):
    body = json.loads(request.body or b"{}")
    now = timezone.now()
    with transaction.atomic():
        task = Task.objects.create(
            project_id=project_id, status_id=status_id, number=uuid.uuid4().int >> 66,
            title=body.get("title", "floor"), rank="i", created_at=now, updated_at=now,
        )
        ProjectCounters.objects.filter(project_id=project_id).update(total=F("total") + 1, todo=F("todo") + 1)
    return JsonResponse({"id": str(task.pk)}, status=201)


urlpatterns = [
    path("bench/floor/<uuid:project_id>/<uuid:status_id>", floor_insert),
]
