"""What ``GET /health`` reports: whether the database, the cache and the channel layer answer."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache

logger = logging.getLogger(__name__)


def database_ok() -> bool:
    try:
        get_user_model().objects.exists()  # one round trip that reads a table (LIMIT 1)
    except Exception:  # a down database is what this check reports
        logger.warning("health: database down", exc_info=True)
        return False
    return True


def cache_ok() -> bool:
    try:
        cache.set("health:probe", "1", 5)
        return cache.get("health:probe") == "1"
    except Exception:
        return False


def channel_layer_ok() -> bool:
    """Whether every Redis server of the channel layer answers a PING (with no ``REDIS_URL``, the in-memory layer).

    With several (``CHANNEL_REDIS_URLS``) each carries its share of the groups,
    so one down is the layer down for those.
    """
    if not settings.REDIS_URL:
        return True
    import redis

    for url in settings.CHANNEL_REDIS_URLS:
        try:
            client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
            with client:
                if not client.ping():
                    return False
        except Exception:
            return False
    return True


def health_report() -> dict[str, str]:
    """``{status, database, cache, channel_layer}``; ``status`` is "down" only when the database is."""
    database = database_ok()
    return {
        "status": "ok" if database else "down",
        "database": "ok" if database else "down",
        "cache": "ok" if cache_ok() else "down",
        "channel_layer": "ok" if channel_layer_ok() else "down",
    }
