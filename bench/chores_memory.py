"""Does the database's chores' process grow for ever? (issue 25's soak: the job pool's parent went from 85 to
90 MB RSS in 15 minutes, about 15 passes of the retention, too few to tell a plateau from a leak.)

    .venv/bin/python bench/chores_memory.py                   # from the repo root; about 3 minutes
    .venv/bin/python bench/chores_memory.py --seconds 60      # a quick check

This process runs only the pool parent's chores, ``genrelens.jobs.housekeeping.Housekeeping`` (claims put
back, finished jobs and old analyses deleted, audio pruned, free pages given back), with the retention every
second instead of every minute, so a few minutes hold ten times the soak's passes. Meanwhile a writer
process of its own (``--writer``) churns the same SQLite file as a busy server does: results with 5-s
signals, their analyses, and a job of one file now and then, claimed and ended, all with TTLs of 5 s so the
chores always have work. It prints this process's RSS every 15 s and the passes run, beside what Python's
objects made since the loop began hold (``tracemalloc``) and what SQLite's own heap holds
(``sqlite3_memory_used``, and its high-water mark): a leak of objects grows with the passes; RSS that climbs
in steps while both heaps stay level is the allocator keeping pages it once needed.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from harness import ROOT, BenchRun, Process, bench_env, progress

from genrelens.jobs import housekeeping
from genrelens.jobs.book import JobBook, NewFile
from genrelens.jobs.database import Database
from genrelens.jobs.store import AnalysisStore

TTL_S = 5.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sqlite_heap() -> tuple[float, float]:
    """SQLite's heap in MB, now and at its highest (NaN where its library does not export the counters)."""
    try:
        import _sqlite3

        library = ctypes.CDLL(_sqlite3.__file__)
        library.sqlite3_memory_used.restype = library.sqlite3_memory_highwater.restype = ctypes.c_int64
        return library.sqlite3_memory_used() / 1048576, library.sqlite3_memory_highwater(0) / 1048576
    except (ImportError, OSError, AttributeError):
        return float("nan"), float("nan")


def books(url: str) -> tuple[AnalysisStore, JobBook]:
    database = Database(url)
    return AnalysisStore(database, 1 << 30, TTL_S, TTL_S), JobBook(database, 100_000, claim_timeout_s=4 * TTL_S)


def writer(url: str, seconds: float) -> None:
    """What a busy server writes: a new result and analysis after another, a small job every fifth."""
    store, book = books(url)
    signal = np.random.default_rng(0).standard_normal(5 * 16000).astype(np.float32)
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        signal[n % len(signal)] = n  # every signal its own
        result_id, _ = store.add({"genre": "rock", "take": n}, signal, f"take-{n}", "chores@1")
        store.attach(result_id, f"take-{n}.wav", signal)
        if n % 5 == 0:
            book.create([NewFile.from_bytes("job.wav", os.urandom(200_000))], None)
            claim = book.claim("writer:1")
            if claim:
                book.fail(claim.file_id, "bench", "ended by the bench")
        n += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--writer", help=argparse.SUPPRESS)  # the churning process: the database's URL
    args = parser.parse_args(argv)
    if args.writer:
        writer(args.writer, args.seconds)
        return 0
    with BenchRun("bench/chores_memory.py", argv if argv is not None else sys.argv[1:]) as run:
        folder = run.tmp / "db"
        folder.mkdir(mode=0o700)
        url = f"sqlite:///{folder}/genrelens.sqlite3"
        store, book = books(url)
        store.db.engine  # the tables, before the writer starts
        housekeeping.RETENTION_EVERY_S = 1.0
        chores = housekeeping.Housekeeping(book, store, every_s=0.5)
        passes, retain = 0, chores.retain

        def counted() -> None:
            nonlocal passes
            passes += 1
            retain()

        chores.retain = counted
        run.start(Process("writer", [sys.executable, str(Path(__file__).resolve()), "--writer", url, "--seconds",
                                     str(args.seconds)], bench_env(), run.tmp / "writer.log"))
        started, printed = time.monotonic(), float("-inf")
        tracemalloc.start()

        def line(when: str) -> str:
            heap, highest = sqlite_heap()
            return (f"| {when} | {passes} | {rss_mb():.1f} MB | {tracemalloc.get_traced_memory()[0] / 1048576:.2f} MB "
                    f"| {heap:.2f} MB ({highest:.2f} MB) |")

        print(f"# {run.command()}\n\n| time | retention passes | RSS of the chores' process | Python's objects "
              "| SQLite's heap (highest) |\n|---|---|---|---|---|")
        while time.monotonic() - started < args.seconds:
            chores.maybe_run()
            if time.monotonic() - printed >= 15:
                printed = time.monotonic()
                print(line(f"{printed - started:.0f} s"), flush=True)
            time.sleep(0.5)
        print(line(f"{time.monotonic() - started:.0f} s (end)"))
        progress(f"done; the writer's log: {run.tmp / 'writer.log'} (removed with the temp dir)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
