"""The database behind analyses and jobs, through SQLAlchemy: a SQLite file by default, PostgreSQL (or any
database SQLAlchemy speaks) when ``DATABASE_URL`` names one, so web nodes and workers on many machines
share it.

Tables:
- ``results``: one per (audio hash, model key); lasts. The same audio analysed again by the same model
  version is answered from here.
- ``analyses``: one per upload or job file, with its own id and filename, pointing at its result:
  two people who upload the same song share the work, never each other's file names.
- ``signals`` and ``pictures``: a result's decoded audio the pictures are drawn from, and the pictures
  drawn; bounded (``ANALYSIS_TTL_S``, ``ANALYSIS_STORE_MB``), because audio is large and private.
- ``jobs``, ``job_files`` and ``uploads``: a batch, one row per file with its state, and the file's
  bytes until it is analysed (a worker on another machine reads them from here).

SQLite: WAL so readers never wait for the writer, and every write transaction starts with
``BEGIN IMMEDIATE``, so two processes never both read then both try to write (which SQLite answers
with "database is locked" at once instead of waiting).
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import (Boolean, Column, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table, Text,
                        UniqueConstraint, create_engine, event)
from sqlalchemy.engine import Connection, Engine, make_url

metadata = MetaData()

results = Table(
    "results", metadata,
    Column("id", String(16), primary_key=True),
    Column("audio_hash", String(64)),  # None for results that are never matched again
    Column("model_key", String(80)),
    Column("result", Text, nullable=False),  # the API's JSON, without the upload's own filename
    Column("created_at", Float, nullable=False),
    UniqueConstraint("audio_hash", "model_key", name="uq_results_audio_model"),
)

analyses = Table(
    "analyses", metadata,  # one per upload or job file: its own id and name, a result it may share
    Column("id", String(16), primary_key=True),
    Column("result_id", String(16), ForeignKey("results.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("filename", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
)

signals = Table(
    "signals", metadata,
    Column("result_id", String(16), ForeignKey("results.id", ondelete="CASCADE"), primary_key=True),
    Column("samples", LargeBinary, nullable=False),  # mono float16 little-endian samples at the model's rate
    Column("size", Integer, nullable=False),
    Column("stored_at", Float, nullable=False, index=True),
)

pictures = Table(
    "pictures", metadata,
    Column("result_id", String(16), ForeignKey("results.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("png", LargeBinary, nullable=False),
)

jobs = Table(
    "jobs", metadata,
    Column("id", String(16), primary_key=True),
    Column("model", String(32)),  # None: the server's default
    Column("created_at", Float, nullable=False),
)

job_files = Table(
    "job_files", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(16), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("filename", String(200), nullable=False),
    Column("status", String(8), nullable=False),  # queued, running, done, failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_by", String(120)),
    Column("claimed_at", Float),
    Column("finished_at", Float),
    Column("analysis_id", String(16)),
    Column("cached", Boolean, nullable=False, default=False),
    Column("summary", Text),  # JSON: genre, confidence and the top three genres, for the job's table
    Column("error_code", String(40)),
    Column("error_message", Text),
    Index("ix_job_files_job", "job_id", "position"),
    Index("ix_job_files_status", "status", "id"),
)

uploads = Table(
    "uploads", metadata,
    Column("file_id", Integer, ForeignKey("job_files.id", ondelete="CASCADE"), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)


class Database:
    """One engine per process (a forked worker must not share its parent's connections), tables made
    on first use."""

    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self._engine: Engine | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None or self._pid != os.getpid():
                if self._engine is not None:
                    self._engine.dispose(close=False)  # the parent's connections stay the parent's
                self._engine = self._create_engine()
                self._pid = os.getpid()
                with self._engine.connect().execution_options(write=True) as connection, connection.begin():
                    metadata.create_all(connection)  # in a write transaction: processes starting together wait in turn
            return self._engine

    def _create_engine(self) -> Engine:
        if not self.is_sqlite:
            return create_engine(self.url, pool_pre_ping=True)
        database = make_url(self.url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(self.url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_settings(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # transactions are begun below, not by the driver
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection):
            immediate = connection.get_execution_options().get("write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    @contextmanager
    def write(self):
        """A transaction that writes: committed at the end, rolled back on an exception."""
        with self.engine.connect().execution_options(write=True) as connection, connection.begin():
            yield connection

    @contextmanager
    def read(self):
        with self.engine.connect() as connection, connection.begin():
            yield connection
