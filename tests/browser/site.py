"""The app as ``make run`` serves it, in a process of its own, for the browser tests.

``Site.start()`` does what the Makefile's ``run`` target does (migrate, seed the
demo data, serve HTTP and WebSockets with daphne), on a database of its own:
a fresh SQLite file on the embedded default, a fresh PostgreSQL database when
the test run has ``DATABASE_URL`` (with the run's Redis, under a key prefix of
its own). ``stop()`` ends the server and drops that database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import dj_database_url
from django.conf import settings

from tests.live.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
DEMO_EMAIL = "demo@taskhub.local"
DEMO_PASSWORD = "taskhub-demo-2026"


class Site:
    def __init__(self, extra_env: dict | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.folder = Path(tempfile.mkdtemp(prefix="taskhub-site-"))
        self.log_path = self.folder / "daphne.log"
        self.proc: subprocess.Popen | None = None
        self.pg_name: str | None = None
        self.env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SQLITE_PATH")}
        self.env.update(DEBUG="1", TASKHUB_REQUEST_LOG="0", CACHE_KEY_PREFIX=f"site-{uuid.uuid4().hex[:8]}")
        if settings.DATABASE_URL:
            self.pg_name = f"taskhub_site_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            db = dj_database_url.parse(settings.DATABASE_URL)
            self.pg = db
            self.env["DATABASE_URL"] = (f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
                                        f"{db['PORT'] or 5432}/{self.pg_name}")
        else:
            self.env["SQLITE_PATH"] = str(self.folder / "db.sqlite3")
        if settings.REDIS_URL:
            self.env["REDIS_URL"] = settings.REDIS_URL
        self.env.update(extra_env or {})

    def _admin_sql(self, statement: str) -> None:
        import psycopg

        db = self.pg
        with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(statement)

    def manage(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                                text=True, timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def start(self, timeout: float = 60) -> Site:
        if self.pg_name:
            self._admin_sql(f'CREATE DATABASE "{self.pg_name}"')
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("seed_demo")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "taskhub.asgi:application"],
                cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=log,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"daphne exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base}/api/v1/health", timeout=2):
                    return self
            except urllib.error.HTTPError:
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"daphne did not start: {self.log_tail()}") from None
                time.sleep(0.2)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.pg_name:
            self._admin_sql(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            self.pg_name = None
