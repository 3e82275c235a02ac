"""The write retry of ``taskhub.db.retrying``: which database errors run a write again, and how often."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, OperationalError

from taskhub.db import ATTEMPTS, retrying


class Cause(Exception):
    """Stands for the psycopg error Django chains as ``__cause__``."""

    def __init__(self, sqlstate: str):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def failing(error_class, sqlstate: str, failures: int):
    calls = []

    @retrying
    def write():
        calls.append(1)
        if len(calls) <= failures:
            raise error_class(sqlstate) from Cause(sqlstate)
        return "done"

    return write, calls


@pytest.mark.parametrize(("error_class", "sqlstate"), [
    (OperationalError, "40P01"),  # deadlock
    (OperationalError, "40001"),  # serialization failure
    (IntegrityError, "23503"),  # deferred foreign key that a concurrent delete broke, found at COMMIT
])
def test_an_aborted_write_runs_again(error_class, sqlstate):
    write, calls = failing(error_class, sqlstate, failures=1)
    assert write() == "done"
    assert len(calls) == 2


@pytest.mark.parametrize(("error_class", "sqlstate"), [
    (IntegrityError, "23505"),  # unique violation: the same write would fail the same way
    (OperationalError, "57P01"),  # the connection was terminated: not safe to repeat blindly
])
def test_other_errors_are_raised_at_once(error_class, sqlstate):
    write, calls = failing(error_class, sqlstate, failures=1)
    with pytest.raises(error_class):
        write()
    assert len(calls) == 1


def test_it_gives_up_after_the_last_attempt():
    write, calls = failing(IntegrityError, "23503", failures=ATTEMPTS)
    with pytest.raises(IntegrityError):
        write()
    assert len(calls) == ATTEMPTS
