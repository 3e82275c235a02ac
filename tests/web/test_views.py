"""The browser client's views (web/): session login and logout, sign-up, the page shell.

They hold no domain data (the page's modules read it through the API, see
tests/browser/test_board.py); what they decide is who gets the page, what the login form
shows, and that the page gets what its modules need (the CSRF cookie, the static files).
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client

from tasks.management.commands.seed_demo import DEMO_EMAIL, DEMO_PASSWORD
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_shell_needs_a_login_and_sends_anonymous_visitors_to_it(client):
    for path in ("/", f"/p/{uuid.uuid4()}/", f"/p/{uuid.uuid4()}/t/{uuid.uuid4()}/"):
        reply = client.get(path)
        assert reply.status_code == 302
        assert reply["Location"] == f"/login/?next={path}"


def test_the_shell_serves_the_modules_and_sets_the_csrf_cookie(client, owner, django_assert_num_queries):
    client.force_login(owner)
    # The session and its user: the page itself reads nothing else.
    with django_assert_num_queries(2):
        reply = client.get(f"/p/{uuid.uuid4()}/")
    assert reply.status_code == 200
    html = reply.content.decode()
    assert '<script type="module" src="/static/web/app.js"' in html
    assert "csrftoken" in reply.cookies
    assert 'action="/logout/"' in html


def test_unknown_addresses_under_the_client_are_plain_404s(client, owner):
    client.force_login(owner)
    assert client.get("/p/not-a-uuid/").status_code == 404
    assert client.get("/nothing-here/").status_code == 404


def test_every_module_the_page_imports_is_served(client):
    served = {}
    pending = ["web/app.js", "web/register.js"]
    while pending:
        name = pending.pop()
        if name in served:
            continue
        reply = client.get(f"/static/{name}")
        assert reply.status_code == 200, name
        assert reply["Content-Type"].startswith("text/javascript") or reply["Content-Type"].startswith(
            "application/javascript"), reply["Content-Type"]
        text = b"".join(reply.streaming_content).decode()
        served[name] = text
        # Relative imports only: nothing fetched from elsewhere.
        for target in re.findall(r'^import .* from "([^"]+)";$', text, flags=re.MULTILINE):
            assert target.startswith("./"), f"{name} imports {target}"
            pending.append("web/" + target[2:])
    assert set(served) >= {"web/app.js", "web/api.js", "web/live.js", "web/board.js", "web/panel.js", "web/bell.js",
                           "web/home.js", "web/dom.js", "web/register.js"}
    assert client.get("/static/web/app.css").status_code == 200


def test_login_prefills_the_demo_account_on_the_embedded_default_only(client, settings):
    settings.DEBUG, settings.DATABASE_URL, settings.REDIS_URL = True, "", ""
    page = client.get("/login/").content.decode()
    assert f'value="{DEMO_EMAIL}"' in page
    assert f'value="{DEMO_PASSWORD}"' in page
    settings.DATABASE_URL = "postgres://somewhere/taskhub"
    page = client.get("/login/").content.decode()
    assert DEMO_EMAIL not in page
    assert DEMO_PASSWORD not in page
    settings.DATABASE_URL, settings.REDIS_URL = "", "redis://somewhere/0"
    assert DEMO_PASSWORD not in client.get("/login/").content.decode()
    settings.DEBUG, settings.REDIS_URL = False, ""
    assert DEMO_PASSWORD not in client.get("/login/").content.decode()


def test_login_with_email_and_password_then_logout(owner):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/login/")
    token = page.cookies["csrftoken"].value
    wrong = browser.post("/login/", {"username": owner.email, "password": "wrong", "csrfmiddlewaretoken": token})
    assert wrong.status_code == 200
    assert "do not match" in wrong.content.decode()
    reply = browser.post("/login/", {"username": owner.email, "password": factories.PASSWORD,
                                     "csrfmiddlewaretoken": token})
    assert reply.status_code == 302 and reply["Location"] == "/"
    assert browser.get("/").status_code == 200
    # The API takes the same session.
    assert browser.get("/api/v1/auth/me").json()["email"] == owner.email
    # A logged-in visitor of the login page goes to the board client.
    assert browser.get("/login/")["Location"] == "/"
    token = browser.cookies["csrftoken"].value
    assert browser.post("/logout/", {"csrfmiddlewaretoken": token})["Location"] == "/login/"
    assert browser.get("/").status_code == 302
    assert browser.get("/api/v1/auth/me").status_code == 401


def test_login_without_the_csrf_token_is_refused(owner):
    browser = Client(enforce_csrf_checks=True)
    browser.get("/login/")
    reply = browser.post("/login/", {"username": owner.email, "password": factories.PASSWORD})
    assert reply.status_code == 403
    assert browser.get("/").status_code == 302


def test_register_page_follows_the_open_signup_setting(client, settings, owner):
    settings.TASKHUB_OPEN_SIGNUP = True
    assert client.get("/register/").status_code == 200
    assert 'href="/register/"' in client.get("/login/").content.decode()
    settings.TASKHUB_OPEN_SIGNUP = False
    assert client.get("/register/").status_code == 404
    assert 'href="/register/"' not in client.get("/login/").content.decode()
    settings.TASKHUB_OPEN_SIGNUP = True
    client.force_login(owner)
    assert client.get("/register/")["Location"] == "/"


def test_failed_logins_are_limited_and_good_ones_are_not(owner, editor):
    from web.views import FAILED_LOGINS_PER_EMAIL

    browser = Client()

    def log_in(user, password):
        return browser.post("/login/", {"username": user.email, "password": password})

    for _ in range(FAILED_LOGINS_PER_EMAIL + 3):  # right ones never count
        assert log_in(editor, factories.PASSWORD).status_code == 302
        browser.post("/logout/")
    for _ in range(FAILED_LOGINS_PER_EMAIL):
        assert log_in(owner, "wrong").status_code == 200
    held = log_in(owner, factories.PASSWORD)  # even the right password, now: the guesser is held up
    assert held.status_code == 429 and int(held["Retry-After"]) >= 1
    assert "Too many failed logins" in held.content.decode()
    assert "_auth_user_id" not in browser.session
    assert log_in(editor, factories.PASSWORD).status_code == 302  # another email from the same address
