"""Shared fixtures: one workspace with a user per role, and an outsider.

- ``owner``: workspace owner (and project admin, having created the project)
- ``editor``: workspace editor and project member
- ``editor_outside``: workspace editor who is not a project member
- ``viewer``: workspace viewer
- ``outsider``: owner of another workspace, no access to ``workspace``
"""

from __future__ import annotations

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


@pytest.fixture
def assert_max_queries():
    """Pin a query budget (DESIGN.md): at most ``n`` SQL statements that do work.

    Transaction control (BEGIN, COMMIT, SAVEPOINT, RELEASE) is not counted: a
    test's own transaction turns a service's ``atomic()`` into a savepoint pair,
    where in production it is a BEGIN/COMMIT pair, and neither does work.
    Everything else is, and the failure lists every statement.
    """

    @contextmanager
    def check(n: int):
        with CaptureQueriesContext(connection) as ctx:
            yield ctx
        work = [q["sql"] for q in ctx.captured_queries if not _TRANSACTION_CONTROL.match(q["sql"])]
        if len(work) > n:
            listing = "\n".join(f"{i}. {sql[:300]}" for i, sql in enumerate(work, 1))
            pytest.fail(f"{len(work)} queries, budget {n}:\n{listing}")
        ctx.work_queries = work

    return check
