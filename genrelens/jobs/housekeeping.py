"""The database's chores, run now and then by whichever worker processes there are (the embedded pool's
parent, every Celery node's main process): files whose claim expired go back to the queue (every
quarter of a lease, at most every 30 s); and every ``RETENTION_EVERY_S``, finished jobs past
``JOB_TTL_S`` and analyses past ``RESULT_TTL_S`` are deleted, the store's audio pruned, and SQLite's
free pages given back to the file system."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from genrelens.jobs.book import JobBook
from genrelens.jobs.claims import heartbeat_interval
from genrelens.jobs.store import AnalysisStore

log = logging.getLogger(__name__)

RETENTION_EVERY_S = 60.0


class Housekeeping:
    """``resend``: what to do with the ids of files put back in the queue (Celery: send each a message;
    the embedded pool finds them in the database by itself)."""

    def __init__(self, book: JobBook, store: AnalysisStore, resend: Callable[[list[int]], None] | None = None,
                 every_s: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.book = book
        self.store = store
        self.resend = resend
        self.every_s = every_s if every_s is not None else min(30.0, heartbeat_interval(book.claim_timeout_s))
        self.clock = clock
        self._next = float("-inf")
        self._next_retention = float("-inf")

    def maybe_run(self) -> None:
        """Run if it is time; a failure (the database briefly unreachable) is logged and tried again later."""
        if self.clock() < self._next:
            return
        try:
            self.run()
        except Exception:
            self._next = self.clock() + self.every_s
            log.exception("housekeeping failed; trying again in %g s", self.every_s)

    def run(self) -> None:
        self._next = self.clock() + self.every_s
        requeued = self.book.requeue_expired()
        if requeued:
            log.warning("put %d files back in the queue: their workers' claims expired (%s)", len(requeued),
                        ", ".join(map(str, requeued[:20])))
            if self.resend:
                self.resend(requeued)
        if self.clock() >= self._next_retention:
            self._next_retention = self.clock() + RETENTION_EVERY_S
            self.retain()

    def retain(self) -> None:
        """Drop what outlived its time, then give the space back."""
        jobs = self.book.drop_finished()
        results = self.store.drop_old()
        self.store.prune()
        freed = self.store.db.give_back_space()
        if jobs or results or freed:
            log.info("retention: %d finished jobs and %d results dropped, %.0f MB given back to the file system",
                     jobs, results, freed / 1048576)

    def run_in_thread(self) -> threading.Event:
        """Run every ``every_s`` in a daemon thread until the returned event is set."""
        stop = threading.Event()

        def loop() -> None:
            while True:
                self.maybe_run()
                if stop.wait(max(0.0, self._next - self.clock())):
                    return

        threading.Thread(target=loop, name="genrelens-housekeeping", daemon=True).start()
        return stop
