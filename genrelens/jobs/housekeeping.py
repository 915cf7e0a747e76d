"""The database's chores, run now and then by whichever worker processes there are (the embedded pool's
parent, every Celery node's main process): files whose claim expired go back to the queue."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from genrelens.jobs.book import JobBook
from genrelens.jobs.claims import heartbeat_interval

log = logging.getLogger(__name__)


class Housekeeping:
    """``resend``: what to do with the ids of files put back in the queue (Celery: send each a message;
    the embedded pool finds them in the database by itself)."""

    def __init__(self, book: JobBook, resend: Callable[[list[int]], None] | None = None,
                 every_s: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.book = book
        self.resend = resend
        self.every_s = every_s if every_s is not None else min(30.0, heartbeat_interval(book.claim_timeout_s))
        self.clock = clock
        self._next = float("-inf")

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
