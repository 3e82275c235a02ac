"""Services of tasks/services.py: create, update, move, archive/restore/delete, comments.

Failures assert the domain error and that nothing was written (``unchanged``);
writes assert the rows, the counters and the events they appended
(``new_events`` also checks the sequence numbers continue without a gap).
"""

import datetime

import pytest

from projects import services as project_services
from projects.management.commands.recount import recount_project
from projects.models import COUNT_FIELDS, Project, ProjectCounters, Status
from taskhub.errors import Conflict, NotFound, PermissionDenied, PreconditionFailed, ValidationError
from tasks import services
from tasks.models import Comment, Task
from tasks.selectors import task_list_for_project
from tests import factories

pytestmark = pytest.mark.django_db

TASK_KEYS = {"id", "key", "project_id", "title", "description", "status", "assignee", "reporter", "priority",
             "type", "story_points", "due_date", "parent_id", "rank", "version", "checklist", "created_at",
             "updated_at", "completed_at", "archived_at"}
COMMENT_KEYS = {"id", "task_id", "author", "body", "mentions", "created_at", "updated_at"}


def counts_of(project) -> dict[str, int]:
    return ProjectCounters.objects.get(project=project).counts()


def counts(**nonzero) -> dict[str, int]:
    return {name: nonzero.get(name, 0) for name in COUNT_FIELDS}


def assert_counters_exact(project) -> None:
    actual = recount_project(project.pk)
    assert counts_of(project) == {name: actual[name] for name in COUNT_FIELDS}


def column(status) -> list[str]:
    """Titles of a column's live tasks in board order."""
    return [task.title for task in task_list_for_project(project=status.project, status_id=status.pk)]


def fresh(task) -> Task:
    return Task.objects.select_related("project", "status").get(pk=task.pk)


# --- create --------------------------------------------------------------------------------


def test_task_create_numbers_keys_and_payload(project, owner, editor, statuses, new_events):
    with new_events(project) as got:
        first = services.task_create(project_id=project.pk, user=editor, title="First", description="Details",
                                     priority="high", type="bug", due_date=datetime.date(2030, 5, 1),
                                     story_points=3, assignee_id=owner.pk)
    second = factories.task(project, owner, title="Second")
    third = factories.task(project, owner, title="Third")

    assert [t.number for t in (first, second, third)] == [1, 2, 3]
    assert [fresh(t).key for t in (first, second, third)] == ["TH-1", "TH-2", "TH-3"]
    stored = fresh(first)
    assert (stored.title, stored.description, stored.priority, stored.type, stored.story_points) == (
        "First", "Details", "high", "bug", 3)
    assert (stored.status_id, stored.assignee_id, stored.reporter_id, stored.version) == (
        statuses["todo"].pk, owner.pk, editor.pk, 1)
    assert (stored.completed_at, stored.archived_at) == (None, None)
    assert counts_of(project) == counts(total=3, todo=3)
    assert ProjectCounters.objects.get(project=project).last_number == 3

    assert got.types == ["task_created", "project_counts_changed"]
    created = got[0]
    assert (created.actor_id, created.project_id) == (editor.pk, project.pk)
    assert set(created.data) == {"task"}
    payload = created.data["task"]
    assert set(payload) == TASK_KEYS
    assert (payload["id"], payload["key"], payload["rank"], payload["version"]) == (
        str(first.pk), "TH-1", stored.rank, 1)
    assert payload["status"] == {"id": str(statuses["todo"].pk), "name": "Todo", "group": "todo"}
    assert payload["assignee"]["id"] == str(owner.pk)
    assert got[1].data == {"counts": counts(total=1, todo=1)}


def test_task_numbers_are_never_reused(project, owner):
    factories.task(project, owner)
    second = factories.task(project, owner)
    services.task_delete(task_id=second.pk, user=owner)
    assert factories.task(project, owner).number == 3


def test_task_numbers_are_per_project(project, other_project, owner, outsider):
    factories.task(project, owner)
    factories.task(project, owner)
    assert factories.task(other_project, outsider).number == 1


