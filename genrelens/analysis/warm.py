"""Warm numba's on-disk cache of librosa's compiled code at install time, so a first start takes seconds.

    python -m genrelens.analysis.warm          # `make run` and `make test` run it once, after installing the venv

librosa compiles its numba kernels when its modules are imported (and a few on their first call) and
keeps the machine code in a cache: ``librosa/**/__pycache__/*.nbi, *.nbc`` next to its sources, or
``NUMBA_CACHE_DIR`` when that is set. With a cold cache the server's first start compiles for a
quarter of a minute to a minute in silence; with a warm one it loads the code in about a second.
This runs the server's own warm-up (every feature function and model, on a few seconds of noise),
so whatever the pipeline calls is compiled and cached, and says where the cache went.

``warm_up(classifier)`` is the server's warm-up with a line in the log before and after, and a
warning that says why when it was slow (a cache that was never warmed, or one numba cannot write).
"""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

SLOW_WARM_UP_S = 5.0  # a warm-up slower than this compiled librosa's code instead of loading it


def _server_log() -> logging.Logger:
    """gunicorn's error log when running under gunicorn (the app's own loggers have no handler there)."""
    gunicorn = logging.getLogger("gunicorn.error")
    return gunicorn if gunicorn.handlers else log


def cache_files() -> tuple[str, int]:
    """Where numba caches librosa's code, and how many cache index files are there."""
    import librosa

    where = os.environ.get("NUMBA_CACHE_DIR")
    root = Path(where) if where else Path(librosa.__file__).parent
    return str(root), sum(1 for _ in root.rglob("*.nbi")) if root.exists() else 0


def cache_problem() -> str | None:
    """Why numba could not keep librosa's code between starts (None when it can)."""
    where = os.environ.get("NUMBA_CACHE_DIR")
    if where:
        return None if os.access(where, os.W_OK) or not os.path.exists(where) else \
            f"NUMBA_CACHE_DIR={where} is not writable"
    import librosa

    if not os.access(Path(librosa.__file__).parent, os.W_OK):
        return (f"librosa's folder {Path(librosa.__file__).parent} is not writable: set NUMBA_CACHE_DIR to a "
                "writable, lasting folder (the same at install and at run time) and run `python -m genrelens.analysis.warm`")
    return None


def warm_up(classifier) -> float:
    """``classifier.warm_up()``, announced in the server's log; returns the seconds it took."""
    server_log = _server_log()
    server_log.info("warming up: librosa's compiled code and one run of every model ...")
    started = time.perf_counter()
    classifier.warm_up()
    seconds = time.perf_counter() - started
    server_log.info("warm in %.1f s", seconds)
    if seconds > SLOW_WARM_UP_S:
        server_log.warning("the warm-up took %.0f s: numba compiled librosa's code instead of loading it from its "
                           "cache; %s", seconds, cache_problem() or "`python -m genrelens.analysis.warm` at install time "
                           "(the Makefile runs it) makes the next start take seconds")
    return seconds


def main() -> int:
    print("genrelens: warming numba's cache of librosa's compiled code (the first time takes up to a minute) ...",
          flush=True)
    started = time.perf_counter()
    from genrelens.analysis.pipeline import GenreClassifier

    imported = time.perf_counter()
    GenreClassifier().warm_up()
    where, count = cache_files()
    print(f"genrelens: warm in {time.perf_counter() - started:.1f} s (imports {imported - started:.1f} s); "
          f"{count} cached functions in {where}", flush=True)
    problem = cache_problem()
    if problem or count == 0:  # a warning, not a failed install: the server still works, it starts slowly
        print(f"genrelens: WARNING: numba cannot keep its cache, every start will compile again: "
              f"{problem or 'no cache files were written'}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
