"""Django's PostgreSQL backend with a health check that costs no round trip on a quiet connection.

With ``CONN_HEALTH_CHECKS`` Django checks a persistent connection before the
first query of each request by sending ``SELECT 1``: a round trip and a
statement for PostgreSQL on every request, about 5% of a simple read's CPU
here. A connection whose server side has gone (a restart, a failover,
``pg_terminate_backend``) has had an error message or the end of the stream
arrive on its socket; a healthy idle connection has nothing waiting. So when
the connection is idle outside a transaction and its socket has nothing to
read, it is taken as usable; otherwise Django's own ``SELECT 1`` decides, as
before. A server that vanished without a word (a host lost, a network cut)
would fail either check alike: ``SELECT 1`` would also wait for TCP to give up.

The socket is asked with ``poll()``, not ``select()``: ``select()`` takes no
descriptor numbered 1024 (``FD_SETSIZE``) or above, and a process holding
about a thousand sockets (WebSockets, Redis, other connections) gets such
numbers for its database connections; each check would then fail and every
request reconnect. ``poll()`` has no such limit. (POSIX only, as is the
backend's use: production and CI run on Linux.)
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        conn = self.connection
        if conn is None or conn.closed:
            return False
        if conn.info.transaction_status == TransactionStatus.IDLE:
            poller = select.poll()
            try:
                # POLLERR, POLLHUP and POLLNVAL come back whether asked for or not.
                poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
                waiting = poller.poll(0)
            except (OSError, ValueError):
                return False
            if not waiting:
                return True
        return super().is_usable()
