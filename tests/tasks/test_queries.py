"""The literal statements of ``tasks.queries`` give what their ORM references give, on the same data.

PostgreSQL only, as the statements are; see ``tests/projects/test_queries.py``.
"""

import datetime
import itertools

import pytest
from django.db import transaction

from projects.models import Status
from taskhub.pagination import page_after, page_finish, paginate
from tasks import queries
from tasks import services as task_services
from tasks.models import Comment, Task
from tasks.schemas import TaskOut
from tasks.selectors import (
    attach_project,
    board_cards_orm,
    column_for_create_orm,
    comment_list_for_task,
    task_for_member_queryset,
    task_for_write_queryset,
    task_list_for_project,
)
from tests import factories

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not queries.available(), reason="the literal statements are PostgreSQL's"),
]


def out(task) -> dict:
    return TaskOut.model_validate(task).model_dump(mode="json")


@pytest.fixture
def board(project, owner, editor, statuses):
    """Tasks of every kind in every column: assigned or not, a parent, dates, points, archived ones."""
    made = []
    for i in range(23):
        group = list(statuses)[i % 5]
        made.append(factories.task(
            project, owner if i % 3 else editor, title=f"task {i}", status_id=statuses[group].pk,
            assignee_id=editor.pk if i % 2 else None, priority=["low", "high", "medium"][i % 3],
            type=["task", "bug"][i % 2], story_points=i if i % 4 else None,
            due_date=datetime.date(2027, 1, 1 + i) if i % 5 == 0 else None,
            parent_id=made[0].pk if made and i % 7 == 0 else None,
        ))
    for task in made[::6]:
        task_services.task_archive(task_id=task.pk, user=owner)
    # Same-rank neighbours cannot happen, but a move between two cards can: make the ranks uneven.
    task_services.task_move(task_id=made[20].pk, user=owner, after_id=made[5].pk)
    return made


def _walk(literal, orm, limit):
    cursor = None
    while True:
        literal_items, literal_next = literal(cursor, limit)
        orm_items, orm_next = orm(cursor, limit)
        yield literal_items, orm_items
        assert literal_next == orm_next
        if orm_next is None:
            return
        cursor = orm_next


@pytest.mark.parametrize("column", [None, "todo", "done"])
def test_task_pages_equal_the_orm(project, statuses, board, column):
    status_id = statuses[column].pk if column else None
    order = ["rank", "id"] if column else ["-created_at", "-id"]

    def literal(cursor, limit):
        after = page_after(Task, order, cursor)
        if status_id is None:
            rows = queries.project_page(project=project, after=after, limit=limit + 1)
        else:
            rows = queries.column_page(project=project, status_id=status_id, after=after, limit=limit + 1)
        return page_finish(rows, order=order, limit=limit)

    def orm(cursor, limit):
        items, next_cursor = paginate(task_list_for_project(project=project, status_id=status_id), order=order,
                                      limit=limit, cursor=cursor)
        return attach_project(items, project), next_cursor

    seen = 0
    for literal_items, orm_items in _walk(literal, orm, 4):
        assert [TaskOut.model_validate(row).model_dump(mode="json") for row in literal_items] == \
            [out(task) for task in orm_items]
        seen += len(orm_items)
    assert seen == Task.objects.filter(project=project, archived_at__isnull=True,
                                       **({"status_id": status_id} if status_id else {})).count() > 0


@pytest.mark.parametrize("per_column", [1, 3, 50])
def test_board_cards_equal_the_orm(project, statuses, board, per_column):
    ids = [s.pk for s in Status.objects.filter(project=project).order_by("position", "id")]
    literal = queries.board_cards(project=project, status_ids=ids, per_column=per_column)
    orm = board_cards_orm(project=project, status_ids=ids, per_column=per_column)
    assert [TaskOut.model_validate(c).model_dump(mode="json") for c in literal] == \
        [TaskOut.model_validate(c).model_dump(mode="json") for c in orm]
    assert len(orm) == sum(min(per_column, Task.objects.filter(status_id=pk, archived_at__isnull=True).count())
                           for pk in ids)


