"""The book of record: every job, the state of each of its files and, until a worker has analysed it,
the file itself, in the database, so any web node can answer for any job and a restart loses nothing.
The queue (``genrelens.jobs.queues``) only says "file 42 is waiting".

The queue is bounded by files (``JOB_QUEUE_LIMIT``) and by bytes (``JOB_QUEUE_MB``); a job's files are
written to the database part by part from the request's spooled files, never whole in memory. A job
whose files are all finished is dropped ``JOB_TTL_S`` after its last one (``drop_finished``).

A file is ``queued``, ``running``, then ``done`` or ``failed``. A running file's claim is a lease
(``genrelens.jobs.claims``): renewed by its worker's heartbeat, put back in the queue once it expires.
Whoever finishes a running file first records its result; a second finisher (a worker whose claim
expired while it was only slow) changes nothing, so every file gets exactly one result.
"""
from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import BinaryIO

from sqlalchemy import delete, func, insert, select, update

from genrelens.analysis.glance import glance
from genrelens.jobs.analyse import Heard
from genrelens.jobs.claims import holder_gone
from genrelens.jobs.database import UPLOAD_PART_BYTES, Database, job_files, jobs, upload_parts
from genrelens.jobs.store import AnalysisStore, valid_id
from genrelens.results_csv import result_row

ACTIVE = ("queued", "running")
MAX_ATTEMPTS = 3  # a file that took down its worker this often is given up, not retried for ever


CREATE_LOCK = 0x67656E72  # PostgreSQL: the advisory lock that makes "count, then add" one step across web nodes


class QueueFull(Exception):
    pass


@dataclass(frozen=True)
class NewFile:
    """A file of a new job: read from ``source`` in parts when the job is written."""

    filename: str
    source: BinaryIO
    size: int

    @classmethod
    def from_stream(cls, filename: str, source: BinaryIO) -> "NewFile":
        """A seekable stream (werkzeug's spooled temp file of an uploaded part) from where it is now."""
        start = source.tell()
        size = source.seek(0, io.SEEK_END) - start
        source.seek(start)
        return cls(filename, source, size)

    @classmethod
    def from_bytes(cls, filename: str, data: bytes) -> "NewFile":
        return cls(filename, io.BytesIO(data), len(data))


@dataclass(frozen=True)
class Claim:
    file_id: int
    job_id: str
    filename: str
    model: str | None
    attempts: int
    worker: str  # who holds it (genrelens.jobs.claims.worker_name)


