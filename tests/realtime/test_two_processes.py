"""Scale-out: a write served by one daphne process reaches a socket held by another.

Runs on PostgreSQL + Redis only (the second pass of CI): with the embedded
default each process has its own in-memory channel layer, by design.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from accounts.services import token_create
from tests import factories

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not (settings.REDIS_URL and settings.DATABASE_URL),
                       reason="needs DATABASE_URL and REDIS_URL (CI's PostgreSQL + Redis pass)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_daphne(port: int) -> subprocess.Popen:
    db = connection.settings_dict
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        CACHE_KEY_PREFIX=settings.CACHE_KEY_PREFIX,
        DB_POOL="1",
        DEBUG="1",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "taskhub.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"daphne on {port} exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"daphne on {port} did not start")


def call(port: int, method: str, path: str, token: str, body=None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read() or b"null")


def test_a_write_on_one_process_reaches_a_socket_on_another(project, owner):
    from websockets.sync.client import connect

    raw, _ = token_create(email=owner.email, password=factories.PASSWORD)
    ports = [free_port(), free_port()]
    procs = [start_daphne(port) for port in ports]
    try:
        for port, proc in zip(ports, procs, strict=True):
            wait_ready(port, proc)
        ticket = call(ports[0], "POST", "/realtime/ticket", raw)["ticket"]
        origin = f"http://127.0.0.1:{ports[0]}"
        with connect(f"ws://127.0.0.1:{ports[0]}/ws/?ticket={ticket}", origin=origin, open_timeout=10) as ws:
            ws.send(json.dumps({"type": "subscribe", "project_id": str(project.pk), "since": None}))
            subscribed = json.loads(ws.recv(timeout=10))
            assert subscribed["type"] == "subscribed"
            keys = [call(ports[1], "POST", f"/projects/{project.pk}/tasks", raw, {"title": f"t{i}"})["key"]
                    for i in range(5)]
            frames = [json.loads(ws.recv(timeout=10)) for _ in range(10)]
        seqs = [f["seq"] for f in frames]
        assert seqs == list(range(subscribed["seq"] + 1, subscribed["seq"] + 11))
        created = [f["data"]["task"]["key"] for f in frames if f["type"] == "task_created"]
        assert created == keys
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
