"""The web server keeps its embedded job pool running: the gunicorn master starts it
(``gunicorn.conf.py``, ``when_ready``), a thread of the master restarts it when it dies (the OOM killer,
a crash), and ``/healthz`` answers 503 ``degraded`` with the reason while it is down.

The pool's state lives in a page of shared memory made in the master before it forks its web workers,
so every worker reads what the master's thread writes. A pool that keeps dying right after its start
is restarted after a growing pause (1, 2, 4 ... 60 s), so a broken setting costs a log line a minute,
not a core.
"""
from __future__ import annotations

import ctypes
import logging
import mmap
import subprocess
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

CHECK_EVERY_S = 0.5
FIRST_PAUSE_S, LONGEST_PAUSE_S = 1.0, 60.0
STEADY_AFTER_S = 60.0  # a pool that ran this long was healthy: its next restart is at once


class _Shared(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_int), ("up", ctypes.c_bool), ("restarts", ctypes.c_int),
                ("reason", ctypes.c_char * 240)]


class PoolState:
    """What the master knows of its pool, readable by every process forked after it was made."""

    def __init__(self):
        self._memory = mmap.mmap(-1, ctypes.sizeof(_Shared))  # anonymous and shared: survives fork as one page
        self._shared = _Shared.from_buffer(self._memory)

    def running(self, pid: int) -> None:
        self._shared.pid, self._shared.up, self._shared.reason = pid, True, b""

    def down(self, reason: str) -> None:
        self._shared.reason = reason.encode("utf-8", "replace")[:239]
        self._shared.pid, self._shared.up = 0, False

    def restarted(self) -> None:
        self._shared.restarts += 1

    @property
    def problem(self) -> str | None:
        """None while the pool runs; else why it does not."""
        return None if self._shared.up else (self._shared.reason.decode("utf-8", "replace") or "the job pool is down")

    @property
    def restarts(self) -> int:
        return self._shared.restarts


_current: PoolState | None = None


def current_pool_state() -> PoolState | None:
    """The state of the pool this server supervises; None when it supervises none (no embedded pool,
    or an app not run by gunicorn, as in the tests' clients)."""
    return _current


def _how(returncode: int | None) -> str:
    """How a process ended; 0 also when gunicorn's master reaped it first (it reaps every child) and the
    status was lost."""
    if not returncode:
        return "ended"
    return f"was killed by signal {-returncode}" if returncode < 0 else f"exited with status {returncode}"


class PoolSupervisor:
    """Starts the pool with ``start`` (a Popen, or None for no pool) and restarts it when it ends."""

    def __init__(self, start: Callable[[], subprocess.Popen | None], stop: Callable[[subprocess.Popen], None],
                 clock: Callable[[], float] = time.monotonic):
        self._start, self._stop, self.clock = start, stop, clock
        self.state = PoolState()
        self.process: subprocess.Popen | None = None
        self._started_at = 0.0
        self._pause_s = 0.0
        self._restart_at: float | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start the pool and the thread that watches it; False when there is no pool to run."""
        global _current
        self.process = self._start()
        if self.process is None:
            return False
        self._started_at = self.clock()
        self.state.running(self.process.pid)
        _current = self.state
        self._thread = threading.Thread(target=self._watch, name="genrelens-pool-supervisor", daemon=True)
        self._thread.start()
        return True

    def _watch(self) -> None:
        while not self._stopping.wait(CHECK_EVERY_S):
            try:
                self.check()
            except Exception:
                log.exception("could not restart the job pool; trying again")

    def check(self) -> None:
        """One look: a pool that ended is said to be down, and started again when its pause is over."""
        with self._lock:
            if self._stopping.is_set():
                return
            now = self.clock()
            if self._restart_at is None:
                if self.process is None or self.process.poll() is None:
                    return
                lived = now - self._started_at
                growing = min(LONGEST_PAUSE_S, max(FIRST_PAUSE_S, 2 * self._pause_s))
                self._pause_s = 0.0 if lived >= STEADY_AFTER_S else growing
                self._restart_at = now + self._pause_s
                reason = f"the job pool (pid {self.process.pid}) {_how(self.process.returncode)} after {lived:.0f} s"
                when = f" in {self._pause_s:g} s" if self._pause_s else ""
                self.state.down(f"{reason}; restarting it{when}")
                log.error("%s; restarting it%s", reason, when)
            if now < self._restart_at:
                return
            self._restart_at = None
            self.process = self._start()
            self._started_at = self.clock()
            self.state.restarted()
            if self.process is not None:
                self.state.running(self.process.pid)
                log.warning("started a new job pool (pid %d)", self.process.pid)

    def stop(self) -> None:
        """The server is stopping: no more restarts, and the pool is stopped."""
        self._stopping.set()
        with self._lock:
            if self.process is not None:
                self._stop(self.process)
        if self._thread is not None:
            self._thread.join(timeout=5)
