"""Login rate limits hold across server processes: the counters live in the shared cache (Redis).

Wrong passwords for one email, alternating between two processes (gunicorn and
daphne), reach the per-email limit at the configured count of attempts over
both combined; a limit kept per process would let twice as many through.
"""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from accounts.api import TOKEN_PER_EMAIL, TOKEN_PER_IP
from accounts.models import User
from tests import factories
from tests.live.servers import Response, Server, needs_pg_redis

pytestmark = [pytest.mark.django_db(transaction=True), needs_pg_redis]

# The servers count in hour-long windows (TASKHUB_RATE_WINDOW): the test's attempts then never
# straddle two windows, however slow a loaded machine makes them.
WINDOW = 3600


def retry_after(response: Response) -> int | None:
    value = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
    return None if value is None else int(value)


def use_server_hasher(*users: User) -> None:
    """Hash the password with a hasher the servers accept (tests swap in MD5, which they do not know)."""
    hasher = PBKDF2PasswordHasher()
    for user in users:
        User.objects.filter(pk=user.pk).update(password=hasher.encode(factories.PASSWORD, hasher.salt()))


def wait_for_fresh_window(needed: float) -> None:
    """The limit is a fixed window: start early enough in one that the attempts all fall inside it."""
    left = WINDOW - time.time() % WINDOW
    if left < needed:
        time.sleep(left + 0.5)


def test_login_rate_limit_holds_across_two_processes(owner, editor, servers, tmp_path):
    # One IP (127.0.0.1) for every attempt: the per-IP limit must not be what stops them here.
    assert TOKEN_PER_EMAIL + 6 <= TOKEN_PER_IP
    use_server_hasher(owner, editor)
    env = {"TASKHUB_RATE_WINDOW": str(WINDOW)}
    processes = (servers(Server(kind="gunicorn", workers=1, env=env, log_path=tmp_path / "gunicorn.log")),
                 servers(Server(kind="daphne", env=env, log_path=tmp_path / "daphne.log")))
    right = {"email": owner.email, "password": factories.PASSWORD}
    wrong = {"email": owner.email, "password": "not-the-password"}
    wait_for_fresh_window(needed=20)
    window_end = time.time() // WINDOW * WINDOW + WINDOW

    # The right password works (the hash is one the servers check); it counts as an attempt too.
    first = processes[0].call("POST", "/auth/token", body=right)
    assert first.status == 201, first
    answers = [first.status]
    for attempt in range(1, TOKEN_PER_EMAIL):
        answers.append(processes[attempt % 2].call("POST", "/auth/token", body=wrong).status)
    assert answers == [201] + [401] * (TOKEN_PER_EMAIL - 1)

    # The limit is spent over both processes together: from now on each of them refuses, with Retry-After,
    # wrong and right passwords alike.
    asked_at = time.time()
    refused = [processes[n % 2].call("POST", "/auth/token", body=body)
               for n, body in enumerate([wrong, wrong, right, right])]
    assert time.time() < window_end, "the window turned during the test"
    print(f"\nlogin attempts for one email over two processes: {answers + [r.status for r in refused]}, "
          f"Retry-After {[retry_after(r) for r in refused]}")
    for response in refused:
        assert response.status == 429, response
        assert response.body["code"] == "rate_limited"
        # At most the rest of the window as of when the requests were sent.
        assert 1 <= retry_after(response) <= int(window_end - asked_at) + 1

    # Per email, not per client: another account from the same address still signs in.
    other = processes[1].call("POST", "/auth/token", body={"email": editor.email, "password": factories.PASSWORD})
    assert other.status == 201, other
