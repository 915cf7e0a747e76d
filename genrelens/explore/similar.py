"""More like this: the analyses whose track vectors are nearest (cosine) to one analysis' vector.

Where to look (``job`` or ``scope``): among one job's files, or among every analysis the service keeps.
Nobody may see another's file names (the design: never someone else's data), so by default an analysis
is compared with the files of its own job only (``SIMILAR_SCOPE=job``; an upload that came alone then
has no neighbours); ``SIMILAR_SCOPE=all`` is for a service that one person or household uses.

The track itself is left out, and so is every other analysis of the same result (the same audio by the
same model: the same track under another name). How: numpy over the candidates' stored vectors (a job
is at most thousands of files; every analysis: one matrix product over a per-process cache of all the
vectors, ``VectorCache``, since reading 20k rows from SQLite alone took 40-150 ms); on PostgreSQL with
pgvector, a search over every analysis asks the HNSW index instead (``ORDER BY v <=> q``), which is
approximate and returns at most ``hnsw.ef_search`` rows (40 by default): the search raises it, for its
own transaction, to the number it asks for.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select, text

from genrelens.explore.embeddings import from_bytes, matrix
from genrelens.jobs.database import EMBEDDING_DIMS, Database, analyses, embeddings, job_files, jobs, pgvector_literal
from genrelens.jobs.store import valid_id

MAX_N = 100


class NotFound(Exception):
    """No such analysis, or no such job (``what`` says which)."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


class NoVector(Exception):
    """The analysis has no track vector (made before vectors were kept, or by a model with none)."""


@dataclass(frozen=True)
class Neighbour:
    id: str
    filename: str
    genre: str | None
    similarity: float

    def to_dict(self) -> dict:
        return {"id": self.id, "filename": self.filename, "genre": self.genre, "similarity": round(self.similarity, 4)}


def similar(db: Database, analysis_id: str, n: int, job_id: str | None = None, scope: str = "job") -> list[Neighbour]:
    """The ``n`` nearest analyses, best first. ``job_id``: among that job's files; else by ``scope``."""
    if not valid_id(analysis_id):
        raise NotFound("analysis")
    with db.read() as connection:
        own = connection.execute(select(analyses.c.result_id, embeddings.c.vector)
                                 .join(embeddings, embeddings.c.result_id == analyses.c.result_id, isouter=True)
                                 .where(analyses.c.id == analysis_id)).first()
        if own is None:
            raise NotFound("analysis")
        if job_id is not None and (not valid_id(job_id) or
                                   connection.scalar(select(jobs.c.id).where(jobs.c.id == job_id)) is None):
            raise NotFound("job")
        if own.vector is None:
            raise NoVector()
        query_vector = from_bytes(own.vector)
        if job_id is None and scope == "job":
            job_id = connection.scalar(select(job_files.c.job_id).where(job_files.c.analysis_id == analysis_id))
            if job_id is None:
                return []  # an upload that came alone: there is nothing of its owner's to compare with
        if job_id is None and db.has_pgvector:
            return _pgvector_nearest(connection, own.result_id, query_vector, n)
        if job_id is None:
            return _every_analysis(db, connection, own.result_id, query_vector, n)
        rows = connection.execute(select(analyses.c.id, embeddings.c.vector)
                                  .join(embeddings, embeddings.c.result_id == analyses.c.result_id)
                                  .join(job_files, job_files.c.analysis_id == analyses.c.id)
                                  .where(job_files.c.job_id == job_id, analyses.c.result_id != own.result_id)).all()
        if not rows:
            return []
        scores = matrix([row.vector for row in rows], EMBEDDING_DIMS) @ query_vector
        chosen = {rows[i].id: float(scores[i]) for i in _top(scores, n)}
        return _named(connection, chosen)


def _every_analysis(db: Database, connection, own_result: str, vector: np.ndarray, n: int) -> list[Neighbour]:
    """numpy over every stored vector (this process's cache of them), nearest results first, then the
    analyses naming them, until ``n`` are found."""
    result_ids, where, vectors = cache_for(db).current(connection)
    scores = vectors @ vector
    if own_result in where:
        scores[where[own_result]] = -np.inf
    found: list[Neighbour] = []
    asked = 0
    while len(found) < n and asked < len(result_ids):
        asked = min(len(result_ids), max(2 * asked, n + 10))
        order = _top(scores, asked)
        score = {result_ids[i]: float(scores[i]) for i in order if np.isfinite(scores[i])}
        found = _named(connection, score, by=analyses.c.result_id)
    return found[:n]


