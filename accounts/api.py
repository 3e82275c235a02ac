"""Auth endpoints: register, tokens, the current user; and the health check."""

from __future__ import annotations

from django.conf import settings
from ninja import Router, Status
from ninja.errors import Throttled

from accounts import ratelimit, services
from accounts.schemas import HealthOut, RegisterIn, TokenIn, TokenOut, UserOut
from taskhub.clientaddr import client_address
from taskhub.errors import ApplicationError
from taskhub.health import health_report
from taskhub.schemas import ErrorOut, ValidationErrorOut

# Operations anyone may call: declared with no security requirement (OpenAPI's ``security: []``).
PUBLIC = {"security": []}


router = Router(tags=["auth"])

# Attempts per window (settings.TASKHUB_RATE_WINDOW, a minute by default); held in
# the cache so that they apply across server processes.
TOKEN_PER_IP, TOKEN_PER_EMAIL, REGISTER_PER_IP = 20, 10, 10


def _limit(scope: str, ident: str, limit: int) -> None:
    wait = ratelimit.hit(scope, ident, limit=limit, window=settings.TASKHUB_RATE_WINDOW)
    if wait is not None:
        raise Throttled(wait)


def _client_ip(request) -> str:
    # Behind the proxies of TASKHUB_TRUSTED_PROXIES, the address they saw; a forged X-Forwarded-For changes nothing.
    return client_address(request) or "unknown"


@router.post("/auth/register", auth=None, openapi_extra=PUBLIC,
             response={201: UserOut, 400: ErrorOut, 409: ErrorOut, 422: ValidationErrorOut, 429: ErrorOut})
def user_register(request, payload: RegisterIn):
    """Create an account. The password needs at least 10 characters and may not be all digits."""
    _limit("register-ip", _client_ip(request), REGISTER_PER_IP)
    user = services.user_register(email=payload.email, password=payload.password, display_name=payload.display_name)
    return Status(201, user)


@router.post("/auth/token", auth=None, openapi_extra=PUBLIC,
             response={201: TokenOut, 401: ErrorOut, 422: ValidationErrorOut, 429: ErrorOut})
def token_create(request, payload: TokenIn):
    """Exchange email and password for a bearer token. The token is shown once; only its hash is stored."""
    _limit("token-ip", _client_ip(request), TOKEN_PER_IP)
    _limit("token-email", payload.email.strip().lower(), TOKEN_PER_EMAIL)
    raw, token = services.token_create(email=payload.email, password=payload.password)
    return Status(201, {"token": raw, "expires_at": token.expires_at, "user": token.user})


@router.delete("/auth/token", response={204: None, 400: ErrorOut})
def token_revoke(request):
    """Revoke the token this request was made with."""
    key_hash = getattr(request.user, "token_hash", None)
    if key_hash is None:
        raise ApplicationError("This request was not made with a bearer token.", code="no_token")
    services.token_revoke(key_hash=key_hash)
    return Status(204, None)


@router.get("/auth/me", response=UserOut)
def auth_me(request):
    """The user this request is authenticated as."""
    return request.user


@router.get("/health", auth=None, tags=["ops"], openapi_extra=PUBLIC, response={200: HealthOut, 503: HealthOut})
def health(request):
    """Database, cache and channel-layer status; ``503`` when the database is down."""
    body = health_report()
    return Status(503 if body["database"] == "down" else 200, body)
