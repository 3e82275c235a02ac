"""The board client in headless Chromium: time to show 1 000 cards, and how soon a remote change moves a card.

``make bench-browser`` (PostgreSQL, Redis, nginx and Debian's chromium on this machine). The
server is the production set as ``make prod`` starts it (``deploy/prod.py``: nginx on one port in
front of granian for HTTP and uvicorn for ``/ws/``, DEBUG off, collected static files with hashed
names, PostgreSQL and Redis). Chromium and the writer are other processes.

1. **Show 1 000 cards.** A project of five columns with 200 cards each; the page is opened at
   ``/p/<id>/?per_column=200`` and the time from navigation start to the frame after the
   1 000th card is in the document is read in the page (``performance.now()``). Fresh page
   each run; median, min and max of ``--loads`` runs.
2. **Remote move.** Another user moves a card between two columns through the REST API, from
   this script's process; the time from the move's response (read here) to the frame after the
   card is in its new column on the watching page (read there with ``Date.now()``; same clock).
   p50 and p95 over ``--moves`` moves, one at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import PY, psql, server_env  # noqa: E402

CHROMIUM = os.environ.get("TASKHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "bench-browser-2026"

SEED = """
from accounts.models import User
from projects import services as ps
from projects.models import Status
from tasks import services as ts
import json
a = User.objects.create_user("watcher@bench.local", {password!r}, display_name="Watcher")
b = User.objects.create_user("mover@bench.local", {password!r}, display_name="Mover")
ws = ps.workspace_create(user=a, name="Browser bench")
ps.workspace_member_add(workspace_id=ws.pk, actor=a, email=b.email, role="editor")
p = ps.project_create(workspace_id=ws.pk, user=a, name="A thousand cards", key="KB")
ps.project_member_add(project_id=p.pk, actor=a, user_id=b.pk, role="member")
columns = list(Status.objects.filter(project=p).order_by("position"))
for n in range({cards}):
    ts.task_create(project_id=p.pk, user=a, title=f"Card number {{n + 1}} of the benchmark board",
                   status_id=columns[n % len(columns)].pk, priority=("low", "medium", "high")[n % 3],
                   assignee_id=(a.pk, b.pk, None)[n % 3])
