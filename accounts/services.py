"""Writes for accounts: registration and API tokens."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiToken, User, new_token
from projects.services import invitations_deliver
from taskhub.errors import ApplicationError, Conflict, ValidationError


class Unauthorized(ApplicationError):
    status_code = 401
    code = "invalid_credentials"


def user_register(*, email: str, password: str, display_name: str = "") -> User:
    """Create an account. Django's password validators apply (at least 10 characters, not all digits)."""
    if not settings.TASKHUB_OPEN_SIGNUP:
        raise ApplicationError("Sign-up is closed on this server.", code="signup_closed")
    email = User.objects.normalize_email(email.strip()).lower()
    try:
        validate_email(email)
    except DjangoValidationError as exc:
        raise ValidationError("Enter a valid email address.") from exc
    candidate = User(email=email, display_name=display_name)
    try:
        password_validation.validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise ValidationError(" ".join(exc.messages), code="invalid_password") from exc
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict("An account with this email already exists.", code="email_taken")
    with transaction.atomic():
        try:
            with transaction.atomic():
                user = User.objects.create_user(email, password, display_name=display_name)
        except IntegrityError as exc:  # a concurrent registration won the race (the only constraint here)
            raise Conflict("An account with this email already exists.", code="email_taken") from exc
        # Invitations that were waiting for this address: their notifications, in the same transaction.
        invitations_deliver(user=user)
        return user


def token_create(*, email: str, password: str, name: str = "") -> tuple[str, ApiToken]:
    """Check the credentials and issue a token; returns ``(raw, token)``. The raw value is never stored."""
    user = authenticate(username=email.strip().lower(), password=password)
    if user is None:
        raise Unauthorized("Wrong email or password.")
    raw, key_hash = new_token()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        key_hash=key_hash,
        expires_at=timezone.now() + datetime.timedelta(days=settings.TASKHUB_TOKEN_TTL_DAYS),
    )
    return raw, token


def token_revoke(*, key_hash: str) -> None:
    """Delete the token and drop it from the cache, so it stops working at once on every process."""
    ApiToken.objects.filter(key_hash=key_hash).delete()
    tokens.forget(key_hash)
