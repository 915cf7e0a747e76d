"""The scale-out path for real: a Debian ``redis-server`` as the broker, a PostgreSQL server (Debian's,
a cluster made for the test) as the database, two Celery worker nodes (``celery -A
genrelens.jobs.celery_worker worker``, separate processes as on separate machines) and two stateless web
apps that share nothing but the broker and the database.

Workers are killed with SIGKILL mid-file, one pool process and then a whole node, and every file
still gets exactly one result.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import chord, clicks, make_app, write_audio
from genrelens.jobs.book import JobBook, NewFile
from genrelens.jobs.database import Database, analyses
from jobs_support import (file_rows, start_process, stop, stored_uploads, submit, wait_for_job, wait_for_temp_file,
                          wait_until_running, worker_env)
from test_live_server import free_port

VISIBILITY_TIMEOUT_S = 6  # a vanished node's messages go to another node after this
CLAIM_TIMEOUT_S = 20  # a claim not renewed this long has expired: the nodes look every 5 s


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    server = shutil.which("redis-server") or pytest.fail("redis-server is missing: `make system-deps` installs it")
    tmp = tmp_path_factory.mktemp("redis")
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", str(tmp)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    import redis

    client = redis.Redis(port=port)
    deadline = time.time() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.time() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL cluster on a free port (as the postgres user when the tests run as root:
    PostgreSQL refuses to run as root)."""
    initdb = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
    if initdb is None:
        pytest.fail("PostgreSQL is missing: `make system-deps` installs it")
    pg_ctl = str(Path(initdb).with_name("pg_ctl"))
    base = Path(tempfile.mkdtemp(prefix="genrelens-pg-"))
    as_owner = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", free_port()
    subprocess.run([*as_owner, str(initdb), "-D", str(data), "--auth=trust", "-U", "genrelens", "--no-sync"],
                   check=True, capture_output=True)
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_owner, pg_ctl, "-D", str(data), "-l", str(base / "server.log"), "-w", "-o", options, "start"],
                   check=True, capture_output=True)
    yield f"postgresql+psycopg://genrelens@127.0.0.1:{port}/postgres"
    subprocess.run([*as_owner, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


class Nodes:
    """Celery worker nodes, each a process group of its own (a node's pool processes die with it)."""

    def __init__(self, app, tmp: Path):
        self.app, self.tmp, self.processes = app, tmp, {}

    def start(self, name: str) -> None:
        command = [sys.executable, "-m", "celery", "-A", "genrelens.jobs.celery_worker", "worker", "--hostname", f"{name}@%h",
                   "--concurrency", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
        self.processes[name] = start_process(command, worker_env(self.app), self.tmp / f"{name}.log")

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.processes.values():
            stop(process)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, redis_url, postgres_url):
    tmp = tmp_path_factory.mktemp("celery")
    settings = {"BROKER_URL": redis_url, "DATABASE_URL": postgres_url, "JOB_VISIBILITY_TIMEOUT_S": VISIBILITY_TIMEOUT_S,
                "JOB_CLAIM_TIMEOUT_S": CLAIM_TIMEOUT_S}
    web_a = make_app(tmp, **settings)
    web_b = make_app(tmp / "web_b", **settings)  # a second web node: its own folders, the same broker and database
    nodes = Nodes(web_a, tmp)
    nodes.start("node1")
    nodes.start("node2")
    yield web_a, web_b, nodes
    nodes.stop_all()


@pytest.fixture(scope="module")
def files(audio_dir):
    broken = audio_dir / "celery-broken.flac"
    broken.write_bytes(b"fLaC" + bytes(300))
    return {
        "mp3": write_audio(audio_dir / "celery-chord.mp3", chord(8, seed=21)),
        "ogg": write_audio(audio_dir / "celery-clicks.ogg", clicks(8, seed=22)),
        "broken": broken,
        # four minutes, long enough to be caught mid-analysis; two, so the second is not answered from the database
        "long": write_audio(audio_dir / "celery-long.wav", chord(240, seed=23)),
        "long2": write_audio(audio_dir / "celery-long2.wav", chord(240, seed=24)),
    }


def analyses_named(app, filename: str) -> int:
    """How many analyses the database holds under this file name (a second finisher would add one)."""
    with Database(app.config["DATABASE_URL"]).read() as connection:
        return len(connection.execute(select(analyses.c.id).where(analyses.c.filename == filename)).all())


def test_a_job_sent_to_one_web_node_is_analysed_by_celery_workers_and_served_by_another(cluster, files):
    web_a, web_b, _ = cluster
    assert web_a.config["DATABASE_URL"].startswith("postgresql") and not web_a.extensions["genre"]["database"].is_sqlite
    response = submit(web_a.test_client(), [files["mp3"], files["broken"], files["ogg"]])
    assert response.status_code == 202
    view = wait_for_job(web_b.test_client(), response.get_json()["id"])
    assert [f["status"] for f in view["files"]] == ["done", "failed", "done"]
    assert view["files"][1]["error"]["code"] == "unsupported_media"
    done = view["files"][0]
    picture = web_b.test_client().get(f"/analyses/{done['analysis_id']}/waveform.png")
    assert picture.status_code == 200 and picture.mimetype == "image/png"
    assert web_a.test_client().get(done["url"]).get_json()["genre"] == done["genre"]
    assert stored_uploads(web_a) == 0
    claimed = {row.claimed_by for row in file_rows(web_a, view["id"])}
    assert all(name and ":" in name for name in claimed)


def test_a_pool_process_killed_mid_file_gives_its_file_back(cluster, files):
    web_a, _, _ = cluster
    client = web_a.test_client()
    job = submit(client, [files["long"], files["mp3"]]).get_json()
    victim = wait_until_running(web_a, job["id"], 0)
    left = wait_for_temp_file(Path(web_a.config["UPLOAD_DIR"]), victim)
    os.kill(victim, signal.SIGKILL)
    view = wait_for_job(client, job["id"])
    assert [f["status"] for f in view["files"]] == ["done", "done"]
    deadline = time.time() + 60  # the node's replacement process removes the killed one's temp file when it starts
    while left.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert not left.exists()
    # redone, one result: how often it was taken depends on redelivery timing on a busy machine, not on us
    assert file_rows(web_a, job["id"])[0].attempts >= 2
    assert analyses_named(web_a, files["long"].name) == 1


def test_a_whole_node_killed_mid_file_has_its_file_redone_by_the_other_node(cluster, files):
    web_a, _, nodes = cluster
    client = web_a.test_client()
    job = submit(client, [files["long2"], files["ogg"]]).get_json()
    victim_pid = wait_until_running(web_a, job["id"], 0)
    node = next(name for name, process in nodes.processes.items() if os.getpgid(victim_pid) == process.pid)
    nodes.kill(node)
    view = wait_for_job(client, job["id"], timeout_s=120)
    assert [f["status"] for f in view["files"]] == ["done", "done"]
    rows = file_rows(web_a, job["id"])
    assert rows[0].attempts >= 2 and rows[0].claimed_by.rpartition(":")[2] != str(victim_pid)
    assert analyses_named(web_a, files["long2"].name) == 1
    nodes.start(node)


def test_a_node_resends_a_file_whose_claim_from_a_vanished_machine_expired(cluster, files):
    """A machine took the file an hour ago and vanished with its message: the nodes' housekeeping puts the
    file back in the queue with a new message, and it is done once."""
    web_a, _, _ = cluster
    job_id, (file_id,) = web_a.extensions["genre"]["book"].create(
        [NewFile.from_bytes("vanished.mp3", files["mp3"].read_bytes())], None)  # in the book, never sent to the queue
    hour_ago = JobBook(Database(web_a.config["DATABASE_URL"]), 100, CLAIM_TIMEOUT_S, clock=lambda: time.time() - 3600)
    assert hour_ago.claim("vanished-machine:1", file_id) is not None
    view = wait_for_job(web_a.test_client(), job_id, timeout_s=120)
    assert view["files"][0]["status"] == "done"
    row = file_rows(web_a, job_id)[0]
    assert row.attempts == 2 and not row.claimed_by.startswith("vanished-machine:")
    assert analyses_named(web_a, "vanished.mp3") == 1


def test_a_broker_that_cannot_be_reached_is_a_503_and_leaves_no_job(tmp_path, files):
    app = make_app(tmp_path, BROKER_URL=f"redis://127.0.0.1:{free_port()}/0")
    response = submit(app.test_client(), [files["mp3"]])
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "queue_unavailable"
    assert "Retry-After" in response.headers
    assert app.extensions["genre"]["book"].waiting() == 0 and stored_uploads(app) == 0


def test_two_web_nodes_adding_jobs_at_once_never_pass_the_queue_bound(postgres_url):
    """PostgreSQL: node A has counted the files waiting and is about to add its job when node B counts.
    Counted apart, both would see room for one more file and both add one. A waits until B has counted
    or is waiting for A's lock (seen in pg_stat_activity): the interleaving is forced, not hoped for."""
    import threading

    import sqlalchemy
    from sqlalchemy import create_engine, event

    from genrelens.jobs.book import QueueFull

    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql("DROP DATABASE IF EXISTS race")
        connection.exec_driver_sql("CREATE DATABASE race")
    url = postgres_url.rsplit("/", 1)[0] + "/race"
    books = {name: JobBook(Database(url), queue_limit=1) for name in ("a", "b")}
    b_counted = threading.Event()

    def b_waits_or_counted() -> bool:
        with admin.connect() as connection:
            waiting = connection.execute(sqlalchemy.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'race' AND wait_event_type = 'Lock'")).scalar()
        return b_counted.is_set() or waiting > 0

    @event.listens_for(books["a"].db.engine, "before_cursor_execute")
    def a_before_adding(conn, cursor, statement, *_):
        if statement.startswith("INSERT INTO jobs"):
            deadline = time.time() + 60
            while not b_waits_or_counted() and time.time() < deadline:
                time.sleep(0.01)

    @event.listens_for(books["b"].db.engine, "after_cursor_execute")
    def b_after_counting(conn, cursor, statement, *_):
        if "count(" in statement and "job_files" in statement:
            b_counted.set()

    outcomes = {}

    def add(name: str) -> None:
        try:
            books[name].create([NewFile.from_bytes(f"{name}.mp3", b"x" * 100)], None)
            outcomes[name] = "added"
        except QueueFull:
            outcomes[name] = "queue_full"

    a_counting = threading.Event()

    @event.listens_for(books["a"].db.engine, "after_cursor_execute")
    def a_after_counting(conn, cursor, statement, *_):
        if "count(" in statement and "job_files" in statement:
            a_counting.set()

    first = threading.Thread(target=add, args=("a",))
    first.start()
    assert a_counting.wait(60)
    second = threading.Thread(target=add, args=("b",))
    second.start()
    first.join(120)
    second.join(120)
    assert sorted(outcomes.values()) == ["added", "queue_full"], outcomes
    assert books["a"].waiting() == 1
    for book in books.values():
        book.db.engine.dispose()
    admin.dispose()
