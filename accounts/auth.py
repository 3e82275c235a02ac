"""Authentication for the API: bearer tokens (cached) and Django sessions (with CSRF)."""

from __future__ import annotations

from ninja.security import HttpBearer, django_auth

from accounts import tokens


class BearerToken(HttpBearer):
    """``Authorization: Bearer <token>``; resolved from the cache, no query on the hot path."""

    def authenticate(self, request, token: str):
        user = tokens.user_for_token(token)
        if user is not None:
            request.user = user
        return user


bearer = BearerToken()
session = django_auth

# Bearer first: a request that carries a token never touches the session.
API_AUTH = [bearer, session]
