"""Authentication, tokens, sessions and CSRF, request ids, health and the OpenAPI document, over HTTP."""

from __future__ import annotations

import datetime
import hashlib
import re
import socket
import types
import uuid

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError
from django.test import Client, override_settings
from django.utils import timezone

from accounts import ratelimit, tokens
from accounts.models import ApiToken, User
from tests import factories
from tests.api.conftest import API, ENDPOINTS, PUBLIC, Caller, assert_error, assert_invalid, token_for

pytestmark = pytest.mark.django_db

USER_KEYS = {"id", "email", "display_name"}


def _user_body(user) -> dict:
    return {"id": str(user.pk), "email": user.email, "display_name": user.display_name}


# --- register ------------------------------------------------------------------------------------------


def test_register_creates_the_account(api):
    reply = api(None).post("/auth/register", {"email": "New.Person@Example.com", "password": "a-long-passphrase",
                                              "display_name": "New Person"})
    assert reply.status == 201, reply
    user = User.objects.get()
    assert reply.body == {"id": str(user.pk), "email": "new.person@example.com", "display_name": "New Person"}
    assert user.check_password("a-long-passphrase")
    # The new account can log in at once.
    token = api(None).post("/auth/token", {"email": "new.person@example.com", "password": "a-long-passphrase"})
    assert token.status == 201, token


def test_register_without_display_name(api):
    reply = api(None).post("/auth/register", {"email": "plain@example.com", "password": "a-long-passphrase"})
    assert reply.status == 201, reply
    assert reply.body["display_name"] == ""
    assert set(reply.body) == USER_KEYS


@pytest.mark.parametrize("email", ["owner@example.com", "OWNER@Example.COM", " Owner@example.com "])
def test_register_duplicate_email_is_409_whatever_its_case(api, owner, email):
    reply = api(None).post("/auth/register", {"email": email, "password": "a-long-passphrase"})
    assert_error(reply, 409)
    assert User.objects.count() == 1
    assert User.objects.get().check_password(factories.PASSWORD)


@pytest.mark.parametrize("password", ["short-pw1", "12345678901234", "password123"])
def test_register_rejects_weak_passwords(api, password):
    # Too short (9 < 10); entirely numeric; too common (Django's validators).
    reply = api(None).post("/auth/register", {"email": "weak@example.com", "password": password})
    assert_invalid(reply)
    assert not User.objects.exists()


def test_register_accepts_exactly_ten_characters(api):
    reply = api(None).post("/auth/register", {"email": "ten@example.com", "password": "qz8-Lw3#pX"})
    assert reply.status == 201, reply


def test_register_rejects_a_bad_email(api):
    reply = api(None).post("/auth/register", {"email": "not-an-email", "password": "a-long-passphrase"})
    assert_invalid(reply)
    assert not User.objects.exists()


def test_register_closed_when_open_signup_is_off(api, settings):
    settings.TASKHUB_OPEN_SIGNUP = False
    reply = api(None).post("/auth/register", {"email": "late@example.com", "password": "a-long-passphrase"})
    assert_error(reply, 400)  # API.md: "400 signup_closed when sign-up is off"
    assert reply.body["code"] == "signup_closed", reply
    assert not User.objects.exists()


# --- tokens --------------------------------------------------------------------------------------------


def test_token_create(api, owner):
    before = timezone.now()
    reply = api(None).post("/auth/token", {"email": "Owner@Example.com", "password": factories.PASSWORD})
    assert reply.status == 201, reply
    assert set(reply.body) == {"token", "expires_at", "user"}
    assert reply.body["user"] == _user_body(owner)
    expires_at = datetime.datetime.fromisoformat(reply.body["expires_at"])
    assert expires_at.tzinfo is not None
    assert before + datetime.timedelta(days=29) < expires_at <= timezone.now() + datetime.timedelta(days=30)
    # The token works.
    me = Caller(api(None).client, reply.body["token"]).get("/auth/me")
    assert me.status == 200, me
    assert me.body == _user_body(owner)


def test_only_the_tokens_sha256_is_stored(api, owner):
    raw = api(None).post("/auth/token", {"email": owner.email, "password": factories.PASSWORD}).body["token"]
    row = ApiToken.objects.get(user=owner)
    assert row.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    stored = ApiToken.objects.filter(pk=row.pk).values_list().get()
    assert not any(raw in str(value) for value in stored)


def test_each_login_issues_a_distinct_token(api, owner):
    first = api(None).post("/auth/token", {"email": owner.email, "password": factories.PASSWORD}).body["token"]
    second = api(None).post("/auth/token", {"email": owner.email, "password": factories.PASSWORD}).body["token"]
    assert first != second
    assert ApiToken.objects.filter(user=owner).count() == 2


