"""Sockets at scale (``make bench``, or ``make bench-sockets`` alone): 5 000 subscribed sockets.

The production set on this machine: ``make prod`` (deploy/prod.py: nginx on
one port, granian for the API, uvicorn with its workers at nice 10 for the
WebSockets, the worker counts it measured best), on PostgreSQL and Redis;
``--set direct`` starts granian and uvicorn on ports of their own instead, as
``bench/run.py`` does. Before anything starts, the descriptor limit is raised
the way a production unit raises it (systemd's ``LimitNOFILE=65536``; here
``resource.setrlimit(RLIMIT_NOFILE)``, which the servers and the clients
inherit): 5 000 sockets need 5 000 descriptors on the client side, twice that
in nginx, and as many spread over the server's workers, above the usual soft
limit of 1 024.

Then ``--sockets`` sockets open through the one port (nginx, then the kernel,
spread them over uvicorn's workers), each subscribed to one project, held
by ``--client-procs`` client processes at the lowest CPU priority (they stand
for browsers on other machines). Once every socket is subscribed, writes go to
the watched project at ``--rate`` per second, each paired with a write to a
project nobody watches, half-way between two watched ones.

Reported:
- that every socket received every event, once, in ``seq`` order;
- delivery: for each write, from its response to the moment the *last* of the
  sockets had the event (p50/p99), and the same for the median socket;
- the watched writes' p50 beside the unwatched ones' (target: within 10%);
- memory per socket: the WebSocket server's RSS (all its processes) after the
  sockets connected minus before, divided by the sockets, and the sockets and
  RSS per worker;
- the CPU each part used during the writes, to say where the time went.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.run import (  # noqa: E402
    PY,
    ROOT,
    Server,
    _cpu_seconds,
    _pids_named,
    _timed_writes,
    free_port,
    pct,
    prepare_database,
    split,
)

DESCRIPTORS = 65536


class Part:
    """Some processes of the set under test, found again on each call (``pids``)."""

    def __init__(self, find) -> None:
        self.find = find

    def pids(self) -> list[int]:
        return self.find()


class ProdSet:
    """``make prod`` (deploy/prod.py) on a free port: nginx, granian and uvicorn with their measured worker counts.

    Started in a session of its own (Ctrl-C goes to that process group);
    the WebSocket server's among its descendants by their command line
    (uvicorn's master and the workers it spawns), the API's (granian) and
    nginx's likewise.
    """

    def __init__(self, args) -> None:
        import hashlib
        import subprocess

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkdtemp(prefix="taskhub-bench-")) / "prod.log"
        static = Path(tempfile.gettempdir()) / f"taskhub-static-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]}"
        env = dict(os.environ, DATABASE_URL=args.database_url, REDIS_URL=args.redis_url, PORT=str(self.port),
                   HOST="127.0.0.1", CACHE_KEY_PREFIX="bench", TASKHUB_REQUEST_LOG="0", LOG_LEVEL="WARNING",
                   STATIC_ROOT=str(static))
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen([PY, "deploy/prod.py"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 300
        while "prod: TaskHub is serving on" not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"make prod did not start: {self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        self.ws = Part(lambda: self._named("uvicorn", spawned=True))
        self.api = Part(lambda: self._named("granian"))
        self.nginx = Part(lambda: self._named("nginx"))

    def _session(self) -> dict[int, tuple[int, str]]:
        """Every descendant of deploy/prod.py: {pid: (parent, command line)} (honcho gives each its own session)."""
        every = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    every[int(entry.name)] = (int(fields[1]), cmd)
                except (OSError, ValueError):
                    continue
        found, frontier = {}, {self.proc.pid}
        while frontier:
            frontier = {pid for pid, (ppid, _) in every.items() if ppid in frontier and pid not in found}
            found.update({pid: every[pid] for pid in frontier})
        return found

    def _named(self, name: str, spawned: bool = False) -> list[int]:
        procs = self._session()
        named = {pid for pid, (_, cmd) in procs.items() if name in cmd and "honcho" not in cmd}
        if spawned:  # uvicorn's workers: multiprocessing children of its master
            named |= {pid for pid, (ppid, _) in procs.items() if ppid in named}
        return sorted(named)

    def stop(self) -> None:
        import signal
        import subprocess

        try:
            os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C
            self.proc.wait(timeout=60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


def raise_descriptor_limit(wanted: int = DESCRIPTORS) -> tuple[int, int]:
    """Raise RLIMIT_NOFILE as a production unit would (``LimitNOFILE``); returns (soft, hard) after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), max(hard, wanted)))
    except (ValueError, PermissionError):  # not privileged: as far as the hard limit allows
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(wanted, hard)), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# --- the socket holders (client processes) ----------------------------------------------------------------


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client-to-server frame (clients must mask; payloads under 64 KiB)."""
    import secrets

    size = len(payload)
    length = bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + size.to_bytes(2)
    mask = secrets.token_bytes(4)
    return bytes([0x80 | opcode]) + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class FrameReader:
    """Server-to-client WebSocket frames (never masked) out of a byte stream; text payloads only.

    A ping is answered with a pong through ``writer``: uvicorn pings every
    20 s and closes a socket whose pong does not come within 20 s more, so a
    client that ignores pings loses every socket about 40 s in.
    """

    def __init__(self, writer=None) -> None:
        self.buffer = bytearray()
        self.writer = writer

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        frames = []
        while True:
            buf = self.buffer
            if len(buf) < 2:
                break
            length = buf[1] & 0x7F
            offset = 2
            if length == 126:
                if len(buf) < 4:
                    break
                length, offset = int.from_bytes(buf[2:4]), 4
            elif length == 127:
                if len(buf) < 10:
                    break
                length, offset = int.from_bytes(buf[2:10]), 10
            if len(buf) < offset + length:
                break
            opcode = buf[0] & 0x0F
            if opcode == 0x1:
                frames.append(bytes(buf[offset:offset + length]))
            elif opcode == 0x9 and self.writer is not None:
                self.writer.write(_masked(0xA, bytes(buf[offset:offset + length])))
            elif opcode == 0x8:
                code = int.from_bytes(buf[offset:offset + 2]) if length >= 2 else None
                raise ConnectionError(f"the server closed the socket (code {code})")
            del self.buffer[:offset + length]
        return frames


async def _open(http: str, ws_port: int, token: str, subscribe: bytes, session) -> tuple:
    """A ticket, the RFC 6455 handshake by hand, one subscribe frame; returns (reader, writer, FrameReader)."""
    import base64
    import secrets

    async with session.post(f"{http}/api/v1/realtime/ticket", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 201, await r.text()
        ticket = (await r.json())["ticket"]
    reader, writer = await asyncio.open_connection("127.0.0.1", ws_port)
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    writer.write((f"GET /ws/?ticket={ticket} HTTP/1.1\r\nHost: 127.0.0.1:{ws_port}\r\n"
                  f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\nOrigin: {http}\r\n\r\n").encode())
    headers = await reader.readuntil(b"\r\n\r\n")
    assert headers.startswith(b"HTTP/1.1 101"), headers[:200]
    writer.write(_masked(0x1, subscribe))
    await writer.drain()
    return reader, writer, FrameReader(writer)


def _holder(spec: dict, ready, go_drain, out) -> None:
    """Hold ``spec["n"]`` sockets; report per seq when each socket got it, and any socket out of order."""
    os.nice(spec["nice"])

    async def main() -> dict:
        import aiohttp

        subscribe = json.dumps({"type": "subscribe", "project_id": spec["project_id"], "since": None}).encode()
        total = spec["n"]
        start: list[int | None] = [None] * total
        last: list[int | None] = [None] * total
        bad: list[str] = []
        # seq -> [sockets that got it, latest arrival, earliest arrival]; seq -> task id; arrivals for the median.
        per_seq: dict[int, list] = {}
        per_second: dict[int, int] = {}  # event frames received in each second (monotonic clock)
        task_of: dict[int, str] = {}
        arrivals: dict[int, list[float]] = {}
        subscribed = asyncio.Event()
        count_subscribed = 0
        closed = 0

        def gone(i: int) -> None:
            nonlocal closed
            if start[i] is None:  # closed before it was subscribed: no use waiting for it
                closed += 1
                if count_subscribed + closed == total:
                    subscribed.set()

        async def read(i: int, reader, frames: FrameReader) -> None:
            nonlocal count_subscribed
            while True:
                data = await reader.read(1 << 16)
                now = time.monotonic()
                if not data:
                    bad.append(f"socket {i} closed")
                    gone(i)
                    return
                try:
                    texts = frames.feed(data)
                except ConnectionError as exc:
                    bad.append(f"socket {i}: {exc}")
                    gone(i)
                    return
                for raw in texts:
                    frame = json.loads(raw)
                    kind = frame["type"]
                    if kind == "subscribed":
                        start[i] = last[i] = frame["seq"]
                        count_subscribed += 1
                        if count_subscribed + closed == total:
                            subscribed.set()
                        continue
                    if kind == "heartbeat" or "seq" not in frame:
                        continue
                    seq = frame["seq"]
                    second = int(now)
                    per_second[second] = per_second.get(second, 0) + 1
                    if last[i] is None or seq != last[i] + 1:
                        bad.append(f"socket {i}: seq {seq} after {last[i]}")
                    last[i] = seq
                    entry = per_seq.get(seq)
                    if entry is None:
                        per_seq[seq] = [1, now, now]
                        arrivals[seq] = [now]
                        if kind == "task_created":
                            task_of[seq] = frame["data"]["task"]["id"]
                    else:
                        entry[0] += 1
                        entry[1] = max(entry[1], now)
                        arrivals[seq].append(now)

        # Each socket is read from the moment it opens: the server pings every 20 s and closes a
        # socket that has not answered 20 s later, and opening thousands takes longer than that.
        sockets: list[tuple] = []
        readers = []
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as session:
            pending = total
            while pending:  # a few at a time: a real crowd does not arrive in one instant
                batch = min(pending, 16)
                opened = await asyncio.gather(*(_open(spec["http"], spec["ws_port"], spec["token"], subscribe,
                                                      session) for _ in range(batch)))
                for reader, writer, frames in opened:
                    readers.append(asyncio.create_task(read(len(sockets), reader, frames)))
                    sockets.append((reader, writer, frames))
                pending -= batch
        await asyncio.wait_for(subscribed.wait(), 600)
        if closed:
            raise SystemExit(f"{closed} sockets closed before they were subscribed: {bad[:5]}")
        ready.set()
        # Wait for the writes to end, then for the last event to reach every socket (or the deadline).
        while not go_drain.is_set():
            await asyncio.sleep(0.05)
        final = spec["final"].value
        deadline = time.monotonic() + spec["drain_seconds"]
        while time.monotonic() < deadline and any(seq is None or seq < final for seq in last):
            await asyncio.sleep(0.1)
        for task in readers:
            task.cancel()
        for _, writer, _ in sockets:
            writer.close()
        medians = {seq: sorted(times)[len(times) // 2] for seq, times in arrivals.items()}
        return {"n": len(sockets), "start": start, "last": last, "bad": bad[:20], "bad_count": len(bad),
                "per_seq": per_seq, "task_of": task_of, "medians": medians, "per_second": per_second}

    out.put(asyncio.run(main()))


# --- measuring the servers ---------------------------------------------------------------------------------


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _snapshot(server: Server) -> dict[int, tuple[int, int]]:
    return {pid: (_rss_kib(pid), _fds(pid)) for pid in server.pids()}


def _cpu(parts: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(_cpu_seconds(pid) for pid in pids) for name, pids in parts.items()}


# --- the scenario ------------------------------------------------------------------------------------------


def run(args) -> dict:
    was = resource.getrlimit(resource.RLIMIT_NOFILE)
    limits = raise_descriptor_limit()
    print(f"Descriptor limit raised as a production unit would (LimitNOFILE={DESCRIPTORS}; here "
          f"resource.setrlimit(RLIMIT_NOFILE) before anything starts): soft/hard {was[0]}/{was[1]} -> "
          f"{limits[0]}/{limits[1]}" + ("" if limits[1] >= DESCRIPTORS else
                                        f" (this machine refuses a hard limit above {limits[1]})")
          + "; the servers and the clients inherit it")
    needed = args.sockets // max(1, args.client_procs) + 1024
    if limits[0] < needed:
        raise SystemExit(f"{limits[0]} descriptors per process is too few for {args.sockets} sockets")
    seed = prepare_database(args)
    metrics_dir = tempfile.mkdtemp(prefix="taskhub-metrics-")
    if args.set == "prod":
        prod = ProdSet(args)
        http, ws, front, extra_parts = prod, prod.ws, prod.port, {"nginx": prod.nginx.pids()}
        stop = [prod.stop]
        args.server, args.ws_server = "make prod (granian", "uvicorn, behind nginx)"
    else:
        http = Server(args.server, args, metrics_dir)
        ws = Server(args.ws_server, args, metrics_dir, nice=args.ws_nice)
        front, extra_parts = ws.port, {}
        stop = [ws.stop, http.stop]
    try:
        time.sleep(2)  # let the workers finish importing before the baseline
        before = _snapshot(ws)
        ready = [mp.Event() for _ in range(args.client_procs)]
        go_drain, out = mp.Event(), mp.Queue()
        final = mp.Value("q", 0)
        specs = [{"n": n, "http": http.url, "ws_port": front, "token": seed["token"],
                  "project_id": seed["project_id"], "final": final, "drain_seconds": args.drain,
                  "nice": args.client_nice}
                 for n in split(args.sockets, args.client_procs)]
        holders = [mp.Process(target=_holder, args=(spec, event, go_drain, out)) for spec, event in zip(specs, ready,
                                                                                                         strict=True)]
        opened = time.monotonic()
        for holder in holders:
            holder.start()
        for event in ready:
            if not event.wait(900):
                raise SystemExit("the sockets did not all subscribe")
        open_seconds = time.monotonic() - opened
        time.sleep(3)  # the consumers settle (first heartbeat reads, allocations) before the memory reading
        after = _snapshot(ws)

        api = http.api if args.set == "prod" else http
        parts = {"ws server": ws.pids(), "api server": api.pids(), **extra_parts, "postgres": _pids_named("postgres"),
                 "redis": _pids_named("redis-server"), "clients": [h.pid for h in holders]}
        cpu_before = _cpu(parts)
        db_before = _db_stats(args)
        queues: list[tuple[int, int]] = []
        sampling = threading.Event()
        sampler = threading.Thread(target=_sample_queues, args=(front, queues, sampling), daemon=True)
        started = time.monotonic()
        sampler.start()
        writes = asyncio.run(_timed_writes(http.url, seed["token"], [seed["project_id"], seed["quiet_project_id"]],
                                           args.writes, args.rate))
        wall = time.monotonic() - started
        sampling.set()
        sampler.join()
        cpu_used = {name: seconds - cpu_before[name] for name, seconds in _cpu(parts).items()}
        import urllib.request

        request = urllib.request.Request(f"{http.url}/api/v1/projects/{seed['project_id']}/events?limit=1",
                                         headers={"Authorization": f"Bearer {seed['token']}"})
        final.value = json.loads(urllib.request.urlopen(request).read())["latest_seq"]
        go_drain.set()
        reports = [out.get(timeout=args.drain + 120) for _ in holders]
        for holder in holders:
            holder.join(timeout=30)
        through_drain = time.monotonic() - started
        ws_cpu_total = _cpu({"ws": parts["ws server"]})["ws"] - cpu_before["ws server"]
        db_used = {k: v - db_before[k] for k, v in _db_stats(args).items()}
    finally:
        for stopping in stop:
            stopping()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    extra = {"started": started, "through_drain": through_drain, "ws_cpu_total": ws_cpu_total, "db": db_used,
             "queues": queues}
    return report(args, seed, writes, wall, cpu_used, reports, before, after, open_seconds, final.value, limits,
                  extra)


def _sample_queues(port: int, samples: list, stop: threading.Event) -> None:
    """Every 2 s: bytes the kernel holds for the sockets, unread by the clients (their Recv-Q) and unsent by the
    server (its sockets' Send-Q). The first growing means the clients fall behind, not the server."""
    import subprocess

    def total(column: int, side: str) -> int:
        out = subprocess.run(["ss", "-tnH", "state", "established", f"( {side} = :{port} )"], capture_output=True,
                             text=True).stdout
        return sum(int(line.split()[column]) for line in out.splitlines() if line.strip())

    while not stop.wait(2):
        samples.append((total(0, "dport"), total(1, "sport")))


def _db_stats(args) -> dict[str, int]:
    """The bench database's transactions and rows read so far (pg_stat_database)."""
    import subprocess

    db = args.database_url.rsplit("/", 1)[1]
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qAtF", " ", "-c",
                          "SELECT xact_commit, tup_returned, tup_fetched FROM pg_stat_database WHERE datname = "
                          f"'{db}'"], check=True, capture_output=True, text=True).stdout.split()
    return dict(zip(("transactions", "rows returned", "rows fetched"), map(int, out), strict=True))


