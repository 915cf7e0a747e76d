"""Celery workers for jobs, on any number of machines that reach the broker and the database:

    BROKER_URL=redis://host:6379/0 DATABASE_URL=postgresql://... celery -A genrelens.jobs.celery_worker worker

The worker's parent process loads the models once and frees the LiteRT interpreters before Celery forks
its pool; each pool process warms its own copy and then analyses one file per task
(``genrelens.jobs.pool.analyse_claim``). ``--concurrency`` defaults to the machine's cores. The main
process also does the database's chores (``genrelens.jobs.housekeeping``): a file whose claim expired (its
worker's machine vanished) goes back to the queue with a new message.
"""
from __future__ import annotations

import logging

from genrelens.threads import one_math_thread

one_math_thread()  # before numpy is imported (genrelens/threads.py)

import threading  # noqa: E402

from celery.signals import worker_init, worker_process_init, worker_ready, worker_shutdown  # noqa: E402

from genrelens.jobs.book import JobBook  # noqa: E402
from genrelens.jobs.celery_app import make_celery  # noqa: E402
from genrelens.jobs.claims import worker_name  # noqa: E402
from genrelens.jobs.database import Database  # noqa: E402
from genrelens.jobs.housekeeping import Housekeeping  # noqa: E402
from genrelens.jobs.pool import WorkerContext, analyse_claim, sweep_orphan_job_files  # noqa: E402
from genrelens.jobs.queues import CELERY_TASK, CeleryQueue  # noqa: E402
from genrelens.jobs.store import AnalysisStore  # noqa: E402
from genrelens.settings import database_url, settings_from_env  # noqa: E402

log = logging.getLogger(__name__)

settings = settings_from_env()
if not settings["BROKER_URL"]:
    raise SystemExit("genrelens.jobs.celery_worker: set BROKER_URL (e.g. redis://localhost:6379/0) to run Celery workers")
celery = make_celery(settings["BROKER_URL"], settings["JOB_VISIBILITY_TIMEOUT_S"])
celery.conf.worker_proc_alive_timeout = 120  # a pool process warms the models before it says it is up

_context: WorkerContext | None = None
_housekeeping_stop: threading.Event | None = None


def context() -> WorkerContext:
    global _context
    if _context is None:
        _context = WorkerContext.from_settings(settings)
    return _context


@worker_init.connect
def _load_models(**_) -> None:
    context().classifier.release()  # loaded once in the parent; each forked process makes its interpreters


@worker_ready.connect
def _start_housekeeping(**_) -> None:
    """In the node's main process: its own database handle, never used by the pool processes it forks."""
    global _housekeeping_stop
    database = Database(database_url(settings))
    chores = Housekeeping(JobBook.from_settings(database, settings), AnalysisStore.from_settings(database, settings),
                          resend=CeleryQueue(celery).submit)
    _housekeeping_stop = chores.run_in_thread()


@worker_shutdown.connect
def _stop_housekeeping(**_) -> None:
    if _housekeeping_stop is not None:
        _housekeeping_stop.set()


@worker_process_init.connect
def _warm_models(**_) -> None:
    """A new pool process (also the one replacing a killed one, whose temp file it removes)."""
    sweep_orphan_job_files(context().upload_dir)
    context().classifier.warm_up()


@celery.task(name=CELERY_TASK)
def analyse_job_file(file_id: int) -> str:
    """Analyse one job file. A message for a file already finished (redelivered) changes nothing."""
    worker = context()
    claim = worker.book.claim(worker_name(), file_id)
    if claim is None:
        return "finished already"
    status = analyse_claim(worker, claim)
    log.info("%s: %s (file %d, attempt %d)", claim.filename, status, claim.file_id, claim.attempts)
    return status
