"""Job workers: what one worker does with one file, and the embedded pool of local worker processes.

    python -m genrelens.jobs.pool [--workers N]     # the embedded pool (gunicorn starts it for `make run`)

The pool's parent loads the models once and forks ``JOB_WORKERS`` children (the models' pages are
shared; each child makes its own LiteRT interpreters, as gunicorn's workers do). Each child claims the
oldest waiting file from the database, analyses it and records the result, one file at a time. A child
that dies (SIGKILL, out of memory) has its file put back in the queue and is replaced; the pool
also puts back, when it starts, the files of children of an earlier pool on this machine that are
gone, and, as long as it runs, the files of any worker anywhere whose claim expired
(``genrelens.jobs.claims``). The pool exits when its parent (the gunicorn master) does, and its children
exit when it does, even when it is killed (SIGKILL, the OOM killer): none is left working on its own.
The gunicorn master restarts a pool that died (``genrelens.jobs.supervision``).
"""
from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from genrelens.analysis.pipeline import GenreClassifier
from genrelens.jobs.analyse import hear
from genrelens.jobs.book import Claim, JobBook
from genrelens.jobs.claims import Heartbeat, heartbeat_interval, holder_gone, pid_alive, worker_name
from genrelens.jobs.database import Database
from genrelens.jobs.housekeeping import Housekeeping
from genrelens.jobs.store import AnalysisStore
from genrelens.problems import file_problem
from genrelens.settings import database_url, settings_from_env, worker_environment
from genrelens.threads import ONE_MATH_THREAD

log = logging.getLogger(__name__)

IDLE_POLL_S = 0.5
SUPERVISE_EVERY_S = 1.0


JOB_FILE_PREFIX = "job-"  # job-<pid>-<random><suffix>: the worker process that wrote it is in its name


def sweep_orphan_job_files(upload_dir: str) -> None:
    """Delete the temp files of worker processes on this machine that are gone (killed mid-file: their
    ``finally`` never ran). Run by each new worker process and by the pool after a child dies."""
    try:
        entries = list(os.scandir(upload_dir))
    except FileNotFoundError:
        return
    for entry in entries:
        pid = entry.name[len(JOB_FILE_PREFIX):].split("-", 1)[0]
        if entry.name.startswith(JOB_FILE_PREFIX) and pid.isdigit() and not pid_alive(int(pid)):
            try:
                os.unlink(entry.path)
                log.warning("removed %s, left by a worker that died mid-file", entry.name)
            except FileNotFoundError:
                pass


@dataclass
class WorkerContext:
    """What a worker process keeps between files: the models, the store and the job book."""

    classifier: GenreClassifier
    store: AnalysisStore
    book: JobBook
    upload_dir: str

    @classmethod
    def from_settings(cls, settings: dict, musicnn_threads: int = 1) -> "WorkerContext":
        os.makedirs(settings["UPLOAD_DIR"], mode=0o700, exist_ok=True)
        database = Database(database_url(settings))
        classifier = GenreClassifier(settings["MODEL_DIR"], settings["MAX_ANALYSIS_SECONDS"], settings["DECODE_TIMEOUT_S"],
                                     settings["DEFAULT_MODEL"], musicnn_threads, settings["MODEL_RUNTIME"])
        store, book = AnalysisStore.from_settings(database, settings), JobBook.from_settings(database, settings)
        return cls(classifier, store, book, settings["UPLOAD_DIR"])


def analyse_claim(context: WorkerContext, claim: Claim) -> str:
    """Analyse one claimed file and record its result or its error; returns the file's new status.

    The file's bytes come from the database into a private temp file (the decoder reads files) that is
    gone when this returns, whatever happens. A heartbeat renews the claim meanwhile.
    """
    renew = lambda: context.book.renew(claim.file_id, claim.worker)  # noqa: E731
    with Heartbeat(renew, heartbeat_interval(context.book.claim_timeout_s), f"{claim.filename} (file {claim.file_id})"):
        return _analyse(context, claim)