def test_task_create_defaults_to_the_first_todo_column(project, owner, statuses):
    assert factories.task(project, owner).status_id == statuses["todo"].pk

    # A todo column placed before "Todo" becomes the default; later ones do not.
    backlog = project_services.status_create(project_id=project.pk, user=owner, name="Backlog", group="todo",
                                             position=1)
    project_services.status_update(status_id=statuses["done"].pk, user=owner, position=0)
    project_services.status_create(project_id=project.pk, user=owner, name="Someday", group="todo")
    assert factories.task(project, owner).status_id == statuses["todo"].pk
    project_services.status_update(status_id=backlog.pk, user=owner, position=0)
    assert factories.task(project, owner).status_id == backlog.pk


def test_new_tasks_go_to_the_end_of_their_column(project, owner, statuses):
    titles = [f"task {i}" for i in range(12)]
    for title in titles:
        factories.task(project, owner, title=title)
    ranks = list(Task.objects.order_by("number").values_list("rank", flat=True))

    assert ranks == sorted(ranks)
    assert len(set(ranks)) == len(ranks)
    assert column(statuses["todo"]) == titles

    # After a move to the top, the next new task still lands at the bottom.
    last = Task.objects.get(number=12)
    services.task_move(task_id=last.pk, user=owner, before_id=Task.objects.get(number=1).pk)
    factories.task(project, owner, title="newest")
    assert column(statuses["todo"]) == ["task 11", *titles[:11], "newest"]


def test_a_new_task_goes_below_the_live_cards_when_the_last_is_archived(project, owner, statuses):
    a = factories.task(project, owner, title="a")
    b = factories.task(project, owner, title="b")
    services.task_archive(task_id=b.pk, user=owner)
    c = factories.task(project, owner, title="c")
    assert a.rank < c.rank
    assert column(statuses["todo"]) == ["a", "c"]


def test_task_created_in_a_done_column_is_completed(project, owner, statuses, new_events):
    with new_events(project) as got:
        task = factories.task(project, owner, status_id=statuses["done"].pk)

    assert fresh(task).completed_at is not None
    assert factories.task(project, owner, status_id=statuses["review"].pk).completed_at is None
    assert got.types == ["task_created", "project_counts_changed", "project_status_changed"]
    assert got[0].data["task"]["completed_at"] is not None
    assert got[2].data == {"old": "todo", "new": "done", "derived": "done", "override": None}


def test_task_create_with_another_projects_status_is_invalid(project, other_project, owner, unchanged):
    foreign = Status.objects.filter(project=other_project).first()
    with unchanged(), pytest.raises(ValidationError):
        factories.task(project, owner, status_id=foreign.pk)


def test_task_parent_must_be_in_the_same_project(project, other_project, owner, outsider, unchanged):
    foreign = factories.task(other_project, outsider)
    with unchanged(), pytest.raises(ValidationError):
        factories.task(project, owner, parent_id=foreign.pk)

    parent = factories.task(project, owner, title="Epic", type="epic")
    child = factories.task(project, owner, title="Story", parent_id=parent.pk)
    assert fresh(child).parent_id == parent.pk


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_task_assignee_must_be_an_owner_or_editor(request, project, owner, who, unchanged):
    candidate = request.getfixturevalue(who)
    with unchanged(), pytest.raises(ValidationError):
        factories.task(project, owner, assignee_id=candidate.pk)


def test_any_workspace_editor_can_be_an_assignee(project, owner, editor_outside):
    assert factories.task(project, owner, assignee_id=editor_outside.pk).assignee_id == editor_outside.pk


def test_task_create_in_an_archived_project_conflicts(project, owner, unchanged):
    project_services.project_archive(project_id=project.pk, user=owner)
    with unchanged(), pytest.raises(Conflict):
        factories.task(project, owner)


@pytest.mark.parametrize(("who", "error"), [
    ("editor_outside", PermissionDenied),
    ("viewer", PermissionDenied),
    ("outsider", NotFound),
])
def test_task_create_denied(request, project, statuses, who, error, unchanged):
    user = request.getfixturevalue(who)
    with unchanged(), pytest.raises(error):
        factories.task(project, user)
    with unchanged(), pytest.raises(error):
        factories.task(project, user, status_id=statuses["done"].pk)


# --- update --------------------------------------------------------------------------------------


