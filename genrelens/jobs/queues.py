"""The queue that carries job files to workers; two queues, one interface (``submit``).

- ``EmbeddedQueue`` (default): nothing to send. The local pool (``python -m genrelens.jobs.pool``)
  claims waiting files from the database itself.
- ``CeleryQueue`` (``BROKER_URL=redis://...``): one Celery task per file, acknowledged late, so a
  worker killed mid-file leaves its message to another worker (``genrelens.jobs.celery_worker``).
"""
from __future__ import annotations

CELERY_TASK = "genrelens.analyse_job_file"


class QueueUnavailable(Exception):
    """The broker could not take the job."""


class EmbeddedQueue:
    """The local pool polls the database: nothing to send."""

    name = "embedded"

    def submit(self, file_ids: list[int]) -> None:
        pass


class CeleryQueue:
    name = "celery"

    def __init__(self, celery_app):
        self.celery = celery_app

    def submit(self, file_ids: list[int]) -> None:
        try:
            for file_id in file_ids:
                self.celery.send_task(CELERY_TASK, args=[file_id])
        except Exception as exc:  # kombu's OperationalError and friends: the broker is down or refused
            raise QueueUnavailable(str(exc)) from exc
