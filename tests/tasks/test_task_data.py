"""``task_data`` (the fast serializer) must equal ``TaskOut`` read from the model, for every kind of task."""

import datetime

import pytest

from tasks import services as task_services
from tasks.models import Task
from tasks.schemas import TaskOut, task_data
from tasks.selectors import task_get_for_member
from tests import factories

pytestmark = pytest.mark.django_db


def test_it_matches_the_schema_for_plain_and_full_tasks(project, owner, editor, statuses):
    plain = factories.task(project, owner, title="plain")
    full = factories.task(project, owner, title="full", description="d", assignee_id=editor.pk, priority="high",
                          type="bug", due_date=datetime.date(2027, 1, 2), story_points=5, parent_id=plain.pk,
                          status_id=statuses["done"].pk)
    task_services.task_archive(task_id=plain.pk, user=owner)
    for task_id in (plain.pk, full.pk):
        task = task_get_for_member(task_id=task_id, user=owner)
        assert TaskOut.model_validate(task_data(task)).model_dump(mode="json") == \
            TaskOut.model_validate(task).model_dump(mode="json")
    assert set(task_data(task)) == set(TaskOut.model_fields)


def test_board_cards_equal_task_data_of_the_orm_tasks(project, owner, editor, statuses):
    """The board reads its cards from rows without models; each must be exactly ``task_data`` of the task
    as the ORM loads it."""
    from projects.selectors import project_get_for_member
    from tasks.selectors import board_columns

    plain = factories.task(project, owner, title="plain")
    factories.task(project, owner, title="full", description="d", assignee_id=editor.pk, priority="high",
                   type="bug", due_date=datetime.date(2027, 1, 2), story_points=5, parent_id=plain.pk,
                   status_id=statuses["done"].pk)
    factories.task(project, editor, title="second in todo", story_points=0)
    project = project_get_for_member(project_id=project.pk, user=owner)
    cards = [card for column in board_columns(project=project, per_column=50) for card in column.board_cards]
    assert len(cards) == 3
    for card in cards:
        task = Task.objects.select_related("project", "status", "assignee", "reporter").get(pk=card["id"])
        assert card == task_data(task)