@pytest.mark.parametrize("email,password", [
    ("owner@example.com", "wrong-password"),
    ("nobody@example.com", factories.PASSWORD),
])
def test_token_wrong_credentials_is_401(api, owner, email, password):
    reply = api(None).post("/auth/token", {"email": email, "password": password})
    assert_error(reply, 401)
    assert "token" not in reply.body
    assert not ApiToken.objects.exists()


def test_token_inactive_user_is_401(api, owner):
    User.objects.filter(pk=owner.pk).update(is_active=False)
    assert_error(api(None).post("/auth/token", {"email": owner.email, "password": factories.PASSWORD}), 401)


@pytest.fixture
def frozen_window(monkeypatch):
    """Pin the rate limiter's clock a few seconds into a window, so a minute boundary cannot reset it mid-test."""
    import time

    start = int(time.time()) // 60 * 60 + 5
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(time=lambda: float(start)))
    return start


def test_token_rate_limited_per_email(api, owner, editor, frozen_window):
    anon = api(None)
    for _ in range(10):
        assert_error(anon.post("/auth/token", {"email": owner.email, "password": "wrong-password"}), 401)
    # Over the limit even with the right password (and whatever the email's case).
    reply = anon.post("/auth/token", {"email": "OWNER@example.com", "password": factories.PASSWORD})
    assert_error(reply, 429)
    retry_after = int(reply.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert retry_after == 60 - 5
    assert not ApiToken.objects.filter(user=owner).exists()
    # Another account from the same address is not affected.
    assert anon.post("/auth/token", {"email": editor.email, "password": factories.PASSWORD}).status == 201


def test_token_rate_limited_per_ip(api, owner, frozen_window):
    anon = api(None)
    here = {"REMOTE_ADDR": "203.0.113.7"}
    for i in range(20):
        reply = anon.post("/auth/token", {"email": f"guess{i}@example.com", "password": "x"}, environ=here)
        assert_error(reply, 401)
    reply = anon.post("/auth/token", {"email": owner.email, "password": factories.PASSWORD}, environ=here)
    assert_error(reply, 429)
    assert int(reply.headers["Retry-After"]) >= 1
    # Another address is not affected.
    elsewhere = anon.post("/auth/token", {"email": owner.email, "password": factories.PASSWORD},
                          environ={"REMOTE_ADDR": "198.51.100.2"})
    assert elsewhere.status == 201, elsewhere


def test_register_rate_limited_per_ip(api, frozen_window):
    anon = api(None)
    for i in range(10):
        reply = anon.post("/auth/register", {"email": f"r{i}@example.com", "password": "a-long-passphrase"})
        assert reply.status == 201, reply
    reply = anon.post("/auth/register", {"email": "r10@example.com", "password": "a-long-passphrase"})
    assert_error(reply, 429)
    assert int(reply.headers["Retry-After"]) >= 1
    assert not User.objects.filter(email="r10@example.com").exists()


def test_revoke_token(api, owner):
    me = api(owner)
    assert me.get("/auth/me").status == 200  # also warms the token cache
    reply = me.delete("/auth/token")
    assert reply.status == 204, reply
    assert reply.raw.content == b""
    assert not ApiToken.objects.filter(user=owner).exists()
    assert_error(me.get("/auth/me"), 401)
    assert_error(me.post("/workspaces", {"name": "After revoke"}), 401)


def test_revoke_only_the_calling_token(api, owner):
    other = Caller(api(None).client, token_for(owner))
    assert api(owner).delete("/auth/token").status == 204
    assert other.get("/auth/me").status == 200


def test_revoke_with_a_session_is_a_clientassert_error(client, owner):
    client.force_login(owner)
    reply = client.delete(f"{API}/auth/token")
    assert 400 <= reply.status_code < 500
    assert reply.json()["code"]


def test_expired_token_is_401(api, owner):
    raw = token_for(owner)
    ApiToken.objects.filter(user=owner).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    caller = Caller(api(None).client, raw)
    assert_error(caller.get("/auth/me"), 401)
    assert_error(caller.post("/workspaces", {"name": "Expired"}), 401)


def test_token_expiring_while_cached_is_401(api, owner, monkeypatch):
    me = api(owner)
    assert me.get("/auth/me").status == 200  # cached now
    later = timezone.now() + datetime.timedelta(days=31)
    monkeypatch.setattr(tokens, "timezone", types.SimpleNamespace(now=lambda: later))
    assert_error(me.get("/auth/me"), 401)


def test_deactivated_user_token_is_401(api, owner):
    raw = token_for(owner)
    User.objects.filter(pk=owner.pk).update(is_active=False)
    assert_error(Caller(api(None).client, raw).get("/auth/me"), 401)


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Token abc", "Bearer " + "x" * 300, "Basic b3duZXI6cHc="])
def test_malformed_authorization_is_401(client, owner, header):
    reply = client.get(f"{API}/auth/me", headers={"Authorization": header})
    assert reply.status_code == 401
    assert reply.json()["code"]


def test_me(api, owner):
    reply = api(owner).get("/auth/me")
    assert reply.status == 200, reply
    assert reply.body == _user_body(owner)


def test_token_lookup_on_a_warm_cache_costs_no_query(owner, django_assert_num_queries):
    raw = token_for(owner)
    assert tokens.user_for_token(raw).pk == owner.pk  # warm-up: reads the token, caches it
    with django_assert_num_queries(0):
        user = tokens.user_for_token(raw)
    assert user.pk == owner.pk


def test_authenticated_request_on_a_warm_cache_costs_no_query(api, owner, django_assert_num_queries):
    me = api(owner)
    assert me.get("/auth/me").status == 200
    with django_assert_num_queries(0):
        reply = me.get("/auth/me")
    assert reply.status == 200
    assert reply.body["id"] == str(owner.pk)


# --- anonymous ------------------------------------------------------------------------------------------


def _concrete(path: str) -> str:
    return re.sub(r"\{[a-z_]+\}", lambda _: str(uuid.uuid4()), path)


PROTECTED = [endpoint for endpoint in ENDPOINTS if endpoint not in PUBLIC]


@pytest.mark.parametrize("csrf", [False, True], ids=["test-client", "enforced-csrf"])
@pytest.mark.parametrize("method,path", PROTECTED)
def test_anonymous_gets_401_everywhere(db, method, path, csrf):
    # With enforce_csrf_checks the client behaves like curl or a browser without a session:
    # an anonymous caller must learn it is unauthenticated, not that a CSRF token is missing.
    caller = Caller(Client(enforce_csrf_checks=csrf), None)
    reply = caller.request(method, _concrete(path), {})
    assert_error(reply, 401)


@pytest.mark.parametrize("method,path", PROTECTED)
def test_invalid_bearer_token_gets_401_everywhere(db, method, path):
    caller = Caller(Client(enforce_csrf_checks=True), "th_" + "A" * 43)
    reply = caller.request(method, _concrete(path), {})
    assert_error(reply, 401)


def test_anonymous_may_use_the_public_paths(db):
    anon = Caller(Client(enforce_csrf_checks=True), None)
    assert anon.get("/health").status == 200
    assert anon.post("/auth/register", {"email": "x@example.com", "password": "a-long-passphrase"}).status == 201
    assert anon.post("/auth/token", {"email": "x@example.com", "password": "a-long-passphrase"}).status == 201


# --- sessions and CSRF ------------------------------------------------------------------------------------


def test_session_login_reads(client, owner, project):
    client.force_login(owner)
    reply = client.get(f"{API}/auth/me")
    assert reply.status_code == 200
    assert reply.json() == _user_body(owner)
    assert client.get(f"{API}/projects/{project.pk}").status_code == 200


def test_session_write_needs_csrf(owner):
    from projects.models import Workspace

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    before = Workspace.objects.count()
    reply = browser.post(f"{API}/workspaces", {"name": "Forged"}, content_type="application/json")
    assert reply.status_code == 403
    assert reply.json()["code"]
    assert Workspace.objects.count() == before
    # A page of the site sets the CSRF cookie; the frontend echoes it in X-CSRFToken.
    assert browser.get(f"{API}/docs").status_code == 200
    csrf_token = browser.cookies["csrftoken"].value
    reply = browser.post(f"{API}/workspaces", {"name": "Real"}, content_type="application/json",
                         headers={"X-CSRFToken": csrf_token})
    assert reply.status_code == 201, reply.content
    assert reply.json()["name"] == "Real"
    assert Workspace.objects.count() == before + 1
    # A wrong token is still refused.
    reply = browser.post(f"{API}/workspaces", {"name": "Forged"}, content_type="application/json",
                         headers={"X-CSRFToken": "x" * 32})
    assert reply.status_code == 403


def test_bearer_requests_need_no_csrf(api, owner):
    caller = Caller(Client(enforce_csrf_checks=True), token_for(owner))
    reply = caller.post("/workspaces", {"name": "Via token"})
    assert reply.status == 201, reply


def test_logged_out_session_is_401(owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    browser.logout()
    reply = browser.post(f"{API}/workspaces", {"name": "Ghost"}, content_type="application/json")
    assert reply.status_code == 401


# --- request ids, health, docs ------------------------------------------------------------------------


def test_request_id_is_echoed(api, owner):
    reply = api(owner).get("/auth/me", headers={"X-Request-ID": "client-req.42:a_b"})
    assert reply.headers["X-Request-ID"] == "client-req.42:a_b"


@pytest.mark.parametrize("sent", [None, "", "has spaces", "x" * 129, "semi;colon", "new\u00e9"])
def test_request_id_is_generated_when_absent_or_unsafe(api, owner, sent):
    headers = {} if sent is None else {"X-Request-ID": sent}
    reply = api(owner).get("/auth/me", headers=headers)
    assert re.fullmatch(r"[0-9a-f]{32}", reply.headers["X-Request-ID"]), reply.headers
    again = api(owner).get("/auth/me", headers=headers)
    assert again.headers["X-Request-ID"] != reply.headers["X-Request-ID"]


def test_request_id_on_errors_too(api):
    reply = api(None).get("/auth/me", headers={"X-Request-ID": "err-1"})
    assert reply.status == 401
    assert reply.headers["X-Request-ID"] == "err-1"


def test_health(db, client):
    reply = client.get(f"{API}/health")
    assert reply.status_code == 200
    body = reply.json()
    assert set(body) == {"status", "database", "cache", "channel_layer"}
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["cache"] == "ok"  # the test cache (local memory or the test Redis) is up
    # The in-memory layer of the embedded default is always up; with REDIS_URL, the test Redis is.
    assert body["channel_layer"] == "ok"


def test_health_reports_a_cache_and_a_channel_layer_that_are_down(db, client, settings):
    """Both pointed at a port where nothing listens: reported down, and the answer is still 200."""
    with socket.socket() as s:  # a port that was free a moment ago; nothing listens on it
        s.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    dead_cache = {"default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": dead,
        "KEY_PREFIX": settings.CACHE_KEY_PREFIX,
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient", "IGNORE_EXCEPTIONS": True,
                    "SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    }}
    with override_settings(CACHES=dead_cache, REDIS_URL=dead, CHANNEL_REDIS_URLS=[dead]):
        reply = client.get(f"{API}/health")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "database": "ok", "cache": "down", "channel_layer": "down"}


@pytest.mark.skipif(not django_settings.REDIS_URL, reason="needs REDIS_URL (CI's PostgreSQL + Redis pass)")
def test_health_reports_the_channel_layer_down_when_one_of_its_shards_is(db, client):
    """With ``CHANNEL_REDIS_URLS`` listing two servers, the second one down is the layer down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    with override_settings(CHANNEL_REDIS_URLS=[django_settings.REDIS_URL, django_settings.REDIS_URL]):
        assert client.get(f"{API}/health").json()["channel_layer"] == "ok"
    with override_settings(CHANNEL_REDIS_URLS=[django_settings.REDIS_URL, dead]):
        reply = client.get(f"{API}/health")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "database": "ok", "cache": "ok", "channel_layer": "down"}


def test_health_503_when_the_database_is_down(db, client, monkeypatch):
    from django.db import connection

    def down(*args, **kwargs):
        raise OperationalError("database is down")

    monkeypatch.setattr(connection, "cursor", down)
    reply = client.get(f"{API}/health")
    assert reply.status_code == 503
    assert reply.json()["database"] == "down"
    assert reply.json()["status"] != "ok"


def test_docs_page(db, client):
    reply = client.get(f"{API}/docs")
    assert reply.status_code == 200
    assert reply["Content-Type"].startswith("text/html")
    assert b"openapi.json" in reply.content


def test_openapi_lists_every_documented_path(db, client):
    reply = client.get(f"{API}/openapi.json")
    assert reply.status_code == 200
    doc = reply.json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"]
    assert isinstance(doc["paths"], dict)

    def shape(path: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", path)

    published = {(method.upper(), shape(path)) for path, ops in doc["paths"].items() for method in ops
                 if method in {"get", "post", "put", "patch", "delete"}}
    expected = {(method, shape(API + path)) for method, path in ENDPOINTS}
    missing = expected - published
    assert not missing, sorted(missing)
    # Structurally sound: documented responses, unique operation ids, declared path
    # parameters, and every $ref resolving to a component.
    operation_ids = []
    for path, ops in doc["paths"].items():
        assert path.startswith(API + "/"), path
        for method, op in ops.items():
            assert op.get("responses"), (method, path)
            operation_ids.append(op["operationId"])
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"\{([^}]+)\}", path)), (method, path)
    assert len(operation_ids) == len(set(operation_ids))
    schemas = doc.get("components", {}).get("schemas", {})

    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    all_refs = set(refs(doc))
    assert all_refs
    for ref in all_refs:
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
