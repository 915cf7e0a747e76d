"""Analyses in the database (``genrelens.jobs.database``): any web node or worker can store one, any web node can
serve it and its pictures, and a restart keeps them.

Each upload or job file gets its own analysis (its id, its filename); the work behind it, the result,
is shared by every analysis of the same audio (hash of the decoded samples) by the same model version
(``model_key``). Its decoded signal (float16, for the pictures) and the pictures drawn are kept for
``ttl_s`` and, past ``max_bytes`` of signals, the oldest go first: audio is large, and it is the user's.
An analysis whose signal has gone still answers; its pictures do not (410). An analysis is kept
``result_ttl_s`` (``RESULT_TTL_S``), and a result as long as an analysis names it (``drop_old``).
"""
from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Callable

import numpy as np
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from genrelens.jobs.database import (Database, analyses, embeddings, pgvector_literal, pictures, results,
                                     signal_samples, signals)

log = logging.getLogger(__name__)

_ID = re.compile(r"^[0-9a-f]{16}$")
PRUNE_EVERY_S = 5.0
SIGNAL_DTYPE = np.dtype("<f2")  # float16, little-endian: plenty for pictures, half of float32
VECTOR_DTYPE = np.dtype("<f4")  # a track's unit vector (genrelens.explore reads it back)


def valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID.match(value))


