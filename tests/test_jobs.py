"""Batch jobs on the embedded backend: the API, the real pool of worker processes, a real SQLite file.

Each test's app has its own database; the pool (``python -m genrelens.jobs.pool``) is started by the test
as gunicorn starts it for ``make run``.
"""
from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from mutagen.id3 import ID3, TIT2
from sqlalchemy import select

from conftest import chord, clicks, make_app, noise, write_audio
from genrelens.jobs.book import JobBook
from genrelens.jobs.claims import Heartbeat
from genrelens.jobs.database import Database, analyses, results
from genrelens.results_csv import COLUMNS
from jobs_support import (file_rows, start_embedded_pool, stop, stored_uploads, submit, wait_for_job,
                          wait_for_temp_file, wait_until_running)


@pytest.fixture(scope="module")
def files(audio_dir):
    broken = audio_dir / "broken-job.mp3"
    broken.write_text("this is a text file, not audio\n")
    return {
        "mp3": write_audio(audio_dir / "job-chord.mp3", chord(8, seed=11)),
        "ogg": write_audio(audio_dir / "job-clicks.ogg", clicks(8, seed=12)),
        "silent": write_audio(audio_dir / "job-silent.wav", 0 * noise(6)),
        "broken": broken,
    }


@pytest.fixture(scope="module")
def long_wav(audio_dir):
    """Four minutes: long enough to be caught mid-analysis."""
    return write_audio(audio_dir / "job-long.wav", chord(240, seed=3))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """An app and its running pool (2 workers), sharing one database file."""
    tmp = tmp_path_factory.mktemp("jobs")
    app = make_app(tmp)
    pool = start_embedded_pool(app, tmp / "pool.log", workers=2)
    yield app, tmp
    stop(pool)


def test_a_job_answers_202_at_once_and_every_file_gets_its_result(served, files):
    app, _ = served
    client = app.test_client()
    order = [files["mp3"], files["broken"], files["ogg"], files["silent"]]
    response = submit(client, order)
    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"/jobs/{job['id']}" == job["url"]
    assert job["total"] == 4 and job["status"] in ("queued", "running")
    assert [f["filename"] for f in job["files"]] == [p.name for p in order]
    for answer in (response, client.get(job["url"]), client.get("/jobs/0123456789abcdef")):  # changing and private
        assert answer.headers["Cache-Control"] == "no-store"

    done = wait_for_job(client, job["id"])
    assert (done["done"], done["failed"], done["progress"]) == (2, 2, 1.0)
    good, broken, other, silent = done["files"]
    for entry in (good, other):
        assert entry["status"] == "done" and entry["error"] is None
        stored = client.get(entry["url"]).get_json()
        assert stored["id"] == entry["analysis_id"] and stored["genre"] == entry["genre"]
        assert entry["confidence"] == stored["confidence"]
        assert entry["genres"] == stored["genres"][:3]
        picture = client.get(stored["images"]["spectrogram"])
        assert picture.status_code == 200 and picture.mimetype == "image/png"
    assert broken["status"] == "failed" and broken["analysis_id"] is None
    assert broken["error"]["code"] == "unsupported_media"  # the synchronous upload's code and words
    assert silent["error"]["code"] == "silent"
    assert stored_uploads(app) == 0, "a job's files are deleted once analysed"


def test_results_csv_has_one_row_per_file_in_upload_order(served, files):
    app, _ = served
    client = app.test_client()
    job = submit(client, [files["ogg"], files["broken"]]).get_json()
    view = wait_for_job(client, job["id"])
    response = client.get(f"/jobs/{job['id']}/results.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Cache-Control"] == "no-store"
    assert f"genrelens-job-{job['id']}.csv" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert tuple(rows[0]) == COLUMNS
    assert [(r["filename"], r["status"]) for r in rows] == [(files["ogg"].name, "done"), (files["broken"].name, "failed")]
    assert rows[0]["genre"] == view["files"][0]["genre"] and float(rows[0]["confidence"]) == view["files"][0]["confidence"]
    assert rows[0]["analysis_id"] == view["files"][0]["analysis_id"]
    assert rows[1]["error_code"] == "unsupported_media" and rows[1]["genre"] == ""


