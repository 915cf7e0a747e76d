"""More like this: the analyses whose track vectors are nearest (cosine) to one analysis' vector.

Where to look (``job`` or ``scope``): among one job's files, or among every analysis the service keeps.
Nobody may see another's file names (the design: never someone else's data), so by default an analysis
is compared with the files of its own job only (``SIMILAR_SCOPE=job``; an upload that came alone then
has no neighbours); ``SIMILAR_SCOPE=all`` is for a service that one person or household uses.

The track itself is left out, and so is every other analysis of the same result (the same audio by the
same model: the same track under another name). How: numpy over the candidates' stored vectors (a job
is at most thousands of files; every analysis: one matrix product over all of them); on PostgreSQL with
pgvector, a search over every analysis asks the HNSW index instead (``ORDER BY v <=> q``), which is
approximate and bounded by the index's ``ef_search`` (40 by default: plenty for n <= 100 after the
small margin asked below).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select, text

from genrelens.explore.embeddings import from_bytes, matrix
from genrelens.jobs.database import EMBEDDING_DIMS, Database, analyses, embeddings, job_files, jobs
from genrelens.jobs.store import valid_id

SCOPES = ("job", "all")
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
        candidates = select(analyses.c.id, embeddings.c.vector) \
            .join(embeddings, embeddings.c.result_id == analyses.c.result_id) \
            .where(analyses.c.result_id != own.result_id)
        if job_id is not None:
            candidates = candidates.join(job_files, job_files.c.analysis_id == analyses.c.id) \
                .where(job_files.c.job_id == job_id)
        rows = connection.execute(candidates).all()
        if not rows:
            return []
        scores = matrix([row.vector for row in rows], EMBEDDING_DIMS) @ query_vector
        best = np.argsort(-scores, kind="stable")[:n] if len(rows) <= 4 * n else _top(scores, n)
        chosen = {rows[i].id: float(scores[i]) for i in best}
        return _named(connection, chosen)


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """The indices of the ``n`` largest scores, largest first (argpartition: no full sort of 100k)."""
    part = np.argpartition(-scores, n - 1)[:n]
    return part[np.argsort(-scores[part], kind="stable")]


def _named(connection, chosen: dict[str, float]) -> list[Neighbour]:
    """The chosen analyses (id -> similarity) with their names and genres, best first."""
    rows = connection.execute(select(analyses.c.id, analyses.c.filename, embeddings.c.genre)
                              .join(embeddings, embeddings.c.result_id == analyses.c.result_id)
                              .where(analyses.c.id.in_(list(chosen)))).all()
    found = [Neighbour(row.id, row.filename, row.genre, chosen[row.id]) for row in rows]
    return sorted(found, key=lambda item: (-item.similarity, item.id))


def _pgvector_nearest(connection, own_result: str, vector: np.ndarray, n: int) -> list[Neighbour]:
    """Every analysis, through pgvector's HNSW index: the nearest results, then the analyses naming them."""
    literal = "[" + ",".join(f"{x:.7g}" for x in vector) + "]"
    nearest = connection.execute(text(
        "SELECT result_id, 1 - (v <=> CAST(:q AS vector)) AS similarity FROM embeddings "
        "WHERE v IS NOT NULL AND result_id <> :own ORDER BY v <=> CAST(:q AS vector) LIMIT :k"),
        {"q": literal, "own": own_result, "k": n + 10}).all()
    score = {row.result_id: float(row.similarity) for row in nearest}
    rows = connection.execute(select(analyses.c.id, analyses.c.filename, analyses.c.result_id, embeddings.c.genre)
                              .join(embeddings, embeddings.c.result_id == analyses.c.result_id)
                              .where(analyses.c.result_id.in_(list(score)))).all()
    found = [Neighbour(row.id, row.filename, row.genre, score[row.result_id]) for row in rows]
    return sorted(found, key=lambda item: (-item.similarity, item.id))[:n]
