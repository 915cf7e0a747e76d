"""The Celery application, for both ends: the web app sends one task per job file, the workers
(``genrelens.jobs.celery_worker``) run them.

Late acknowledgement: a task's message is acknowledged when the file's result is recorded, not when a
worker takes it. A worker process killed mid-file gives its message back (``task_reject_on_worker_lost``);
a whole worker node that vanishes leaves its messages unacknowledged, and Redis hands them to another
worker once ``JOB_VISIBILITY_TIMEOUT_S`` has passed. Each worker process takes one file at a time.
"""
from __future__ import annotations

from celery import Celery

QUEUE = "genrelens"


def make_celery(broker_url: str, visibility_timeout_s: float) -> Celery:
    app = Celery("genrelens", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,  # results live in the database, not in a result backend
        task_default_queue=QUEUE,
        broker_connection_retry_on_startup=True,
        # Redis gives a vanished worker's messages to another worker after the visibility timeout; the
        # sweep that looks for them runs every unacked_restore_interval seconds (kombu: 10 x 10 s by default)
        broker_transport_options={"visibility_timeout": visibility_timeout_s,
                                  "unacked_restore_interval": max(1, min(10, int(visibility_timeout_s / 5))),
                                  "unacked_restore_throttle": 1},
        # the web node fails fast (503) rather than holding a request while the broker is down
        broker_connection_timeout=5,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
    )
    return app