def test_the_same_audio_is_answered_from_the_database_even_retagged(served, files, tmp_path):
    """The key is a hash of the decoded audio and the model version: new tags do not make new audio."""
    app, _ = served
    client = app.test_client()
    retagged = tmp_path / "retagged.mp3"
    shutil.copy(files["mp3"], retagged)
    tags = ID3()
    tags.add(TIT2(encoding=3, text="A new title"))
    tags.save(retagged)
    assert retagged.read_bytes() != files["mp3"].read_bytes()

    first = wait_for_job(client, submit(client, [files["mp3"]]).get_json()["id"])["files"][0]
    again = wait_for_job(client, submit(client, [retagged]).get_json()["id"])["files"][0]
    assert again["cached"] is True and again["analysis_id"] != first["analysis_id"]
    assert again["genres"] == first["genres"]
    sync = client.post("/file-upload", data={"file": (open(retagged, "rb"), "retagged.mp3")}).get_json()
    assert sync["cached"] is True and sync["filename"] == "retagged.mp3" and sync["genres"][:3] == first["genres"]
    assert client.get(first["url"]).get_json()["filename"] == files["mp3"].name  # each keeps its own name
    other_model = wait_for_job(client, submit(client, [files["mp3"]], query="?model=mfcc_cnn").get_json()["id"])["files"][0]
    assert other_model["cached"] is False
    assert result_keys(app, [first, again, other_model]) == ["mfcc_cnn", "musicnn", "musicnn"]


def result_keys(app, entries: list[dict]) -> list[str]:
    """The model of the result behind each analysis; two analyses of one result appear twice."""
    with Database(app.config["DATABASE_URL"]).read() as connection:
        rows = connection.execute(select(analyses.c.id, results.c.model_key, results.c.id.label("result_id"))
                                  .join(results, results.c.id == analyses.c.result_id)
                                  .where(analyses.c.id.in_([e["analysis_id"] for e in entries]))).all()
    assert len({row.result_id for row in rows}) == 2, "the retagged file and the sync upload share the first's result"
    return sorted(row.model_key.split("@")[0] for row in rows)


def test_a_worker_killed_mid_file_has_its_file_redone_and_each_file_gets_one_result(tmp_path, files, long_wav):
    app = make_app(tmp_path)
    client = app.test_client()
    pool = start_embedded_pool(app, tmp_path / "pool.log", workers=1)
    try:
        job = submit(client, [long_wav, files["ogg"]]).get_json()
        victim = wait_until_running(app, job["id"], 0)
        left = wait_for_temp_file(tmp_path / "uploads", victim)
        os.kill(victim, signal.SIGKILL)
        view = wait_for_job(client, job["id"])
    finally:
        stop(pool)
    assert [f["status"] for f in view["files"]] == ["done", "done"]
    rows = file_rows(app, job["id"])
    assert rows[0].attempts == 2 and rows[0].claimed_by != f"{socket.gethostname()}:{victim}"
    assert rows[1].attempts == 1
    with Database(app.config["DATABASE_URL"]).read() as connection:
        assert len(connection.execute(select(analyses.c.id)).all()) == 2, "exactly one analysis per file"
        assert len(connection.execute(select(results.c.id)).all()) == 2
    assert "any file it was analysing goes back to the queue" in (tmp_path / "pool.log").read_text()
    assert not left.exists() and list((tmp_path / "uploads").iterdir()) == [], "the killed worker's temp file is removed"


def test_a_restart_loses_nothing_queued_or_running(tmp_path, files):
    """Jobs are in the database: a new server and a new pool finish what an earlier one left, including
    a file its dead worker was analysing."""
    first = make_app(tmp_path)
    job = submit(first.test_client(), [files["mp3"], files["ogg"]]).get_json()
    dead = _exited_pid()
    book = first.extensions["genre"]["book"]
    assert book.claim(f"{socket.gethostname()}:{dead}") is not None  # a worker that died holding file 0

    again = make_app(tmp_path)  # a restarted server on the same database
    assert again.test_client().get(f"/jobs/{job['id']}").get_json()["running"] == 1
    pool = start_embedded_pool(again, tmp_path / "pool.log")
    try:
        view = wait_for_job(again.test_client(), job["id"])
    finally:
        stop(pool)
    assert [f["status"] for f in view["files"]] == ["done", "done"]
    assert "left running by an earlier pool back in the queue" in (tmp_path / "pool.log").read_text()


