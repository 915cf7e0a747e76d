"""The service as it is deployed, and what runs beside it: gunicorn from the Procfile, redis-server,
PostgreSQL, Celery worker nodes and the library tagger, each a ``Process`` on loopback with its own folders."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .client import http_request
from .processes import ROOT, BenchError, Process, children, cpu_seconds

VENV_BIN = Path(sys.executable).parent
# Where a service keeps things and whom it talks to: every server a bench starts gets its own (a store it
# shared with an earlier run would answer known audio from its database), never the caller's.
PLACES = ("PORT", "ANALYSIS_DIR", "UPLOAD_DIR", "DATABASE_URL", "BROKER_URL")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_env(extra: dict | None = None) -> dict:
    """The caller's environment (service settings such as DEFAULT_MODEL or WEB_CONCURRENCY pass through)
    without ``PLACES``, with unbuffered Python output, and ``extra`` on top."""
    env = {key: value for key, value in os.environ.items() if key not in PLACES}
    return env | {"PYTHONUNBUFFERED": "1"} | (extra or {})


def procfile_command(env: dict, port: int, procfile: Path = ROOT / "Procfile", kind: str = "web") -> list[str]:
    """The Procfile's ``kind:`` command as its words after ``sh`` expanded them with ``env`` (as a Procfile
    runner does: ``${WEB_CONCURRENCY:-2}`` and the like), bound to 127.0.0.1:``port``, the program taken
    from this Python's environment when it is there (the venv's gunicorn)."""
    line = next((l for l in procfile.read_text().splitlines() if l.startswith(f"{kind}:")), None)
    if line is None:
        raise BenchError(f"{procfile} has no {kind}: line")
    command = line.split(":", 1)[1].strip().removeprefix("exec ")
    if any(set(token) <= set("();<>|&") for token in shlex.shlex(command, posix=True, punctuation_chars=True)):
        raise BenchError(f"{procfile}'s {kind}: line is not one command (sh would run more): {command}")
    words = subprocess.run(["/bin/sh", "-c", f'set -- {command}; printf "%s\\0" "$@"'], env=env | {"PORT": str(port)},
                           capture_output=True, check=True, timeout=30).stdout.decode()
    args = loopback(words.split("\0")[:-1], port)
    program = VENV_BIN / args[0]
    return [str(program) if program.exists() else args[0], *args[1:]]


def loopback(args: list[str], port: int) -> list[str]:
    """gunicorn's arguments with its bind address made 127.0.0.1:``port`` (added when there is none)."""
    address = f"127.0.0.1:{port}"
    out, bound = list(args), False
    for i, arg in enumerate(out):
        if arg in ("-b", "--bind") and i + 1 < len(out):
            out[i + 1], bound = address, True
        elif arg.startswith("--bind="):
            out[i], bound = f"--bind={address}", True
        elif arg.startswith("-b") and len(arg) > 2 and not arg.startswith("--"):
            out[i], bound = f"-b{address}", True
    return out if bound else [*out, "--bind", address]


class WebServer(Process):
    """gunicorn as the Procfile starts it, with ``workdir/store`` as ANALYSIS_DIR, ``workdir/uploads`` as
    UPLOAD_DIR, the database there (SQLite) unless ``database_url`` names another, ``broker_url`` for
    Celery, ``env`` on top of the caller's environment and ``extra_args`` right after the program; its log
    is ``workdir/web.log``."""

    def __init__(self, workdir: Path, name: str = "web", env: dict | None = None, database_url: str | None = None,
                 broker_url: str | None = None, extra_args: list[str] | tuple[str, ...] = (), grace_s: float = 75.0):
        self.workdir, self.port = workdir, free_port()
        self.store, self.uploads = workdir / "store", workdir / "uploads"
        for folder in (self.store, self.uploads):  # private: the service refuses a database folder others may open
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        places = {"ANALYSIS_DIR": str(self.store), "UPLOAD_DIR": str(self.uploads)}
        places |= {"DATABASE_URL": database_url} if database_url else {}
        places |= {"BROKER_URL": broker_url} if broker_url else {}
        full_env = bench_env(places | (env or {}) | {"PORT": str(self.port)})
        command = procfile_command(full_env, self.port)
        super().__init__(name, [command[0], *extra_args, *command[1:]], full_env, workdir / "web.log", grace_s)
        self.health: dict = {}

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file of the service's database (its -wal beside it); None on another database."""
        url = self.env.get("DATABASE_URL")
        if url is None:
            return self.store / "genrelens.sqlite3"  # genrelens.settings.database_url's default
        return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None

    def wait_healthy(self, timeout_s: float = 120, poll_s: float = 0.02) -> float:
        """Seconds from process start until ``GET /healthz`` answered 200 (its JSON is kept in ``health``)."""
        answered = 0.0

        def healthy() -> dict | None:
            nonlocal answered
            status, data, _ = http_request(self.port, "GET", "/healthz", timeout=10)
            answered = time.perf_counter() - self.started_at
            return json.loads(data) if status == 200 else None

        self.health = self.wait_until(healthy, timeout_s, "/healthz not 200", poll_s, (OSError, ValueError))
        return answered

    def workers(self) -> list[int]:
        """The master's children: the web workers (and the embedded job pool, when JOB_WORKERS is not 0)."""
        return children(self.pid) if self.process else []

    def cpu(self) -> float:
        """CPU seconds of the master's children (and their reaped children, ffmpeg)."""
        return sum(cpu_seconds(pid) for pid in self.workers())

    def places(self) -> dict:
        """The settings another process needs to share this server's storage, database and broker."""
        return {key: self.env[key] for key in PLACES if key != "PORT" and key in self.env}