def test_task_update_is_partial_and_bumps_the_version(project, owner, editor, new_events):
    task = factories.task(project, owner, title="Old", description="Keep me", priority="low", story_points=5)

    with new_events(project) as got:
        updated = services.task_update(task_id=task.pk, user=editor, fields={"title": "New", "assignee_id": editor.pk})

    stored = fresh(task)
    assert (stored.title, stored.description, stored.priority, stored.story_points) == ("New", "Keep me", "low", 5)
    assert stored.assignee_id == editor.pk
    assert stored.version == updated.version == 2
    assert (stored.rank, stored.status_id) == (task.rank, task.status_id)
    assert stored.updated_at > task.updated_at
    assert got.types == ["task_updated"]
    assert set(got[0].data) == {"task"}
    assert set(got[0].data["task"]) == TASK_KEYS
    assert (got[0].data["task"]["title"], got[0].data["task"]["version"]) == ("New", 2)
    assert got[0].actor_id == editor.pk

    services.task_update(task_id=task.pk, user=owner, fields={"story_points": None, "assignee_id": None,
                                                               "description": None})
    stored = fresh(task)
    assert (stored.story_points, stored.assignee_id, stored.description, stored.version) == (None, None, "", 3)


def test_task_update_with_if_match(project, owner, unchanged):
    task = factories.task(project, owner)
    services.task_update(task_id=task.pk, user=owner, fields={"title": "v2"}, if_match=1)

    with unchanged(), pytest.raises(PreconditionFailed) as exc_info:
        services.task_update(task_id=task.pk, user=owner, fields={"title": "stale"}, if_match=1)
    assert exc_info.value.current.version == 2
    assert fresh(task).title == "v2"


def test_task_update_status_change_moves_the_task(project, owner, statuses, new_events):
    a = factories.task(project, owner, title="a", status_id=statuses["done"].pk)
    task = factories.task(project, owner, title="task")
    assert counts_of(project) == counts(total=2, todo=1, done=1)

    with new_events(project) as got:
        services.task_update(task_id=task.pk, user=owner, fields={"status_id": statuses["done"].pk, "title": "t"})

    stored = fresh(task)
    assert (stored.status_id, stored.title, stored.version) == (statuses["done"].pk, "t", 2)
    assert stored.completed_at is not None
    assert stored.rank > a.rank  # the end of the column
    assert column(statuses["done"]) == ["a", "t"]
    assert counts_of(project) == counts(total=2, done=2)
    assert got.types == ["task_moved", "project_counts_changed", "project_status_changed"]
    moved = got[0].data
    assert set(moved) == {"task", "from_status_id", "to_status_id"}
    assert (moved["from_status_id"], moved["to_status_id"]) == (str(statuses["todo"].pk), str(statuses["done"].pk))
    assert moved["task"]["status"]["group"] == "done"
    assert got[1].data == {"counts": counts(total=2, done=2)}
    assert (got[2].data["old"], got[2].data["new"]) == ("todo", "done")

    services.task_update(task_id=task.pk, user=owner, fields={"status_id": statuses["active"].pk})
    stored = fresh(task)
    assert (stored.status_id, stored.completed_at) == (statuses["active"].pk, None)
    assert counts_of(project) == counts(total=2, active=1, done=1)
    assert_counters_exact(project)


def test_task_update_to_the_current_status_is_a_plain_update(project, owner, statuses, new_events):
    task = factories.task(project, owner)
    with new_events(project) as got:
        services.task_update(task_id=task.pk, user=owner, fields={"status_id": statuses["todo"].pk})
    assert got.types == ["task_updated"]
    assert fresh(task).rank == task.rank


def test_status_change_of_an_archived_task_leaves_the_counts(project, owner, statuses, new_events):
    task = factories.task(project, owner)
    factories.task(project, owner)
    services.task_archive(task_id=task.pk, user=owner)

    with new_events(project) as got:
        services.task_update(task_id=task.pk, user=owner, fields={"status_id": statuses["done"].pk})

    stored = fresh(task)
    assert (stored.status_id, stored.archived_at is not None) == (statuses["done"].pk, True)
    assert counts_of(project) == counts(total=1, todo=1)
    assert got.types == ["task_moved"]
    # Restoring it counts it in its new column.
    services.task_restore(task_id=task.pk, user=owner)
    assert counts_of(project) == counts(total=2, todo=1, done=1)
    assert_counters_exact(project)