def _exited_pid() -> int:
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_full_queue_answers_503_with_retry_after(tmp_path, files):
    client = make_app(tmp_path, JOB_QUEUE_LIMIT=3, JOB_RETRY_AFTER_S=17).test_client()
    assert submit(client, [files["mp3"], files["ogg"]]).status_code == 202
    refused = submit(client, [files["mp3"], files["ogg"]])
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "17"
    assert refused.get_json()["error"]["code"] == "queue_full"
    assert submit(client, [files["mp3"]]).status_code == 202  # exactly up to the limit
    assert client.get("/healthz").get_json()["jobs"] == {"queue": "embedded", "queued": 3, "running": 0}


def test_bad_job_requests_are_clear_json_errors(tmp_path, files):
    client = make_app(tmp_path, JOB_MAX_FILES=2).test_client()
    cases = [
        (client.post("/jobs", data={}, content_type="multipart/form-data"), 400, "no_file"),
        (submit(client, [files["mp3"]], query="?model=nope"), 400, "unknown_model"),
        (submit(client, [files["mp3"]] * 3), 400, "too_many_files"),
        (client.get("/jobs/0123456789abcdef"), 404, "not_found"),
        (client.get("/jobs/../../etc"), 404, "not_found"),
        (client.get("/jobs/0123456789abcdef/results.csv"), 404, "not_found"),
    ]
    for response, status, code in cases:
        assert response.status_code == status and response.get_json()["error"]["code"] == code


def test_an_empty_file_fails_alone_at_once(tmp_path, files):
    client = make_app(tmp_path).test_client()
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    job = submit(client, [empty, files["mp3"]]).get_json()
    assert job["files"][0]["status"] == "failed" and job["files"][0]["error"]["code"] == "empty_file"
    assert job["files"][1]["status"] == "queued"


def book_with_clock(app, start: float | None = None) -> tuple[JobBook, list[float]]:
    """Another worker's view of the app's job book, on a clock the test moves (``now[0]``)."""
    now = [time.time() if start is None else start]
    book = JobBook(Database(app.config["DATABASE_URL"]), app.config["JOB_QUEUE_LIMIT"],
                   app.config["JOB_CLAIM_TIMEOUT_S"], clock=lambda: now[0])
    return book, now


def one_queued_file(tmp_path, path: Path):
    """An app (60-s claims) with a job of one file; a book on a clock the test moves; the file's analysis."""
    from genrelens.jobs.analyse import hear

    app = make_app(tmp_path, JOB_CLAIM_TIMEOUT_S=60)
    store, classifier = app.extensions["genre"]["store"], app.extensions["genre"]["classifier"]
    book, now = book_with_clock(app)
    job = submit(app.test_client(), [path]).get_json()
    return app, book, now, job, file_rows(app, job["id"])[0].id, lambda: hear(classifier, store, str(path), None)


def test_a_file_finished_twice_keeps_the_first_result_and_makes_one_analysis(tmp_path, files):
    """A worker that was only slow: its claim expired, another worker took the file, both finish it."""
    app, book, now, job, file_id, analyse = one_queued_file(tmp_path, files["mp3"])
    store = app.extensions["genre"]["store"]
    slow = book.claim("host-a:1", file_id)
    now[0] += 61
    redelivered = book.claim("host-b:2", file_id)  # the same file, taken again once the first claim expired
    assert slow and redelivered and redelivered.attempts == 2
    heard = analyse()
    assert book.finish(file_id, store, heard, files["mp3"].name) is True
    assert book.finish(file_id, store, heard, files["mp3"].name) is False
    with Database(app.config["DATABASE_URL"]).read() as connection:
        assert len(connection.execute(select(analyses.c.id)).all()) == 1
    assert book.claim("host-c:3", file_id) is None  # a third delivery finds it done
    assert stored_uploads(app) == 0


