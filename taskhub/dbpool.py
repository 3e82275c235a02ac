"""The health check for pooled PostgreSQL connections (``DB_POOL=1``).

Imported by the settings, so it imports nothing from Django at module level.
"""

from __future__ import annotations

from psycopg_pool import ConnectionPool


def check_pooled_connection(conn) -> None:
    """psycopg_pool's ``check``: one empty round trip; raises when the backend is gone.

    When one idle connection turns out dead, they usually all are (PostgreSQL
    restarted, a failover, ``pg_terminate_backend``). psycopg_pool would then
    check the next one, and the next, sleeping between failures with
    exponential backoff (0, 1, 2, 4, ... s), so with a few dead connections the
    request waits for seconds and, past the pool timeout, fails. Instead, the
    first failure sweeps every idle connection at once (``ConnectionPool.check``
    discards the broken ones and schedules replacements), so the retry that
    follows gets a live or a brand new connection without sleeping.
    """
    try:
        ConnectionPool.check_connection(conn)
    except Exception:
        from django.db import connections

        for alias in connections:
            pool = connections[alias].pool if connections.settings[alias]["OPTIONS"].get("pool") else None
            if pool is not None:
                pool.check()
        raise