class VectorCache:
    """Every stored vector as one matrix, per process, kept up to date cheaply: each search reads only the
    rows that arrived since the last (``seq`` above the highest seen) and the table's row count; a count
    that differs from the cache's (rows dropped by retention, or a row of a transaction that committed
    late) reloads it whole, and so does any search ``RELOAD_S`` after the last whole load. At 100k tracks
    the matrix is 25 MB per process."""

    RELOAD_S = 300.0

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.lock = threading.Lock()
        self.result_ids: list[str] = []
        self.where: dict[str, int] = {}  # result id -> its row of the matrix
        self.blobs: list[bytes] = []
        self.vectors = np.zeros((0, EMBEDDING_DIMS), np.float32)
        self.last_seq = -1
        self.loaded_at = float("-inf")

    def current(self, connection) -> tuple[list[str], dict[str, int], np.ndarray]:
        with self.lock:
            if self.clock() - self.loaded_at > self.RELOAD_S:
                self._load(connection, whole=True)
            else:
                self._load(connection, whole=False)
                if connection.scalar(select(func.count()).select_from(embeddings)) != len(self.result_ids):
                    self._load(connection, whole=True)
            return self.result_ids, self.where, self.vectors

    def _load(self, connection, whole: bool) -> None:
        if whole:
            self.result_ids, self.where, self.blobs, self.last_seq, self.loaded_at = [], {}, [], -1, self.clock()
        rows = connection.execute(select(embeddings.c.seq, embeddings.c.result_id, embeddings.c.vector)
                                  .where(embeddings.c.seq > self.last_seq).order_by(embeddings.c.seq)).all()
        if rows or whole:
            self.where = {**self.where, **{row.result_id: len(self.result_ids) + i for i, row in enumerate(rows)}}
            self.result_ids = self.result_ids + [row.result_id for row in rows]
            self.blobs = self.blobs + [row.vector for row in rows]
            self.vectors = matrix(self.blobs, EMBEDDING_DIMS)
            self.last_seq = rows[-1].seq if rows else self.last_seq


_caches: dict[str, VectorCache] = {}
_caches_lock = threading.Lock()


def cache_for(db: Database) -> VectorCache:
    with _caches_lock:
        return _caches.setdefault(f"{os.getpid()}:{db.url}", VectorCache())


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """The indices of the ``n`` largest scores, largest first (argpartition: no full sort of 100k)."""
    if len(scores) <= n:
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, n - 1)[:n]
    return part[np.argsort(-scores[part], kind="stable")]


def _named(connection, scores: dict[str, float], by=analyses.c.id) -> list[Neighbour]:
    """The analyses whose ``by`` (their id, or ``analyses.c.result_id``) is scored, with their names and
    genres, best first."""
    rows = connection.execute(select(analyses.c.id, analyses.c.filename, by.label("key"), embeddings.c.genre)
                              .join(embeddings, embeddings.c.result_id == analyses.c.result_id)
                              .where(by.in_(list(scores)))).all()
    found = [Neighbour(row.id, row.filename, row.genre, scores[row.key]) for row in rows]
    return sorted(found, key=lambda item: (-item.similarity, item.id))


def _pgvector_nearest(connection, own_result: str, vector: np.ndarray, n: int) -> list[Neighbour]:
    """Every analysis, through pgvector's HNSW index: the nearest results, then the analyses naming them."""
    literal = pgvector_literal(vector)
    wanted = n + 10
    connection.exec_driver_sql(f"SET LOCAL hnsw.ef_search = {max(40, min(1000, wanted))}")  # the index's cap
    nearest = connection.execute(text(
        "SELECT result_id, 1 - (v <=> CAST(:q AS vector)) AS similarity FROM embeddings "
        "WHERE v IS NOT NULL AND result_id <> :own ORDER BY v <=> CAST(:q AS vector) LIMIT :k"),
        {"q": literal, "own": own_result, "k": wanted}).all()
    return _named(connection, {row.result_id: float(row.similarity) for row in nearest}, by=analyses.c.result_id)[:n]
