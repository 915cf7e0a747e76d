"""The database behind analyses and jobs, through SQLAlchemy: a SQLite file by default, PostgreSQL (or any
database SQLAlchemy speaks) when ``DATABASE_URL`` names one, so web nodes and workers on many machines
share it.

Tables:
- ``results``: one per (audio hash, model key); lasts. The same audio analysed again by the same model
  version is answered from here.
- ``analyses``: one per upload or job file, with its own id and filename, pointing at its result:
  two people who upload the same song share the work, never each other's file names.
- ``signals`` (its size and age), ``signal_samples`` (the audio) and ``pictures``: a result's decoded audio
  the pictures are drawn from, and the pictures drawn; bounded (``ANALYSIS_TTL_S``, ``ANALYSIS_STORE_MB``),
  because audio is large and private. The audio has a table of its own: SQLite keeps a row's columns
  together, and a column stored after a megabyte BLOB is read by walking the BLOB's overflow pages, so
  adding up the sizes of a store at its cap read the whole gigabyte (bench/bench_store_cap.py).
- ``embeddings``: one per result, its track vector for "more like this" (``genrelens.explore``): unit
  float32 bytes everywhere and, on PostgreSQL with the pgvector extension, the same vector in a
  ``vector(64)`` column with an HNSW index (cosine), made at start when the extension can be had.
- ``jobs``, ``job_files`` and ``upload_parts``: a batch, one row per file with its state, and the file's
  bytes in parts of ``UPLOAD_PART_BYTES`` until it is analysed (a worker on another machine reads them
  from here; neither end ever holds a whole file in memory).

SQLite: WAL so readers never wait for the writer, and every write transaction starts with
``BEGIN IMMEDIATE``, so two processes never both read then both try to write (which SQLite answers
with "database is locked" at once instead of waiting). Deleted rows leave free pages behind:
``auto_vacuum=INCREMENTAL`` lets ``give_back_space`` return them to the file system (a database made
before that is converted once, by a ``VACUUM`` at start), and the WAL file is truncated after checkpoints.

A database made by an earlier version is brought up to date at start (``_upgrade``).

A SQLite database is private: it holds queued uploads, decoded audio and every file name. Its folder is
made 0700 and its files 0600 (SQLite gives its -wal and -shm files the database file's mode); a folder
owned by another user or open to others is refused at start (``private_folder``).
"""
from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import (Boolean, Column, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table, Text,
                        UniqueConstraint, create_engine, event, inspect)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

metadata = MetaData()
UPLOAD_PART_BYTES = 1 << 20
WAL_LIMIT_BYTES = 64 << 20  # the WAL file is cut back to this after a checkpoint
FREE_SLACK_BYTES = 32 << 20  # free pages kept for the next inserts; beyond, they go back to the file system
GIVE_BACK_BYTES = 256 << 20  # at most this much per pass: the write lock is held while pages move

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
    "signals", metadata,  # narrow: what the store's bounds read, never the audio
    Column("result_id", String(16), ForeignKey("results.id", ondelete="CASCADE"), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("stored_at", Float, nullable=False, index=True),
)

signal_samples = Table(
    "signal_samples", metadata,
    Column("result_id", String(16), ForeignKey("results.id", ondelete="CASCADE"), primary_key=True),
    Column("samples", LargeBinary, nullable=False),  # mono float16 little-endian samples at the model's rate
)

