"""The real parts a scaled-out deployment runs beside its server processes, started by a test.

Each is a child process on 127.0.0.1 on a spare port with a configuration of
its own, so stopping or killing it disturbs nobody else on the machine:

- ``RedisServer``: a ``redis-server`` (nothing saved), killable and restartable
  on the same port; several make the channel layer's shards.
- ``PgBouncer``: Debian's ``pgbouncer`` in transaction mode in front of the
  test database.
- ``Nginx``: production's reverse proxy (deploy/'s configuration) on one
  port in front of a set of server processes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis

from tests.live.servers import free_port, wait_until

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _shared_dir(prefix: str) -> Path:
    """A fresh folder that an unprivileged daemon (pgbouncer as ``postgres``) can read."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


class RedisServer:
    """A throwaway ``redis-server``: nothing saved, not daemonized, killable, restartable on its port."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        wait_until(self._answers, timeout=10, what=f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited: {self.log_path.read_text()[-2000:]}")
        try:
            return redis.Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=0.2).ping()
        except redis.RedisError:
            return False

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=1)

    def subscribers(self, channel: str) -> int:
        with self.client() as client:
            return dict(client.pubsub_numsub(channel)).get(channel.encode(), 0)

    def channels(self, pattern: str = "*") -> list[str]:
        """The pub/sub channels someone is subscribed to here."""
        with self.client() as client:
            return sorted(name.decode() for name in client.pubsub_channels(pattern))

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class PgBouncer:
    """PgBouncer in transaction mode in front of one PostgreSQL database, on a port of its own.

    It serves a database of the same name, so a server's ``DATABASE_URL``
    only changes its port. PgBouncer refuses to run as root; started by root
    (CI's container) it drops to ``postgres`` (``-u``), so its files live in
    a folder that user can read. Authentication is ``trust`` like the
    PostgreSQL it fronts (the test cluster's loopback rule).
    """

    def __init__(self, host: str, port: int, dbname: str, user: str, pool_size: int = 10) -> None:
        self.target = (host, port, dbname, user)
        self.pool_size = pool_size
        self.port = free_port()
        self.dir = _shared_dir("taskhub-pgbouncer-")
        self.proc: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.dir / "pgbouncer.log"

    def url(self) -> str:
        host, port, dbname, user = self.target
        return f"postgres://{user}@127.0.0.1:{self.port}/{dbname}"

    def write_config(self) -> Path:
        host, port, dbname, user = self.target
        (self.dir / "users.txt").write_text(f'"{user}" ""\n')
        ini = self.dir / "pgbouncer.ini"
        ini.write_text("\n".join([
            "[databases]",
            f"{dbname} = host={host} port={port} dbname={dbname} user={user}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {self.dir / 'users.txt'}",
            f"admin_users = {user}",
            "pool_mode = transaction",
            f"default_pool_size = {self.pool_size}",
            "max_client_conn = 500",
            # psycopg sends none of these, other clients (psql) might.
            "ignore_startup_parameters = extra_float_digits",
            "",
        ]))
        for path in self.dir.iterdir():
            path.chmod(0o644)
        return ini

    def start(self) -> PgBouncer:
        if not os.path.exists(PGBOUNCER):
            pytest.fail("pgbouncer is not installed (Debian: apt-get install -y pgbouncer; .ci/run does it)")
        ini = self.write_config()
        cmd = [PGBOUNCER, str(ini)]
        if os.geteuid() == 0:
            cmd[1:1] = ["-u", "postgres"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._answers, timeout=15, what=f"pgbouncer on port {self.port}")
        return self

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"pgbouncer exited: {self.log_path.read_text()[-2000:]}")
        try:
            self.show("VERSION")
        except subprocess.CalledProcessError:
            return False
        return True

    def show(self, what: str) -> list[dict]:
        """``SHOW <what>`` on PgBouncer's admin console, as dicts (it speaks only the simple protocol: psql)."""
        out = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.target[3], "-d", "pgbouncer",
             "-X", "-A", "-F", "\t", "-P", "footer=off", "-c", f"SHOW {what}"],
            check=True, capture_output=True, text=True, timeout=10,
        ).stdout.splitlines()
        header = out[0].split("\t")
        return [dict(zip(header, line.split("\t"), strict=True)) for line in out[1:]]

    def transactions(self) -> int:
        """Transactions PgBouncer has carried for the database so far."""
        dbname = self.target[2]
        return sum(int(row["total_xact_count"]) for row in self.show("STATS") if row["database"] == dbname)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: immediate shutdown, server connections closed
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Nginx:
    """Production's nginx (deploy/nginx.conf.template, as ``make prod`` renders it) on one port.

    ``upstreams`` are ports of server processes on 127.0.0.1; they serve both of
    the template's upstreams (the ASGI processes here answer HTTP as well as
    ``/ws/``), so requests and sockets rotate over all of them, and one that
    refuses the connection (a killed process) is skipped for the next. nginx
    reaches them from ``PROXY_ADDRESS``, which the servers must trust
    (``TASKHUB_TRUSTED_PROXIES``) as in production.
    """

    def __init__(self, upstreams: list[int]) -> None:
        self.upstreams = upstreams
        self.port = free_port()
        self.dir = _shared_dir("taskhub-nginx-")
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.dir / "stderr.log"

    def write_config(self) -> Path:
        import resource

        from deploy.prod import render_nginx_conf

        static = self.dir / "static"
        static.mkdir()
        addresses = [f"127.0.0.1:{port}" for port in self.upstreams]
        conf = self.dir / "nginx.conf"
        conf.write_text(render_nginx_conf(listen=f"127.0.0.1:{self.port}", run_dir=self.dir, static_root=static,
                                          wsgi=addresses, asgi=addresses,
                                          nofile=resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
        return conf

    def start(self) -> Nginx:
        conf = self.write_config()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([NGINX, "-e", "stderr", "-p", str(self.dir), "-c", str(conf)], stdout=log,
                                         stderr=subprocess.STDOUT)
        wait_until(self._answers, timeout=15, what=f"nginx on port {self.port}")
        return self

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"nginx exited: {self.log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.base}/api/v1/health", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