def report(args, seed, writes, wall, cpu_used, reports, before, after, open_seconds, final, limits, extra) -> dict:
    watched = [w for w in writes if w[4] == seed["project_id"]]
    quiet = [w for w in writes if w[4] != seed["project_id"]]
    n = sum(r["n"] for r in reports)
    starts = {s for r in reports for s in r["start"]}
    start = min(starts)
    expected = final - start
    complete = sum(1 for r in reports for s, last in zip(r["start"], r["last"], strict=True)
                   if s == start and last == final)
    bad = sum(r["bad_count"] for r in reports)
    got: dict[int, int] = {}
    latest: dict[int, float] = {}
    task_of: dict[int, str] = {}
    for r in reports:
        task_of.update(r["task_of"])
        for seq, (count, last_at, _) in r["per_seq"].items():
            got[seq] = got.get(seq, 0) + count
            latest[seq] = max(latest.get(seq, 0.0), last_at)
    seq_of = {task: seq for seq, task in task_of.items()}
    # The median socket: the median over holders' medians (each holder's sockets are alike).
    median_at: dict[int, list[float]] = {}
    for r in reports:
        for seq, at in r["medians"].items():
            median_at.setdefault(seq, []).append(at)
    last_ms, median_ms, last_from_send_ms = [], [], []
    for task_id, sent, done, _elapsed, _project in watched:
        seq = seq_of.get(task_id)
        if seq is None or got.get(seq) != n:
            continue
        last_ms.append((latest[seq] - done) * 1000)
        last_from_send_ms.append((latest[seq] - sent) * 1000)
        median_ms.append((sorted(median_at[seq])[len(median_at[seq]) // 2] - done) * 1000)
    delivered_all = sum(1 for seq in range(start + 1, final + 1) if got.get(seq) == n)
    write_p50 = pct([w[3] * 1000 for w in watched], 50)
    quiet_p50 = pct([w[3] * 1000 for w in quiet], 50)
    rss_before = sum(rss for rss, _ in before.values())
    rss_after = sum(rss for rss, _ in after.values())
    per_socket_kib = (rss_after - rss_before) / max(1, n)
    workers = {pid: (after[pid][0] - before.get(pid, (0, 0))[0], after[pid][1] - before.get(pid, (0, 0))[1])
               for pid in after}

    print(f"\n### {n} subscribed sockets ({args.server} API, {args.ws_server} WebSockets at nice {args.ws_nice}; "
          f"descriptors soft {limits[0]}; {len(watched)} watched writes at {args.rate:g}/s, each paired with a "
          f"write to an unwatched project; {wall:.0f} s)")
    print("| sockets | opened in s | events | every socket got every event once, in order | sockets out of order "
          "or missing | events that reached all sockets |")
    print("|---|---|---|---|---|---|")
    print(f"| {n} | {open_seconds:.0f} | {expected} | {complete == n and bad == 0} ({complete}/{n} complete) | {bad} "
          f"| {delivered_all}/{expected} |")
    print("\n| delivery, write response -> event | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|")
    print(f"| last of {n} sockets | {pct(last_ms, 50):.1f} | {pct(last_ms, 99):.1f} | "
          f"{max(last_ms, default=float('nan')):.1f} |")
    print(f"| median socket | {pct(median_ms, 50):.1f} | {pct(median_ms, 99):.1f} | "
          f"{max(median_ms, default=float('nan')):.1f} |")
    print(f"| last socket, from the write's request | {pct(last_from_send_ms, 50):.1f} | "
          f"{pct(last_from_send_ms, 99):.1f} | {max(last_from_send_ms, default=float('nan')):.1f} |")
    print("\n| writes | n | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    print(f"| watched project ({n} subscribers) | {len(watched)} | {write_p50:.2f} | "
          f"{pct([w[3] * 1000 for w in watched], 99):.2f} |")
    print(f"| unwatched project (paired) | {len(quiet)} | {quiet_p50:.2f} | "
          f"{pct([w[3] * 1000 for w in quiet], 99):.2f} |")
    ratio = (write_p50 / quiet_p50 - 1) * 100
    verdict = "met" if abs(ratio) <= 10 else "missed"
    print(f"watched against unwatched p50: {ratio:+.1f}% (target within 10%: {verdict})")
    print(f"\nMemory: WebSocket server RSS {rss_before / 1024:.0f} MiB before the sockets, {rss_after / 1024:.0f} MiB "
          f"after: {per_socket_kib:.1f} KiB per socket")
    print("| process | sockets (descriptors added) | RSS added MiB | RSS after MiB |")
    print("|---|---|---|---|")
    for pid, (rss_added, fds_added) in sorted(workers.items()):
        print(f"| {pid} | {fds_added} | {rss_added / 1024:.1f} | {after[pid][0] / 1024:.0f} |")
    cores = ", ".join(f"{name} {seconds / wall:.2f}" for name, seconds in cpu_used.items())
    print(f"\nCPU during the writes (cores): {cores}; total {sum(cpu_used.values()) / wall:.2f} of {os.cpu_count()}")
    received = sum(sum(r["per_second"].values()) for r in reports)
    needed = expected * n
    print(f"Event frames received: {received} of {needed} ({received / max(1, needed) * 100:.1f}%) in "
          f"{extra['through_drain']:.0f} s (writes and drain); needed {needed / wall:.0f}/s during the writes")
    print(f"WebSocket server CPU over writes and drain: {extra['ws_cpu_total']:.1f} s, "
          f"{extra['ws_cpu_total'] / max(1, received) * 1e6:.0f} us per frame received")
    seconds: dict[int, int] = {}
    for r in reports:
        for second, count in r["per_second"].items():
            seconds[second] = seconds.get(second, 0) + count
    if seconds:
        first = int(extra["started"])
        timeline = " ".join(f"{seconds.get(t, 0)}" for t in range(first, max(seconds) + 1))
        print(f"Event frames received per second, from the first write: {timeline}")
    if extra["queues"]:
        unread = [u for u, _ in extra["queues"]]
        unsent = [q for _, q in extra["queues"]]
        print(f"Bytes queued in the kernel during the writes (every 2 s, KiB): unread by the clients "
              f"{' '.join(str(u // 1024) for u in unread)}; unsent by the server "
              f"{' '.join(str(q // 1024) for q in unsent)}")
    print("Database during writes and drain: " + ", ".join(f"{k} {v}" for k, v in extra["db"].items())
          + f" (the writes alone are {len(writes)} transactions)")
    sys.stdout.flush()
    return {"sockets": n, "events": expected, "complete": complete, "bad": bad, "delivered_all": delivered_all,
            "last_p50": pct(last_ms, 50), "last_p99": pct(last_ms, 99), "median_p50": pct(median_ms, 50),
            "median_p99": pct(median_ms, 99), "write_p50": write_p50, "quiet_p50": quiet_p50, "ratio_pct": ratio,
            "rss_before_kib": rss_before, "rss_after_kib": rss_after, "per_socket_kib": per_socket_kib,
            "workers": workers, "cpu_cores": {k: v / wall for k, v in cpu_used.items()}, "open_seconds": open_seconds,
            "frames_received": received, "frames_needed": needed, "ws_cpu_total": extra["ws_cpu_total"],
            "db": extra["db"], "per_second": [seconds.get(t, 0) for t in range(int(extra["started"]),
                                                                               max(seconds, default=0) + 1)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/taskhub_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--set", default="prod", choices=["prod", "direct"],
                        help="prod: make prod's set behind nginx; direct: --server and --ws-server on their own ports")
    parser.add_argument("--server", default="granian", help="HTTP server for the API (bench/run.py SERVERS)")
    parser.add_argument("--ws-server", default="uvicorn", help="WebSocket server (bench/run.py SERVERS)")
    parser.add_argument("--ws-nice", type=int, default=10)
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--client-procs", type=int, default=4, help="processes holding the sockets")
    parser.add_argument("--writes", type=int, default=120, help="writes to each project")
    parser.add_argument("--rate", type=float, default=2, help="writes per second to the watched project")
    parser.add_argument("--client-nice", type=int, default=19,
                        help="CPU niceness of the socket holders (they stand for browsers on other machines)")
    parser.add_argument("--drain", type=float, default=60, help="seconds the last events may take to arrive")
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f"TaskHub sockets benchmark, {started}, {os.cpu_count()} CPUs; PostgreSQL + Redis on this machine; "
          f"load average {os.getloadavg()[0]:.2f} (other work on the machine shows here)")
    result = run(args)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"sockets-{started.replace(':', '')}.json"
    path.write_text(json.dumps({"started": started, "args": vars(args), "result": result}, indent=1, default=str))
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}; results written to {path.relative_to(ROOT)}")
    if result["complete"] != result["sockets"] or result["bad"]:
        raise SystemExit("some sockets missed events or got them out of order")


if __name__ == "__main__":
    main()
