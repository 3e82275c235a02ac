"""Loaded at start-up by server processes that have this folder on ``PYTHONPATH`` (test_fault_postgres).

With ``TASKHUB_POOL_SLEEP_LOG`` set, every sleep of psycopg_pool's ``getconn``
is appended to that file, one duration a line. ``getconn`` sleeps when the
connection it checked was dead: 0 s after the first, then about 1, 2, 4 s
after each further one (``AttemptWithBackoff``). So the file tells, without
timing anything, whether a request went through that back-off: a line above
zero means it did.
"""

import os

_LOG = os.environ.get("TASKHUB_POOL_SLEEP_LOG")

if _LOG:
    import psycopg_pool.pool as _pool

    _sleep = _pool.sleep

    def _recorded_sleep(seconds: float) -> None:
        with open(_LOG, "a") as log:
            log.write(f"{seconds}\n")
        _sleep(seconds)

    _pool.sleep = _recorded_sleep
