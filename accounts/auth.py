"""Authentication for the API: bearer tokens (cached) and Django sessions (with CSRF)."""

from __future__ import annotations

from ninja.security import HttpBearer, SessionAuth

from accounts import tokens


class BearerToken(HttpBearer):
    """``Authorization: Bearer <token>``; resolved from the cache, no query on the hot path."""

    def authenticate(self, request, token: str):
        user = tokens.user_for_token(token)
        if user is not None:
            request.user = user
        return user


class Session(SessionAuth):
    """Django's session cookie, with the CSRF check for unsafe methods.

    ninja checks CSRF before looking at the session, so an anonymous caller (or
    one whose bearer token is invalid or expired) got ``403 CSRF check Failed``
    on every write instead of API.md's ``401``. CSRF protects a logged-in
    session from forged requests, so it is checked only when the session
    belongs to someone (as Django REST framework does); there it still applies.
    """

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None  # no session: the next method, or 401
        return super().__call__(request)  # ninja's CSRF check, then the session's user


bearer = BearerToken()
session = Session()

# Bearer first: a request that carries a token never touches the session.
API_AUTH = [bearer, session]
