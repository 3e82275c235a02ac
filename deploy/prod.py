"""``make prod``: TaskHub's production set on one port, in the foreground, until Ctrl-C.

nginx on ``HOST:PORT`` (127.0.0.1:8000) in front of granian (WSGI: the REST API, the admin, the
docs, the board) and uvicorn (ASGI: ``/ws/``), with production settings (``DEBUG=0``) on the
PostgreSQL and Redis named by ``DATABASE_URL`` and ``REDIS_URL``. Before starting the servers it
applies migrations and, when the static files changed, runs ``collectstatic``; then honcho runs
``deploy/Procfile``, with nginx's configuration written from ``deploy/nginx.conf.template`` into a
private run folder (no system-wide nginx set-up). Ctrl-C (SIGINT) or SIGTERM stops every process
and removes that folder.

Settings, all from the environment: ``HOST``, ``PORT``, ``TASKHUB_WEB_WORKERS`` and
``TASKHUB_WEB_THREADS`` (granian), ``TASKHUB_WS_WORKERS`` (uvicorn), the defaults of which are
the counts measured best on this machine (README, Production setup), and any of the app's own
settings. ``SECRET_KEY`` unset gives a random one for this run (sessions then end with it), and
``SECURE_SSL_REDIRECT`` defaults to off since the port speaks plain HTTP: put TLS in front of it.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
if str(ROOT) not in sys.path:  # run as a script (deploy/prod.py): the settings are imported from the root
    sys.path.insert(0, str(ROOT))

# Best on this machine (2 vCPU), measured through nginx by `make bench BENCH_ARGS="--only prod"`: see the README.
WEB_WORKERS = 2
WEB_THREADS = 4
WS_WORKERS = 3

# nginx reaches the servers from this loopback address; TASKHUB_TRUSTED_PROXIES trusts it and only
# it, so a client connecting from 127.0.0.1 cannot forge its address with X-Forwarded-For.
PROXY_ADDRESS = "127.0.0.2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_descriptor_limit() -> int:
    """Soft open-files limit up to the hard one, as a production unit would (LimitNOFILE); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def render_nginx_conf(*, listen: str, run_dir: Path, static_root: Path, wsgi: list[str], asgi: list[str],
                      proxy_bind: str = PROXY_ADDRESS, nofile: int = 65536) -> str:
    """deploy/nginx.conf.template with its fields filled in; ``wsgi`` and ``asgi`` are ``host:port`` upstreams."""
    if os.geteuid() == 0:
        # nginx started by root hands its workers to ``user`` (nobody by default), who could not
        # read the private run folder: they run as the user who started it.
        user_line = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
    else:
        user_line = "# not started by root: the workers run as this user"
    fields = {
        "@USER_LINE@": user_line,
        "@NOFILE@": str(nofile),
        "@WORKER_CONNECTIONS@": str(max(1024, min(16384, nofile // 2))),
        "@RUN_DIR@": str(run_dir),
        "@LISTEN@": listen,
        "@PROXY_BIND@": proxy_bind,
        "@STATIC_ROOT@": str(static_root).rstrip("/"),
        "@WSGI_SERVERS@": "\n".join(f"        server {address};" for address in wsgi),
        "@ASGI_SERVERS@": "\n".join(f"        server {address};" for address in asgi),
    }
    text = (DEPLOY / "nginx.conf.template").read_text()
    for name, value in fields.items():
        text = text.replace(name, value)
    return text


def production_env(environ: dict) -> dict:
    """The environment every process of the set gets: production settings unless the caller chose otherwise."""
    env = dict(environ)
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not env.get(name)]
    if missing:
        raise SystemExit(
            f"make prod needs {' and '.join(missing)}: the processes share PostgreSQL and Redis, e.g.\n"
            "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/taskhub REDIS_URL=redis://127.0.0.1:6379/0 make prod")
    env.setdefault("DEBUG", "0")
    if not env.get("SECRET_KEY"):
        env["SECRET_KEY"] = secrets.token_urlsafe(50)
        print("prod: SECRET_KEY is not set; using a random one for this run (sessions end with it)", flush=True)
    env.setdefault("SECURE_SSL_REDIRECT", "0")
    # nginx's own address is always trusted (every request comes from it); any the caller names
    # (a load balancer in front of this port) are trusted as well.
    named = env.get("TASKHUB_TRUSTED_PROXIES", "").strip(" ,")
    env["TASKHUB_TRUSTED_PROXIES"] = f"{PROXY_ADDRESS}, {named}" if named else PROXY_ADDRESS
    env.setdefault("TASKHUB_WEB_WORKERS", str(WEB_WORKERS))
    env.setdefault("TASKHUB_WEB_THREADS", str(WEB_THREADS))
    env.setdefault("TASKHUB_WS_WORKERS", str(WS_WORKERS))
    env["DJANGO_SETTINGS_MODULE"] = "taskhub.settings"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def static_fingerprint() -> str:
    """A digest of every file the static finders see (name, size, mtime) and of the storage in use."""
    import django
    from django.conf import settings
    from django.contrib.staticfiles.finders import get_finders

    django.setup()
    digest = hashlib.sha256(settings.STORAGES["staticfiles"]["BACKEND"].encode())
    entries = []
    for finder in get_finders():
        for path, storage in finder.list(["CVS", ".*", "*~"]):
            stat = os.stat(storage.path(path))
            entries.append(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}")
    for entry in sorted(entries):
        digest.update(entry.encode() + b"\n")
    return digest.hexdigest()


def manage(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def prepare(env: dict) -> Path:
    """Migrate, collect the static files when they changed; returns STATIC_ROOT."""
    manage(env, "migrate", "--noinput", "-v", "1")
    os.environ.update(env)  # the settings below read the same environment as the servers
    from django.conf import settings

    static_root = Path(settings.STATIC_ROOT)
    stamp = static_root / ".taskhub-collected"
    fingerprint = static_fingerprint()
    if not stamp.exists() or stamp.read_text() != fingerprint:
        print(f"prod: collecting static files into {static_root}", flush=True)
        manage(env, "collectstatic", "--noinput", "-v", "0")
        stamp.write_text(fingerprint)
    return static_root


def announce_when_ready(url: str, upstreams: list[int], proc: subprocess.Popen, timeout: float = 120) -> None:
    """Print the address once the servers listen and the health check passes through nginx."""
    deadline = time.monotonic() + timeout
    for port in upstreams:  # (asking nginx before they listen would only log its connect errors)
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/api/v1/health", timeout=2) as reply:
                if reply.status == 200:
                    print(f"prod: TaskHub is serving on {url}/ (API docs {url}/api/v1/docs, admin {url}/admin/); "
                          "Ctrl-C stops it", flush=True)
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)


def main() -> int:
    host = os.environ.get("HOST") or "127.0.0.1"
    port = int(os.environ.get("PORT") or 8000)
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if nginx is None:
        raise SystemExit("make prod needs nginx (Debian: apt-get install nginx)")
    env = production_env(os.environ)
    nofile = raise_descriptor_limit()
    static_root = prepare(env)

    own_run_dir = not env.get("TASKHUB_RUN_DIR")
    run_dir = Path(env.get("TASKHUB_RUN_DIR") or tempfile.mkdtemp(prefix="taskhub-prod-"))
    (run_dir / "metrics").mkdir(parents=True, exist_ok=True)
    web_port, ws_port = int(env.get("TASKHUB_WEB_PORT") or free_port()), int(env.get("TASKHUB_WS_PORT") or free_port())
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    (run_dir / "nginx.conf").write_text(render_nginx_conf(
        listen=listen, run_dir=run_dir, static_root=static_root, wsgi=[f"127.0.0.1:{web_port}"],
        asgi=[f"127.0.0.1:{ws_port}"], nofile=nofile))
    env.update(
        TASKHUB_BIN=str(BIN), TASKHUB_NGINX=nginx, TASKHUB_RUN_DIR=str(run_dir), TASKHUB_WEB_PORT=str(web_port),
        TASKHUB_WS_PORT=str(ws_port), PROMETHEUS_MULTIPROC_DIR=str(run_dir / "metrics"),
    )
    checked = subprocess.run([nginx, "-t", "-q", "-e", "stderr", "-p", str(run_dir), "-c", str(run_dir / "nginx.conf")],
                             env=env, capture_output=True, text=True)
    if checked.returncode != 0:
        raise SystemExit(f"nginx refused the configuration in {run_dir}/nginx.conf:\n{checked.stderr}")

    print(f"prod: nginx on {listen}, granian {env['TASKHUB_WEB_WORKERS']} x {env['TASKHUB_WEB_THREADS']} on "
          f"127.0.0.1:{web_port}, uvicorn {env['TASKHUB_WS_WORKERS']} on 127.0.0.1:{ws_port}; run folder {run_dir}",
          flush=True)
    stopping = threading.Event()
    children: list[subprocess.Popen] = []

    def stop(signum, frame):
        # Ctrl-C reaches honcho too (same process group); a signal sent to this process alone is passed on.
        stopping.set()
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    honcho = subprocess.Popen([str(BIN / "honcho"), "start", "--no-colour", "-f", str(DEPLOY / "Procfile"),
                               "-d", str(ROOT), "-e", os.devnull], cwd=ROOT, env=env)
    children.append(honcho)
    if stopping.is_set():  # a signal came before honcho existed
        honcho.send_signal(signal.SIGTERM)
    threading.Thread(target=announce_when_ready, args=(f"http://{host}:{port}", [web_port, ws_port], honcho),
                     daemon=True).start()
    code = honcho.wait()
    if own_run_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
    # Asked to stop, and every process stopped: a clean exit. Otherwise a process died on its own.
    if stopping.is_set():
        print("prod: stopped", flush=True)
        return 0
    print(f"prod: a process exited on its own (honcho: {code}); every other one was stopped", flush=True)
    return code or 1


if __name__ == "__main__":
    sys.exit(main())
