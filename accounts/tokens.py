"""Bearer-token lookup through the cache, so the hot path costs no database query.

The cache maps the token's SHA-256 to the user's public fields and the expiry
(no password hash in the cache). An entry lives at
most ``CACHE_SECONDS`` and never past the token's expiry; revoking a token
deletes its entry. ``last_used_at`` is written when an entry is (re)built,
so it is exact to within ``CACHE_SECONDS``.

Timing: the raw token is never compared with anything. It is hashed first,
and only the SHA-256 is looked up (a cache key, a unique index), so how long
a lookup takes can tell an attacker at most something about the hash of a
valid token, from which the token cannot be recovered. That is the
constant-time property the comparison of secrets needs; WebSocket tickets
(``realtime.tickets``) work the same way.
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.utils import timezone

from accounts.models import ApiToken, User, hash_token
from taskhub.metrics import CACHE_HITS, CACHE_MISSES

logger = logging.getLogger(__name__)

CACHE_SECONDS = 300
# What the cache keeps of the user: enough for every API request, never the password hash.
# (In the model's field order: that is how ``Model.from_db`` reads a partial row.)
_CACHED_FIELDS = [
    field.attname for field in User._meta.get_fields()
    if field.concrete and not field.many_to_many
    and field.attname in {"id", "email", "display_name", "is_active", "is_staff", "is_superuser"}
]
_ACTIVE = _CACHED_FIELDS.index("is_active")


def _key(key_hash: str) -> str:
    return f"token:v1:{key_hash}"


def user_for_token(raw: str):
    """The active user a raw bearer token belongs to, or None."""
    if not raw or len(raw) > 200:
        return None
    key_hash = hash_token(raw)
    now = timezone.now()
    cached = cache.get(_key(key_hash))
    (CACHE_HITS if cached is not None else CACHE_MISSES).labels("token").inc()
    if cached is not None:
        values, expires_at = cached
        if expires_at > now and values[_ACTIVE]:
            # As if loaded from the database; fields not cached (the password hash
            # among them) are deferred and would load on first access.
            user = User.from_db("default", _CACHED_FIELDS, values)
            user.token_hash = key_hash
            return user
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=key_hash).first()
    if token is None or token.expires_at <= now or not token.user.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    ttl = min(CACHE_SECONDS, int((token.expires_at - now).total_seconds()))
    if ttl > 0:
        values = [getattr(token.user, name) for name in _CACHED_FIELDS]
        cache.set(_key(key_hash), (values, token.expires_at), ttl)
    token.user.token_hash = key_hash
    return token.user


def forget(key_hash: str) -> None:
    cache.delete(_key(key_hash))
