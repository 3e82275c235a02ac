"""Transaction helpers for the write services."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Model

from taskhub.errors import NotFound

logger = logging.getLogger(__name__)

# PostgreSQL: deadlock_detected, serialization_failure, and foreign_key_violation: foreign keys
# are checked at COMMIT (deferred), so a write that read a row a concurrent transaction then
# deleted (a comment or subtask on a task being deleted), or a delete that raced a new
# reference to its row, fails only there. Run again, it reads the current rows and answers as
# for any missing row (404, 422), or, for the delete, clears the new reference too.
_RETRYABLE = {"40P01", "40001", "23503"}
ATTEMPTS = 3


def unique_violation(exc: IntegrityError, *fields: str) -> bool:
    """Whether ``exc`` is a unique-constraint violation on ``fields`` (PostgreSQL or SQLite).

    Only that is a "taken" conflict: a foreign-key violation also mentions a
    "Key (...)" and must not be mistaken for one.
    """
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is not None:  # PostgreSQL: detail reads 'Key (workspace_id, key)=(..., TH) already exists.'
        detail = getattr(getattr(cause, "diag", None), "message_detail", None) or ""
        columns = detail.split(")", 1)[0]
        return sqlstate == "23505" and all(field in columns for field in fields)
    text = str(exc)  # SQLite: 'UNIQUE constraint failed: projects_project.workspace_id, projects_project.key'
    return text.startswith("UNIQUE constraint failed") and all(f".{field}" in text for field in fields)


def _retryable(exc: BaseException) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in _RETRYABLE


def write_transaction(func):
    """``transaction.atomic`` that retries the whole write when PostgreSQL reports a deadlock (see ``retrying``)."""
    return retrying(transaction.atomic(func))


def retrying(func):
    """Run ``func`` (which opens its own transaction) again when PostgreSQL reports a deadlock.

    Lock order is kept consistent (the row being changed, then the project's
    counters row; ``FOR NO KEY UPDATE`` so foreign-key checks of concurrent
    inserts never wait on it), but a few rare pairs can still cross, e.g.
    deleting a task while a subtask is created under it. PostgreSQL then aborts
    one of them (a deadlock, or, when one commits first, a deferred foreign-key
    check failing at the other's COMMIT); rather than answering 500, the aborted
    write runs again from the start. Only an outermost transaction is retried:
    inside an enclosing ``atomic`` the caller owns the transaction.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if connection.in_atomic_block:
            return func(*args, **kwargs)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return func(*args, **kwargs)
            except (OperationalError, IntegrityError) as exc:
                if attempt == ATTEMPTS or not _retryable(exc):
                    raise
                logger.info("%s: %s, retrying (attempt %d)", func.__name__, exc.__cause__.sqlstate, attempt + 1)
        raise AssertionError("unreachable")

    return wrapper


def first_locked(fetch: Callable[[], Model | None], not_found: str):
    """``fetch()`` (a locking read that joins other tables, e.g. ``qs.first``), retried when it comes back empty.

    When the locked row was changed by a writer we waited for, PostgreSQL
    re-checks it against the joined rows it had already read (READ COMMITTED's
    EvalPlanQual); if that writer changed a foreign key (a move changes a
    task's ``status_id``), the stale join drops the row and the query returns
    nothing. Running it again reads fresh rows. Only the empty case pays.
    """
    for _ in range(3):
        found = fetch()
        if found is not None:
            return found
    raise NotFound(not_found)
