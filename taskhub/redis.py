"""The raw Redis client behind the default cache, for the few operations the cache API lacks."""

from __future__ import annotations


def redis_client():
    """The redis-py client of the default cache when it is django-redis, else None.

    Checks the backend itself: ``django.core.cache.cache`` is a proxy, so its
    own type says nothing about the backend behind it (an earlier check on
    that type was always false, and the Redis paths never ran).
    """
    from django.core.cache import caches

    if not type(caches["default"]).__module__.startswith("django_redis"):
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")
