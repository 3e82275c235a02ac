"""Single-use WebSocket tickets: issued over REST, consumed once at the handshake.

A ticket is 256 random bits; the cache stores only its SHA-256 (with the user
id) for ``TTL_SECONDS``. Consuming is atomic (Redis ``GETDEL``; a process lock
on the local-memory cache), so a ticket opens at most one socket.
"""

from __future__ import annotations

import hashlib
import secrets
import threading

from django.core.cache import cache

from taskhub.redis import redis_client

TTL_SECONDS = 30
_local_lock = threading.Lock()


def _key(ticket: str) -> str:
    return "ticket:v1:" + hashlib.sha256(ticket.encode()).hexdigest()


def ticket_issue(*, user_id) -> str:
    ticket = secrets.token_urlsafe(32)
    cache.set(_key(ticket), str(user_id), TTL_SECONDS)
    return ticket


def ticket_consume(ticket: str) -> str | None:
    """The user id the ticket was issued to, or None; the ticket is gone afterwards either way."""
    if not ticket or len(ticket) > 200:
        return None
    key = _key(ticket)
    client = redis_client()
    if client is not None:
        try:
            raw = client.getdel(cache.make_and_validate_key(key))
        except Exception:
            return None
        if raw is None:
            return None
        # django-redis stores plain strings pickled unless they are ints; decode through the client.
        return cache.client.decode(raw)
    with _local_lock:
        value = cache.get(key)
        cache.delete(key)
    return value