def _task_view(task) -> dict:
    return {
        "out": out(task), "roles": (task.ws_role, task.project_role),
        "project": {name: getattr(task.project, name) for name in (
            "id", "workspace_id", "key", "name", "archived_at", "override_status", "override_expires_at", "version")},
        "status": (task.status.pk, task.status.project_id, task.status.name, task.status.group, task.status.position),
        "people": [(p.pk, p.email, p.display_name) if p else None for p in (task.assignee, task.reporter)],
    }


@pytest.mark.parametrize("who", ["owner", "editor", "editor_outside", "viewer", "outsider"])
def test_task_for_member_equals_the_orm(request, board, who):
    user = request.getfixturevalue(who)
    for task in board[:8]:
        literal = queries.task_for_member(task_id=task.pk, user_id=user.pk)
        orm = task_for_member_queryset(user).filter(pk=task.pk).first()
        assert (literal is None) == (orm is None) == (who == "outsider")
        if orm is not None:
            assert _task_view(literal) == _task_view(orm)


WRITE_ANNOTATIONS = ("target_name", "target_group", "target_position", "after_rank", "before_rank", "next_rank",
                     "prev_rank", "last_rank", "parent_ok")


@pytest.mark.parametrize("who", ["owner", "editor", "viewer", "outsider"])
def test_task_for_write_equals_the_orm_in_every_shape(request, project, other_project, statuses, board, who):
    user = request.getfixturevalue(who)
    live = [t for t in board if t.archived_at is None]
    todo = [t for t in live if t.status_id == statuses["todo"].pk]
    foreign = factories.task(other_project, other_project.created_by, title="elsewhere")
    task = todo[0]
    neighbours = [None, todo[1].pk, todo[-1].pk, live[1].pk, board[0].pk, foreign.pk, task.pk]
    targets = [None, statuses["todo"].pk, statuses["done"].pk, Status.objects.filter(project=other_project)[0].pk]
    parents = [None, board[3].pk, foreign.pk]
    shapes = 0
    for status_id, after_id, before_id, parent_id, to_end in itertools.product(
            targets, neighbours, neighbours[:4], parents, (False, True)):
        if after_id is not None and after_id == before_id:
            continue
        kwargs = {"status_id": status_id, "after_id": after_id, "before_id": before_id, "parent_id": parent_id,
                  "to_end": to_end}
        with transaction.atomic():
            literal = queries.task_for_write(task_id=task.pk, user_id=user.pk, **kwargs)
            orm = task_for_write_queryset(task_id=task.pk, user=user, **kwargs).first()
        assert (literal is None) == (orm is None) == (who == "outsider")
        if orm is None:
            continue
        assert _task_view(literal) == _task_view(orm)
        # The ORM annotates what the shape asks for; the literal statement always answers every one (null or
        # false when not asked), and the services read only those the shape asked for.
        asked = [name for name in WRITE_ANNOTATIONS if hasattr(orm, name)]
        assert len(asked) >= (status_id is not None) * 3 + (parent_id is not None) + to_end
        for name in asked:
            assert getattr(literal, name) == getattr(orm, name), (name, kwargs)
        shapes += 1
    assert who == "outsider" or shapes > 300


@pytest.mark.parametrize("who", ["owner", "editor", "viewer", "outsider"])
def test_column_for_create_equals_the_orm(request, project, other_project, statuses, board, who):
    user = request.getfixturevalue(who)
    foreign_status = Status.objects.filter(project=other_project)[0].pk
    for status_id, parent_id in itertools.product([None, statuses["done"].pk, statuses["todo"].pk, foreign_status],
                                                  [None, board[2].pk]):
        literal = queries.column_for_create(project_id=project.pk, user_id=user.pk, status_id=status_id,
                                            parent_id=parent_id)
        orm = column_for_create_orm(project_id=project.pk, user=user, status_id=status_id, parent_id=parent_id)
        assert (literal is None) == (orm is None)
        if orm is None:
            assert who == "outsider" or status_id == foreign_status
            continue
        assert (literal.pk, literal.name, literal.group, literal.position) == (orm.pk, orm.name, orm.group,
                                                                                orm.position)
        assert (literal.ws_role, literal.project_role, literal.last_rank) == (orm.ws_role, orm.project_role,
                                                                               orm.last_rank)
        assert parent_id is None or literal.parent_ok == orm.parent_ok is True
        assert {n: getattr(literal.project, n) for n in ("id", "key", "workspace_id", "override_status")} == \
            {n: getattr(orm.project, n) for n in ("id", "key", "workspace_id", "override_status")}


