"""Database faults answer ``503`` with ``Retry-After``, never ``500``; a safe read first gets a second try.

When PostgreSQL is gone (stopped, restarting, unreachable, out of connections)
or the backend serving a request is killed under it (``pg_terminate_backend``,
a crash, a failover), the database driver raises ``OperationalError`` or
``InterfaceError``. Those are not the request's fault, and not a bug: the
answer is ``503 {detail, code: "unavailable"}`` with ``Retry-After``.

Before that, a request that only reads (``GET``, ``HEAD``, ``OPTIONS``) runs
its view once more on a fresh connection: the usual cause is one dead
connection (a restart left it behind), and the second try succeeds. A write
is never run again here: its transaction was rolled back with the
connection, so nothing of it is stored, but whether to repeat it is the
client's choice (its ``If-Match`` and the event log tell it what happened).

The API maps the errors in its own exception handler (``taskhub.api``), the
other views (the admin) through :class:`DatabaseFaultMiddleware`, which also
does the retry, and ``handler500`` catches what fails outside any view (a
session saved after the response was made).
"""

from __future__ import annotations

import inspect
import logging
import sys

from django.db import InterfaceError, OperationalError, connections
from django.http import JsonResponse
from django.views import defaults

try:
    from psycopg_pool import PoolTimeout
except ImportError:  # psycopg's pool is only needed with DB_POOL=1
    PoolTimeout = ()

logger = logging.getLogger("taskhub.faults")

UNAVAILABLE = (OperationalError, InterfaceError)
# Seconds a client should wait before trying again: a restarted or failed-over database is back
# within seconds, and a killed connection is replaced by the next request.
RETRY_AFTER = 2
DETAIL = "The database is unavailable; try again shortly."
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def mark(response, exc: BaseException | None = None):
    """Mark ``response`` as the answer to the database fault ``exc``: ``Retry-After``, and known to the retry below."""
    response["Retry-After"] = str(RETRY_AFTER)
    response.database_unavailable = True
    response.database_error = exc
    return response


def unavailable_response() -> JsonResponse:
    return mark(JsonResponse({"detail": DETAIL, "code": "unavailable"}, status=503))


def after_fault() -> None:
    """Once a fault has been answered, drop the connections it broke (outside a caller's transaction).

    Django closes an unusable connection when the request finishes, but not
    what runs before that on the same thread (the request log, a test's checks).
    """
    if not _in_transaction():
        fresh_connections()


def fresh_connections() -> None:
    """Close every open database connection (none is in a transaction here): the next query opens a new one.

    A persistent connection is closed for good; a pooled one goes back to the
    pool, which checks it before handing it out again and replaces it if dead.
    """
    for connection in connections.all(initialized_only=True):
        connection.close()


def _pool_timed_out(failure) -> bool:
    """Whether the fault (an exception, or the 503 the API made of one) is psycopg_pool's ``PoolTimeout``."""
    exc = failure if isinstance(failure, BaseException) else getattr(failure, "database_error", None)
    return isinstance(getattr(exc, "__cause__", None), PoolTimeout)


def _in_transaction() -> bool:
    return any(connection.in_atomic_block for connection in connections.all(initialized_only=True))


class DatabaseFaultMiddleware:
    """Last in ``MIDDLEWARE``: a safe view gets a second try on a fresh connection; then any fault is a 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method not in SAFE_METHODS or inspect.iscoroutinefunction(view_func):
            return None  # Django calls the view as usual
        try:
            response = view_func(request, *view_args, **view_kwargs)
        except UNAVAILABLE as exc:
            first = exc
        else:
            if not getattr(response, "database_unavailable", False):
                return response
            first = None
        if _in_transaction():  # inside a caller's transaction (ATOMIC_REQUESTS, a test): not ours to retry
            return unavailable_response() if first is not None else response
        if _pool_timed_out(first if first is not None else response):
            # The pool already waited its timeout for a connection: waiting once more helps nobody.
            after_fault()
            return unavailable_response() if first is not None else response
        logger.warning("%s %s: the database failed (%s); trying once more on a fresh connection",
                       request.method, request.path, first or "answered 503")
        fresh_connections()
        try:
            return view_func(request, *view_args, **view_kwargs)
        except UNAVAILABLE:
            logger.warning("%s %s: the database failed again", request.method, request.path, exc_info=True)
            after_fault()
            return unavailable_response()

    def process_exception(self, request, exception):
        if isinstance(exception, UNAVAILABLE):
            logger.warning("%s %s: the database failed", request.method, request.path, exc_info=True)
            after_fault()
            return unavailable_response()
        return None


def server_error(request, *args, **kwargs):
    """``handler500``: a database fault met outside any view is a 503 too; anything else, Django's 500 page."""
    exc = sys.exc_info()[1]
    if isinstance(exc, UNAVAILABLE):
        logger.warning("%s %s: the database failed", request.method, request.path)
        after_fault()
        return unavailable_response()
    return defaults.server_error(request, *args, **kwargs)
