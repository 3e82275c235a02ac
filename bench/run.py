"""TaskHub benchmarks: ``make bench`` (PostgreSQL + Redis, production settings, real servers).

Every scenario starts the servers the way production would (DEBUG off,
persistent connections, Redis cache and channel layer, Prometheus multiprocess
directory), drives them from separate processes, and prints a table per
scenario: requests/s, p50/p95/p99/max latency per endpoint, errors, and SQL
statements per request as the server itself reports them (``Server-Timing``).
Results are also written as JSON to ``bench/results/``.

Why an asyncio + aiohttp client rather than Locust: on a 2-core machine the
load generator shares the CPU with the servers; one asyncio process per core
with aiohttp's C parser drives several thousand requests/s, where Locust's
per-user greenlets and stats machinery cost several times more CPU per request.
The client's own CPU use is printed with each table so that a saturated
generator is visible.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
BIN = Path(PY).parent

SEED_MIX = [  # (name, weight): the seed system's Locust mix
    ("list tasks", 15), ("get task", 5), ("list projects", 4), ("list comments", 4), ("list workspaces", 3),
    ("create task", 3), ("get project", 2), ("update task", 2), ("create comment", 2), ("get workspace", 1),
    ("workspace members", 1), ("project members", 1),
]


# --- environment and servers ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(args, metrics_dir: str, pool: bool) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database_url, REDIS_URL=args.redis_url, DEBUG="0",
        SECRET_KEY="bench-" + uuid.uuid4().hex * 2, ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0", TASKHUB_REQUEST_LOG="0", TASKHUB_BENCH_FLOOR="1",
        PROMETHEUS_MULTIPROC_DIR=metrics_dir, LOG_LEVEL="WARNING", CACHE_KEY_PREFIX="bench",
        DB_POOL="1" if pool else "0",
    )
    return env


SERVERS = {
    # name: (command, ASGI? (then the psycopg pool, MACHINE-LIMITS.md §3))
    "gunicorn": (["{bin}/gunicorn", "taskhub.wsgi:application", "-w", "2", "-b", "127.0.0.1:{port}",
                  "--log-level", "warning"], False),
    "granian": (["{bin}/granian", "--interface", "wsgi", "--workers", "2", "--blocking-threads", "4",
                 "--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning", "--no-ws",
                 "taskhub.wsgi:application"], False),
    # Variants for the comparison: one request at a time per process (no GIL shared by threads).
    "granian-4x1": (["{bin}/granian", "--interface", "wsgi", "--workers", "4", "--blocking-threads", "1",
                     "--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning", "--no-ws",
                     "taskhub.wsgi:application"], False),
    "gunicorn-4": (["{bin}/gunicorn", "taskhub.wsgi:application", "-w", "4", "-b", "127.0.0.1:{port}",
                    "--log-level", "warning"], False),
    "daphne": (["{bin}/daphne", "-b", "127.0.0.1", "-p", "{port}", "-v", "0", "taskhub.asgi:application"], True),
    "uvicorn": (["{bin}/uvicorn", "taskhub.asgi:application", "--host", "127.0.0.1", "--port", "{port}",
                 "--workers", "2", "--no-access-log", "--log-level", "warning"], True),
}


class Server:
    def __init__(self, name: str, args, metrics_dir: str, nice: int = 0):
        self.name = name
        self.port = free_port()
        command, pool = SERVERS[name]
        argv = [part.format(bin=BIN, port=self.port) for part in command]
        if nice:
            argv = ["nice", "-n", str(nice), *argv]
        # The log goes to a file: a pipe nobody drains would stall the server once full.
        self.log = Path(tempfile.mkdtemp(prefix="taskhub-bench-")) / f"{name}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(argv, cwd=ROOT, env=server_env(args, metrics_dir, pool),
                                         stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"
        self._wait()

    def _wait(self, timeout: float = 60) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited: {self.log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/api/v1/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"{self.name} did not start")

    def pids(self) -> list[int]:
        """The server's processes (master and workers): its process group."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[2]) == self.proc.pid:  # field 5 of stat: the process group
                    found.append(int(entry.name))
        return sorted(found)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


def psql(sql: str, db: str = "postgres") -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qAtc", sql], check=True,
                   stdout=subprocess.DEVNULL)


