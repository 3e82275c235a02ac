"""Soak: the seed load scenario for 10 minutes against the production setup, with WebSocket subscribers.

Part of ``make stress``. The API runs on granian (WSGI, 2 workers) and the
WebSockets on uvicorn (2 workers, psycopg pool, niced), as the README's
production setup says; PostgreSQL and Redis are this machine's.

While the load runs, a few hundred sockets stay subscribed: some to the
project the load hammers, the rest spread over side projects that a slow
writer keeps busy. One socket on the hammered project checks what it gets:
every event, in ``seq`` order, none missing.

Every 10 seconds it samples each server process's resident memory, the
PostgreSQL connections to the database and Redis's connected clients. At the
end it prints the figures and fails (exit status 1) unless:

- no request failed and the checking socket missed nothing;
- each server process's memory grew by less than 10% after the first minute;
- the PostgreSQL connections and Redis clients stayed flat (at most 2 more at
  the end than after the first minute);
- p99 in the last minute is within 20% of p99 in the second minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.run import (  # noqa: E402
    Server,
    _discard,
    _raw_subscriber,
    _worker,
    pct,
    prepare_database,
    split,
)

MINUTE = 60.0


def api(base: str, token: str, method: str, path: str, body=None) -> dict:
    request = urllib.request.Request(base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def pg_connections(database_url: str) -> int:
    """Connections to the soak's database, counted from the server's ``postgres`` database."""
    import psycopg

    server, db = database_url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (db,)).fetchone()[0]


def redis_clients(url: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.info("clients")["connected_clients"]) - 1  # not counting this one
    finally:
        client.close()


# --- the subscribers (their own process, lowest priority: they stand for browsers elsewhere) -----------


def _subscribers(spec: dict, ready, stop, out) -> None:
    os.nice(19)

    async def main():
        async def ticket() -> str:
            return (await asyncio.to_thread(api, spec["http"], spec["token"], "POST", "/api/v1/realtime/ticket"))[
                "ticket"]

        import websockets

        drains = []
        for index in range(spec["n"]):
            project = spec["hot"] if index < spec["hot_sockets"] else spec["side"][index % len(spec["side"])]
            subscribe = json.dumps({"type": "subscribe", "project_id": project, "since": None})
            drains.append(await _raw_subscriber(spec, await ticket(), subscribe))
        checker = await websockets.connect(f"{spec['ws']}/ws/?ticket={await ticket()}", origin=spec["http"],
                                           max_queue=None, open_timeout=30)
        await checker.send(json.dumps({"type": "subscribe", "project_id": spec["hot"], "since": None}))
        first = None
        while first is None:
            frame = json.loads(await checker.recv())
            if frame["type"] == "subscribed":
                first = frame["seq"]
        report = {"events": 0, "out_of_order": 0, "errors": 0, "last_seq": first}

        async def check():
            async for raw in checker:
                frame = json.loads(raw)
                if frame["type"] == "error":
                    report["errors"] += 1
                elif "seq" in frame:
                    if frame["seq"] != report["last_seq"] + 1:
                        report["out_of_order"] += 1
                    report["last_seq"] = max(report["last_seq"], frame["seq"])
                    report["events"] += 1

        checking = asyncio.create_task(check())
        draining = [asyncio.create_task(_discard(r)) for r, _ in drains]
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.2)
        await asyncio.sleep(5)  # the last events
        # A drain ends only when its socket closed: the server dropped a subscriber.
        report["dropped"] = sum(task.done() for task in draining) + checking.done()
        for task in [checking, *draining]:
            task.cancel()
        report["first_seq"] = first
        out.put(report)
        await checker.close()
        for _, writer in drains:
            writer.close()

    asyncio.run(main())


# --- main -----------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/taskhub_soak")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/4")
    parser.add_argument("--duration", type=float, default=600, help="seconds of load (at least 180)")
    parser.add_argument("--users", type=int, default=50, help="virtual users of the seed scenario")
    parser.add_argument("--sockets", type=int, default=300, help="WebSocket subscribers")
    parser.add_argument("--hot-sockets", type=int, default=10,
                        help="of which subscribed to the project the load hammers (its every write fans out to them)")
    parser.add_argument("--side-projects", type=int, default=10)
    parser.add_argument("--side-writes", type=float, default=2.0, help="task creations per second on side projects")
    parser.add_argument("--client-procs", type=int, default=2)
    args = parser.parse_args()
    args.duration = max(args.duration, 3 * MINUTE)

    seed = prepare_database(args)
    metrics_dir = tempfile.mkdtemp(prefix="taskhub-soak-metrics-")
    http = Server("granian", args, metrics_dir)
    ws = Server("uvicorn", args, metrics_dir, nice=10)
    holder = None
    procs: list[mp.Process] = []
    try:
        token = seed["token"]
        side = [api(http.url, token, "POST", f"/api/v1/workspaces/{seed['workspace_id']}/projects",
                    {"name": f"Side {i}", "key": f"SIDE{i}"})["id"] for i in range(args.side_projects)]
        ready, stop, out = mp.Event(), mp.Event(), mp.Queue()
        spec = {"n": args.sockets, "hot_sockets": args.hot_sockets, "hot": seed["project_id"], "side": side,
                "http": ws.url, "ws": ws.url.replace("http", "ws"), "token": token}
        holder = mp.Process(target=_subscribers, args=(spec, ready, stop, out))
        holder.start()
        if not ready.wait(600):
            raise SystemExit("the subscribers did not connect")
        print(f"TaskHub soak: seed scenario, {args.users} users, {args.duration:.0f} s; API on granian, "
              f"WebSockets on uvicorn; {args.sockets} sockets + 1 checking ({args.hot_sockets} on the hammered "
              f"project, the rest on {len(side)} side projects with {args.side_writes:g} writes/s)", flush=True)

        samples: list[dict] = []
        side_errors = []
        done = threading.Event()
        started = time.time()

        def sampler():
            while not done.is_set():
                samples.append({
                    "t": time.time() - started,
                    "rss": {f"{server.name}:{pid}": rss_kib(pid) for server in (http, ws) for pid in server.pids()},
                    "pg": pg_connections(args.database_url), "redis": redis_clients(args.redis_url),
                })
                done.wait(10)

        def side_writer():
            rng = random.Random(1)
            while not done.is_set():
                try:
                    api(http.url, token, "POST", f"/api/v1/projects/{rng.choice(side)}/tasks", {"title": "side"})
                except Exception as exc:  # counted, and fails the soak
                    side_errors.append(repr(exc))
                done.wait(1 / args.side_writes)

        threads = [threading.Thread(target=sampler, daemon=True), threading.Thread(target=side_writer, daemon=True)]
        for thread in threads:
            thread.start()
        specs = [{"kind": "seed", "seed": seed, "base": http.url, "token": token, "users": n, "think": (0.1, 0.5),
                  "duration": args.duration, "worker": i}
                 for i, n in enumerate(split(args.users, args.client_procs))]
        out_records: mp.Queue = mp.Queue()
        procs = [mp.Process(target=_worker, args=(s, out_records)) for s in specs]
        for proc in procs:
            proc.start()
        records = [r for _ in procs for r in out_records.get(timeout=args.duration + 300)[0]]
        for proc in procs:
            proc.join()
        samples.append({
            "t": time.time() - started,
            "rss": {f"{server.name}:{pid}": rss_kib(pid) for server in (http, ws) for pid in server.pids()},
            "pg": pg_connections(args.database_url), "redis": redis_clients(args.redis_url),
        })
        done.set()
        stop.set()
        report = out.get(timeout=120)
        expected_last = api(http.url, token, "GET", f"/api/v1/projects/{seed['project_id']}/events?since=0&limit=1")
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
        if holder is not None:
            holder.join(timeout=30)
            if holder.is_alive():
                holder.kill()
        ws.stop()
        http.stop()
    return judge(args, records, samples, report, expected_last, side_errors, started)


def judge(args, records, samples, report, expected_last, side_errors, started) -> int:
    minutes = int(args.duration // MINUTE)
    print("\n| minute | requests | req/s | errors | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|")
    p99_by_minute = {}
    for minute in range(minutes):
        window = [r for r in records if minute * MINUTE <= r[4] - started < (minute + 1) * MINUTE]
        ok = [r[2] * 1000 for r in window if isinstance(r[1], int) and r[1] < 400]
        errors = len(window) - len(ok)
        p99_by_minute[minute + 1] = pct(ok, 99)
        print(f"| {minute + 1} | {len(window)} | {len(window) / MINUTE:.1f} | {errors} | {pct(ok, 50):.2f} | "
              f"{pct(ok, 95):.2f} | {pct(ok, 99):.2f} |")
    failures = []
    errors = [r for r in records if not (isinstance(r[1], int) and r[1] < 400)]
    if errors or side_errors:
        kinds = sorted({(r[0], str(r[1])) for r in errors})
        failures.append(f"{len(errors)} failed requests {kinds[:10]}, {len(side_errors)} failed side writes")

    after_first = [s for s in samples if s["t"] >= MINUTE]
    base, end = after_first[0], samples[-1]
    print("\n| server process | RSS after 1 min MiB | RSS at the end MiB | growth |")
    print("|---|---|---|---|")
    for name, first in base["rss"].items():
        last = end["rss"].get(name)
        if first is None or last is None:
            failures.append(f"{name} disappeared during the run")
            continue
        growth = (last - first) / first * 100
        print(f"| {name} | {first / 1024:.1f} | {last / 1024:.1f} | {growth:+.1f}% |")
        if growth >= 10:
            failures.append(f"{name}: memory grew {growth:.1f}% after the first minute")
    pg = [s["pg"] for s in after_first]
    rc = [s["redis"] for s in after_first]
    print(f"\nPostgreSQL connections (every 10 s after the first minute): {pg}")
    print(f"Redis clients (same samples): {rc}")
    if pg[-1] > pg[0] + 2 or max(pg) > pg[0] + 4:
        failures.append(f"PostgreSQL connections grew: {pg[0]} -> {pg[-1]} (max {max(pg)})")
    if rc[-1] > rc[0] + 2 or max(rc) > rc[0] + 4:
        failures.append(f"Redis clients grew: {rc[0]} -> {rc[-1]} (max {max(rc)})")

    second, last_p99 = p99_by_minute.get(2), p99_by_minute.get(minutes)
    drift = (last_p99 / second - 1) * 100
    print(f"p99 in minute 2: {second:.2f} ms; in minute {minutes}: {last_p99:.2f} ms ({drift:+.1f}%)")
    if last_p99 > second * 1.2:
        failures.append(f"p99 grew {drift:.1f}% from minute 2 to minute {minutes}")

    logged = expected_last["latest_seq"]
    got = report["events"]
    expected = logged - report["first_seq"]
    print(f"Checking socket: {got} events received of {expected} logged after it subscribed, "
          f"{report['out_of_order']} out of order or missing, {report['errors']} error frames; "
          f"sockets the server dropped: {report['dropped']} of {args.sockets + 1}")
    if got != expected or report["out_of_order"] or report["errors"]:
        failures.append("the checking socket missed events or got them out of order")
    if report["dropped"]:
        failures.append(f"{report['dropped']} sockets were closed by the server")
    print(f"\nRequests: {len(records)} in {args.duration:.0f} s ({len(records) / args.duration:.1f}/s), "
          f"{len(errors)} failed")
    if failures:
        print("\nSOAK FAILED:\n- " + "\n- ".join(failures))
        return 1
    print("\nSoak passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
