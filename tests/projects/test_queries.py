"""The literal statements of ``projects.queries`` give what their ORM references give, on the same data.

They are PostgreSQL's (``queries.available()``); on the embedded default the
selectors run the ORM references themselves, so there is nothing to compare.
"""

import datetime
import random
import uuid

import pytest
from django.db import connection, transaction
from django.utils import timezone

from projects import queries
from projects import services as project_services
from projects.models import COUNT_FIELDS, Project, ProjectCounters, Workspace, derived_status
from projects.schemas import ProjectOut, WorkspaceOut
from projects.selectors import (
    project_for_member_queryset,
    project_list_for_workspace,
    workspace_list_for_user,
    workspaces_for_member,
)
from realtime.events import build
from realtime.models import Event
from taskhub.pagination import page_after, page_finish, paginate
from tasks import services as task_services
from tests import factories

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not queries.available(), reason="the literal statements are PostgreSQL's"),
]


def project_view(project) -> dict:
    """Everything a caller reads of ``project_get_for_member``'s answer."""
    return {
        "out": ProjectOut.from_orm(project).model_dump(mode="json"),
        "roles": (project.ws_role, project.project_role),
        "counters": (project.counters.counts(), project.counters.last_number, project.counters.last_seq,
                     project.counters.updated_at),
        "people": [(p.pk, p.email, p.display_name) if p else None
                   for p in (project.lead, project.created_by, project.override_by)],
        "fields": {name: getattr(project, name) for name in ("workspace_id", "key", "lead_id", "override_by_id",
                                                               "override_expires_at", "archived_at")},
    }


@pytest.fixture
def busy(workspace, project, owner, editor, statuses):
    """A project with a lead, an override and tasks in several columns; a second, archived one."""
    project_services.project_update(project_id=project.pk, user=owner, fields={"lead_id": editor.pk})
    for group in ("todo", "done", "issue", "active"):
        factories.task(project, owner, title=group, status_id=statuses[group].pk)
    project_services.project_override_set(project_id=project.pk, user=owner, status="review", reason="demo",
                                          expires_at=timezone.now() + datetime.timedelta(days=1))
    archived = factories.project(workspace, owner, key="OLD")
    project_services.project_archive(project_id=archived.pk, user=owner)
    return project


@pytest.mark.parametrize("who", ["owner", "editor", "editor_outside", "viewer", "outsider"])
def test_project_for_member_equals_the_orm(request, busy, who):
    user = request.getfixturevalue(who)
    literal = queries.project_for_member(project_id=busy.pk, user_id=user.pk)
    orm = project_for_member_queryset(user).filter(pk=busy.pk).first()
    assert (literal is None) == (orm is None) == (who == "outsider")
    if orm is not None:
        assert project_view(literal) == project_view(orm)
        assert not literal._state.adding and literal._state.db == connection.alias


@pytest.mark.parametrize("who", ["owner", "viewer", "outsider"])
def test_workspace_for_member_equals_the_orm(request, workspace, busy, who):
    user = request.getfixturevalue(who)
    literal = queries.workspace_for_member(workspace_id=workspace.pk, user_id=user.pk)
    orm = workspaces_for_member(user).filter(pk=workspace.pk).first()
    assert (literal is None) == (orm is None) == (who == "outsider")
    if orm is not None:
        assert WorkspaceOut.from_orm(literal).model_dump() == WorkspaceOut.from_orm(orm).model_dump()
        assert literal.projects_count == 1  # the archived one is not counted


def _pages(fetch_literal, fetch_orm, limit):
    """Walk both paginations to the end; the pages must be the same items, cursor for cursor."""
    cursor, pages = None, 0
    while True:
        literal, literal_next = fetch_literal(cursor, limit)
        orm, orm_next = fetch_orm(cursor, limit)
        yield literal, orm
        assert literal_next == orm_next
        pages += 1
        if orm_next is None:
            return
        cursor = orm_next


@pytest.mark.parametrize("archived", [False, True])
def test_project_page_equals_the_orm(workspace, owner, editor, busy, archived):
    for i in range(7):
        other = factories.project(workspace, owner, key=f"P{i}", members=[editor] if i % 2 else [])
        if i % 3 == 0:
            task_services.task_create(project_id=other.pk, user=owner, title="activity")
        if archived and i % 2:
            project_services.project_archive(project_id=other.pk, user=owner)
    order = ["-counters__updated_at", "-id"]

    def literal(cursor, limit):
        items = queries.project_page(workspace_id=workspace.pk, user_id=editor.pk, archived=archived,
                                     after=page_after(Project, order, cursor), limit=limit + 1)
        return page_finish(items, order=order, limit=limit)

    def orm(cursor, limit):
        qs = project_list_for_workspace(workspace=workspace, user=editor, archived=archived)
        return paginate(qs, order=order, limit=limit, cursor=cursor)

    seen = 0
    for literal_page, orm_page in _pages(literal, orm, 3):
        assert [project_view_in_list(p) for p in literal_page] == [project_view_in_list(p) for p in orm_page]
        seen += len(orm_page)
    assert seen >= 2


