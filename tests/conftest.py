"""Shared fixtures: one workspace with a user per role, and an outsider.

- ``owner``: workspace owner (and project admin, having created the project)
- ``editor``: workspace editor and project member
- ``editor_outside``: workspace editor who is not a project member
- ``viewer``: workspace viewer
- ``outsider``: owner of another workspace, no access to ``workspace``
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests import factories

_TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b",
                                  re.IGNORECASE)


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def owner(db):
    return factories.user("owner@example.com", "Olive Owner")


@pytest.fixture
def editor(db):
    return factories.user("editor@example.com", "Eddie Editor")


@pytest.fixture
def editor_outside(db):
    return factories.user("editor2@example.com", "Erin Outside")


@pytest.fixture
def viewer(db):
    return factories.user("viewer@example.com", "Vera Viewer")


@pytest.fixture
def outsider(db):
    return factories.user("outsider@example.com", "Oscar Outsider")


@pytest.fixture
def workspace(owner, editor, editor_outside, viewer):
    return factories.workspace(owner, editors=[editor, editor_outside], viewers=[viewer])


@pytest.fixture
def project(workspace, owner, editor):
    return factories.project(workspace, owner, key="TH", members=[editor])


@pytest.fixture
def other_workspace(outsider):
    return factories.workspace(outsider, name="Elsewhere")


@pytest.fixture
def other_project(other_workspace, outsider):
    return factories.project(other_workspace, outsider, key="EL")


@pytest.fixture
def statuses(project):
    """The project's five default columns by group name."""
    from projects.models import Status

    return {s.group: s for s in Status.objects.filter(project=project)}


def work_statements(captured: list[dict]) -> list[str]:
    """The statements that do work, of ``CaptureQueriesContext.captured_queries``.

    Transaction control (BEGIN, COMMIT, SAVEPOINT, RELEASE) is left out: a
    test's own transaction turns a service's ``atomic()`` into a savepoint
    pair, where in production it is a BEGIN/COMMIT pair that the driver sends
    (not a statement of the request's), and neither does work.
    """
    return [q["sql"] for q in captured if not _TRANSACTION_CONTROL.match(q["sql"])]


@pytest.fixture
def assert_num_queries():
    """Pin a query budget (DESIGN.md) at its exact count: ``n`` statements that do work (``work_statements``).

    ``n`` may be a dict by ``connection.vendor`` where the backends differ. The
    failure lists every statement.
    """

    @contextmanager
    def check(n: int | dict):
        expected = n[connection.vendor] if isinstance(n, dict) else n
        with CaptureQueriesContext(connection) as ctx:
            yield ctx
        work = work_statements(ctx.captured_queries)
        ctx.work_queries = work
        if len(work) != expected:
            listing = "\n".join(f"{i}. {sql[:400]}" for i, sql in enumerate(work, 1))
            pytest.fail(f"{len(work)} queries, expected exactly {expected}:\n{listing}")

    return check


# --- appended for the service-layer suite ---------------------------------------


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """Users are created in almost every test; PBKDF2 would make each one cost ~0.3 s."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _domain_rows() -> dict[str, list[tuple]]:
    """Every row of every domain table, as plain tuples, in primary-key order."""
    from django.apps import apps

    labels = ["accounts.User", "projects.Workspace", "projects.WorkspaceMember", "projects.Project",
              "projects.ProjectMember", "projects.Status", "projects.ProjectCounters", "tasks.Task",
              "tasks.Comment", "tasks.Checklist", "tasks.ChecklistItem",
              "realtime.Event", "projects.Invitation", "notifications.Notification",
              "notifications.NotificationCounter"]
    return {label: list(apps.get_model(label).objects.order_by("pk").values_list()) for label in labels}


@pytest.fixture
def unchanged():
    """``with unchanged(), pytest.raises(...):`` proves a failed write left every domain row as it was.

    Stricter than comparing row counts: an UPDATE that slipped through (a
    version bump, a counters increment, a renamed column) fails it too.
    """

    @contextmanager
    def check():
        before = _domain_rows()
        yield
        after = _domain_rows()
        for label, rows in before.items():
            assert after[label] == rows, f"{label} changed"

    return check


class NewEvents(list):
    """The events one block appended, in log order (a list of ``realtime.models.Event``)."""

    @property
    def types(self) -> list[str]:
        return [event.type for event in self]

    @property
    def seqs(self) -> list[int | None]:
        return [event.seq for event in self]

    def one(self, event_type: str):
        found = [event for event in self if event.type == event_type]
        assert len(found) == 1, f"expected one {event_type}, got {self.types}"
        return found[0]


@pytest.fixture
def new_events():
    """``with new_events(project) as got:`` collects what the block appended to the event log.

    With a project it also checks the log's core invariant: the new events carry
    the next sequence numbers with no gap, and the counters row's ``last_seq``
    moved by exactly that many. With ``workspace=`` it collects the
    workspace's events of every kind (project-less ones included).
    """
    from django.db.models import Max

    from projects.models import ProjectCounters
    from realtime.models import Event

    @contextmanager
    def watch(project=None, *, workspace=None):
        qs = Event.objects.filter(project=project) if project is not None else Event.objects.filter(
            workspace=workspace)
        last_id = Event.objects.aggregate(m=Max("id"))["m"] or 0
        seq_before = None
        if project is not None:
            seq_before = ProjectCounters.objects.get(project=project).last_seq
        got = NewEvents()
        yield got
        got.extend(qs.filter(id__gt=last_id).order_by("id"))
        if project is not None:
            counters = ProjectCounters.objects.filter(project=project).first()
            if counters is not None:
                assert got.seqs == list(range(seq_before + 1, seq_before + 1 + len(got)))
                assert counters.last_seq == seq_before + len(got)

    return watch


@pytest.fixture(scope="session", autouse=True)
def _close_worker_thread_connections(django_db_setup, django_db_blocker):
    """Close the connections that async tests opened in asgiref's database thread.

    Without this they outlive the suite, and PostgreSQL refuses to drop the test
    database ("being accessed by other users").
    """
    yield
    import asyncio

    from asgiref.sync import sync_to_async
    from django.db import connections

    with django_db_blocker.unblock():
        asyncio.run(sync_to_async(connections.close_all, thread_sensitive=True)())


# --- CI's PostgreSQL + Redis pass: nothing may skip --------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With both DATABASE_URL and REDIS_URL set, a skipped test is reported as failed, with its reason.

    The live, fault and Redis tests skip on the embedded default by design; on
    the pass that has PostgreSQL and Redis they must run, and a skip there
    (a wrong condition, a missing service, a missing browser) would otherwise
    go unnoticed in a long run. A skip decided in setup (``skipif`` marks,
    fixtures) is reported as an error at setup, one in the test body as a failure;
    either fails the run. ``xfail`` is left alone.
    """
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        return
    if hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = (f"skipped on the PostgreSQL + Redis pass (DATABASE_URL and REDIS_URL are set), "
                       f"where every test must run: {reason}")
