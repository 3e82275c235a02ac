"""``taskhub.postgresql``: the health check sends no ``SELECT 1`` while the socket shows the connection alive.

PostgreSQL only (the second pass of CI); the live fault tests check the same under a running server.
"""

from __future__ import annotations

import os
import resource
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


def readable(fd: int, timeout: float) -> bool:
    """Whether ``fd`` has something to read within ``timeout`` seconds (``poll``: any descriptor number)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


def wait_for_goodbye(conn) -> None:
    deadline = time.monotonic() + 5
    while not readable(conn.fileno(), 0.05):
        assert time.monotonic() < deadline, "the server's goodbye never arrived"


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
    wait_for_goodbye(other.connection)
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
    wait_for_goodbye(dead)
    with other.cursor() as cursor:
        cursor.execute("SELECT 42")
        assert cursor.fetchone()[0] == 42
    assert other.connection is not dead


FD_SETSIZE = 1024  # select() takes no descriptor numbered this or above


@pytest.fixture
def high_descriptors():
    """Descriptors held open until the next one the process opens is numbered above ``FD_SETSIZE``.

    As in a server process holding a thousand sockets. ``os.open`` returns the
    lowest free number, so once it returns one above the limit every number
    below is taken and the next socket comes above too.
    """
    wanted = FD_SETSIZE + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted + 64:
        if hard != resource.RLIM_INFINITY and hard < wanted + 64:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low to open {wanted} descriptors")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted + 64, hard))
    held = []
    try:
        while not held or held[-1] < wanted:
            held.append(os.open(os.devnull, os.O_RDONLY))
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def far(high_descriptors):
    """A connection of its own whose socket is numbered above ``FD_SETSIZE``."""
    conn = connections.create_connection("default")
    conn.ensure_connection()
    yield conn
    conn.close()  # before high_descriptors closes its descriptors and puts the limit back


def test_a_connection_numbered_above_fd_setsize_is_usable_and_kept(far, select_one):
    fd = far.connection.fileno()
    assert fd > FD_SETSIZE
    with pytest.raises(ValueError):
        select.select([fd], [], [], 0)  # what the check used to ask, and took as "unusable"
    assert far.is_usable() is True
    assert select_one == []

    # What a request does: Django's check on request start, then the health check on the first cursor.
    connection_before, pid_before = far.connection, far.connection.info.backend_pid
    far.close_if_unusable_or_obsolete()
    with far.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] == pid_before
    assert far.connection is connection_before
    assert select_one == []


def test_a_terminated_connection_numbered_above_fd_setsize_is_not_usable(far, select_one):
    assert far.connection.fileno() > FD_SETSIZE
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [far.connection.info.backend_pid])
        assert cursor.fetchone()[0] is True
    wait_for_goodbye(far.connection)
    assert far.is_usable() is False
    assert select_one == [far]
