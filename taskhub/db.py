"""Transaction helpers for the write services."""

from __future__ import annotations

import functools
import logging

from django.db import OperationalError, connection, transaction

logger = logging.getLogger(__name__)

# PostgreSQL: deadlock_detected, serialization_failure.
_RETRYABLE = {"40P01", "40001"}
ATTEMPTS = 3


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
    one of them; rather than answering 500, the aborted write runs again from
    the start. Only an outermost transaction is retried: inside an enclosing
    ``atomic`` the caller owns the transaction.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if connection.in_atomic_block:
            return func(*args, **kwargs)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if attempt == ATTEMPTS or not _retryable(exc):
                    raise
                logger.info("%s: %s, retrying (attempt %d)", func.__name__, exc.__cause__.sqlstate, attempt + 1)
        raise AssertionError("unreachable")

    return wrapper
