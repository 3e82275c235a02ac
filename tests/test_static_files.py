"""Static files are served by WhiteNoise in every setup, and each 404 is logged once.

- Development and tests (DEBUG on): straight from the apps' static folders, no collectstatic.
- Production (DEBUG off): what ``collectstatic`` wrote, under content-hashed names, compressed,
  with a ten-year ``immutable`` cache header, from the production WSGI server.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.live.servers import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_static_files_are_served_in_development(client):
    # No django_db mark: pytest-django refuses any query, so serving these touches no database.
    reply = client.get("/static/admin/css/base.css")
    assert reply.status_code == 200
    assert reply["Content-Type"].startswith("text/css")
    assert b"--secondary" in b"".join(reply.streaming_content)
    assert client.get("/static/ninja/swagger-ui-bundle.js").status_code == 200
    assert client.get("/favicon.ico")["Content-Type"] == "image/x-icon"


def _production_env(static_root: Path, sqlite: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), SECURE_SSL_REDIRECT="0", STATIC_ROOT=str(static_root),
               SQLITE_PATH=str(sqlite), TASKHUB_REQUEST_LOG="0", ALLOWED_HOSTS="127.0.0.1")
    return env


def _get(url: str, **headers) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, {k.lower(): v for k, v in reply.headers.items()}, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def test_production_serves_hashed_compressed_files_with_long_cache_headers(tmp_path):
    env = _production_env(tmp_path / "static", tmp_path / "db.sqlite3")
    collected = subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT,
                               env=env, capture_output=True, text=True, timeout=300)
    assert collected.returncode == 0, collected.stderr
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())["paths"]
    base_css = manifest["admin/css/base.css"]
    assert base_css != "admin/css/base.css"  # a content hash in the name
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "granian"), "--interface", "wsgi", "--host", "127.0.0.1",
         "--port", str(port), "--no-ws", "--log-level", "warning", "taskhub.wsgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _, _ = _get(f"{base}/favicon.ico")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "granian did not start"
                time.sleep(0.2)
        assert status == 200
        status, headers, body = _get(f"{base}/static/{base_css}", **{"Accept-Encoding": "gzip"})
        assert status == 200
        assert headers["content-type"].startswith("text/css")
        assert headers["content-encoding"] == "gzip"
        assert "immutable" in headers["cache-control"] and "max-age=315360000" in headers["cache-control"]
        # The docs page refers to the hashed names, and they are served.
        status, _, page = _get(f"{base}/api/v1/docs")
        assert status == 200
        bundle = manifest["ninja/swagger-ui-bundle.js"]
        assert f"/static/{bundle}".encode() in page
        assert _get(f"{base}/static/{bundle}")[0] == 200
        # The board client's modules import each other by their hashed names, so a page never
        # mixes an old module with a new one (taskhub.staticstorage).
        app_js = manifest["web/app.js"]
        assert app_js != "web/app.js"
        status, headers, body = _get(f"{base}/static/{app_js}")
        assert status == 200 and "immutable" in headers["cache-control"]
        api_js = manifest["web/api.js"].removeprefix("web/")
        assert f'from "./{api_js}"'.encode() in body
        assert b'from "./api.js"' not in body
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_404_is_logged_once():
    code = ("from django.test import Client; Client().get('/no-such-page/'); "
            "Client().get('/api/v1/no-such-endpoint')")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "taskhub.settings", "TASKHUB_REQUEST_LOG": "0"}
    result = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Not Found: /no-such-page/") == 1, result.stderr
    assert result.stderr.count("Not Found: /api/v1/no-such-endpoint") == 1, result.stderr