def test_a_claim_of_a_vanished_machine_expires_unless_renewed_and_its_file_is_redone_once(tmp_path, files):
    """Another hostname (a replaced container): no pid check can tell it is gone; its lease can."""
    app, book, now, job, file_id, analyse = one_queued_file(tmp_path, files["mp3"])
    store = app.extensions["genre"]["store"]
    assert book.claim("old-container:7", file_id).attempts == 1
    assert book.claim("new-container:7", file_id) is None, "a live claim is not taken over"
    for _ in range(3):  # the heartbeat keeps it: 45 s apart, 135 s in all, longer than the lease
        now[0] += 45
        assert book.requeue_expired() == [] and book.renew(file_id, "old-container:7")
    now[0] += 61  # the old container is gone: no heartbeat for longer than the lease
    assert not book.renew(file_id, "new-container:7"), "only the holder renews a claim"
    assert book.requeue_expired() == [file_id]
    assert book.requeue_expired() == []
    assert not book.renew(file_id, "old-container:7"), "a late heartbeat does not take the file back"
    again = book.claim("new-container:9")
    assert again.file_id == file_id and again.attempts == 2
    heard = analyse()
    assert book.finish(file_id, store, heard, files["mp3"].name) is True
    assert book.finish(file_id, store, heard, files["mp3"].name) is False  # the old one, had it come back
    view = app.test_client().get(f"/jobs/{job['id']}").get_json()
    assert view["status"] == "done" and view["files"][0]["analysis_id"]
    with Database(app.config["DATABASE_URL"]).read() as connection:
        assert len(connection.execute(select(analyses.c.id)).all()) == 1


def test_the_pool_redoes_a_file_whose_claim_from_another_machine_expired(tmp_path, files):
    app = make_app(tmp_path, JOB_CLAIM_TIMEOUT_S=60)
    job = submit(app.test_client(), [files["ogg"]]).get_json()
    hour_ago, _ = book_with_clock(app, start=time.time() - 3600)
    assert hour_ago.claim("vanished-container:1") is not None  # an hour ago, and never renewed since
    pool = start_embedded_pool(app, tmp_path / "pool.log")
    try:
        view = wait_for_job(app.test_client(), job["id"])
    finally:
        stop(pool)
    assert view["files"][0]["status"] == "done"
    row = file_rows(app, job["id"])[0]
    assert row.attempts == 2 and not row.claimed_by.startswith("vanished-container:")
    assert "claims expired" in (tmp_path / "pool.log").read_text()


def test_a_worker_renews_its_claim_while_it_analyses(tmp_path, long_wav):
    app = make_app(tmp_path, JOB_CLAIM_TIMEOUT_S=4)  # a heartbeat a second
    client = app.test_client()
    pool = start_embedded_pool(app, tmp_path / "pool.log")
    try:
        job = submit(client, [long_wav]).get_json()
        wait_until_running(app, job["id"], 0)
        first = file_rows(app, job["id"])[0]
        wait_for_job(client, job["id"], until=lambda view: view["status"] == "done"
                     or file_rows(app, job["id"])[0].claimed_at != first.claimed_at)
        row = file_rows(app, job["id"])[0]
        assert row.status == "running", "the file was done before its claim was ever renewed"
        assert row.claimed_by == first.claimed_by and row.claimed_at > first.claimed_at
        assert wait_for_job(client, job["id"])["files"][0]["status"] == "done"
    finally:
        stop(pool)


def test_a_heartbeat_renews_until_the_work_is_done_or_the_claim_is_lost():
    beats, lost = threading.Semaphore(0), threading.Event()
    with Heartbeat(lambda: beats.release() or True, interval_s=0.01):
        assert beats.acquire(timeout=60) and beats.acquire(timeout=60), "renewed again and again"

    def renew_once() -> bool:
        lost.set()
        return False  # another worker holds it now

    with Heartbeat(renew_once, interval_s=0.01) as heartbeat:
        assert lost.wait(60)
        heartbeat._thread.join(60)
        assert not heartbeat._thread.is_alive(), "no more renewals once the claim is someone else's"


def test_the_supervisor_restarts_a_dead_pool_and_health_says_so_while_it_is_down(tmp_path, monkeypatch):
    """A pool that keeps dying at once is restarted after 1, 2 ... s; one that ran a while at once."""
    import subprocess
    import sys

    from genrelens.jobs import supervision

    monkeypatch.setattr(supervision, "_current", None)
    now, started = [0.0], []

    def start(code: str = "raise SystemExit(3)") -> subprocess.Popen:
        started.append(subprocess.Popen([sys.executable, "-c", code]))
        return started[-1]

    supervisor = supervision.PoolSupervisor(start, lambda process: process.kill() or process.wait(),
                                            clock=lambda: now[0])
    client = make_app(tmp_path).test_client()
    assert supervisor.start()
    try:
        started[-1].wait()
        supervisor.check()  # (the supervisor's own thread may have looked first: the same answer)
        health = client.get("/healthz")
        assert health.status_code == 503 and health.get_json()["status"] == "degraded"
        problem = health.get_json()["problems"]["jobs"]
        assert f"pid {started[0].pid}" in problem and "exited with status 3" in problem and "in 1 s" in problem
        now[0] += 0.9
        supervisor.check()
        assert len(started) == 1, "not before its pause is over"
        now[0] += 0.2
        supervisor.check()
        assert len(started) == 2 and client.get("/healthz").get_json()["jobs"]["pool_restarts"] == 1
        assert client.get("/healthz").status_code == 200
        started[-1].wait()
        supervisor.check()
        assert "in 2 s" in client.get("/healthz").get_json()["problems"]["jobs"], "a growing pause"
        now[0] += 2.1
        supervisor._start = lambda: start("import time; time.sleep(600)")
        supervisor.check()
        assert len(started) == 3 and client.get("/healthz").status_code == 200
        now[0] += 3600  # an hour of work, then killed: restarted at once
        started[-1].kill()
        started[-1].wait()
        supervisor.check()
        assert len(started) == 4 and client.get("/healthz").status_code == 200
    finally:
        supervisor.stop()
    assert started[-1].poll() is not None, "the server's stop stops the pool"