class JobBook:
    """``queue_limit`` files and ``queue_bytes`` bytes may wait (queued or running) at once; a claim not
    renewed for ``claim_timeout_s`` has expired; a finished job is kept ``ttl_s``. ``clock``: seconds since
    the epoch (tests move it instead of waiting)."""

    def __init__(self, database: Database, queue_limit: int, claim_timeout_s: float = 300.0,
                 clock: Callable[[], float] = time.time, queue_bytes: int | None = None, ttl_s: float | None = None):
        self.db = database
        self.queue_limit = queue_limit
        self.queue_bytes = queue_bytes
        self.claim_timeout_s = claim_timeout_s
        self.ttl_s = ttl_s
        self.clock = clock

    @classmethod
    def from_settings(cls, database: Database, settings: dict, clock: Callable[[], float] = time.time) -> "JobBook":
        return cls(database, settings["JOB_QUEUE_LIMIT"], settings["JOB_CLAIM_TIMEOUT_S"], clock,
                   int(settings["JOB_QUEUE_MB"] * 1024 * 1024), settings["JOB_TTL_S"])

    # ------------------------------------------------------------------ the web side
    def create(self, files: list[NewFile], model: str | None) -> tuple[str, list[int]]:
        """A new job with its files waiting, their bytes written part by part; an empty file fails at
        once, alone. Raises QueueFull when the files or the bytes waiting would pass their bound."""
        job_id = AnalysisStore.new_id()
        now = self.clock()
        with self.db.write() as connection:
            if not self.db.is_sqlite:  # SQLite's write transaction is already one at a time
                connection.execute(select(func.pg_advisory_xact_lock(CREATE_LOCK)))
            self._check_room(connection, files)
            connection.execute(insert(jobs).values(id=job_id, model=model, created_at=now))
            file_ids = []
            for position, file in enumerate(files):
                empty = file.size == 0
                file_id = connection.execute(insert(job_files).values(
                    job_id=job_id, position=position, filename=file.filename, status="failed" if empty else "queued",
                    attempts=0, cached=False, finished_at=now if empty else None, size=file.size,
                    error_code="empty_file" if empty else None, error_message="The file is empty." if empty else None,
                ).returning(job_files.c.id)).scalar_one()
                if not empty:
                    part = 0
                    while chunk := file.source.read(UPLOAD_PART_BYTES):
                        connection.execute(insert(upload_parts).values(file_id=file_id, part=part, data=chunk))
                        part += 1
                    file_ids.append(file_id)
        return job_id, file_ids

    def _check_room(self, connection, files: list[NewFile]) -> None:
        count, size = connection.execute(select(func.count(), func.coalesce(func.sum(job_files.c.size), 0))
                                         .where(job_files.c.status.in_(ACTIVE))).one()
        if count + len(files) > self.queue_limit:
            raise QueueFull(f"The job queue is full ({count} files waiting, at most {self.queue_limit}); "
                            "try again later.")
        if self.queue_bytes is not None and size + sum(f.size for f in files) > self.queue_bytes:
            raise QueueFull(f"The job queue is full ({size / 1048576:.0f} MB of files waiting, at most "
                            f"{self.queue_bytes / 1048576:g} MB); try again later.")

    def forget(self, job_id: str) -> None:
        """Remove a job the queue refused (its files and their bytes go with it)."""
        with self.db.write() as connection:
            self._delete_jobs(connection, [job_id])

    @staticmethod
    def _delete_jobs(connection, job_ids: list[str]) -> None:
        ids = select(job_files.c.id).where(job_files.c.job_id.in_(job_ids))
        connection.execute(delete(upload_parts).where(upload_parts.c.file_id.in_(ids)))
        connection.execute(delete(job_files).where(job_files.c.job_id.in_(job_ids)))
        connection.execute(delete(jobs).where(jobs.c.id.in_(job_ids)))

    def drop_finished(self) -> int:
        """Delete the jobs whose every file finished more than ``ttl_s`` ago; how many."""
        if self.ttl_s is None:
            return 0
        cutoff = self.clock() - self.ttl_s
        # a job is old when none of its files is active or finished after the cutoff
        recent = select(job_files.c.job_id).where(job_files.c.status.in_(ACTIVE) | (job_files.c.finished_at >= cutoff))
        old = select(jobs.c.id).where(jobs.c.created_at < cutoff, jobs.c.id.not_in(recent)).limit(500)
        dropped = 0
        while True:
            with self.db.write() as connection:
                ids = list(connection.scalars(old))
                if ids:
                    self._delete_jobs(connection, ids)
            dropped += len(ids)
            if len(ids) < 500:
                return dropped

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

    def copy_upload(self, file_id: int, out: BinaryIO) -> bool:
        """Write the file's bytes to ``out``, part by part; False when they are gone (the file was finished
        by another worker meanwhile, or its job withdrawn)."""
        with self.db.read() as connection:
            mine = upload_parts.c.file_id == file_id
            parts = connection.scalar(select(func.count()).select_from(upload_parts).where(mine))
            for part in range(parts):
                out.write(connection.scalar(select(upload_parts.c.data).where(mine, upload_parts.c.part == part)))
        return parts > 0

    def finish(self, file_id: int, store: AnalysisStore, heard: Heard, filename: str) -> bool:
        """Record a file's result as its analysis, unless another worker recorded one first (then nothing
        is made: one analysis per file). The file's bytes go."""
        result = heard.result
        summary = {"genre": result["genre"], "confidence": result["confidence"], "genres": result["genres"][:3],
                   **glance(result)}
        with self.db.write() as connection:
            running = connection.scalar(select(job_files.c.id).where(job_files.c.id == file_id,
                                                                     job_files.c.status.in_(ACTIVE)))
            if running is None:
                connection.execute(delete(upload_parts).where(upload_parts.c.file_id == file_id))
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
        connection.execute(delete(upload_parts).where(upload_parts.c.file_id == file_id))
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
        "duration_s": summary.get("duration_s"), "style": summary.get("style"), "tags": summary.get("tags"),
    }


def csv_rows(view: dict) -> list[dict]:
    """The job's files as rows of ``genrelens.results_csv``."""
    return [result_row(f["filename"], f["status"], f["genres"], f["analysis_id"], f["error"]) for f in view["files"]]