class AnalysisStore:
    """``clock``: seconds since the epoch (tests move it instead of waiting)."""

    def __init__(self, database: Database, max_bytes: int, ttl_s: float, result_ttl_s: float | None = None,
                 clock: Callable[[], float] = time.time):
        self.db = database
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self.result_ttl_s = result_ttl_s
        self.clock = clock
        self._last_prune = float("-inf")

    @classmethod
    def from_settings(cls, database: Database, settings: dict) -> "AnalysisStore":
        return cls(database, int(settings["ANALYSIS_STORE_MB"] * 1024 * 1024), settings["ANALYSIS_TTL_S"],
                   settings["RESULT_TTL_S"])

    @staticmethod
    def new_id() -> str:
        return secrets.token_hex(8)

    # ------------------------------------------------------------------ writing
    def find(self, audio_hash: str, model_key: str) -> str | None:
        """The id of the result for this audio by this model version, if there is one."""
        with self.db.read() as connection:
            return connection.scalar(select(results.c.id).where(
                results.c.audio_hash == audio_hash, results.c.model_key == model_key))

    def add(self, result: dict, signal: np.ndarray, audio_hash: str | None = None,
            model_key: str | None = None, embedding: np.ndarray | None = None,
            embedding_source: str | None = None) -> tuple[str, bool]:
        """Store a result and its signal; returns ``(result id, cached)``. With a hash and key already
        stored, that result's id and ``cached=True``: ``result`` is not stored (its signal is put back
        if it had expired). No analysis names it yet: ``attach`` does. ``embedding``: the track's unit
        vector (``Analysis.embedding``), kept with a new result for "more like this"."""
        for _ in range(3):  # another process may store the same key between our look and our insert
            try:
                with self.db.write() as connection:
                    result_id = None
                    if audio_hash is not None:
                        result_id = connection.scalar(select(results.c.id).where(
                            results.c.audio_hash == audio_hash, results.c.model_key == model_key))
                    cached = result_id is not None
                    if not cached:
                        result_id = self.new_id()
                        body = {key: value for key, value in result.items() if key != "filename"}
                        connection.execute(insert(results).values(id=result_id, audio_hash=audio_hash, model_key=model_key,
                                                                  result=json.dumps(body), created_at=self.clock()))
                        if embedding is not None:
                            self._put_embedding(connection, result_id, embedding, embedding_source or "musicnn",
                                                result.get("genre"))
                    self._put_signal(connection, result_id, signal)
                break
            except IntegrityError:
                continue
        else:
            raise RuntimeError("could not store the result")  # three collisions in a row: a bug, not a race
        self.maybe_prune(keep=result_id)
        return result_id, cached

    def _put_embedding(self, connection, result_id: str, vector: np.ndarray, source: str, genre: str | None) -> None:
        """The unit vector (``track_vector`` made it so) as float32 bytes, and on PostgreSQL with pgvector in
        its ``vector`` column as well."""
        vector = np.asarray(vector, VECTOR_DTYPE)
        connection.execute(insert(embeddings).values(result_id=result_id, source=source, genre=genre,
                                                     vector=vector.tobytes()))
        if self.db.has_pgvector:
            connection.execute(text("UPDATE embeddings SET v = CAST(:v AS vector) WHERE result_id = :id"),
                               {"v": pgvector_literal(vector), "id": result_id})

    def attach(self, result_id: str, filename: str, signal: np.ndarray, connection=None) -> str:
        """A new analysis named ``filename`` of a stored result; returns its id. The result's signal is put
        back if it had expired. ``connection``: inside that write transaction (a job's file is finished
        and its analysis made in one)."""
        if connection is None:
            with self.db.write() as connection:
                return self.attach(result_id, filename, signal, connection)
        self._put_signal(connection, result_id, signal)
        return self._name(connection, result_id, filename)

    def result_body(self, result_id: str) -> dict | None:
        """A stored result without any analysis' filename."""
        with self.db.read() as connection:
            text = connection.scalar(select(results.c.result).where(results.c.id == result_id))
        return None if text is None else json.loads(text)

    def _name(self, connection, result_id: str, filename: str) -> str:
        analysis_id = self.new_id()
        connection.execute(insert(analyses).values(id=analysis_id, result_id=result_id, filename=filename,
                                                   created_at=self.clock()))
        return analysis_id

    def _put_signal(self, connection, result_id: str, signal: np.ndarray) -> None:
        """Store the signal unless a fresh one is there; an expired one is replaced, its pictures dropped."""
        stored_at = connection.scalar(select(signals.c.stored_at).where(signals.c.result_id == result_id))
        if stored_at is not None and not self._expired(stored_at):
            return
        if stored_at is not None:
            self._drop_audio(connection, [result_id])
        samples = np.ascontiguousarray(signal, dtype=SIGNAL_DTYPE)
        # the array's own memory goes to the driver: no .npy file or bytes copy of a signal that can be 26 MB
        connection.execute(insert(signal_samples).values(result_id=result_id, samples=memoryview(samples).cast("B")))
        connection.execute(insert(signals).values(result_id=result_id, size=samples.nbytes, stored_at=self.clock()))

    # ------------------------------------------------------------------ reading
    def _result_id(self, connection, analysis_id: str) -> str | None:
        return connection.scalar(select(analyses.c.result_id).where(analyses.c.id == analysis_id))

    def result(self, analysis_id: str) -> dict | None:
        """The analysis as the API answers it (without its links): its own filename, the shared result."""
        if not valid_id(analysis_id):
            return None
        with self.db.read() as connection:
            row = connection.execute(select(analyses.c.filename, results.c.result)
                                     .join(results, results.c.id == analyses.c.result_id)
                                     .where(analyses.c.id == analysis_id)).first()
        return None if row is None else {"filename": row.filename, **json.loads(row.result)}

    def signal(self, analysis_id: str) -> np.ndarray | None:
        if not valid_id(analysis_id):
            return None
        with self.db.read() as connection:
            row = connection.execute(select(signal_samples.c.samples, signals.c.stored_at)
                                     .join(signals, signals.c.result_id == signal_samples.c.result_id)
                                     .join(analyses, analyses.c.result_id == signals.c.result_id)
                                     .where(analyses.c.id == analysis_id)).first()
        if row is None or self._expired(row.stored_at):
            return None
        return np.frombuffer(row.samples, dtype=SIGNAL_DTYPE).astype(np.float32)

    def picture(self, analysis_id: str, kind: str) -> bytes | None:
        if not valid_id(analysis_id):
            return None
        with self.db.read() as connection:
            row = connection.execute(
                select(pictures.c.png, signals.c.stored_at)
                .join(signals, signals.c.result_id == pictures.c.result_id)
                .join(analyses, analyses.c.result_id == pictures.c.result_id)
                .where(analyses.c.id == analysis_id, pictures.c.kind == kind)).first()
        return None if row is None or self._expired(row.stored_at) else row.png

    def put_picture(self, analysis_id: str, kind: str, png: bytes) -> None:
        """Cache a drawn picture; dropped quietly when the signal went meanwhile, or another node cached it first."""
        try:
            with self.db.write() as connection:
                result_id = self._result_id(connection, analysis_id)
                if result_id and connection.scalar(select(signals.c.result_id).where(signals.c.result_id == result_id)):
                    connection.execute(insert(pictures).values(result_id=result_id, kind=kind, png=png))
        except IntegrityError:
            pass

    def _expired(self, stored_at: float) -> bool:
        return self.clock() - stored_at > self.ttl_s

    # ------------------------------------------------------------------ bounds
    def drop_old(self) -> int:
        """Delete analyses older than ``result_ttl_s``, then the results no analysis names that are as old,
        with their audio and pictures; how many results went."""
        if self.result_ttl_s is None:
            return 0
        cutoff = self.clock() - self.result_ttl_s
        named = select(analyses.c.result_id)
        dropped = 0
        while True:
            with self.db.write() as connection:
                old = list(connection.scalars(select(analyses.c.id).where(analyses.c.created_at < cutoff).limit(500)))
                connection.execute(delete(analyses).where(analyses.c.id.in_(old)))
                gone = list(connection.scalars(select(results.c.id).where(results.c.created_at < cutoff,
                                                                          results.c.id.not_in(named)).limit(500)))
                self._drop_audio(connection, gone)
                connection.execute(delete(results).where(results.c.id.in_(gone)))
            dropped += len(gone)
            if len(old) < 500 and len(gone) < 500:
                if dropped:
                    log.info("dropped %d results older than %g s that no analysis names any more", dropped,
                             self.result_ttl_s)
                return dropped

    @staticmethod
    def _drop_audio(connection, result_ids: list[str]) -> None:
        connection.execute(delete(pictures).where(pictures.c.result_id.in_(result_ids)))
        connection.execute(delete(signal_samples).where(signal_samples.c.result_id.in_(result_ids)))
        connection.execute(delete(signals).where(signals.c.result_id.in_(result_ids)))

    def maybe_prune(self, keep: str | None = None) -> None:
        if time.monotonic() - self._last_prune > PRUNE_EVERY_S:
            self.prune(keep)

    def prune(self, keep: str | None = None) -> None:
        """Drop expired signals, then the oldest until under ``max_bytes``, with their pictures.

        Runs at most every PRUNE_EVERY_S from ``add``: the store may exceed its cap by what
        arrives in that time. ``keep`` (the result just stored) is never dropped for size, so even a
        signal larger than the cap can be read back.
        """
        self._last_prune = time.monotonic()
        with self.db.write() as connection:
            gone = [row.result_id for row in connection.execute(
                select(signals.c.result_id).where(signals.c.stored_at < self.clock() - self.ttl_s))]
            total = connection.scalar(select(func.coalesce(func.sum(signals.c.size), 0))) or 0
            if total > self.max_bytes:
                oldest = connection.execute(select(signals.c.result_id, signals.c.size)
                                            .order_by(signals.c.stored_at)).all()
                total -= sum(row.size for row in oldest if row.result_id in gone)
                for row in oldest:
                    if total <= self.max_bytes:
                        break
                    if row.result_id == keep or row.result_id in gone:
                        continue
                    gone.append(row.result_id)
                    total -= row.size
            for start in range(0, len(gone), 500):
                self._drop_audio(connection, gone[start:start + 500])
        if gone:
            log.info("dropped the audio of %d results (expired or over the store's size)", len(gone))
