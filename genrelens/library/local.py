"""The library tagger on this machine: a pool of processes, each with its own models, one file at a time.

Workers are started with ``spawn``: LiteRT's (XNNPACK's) threads do not survive a fork. Each loads
``GenreClassifier`` once (the pool's initializer) and runs LiteRT and BLAS on one thread, so
``--workers`` processes use that many cores without fighting over them. Files go out one at a time
(``chunksize=1``: a long file holds up no other) and come back in the order they finish. Ctrl-C is
left to the parent, which ends the pool (``Pool.terminate``: SIGTERM); ``--write-tags`` tags a file in
the worker that classified it, and a worker's SIGTERM removes the copy it was tagging
(``genrelens.library.interrupts``).
"""
from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator

from genrelens.analysis.glance import glance
from genrelens.library.interrupts import exit_on_sigterm
from genrelens.library.outcomes import Fatal, Outcome, Track, tag_file
from genrelens.problems import FileProblem, classify
from genrelens.results_csv import printable
from genrelens.settings import model_runtime
from genrelens.threads import one_math_thread

log = logging.getLogger("genrelens.library")

_worker: dict = {}


def _start_worker(model_dir: str, max_seconds: float, model: str | None, write_tags: bool) -> None:
    exit_on_sigterm()  # Ctrl-C is the parent's to handle; its SIGTERM ends this worker, copies removed
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _worker.update(model=model, write_tags=write_tags)
    try:
        from genrelens.analysis.pipeline import GenreClassifier

        _worker["classifier"] = GenreClassifier(model_dir, max_seconds, default_model=model, musicnn_threads=1,
                                                runtime=model_runtime())
    except Exception as exc:  # a failing initializer makes Pool start workers forever: report it instead
        _worker["broken"] = f"the models could not be loaded from {model_dir}: {exc}"


def _classify_here(track: Track) -> Outcome:
    if "broken" in _worker:
        raise Fatal(_worker["broken"])
    try:
        analysis = classify(_worker["classifier"], track.path, _worker["model"])
    except FileProblem as problem:
        return Outcome(track, error={"code": problem.code, "message": problem.message})
    except Exception as exc:  # one odd file must not stop the run
        log.exception("%s: unexpected error", printable(track.path))
        return Outcome(track, error={"code": "internal_error", "message": f"Something went wrong: {exc}"})
    outcome = Outcome(track, genres=analysis.genres[:3], glance=glance(analysis.to_dict()))
    if _worker["write_tags"]:
        tag_file(outcome)
    return outcome


def local_outcomes(todo: list[Track], workers: int, model_dir: str, max_seconds: float, model: str | None,
                   write_tags: bool) -> Iterator[Outcome]:
    """Each file's Outcome as a worker finishes it."""
    one_math_thread()  # the spawned workers inherit it (genrelens/threads.py)
    try:
        model_runtime()  # a bad MODEL_RUNTIME stops the run here, in one line, before any worker starts
    except ValueError as exc:
        raise Fatal(str(exc)) from None
    workers = max(1, min(workers, len(todo)))
    log.info("starting %d worker process(es)", workers)
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, _start_worker, (model_dir, max_seconds, model, write_tags)) as pool:
        yield from pool.imap_unordered(_classify_here, todo, chunksize=1)