def test_completed_at_is_kept_between_done_columns(project, owner, statuses):
    shipped = project_services.status_create(project_id=project.pk, user=owner, name="Shipped", group="done")
    task = factories.task(project, owner, status_id=statuses["done"].pk)
    completed = fresh(task).completed_at

    services.task_update(task_id=task.pk, user=owner, fields={"status_id": shipped.pk})

    assert fresh(task).completed_at == completed
    assert counts_of(project) == counts(total=1, done=1)


def test_task_update_with_another_projects_status_is_invalid(project, other_project, owner, unchanged):
    task = factories.task(project, owner)
    foreign = Status.objects.filter(project=other_project).first()
    with unchanged(), pytest.raises(ValidationError):
        services.task_update(task_id=task.pk, user=owner, fields={"status_id": foreign.pk})


def test_task_update_parent_rules(project, other_project, owner, outsider, unchanged):
    task = factories.task(project, owner)
    parent = factories.task(project, owner, title="Parent")
    foreign = factories.task(other_project, outsider)

    with unchanged(), pytest.raises(ValidationError):
        services.task_update(task_id=task.pk, user=owner, fields={"parent_id": task.pk})
    with unchanged(), pytest.raises(ValidationError):
        services.task_update(task_id=task.pk, user=owner, fields={"parent_id": foreign.pk})

    services.task_update(task_id=task.pk, user=owner, fields={"parent_id": parent.pk})
    assert fresh(task).parent_id == parent.pk
    services.task_update(task_id=task.pk, user=owner, fields={"parent_id": None})
    assert fresh(task).parent_id is None


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_task_update_assignee_must_be_an_owner_or_editor(request, project, owner, who, unchanged):
    task = factories.task(project, owner)
    candidate = request.getfixturevalue(who)
    with unchanged(), pytest.raises(ValidationError):
        services.task_update(task_id=task.pk, user=owner, fields={"assignee_id": candidate.pk})


def test_task_title_cannot_be_null(project, owner, unchanged):
    task = factories.task(project, owner)
    with unchanged(), pytest.raises(ValidationError):
        services.task_update(task_id=task.pk, user=owner, fields={"title": None})


def test_task_update_in_an_archived_project_conflicts(project, owner, unchanged):
    task = factories.task(project, owner)
    project_services.project_archive(project_id=project.pk, user=owner)
    with unchanged(), pytest.raises(Conflict):
        services.task_update(task_id=task.pk, user=owner, fields={"title": "Frozen"})


# --- move ----------------------------------------------------------------------------------------


@pytest.fixture
def abc(project, owner):
    """Three cards a, b, c in the Todo column, in that order."""
    return [factories.task(project, owner, title=title) for title in "abc"]


def test_move_between_two_neighbours(project, owner, statuses, abc, new_events):
    a, b, c = abc

    with new_events(project) as got:
        moved = services.task_move(task_id=c.pk, user=owner, after_id=a.pk, before_id=b.pk)

    assert a.rank < fresh(c).rank < b.rank
    assert moved.rank == fresh(c).rank
    assert column(statuses["todo"]) == ["a", "c", "b"]
    assert fresh(c).version == 2
    assert counts_of(project) == counts(total=3, todo=3)
    assert got.types == ["task_moved"]  # same column: no counts change
    data = got[0].data
    assert (data["from_status_id"], data["to_status_id"]) == (str(statuses["todo"].pk), str(statuses["todo"].pk))
    assert data["task"]["rank"] == moved.rank


def test_move_with_after_id_only(owner, statuses, abc):
    a, b, c = abc
    services.task_move(task_id=a.pk, user=owner, after_id=b.pk)
    assert column(statuses["todo"]) == ["b", "a", "c"]
    services.task_move(task_id=b.pk, user=owner, after_id=c.pk)
    assert column(statuses["todo"]) == ["a", "c", "b"]
    # The card below the named one is found too, however close its rank is.
    services.task_move(task_id=c.pk, user=owner, after_id=a.pk, before_id=b.pk)
    services.task_move(task_id=b.pk, user=owner, after_id=a.pk)
    assert column(statuses["todo"]) == ["a", "b", "c"]


