"""Who holds a job file, and until when: a claim is a lease.

A worker's claim names it (``host:pid``) and says when it was last renewed (``job_files.claimed_at``).
While a worker analyses a file, a heartbeat renews the claim every quarter of ``JOB_CLAIM_TIMEOUT_S``.
A claim not renewed for ``JOB_CLAIM_TIMEOUT_S`` has expired whatever machine made it (a replaced
container has a new hostname, and pids are reused inside containers), and any pool or Celery node puts
its file back in the queue (``JobBook.requeue_expired``). A claim of a process on this machine that no
longer exists needs no waiting: it is dead at once (``holder_gone``).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def worker_name(pid: int | None = None) -> str:
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_gone(name: str | None) -> bool:
    """True when ``name`` is a worker process of this machine that no longer exists. A worker of
    another machine is never known gone here: its claim has to expire."""
    if not name:
        return True
    host, _, pid = name.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))


def heartbeat_interval(claim_timeout_s: float) -> float:
    """How often a worker renews its claim: four times per lease, so one slow renewal never loses it."""
    return max(0.05, claim_timeout_s / 4)


class Heartbeat:
    """Renews a claim from a thread while the work runs (the analysis releases the GIL in its native code).

    ``renew`` returns False when the claim is no longer this worker's (it expired and another worker took
    the file); the work goes on regardless, and whoever finishes first records the one result.
    """

    def __init__(self, renew: Callable[[], bool], interval_s: float, what: str = "a job file"):
        self._renew, self._interval_s, self._what = renew, interval_s, what
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="claim-heartbeat", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                if not self._renew():
                    log.warning("the claim on %s was taken over by another worker (it had expired)", self._what)
                    return
            except Exception:  # the database was briefly unreachable: try again at the next beat
                log.exception("could not renew the claim on %s", self._what)
