"""One run of a bench script: its temp dir, its processes, SIGTERM and Ctrl-C, and the facts of its header."""
from __future__ import annotations

import datetime as dt
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from .facts import git_state, machine, machine_text
from .processes import ROOT, Process, Processes
from .report import progress

if str(ROOT) not in sys.path:  # the scripts import genrelens (and the harness, facts.versions, does too)
    sys.path.insert(0, str(ROOT))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class BenchRun:
    """``with BenchRun("bench/bench_x.py", argv) as run:`` a temp dir (``run.tmp``), SIGTERM handled as Ctrl-C,
    every process started with ``run.start`` stopped when the block ends, whatever happens, and none left
    (checked by session id). The temp dir is removed unless ``keep_temp``, or the block ended with an error
    (its logs are what explains it). The date, the load and the time taken are recorded for the header."""

    def __init__(self, script: str, argv: list[str], keep_temp: bool = False):
        self.script, self.argv, self.keep_temp = script, list(argv), keep_temp
        self.processes = Processes()
        self.tmp = Path()
        self.leftovers: dict[int, str] = {}
        self.started = dt.datetime.now().astimezone()
        self.load_start = list(os.getloadavg())
        self.load_end: list[float] | None = None
        self._clock, self._elapsed = time.perf_counter(), None

    def __enter__(self) -> BenchRun:
        # Ctrl-C even when started with SIGINT ignored; SIGTERM likewise, so that every process is stopped
        self._handlers = (signal.signal(signal.SIGTERM, _interrupt),
                          signal.signal(signal.SIGINT, signal.default_int_handler))
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{Path(self.script).stem.replace('_', '-')}-"))
        return self

    def __exit__(self, kind, error, trace) -> bool:
        try:
            self.leftovers = self.processes.stop_all()
            self.finish()
            if self.keep_temp or (kind is not None and not issubclass(kind, KeyboardInterrupt)):
                progress(f"kept {self.tmp}")
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
        finally:
            signal.signal(signal.SIGTERM, self._handlers[0])
            signal.signal(signal.SIGINT, self._handlers[1])
        return False

    def start(self, proc: Process) -> Process:
        return self.processes.start(proc)

    def stop(self, *procs: Process) -> dict[int, str]:
        return self.processes.stop(*procs)

    def finish(self) -> None:
        """The end of the measuring: the load and the time taken (once; ``__exit__`` calls it too)."""
        if self.load_end is None:
            self.load_end, self._elapsed = list(os.getloadavg()), time.perf_counter() - self._clock

    @property
    def elapsed_s(self) -> float:
        return self._elapsed if self._elapsed is not None else time.perf_counter() - self._clock

    def busy(self, nproc: int | None = None) -> bool:
        """The 1-minute load above half the CPUs at the start or the end: others' work shared the machine."""
        nproc = nproc or len(os.sched_getaffinity(0))
        return max(self.load_start[0], (self.load_end or self.load_start)[0]) > 0.5 * nproc

    # ---- the header's lines

    def command(self) -> str:
        return shlex.join([".venv/bin/python", self.script, *self.argv])

    def date_line(self) -> str:
        return f"- **Date:** {self.started.isoformat(timespec='seconds')} (run took {self.elapsed_s:.0f} s)"

    def command_line(self) -> str:
        return f"- **Command:** `{self.command()}` (from the repo root)"

    @staticmethod
    def code_line() -> str:
        return f"- **Code:** {git_state()}"

    @staticmethod
    def machine_line(facts: dict[str, str] | None = None) -> str:
        return f"- **Machine:** {machine_text(facts or machine())}"

    def load_line(self, busy_note: str = "") -> str:
        """The load average at the start and the end; ``busy_note`` appended after `` -- `` when given."""
        end = self.load_end or list(os.getloadavg())
        return (f"- **Load average** (1/5/15 min) at start {' / '.join(f'{v:.2f}' for v in self.load_start)}, "
                f"at end {' / '.join(f'{v:.2f}' for v in end)}" + (f" -- {busy_note}" if busy_note else ""))

    @staticmethod
    def settings_line(names: tuple[str, ...]) -> str:
        """The service settings that move the numbers, as the caller's environment gave them to the servers."""
        return "- **Service settings:** " + ", ".join(f"{name}={os.environ.get(name, '(default)')}" for name in names)

    @staticmethod
    def versions_line(found: dict[str, str], extra: str = "") -> str:
        return "- **Versions:** " + ", ".join(f"{k} {v}" for k, v in found.items()) + extra
