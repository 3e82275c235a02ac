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
    """Whether Redis answers a PING (the channel layer's Redis; with no ``REDIS_URL``, the in-memory layer)."""
    if not settings.REDIS_URL:
        return True
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
        with client:
            return bool(client.ping())
    except Exception:
        return False


def health_report() -> dict[str, str]:
    """``{status, database, cache, channel_layer}``; ``status`` is "down" only when the database is."""
    database = database_ok()
    return {
        "status": "ok" if database else "down",
        "database": "ok" if database else "down",
        "cache": "ok" if cache_ok() else "down",
        "channel_layer": "ok" if channel_layer_ok() else "down",
    }