def project_view_in_list(project) -> dict:
    return {"out": ProjectOut.from_orm(project).model_dump(mode="json"), "role": project.project_role,
            "activity": project.counters.updated_at}


def test_workspace_page_equals_the_orm(owner, outsider):
    names = ["beta", "Alpha", "alpha", "gamma", "Beta", "delta", "alpha"]
    for name in names:
        factories.workspace(owner, name=name)
    factories.workspace(outsider, name="not mine")
    order = ["name", "id"]

    def literal(cursor, limit):
        items = queries.workspace_page(user_id=owner.pk, after=page_after(Workspace, order, cursor),
                                       limit=limit + 1)
        return page_finish(items, order=order, limit=limit)

    def orm(cursor, limit):
        return paginate(workspace_list_for_user(user=owner), order=order, limit=limit, cursor=cursor)

    seen = 0
    for literal_page, orm_page in _pages(literal, orm, 2):
        assert [WorkspaceOut.from_orm(w).model_dump() for w in literal_page] == \
            [WorkspaceOut.from_orm(w).model_dump() for w in orm_page]
        seen += len(orm_page)
    assert seen == len(names)


def test_counters_update_returns_what_the_row_holds(project):
    rng = random.Random(7)
    for _ in range(30):
        delta = {name: rng.choice((0, 0, 1, 2)) for name in COUNT_FIELDS[1:]}
        delta["total"] = sum(delta.values())
        with transaction.atomic():
            returned = queries.counters_update(project_id=project.pk, delta=delta, numbers=rng.choice((0, 1)),
                                               seqs=rng.choice((0, 1, 3)), now=timezone.now())
        row = ProjectCounters.objects.get(project=project)
        assert returned == {**row.counts(), "last_number": row.last_number, "last_seq": row.last_seq}
    assert queries.counters_update(project_id=uuid.uuid4(), delta={}, numbers=0, seqs=1,
                                   now=timezone.now()) is None


@pytest.mark.parametrize("take_status_seq", [False, True])
def test_events_insert_stores_what_bulk_create_stores(project, other_project, owner, take_status_seq):
    """The same events through the literal statement (one project) and ``bulk_create`` (another)."""
    items = [("task_created", {"task": {"id": "x", "nested": [1, 2, {"k": None}]}}),
             ("project_counts_changed", {"counts": {"total": 1}}),
             ("project_status_changed", {"old": "todo", "new": "done", "derived": "done", "override": None})]
    now = timezone.now()

    def events_for(target):
        counters = ProjectCounters.objects.get(project=target)
        return build(workspace_id=target.workspace_id, project_id=target.pk, first_seq=counters.last_seq + 1,
                     items=items, actor_id=owner.pk, now=now)

    before = ProjectCounters.objects.get(project=project).last_seq
    queries.events_insert(events_for(project), take_status_seq=take_status_seq)
    Event.objects.bulk_create(events_for(other_project))

    def stored(target):
        rows = Event.objects.filter(project=target).order_by("seq").values_list(
            "seq", "type", "data", "actor_id", "request_id", "created_at")
        return [row for row in rows if row[1] in {t for t, _ in items}]

    offset = ProjectCounters.objects.get(project=other_project).last_seq - before
    assert [(seq + offset, *rest) for seq, *rest in stored(project)] == [tuple(r) for r in stored(other_project)]
    assert ProjectCounters.objects.get(project=project).last_seq == before + int(take_status_seq)


def test_the_rule_and_the_status_events_agree_over_random_writes(project, owner):
    """Through the real write path: each status event is logged exactly when ``derived_status`` changed."""
    rng = random.Random(3)
    statuses = {s.group: s for s in project.statuses.all()}
    tasks = []
    for _ in range(80):
        if tasks and rng.random() < 0.5:
            task = rng.choice(tasks)
            task_services.task_move(task_id=task.pk, user=owner, status_id=rng.choice(list(statuses.values())).pk)
        else:
            tasks.append(task_services.task_create(project_id=project.pk, user=owner, title="t",
                                                   status_id=rng.choice(list(statuses.values())).pk))
    events = list(Event.objects.filter(project=project).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    counts = dict.fromkeys(COUNT_FIELDS, 0)
    changes = 0
    for event in events:
        if event.type == "project_counts_changed":
            new = event.data["counts"]
            changed = derived_status(counts) != derived_status(new)
            following = next((e for e in events if e.seq == event.seq + 1), None)
            assert (following is not None and following.type == "project_status_changed") == changed
            changes += changed
            counts = new
    assert changes >= 3  # the walk went through several status changes (it starts empty)
