"""Timed takes: a call timed several times after its warm-up, several calls interleaved round by round (so
a slow spell of a shared machine hits them alike), one call by several clients at once; percentiles."""
from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (numpy's linear rule), NaNs left out; NaN when nothing is left."""
    values = [v for v in values if not math.isnan(v)]
    return float(np.percentile(values, q)) if values else float("nan")


@dataclass
class Takes:
    """The seconds of each timed call (the warm-up calls not among them) and the last call's result."""

    seconds: list[float] = field(default_factory=list)
    result: object = None

    def ms(self, q: float = 50) -> float:
        return percentile([s * 1000 for s in self.seconds], q)

    def add(self, fn: Callable[[], object]) -> None:
        started = time.perf_counter()
        self.result = fn()
        self.seconds.append(time.perf_counter() - started)


def takes(fn: Callable[[], object], repeat: int, warmup: int = 0) -> Takes:
    """``fn()`` ``warmup`` times untimed, then ``repeat`` times timed."""
    for _ in range(warmup):
        fn()
    timed = Takes()
    for _ in range(repeat):
        timed.add(fn)
    return timed


def median_ms(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """The median milliseconds of ``repeat`` calls, and the last call's result."""
    timed = takes(fn, repeat)
    return timed.ms(50), timed.result


def interleaved(calls: dict[str, Callable[[], object]], repeat: int, warmup: int = 1) -> dict[str, Takes]:
    """Each call ``warmup`` times untimed, then ``repeat`` rounds of every call once, in turn."""
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    timed = {name: Takes() for name in calls}
    for _ in range(repeat):
        for name, fn in calls.items():
            timed[name].add(fn)
    return timed


def concurrently(fn: Callable[[], object], count: int, clients: int) -> tuple[list, float]:
    """``count`` calls of ``fn`` by ``clients`` threads, each taking the next call when its last one is
    answered: (the results in the order they finished, wall seconds from the first call to the last answer).
    On Ctrl-C the calls not yet begun are dropped and those running finish first."""
    pool = ThreadPoolExecutor(max_workers=clients, thread_name_prefix="bench-client")
    began = time.perf_counter()
    try:
        futures = [pool.submit(fn) for _ in range(count)]
        results = [future.result() for future in as_completed(futures)]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results, time.perf_counter() - began

