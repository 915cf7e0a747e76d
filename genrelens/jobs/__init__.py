"""The jobs room: analyses and jobs in a database, and the queues that carry files to workers.

``database`` (the tables; SQLite or PostgreSQL), ``store`` (analyses, results, their audio and
pictures), ``analyse`` (one file into the store), ``book`` (jobs and their files, the book of record),
``claims`` (a worker's claim on a file is a lease, renewed by a heartbeat), ``housekeeping`` (expired
claims put back, retention, SQLite's space given back), ``queues`` (embedded or Celery), ``pool`` (the
embedded pool of local workers), ``supervision`` (the web server restarts a dead pool), ``celery_app`` and
``celery_worker`` (the scale-out workers). Nothing here may import numpy before ``celery_worker`` has
set one math thread, so this file imports nothing.
"""
