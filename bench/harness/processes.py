"""Processes a bench starts, and what /proc says of any process.

Each process runs in a session of its own (``start_new_session``): Ctrl-C in the terminal reaches the
bench, not it; SIGTERM to its process group reaches it and its children (gunicorn's workers and job
pool, a Celery node's pool, the tagger's workers); and whatever is left in its session afterwards is
found by session id and ended. Its output goes to a log file, never a pipe (a chatty server would block
on a full one).
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .report import progress

ROOT = Path(__file__).resolve().parents[2]
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A measurement could not be made; the message says what, with the tail of the relevant logs."""


class Process:
    """A command we start in its own session, logging to ``log_path``; stopped with ``stop_signal`` to its
    process group, SIGKILL after ``grace_s``."""

    stop_signal = signal.SIGTERM

    def __init__(self, name: str, command: list[str], env: dict, log_path: Path, grace_s: float = 75.0):
        self.name, self.command, self.env, self.log_path, self.grace_s = name, command, env, log_path, grace_s
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0  # time.perf_counter() at start

    def start(self) -> Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.started_at = time.perf_counter()
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.process.returncode}\n{self.log_tail()}")

    def wait_until(self, ready: Callable[[], object], timeout_s: float, what: str, poll_s: float = 0.1,
                   not_yet: tuple[type[Exception], ...] = (OSError,)) -> object:
        """Call ``ready()`` every ``poll_s`` until it answers something true (an exception of ``not_yet``
        counts as not yet) and return that; BenchError with the log's tail when the process exits first or
        ``timeout_s`` passes."""
        deadline = time.perf_counter() + timeout_s
        while True:
            self.check_alive()
            try:
                answer = ready()
                if answer:
                    return answer
            except not_yet:
                pass
            if time.perf_counter() > deadline:
                raise BenchError(f"{self.name}: {what} after {timeout_s:g} s\n{self.log_tail()}")
            time.sleep(poll_s)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = 2500) -> str:
        text = self.log_text()
        return f"--- last {min(chars, len(text))} characters of {self.log_path.name} ---\n{text[-chars:]}"

    def stop(self) -> None:
        """``stop_signal`` to the whole process group, SIGKILL after ``grace_s`` (gunicorn's graceful_timeout
        is 60 s); then anything left in the session (a pool child that outlived its parent) is ended."""
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.pid, self.stop_signal)
                self.process.wait(timeout=self.grace_s)
            except subprocess.TimeoutExpired:
                progress(f"{self.name} did not stop in {self.grace_s:g} s after {self.stop_signal.name}: SIGKILL")
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
            except ProcessLookupError:
                pass
        self.process.wait()
        end_sessions({self.pid})


class Processes:
    """Every process a run started: stopped at the end, last started first (nodes and web before the broker),
    whatever happens; and the check that none is left."""

    def __init__(self):
        self.running: list[Process] = []
        self.sessions: set[int] = set()

    def start(self, proc: Process) -> Process:
        self.running.append(proc.start())
        self.sessions.add(proc.pid)
        return proc

    def stop(self, *procs: Process) -> dict[int, str]:
        """Stop these (last first); returns what is still alive in their sessions afterwards (nothing, normally)."""
        for proc in reversed(procs):
            try:
                proc.stop()
            except Exception as exc:  # noqa: BLE001 -- stop the others whatever happens
                progress(f"stopping {proc.name}: {exc!r}")
            if proc in self.running:
                self.running.remove(proc)
        return session_processes({proc.pid for proc in procs if proc.process is not None})

    def stop_all(self) -> dict[int, str]:
        """Stop every process still running; SIGKILL to anything left in their sessions. Returns what was left."""
        self.stop(*self.running)
        left = self.leftovers()
        if left:
            progress(f"left running after the stop, killing: {left}")
            end_sessions(self.sessions, grace_s=0)
        return left

    def leftovers(self) -> dict[int, str]:
        return session_processes(self.sessions)


