"""Fixed-window rate limits kept in the cache, so they hold across server processes."""

from __future__ import annotations

import time

from django.core.cache import cache


def hit(scope: str, ident: str, *, limit: int, window: int) -> int | None:
    """Count one attempt; return the seconds to wait when over ``limit`` in this window, else None."""
    now = int(time.time())
    window_start = now - now % window
    key = f"rl:v1:{scope}:{ident}:{window_start}"
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
