"""The jobs room: analyses and jobs in a database, and the queues that carry files to workers.

``database`` (the tables; SQLite or PostgreSQL), ``store`` (analyses, results, their audio and
pictures), ``analyse`` (one file into the store), ``book`` (jobs and their files, the book of record),
``queues`` (embedded or Celery), ``pool`` (the embedded pool of local workers), ``celery_app`` and
``celery_worker`` (the scale-out workers). Nothing here may import numpy before ``celery_worker`` has
set one math thread, so this file imports nothing.
"""
