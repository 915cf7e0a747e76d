"""One math-library thread per worker process.

A job worker or a tagger process runs one file at a time on one core, next to others doing the same;
numpy's BLAS (OpenBLAS, MKL) and OpenMP would otherwise start a thread per core in every process, and
they spin against each other: measured with the embedded pool, 0.50 s of CPU per 30-s file with them,
0.31 s with one (`bench/bench_jobs.py`). Must run before numpy is imported; the environment wins.
"""
from __future__ import annotations

import os

ONE_MATH_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def one_math_thread(environ=os.environ) -> None:
    for name, value in ONE_MATH_THREAD.items():
        environ.setdefault(name, value)