def test_move_with_before_id_only(owner, statuses, abc):
    a, b, c = abc
    services.task_move(task_id=c.pk, user=owner, before_id=b.pk)
    assert column(statuses["todo"]) == ["a", "c", "b"]
    services.task_move(task_id=b.pk, user=owner, before_id=a.pk)
    assert column(statuses["todo"]) == ["b", "a", "c"]


def test_move_with_status_only_goes_to_the_end(project, owner, statuses, abc, new_events):
    a, b, c = abc
    services.task_move(task_id=a.pk, user=owner, status_id=statuses["done"].pk)

    with new_events(project) as got:
        services.task_move(task_id=c.pk, user=owner, status_id=statuses["done"].pk)

    assert column(statuses["done"]) == ["a", "c"]
    assert column(statuses["todo"]) == ["b"]
    assert fresh(c).completed_at is not None
    assert counts_of(project) == counts(total=3, todo=1, done=2)
    assert got.types == ["task_moved", "project_counts_changed"]
    assert (got[0].data["from_status_id"], got[0].data["to_status_id"]) == (
        str(statuses["todo"].pk), str(statuses["done"].pk))

    # Without a status or neighbours the task goes to the end of its own column.
    services.task_move(task_id=a.pk, user=owner)
    assert column(statuses["done"]) == ["c", "a"]


def test_move_to_another_column_between_neighbours(project, owner, statuses, abc):
    a, b, c = abc
    services.task_move(task_id=a.pk, user=owner, status_id=statuses["active"].pk)
    services.task_move(task_id=b.pk, user=owner, status_id=statuses["active"].pk)

    services.task_move(task_id=c.pk, user=owner, status_id=statuses["active"].pk, after_id=a.pk, before_id=b.pk)
    assert column(statuses["active"]) == ["a", "c", "b"]
    services.task_move(task_id=c.pk, user=owner, status_id=statuses["review"].pk)
    services.task_move(task_id=b.pk, user=owner, status_id=statuses["review"].pk, before_id=c.pk)
    assert column(statuses["review"]) == ["b", "c"]
    assert counts_of(project) == counts(total=3, active=1, review=2)
    assert_counters_exact(project)


def test_move_out_of_done_clears_completed_at(owner, statuses, abc):
    a = abc[0]
    services.task_move(task_id=a.pk, user=owner, status_id=statuses["done"].pk)
    assert fresh(a).completed_at is not None
    services.task_move(task_id=a.pk, user=owner, status_id=statuses["issue"].pk)
    assert fresh(a).completed_at is None


def test_move_next_to_a_card_of_another_column_is_invalid(project, owner, statuses, abc, unchanged):
    a, b, c = abc
    services.task_move(task_id=b.pk, user=owner, status_id=statuses["done"].pk)
    with unchanged(), pytest.raises(ValidationError):
        services.task_move(task_id=a.pk, user=owner, after_id=b.pk)
    with unchanged(), pytest.raises(ValidationError):
        services.task_move(task_id=a.pk, user=owner, before_id=b.pk)
    with unchanged(), pytest.raises(ValidationError):
        services.task_move(task_id=a.pk, user=owner, status_id=statuses["active"].pk, after_id=c.pk)


def test_move_rejects_bad_neighbours(project, other_project, owner, outsider, statuses, abc, unchanged):
    a, b, c = abc
    foreign = factories.task(other_project, outsider)
    services.task_archive(task_id=b.pk, user=owner)
    cases = [
        {"after_id": c.pk, "before_id": a.pk},  # out of order
        {"after_id": a.pk, "before_id": a.pk},
        {"after_id": c.pk},  # itself
        {"before_id": b.pk},  # archived
        {"after_id": foreign.pk},  # another project
        {"status_id": Status.objects.filter(project=other_project).first().pk},
    ]
    for kwargs in cases:
        with unchanged(), pytest.raises(ValidationError):
            services.task_move(task_id=c.pk, user=owner, **kwargs)


def test_move_of_an_archived_task_conflicts(owner, statuses, abc, unchanged):
    a = abc[0]
    services.task_archive(task_id=a.pk, user=owner)
    with unchanged(), pytest.raises(Conflict):
        services.task_move(task_id=a.pk, user=owner, status_id=statuses["done"].pk)