pictures = Table(
    "pictures", metadata,
    Column("result_id", String(16), ForeignKey("results.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("png", LargeBinary, nullable=False),
)

EMBEDDING_DIMS = 64  # the nearest-genre index's space (genrelens.explore.embeddings says why)

embeddings = Table(
    "embeddings", metadata,  # one per result: the track's unit vector (float32, little-endian)
    Column("seq", Integer, primary_key=True, autoincrement=True),  # order of arrival: a reader's cache takes what is new
    Column("result_id", String(16), ForeignKey("results.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("source", String(16), nullable=False),  # the network that made it: musicnn, or the student's estimate
    Column("genre", String(40)),  # the result's genre, so a search over every analysis reads no result's JSON
    Column("vector", LargeBinary, nullable=False),
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
    Column("size", Integer),  # the upload's bytes (JOB_QUEUE_MB bounds those of the files waiting)
    Index("ix_job_files_job", "job_id", "position"),
    Index("ix_job_files_status", "status", "id"),
    Index("ix_job_files_analysis", "analysis_id"),  # which job an analysis came from ("more like this")
)

upload_parts = Table(
    "upload_parts", metadata,  # a job file's bytes until it is analysed, in parts of UPLOAD_PART_BYTES
    Column("file_id", Integer, ForeignKey("job_files.id", ondelete="CASCADE"), primary_key=True),
    Column("part", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)


def _upgrade(connection: Connection) -> None:
    """Bring a database made by an earlier version up to date (after ``create_all`` made what was missing)."""
    tables = set(inspect(connection).get_table_names())
    if "samples" in {column["name"] for column in inspect(connection).get_columns("signals")}:
        # the audio in the same row as its size and age: dropped (it is kept an hour at most, and the
        # results stay), the pictures drawn from it with it
        connection.exec_driver_sql("DELETE FROM pictures")
        connection.exec_driver_sql("DROP TABLE signals")
        signals.create(connection)
        log.info("database upgraded: the stored audio now has a table of its own (earlier audio dropped)")
    if "size" not in {column["name"] for column in inspect(connection).get_columns("job_files")}:
        connection.exec_driver_sql("ALTER TABLE job_files ADD COLUMN size INTEGER")
    if "uploads" in tables:  # one row per file with its whole bytes: each becomes one part
        connection.exec_driver_sql("INSERT INTO upload_parts (file_id, part, data) "
                                   "SELECT file_id, 0, data FROM uploads")
        connection.exec_driver_sql("UPDATE job_files SET size = (SELECT length(data) FROM uploads "
                                   "WHERE uploads.file_id = job_files.id) WHERE size IS NULL")
        connection.exec_driver_sql("DROP TABLE uploads")
        log.info("database upgraded: queued files' bytes moved to upload_parts")
    connection.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_job_files_analysis ON job_files (analysis_id)")


def pgvector_literal(vector) -> str:
    """A vector as pgvector's text form (``[x,y,...]``), for ``CAST(:v AS vector)``."""
    return "[" + ",".join(f"{float(x):.7g}" for x in vector) + "]"


def _pgvector(connection: Connection) -> bool:
    """PostgreSQL: the pgvector extension, the embeddings' ``v`` column and its HNSW index (cosine), made
    if missing; False (numpy serves "more like this") when the extension cannot be had."""
    available = connection.exec_driver_sql(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'").scalar()
    if not available:
        log.info("PostgreSQL without pgvector: \"more like this\" searches with numpy (docs/operations.md)")
        return False
    try:  # in a savepoint: a role that may not create the extension leaves the rest of the start intact
        with connection.begin_nested():
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector")
            connection.exec_driver_sql(f"ALTER TABLE embeddings ADD COLUMN IF NOT EXISTS v vector({EMBEDDING_DIMS})")
            connection.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_embeddings_v ON embeddings "
                                       "USING hnsw (v vector_cosine_ops)")
    except DBAPIError as exc:
        # another process starting at the same moment may have made them first: then they are there
        made = connection.exec_driver_sql(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'embeddings' AND column_name = 'v'"
        ).scalar()
        if made:
            return True
        log.warning("pgvector is installed but could not be set up (%s): \"more like this\" searches with numpy",
                    exc.orig)
        return False
    return True


class UnsafeDatabaseFolder(RuntimeError):
    """The SQLite database's folder is not this user's alone."""


def private_folder(folder: Path) -> None:
    """Make ``folder`` (0700) if it is missing; refuse one another user owns (it could be made ahead, in
    a shared temp folder, to read or swap the database) or that others may open."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    uid = os.geteuid()
    for how, status in (("is a link owned by", folder.lstat()), ("is owned by", folder.stat())):
        if status.st_uid != uid:
            raise UnsafeDatabaseFolder(
                f"The database folder {folder} {how} another user (uid {status.st_uid}), not this one (uid {uid}): "
                "its files would hold uploads and their names. Set ANALYSIS_DIR (or DATABASE_URL) to a folder of "
                "this user's own.")
    mode = folder.stat().st_mode & 0o777
    if mode & 0o077:
        raise UnsafeDatabaseFolder(
            f"The database folder {folder} is open to other users (mode {mode:04o}): its files hold uploads and "
            f"their names. Make it private (chmod 700 {folder}) or set ANALYSIS_DIR to a private folder.")


def private_file(path: Path) -> None:
    """The database file 0600 before SQLite opens it (its -wal and -shm take its mode), and files of an
    earlier version made with the umask's mode made private."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o600))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if name.exists() and name.stat().st_mode & 0o077:
            name.chmod(0o600)


class Database:
    """One engine per process (a forked worker must not share its parent's connections), tables made
    on first use."""

    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self._engine: Engine | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self.has_pgvector = False  # PostgreSQL with the extension: set when the engine is made

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None or self._pid != os.getpid():
                if self._engine is not None:
                    self._engine.dispose(close=False)  # the parent's connections stay the parent's
                self._engine = self._create_engine()
                self._pid = os.getpid()
                if self.is_sqlite:
                    self._incremental_vacuum_once()
                with self._engine.connect().execution_options(write=True) as connection, connection.begin():
                    metadata.create_all(connection)  # in a write transaction: processes starting together wait in turn
                    _upgrade(connection)
                    if not self.is_sqlite and connection.dialect.name == "postgresql":
                        self.has_pgvector = _pgvector(connection)
            return self._engine

    def _create_engine(self) -> Engine:
        if not self.is_sqlite:
            return create_engine(self.url, pool_pre_ping=True)
        database = make_url(self.url).database
        if database and database != ":memory:":
            private_folder(Path(database).absolute().parent)
            private_file(Path(database))
        engine = create_engine(self.url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_settings(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # transactions are begun below, not by the driver
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes effect in a new database (before any table)
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection):
            immediate = connection.get_execution_options().get("write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    def _incremental_vacuum_once(self) -> None:
        """A database made without auto_vacuum can only switch by a VACUUM (it rewrites the file): once."""
        connection = self._engine.raw_connection()
        try:
            cursor = connection.cursor()
            if cursor.execute("PRAGMA auto_vacuum").fetchone()[0] == 0 and \
                    cursor.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                log.warning("converting the database to incremental vacuum: a VACUUM, once (a large file takes a while)")
                cursor.execute("VACUUM")
            cursor.close()
        finally:
            connection.close()

    def give_back_space(self, slack_bytes: int = FREE_SLACK_BYTES) -> int:
        """SQLite: return free pages beyond ``slack_bytes`` (at most ``GIVE_BACK_BYTES`` a call) to the file
        system and cut the WAL file back; the bytes given back. PostgreSQL's autovacuum does this itself."""
        if not self.is_sqlite:
            return 0
        connection = self.engine.raw_connection()  # autocommit: a checkpoint cannot run inside a transaction
        try:
            cursor = connection.cursor()
            page = cursor.execute("PRAGMA page_size").fetchone()[0]
            free = cursor.execute("PRAGMA freelist_count").fetchone()[0]
            extra = min(free - slack_bytes // page, GIVE_BACK_BYTES // page)
            if extra > 0:  # run to its end: Python's execute() would step it once, freeing one page
                connection.driver_connection.executescript(f"PRAGMA incremental_vacuum({int(extra)});")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            cursor.close()
            return max(0, extra) * page
        finally:
            connection.close()

    @contextmanager
    def write(self):
        """A transaction that writes: committed at the end, rolled back on an exception."""
        with self.engine.connect().execution_options(write=True) as connection, connection.begin():
            yield connection

    @contextmanager
    def read(self):
        with self.engine.connect() as connection, connection.begin():
            yield connection
