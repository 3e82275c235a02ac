"""Fixed-window rate limits kept in the cache, so they hold across server processes."""

from __future__ import annotations

import time

from django.core.cache import cache


def _window(scope: str, ident: str, window: int) -> tuple[str, int, int]:
    now = int(time.time())
    window_start = now - now % window
    return f"rl:v1:{scope}:{ident}:{window_start}", now, window_start


def over(scope: str, ident: str, *, limit: int, window: int) -> int | None:
    """The seconds to wait when ``limit`` attempts have been counted in this window already, else None
    (counts nothing: for limits that count only failures, such as the session login's)."""
    key, now, window_start = _window(scope, ident, window)
    count = cache.get(key)
    if count is not None and count >= limit:
        return max(1, window_start + window - now)
    return None


def hit(scope: str, ident: str, *, limit: int, window: int) -> int | None:
    """Count one attempt; return the seconds to wait when over ``limit`` in this window, else None."""
    key, now, window_start = _window(scope, ident, window)
    # add() creates the counter only if absent; incr() is atomic on Redis and locmem.
    cache.add(key, 0, window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr, or the cache is down
        return None
    if count is None:  # django-redis with IGNORE_EXCEPTIONS: Redis is down, fail open
        return None
    if count > limit:
        return max(1, window_start + window - now)
    return None
