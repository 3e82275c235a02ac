import pytest
from django.core.cache import cache

from accounts import tokens
from accounts.models import hash_token
from accounts.services import token_create
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_token_cache_never_holds_the_password_hash(owner):
    raw, _ = token_create(email=owner.email, password=factories.PASSWORD)
    assert tokens.user_for_token(raw).pk == owner.pk
    values, _expires = cache.get(tokens._key(hash_token(raw)))
    assert owner.password not in [str(v) for v in values]
    user = tokens.user_for_token(raw)  # from the cache
    assert (user.pk, user.email, user.display_name, user.is_active) == (owner.pk, owner.email, owner.display_name,
                                                                        True)