def test_move_with_a_stale_if_match_fails(owner, abc, unchanged):
    a, b, c = abc
    with unchanged(), pytest.raises(PreconditionFailed):
        services.task_move(task_id=a.pk, user=owner, after_id=c.pk, if_match=7)
    services.task_move(task_id=a.pk, user=owner, after_id=c.pk, if_match=1)
    assert fresh(a).version == 2


@pytest.mark.parametrize(("who", "error"), [
    ("editor_outside", PermissionDenied),
    ("viewer", PermissionDenied),
    ("outsider", NotFound),
])
def test_task_writes_denied(request, owner, statuses, abc, who, error, unchanged):
    user = request.getfixturevalue(who)
    a, b, c = abc
    services.task_archive(task_id=c.pk, user=owner)
    calls = [
        lambda: services.task_update(task_id=a.pk, user=user, fields={"title": "x"}),
        lambda: services.task_move(task_id=a.pk, user=user, after_id=b.pk),
        lambda: services.task_move(task_id=a.pk, user=user, status_id=statuses["done"].pk),
        lambda: services.task_archive(task_id=a.pk, user=user),
        lambda: services.task_restore(task_id=c.pk, user=user),
        lambda: services.task_delete(task_id=a.pk, user=user),
    ]
    for call in calls:
        with unchanged(), pytest.raises(error):
            call()


def test_a_project_member_editor_may_write_tasks(project, editor, statuses, abc):
    a, b, c = abc
    services.task_update(task_id=a.pk, user=editor, fields={"title": "by editor"})
    services.task_move(task_id=a.pk, user=editor, status_id=statuses["active"].pk)
    services.task_archive(task_id=b.pk, user=editor)
    services.task_restore(task_id=b.pk, user=editor)
    services.task_delete(task_id=c.pk, user=editor)
    assert counts_of(project) == counts(total=2, todo=1, active=1)


# --- archive / restore / delete ---------------------------------------------------------------------


def test_archive_and_restore(project, owner, statuses, new_events, unchanged):
    task = factories.task(project, owner, status_id=statuses["issue"].pk)
    factories.task(project, owner)
    assert counts_of(project) == counts(total=2, todo=1, issue=1)

    with new_events(project) as got:
        services.task_archive(task_id=task.pk, user=owner)
    stored = fresh(task)
    assert stored.archived_at is not None
    assert stored.version == 2
    assert counts_of(project) == counts(total=1, todo=1)
    assert got.types == ["task_archived", "project_counts_changed", "project_status_changed"]
    assert got[0].data["task"]["archived_at"] is not None
    assert (got[2].data["old"], got[2].data["new"]) == ("issue", "todo")

    with unchanged(), pytest.raises(Conflict):
        services.task_archive(task_id=task.pk, user=owner)

    with new_events(project) as got:
        services.task_restore(task_id=task.pk, user=owner)
    stored = fresh(task)
    assert (stored.archived_at, stored.version) == (None, 3)
    assert counts_of(project) == counts(total=2, todo=1, issue=1)
    assert got.types == ["task_restored", "project_counts_changed", "project_status_changed"]
    assert got[0].data["task"]["archived_at"] is None

    with unchanged(), pytest.raises(Conflict):
        services.task_restore(task_id=task.pk, user=owner)


def test_restoring_a_task_restores_its_archived_project(project, owner, statuses, new_events):
    task = factories.task(project, owner, status_id=statuses["active"].pk)
    services.task_archive(task_id=task.pk, user=owner)
    project_services.project_archive(project_id=project.pk, user=owner)
    project_version = Project.objects.get(pk=project.pk).version

    with new_events(project) as got:
        services.task_restore(task_id=task.pk, user=owner)

    stored = Project.objects.get(pk=project.pk)
    assert (stored.archived_at, stored.version) == (None, project_version + 1)
    assert fresh(task).archived_at is None
    assert counts_of(project) == counts(total=1, active=1)
    assert got.types == ["task_restored", "project_restored", "project_counts_changed", "project_status_changed"]
    restored = got[1].data["project"]
    assert (restored["id"], restored["archived_at"], restored["version"]) == (
        str(project.pk), None, project_version + 1)
    assert restored["counts"] == counts(total=1, active=1)
    assert restored["created_by"]["id"] == str(owner.pk)
    # The project accepts writes again.
    factories.task(project, owner)