print(json.dumps({{"project": str(p.pk), "columns": [str(c.pk) for c in columns]}}))
"""

# In the page from its first script on: resolves with the time of the frame after `count` cards are there.
SHOWN = """
window.__shown = new Promise((resolve) => {
  const look = () => {
    if (document.querySelectorAll(".card").length >= %d) {
      requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now())));
    } else {
      requestAnimationFrame(look);
    }
  };
  requestAnimationFrame(look);
});
"""

WATCH = """([id, column]) => {
  window.__moved = new Promise((resolve) => {
    const there = () => document.querySelector(`section.column[data-column="${column}"] .card[data-id="${id}"]`);
    const done = () => requestAnimationFrame(() => requestAnimationFrame(() => resolve(Date.now())));
    if (there()) { done(); return; }
    const observer = new MutationObserver(() => { if (there()) { observer.disconnect(); done(); } });
    observer.observe(document.getElementById("view"), { childList: true, subtree: true });
  });
}"""


class ProductionSet:
    """``deploy/prod.py`` on a free port, in a process group of its own; ``stop()`` ends it all."""

    def __init__(self, args, static_root: str):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.log = Path(tempfile.mkdtemp(prefix="taskhub-bench-")) / "prod.log"
        env = {**os.environ, "DATABASE_URL": args.database_url, "REDIS_URL": args.redis_url, "HOST": "127.0.0.1",
               "PORT": str(port), "STATIC_ROOT": static_root, "TASKHUB_REQUEST_LOG": "0", "LOG_LEVEL": "WARNING",
               "CACHE_KEY_PREFIX": "bench-browser"}
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen([PY, "deploy/prod.py"], cwd=ROOT, env=env, stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"deploy/prod.py exited: {self.log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/api/v1/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit("deploy/prod.py did not start")
            time.sleep(0.3)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


def api(base: str, method: str, path: str, body: dict | None = None, token: str | None = None):
    request = urllib.request.Request(f"{base}/api/v1{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read() or b"null")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/taskhub_browser_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/4")
    parser.add_argument("--cards", type=int, default=1000)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--moves", type=int, default=100)
    args = parser.parse_args()

    static_root = tempfile.mkdtemp(prefix="taskhub-static-")
    db = args.database_url.rsplit("/", 1)[1]
    psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    psql(f"CREATE DATABASE {db}")
    env = server_env(args, tempfile.mkdtemp(), pool=False)
    subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    seeded = subprocess.run([PY, "manage.py", "shell", "-c", SEED.format(password=PASSWORD, cards=args.cards)],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    if seeded.returncode:
        raise SystemExit(f"seeding failed: {seeded.stderr[-3000:]}")
    seed = json.loads(seeded.stdout.strip().splitlines()[-1])
    psql("VACUUM ANALYZE", db)

    server = ProductionSet(args, static_root)
    from playwright.sync_api import sync_playwright

    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        mover = api(server.url, "POST", "/auth/token", {"email": "mover@bench.local", "password": PASSWORD})["token"]
        per_column = -(-args.cards // len(seed["columns"]))
        board_url = f"{server.url}/p/{seed['project']}/?per_column={per_column}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server.url}/login/")
            page.fill("#id_username", "watcher@bench.local")
            page.fill("#id_password", PASSWORD)
            page.click("#login-form button[type=submit]")
            page.wait_for_url(f"{server.url}/")
            page.wait_for_selector("body[data-ready]")
            context.add_init_script(SHOWN % args.cards)

            shown = []
            for _ in range(args.loads + 1):  # the first load warms the server's caches and plans
                page.goto(board_url)
                shown.append(page.evaluate("window.__shown"))
                page.wait_for_selector("#live-state[data-state=live]")
            shown = shown[1:]

            card = api(server.url, "GET", f"/projects/{seed['project']}/tasks?status={seed['columns'][0]}&limit=1",
                       token=mover)["items"][0]["id"]
            delays = []
            for n in range(args.moves + 5):
                target = seed["columns"][1] if n % 2 == 0 else seed["columns"][0]
                page.evaluate(WATCH, [card, target])
                api(server.url, "POST", f"/tasks/{card}/move", {"status_id": target}, token=mover)
                answered = time.time() * 1000
                painted = page.evaluate("window.__moved")
                if n >= 5:  # five warm-up moves
                    delays.append(painted - answered)
            assert page.locator(".card").count() == args.cards
            browser.close()
        if errors:
            raise SystemExit(f"the page raised: {errors}")
    finally:
        server.stop()
        psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")

    print(f"Board client in headless Chromium, {started}, {os.cpu_count()} CPUs; the production set of make prod "
          "(nginx, granian, uvicorn; DEBUG off), PostgreSQL + Redis, Chromium and the writer on this machine")
    print(f"\n| {args.cards} cards shown (navigation start to the frame after the last card) | ms |")
    print("|---|---|")
    print(f"| median of {len(shown)} loads | {statistics.median(shown):.0f} |")
    print(f"| min / max | {min(shown):.0f} / {max(shown):.0f} |")
    print("\n| remote move: write's response to the frame after the card moved | ms |")
    print("|---|---|")
    print(f"| p50 of {len(delays)} moves | {pct(delays, 0.5):.1f} |")
    print(f"| p95 | {pct(delays, 0.95):.1f} |")
    print(f"| max | {max(delays):.1f} |")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"browser-{started.replace(':', '')}.json"
    record = {"started": started, "args": vars(args), "shown_ms": shown, "move_ms": delays}
    path.write_text(json.dumps(record, indent=1))
    print(f"\nResults written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