def test_a_jobs_files_go_to_the_database_a_part_at_a_time_never_whole_in_memory(tmp_path):
    """Two 20-MB files: werkzeug spools each to a temp file, the book copies it to the database in parts."""
    import tracemalloc

    from werkzeug.test import EnvironBuilder

    app = make_app(tmp_path, MAX_UPLOAD_MB=64)
    sent = []
    for n in range(2):
        path = tmp_path / f"big{n}.wav"
        path.write_bytes(os.urandom(20 * 1024 * 1024))
        sent.append(path)
    handles = [open(path, "rb") for path in sent]
    try:
        form = {"file": [(handle, path.name) for handle, path in zip(handles, sent)]}
        environ = EnvironBuilder(path="/jobs", method="POST", data=form).get_environ()  # the body in a temp file
    finally:
        for handle in handles:
            handle.close()
    tracemalloc.start()
    try:
        response = app.test_client().open(environ)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 202, response.get_data(as_text=True)
    assert peak < 8 * 1024 * 1024, f"{peak / 1048576:.1f} MB held at once for 40 MB of files"
    book = app.extensions["genre"]["book"]
    for row, path in zip(file_rows(app, response.get_json()["id"]), sent):
        out = io.BytesIO()
        assert book.copy_upload(row.id, out) and out.getvalue() == path.read_bytes() and row.size == 20 * 1024 * 1024


def test_the_queue_is_bounded_in_bytes_too(tmp_path, files):
    sizes = files["mp3"].stat().st_size + files["ogg"].stat().st_size
    client = make_app(tmp_path, JOB_QUEUE_MB=(sizes + 1000) / 1048576, JOB_RETRY_AFTER_S=9).test_client()
    assert submit(client, [files["mp3"], files["ogg"]]).status_code == 202
    refused = submit(client, [files["silent"]])
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "9"
    assert refused.get_json()["error"]["code"] == "queue_full" and "MB" in refused.get_json()["error"]["message"]
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    assert submit(client, [empty]).status_code == 202  # no bytes to wait


def test_finished_jobs_and_old_analyses_are_dropped_after_their_time(tmp_path, files):
    """JOB_TTL_S after a job's last file, it goes; RESULT_TTL_S after an analysis, it goes, and a result
    with it when no analysis names it any more. A clock the test moves."""
    from genrelens.jobs.analyse import hear
    from genrelens.jobs.housekeeping import Housekeeping

    app = make_app(tmp_path, JOB_TTL_S=3600, RESULT_TTL_S=7200)
    client = app.test_client()
    genre = app.extensions["genre"]
    book, store, classifier = genre["book"], genre["store"], genre["classifier"]
    now = [time.time()]
    book.clock = store.clock = lambda: now[0]
    finished = submit(client, [files["mp3"], files["broken"]]).get_json()
    done_id, broken_id = (row.id for row in file_rows(app, finished["id"]))
    for file_id in (done_id, broken_id):
        book.claim("host:1", file_id)
    book.finish(done_id, store, hear(classifier, store, str(files["mp3"]), None), files["mp3"].name)
    book.fail(broken_id, "unsupported_media", "not audio")
    analysis = client.get(f"/jobs/{finished['id']}").get_json()["files"][0]["url"]
    waiting = submit(client, [files["ogg"]]).get_json()  # still queued: never dropped
    now[0] += 3000
    sync = client.post("/file-upload", data={"file": (open(files["mp3"], "rb"), "again.mp3")}).get_json()
    assert sync["cached"] is True  # the same result, named by a newer analysis

    housekeeping = Housekeeping(book, store)
    now[0] += 601  # 3601 s after the job's last file
    housekeeping.retain()
    assert client.get(f"/jobs/{finished['id']}").status_code == 404
    assert client.get(f"/jobs/{waiting['id']}").status_code == 200
    assert [row.status for row in file_rows(app, finished["id"])] == []
    assert client.get(analysis).status_code == 200, "the analysis lasts longer than its job"

    now[0] += 3600  # 7201 s after the job's analysis, 4201 s after the upload's
    housekeeping.retain()
    assert client.get(analysis).status_code == 404
    kept = client.get(f"/analyses/{sync['id']}").get_json()
    assert kept["genre"] == sync["genre"], "a newer analysis keeps its result"
    now[0] += 3000
    housekeeping.retain()
    assert client.get(f"/analyses/{sync['id']}").status_code == 404
    with Database(app.config["DATABASE_URL"]).read() as connection:
        assert connection.execute(select(results.c.id)).all() == [], "no analysis names it: the result goes too"