def test_task_archive_and_delete_in_an_archived_project_conflict(project, owner, unchanged):
    task = factories.task(project, owner)
    project_services.project_archive(project_id=project.pk, user=owner)
    with unchanged(), pytest.raises(Conflict):
        services.task_archive(task_id=task.pk, user=owner)
    with unchanged(), pytest.raises(Conflict):
        services.task_delete(task_id=task.pk, user=owner)


def test_task_delete(project, owner, editor, statuses, new_events):
    parent = factories.task(project, owner, title="Parent", status_id=statuses["review"].pk)
    child = factories.task(project, owner, title="Child", parent_id=parent.pk)
    comment = services.comment_create(task_id=parent.pk, user=editor, body="Bye")

    with new_events(project) as got:
        services.task_delete(task_id=parent.pk, user=owner)

    assert not Task.objects.filter(pk=parent.pk).exists()
    assert not Comment.objects.filter(pk=comment.pk).exists()
    assert fresh(child).parent_id is None
    assert counts_of(project) == counts(total=1, todo=1)
    assert got.types == ["task_deleted", "project_counts_changed"]
    assert got[0].data == {"task_id": str(parent.pk), "key": "TH-1"}
    assert_counters_exact(project)


def test_deleting_an_archived_task_leaves_the_counts(project, owner, new_events):
    task = factories.task(project, owner)
    services.task_archive(task_id=task.pk, user=owner)

    with new_events(project) as got:
        services.task_delete(task_id=task.pk, user=owner)

    assert counts_of(project) == counts()
    assert got.types == ["task_deleted"]


# --- comments ------------------------------------------------------------------------------------


def test_a_viewer_may_comment(project, owner, viewer, new_events):
    task = factories.task(project, owner)

    with new_events(project) as got:
        comment = services.comment_create(task_id=task.pk, user=viewer, body="Nice")

    stored = Comment.objects.get(pk=comment.pk)
    assert (stored.task_id, stored.author_id, stored.body) == (task.pk, viewer.pk, "Nice")
    assert got.types == ["comment_added"]
    assert set(got[0].data) == {"comment"}
    assert set(got[0].data["comment"]) == COMMENT_KEYS
    assert (got[0].data["comment"]["id"], got[0].data["comment"]["author"]["id"]) == (str(comment.pk), str(viewer.pk))


def test_an_outsider_cannot_comment(project, owner, outsider, unchanged):
    task = factories.task(project, owner)
    with unchanged(), pytest.raises(NotFound):
        services.comment_create(task_id=task.pk, user=outsider, body="Hi")


def test_the_author_edits_and_deletes_their_comment(project, owner, viewer, new_events):
    task = factories.task(project, owner)
    comment = services.comment_create(task_id=task.pk, user=viewer, body="Frist")

    with new_events(project) as edited:
        services.comment_update(comment_id=comment.pk, user=viewer, body="First")
    stored = Comment.objects.get(pk=comment.pk)
    assert stored.body == "First"
    assert stored.updated_at > comment.updated_at
    assert edited.types == ["comment_updated"]
    assert edited[0].data["comment"]["body"] == "First"

    with new_events(project) as deleted:
        services.comment_delete(comment_id=comment.pk, user=viewer)
    assert not Comment.objects.filter(pk=comment.pk).exists()
    assert deleted.types == ["comment_deleted"]
    assert deleted[0].data == {"comment_id": str(comment.pk), "task_id": str(task.pk)}


@pytest.mark.parametrize(("who", "error"), [
    ("owner", PermissionDenied),  # even the workspace owner
    ("editor", PermissionDenied),
    ("outsider", NotFound),
])
def test_only_the_author_changes_a_comment(request, project, owner, viewer, who, error, unchanged):
    task = factories.task(project, owner)
    comment = services.comment_create(task_id=task.pk, user=viewer, body="Mine")
    user = request.getfixturevalue(who)
    with unchanged(), pytest.raises(error):
        services.comment_update(comment_id=comment.pk, user=user, body="Theirs")
    with unchanged(), pytest.raises(error):
        services.comment_delete(comment_id=comment.pk, user=user)
