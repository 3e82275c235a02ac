"""``taskhub.postgresql``: the health check sends no ``SELECT 1`` while the socket shows the connection alive.

PostgreSQL only (the second pass of CI); the live fault tests check the same under a running server.
"""

from __future__ import annotations

import select
import time

import pytest
from django.db import connection, connections
from django.db.backends.postgresql import base as django_postgresql

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL backend"),
]


@pytest.fixture
def other():
    """A connection of its own, outside the test's."""
    conn = connections.create_connection("default")
    conn.ensure_connection()
    yield conn
    conn.close()


@pytest.fixture
def select_one(monkeypatch):
    """Counts Django's own check (``SELECT 1``) and lets it run."""
    calls = []
    real = django_postgresql.DatabaseWrapper.is_usable

    def counted(self):
        calls.append(self)
        return real(self)

    monkeypatch.setattr(django_postgresql.DatabaseWrapper, "is_usable", counted)
    return calls


def test_settings_use_the_backend():
    assert connection.settings_dict["ENGINE"] == "taskhub.postgresql"
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True


def test_a_quiet_idle_connection_is_usable_without_a_round_trip(other, select_one):
    assert other.is_usable() is True
    assert select_one == []


def test_a_terminated_connection_is_not_usable(other, select_one):
    pid = other.connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
        assert cursor.fetchone()[0] is True
    deadline = time.monotonic() + 5
    while not select.select([other.connection.fileno()], [], [], 0.05)[0]:
        assert time.monotonic() < deadline, "the server's goodbye never arrived"
    assert other.is_usable() is False
    assert select_one == [other]  # the socket had something to say: Django's check decided


def test_inside_a_transaction_django_decides(other, select_one):
    other.set_autocommit(False)
    with other.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert other.is_usable() is True
    assert select_one == [other]
    other.rollback()
    other.set_autocommit(True)


def test_the_request_path_reconnects_after_a_kill(other):
    """What a request does: the health check on the first cursor replaces the dead connection."""
    other.health_check_enabled = True
    other.health_check_done = False
    dead = other.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [dead.info.backend_pid])
    deadline = time.monotonic() + 5
    while not select.select([dead.fileno()], [], [], 0.05)[0]:
        assert time.monotonic() < deadline
    with other.cursor() as cursor:
        cursor.execute("SELECT 42")
        assert cursor.fetchone()[0] == 42
    assert other.connection is not dead
