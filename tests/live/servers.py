"""Real server processes for tests that go through the network, as production does.

A test marked ``django_db(transaction=True)`` commits its fixtures to the test
database; the servers started here connect to that same database (and to the
test run's Redis, or to one the test started itself), so what the test wrote
is what they serve. Stop every server before the test ends: the database is
flushed at teardown, and a server still holding connections would block it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

needs_pg_redis = pytest.mark.skipif(
    not (settings.REDIS_URL and settings.DATABASE_URL),
    reason="needs DATABASE_URL and REDIS_URL (CI's PostgreSQL + Redis pass)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class Response:
    status: int
    body: object
    headers: dict = field(default_factory=dict)


@dataclass
class Server:
    """One server process on 127.0.0.1.

    ``kind`` is ``"daphne"`` (HTTP and WebSockets, ASGI, with the psycopg pool)
    or ``"gunicorn"`` (the production WSGI server for the REST API).
    """

    kind: str = "daphne"
    port: int = field(default_factory=free_port)
    redis_url: str | None = None
    env: dict = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> Server:
        redis_url = settings.REDIS_URL if self.redis_url is None else self.redis_url
        env = dict(
            os.environ,
            DATABASE_URL=server_database_url(),
            REDIS_URL=redis_url,
            CACHE_KEY_PREFIX=settings.CACHE_KEY_PREFIX,
            DEBUG="1",
            TASKHUB_REQUEST_LOG="0",
            **self.env,
        )
        if self.kind == "daphne":
            env["DB_POOL"] = "1"
            cmd = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
                   "taskhub.asgi:application"]
        elif self.kind == "gunicorn":
            cmd = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{self.port}", "-w", "2",
                   "--threads", "1", "taskhub.wsgi:application"]
        else:
            raise ValueError(self.kind)
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.kind} on {self.port} exited: "
                                     f"{self.proc.stderr.read().decode()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.base}/api/v1/health", timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # it answers; a 503 only says a dependency is down
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"{self.kind} on {self.port} did not start within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL: the process dies holding whatever it held."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def call(self, method: str, path: str, token: str | None = None, body=None,
             headers: dict | None = None, timeout: float = 15) -> Response:
        """One request to ``/api/v1{path}``; never raises on an HTTP error status."""
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        request = urllib.request.Request(f"{self.base}/api/v1{path}", method=method, data=data,
                                         headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                raw, status, got = r.read(), r.status, dict(r.headers)
        except urllib.error.HTTPError as e:
            raw, status, got = e.read(), e.code, dict(e.headers)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw
        return Response(status, parsed, got)

    def ws_url(self, ticket: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/?ticket={ticket}"
