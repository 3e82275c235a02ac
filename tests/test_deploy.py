"""Production settings: ``check --deploy`` is clean, and a missing SECRET_KEY is refused."""

import os
import re
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


# --- make prod (deploy/prod.py): its environment and nginx configuration ----------------------------


def test_make_prod_needs_postgresql_and_redis():
    import pytest

    from deploy.prod import production_env

    with pytest.raises(SystemExit, match="DATABASE_URL and REDIS_URL"):
        production_env({})
    with pytest.raises(SystemExit, match="needs REDIS_URL"):
        production_env({"DATABASE_URL": "postgres://x@127.0.0.1/db"})


def test_make_prod_runs_production_settings_and_always_trusts_its_nginx():
    from deploy.prod import PROXY_ADDRESS, WEB_THREADS, WEB_WORKERS, WS_WORKERS, production_env

    base = {"DATABASE_URL": "postgres://x@127.0.0.1/db", "REDIS_URL": "redis://127.0.0.1:6379/0"}
    env = production_env(base)
    assert env["DEBUG"] == "0" and len(env["SECRET_KEY"]) >= 50 and env["SECURE_SSL_REDIRECT"] == "0"
    assert env["TASKHUB_TRUSTED_PROXIES"] == PROXY_ADDRESS == "127.0.0.2"
    assert (env["TASKHUB_WEB_WORKERS"], env["TASKHUB_WEB_THREADS"], env["TASKHUB_WS_WORKERS"]) == (
        str(WEB_WORKERS), str(WEB_THREADS), str(WS_WORKERS))
    named = production_env({**base, "TASKHUB_TRUSTED_PROXIES": "10.0.0.0/8", "SECRET_KEY": "k" * 50,
                            "TASKHUB_WEB_WORKERS": "3"})
    assert named["TASKHUB_TRUSTED_PROXIES"] == "127.0.0.2, 10.0.0.0/8"
    assert named["SECRET_KEY"] == "k" * 50 and named["TASKHUB_WEB_WORKERS"] == "3"


def test_the_nginx_configuration_is_complete_and_nginx_accepts_it(tmp_path):
    import shutil

    import pytest

    from deploy.prod import render_nginx_conf

    text = render_nginx_conf(listen="127.0.0.1:8123", run_dir=tmp_path, static_root=tmp_path / "static",
                             wsgi=["127.0.0.1:9001", "127.0.0.1:9002"], asgi=["127.0.0.1:9003"], nofile=4096)
    assert not re.search(r"@[A-Z_]+@", text)  # every field filled in
    assert "listen 127.0.0.1:8123;" in text and "proxy_bind 127.0.0.2;" in text
    assert "server 127.0.0.1:9001;\n        server 127.0.0.1:9002;" in text and "server 127.0.0.1:9003;" in text
    assert f"alias {tmp_path / 'static'}/;" in text
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if nginx is None:
        if os.environ.get("CI") == "true":
            raise AssertionError("CI installs nginx (.ci/run)")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    (tmp_path / "nginx.conf").write_text(text)
    checked = subprocess.run([nginx, "-t", "-q", "-e", "stderr", "-p", str(tmp_path), "-c",
                              str(tmp_path / "nginx.conf")], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