class RedisServer(Process):
    """``redis-server`` on a free loopback port, no persistence, its files in ``workdir``."""

    def __init__(self, workdir: Path):
        server = shutil.which("redis-server")
        if not server:
            raise BenchError("redis-server is missing (`make system-deps` installs it)")
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        command = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(workdir)]
        super().__init__("redis-server", command, bench_env(), workdir / "redis.log", grace_s=20)

    def wait_ready(self, timeout_s: float = 20) -> str:
        """Until it answers PING; returns its URL."""
        import redis

        client = redis.Redis(port=self.port, socket_timeout=2)
        self.wait_until(client.ping, timeout_s, "no answer to PING", not_yet=(redis.ConnectionError,))
        return self.url

    @staticmethod
    def version() -> str:
        try:
            return subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                                  timeout=10).stdout.split()[2].removeprefix("v=")
        except (OSError, subprocess.SubprocessError, IndexError):
            return "?"


class PostgresServer(Process):
    """A throwaway PostgreSQL cluster (Debian's binaries) on a free loopback port, no fsync; run as the
    ``postgres`` user when the bench runs as root (PostgreSQL refuses root). Its data lives in a temp dir of
    its own, removed when it stops; its log is ``workdir/postgres.log``."""

    stop_signal = signal.SIGINT  # PostgreSQL's fast shutdown

    def __init__(self, workdir: Path):
        initdb = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
        if initdb is None:
            raise BenchError("PostgreSQL is missing (`make system-deps` installs it)")
        self.initdb, self.port = str(initdb), free_port()
        self.base = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        self.as_owner = []
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgresql+psycopg://bench@127.0.0.1:{self.port}/postgres"
        command = [*self.as_owner, str(Path(initdb).with_name("postgres")), "-D", str(self.base / "data"),
                   "-p", str(self.port), "-k", str(self.base), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
        super().__init__("postgres", command, bench_env(), workdir / "postgres.log", grace_s=30)

    def start(self) -> PostgresServer:
        done = subprocess.run([*self.as_owner, self.initdb, "-D", str(self.base / "data"), "--auth=trust",
                               "-U", "bench", "--no-sync"], capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise BenchError(f"initdb failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        super().start()
        return self

    def wait_ready(self, timeout_s: float = 30) -> str:
        """Until it takes a connection; returns its SQLAlchemy URL (``DATABASE_URL``)."""
        import psycopg

        def connects() -> bool:
            with psycopg.connect(host="127.0.0.1", port=self.port, user="bench", dbname="postgres", connect_timeout=2):
                return True

        self.wait_until(connects, timeout_s, "no connection taken", 0.2, (psycopg.OperationalError,))
        return self.url

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.base, ignore_errors=True)


def celery_node(web: WebServer, index: int, workdir: Path, concurrency: int = 1) -> Process:
    """A Celery worker node (``celery -A genrelens.jobs.celery_worker worker``) on ``web``'s broker, database
    and folders, as on a machine of its own."""
    command = [sys.executable, "-m", "celery", "-A", "genrelens.jobs.celery_worker", "worker", "--concurrency",
               str(concurrency), "--hostname", f"node{index}@%h", "--without-gossip", "--without-mingle",
               "--loglevel", "WARNING"]
    return Process(f"Celery node{index}", command, bench_env(web.places()), workdir / f"node{index}.log")


def tagger(folder: Path, out: Path, workers: int, workdir: Path) -> Process:
    """The library tagger on ``folder`` writing the CSV ``out`` (``python -m genrelens.library``), no server."""
    command = [sys.executable, "-m", "genrelens.library", str(folder), "--out", str(out), "--workers", str(workers)]
    return Process(f"library --workers {workers}", command, bench_env(), workdir / "library.log", grace_s=30)
