"""The book of record: every job, the state of each of its files and, until a worker has analysed it,
the file itself, in the database, so any web node can answer for any job and a restart loses nothing.
The queue (``genrelens.jobs.queues``) only says "file 42 is waiting".

A file is ``queued``, ``running``, then ``done`` or ``failed``. A running file's claim is a lease
(``genrelens.jobs.claims``): renewed by its worker's heartbeat, put back in the queue once it expires.
Whoever finishes a running file first records its result; a second finisher (a worker whose claim
expired while it was only slow) changes nothing, so every file gets exactly one result.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import delete, func, insert, select, update

from genrelens.jobs.analyse import Heard
from genrelens.jobs.claims import holder_gone
from genrelens.jobs.database import Database, job_files, jobs, uploads
from genrelens.jobs.store import AnalysisStore, valid_id
from genrelens.results_csv import result_row

ACTIVE = ("queued", "running")
MAX_ATTEMPTS = 3  # a file that took down its worker this often is given up, not retried for ever


class QueueFull(Exception):
    def __init__(self, waiting: int, limit: int):
        super().__init__(f"The job queue is full ({waiting} files waiting, at most {limit}); try again later.")


@dataclass(frozen=True)
class NewFile:
    filename: str
    data: bytes


@dataclass(frozen=True)
class Claim:
    file_id: int
    job_id: str
    filename: str
    model: str | None
    attempts: int
    worker: str  # who holds it (genrelens.jobs.claims.worker_name)


class JobBook:
    """``claim_timeout_s``: a claim not renewed for this long has expired. ``clock``: seconds since the
    epoch (tests move it instead of waiting)."""

    def __init__(self, database: Database, queue_limit: int, claim_timeout_s: float = 300.0,
                 clock: Callable[[], float] = time.time):
        self.db = database
        self.queue_limit = queue_limit
        self.claim_timeout_s = claim_timeout_s
        self.clock = clock

    # ------------------------------------------------------------------ the web side
    def create(self, files: list[NewFile], model: str | None) -> tuple[str, list[int]]:
        """A new job with its files waiting; an empty file fails at once, alone. Raises QueueFull."""
        job_id = AnalysisStore.new_id()
        now = self.clock()
        with self.db.write() as connection:
            waiting = connection.scalar(select(func.count()).select_from(job_files).where(job_files.c.status.in_(ACTIVE)))
            if waiting + len(files) > self.queue_limit:
                raise QueueFull(waiting, self.queue_limit)
            connection.execute(insert(jobs).values(id=job_id, model=model, created_at=now))
            file_ids = []
            for position, file in enumerate(files):
                empty = len(file.data) == 0
                file_id = connection.execute(insert(job_files).values(
                    job_id=job_id, position=position, filename=file.filename, status="failed" if empty else "queued",
                    attempts=0, cached=False, finished_at=now if empty else None,
                    error_code="empty_file" if empty else None, error_message="The file is empty." if empty else None,
                ).returning(job_files.c.id)).scalar_one()
                if not empty:
                    connection.execute(insert(uploads).values(file_id=file_id, data=file.data))
                    file_ids.append(file_id)
        return job_id, file_ids

    def forget(self, job_id: str) -> None:
        """Remove a job the queue refused (its files and their bytes go with it)."""
        with self.db.write() as connection:
            ids = select(job_files.c.id).where(job_files.c.job_id == job_id)
            connection.execute(delete(uploads).where(uploads.c.file_id.in_(ids)))
            connection.execute(delete(job_files).where(job_files.c.job_id == job_id))
            connection.execute(delete(jobs).where(jobs.c.id == job_id))

    def view(self, job_id: str) -> dict | None:
        """The job as the API shows it: counts, progress and one entry per file, in upload order."""
        if not valid_id(job_id):
            return None
        with self.db.read() as connection:
            job = connection.execute(select(jobs).where(jobs.c.id == job_id)).first()
            if job is None:
                return None
            rows = connection.execute(select(job_files).where(job_files.c.job_id == job_id)
                                      .order_by(job_files.c.position)).all()
        files = [_file_entry(row) for row in rows]
        counts = {status: sum(f["status"] == status for f in files) for status in ("queued", "running", "done", "failed")}
        finished = counts["done"] + counts["failed"]
        status = "done" if finished == len(files) else "queued" if counts["queued"] == len(files) else "running"
        return {
            "id": job.id, "status": status, "model": job.model,
            "created_at": datetime.fromtimestamp(job.created_at, timezone.utc).isoformat(timespec="seconds"),
            "total": len(files), **counts, "progress": round(finished / len(files), 4) if files else 1.0,
            "url": f"/jobs/{job.id}", "results_csv": f"/jobs/{job.id}/results.csv",
            "files": files,
        }

    def waiting(self, status: str | None = None) -> int:
        """Files queued or running (or in just one of those states)."""
        states = (status,) if status else ACTIVE
        with self.db.read() as connection:
            return connection.scalar(select(func.count()).select_from(job_files).where(job_files.c.status.in_(states)))

    # ------------------------------------------------------------------ the worker side
    def claim(self, worker: str, file_id: int | None = None) -> Claim | None:
        """Mark a file running for ``worker``: the given one (a queue message), else the oldest waiting one.
        None when there is nothing to do. A given file that is running is taken over only when its claim
        has expired or its worker is a process of this machine that is gone; else its worker is at it."""
        if file_id is None and not self.waiting(status="queued"):  # idle workers look without taking a write lock
            return None
        now = self.clock()
        with self.db.write() as connection:
            query = select(job_files.c.id, job_files.c.job_id, job_files.c.filename, job_files.c.attempts,
                           job_files.c.status, job_files.c.claimed_by, job_files.c.claimed_at, jobs.c.model) \
                .join(jobs, jobs.c.id == job_files.c.job_id)
            if file_id is None:
                query = query.where(job_files.c.status == "queued").order_by(job_files.c.id).limit(1)
            else:
                query = query.where(job_files.c.id == file_id, job_files.c.status.in_(ACTIVE))
            # PostgreSQL: the row is locked, and a row another worker is claiming is skipped. SQLite: the
            # write transaction (BEGIN IMMEDIATE) already keeps claims one at a time.
            row = connection.execute(query.with_for_update(skip_locked=True, of=job_files)).first()
            if row is None:
                return None
            if row.status == "running" and not self._expired(row.claimed_at, now) and not holder_gone(row.claimed_by):
                return None
            if row.attempts >= MAX_ATTEMPTS:
                self._end(connection, row.id, status="failed", error_code="worker_lost",
                          error_message=f"This file stopped its worker {row.attempts} times; it was given up.")
                return None
            connection.execute(update(job_files).where(job_files.c.id == row.id).values(
                status="running", claimed_by=worker, claimed_at=now, attempts=row.attempts + 1))
        return Claim(row.id, row.job_id, row.filename, row.model, row.attempts + 1, worker)

    def renew(self, file_id: int, worker: str) -> bool:
        """The heartbeat: ``worker`` is still at this file. False when the file is no longer its claim."""
        with self.db.write() as connection:
            return connection.execute(update(job_files).where(
                job_files.c.id == file_id, job_files.c.claimed_by == worker, job_files.c.status == "running")
                .values(claimed_at=self.clock())).rowcount == 1

    def requeue_expired(self) -> list[int]:
        """Put back in the queue every running file whose claim has expired, whoever made it; their ids
        (a Celery node sends them to the queue again)."""
        cutoff = self.clock() - self.claim_timeout_s
        with self.db.read() as connection:  # the usual answer is "none": no write lock for it
            if not connection.scalar(select(func.count()).select_from(job_files).where(
                    job_files.c.status == "running", job_files.c.claimed_at < cutoff)):
                return []
        with self.db.write() as connection:
            return list(connection.scalars(update(job_files).where(
                job_files.c.status == "running", job_files.c.claimed_at < cutoff)
                .values(status="queued", claimed_by=None).returning(job_files.c.id)))

    def _expired(self, claimed_at: float | None, now: float) -> bool:
        return claimed_at is None or now - claimed_at > self.claim_timeout_s

    def upload(self, file_id: int) -> bytes | None:
        with self.db.read() as connection:
            return connection.scalar(select(uploads.c.data).where(uploads.c.file_id == file_id))

    def finish(self, file_id: int, store: AnalysisStore, heard: Heard, filename: str) -> bool:
        """Record a file's result as its analysis, unless another worker recorded one first (then nothing
        is made: one analysis per file). The file's bytes go."""
        result = heard.result
        summary = {"genre": result["genre"], "confidence": result["confidence"], "genres": result["genres"][:3]}
        with self.db.write() as connection:
            running = connection.scalar(select(job_files.c.id).where(job_files.c.id == file_id,
                                                                     job_files.c.status.in_(ACTIVE)))
            if running is None:
                connection.execute(delete(uploads).where(uploads.c.file_id == file_id))
                return False
            analysis_id = store.attach(heard.result_id, filename, heard.samples, connection)
            return self._end(connection, file_id, status="done", analysis_id=analysis_id, cached=heard.cached,
                             summary=json.dumps(summary))

    def fail(self, file_id: int, code: str, message: str) -> bool:
        with self.db.write() as connection:
            return self._end(connection, file_id, status="failed", error_code=code, error_message=message)

    def _end(self, connection, file_id: int, **values) -> bool:
        ended = connection.execute(update(job_files).where(job_files.c.id == file_id, job_files.c.status.in_(ACTIVE))
                                   .values(finished_at=self.clock(), **values)).rowcount
        connection.execute(delete(uploads).where(uploads.c.file_id == file_id))
        return ended == 1

    def requeue(self, workers: list[str]) -> int:
        """Put back the files these (dead) workers were running."""
        if not workers:
            return 0
        with self.db.write() as connection:
            return connection.execute(update(job_files).where(job_files.c.status == "running",
                                                              job_files.c.claimed_by.in_(workers))
                                      .values(status="queued", claimed_by=None)).rowcount

    def running_workers(self) -> list[str]:
        with self.db.read() as connection:
            return list(connection.scalars(select(job_files.c.claimed_by).where(job_files.c.status == "running").distinct()))


def _file_entry(row) -> dict:
    summary = json.loads(row.summary) if row.summary else {}
    error = {"code": row.error_code, "message": row.error_message} if row.status == "failed" else None
    return {
        "index": row.position, "filename": row.filename, "status": row.status,
        "analysis_id": row.analysis_id, "url": f"/analyses/{row.analysis_id}" if row.analysis_id else None,
        "genre": summary.get("genre"), "confidence": summary.get("confidence"), "genres": summary.get("genres", []),
        "cached": bool(row.cached), "error": error,
    }


def csv_rows(view: dict) -> list[dict]:
    """The job's files as rows of ``genrelens.results_csv``."""
    return [result_row(f["filename"], f["status"], f["genres"], f["analysis_id"], f["error"]) for f in view["files"]]
