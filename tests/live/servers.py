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
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

# make prod needs nginx (Debian's package): without it the tests that run it are skipped, except
# in CI (CI=true, set by .ci/run, which installs it), where they fail instead.
HAS_NGINX = bool(shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin"))
needs_nginx = pytest.mark.skipif(not HAS_NGINX and os.environ.get("CI") != "true",
                                 reason="needs nginx for make prod (apt-get install nginx)")

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

    ``kind`` is ``"daphne"`` or ``"uvicorn"`` (HTTP and WebSockets, ASGI, with
    the psycopg pool; uvicorn is production's WebSocket server) or
    ``"gunicorn"`` (a production WSGI server for the REST API). ``env`` is
    applied last, so it may point the server elsewhere (``DATABASE_URL``).
    """

    kind: str = "daphne"
    port: int = field(default_factory=free_port)
    redis_url: str | None = None
    env: dict = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    # gunicorn only: worker processes and threads per worker (threads > 1 selects gthread).
    workers: int = 2
    threads: int = 1
    # Where the server's stderr (its log) goes; unset, a fresh temporary file. Never a pipe:
    # nobody drains it, and once it is full the server blocks on its next log line.
    log_path: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> Server:
        self.spawn()
        self.wait_ready(timeout)
        return self

    def spawn(self) -> Server:
        """Start the process and return at once (``wait_ready`` waits for it to answer)."""
        redis_url = settings.REDIS_URL if self.redis_url is None else self.redis_url
        env = dict(
            os.environ,
            DATABASE_URL=server_database_url(),
            REDIS_URL=redis_url,
            CACHE_KEY_PREFIX=settings.CACHE_KEY_PREFIX,
            DEBUG="1",
            TASKHUB_REQUEST_LOG="0",
        )
        env.update(self.env)  # the test's own values win (a DATABASE_URL through a relay, say)
        if self.kind == "daphne":
            env["DB_POOL"] = "1"
            cmd = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
                   "taskhub.asgi:application"]
        elif self.kind == "uvicorn":  # one process, as each of production's WebSocket workers is
            env["DB_POOL"] = "1"
            cmd = [sys.executable, "-m", "uvicorn", "taskhub.asgi:application", "--host", "127.0.0.1",
                   "--port", str(self.port), "--no-access-log", "--lifespan", "off"]
        elif self.kind == "gunicorn":
            cmd = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{self.port}", "-w", str(self.workers),
                   "--threads", str(self.threads), "taskhub.wsgi:application"]
        else:
            raise ValueError(self.kind)
        if self.log_path is None:
            self.log_path = Path(tempfile.mkdtemp(prefix="taskhub-live-")) / f"{self.kind}-{self.port}.log"
        with open(self.log_path, "ab") as stderr:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.kind} on {self.port} exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base}/api/v1/health", timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # it answers; a 503 only says a dependency is down
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"{self.kind} on {self.port} did not start within {timeout} s")

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's stderr (its log file)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_bytes().decode(errors="replace")[-chars:]

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


# --- helpers for the fault-injection tests (tests/live/test_fault_*.py) --------------------------


def wait_until(predicate, timeout: float = 15, interval: float = 0.05, what: str = "the condition"):
    """Poll ``predicate`` until it returns something truthy, and return that; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def fetch_text(server: Server, path: str, timeout: float = 10) -> Response:
    """``GET`` a path at the site root (``/metrics``), the body as text; never raises on an HTTP error."""
    try:
        with urllib.request.urlopen(f"{server.base}{path}", timeout=timeout) as r:
            return Response(r.status, r.read().decode(), dict(r.headers))
    except urllib.error.HTTPError as e:
        return Response(e.code, e.read().decode(errors="replace"), dict(e.headers))


def metric_value(text: str, name: str) -> float:
    """The sum of an unlabelled Prometheus sample's values (0 when absent)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(f"{name} "))


@contextmanager
def board_subscribe(server: Server, token: str, project_id, since: int | None = None, timeout: float = 10):
    """A socket on ``server``, subscribed to the project from ``since``; closed on leaving the block.

    Yields ``(socket, replayed, subscribed)``: the events replayed before the
    ``subscribed`` frame (those after ``since``), and that frame.
    """
    from websockets.sync.client import connect

    ticket = server.call("POST", "/realtime/ticket", token)
    assert ticket.status == 201, ticket
    with connect(server.ws_url(ticket.body["ticket"]), origin=server.base, open_timeout=timeout) as ws:
        ws.send(json.dumps({"type": "subscribe", "project_id": str(project_id), "since": since}))
        replayed = []
        while True:
            frame = json.loads(ws.recv(timeout=timeout))
            if frame["type"] == "subscribed":
                break
            assert "seq" in frame, f"unexpected frame while subscribing: {frame}"
            replayed.append(frame)
        yield ws, replayed, frame


def events_until(ws, seq: int, timeout: float = 10) -> list[dict]:
    """Read event frames until one with ``seq`` at or beyond ``seq`` has arrived; returns them (not heartbeats)."""
    frames: list[dict] = []
    deadline = time.monotonic() + timeout
    while not frames or frames[-1]["seq"] < seq:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"waited {timeout} s for seq {seq}; got {[f['seq'] for f in frames]}")
        try:
            frame = json.loads(ws.recv(timeout=remaining))
        except TimeoutError:
            continue  # the loop's deadline check reports it
        if "seq" in frame and frame["type"] != "heartbeat":
            frames.append(frame)
    return frames


# --- the production set: `make prod` (deploy/prod.py) ---------------------------------------------


def static_cache_dir() -> Path:
    """A STATIC_ROOT kept between test runs of this checkout: collectstatic (about 30 s) runs once."""
    import hashlib

    return Path(tempfile.gettempdir()) / f"taskhub-static-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]}"


@dataclass
class ProdSet:
    """``make prod`` on a free port: nginx, granian and uvicorn with production settings (DEBUG off).

    Started in a session of its own, as a terminal runs a foreground job, so
    ``interrupt()`` is exactly Ctrl-C: SIGINT to the whole process group.
    """

    port: int = field(default_factory=free_port)
    env: dict = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 240) -> ProdSet:
        env = dict(
            os.environ,
            DATABASE_URL=server_database_url(),
            REDIS_URL=settings.REDIS_URL,
            CACHE_KEY_PREFIX=settings.CACHE_KEY_PREFIX,
            PORT=str(self.port),
            STATIC_ROOT=str(static_cache_dir()),
        )
        env.update(self.env)
        if self.log_path is None:
            self.log_path = Path(tempfile.mkdtemp(prefix="taskhub-live-")) / f"prod-{self.port}.log"
        # -o: take the virtual environment as installed (the suite runs in it), never reinstall it here.
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(["make", "--no-print-directory", "-o", ".venv/.installed", "prod"], cwd=ROOT,
                                         env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while "prod: TaskHub is serving on" not in self.log_tail(100_000):
            if self.proc.poll() is not None:
                raise AssertionError(f"make prod exited ({self.proc.returncode}): {self.log_tail()}")
            if time.monotonic() > deadline:
                self.interrupt()
                raise AssertionError(f"make prod did not start within {timeout} s: {self.log_tail()}")
            time.sleep(0.3)
        return self

    def log_tail(self, chars: int = 4000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_bytes().decode(errors="replace")[-chars:]

    def interrupt(self, timeout: float = 30) -> int:
        """Ctrl-C: SIGINT to the process group; waits for make to exit and returns its status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            raise AssertionError(f"make prod did not stop within {timeout} s of SIGINT: {self.log_tail()}") from None

    def stop(self) -> None:
        self.interrupt()

    def call(self, method: str, path: str, token: str | None = None, body=None, headers: dict | None = None,
             timeout: float = 15) -> Response:
        return Server.call(self, method, path, token, body, headers, timeout)  # the same request, at this base

    def ws_url(self, ticket: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/?ticket={ticket}"


# --- PostgreSQL that goes away: a TCP relay the test can cut ---------------------------------------


class TcpRelay:
    """127.0.0.1:``port`` relayed to ``target``; ``cut()`` makes the target unreachable, ``restore()`` brings it back.

    Cutting closes every relayed connection and the listening socket, so the
    server behind it sees what a stopped database looks like: its connections
    drop, and new ones are refused. Other users of the target are untouched.
    """

    def __init__(self, target: tuple[str, int]):
        import threading

        self.target = target
        self.port = free_port()
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None

    def start(self) -> TcpRelay:
        import threading

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        import threading

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self.listener is not None:
            with suppress(OSError):  # (close alone would not wake the thread blocked in accept)
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            self.listener = None
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for end in sockets:
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def restore(self) -> None:
        self.start()

    def stop(self) -> None:
        self.cut()
