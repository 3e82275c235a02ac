"""Secrets stay secret: not in any log line, stored only as hashes, passwords on Django's default hasher."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth.hashers import get_hasher, identify_hasher
from django.core.cache import cache
from django.test import override_settings

from accounts.models import ApiToken, User
from taskhub.asgi import application
from taskhub.redis import redis_client

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery-staple-42"


@pytest.fixture
def every_log_line(caplog):
    """Every record of every logger at DEBUG and up, the request log included."""
    with caplog.at_level(logging.DEBUG), override_settings(TASKHUB_REQUEST_LOG=True):
        yield caplog


def _all_text(caplog) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.append(record.exc_text or "")
        parts.append(repr(getattr(record, "request", "")))
    return "\n".join(parts)


def _open_socket(ticket: str) -> None:
    async def go():
        communicator = WebsocketCommunicator(application, f"/ws/?ticket={ticket}",
                                             headers=[(b"origin", b"http://testserver")])
        connected, _ = await communicator.connect()
        assert connected
        await communicator.send_json_to({"type": "subscribe", "project_id": "not-a-uuid"})
        await communicator.receive_from(timeout=3)
        await communicator.disconnect()

    async_to_sync(go)()


def test_no_password_token_or_ticket_reaches_any_log(client, every_log_line, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    register = client.post("/api/v1/auth/register", {"email": "sec@example.com", "password": PASSWORD},
                           content_type="application/json")
    assert register.status_code == 201
    wrong = client.post("/api/v1/auth/token", {"email": "sec@example.com", "password": PASSWORD + "x"},
                        content_type="application/json")
    assert wrong.status_code == 401
    login = client.post("/api/v1/auth/token", {"email": "sec@example.com", "password": PASSWORD},
                        content_type="application/json")
    token = login.json()["token"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    # Successes, refusals and validation errors: each is logged on its own path.
    assert client.get("/api/v1/auth/me", **auth).status_code == 200
    assert client.get("/api/v1/projects/00000000-0000-0000-0000-000000000000", **auth).status_code == 404
    assert client.post("/api/v1/workspaces", "{bad", content_type="application/json", **auth).status_code == 400
    assert client.post("/api/v1/workspaces", {"name": ""}, content_type="application/json",
                       **auth).status_code == 422
    ticket = client.post("/api/v1/realtime/ticket", **auth).json()["ticket"]
    _open_socket(ticket)
    assert client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}x").status_code == 401
    assert client.delete("/api/v1/auth/token", **auth).status_code == 204

    text = _all_text(every_log_line)
    assert any(r.name == "taskhub.request" for r in every_log_line.records), "the request log was not captured"
    secrets = {"password": PASSWORD, "token": token, "token hash": hashlib.sha256(token.encode()).hexdigest(),
               "ticket": ticket, "ticket hash": hashlib.sha256(ticket.encode()).hexdigest()}
    leaked = [name for name, value in secrets.items() if value in text]
    assert not leaked, f"found in the logs: {leaked}"


def test_tokens_and_tickets_are_stored_only_as_hashes(client, owner):
    from tests import factories

    login = client.post("/api/v1/auth/token", {"email": owner.email, "password": factories.PASSWORD},
                        content_type="application/json")
    token = login.json()["token"]
    row = ApiToken.objects.get(user=owner)
    stored = json.dumps(list(ApiToken.objects.filter(pk=row.pk).values_list()), default=str)
    assert token not in stored
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    ticket = client.post("/api/v1/realtime/ticket", HTTP_AUTHORIZATION=f"Bearer {token}").json()["ticket"]
    # The request above also cached the token's user. Whatever the cache holds (locmem or Redis),
    # neither raw secret is in a key or a value.
    everything = _cache_contents()
    assert everything, "the cache looks empty: the scan is not seeing it"
    for secret in (token, ticket):
        assert secret.encode() not in everything
    assert hashlib.sha256(ticket.encode()).hexdigest().encode() in everything


def _cache_contents() -> bytes:
    """Every key and value of the default cache, as one byte string."""
    redis = redis_client()
    if redis is not None:
        return b"\n".join(key + b"=" + (redis.dump(key) or b"") for key in redis.scan_iter("*"))
    return b"\n".join(key.encode() + b"=" + value for key, value in cache._cache.items())


def test_passwords_use_djangos_default_hasher_outside_the_test_settings():
    from django.conf import global_settings

    from taskhub import settings as project_settings

    # The suite swaps in MD5 for speed (conftest); the project itself keeps Django's default list.
    assert getattr(project_settings, "PASSWORD_HASHERS", global_settings.PASSWORD_HASHERS) == \
        global_settings.PASSWORD_HASHERS
    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):
        user = User.objects.create_user(email="hash@example.com", password=PASSWORD)
        assert identify_hasher(user.password).algorithm == get_hasher("default").algorithm == "pbkdf2_sha256"
        assert PASSWORD not in user.password