def test_sqlite_gives_the_space_of_deleted_rows_back(tmp_path):
    """Free pages go back to the file system (incremental vacuum) and the WAL file is cut back."""
    import numpy as np

    from genrelens.jobs.database import FREE_SLACK_BYTES
    from genrelens.jobs.store import AnalysisStore

    database = Database(f"sqlite:///{tmp_path / 'db' / 'genrelens.sqlite3'}")
    store = AnalysisStore(database, max_bytes=1 << 40, ttl_s=3600)
    signal = np.zeros(22050 * 30, np.float32)
    for n in range(60):  # 60 x 1.3 MB of audio
        signal[0] = n
        store.attach(store.add({"n": n}, signal)[0], "x.wav", signal)

    def size() -> int:
        return sum(path.stat().st_size for path in (tmp_path / "db").glob("genrelens.sqlite3*"))

    full = size()
    assert full > 70 * 1024 * 1024
    store.max_bytes = 0
    store.prune()
    assert size() >= full, "deleting rows alone gives nothing back"
    database.give_back_space()
    assert size() < FREE_SLACK_BYTES + 8 * 1024 * 1024
    assert (tmp_path / "db" / "genrelens.sqlite3-wal").stat().st_size == 0


def test_a_database_of_an_earlier_version_is_brought_up_to_date(tmp_path):
    """No auto_vacuum, the queued files' bytes whole in ``uploads``, the audio in the row of its size:
    converted once, no job lost."""
    import sqlite3

    import numpy as np

    from genrelens.jobs.store import AnalysisStore

    path = tmp_path / "old" / "genrelens.sqlite3"
    path.parent.mkdir(mode=0o700)
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE jobs (id VARCHAR(16) PRIMARY KEY, model VARCHAR(32), created_at FLOAT NOT NULL);
        CREATE TABLE job_files (id INTEGER PRIMARY KEY, job_id VARCHAR(16) NOT NULL REFERENCES jobs (id),
            position INTEGER NOT NULL, filename VARCHAR(200) NOT NULL, status VARCHAR(8) NOT NULL,
            attempts INTEGER NOT NULL, claimed_by VARCHAR(120), claimed_at FLOAT, finished_at FLOAT,
            analysis_id VARCHAR(16), cached BOOLEAN NOT NULL, summary TEXT, error_code VARCHAR(40), error_message TEXT);
        CREATE TABLE uploads (file_id INTEGER PRIMARY KEY REFERENCES job_files (id), data BLOB NOT NULL);
        CREATE TABLE results (id VARCHAR(16) PRIMARY KEY, audio_hash VARCHAR(64), model_key VARCHAR(80),
            result TEXT NOT NULL, created_at FLOAT NOT NULL);
        CREATE TABLE signals (result_id VARCHAR(16) PRIMARY KEY REFERENCES results (id), samples BLOB NOT NULL,
            size INTEGER NOT NULL, stored_at FLOAT NOT NULL);
        CREATE INDEX ix_signals_stored_at ON signals (stored_at);
        CREATE TABLE pictures (result_id VARCHAR(16) REFERENCES results (id), kind VARCHAR(32), png BLOB NOT NULL,
            PRIMARY KEY (result_id, kind));
        INSERT INTO results VALUES ('00000000000000aa', 'h', 'musicnn@1', '{"genre": "jazz"}', 1.0);
        INSERT INTO signals VALUES ('00000000000000aa', x'0000', 2, 1.0);
        INSERT INTO pictures VALUES ('00000000000000aa', 'waveform', x'89');
        INSERT INTO jobs VALUES ('0123456789abcdef', NULL, 1.0);
        INSERT INTO job_files (id, job_id, position, filename, status, attempts, cached)
            VALUES (1, '0123456789abcdef', 0, 'queued.mp3', 'queued', 0, 0);
    """)
    old.execute("INSERT INTO uploads VALUES (1, ?)", (b"the bytes of a queued file" * 1000,))
    old.commit()
    old.close()
    database = Database(f"sqlite:///{path}")
    book = JobBook(database, 100)
    out = io.BytesIO()
    assert book.copy_upload(1, out) and out.getvalue() == b"the bytes of a queued file" * 1000
    assert book.waiting() == 1
    with database.read() as connection:
        assert connection.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2  # incremental
        assert connection.exec_driver_sql("SELECT size FROM job_files").scalar() == 26000
        assert "uploads" not in {row[0] for row in connection.exec_driver_sql("SELECT name FROM sqlite_master")}
        assert connection.exec_driver_sql("SELECT count(*) FROM pictures").scalar() == 0  # drawn from audio gone
        assert connection.exec_driver_sql("SELECT result FROM results").scalar() == '{"genre": "jazz"}'
    store = AnalysisStore(database, 1 << 30, 3600)  # the new audio tables work
    store.attach("00000000000000aa", "again.mp3", np.zeros(100, np.float32))
    with database.read() as connection:
        assert connection.exec_driver_sql("SELECT size FROM signals").scalar() == 200


def test_the_default_database_is_private_and_not_at_a_shared_name(tmp_path, monkeypatch, files):
    import stat

    from app import create_app
    from genrelens.settings import settings_from_env

    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    for name in ("ANALYSIS_DIR", "DATABASE_URL", "XDG_STATE_HOME", "BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    state = home / ".local" / "state" / "genrelens"
    assert settings_from_env()["ANALYSIS_DIR"] == str(state)
    assert settings_from_env({"HOME": str(home), "XDG_STATE_HOME": str(tmp_path / "xdg")})["ANALYSIS_DIR"] == \
        str(tmp_path / "xdg" / "genrelens")
    no_home = settings_from_env({"HOME": str(tmp_path / "nowhere")})["ANALYSIS_DIR"]
    assert no_home.endswith(f"genrelens-{os.geteuid()}") and not no_home.startswith(str(tmp_path))

    client = create_app({"UPLOAD_DIR": str(tmp_path / "up")}).test_client()
    assert submit(client, [files["mp3"]]).status_code == 202  # a write: SQLite makes its -wal and -shm
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    made = sorted(path.name for path in state.iterdir())
    assert made == ["genrelens.sqlite3", "genrelens.sqlite3-shm", "genrelens.sqlite3-wal"]
    assert {stat.S_IMODE(path.stat().st_mode) for path in state.iterdir()} == {0o600}


def test_a_database_folder_of_another_user_or_open_to_others_is_refused_at_start(tmp_path):
    from genrelens.jobs.database import UnsafeDatabaseFolder

    open_folder = tmp_path / "shared"
    open_folder.mkdir()
    open_folder.chmod(0o755)
    with pytest.raises(UnsafeDatabaseFolder, match=r"open to other users \(mode 0755\).*chmod 700"):
        make_app(tmp_path, ANALYSIS_DIR=str(open_folder))
    if os.geteuid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)  # made first by another user, e.g. at a per-user name in /tmp
    else:
        theirs = Path("/tmp")  # root's, not this user's
    with pytest.raises(UnsafeDatabaseFolder, match="owned by another user"):
        make_app(tmp_path, ANALYSIS_DIR=str(theirs))
    assert not (theirs / "genrelens.sqlite3").exists()
    older = tmp_path / "older"  # an earlier version's files, with the umask's modes: made private
    older.mkdir(mode=0o700)
    (older / "genrelens.sqlite3").touch(mode=0o644)
    make_app(tmp_path, ANALYSIS_DIR=str(older))
    assert oct((older / "genrelens.sqlite3").stat().st_mode & 0o777) == oct(0o600)