def test_comment_pages_equal_the_orm(project, owner, editor, board):
    from tasks.schemas import CommentOut

    task = board[1]
    for i in range(9):
        task_services.comment_create(task_id=task.pk, user=owner if i % 2 else editor, body=f"comment {i}")
    Comment.objects.filter(task=task, body="comment 4").update(author=None)  # an author who was deleted
    order = ["created_at", "id"]

    def literal(cursor, limit):
        rows = queries.comment_page(task_id=task.pk, after=page_after(Comment, order, cursor), limit=limit + 1)
        return page_finish(rows, order=order, limit=limit)

    def orm(cursor, limit):
        return paginate(comment_list_for_task(task=task), order=order, limit=limit, cursor=cursor)

    seen = 0
    for literal_items, orm_items in _walk(literal, orm, 4):
        assert [CommentOut.model_validate(c).model_dump(mode="json") for c in literal_items] == \
            [CommentOut.model_validate(c).model_dump(mode="json") for c in orm_items]
        seen += len(orm_items)
    assert seen == 9


# --- checklist writes ---------------------------------------------------------------------------------


def _checklist_script(task, user) -> None:
    """Every kind of checklist write, on ``task``: the six statements of ``tasks.queries.CHECKLIST_WRITES``."""
    first = task_services.checklist_create(task_id=task.pk, user=user, title="first")
    second = task_services.checklist_create(task_id=task.pk, user=user, title="second")
    items = [task_services.checklist_item_create(checklist_id=first.pk, user=user, text=t) for t in "abcd"]
    task_services.checklist_item_update(item_id=items[0].pk, user=user, fields={"done": True})
    task_services.checklist_item_update(item_id=items[1].pk, user=user, fields={"done": True, "text": "B"})
    task_services.checklist_item_update(item_id=items[2].pk, user=user,
                                        fields={"checklist_id": second.pk, "position": 0})
    task_services.checklist_item_update(item_id=items[3].pk, user=user, fields={"position": 0})
    task_services.checklist_update(checklist_id=second.pk, user=user, title="Second", position=0)
    task_services.checklist_item_delete(item_id=items[1].pk, user=user)
    third = task_services.checklist_create(task_id=task.pk, user=user, title="third")
    task_services.checklist_item_create(checklist_id=third.pk, user=user, text="x")
    done = task_services.checklist_item_create(checklist_id=third.pk, user=user, text="y")
    task_services.checklist_item_update(item_id=done.pk, user=user, fields={"done": True})
    task_services.checklist_delete(checklist_id=third.pk, user=user)


def _checklist_state(task) -> dict:
    from tasks.models import Checklist, ChecklistItem

    fresh = Task.objects.get(pk=task.pk)
    items = ChecklistItem.objects.filter(checklist__task=task).order_by("checklist__rank", "rank")
    return {
        "task": (fresh.checklist_total, fresh.checklist_done, fresh.checklist_version),
        "checklists": list(Checklist.objects.filter(task=task).order_by("rank").values_list("title", "rank")),
        "items": [(i.checklist.title, i.text, i.done, i.done_by_id, i.done_at is None, i.rank)
                  for i in items.select_related("checklist")],
    }


def test_checklist_writes_match_their_orm_references(project, owner, monkeypatch):
    literal_task = factories.task(project, owner, title="literal")
    orm_task = factories.task(project, owner, title="orm")
    _checklist_script(literal_task, owner)
    with monkeypatch.context() as patched:
        patched.setattr(queries, "available", lambda: False)  # the ORM path, as on SQLite
        _checklist_script(orm_task, owner)
    literal, orm = _checklist_state(literal_task), _checklist_state(orm_task)
    assert literal == orm
    assert literal["task"] == (3, 1, 17)  # 3 items, 1 ticked; 17 writes
    assert [title for title, _ in literal["checklists"]] == ["Second", "first"]