def log_tails(procs: Iterable[Process]) -> str:
    return "\n".join(proc.log_tail() for proc in procs)


# --------------------------------------------------------------------------- /proc


def _stat(pid: int | str) -> list[str]:
    """Fields 3 (state) onwards of /proc/<pid>/stat (the command name may hold spaces and parentheses)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def session_processes(sessions: set[int]) -> dict[int, str]:
    """pid -> command line of every live (not zombie) process in one of these sessions."""
    found = {}
    for pid in _pids():
        try:
            fields = _stat(pid)
            if int(fields[3]) in sessions and fields[0] != "Z":
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                found[pid] = command.decode(errors="replace").strip()
        except (OSError, IndexError, ValueError):
            continue
    return found


def end_sessions(sessions: set[int], grace_s: float = 15.0) -> None:
    """SIGTERM to every process left in these sessions until none is or ``grace_s`` passes, then SIGKILL."""
    deadline = time.monotonic() + grace_s
    while (left := session_processes(sessions)) and time.monotonic() < deadline:
        for pid in left:
            _signal(pid, signal.SIGTERM)
        time.sleep(0.5)
    for pid in session_processes(sessions):
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (gunicorn's master: its workers, and the job pool when it runs one)."""
    found = []
    for child in _pids():
        try:
            if int(_stat(child)[1]) == pid:
                found.append(child)
        except (OSError, IndexError, ValueError):
            continue
    return sorted(found)


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime: the process and its reaped children (ffmpeg, say)."""
    try:
        fields = _stat(pid)
    except OSError:
        return 0.0
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK


def session_cpu(sessions: set[int]) -> float:
    """CPU seconds, with reaped children, of the live processes of these sessions."""
    total = 0
    for pid in _pids():
        try:
            fields = _stat(pid)
            if int(fields[3]) in sessions:
                total += sum(int(fields[i]) for i in (11, 12, 13, 14))
        except (OSError, IndexError, ValueError):
            continue
    return total / CLK_TCK


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / CLK_TCK


def own_cpu() -> float:
    """CPU seconds of this bench process itself."""
    times = os.times()
    return times.user + times.system


class CpuMeter:
    """CPU seconds since it was made: of the processes of ``sessions`` (ours), and of the rest of the machine
    (others' work; the bench process itself left out). Unlike wall time, ours barely moves when others share
    the machine."""

    def __init__(self, sessions: set[int] | None = None):
        self.sessions = sessions or set()
        self._ours, self._busy, self._own = session_cpu(self.sessions), machine_busy(), own_cpu()

    def ours(self) -> float:
        return session_cpu(self.sessions) - self._ours

    def others(self, ours: float) -> float:
        """The machine's busy CPU seconds less ``ours`` and the bench's own."""
        return max(0.0, machine_busy() - self._busy - ours - (own_cpu() - self._own))


def memory_mb(pid: int) -> tuple[float | None, float | None]:
    """(RSS, PSS) in MB; PSS splits the pages shared with a preloading master fairly."""
    rss = pss = None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) / 1024
    except OSError:
        pass
    return rss, pss


def mapped_libraries(pid: int) -> set[str]:
    """The files mapped into a process (its shared libraries among them)."""
    try:
        lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    except OSError:
        return set()
    return {line.split()[-1] for line in lines if len(line.split()) >= 6 and line.split()[-1].startswith("/")}


def wait_until_idle(sessions: set[int], threshold_cpu: float, timeout_s: float) -> tuple[float, bool]:
    """Until these sessions' processes used less than ``threshold_cpu`` CPU-seconds over a 1-s window (every
    worker has loaded and warmed its models, which is CPU-bound): (seconds waited, idle reached)."""
    started = time.perf_counter()
    previous = session_cpu(sessions)
    while time.perf_counter() - started < timeout_s:
        time.sleep(1.0)
        now = session_cpu(sessions)
        if now - previous < threshold_cpu:
            return time.perf_counter() - started, True
        previous = now
    return time.perf_counter() - started, False
