import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from realtime.models import Event
from tests import factories

pytestmark = pytest.mark.django_db


def test_it_keeps_the_newest_events_per_project(project, owner):
    for i in range(5):
        factories.task(project, owner, title=f"t{i}")
    top = Event.objects.filter(project=project).order_by("-seq").first().seq
    call_command("trim_events", keep=3, days=30)
    assert list(Event.objects.filter(project=project).order_by("seq").values_list("seq", flat=True)) == [
        top - 2, top - 1, top]


def test_it_drops_events_older_than_the_age_limit(project, owner):
    factories.task(project, owner)
    Event.objects.filter(project=project, seq=1).update(created_at=timezone.now() - datetime.timedelta(days=40))
    call_command("trim_events", days=30, keep=1000)
    assert not Event.objects.filter(project=project, seq=1).exists()
    assert Event.objects.filter(project=project, seq=2).exists()