def prepare_database(args) -> dict:
    db = args.database_url.rsplit("/", 1)[1]
    psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    psql(f"CREATE DATABASE {db}")
    env = server_env(args, tempfile.mkdtemp(), pool=False)
    subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run([PY, "bench/seed.py"], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    # Fresh statistics, as autovacuum would have them on a live database: without them the
    # planner takes the bulk-loaded tables for empty and picks plans that read every row.
    psql("VACUUM ANALYZE", db)
    return json.loads(out.stdout)


# --- the load client (runs in worker processes) -----------------------------------------------------


def _queries(headers) -> int | None:
    timing = headers.get("Server-Timing", "")
    if 'desc="' not in timing:
        return None
    return int(timing.split('desc="', 1)[1].split(" ", 1)[0])


async def _request(session, base, token, method, path, body=None):
    started = time.monotonic()
    async with session.request(method, base + path, json=body,
                               headers={"Authorization": f"Bearer {token}"}) as response:
        payload = await response.read()
        elapsed = time.monotonic() - started
        return response.status, elapsed, _queries(response.headers), payload, time.monotonic()


def _seed_request(seed: dict, rng: random.Random):
    names = [name for name, _ in SEED_MIX]
    weights = [weight for _, weight in SEED_MIX]
    name = rng.choices(names, weights)[0]
    p, t, w = seed["project_id"], seed["task_id"], seed["workspace_id"]
    return name, {
        "list tasks": ("GET", f"/api/v1/projects/{p}/tasks", None),
        "get task": ("GET", f"/api/v1/tasks/{t}", None),
        "list projects": ("GET", f"/api/v1/workspaces/{w}/projects", None),
        "list comments": ("GET", f"/api/v1/tasks/{t}/comments", None),
        "list workspaces": ("GET", "/api/v1/workspaces", None),
        "create task": ("POST", f"/api/v1/projects/{p}/tasks", {"title": "load"}),
        "get project": ("GET", f"/api/v1/projects/{p}", None),
        "update task": ("PATCH", f"/api/v1/tasks/{t}", {"description": f"edit {rng.random()}"}),
        "create comment": ("POST", f"/api/v1/tasks/{t}/comments", {"body": "load"}),
        "get workspace": ("GET", f"/api/v1/workspaces/{w}", None),
        "workspace members": ("GET", f"/api/v1/workspaces/{w}/members", None),
        "project members": ("GET", f"/api/v1/projects/{p}/members", None),
    }[name]


async def _users(spec: dict) -> list:
    import aiohttp

    records = []
    deadline = time.monotonic() + spec["duration"]
    rng = random.Random(spec["worker"])
    connector = aiohttp.TCPConnector(limit=0, force_close=spec.get("force_close", False))
    async with aiohttp.ClientSession(connector=connector) as session:

        async def user(index: int):
            sent = 0
            while time.monotonic() < deadline:
                if spec["kind"] == "seed":
                    name, (method, path, body) = _seed_request(spec["seed"], rng)
                else:
                    name, method, path, body = spec["name"], spec["method"], spec["path"], spec.get("body")
                if spec.get("toggle_done"):  # a tick, then an untick: every request changes the counts
                    body = {"done": (index + sent) % 2 == 0}
                sent += 1
                try:
                    status, elapsed, queries, _, _ = await _request(session, spec["base"], spec["token"], method,
                                                                    path, body)
                except Exception as exc:  # connection errors count as errors
                    status, elapsed, queries = f"exc:{type(exc).__name__}", 0.0, None
                records.append((name, status, elapsed, queries, time.time()))
                if spec.get("think"):
                    await asyncio.sleep(rng.uniform(*spec["think"]))

        await asyncio.gather(*(user(i) for i in range(spec["users"])))
    return records


def _worker(spec: dict, out) -> None:
    started = resource.getrusage(resource.RUSAGE_SELF)
    records = asyncio.run(_users(spec))
    used = resource.getrusage(resource.RUSAGE_SELF)
    out.put((records, used.ru_utime + used.ru_stime - started.ru_utime - started.ru_stime))


def _floor_worker(spec: dict, out) -> None:
    """The same INSERT + counter UPDATE sent by psycopg directly, one connection per client."""
    import psycopg

    started = resource.getrusage(resource.RUSAGE_SELF)
    records = []
    deadline = time.monotonic() + spec["duration"]
    with psycopg.connect(spec["dsn"]) as conn:
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            with conn.transaction():
                conn.execute(
                    "INSERT INTO tasks_task (id, project_id, number, title, description, status_id, priority, type,"
                    " rank, version, created_at, updated_at) VALUES (%s, %s, %s, 'floor', '', %s, 'medium', 'task',"
                    " 'i', 1, now(), now())",
                    (uuid.uuid4(), spec["project_id"], uuid.uuid4().int >> 66, spec["status_id"]),
                )
                conn.execute("UPDATE projects_projectcounters SET total = total + 1, todo = todo + 1"
                             " WHERE project_id = %s", (spec["project_id"],))
            records.append(("psycopg floor", 200, time.monotonic() - t0, 2))
    used = resource.getrusage(resource.RUSAGE_SELF)
    out.put((records, used.ru_utime + used.ru_stime - started.ru_utime - started.ru_stime))


def drive(specs: list[dict], target=_worker) -> tuple[list, float, float]:
    """Run one worker process per spec; return (records, wall seconds, client CPU seconds)."""
    out = mp.Queue()
    procs = [mp.Process(target=target, args=(spec, out)) for spec in specs]
    started = time.monotonic()
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    wall = time.monotonic() - started
    return [r for records, _ in results for r in records], wall, sum(cpu for _, cpu in results)


# --- where the CPU goes ---------------------------------------------------------------------------------

_HZ = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime + stime, and cutime + cstime: the CPU of children that exited and were waited for
    # (PostgreSQL's backends of connections closed during the run, counted by the postmaster).
    return sum(int(value) for value in fields[11:15]) / _HZ


def _pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip().startswith(name):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class CpuMeter:
    """CPU seconds used by the server, PostgreSQL and Redis between ``start()`` and ``stop()``.

    On a 2-core machine that every process shares, throughput is bounded by
    the CPU one request costs all of them together; this says how much each
    part takes. Processes that start during the run count from zero; those
    that end during it are counted by their parent (the postmaster for the
    backends of connections closed within the run).
    """

    def __init__(self, server: Server | None):
        self.server = server

    def _parts(self) -> dict[str, list[int]]:
        return {"server": self.server.pids() if self.server else [], "postgres": _pids_named("postgres"),
                "redis": _pids_named("redis-server")}

    def start(self) -> None:
        self.before = {pid: _cpu_seconds(pid) for pids in self._parts().values() for pid in pids}

    def stop(self, requests: int, wall: float, client_cpu: float) -> dict:
        used = {part: sum(_cpu_seconds(pid) - self.before.get(pid, 0.0) for pid in pids)
                for part, pids in self._parts().items()}
        used["client"] = client_cpu
        per_request = {part: 1000 * seconds / max(1, requests) for part, seconds in used.items()}
        return {"ms_per_request": per_request, "cores": sum(used.values()) / wall}


def cpu_line(name: str, cpu: dict) -> str:
    per_request = cpu["ms_per_request"]
    parts = ", ".join(f"{part} {ms:.2f}" for part, ms in per_request.items())
    return (f"CPU per request, {name}: {parts} ms (total {sum(per_request.values()):.2f} ms; "
            f"{cpu['cores']:.2f} cores busy)")


def split(total: int, parts: int) -> list[int]:
    """``total`` users spread over at most ``parts`` processes."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# --- reporting ----------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def summarise(records: list, duration: float) -> list[dict]:
    rows = []
    by_name: dict[str, list] = {}
    for record in records:
        by_name.setdefault(record[0], []).append(record)
    for name in sorted(by_name, key=lambda n: -len(by_name[n])) + ["ALL"]:
        group = records if name == "ALL" else by_name[name]
        ok = [r for r in group if isinstance(r[1], int) and r[1] < 400]
        latencies = [r[2] * 1000 for r in ok]
        queries = [r[3] for r in ok if r[3] is not None]
        rows.append({
            "endpoint": name, "requests": len(group), "rps": len(group) / duration,
            "errors": len(group) - len(ok), "p50": pct(latencies, 50), "p95": pct(latencies, 95),
            "p99": pct(latencies, 99), "max": max(latencies) if latencies else float("nan"),
            "queries": statistics.mean(queries) if queries else None,
        })
    return rows


def print_table(title: str, rows: list[dict], note: str = "") -> None:
    print(f"\n### {title}" + (f"  ({note})" if note else ""))
    print(f"| {'endpoint':<22} | {'req':>6} | {'req/s':>7} | {'err':>4} | {'p50 ms':>7} | {'p95 ms':>7} | "
          f"{'p99 ms':>7} | {'max ms':>7} | {'SQL/req':>7} |")
    print("|" + "|".join("-" * w for w in (24, 8, 9, 6, 9, 9, 9, 9, 9)) + "|")
    for r in rows:
        q = "-" if r["queries"] is None else f"{r['queries']:.2f}"
        print(f"| {r['endpoint']:<22} | {r['requests']:>6} | {r['rps']:>7.1f} | {r['errors']:>4} | {r['p50']:>7.2f} |"
              f" {r['p95']:>7.2f} | {r['p99']:>7.2f} | {r['max']:>7.2f} | {q:>7} |")
    sys.stdout.flush()


# --- scenarios --------------------------------------------------------------------------------------


def analyze(args) -> None:
    """Refresh planner statistics (the earlier scenarios grew the tables), as autovacuum would."""
    psql("ANALYZE", args.database_url.rsplit("/", 1)[1])


def scenario_seed(args, seed, server, results):
    for users in args.seed_users:
        analyze(args)
        specs = [{"kind": "seed", "seed": seed, "base": server.url, "token": seed["token"], "users": n,
                  "think": (0.1, 0.5), "duration": args.duration, "worker": i}
                 for i, n in enumerate(split(users, args.client_procs))]
        meter = CpuMeter(server)
        meter.start()
        records, wall, cpu = drive(specs)
        usage = meter.stop(len(records), wall, cpu)
        rows = summarise(records, wall)
        note = f"{server.name}, {users} users, think 0.1-0.5 s, {wall:.0f} s, client CPU {cpu / wall:.2f} cores"
        print_table(f"Seed scenario, {users} users", rows, note)
        print(cpu_line("all requests", usage))
        results.append({"scenario": f"seed-{users}", "server": server.name, "rows": rows, "client_cpu": cpu / wall,
                        "cpu": usage})


def scenario_create(args, seed, server, results):
    path = f"/api/v1/projects/{seed['project_id']}/tasks"
    floor_path = f"/bench/floor/{seed['floor_project_id']}/{seed['floor_status_id']}"
    for clients in (1, 4, 16):
        rows, usage = [], {}
        for name, target, extra in (
            ("create task", _worker, {"path": path}),
            # The same, assigned to another user: one notification written and published per request.
            ("create task, assignee", _worker, {"path": path, "body": {"title": "bench",
                                                                       "assignee_id": seed["assignee_id"]}}),
            ("minimal view", _worker, {"path": floor_path}),
            ("psycopg floor", _floor_worker, {}),
        ):
            spec = {"kind": "fixed", "name": name, "method": "POST", "body": {"title": "bench"},
                    "base": server.url, "token": seed["token"], "duration": args.short_duration,
                    "dsn": args.database_url, "project_id": seed["floor_project_id"],
                    "status_id": seed["floor_status_id"], **extra}
            if target is _floor_worker:
                specs = [dict(spec, worker=i) for i in range(clients)]
            else:
                specs = [dict(spec, users=n, worker=i) for i, n in enumerate(split(clients, args.client_procs))]
            meter = CpuMeter(None if target is _floor_worker else server)
            meter.start()
            records, wall, client_cpu = drive(specs, target)
            usage[name] = meter.stop(len(records), wall, client_cpu)
            rows += [dict(r, cpu=usage[name]) for r in summarise(records, wall) if r["endpoint"] != "ALL"]
        by = {r["endpoint"]: r for r in rows}
        note = (f"{server.name}; p50 ratio to minimal view {by['create task']['p50'] / by['minimal view']['p50']:.2f}, "
                f"to psycopg {by['create task']['p50'] / by['psycopg floor']['p50']:.2f}; throughput ratio to "
                f"minimal view {by['create task']['rps'] / by['minimal view']['rps']:.2f}")
        print_table(f"Task creation, {clients} client(s)", rows, note)
        assigned, plain = by["create task, assignee"], by["create task"]
        print(f"with an assignee (a notification): p50 {assigned['p50']:.2f} ms against {plain['p50']:.2f} ms "
              f"({(assigned['p50'] / plain['p50'] - 1) * 100:+.1f}%), {assigned['rps']:.0f} against "
              f"{plain['rps']:.0f} req/s ({(assigned['rps'] / plain['rps'] - 1) * 100:+.1f}%)")
        for name, cpu in usage.items():
            print(cpu_line(name, cpu))
        results.append({"scenario": f"create-c{clients}", "server": server.name, "rows": rows})


def scenario_board(args, seed, server, results):
    analyze(args)
    rows = []
    for board in seed["boards"]:
        spec = {"kind": "fixed", "name": f"board {board['size']} tasks", "method": "GET",
                "path": f"/api/v1/projects/{board['project_id']}/board?per_column=50", "base": server.url,
                "token": seed["token"], "duration": args.short_duration, "users": 1, "worker": 0}
        records, wall, _ = drive([spec])
        rows += [r for r in summarise(records, wall) if r["endpoint"] != "ALL"]
    print_table("Board load, 1 client, 50 cards per column", rows, server.name)
    results.append({"scenario": "board", "server": server.name, "rows": rows})


def scenario_checklist(args, seed, server, results):
    """Ticking a checklist item (and unticking it) beside a PATCH of the same task, at 1 and 16 clients.

    Both lock the task's row and log an event with the project's next seq; the tick also moves the
    task's ``checklist {total, done}`` in the statement that writes the item.
    """
    for clients in (1, 16):
        rows, usage = [], {}
        for name, extra in (
            ("checklist tick", {"path": f"/api/v1/checklist-items/{seed['checklist_item_id']}", "toggle_done": True}),
            ("task PATCH", {"path": f"/api/v1/tasks/{seed['task_id']}", "body": {"description": "bench"}}),
        ):
            spec = {"kind": "fixed", "name": name, "method": "PATCH", "base": server.url, "token": seed["token"],
                    "duration": args.short_duration, **extra}
            specs = [dict(spec, users=n, worker=i) for i, n in enumerate(split(clients, args.client_procs))]
            meter = CpuMeter(server)
            meter.start()
            records, wall, client_cpu = drive(specs)
            usage[name] = meter.stop(len(records), wall, client_cpu)
            rows += [r for r in summarise(records, wall) if r["endpoint"] != "ALL"]
        by = {r["endpoint"]: r for r in rows}
        note = (f"{server.name}; tick p50 {by['checklist tick']['p50'] / by['task PATCH']['p50']:.2f}x the PATCH's, "
                f"throughput {by['checklist tick']['rps'] / by['task PATCH']['rps']:.2f}x")
        print_table(f"Checklist tick beside a task PATCH, {clients} client(s), one task", rows, note)
        for name, cpu in usage.items():
            print(cpu_line(name, cpu))
        results.append({"scenario": f"checklist-c{clients}", "server": server.name, "rows": rows})


def _ws_frame(text: str) -> bytes:
    """A masked text frame, as a client sends it (RFC 6455)."""
    import secrets

    payload = text.encode()
    mask = secrets.token_bytes(4)
    length = bytes([0x80 | len(payload)]) if len(payload) < 126 else bytes([0x80 | 126]) + len(payload).to_bytes(2)
    return bytes([0x81]) + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def _discard_answering_pings(reader, writer) -> None:
    """Read a raw socket's frames and drop them, answering the server's pings (uvicorn closes a socket
    that leaves its pings unanswered for 20 s, which would end the crowd's presence mid-run)."""
    buffer = b""
    while chunk := await reader.read(1 << 16):
        buffer += chunk
        while len(buffer) >= 2:
            opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                length, start = int.from_bytes(buffer[2:4]), 4
            elif length == 127:
                length, start = int.from_bytes(buffer[2:10]), 10
            if len(buffer) < start + length:
                break
            payload, buffer = buffer[start:start + length], buffer[start + length:]
            if opcode == 0x9:  # ping: a masked pong with its payload
                import secrets

                mask = secrets.token_bytes(4)
                writer.write(bytes([0x8A, 0x80 | len(payload)]) + mask
                             + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def _presence_crowd(spec: dict, ready, stop, out) -> None:
    """``n`` sockets subscribed to the project; with ``traffic``, each announces itself every
    ``heartbeat`` seconds (staggered) and ``typists`` of them send a frame a second, alternating
    ``typing`` and ``editing`` on the task (each one a change of the set). One more socket, an
    ordinary client, counts the presence frames that reach it."""
    os.nice(19)

    async def main():
        import urllib.request

        import websockets

        async def ticket():
            request = urllib.request.Request(spec["http"] + "/api/v1/realtime/ticket", method="POST",
                                             headers={"Authorization": f"Bearer {spec['token']}"})
            return await asyncio.to_thread(lambda: json.loads(urllib.request.urlopen(request).read())["ticket"])

        subscribe = json.dumps({"type": "subscribe", "project_id": spec["project_id"], "since": None})
        drains = [await _raw_subscriber(spec, await ticket(), subscribe) for _ in range(spec["n"])]
        await asyncio.wait_for(asyncio.gather(*(_await_subscribed(reader) for reader, _ in drains)), 300)
        observer = await websockets.connect(f"{spec['ws']}/ws/?ticket={await ticket()}", origin=spec["http"],
                                            max_queue=None, open_timeout=30)
        await observer.send(subscribe)
        while json.loads(await observer.recv())["type"] != "subscribed":
            pass
        frames: list[float] = []
        sent = [0]

        async def watch():
            async for raw in observer:
                if json.loads(raw)["type"] == "presence":
                    frames.append(time.monotonic())

        async def member(index: int, writer):
            typist = index < spec["typists"]
            await asyncio.sleep(spec["heartbeat"] * index / spec["n"])  # staggered, as browsers would be
            beat = 0
            while True:
                if typist:
                    state, task_id, pause = ("typing", "editing")[beat % 2], spec["task_id"], 1.0
                else:
                    state, task_id, pause = "viewing", None, spec["heartbeat"]
                writer.write(_ws_frame(json.dumps({"type": "presence", "project_id": spec["project_id"],
                                                   "task_id": task_id, "state": state})))
                sent[0] += 1
                beat += 1
                await asyncio.sleep(pause)

        tasks = [asyncio.create_task(watch())] + [asyncio.create_task(_discard_answering_pings(reader, writer))
                                                  for reader, writer in drains]
        if spec["traffic"]:
            tasks += [asyncio.create_task(member(i, writer)) for i, (_, writer) in enumerate(drains)]
            await asyncio.sleep(spec["heartbeat"])  # every socket has announced once before the writes start
        started = time.monotonic()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        ended = time.monotonic()
        for task in tasks:
            task.cancel()
        during = [t for t in frames if started <= t <= ended]
        per_second: dict[int, int] = {}
        for t in during:
            per_second[int(t - started)] = per_second.get(int(t - started), 0) + 1
        out.put({"seconds": ended - started, "frames": len(during), "sent": sent[0],
                 "max_per_second": max(per_second.values(), default=0)})
        await observer.close()
        for _, writer in drains:
            writer.close()

    asyncio.run(main())


def scenario_presence(args, seed, http, ws_server, results):
    """Task creation with 200 subscribed sockets on the project, with and without their presence traffic."""
    rows = []
    for traffic in (False, True, False, True):  # interleaved: the machine's speed drifts
        ready, stop, out = mp.Event(), mp.Event(), mp.Queue()
        spec = {"n": args.presence_sockets, "typists": args.presence_typists, "heartbeat": 30.0, "traffic": traffic,
                "http": ws_server.url, "ws": ws_server.url.replace("http", "ws"), "token": seed["token"],
                "project_id": seed["project_id"], "task_id": seed["task_id"]}
        crowd = mp.Process(target=_presence_crowd, args=(spec, ready, stop, out))
        crowd.start()
        if not ready.wait(600):
            raise SystemExit("the presence sockets did not open")
        try:
            writes = asyncio.run(_timed_writes(http.url, seed["token"], [seed["project_id"]],
                                               args.presence_writes, args.socket_rate))
        finally:
            stop.set()
        seen = out.get(timeout=120)
        crowd.join(timeout=30)
        if crowd.is_alive():
            crowd.kill()
        write_ms = [w[3] * 1000 for w in writes]
        rows.append({"traffic": traffic, "writes": len(writes), "write_p50": pct(write_ms, 50),
                     "write_p99": pct(write_ms, 99), **seen})
    print(f"\n### Task creation beside presence traffic ({http.name} HTTP, {ws_server.name} WebSockets at nice "
          f"{args.ws_nice}; {args.presence_sockets} sockets subscribed to the project, heartbeat every 30 s, "
          f"{args.presence_typists} typing a frame a second; {args.presence_writes} writes at {args.socket_rate:g}/s)")
    print("| presence traffic | writes | write p50 ms | write p99 ms | presence frames sent by the sockets |"
          " presence frames reaching a subscriber (per s) | most in one second |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {'yes' if r['traffic'] else 'no'} | {r['writes']} | {r['write_p50']:.2f} | {r['write_p99']:.2f} |"
              f" {r['sent']} | {r['frames']} ({r['frames'] / r['seconds']:.2f}) | {r['max_per_second']} |")
    quiet = statistics.median(r["write_p50"] for r in rows if not r["traffic"])
    busy = statistics.median(r["write_p50"] for r in rows if r["traffic"])
    print(f"create-task p50 with presence traffic {busy:.2f} ms against {quiet:.2f} ms without "
          f"({(busy / quiet - 1) * 100:+.1f}%; target within 10%)")
    results.append({"scenario": "presence", "rows": rows})


def scenario_servers(args, seed, results, metrics_dir):
    """Same endpoints under each server, to decide the production setup by measurement."""
    for name in args.compare:
        server = Server(name, args, metrics_dir)
        try:
            rows = []
            for label, method, path, body in (
                ("create task c16", "POST", f"/api/v1/projects/{seed['project_id']}/tasks", {"title": "s"}),
                ("list tasks c16", "GET", f"/api/v1/projects/{seed['project_id']}/tasks", None),
            ):
                specs = [{"kind": "fixed", "name": label, "method": method, "path": path, "body": body,
                          "base": server.url, "token": seed["token"], "duration": args.short_duration,
                          "users": n, "worker": i} for i, n in enumerate(split(16, args.client_procs))]
                records, wall, _ = drive(specs)
                rows += [r for r in summarise(records, wall) if r["endpoint"] != "ALL"]
            # The seed system's mix at 200 users: the load production setups are judged by.
            specs = [{"kind": "seed", "seed": seed, "base": server.url, "token": seed["token"], "users": n,
                      "think": (0.1, 0.5), "duration": args.short_duration, "worker": i}
                     for i, n in enumerate(split(200, args.client_procs))]
            records, wall, _ = drive(specs)
            mix = [r for r in summarise(records, wall) if r["endpoint"] == "ALL"]
            rows += [{**r, "endpoint": "seed mix 200 users"} for r in mix]
            print_table(f"Server comparison: {name}", rows)
            results.append({"scenario": "servers", "server": name, "rows": rows})
        finally:
            server.stop()


# --- the production set: make prod's worker counts -------------------------------------------------


class ProdSet:
    """``deploy/prod.py`` (what ``make prod`` runs): nginx on one port, granian and uvicorn behind it.

    Quacks like ``Server`` (``name``, ``url``, ``pids()``, ``stop()``) so the scenarios drive it
    as they drive one server; ``web_url`` is granian's own port, behind nginx.
    """

    def __init__(self, args, metrics_dir: str, web: str, ws: int | None = None):
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        from deploy.prod import WS_WORKERS

        workers, threads = (int(part) for part in web.split("x"))
        ws = WS_WORKERS if ws is None else ws
        self.name = f"make prod, granian {workers} x {threads}, uvicorn {ws}"
        self.port = free_port()
        env = server_env(args, metrics_dir, pool=False)
        env.update(PORT=str(self.port), TASKHUB_WEB_WORKERS=str(workers), TASKHUB_WEB_THREADS=str(threads),
                   TASKHUB_WS_WORKERS=str(ws), STATIC_ROOT=str(Path(tempfile.gettempdir()) / "taskhub-bench-static"))
        self.log = Path(tempfile.mkdtemp(prefix="taskhub-bench-")) / "prod.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen([PY, "deploy/prod.py"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 300
        while "TaskHub is serving on" not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"make prod did not start: {self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.3)
        text = self.log.read_text(errors="replace")
        self.web_url = "http://127.0.0.1:" + text.split("granian ", 1)[1].split("127.0.0.1:", 1)[1].split(",")[0]

    def pids(self) -> list[int]:
        """Every process below deploy/prod.py (honcho gives each of its processes a session of its own)."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry.name))
        found, todo = [self.proc.pid], [self.proc.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return sorted(found)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def _static_path(base: str) -> str:
    """A content-hashed static file the docs page links to (the Swagger UI bundle's CSS)."""
    import re
    import urllib.request

    with urllib.request.urlopen(base + "/api/v1/docs", timeout=10) as reply:
        return re.search(r'href="(/static/ninja/swagger-ui\.[0-9a-f]{12}\.css)"', reply.read().decode()).group(1)


def scenario_prod(args, seed, results, metrics_dir):
    """make prod's worker counts, measured through nginx as production runs them."""
    for web in args.prod_web:
        prod = ProdSet(args, metrics_dir, web)
        try:
            rows = []
            static = _static_path(prod.url)
            tasks = f"/api/v1/projects/{seed['project_id']}/tasks"
            fixed = [("create task c16", "POST", tasks, {"title": "s"}, prod.url),
                     ("list tasks c16", "GET", tasks, None, prod.url),
                     ("static file c16, nginx", "GET", static, None, prod.url)]
            if web == args.prod_web[0]:  # the same file from WhiteNoise in granian, nginx left out
                fixed.append(("static file c16, WhiteNoise", "GET", static, None, prod.web_url))
            for label, method, path, body, base in fixed:
                specs = [{"kind": "fixed", "name": label, "method": method, "path": path, "body": body,
                          "base": base, "token": seed["token"], "duration": args.short_duration,
                          "users": n, "worker": i} for i, n in enumerate(split(16, args.client_procs))]
                records, wall, _ = drive(specs)
                rows += [r for r in summarise(records, wall) if r["endpoint"] != "ALL"]
            analyze(args)
            specs = [{"kind": "seed", "seed": seed, "base": prod.url, "token": seed["token"], "users": n,
                      "think": (0.1, 0.5), "duration": args.duration, "worker": i}
                     for i, n in enumerate(split(200, args.client_procs))]
            meter = CpuMeter(prod)
            meter.start()
            records, wall, cpu = drive(specs)
            usage = meter.stop(len(records), wall, cpu)
            mix = [r for r in summarise(records, wall) if r["endpoint"] == "ALL"]
            rows += [{**r, "endpoint": "seed mix 200 users"} for r in mix]
            print_table(f"Production set: {prod.name}", rows)
            print(cpu_line("seed mix", usage))
            results.append({"scenario": "prod", "server": prod.name, "rows": rows, "cpu": usage})
        finally:
            prod.stop()
    for ws in args.prod_ws:
        prod = ProdSet(args, metrics_dir, args.prod_web[0] if args.prod_web else "2x4", ws)
        try:
            print(f"\n{prod.name}: sockets through nginx")
            scenario_sockets(args, seed, prod, prod, results)
        finally:
            prod.stop()


# --- sockets: write latency with subscribers, and write-to-socket latency -------------------------------


def _socket_holder(spec: dict, ready, stop, out) -> None:
    """Open ``n`` sockets subscribed to the project; record when socket 0 and the last socket see each task.

    These sockets stand for browsers on other machines; the process runs at the
    lowest CPU priority so that, on a 2-core box, decoding a thousand streams
    does not take the CPU the servers under test need.
    """
    os.nice(19)

    async def main():
        import urllib.request

        import websockets

        async def ticket():
            request = urllib.request.Request(spec["http"] + "/api/v1/realtime/ticket", method="POST",
                                             headers={"Authorization": f"Bearer {spec['token']}"})
            return await asyncio.to_thread(lambda: json.loads(urllib.request.urlopen(request).read())["ticket"])

        sockets = []
        drains = []
        subscribe = json.dumps({"type": "subscribe", "project_id": spec["project_id"], "since": None})
        for index in range(spec["n"]):
            if 0 < index < spec["n"] - 1:
                # The sockets in between only have to be there and be read: a raw
                # client that discards the bytes, so that decoding a thousand
                # streams in Python does not take the CPU the servers need.
                drains.append(await _raw_subscriber(spec, await ticket(), subscribe))
                continue
            ws = await websockets.connect(f"{spec['ws']}/ws/?ticket={await ticket()}", origin=spec["http"],
                                          max_queue=None, open_timeout=30)
            await ws.send(subscribe)
            while json.loads(await ws.recv())["type"] != "subscribed":
                pass
            sockets.append(ws)
        arrivals: dict[str, dict[str, float]] = {"first": {}, "last": {}}

        async def listen(ws, key):
            async for raw in ws:
                now = time.monotonic()
                frame = json.loads(raw)
                if frame["type"] == "task_created" and key:
                    arrivals[key][frame["data"]["task"]["id"]] = now

        # Writes start only once every socket is subscribed: otherwise the first seconds of the run
        # measure the server working through a thousand subscriptions, not delivering events.
        await asyncio.wait_for(asyncio.gather(*(_await_subscribed(reader) for reader, _ in drains)), 300)
        tasks = [asyncio.create_task(listen(ws, "first" if i == 0 else "last" if i == len(sockets) - 1 else None))
                 for i, ws in enumerate(sockets)]
        tasks += [asyncio.create_task(_discard(reader)) for reader, _ in drains]
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await asyncio.sleep(spec["drain_seconds"])
        for task in tasks:
            task.cancel()
        out.put(arrivals)
        for ws in sockets:
            await ws.close()
        for _, writer in drains:
            writer.close()

    asyncio.run(main())


async def _raw_subscriber(spec: dict, ticket: str, subscribe: str):
    """Open a WebSocket by hand (RFC 6455 handshake), send one subscribe frame, return the stream."""
    import base64
    import secrets
    from urllib.parse import urlsplit

    url = urlsplit(spec["ws"])
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    writer.write((f"GET /ws/?ticket={ticket} HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\n"
                  f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\nOrigin: {spec['http']}\r\n\r\n").encode())
    headers = await reader.readuntil(b"\r\n\r\n")
    assert headers.startswith(b"HTTP/1.1 101"), headers[:100]
    payload = subscribe.encode()
    mask = secrets.token_bytes(4)
    length = bytes([0x80 | len(payload)]) if len(payload) < 126 else bytes([0x80 | 126]) + len(payload).to_bytes(2)
    writer.write(bytes([0x81]) + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    await writer.drain()
    return reader, writer


async def _await_subscribed(reader) -> None:
    """Read a raw subscriber's stream up to the ``subscribed`` frame (server frames are not masked)."""
    seen = b""
    while b'"subscribed"' not in seen:
        chunk = await reader.read(1 << 16)
        if not chunk:
            raise ConnectionError("socket closed before it was subscribed")
        seen = seen[-32:] + chunk


async def _discard(reader) -> None:
    while await reader.read(1 << 16):
        pass


async def _timed_writes(base: str, token: str, project_ids: list[str], count: int, rate: float,
                        extra: dict | None = None) -> list[tuple[str, float, float, float, str]]:
    """``count`` task creations in each of ``project_ids``, one at a time, interleaved.

    Each project gets at most ``rate`` writes per second; with two projects the
    writes alternate, the second one's half-way between two of the first's.
    ``extra`` is added to every body (an ``assignee_id``).
    """
    import aiohttp

    rows = []
    step = 1 / (rate * len(project_ids))
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        for i in range(count * len(project_ids)):
            project_id = project_ids[i % len(project_ids)]
            wait = started + i * step - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            sent = time.monotonic()
            status, elapsed, _, payload, done = await _request(session, base, token, "POST",
                                                               f"/api/v1/projects/{project_id}/tasks",
                                                               {"title": f"ws {i}", **(extra or {})})
            assert status == 201, payload
            rows.append((json.loads(payload)["id"], sent, done, elapsed, project_id))
    return rows


def scenario_sockets(args, seed, http, ws_server, results):
    rows = []

    def paced(n: int) -> float:
        # Pace the writes so that the fan-out (2 events a write, one frame per socket each) stays within
        # what one WebSocket process can send: this measures latency, not a saturated queue.
        return min(args.socket_rate, args.frame_budget / max(1, 2 * n))

    # A row with no sockets is run at every pace a row with sockets needs, just before it, so that
    # each row is compared with one written at the same pace and close in time (a write 250 ms after
    # the last one is not a write 50 ms after it: caches, CPU frequency, the other processes' rhythm).
    plan: list[tuple[int, float]] = []
    for n in sorted(set(args.socket_counts) | {0}):
        if (0, paced(n)) not in plan:
            plan.append((0, paced(n)))
        if n:
            plan.append((n, paced(n)))
    for n, rate in plan:
        holder = None
        arrivals = {"first": {}, "last": {}}
        if n:
            ready, stop, out = mp.Event(), mp.Event(), mp.Queue()
            spec = {"n": n, "http": ws_server.url, "ws": ws_server.url.replace("http", "ws"), "token": seed["token"],
                    "project_id": seed["project_id"], "drain_seconds": 3}
            holder = mp.Process(target=_socket_holder, args=(spec, ready, stop, out))
            holder.start()
            if not ready.wait(600):
                raise SystemExit("sockets did not open")
        # With sockets open, every write to the watched project is paired with one to a project
        # nobody watches, half-way between two watched writes: the same server, at the same moment
        # and pace, with and without subscribers on the written project. That isolates what the
        # subscribers cost the request that publishes; it does not show what the fan-out's CPU
        # costs every request running beside it (the paired write can land mid-fan-out), which
        # the comparison with the row with no sockets does.
        projects = [seed["project_id"]] + ([seed["quiet_project_id"]] if n else [])
        both = asyncio.run(_timed_writes(http.url, seed["token"], projects, args.socket_writes, rate))
        writes = [w for w in both if w[4] == seed["project_id"]]
        quiet_ms = [w[3] * 1000 for w in both if w[4] != seed["project_id"]]
        if holder is not None:
            stop.set()  # the holder waits a few seconds for the last events, reports, and closes
            try:
                arrivals = out.get(timeout=60)
            finally:
                holder.join(timeout=30)
                if holder.is_alive():
                    holder.kill()
        write_ms = [w[3] * 1000 for w in writes]
        row = {"sockets": n, "writes": len(writes), "rate": rate, "write_p50": pct(write_ms, 50),
               "write_p99": pct(write_ms, 99), "quiet_writes": len(quiet_ms), "quiet_p50": pct(quiet_ms, 50),
               "quiet_p99": pct(quiet_ms, 99)}
        for key in ("first", "last"):
            seen = arrivals.get(key, {})
            after_response = [(seen[w[0]] - w[2]) * 1000 for w in writes if w[0] in seen]
            after_send = [(seen[w[0]] - w[1]) * 1000 for w in writes if w[0] in seen]
            row[f"{key}_received"] = len(after_response)
            row[f"{key}_p50"] = pct(after_response, 50)
            row[f"{key}_p99"] = pct(after_response, 99)
            row[f"{key}_send_p50"] = pct(after_send, 50)
            row[f"{key}_send_p99"] = pct(after_send, 99)
        rows.append(row)
    print(f"\n### Create-task latency and write-to-socket latency ({http.name} HTTP, {ws_server.name} WebSockets "
          f"at nice {args.ws_nice}; {args.socket_writes} writes each, paced)")
    print("| sockets | writes (per s) | write p50 ms | write p99 ms | socket 0: got, response->event p50/p99 ms, "
          "request->event p50/p99 ms | last socket: same |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        first = (f"{r['first_received']}, {r['first_p50']:.2f}/{r['first_p99']:.2f}, "
                 f"{r['first_send_p50']:.2f}/{r['first_send_p99']:.2f}") if r["sockets"] else "-"
        last = (f"{r['last_received']}, {r['last_p50']:.2f}/{r['last_p99']:.2f}, "
                f"{r['last_send_p50']:.2f}/{r['last_send_p99']:.2f}") if r["sockets"] > 1 else "-"
        print(f"| {r['sockets']} | {r['writes']} ({r['rate']:g}) | {r['write_p50']:.2f} | {r['write_p99']:.2f} |"
              f" {first} | {last} |")
    base = {r["rate"]: r["write_p50"] for r in rows if not r["sockets"]}
    for r in rows:
        if not r["sockets"]:
            continue
        line = f"create-task p50 with {r['sockets']} sockets: {r['write_p50']:.2f} ms"
        if r["rate"] in base:
            line += (f", {(r['write_p50'] / base[r['rate']] - 1) * 100:+.1f}% against the row with none"
                     f" at the same pace ({r['rate']:g}/s)")
        line += (f"; paired writes to a project nobody watches: {r['quiet_p50']:.2f} ms (p99 {r['quiet_p99']:.2f}),"
                 f" so the watched writes are {(r['write_p50'] / r['quiet_p50'] - 1) * 100:+.1f}% against them")
        print(line)
    results.append({"scenario": "sockets", "rows": rows})


def _notification_listener(spec: dict, ready, stop, out) -> None:
    """One socket of the assignee, subscribed to their notifications; records when each task's arrives."""
    os.nice(19)

    async def main():
        import urllib.request

        import websockets

        request = urllib.request.Request(spec["http"] + "/api/v1/realtime/ticket", method="POST",
                                         headers={"Authorization": f"Bearer {spec['token']}"})
        ticket = json.loads(urllib.request.urlopen(request).read())["ticket"]
        arrivals: dict[str, float] = {}
        seqs: list[int] = []
        async with websockets.connect(f"{spec['ws']}/ws/?ticket={ticket}", origin=spec["http"], max_queue=None,
                                      open_timeout=30) as ws:
            await ws.send(json.dumps({"type": "subscribe", "notifications": True, "since": None}))
            while json.loads(await ws.recv())["type"] != "subscribed":
                pass
            ready.set()

            async def listen():
                async for raw in ws:
                    now = time.monotonic()
                    frame = json.loads(raw)
                    if frame["type"] == "notification" and frame["data"]["task"]:
                        arrivals[frame["data"]["task"]["id"]] = now
                        seqs.append(frame["seq"])

            listener = asyncio.create_task(listen())
            while not stop.is_set():
                await asyncio.sleep(0.05)
            await asyncio.sleep(spec["drain_seconds"])
            listener.cancel()
        out.put((arrivals, seqs))

    asyncio.run(main())


def scenario_notify(args, seed, http, ws_server, results):
    """Delivery time of a notification: from the assigning write's response to the assignee's socket."""
    ready, stop, out = mp.Event(), mp.Event(), mp.Queue()
    spec = {"http": ws_server.url, "ws": ws_server.url.replace("http", "ws"), "token": seed["assignee_token"],
            "drain_seconds": 3}
    listener = mp.Process(target=_notification_listener, args=(spec, ready, stop, out))
    listener.start()
    if not ready.wait(120):
        raise SystemExit("the notification socket did not subscribe")
    try:
        writes = asyncio.run(_timed_writes(http.url, seed["token"], [seed["project_id"]], args.socket_writes,
                                           args.socket_rate, {"assignee_id": seed["assignee_id"]}))
    finally:
        stop.set()
    arrivals, seqs = out.get(timeout=60)
    listener.join(timeout=30)
    delivery = [(arrivals[w[0]] - w[2]) * 1000 for w in writes if w[0] in arrivals]
    write_ms = [w[3] * 1000 for w in writes]
    gap_free = seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else False
    print(f"\n### Notification delivery ({http.name} HTTP, {ws_server.name} WebSockets at nice {args.ws_nice}; "
          f"{len(writes)} task creations with an assignee, {args.socket_rate:g}/s)")
    print("| writes | write p50 ms | write p99 ms | notifications received | in seq order, no gap |"
          " response->notification p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {len(writes)} | {pct(write_ms, 50):.2f} | {pct(write_ms, 99):.2f} | {len(delivery)} | {gap_free} |"
          f" {pct(delivery, 50):.2f} | {pct(delivery, 99):.2f} | {max(delivery, default=float('nan')):.2f} |")
    results.append({"scenario": "notify", "writes": len(writes), "received": len(delivery), "gap_free": gap_free,
                    "write_p50": pct(write_ms, 50), "write_p99": pct(write_ms, 99),
                    "delivery_p50": pct(delivery, 50), "delivery_p99": pct(delivery, 99)})


# --- main ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/taskhub_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--server", default="granian", choices=sorted(SERVERS), help="HTTP server for the API")
    parser.add_argument("--ws-server", default="uvicorn", choices=["daphne", "uvicorn"],
                        help="WebSocket server (uvicorn --workers 2 sent several times the frames of daphne here)")
    parser.add_argument("--duration", type=float, default=30, help="seconds per seed-scenario run")
    parser.add_argument("--short-duration", type=float, default=10, help="seconds per fixed-concurrency run")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--seed-users", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--socket-counts", type=int, nargs="+", default=[0, 1, 100, 1000])
    parser.add_argument("--socket-writes", type=int, default=1000)
    parser.add_argument("--socket-rate", type=float, default=20, help="most task creations per second there")
    parser.add_argument("--frame-budget", type=float, default=8000,
                        help="WebSocket frames per second the writes may cause (lowers the write rate)")
    parser.add_argument("--ws-nice", type=int, default=10,
                        help="CPU niceness of the WebSocket server: on a shared box the API gets the CPU first")
    parser.add_argument("--compare", nargs="*",
                        default=["gunicorn", "gunicorn-4", "granian", "granian-4x1", "uvicorn", "daphne"],
                        help="servers for the comparison table (empty to skip)")
    parser.add_argument("--presence-sockets", type=int, default=200)
    parser.add_argument("--presence-typists", type=int, default=20)
    parser.add_argument("--presence-writes", type=int, default=300, help="task creations per presence run")
    parser.add_argument("--only", nargs="*", default=["servers", "seed", "create", "checklist", "board", "sockets",
                                                      "notify", "presence"],
                        help="scenarios; also 'prod': make prod's worker counts through nginx (not in the default)")
    parser.add_argument("--prod-web", nargs="*", default=["2x4", "4x1", "3x2", "2x2"],
                        help="granian WORKERSxTHREADS for the 'prod' scenario (with make prod's uvicorn workers)")
    parser.add_argument("--prod-ws", type=int, nargs="*", default=[1, 2, 3],
                        help="uvicorn workers for the 'prod' scenario's sockets (with the first --prod-web, or 2x4)")
    args = parser.parse_args()

    seed = prepare_database(args)
    metrics_dir = tempfile.mkdtemp(prefix="taskhub-metrics-")
    results: list[dict] = []
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f"TaskHub benchmark, {started}, {os.cpu_count()} CPUs; API on {args.server}, WebSockets on "
          f"{args.ws_server}; PostgreSQL + Redis on this machine; load from {args.client_procs} processes")
    if "servers" in args.only and args.compare:
        scenario_servers(args, seed, results, metrics_dir)
    if "prod" in args.only:
        scenario_prod(args, seed, results, metrics_dir)
    http = Server(args.server, args, metrics_dir)
    try:
        if "create" in args.only:
            scenario_create(args, seed, http, results)
        if "checklist" in args.only:
            scenario_checklist(args, seed, http, results)
        if "board" in args.only:
            scenario_board(args, seed, http, results)
        if "seed" in args.only:
            scenario_seed(args, seed, http, results)
        if {"sockets", "notify", "presence"} & set(args.only):
            ws_server = Server(args.ws_server, args, metrics_dir, nice=args.ws_nice)
            try:
                if "sockets" in args.only:
                    scenario_sockets(args, seed, http, ws_server, results)
                if "notify" in args.only:
                    scenario_notify(args, seed, http, ws_server, results)
                if "presence" in args.only:
                    scenario_presence(args, seed, http, ws_server, results)
            finally:
                ws_server.stop()
    finally:
        http.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"bench-{started.replace(':', '')}.json"
    path.write_text(json.dumps({"started": started, "args": vars(args), "results": results}, indent=1, default=str))
    print(f"\nResults written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