def _analyse(context: WorkerContext, claim: Claim) -> str:
    suffix = Path(claim.filename).suffix[:10] if Path(claim.filename).suffix.isascii() else ""
    fd, path = tempfile.mkstemp(prefix=f"{JOB_FILE_PREFIX}{os.getpid()}-", suffix=suffix, dir=context.upload_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            copied = context.book.copy_upload(claim.file_id, out)
        if not copied:  # finished by another worker meanwhile, or its job was withdrawn
            return "gone"
        heard = hear(context.classifier, context.store, path, claim.model)
    except Exception as exc:
        problem = file_problem(exc)
        if problem is None:
            log.exception("job file %d (%s) failed", claim.file_id, claim.filename)
            problem = (500, "internal_error", "Something went wrong on our side while analysing this file.")
        context.book.fail(claim.file_id, problem[1], problem[2])
        return "failed"
    finally:
        os.unlink(path)
    recorded = context.book.finish(claim.file_id, context.store, heard, claim.filename)
    return "done" if recorded else "done by another worker first"


# ---------------------------------------------------------------------------- the embedded pool
class _Stop:
    requested = False

    def __call__(self, *_):
        self.requested = True


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """This process is sent SIGKILL when its parent dies (Linux: ``prctl(PR_SET_PDEATHSIG)``); elsewhere
    the child's loop sees its parent change. A parent that died before the call is caught by the check."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    except (OSError, AttributeError):  # not Linux: no prctl
        pass
    if os.getppid() != parent:
        os._exit(1)


def _child(context: WorkerContext, parent: int) -> None:
    """A pool child: claim, analyse, repeat; on SIGTERM finish the file in hand and exit; with the pool."""
    die_with_parent(parent)
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    sweep_orphan_job_files(context.upload_dir)
    context.classifier.warm_up()
    name = worker_name()
    log.info("job worker %s ready", name)
    while not stop.requested and os.getppid() == parent:
        claim = context.book.claim(name)
        if claim is None:
            time.sleep(IDLE_POLL_S)
            continue
        status = analyse_claim(context, claim)
        log.info("%s: %s (file %d, attempt %d)", claim.filename, status, claim.file_id, claim.attempts)


def orphaned_workers(book: JobBook, exclude: set[str]) -> list[str]:
    """Workers on this machine that hold running files but no longer exist (an earlier pool's)."""
    return [name for name in book.running_workers() if name and name not in exclude and holder_gone(name)]


class LocalPool:
    def __init__(self, context: WorkerContext, workers: int):
        self.context = context
        self.workers = max(1, workers)
        self.children: dict[int, str] = {}

    def _spawn(self) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the parent's loop
            code = 0
            try:
                _child(self.context, parent)
            except BaseException:
                log.exception("job worker crashed")
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        self.children[pid] = worker_name(pid)

    def _reap(self, expected: bool = False) -> list[str]:
        dead = []
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            name = self.children.pop(pid, None)
            if name:
                if not expected:
                    how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"
                    log.warning("job worker %s ended (%s); any file it was analysing goes back to the queue", name, how)
                dead.append(name)
        return dead

    def run(self) -> None:
        """Supervise until SIGTERM/SIGINT or until the parent process is gone."""
        stop = _Stop()
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        parent = os.getppid()
        self.context.classifier.release()  # LiteRT's threads do not survive a fork: each child makes its own
        book = self.context.book
        requeued = book.requeue(orphaned_workers(book, exclude=set()))
        if requeued:
            log.warning("put %d files left running by an earlier pool back in the queue", requeued)
        for _ in range(self.workers):
            self._spawn()
        log.info("embedded job pool: %d workers", self.workers)
        housekeeping = Housekeeping(book, self.context.store)
        while not stop.requested and os.getppid() == parent:
            housekeeping.maybe_run()
            time.sleep(SUPERVISE_EVERY_S)
            dead = self._reap()
            if dead:
                sweep_orphan_job_files(self.context.upload_dir)
            if dead and not stop.requested:
                book.requeue(dead)
                for _ in dead:
                    self._spawn()
        self.stop()

    def stop(self, grace_s: float = 60.0) -> None:
        """Let each child finish the file in hand, then end it; what is left running goes back to the queue."""
        for pid in self.children:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while self.children and time.monotonic() < deadline:
            names = self._reap(expected=True)
            self.context.book.requeue(names)
            time.sleep(0.1)
        for pid, name in list(self.children.items()):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self.context.book.requeue([name])


def start_pool_process(settings: dict) -> subprocess.Popen | None:
    """The embedded pool as a child of the web server, with the web app's settings; None when jobs go
    to Celery (``BROKER_URL``) or ``JOB_WORKERS`` is 0."""
    if settings["BROKER_URL"] or settings["JOB_WORKERS"] <= 0:
        return None
    package_root = Path(__file__).resolve().parents[2]
    return subprocess.Popen([sys.executable, "-m", "genrelens.jobs.pool"], cwd=package_root,
                            env=ONE_MATH_THREAD | os.environ | worker_environment(settings))


def stop_pool_process(process: subprocess.Popen | None, grace_s: float = 60.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the embedded pool of job workers (the settings come from "
                                                 "the environment, as the web app's do).")
    parser.add_argument("--workers", type=int,
                        help="worker processes (default: JOB_WORKERS, the CPUs this process may use)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")
    settings = settings_from_env()
    if settings["BROKER_URL"]:
        print("BROKER_URL is set: jobs go to Celery; start its workers with "
              "`celery -A genrelens.jobs.celery_worker worker` instead.", file=sys.stderr)
        return 2
    context = WorkerContext.from_settings(settings)
    LocalPool(context, args.workers or settings["JOB_WORKERS"]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
