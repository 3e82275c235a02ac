"""Production settings: ``check --deploy`` is clean, and a missing SECRET_KEY is refused."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    full_env.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=120)


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", DEBUG="0",
                    SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = manage("check", DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_settings_secure_the_cookies_and_transport():
    code = ("from django.conf import settings as s; "
            "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0, s.DEBUG)")
    result = subprocess.run([sys.executable, "-c", f"import django, os; django.setup(); {code}"], cwd=ROOT,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "taskhub.settings", "DEBUG": "0",
                                 "SECRET_KEY": secrets.token_urlsafe(50)},
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["True", "True", "True", "False"], result.stderr
