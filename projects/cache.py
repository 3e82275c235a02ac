"""Cached project counters, versioned by the project's event sequence.

Value layout: ``"<seq>:<total>:<todo>:<active>:<review>:<issue>:<done>"``. A plain
string (not a pickle) so that the Redis compare-and-set below can read the
version: a value is only ever replaced by one with a higher ``seq``, so an
after-commit refresh that runs late, or a reader that loaded an old row, can
never overwrite a newer value.

The cache is an accelerator only. Every function here swallows cache errors
(django-redis is configured with ``IGNORE_EXCEPTIONS``; the raw-client paths
catch their own), and callers fall back to the database on a miss.
"""

from __future__ import annotations

import logging
import threading
import uuid

from django.core.cache import cache

from projects.models import COUNT_FIELDS
from taskhub.metrics import CACHE_HITS, CACHE_MISSES
from taskhub.redis import redis_client

logger = logging.getLogger(__name__)

TTL_SECONDS = 24 * 60 * 60

_SET_IF_NEWER_LUA = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local seq = tonumber(string.match(cur, '^(%d+)'))
  if seq and seq >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""

_local_lock = threading.Lock()


def counts_cache_key(project_id: uuid.UUID | str) -> str:
    return f"counts:v2:{project_id}"


def _encode(seq: int, counts: dict[str, int]) -> str:
    return ":".join(str(int(v)) for v in (seq, *(counts[name] for name in COUNT_FIELDS)))


def _decode(raw) -> tuple[int, dict[str, int]] | None:
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode()
    try:
        seq, *values = (int(part) for part in str(raw).split(":"))
    except ValueError:
        return None
    if len(values) != len(COUNT_FIELDS):
        return None
    return seq, dict(zip(COUNT_FIELDS, values, strict=True))


def counts_get_many(project_ids: list) -> dict[str, tuple[int, dict[str, int]]]:
    """``{str(project_id): (seq, counts)}`` for the ids found in the cache."""
    if not project_ids:
        return {}
    keys = [counts_cache_key(pid) for pid in project_ids]
    client = redis_client()
    found: dict[str, tuple[int, dict[str, int]]] = {}
    try:
        if client is not None:
            raw_values = client.mget([cache.make_and_validate_key(key) for key in keys])
            pairs = zip(project_ids, raw_values, strict=True)
        else:
            got = cache.get_many(keys)
            pairs = ((pid, got.get(key)) for pid, key in zip(project_ids, keys, strict=True))
        for pid, raw in pairs:
            decoded = _decode(raw)
            if decoded is not None:
                found[str(pid)] = decoded
    except Exception:  # the cache is an accelerator; a broken one is a miss
        logger.warning("counts cache read failed", exc_info=True)
        found = {}
    CACHE_HITS.labels("counts").inc(len(found))
    CACHE_MISSES.labels("counts").inc(len(project_ids) - len(found))
    return found


def counts_get(project_id) -> tuple[int, dict[str, int]] | None:
    return counts_get_many([project_id]).get(str(project_id))


def counts_set_if_newer(project_id, seq: int, counts: dict[str, int]) -> None:
    """Store ``counts`` at version ``seq`` unless the cache already holds ``seq`` or newer."""
    key = counts_cache_key(project_id)
    value = _encode(seq, counts)
    client = redis_client()
    try:
        if client is not None:
            client.eval(_SET_IF_NEWER_LUA, 1, cache.make_and_validate_key(key), seq, value, TTL_SECONDS)
            return
        with _local_lock:
            current = _decode(cache.get(key))
            if current is None or current[0] < seq:
                cache.set(key, value, TTL_SECONDS)
    except Exception:
        logger.warning("counts cache write failed", exc_info=True)


def counts_invalidate(project_id) -> None:
    try:
        cache.delete(counts_cache_key(project_id))
    except Exception:
        logger.warning("counts cache delete failed", exc_info=True)
