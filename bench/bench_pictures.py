"""Benchmark: the four pictures drawn straight from the arrays (genrelens/web/pictures.py) against the matplotlib
figure per picture they replaced (bench/pictures_matplotlib.py, kept for this comparison only).

    .venv/bin/python bench/bench_pictures.py                # from the repo root; a few minutes
    .venv/bin/python bench/bench_pictures.py --runs 5 --out ''   # a quick look, nothing written

For a 30-s and a 5-min signal (bench_upload.py's synthetic music, mono at the service's sample rate, as
``store.signal`` hands it to ``render``): each picture by each renderer, one warm-up call, then ``--runs``
rounds; a round draws every picture old then new (interleaved, so a change in the machine's load hits both),
and the four pictures of one renderer one after another (what the page asks for). Wall-clock medians in ms,
and the new/old ratio. Everything in this one process, one call at a time; the math libraries use the
threads the environment gives them (the header says which), as in the web server. Prints the table and writes
``--out`` (bench/pictures.md) with the command, date and machine. Numbers from a busy machine say little:
run it on a quiet one.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import io
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from harness import ROOT, git_state, machine, progress, synth_music, table  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(ROOT))
import pictures_matplotlib as old  # noqa: E402

from genrelens.analysis.pipeline import FeatureSettings  # noqa: E402
from genrelens.web import pictures as new  # noqa: E402

LENGTHS = {"30 s": 30.0, "5 min": 300.0}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def signal_of(seconds: float, sr: int) -> np.ndarray:
    """Music-like mono float32 at ``sr``, as the store keeps a decoded upload."""
    return synth_music(seconds, sr=sr, seed=int(seconds)).mean(axis=1).astype(np.float32)


def timed_ms(draw) -> float:
    started = time.perf_counter()
    draw()
    return (time.perf_counter() - started) * 1000


def measure(signal: np.ndarray, sr: int, n_mfcc: int, runs: int) -> dict[str, dict[str, list[float]]]:
    """Milliseconds per round: {renderer: {picture or 'all four': [one figure per round]}}."""
    renderers = {"old": old.render, "new": new.render}
    for name, render in renderers.items():  # warm-up (librosa's first calls, fonts, colour tables), and a check
        for kind in new.KINDS:
            size = Image.open(io.BytesIO(render(kind, signal, sr, n_mfcc))).size
            assert size == new.SIZE, f"{name} {kind}: {size}, not {new.SIZE}"
    times = {name: {kind: [] for kind in (*new.KINDS, "all four")} for name in renderers}
    for _ in range(runs):
        for name, render in renderers.items():
            spent = [timed_ms(lambda: render(kind, signal, sr, n_mfcc)) for kind in new.KINDS]  # noqa: B023
            for kind, ms in zip(new.KINDS, spent):
                times[name][kind].append(ms)
            times[name]["all four"].append(sum(spent))
    return times


def rows_of(length: str, times: dict[str, dict[str, list[float]]]) -> list[list[str]]:
    rows = []
    for kind in (*new.KINDS, "all four"):
        before, after = statistics.median(times["old"][kind]), statistics.median(times["new"][kind])
        picture = f"**{kind}**" if kind == "all four" else kind
        rows.append([length, picture, f"{before:,.1f}", f"{after:,.1f}", f"{after / before:.2f}"])
    return rows


def versions() -> str:
    found = [f"python {sys.version.split()[0]}"]
    for package in ("numpy", "librosa", "matplotlib", "pillow"):
        found.append(f"{package} {importlib.metadata.version(package)}")
    return ", ".join(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="timed rounds per signal (median of these)")
    parser.add_argument("--n-mfcc", type=int, default=FeatureSettings().n_mfcc, help="coefficients in the MFCC picture")
    parser.add_argument("--out", default=str(ROOT / "bench" / "pictures.md"), help="markdown file ('' for none)")
    args = parser.parse_args(argv)
    sr = FeatureSettings().sample_rate
    started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    load_before = os.getloadavg()
    rows = []
    for length, seconds in LENGTHS.items():
        progress(f"{length}: making the signal, then {args.runs} rounds of 4 pictures x 2 renderers")
        rows += rows_of(length, measure(signal_of(seconds, sr), sr, args.n_mfcc, args.runs))
    mach = machine()
    threads = ", ".join(f"{name}={os.environ.get(name, 'unset')}" for name in THREAD_VARIABLES)
    command = "python bench/bench_pictures.py" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    out = [
        "# Pictures: arrays + Pillow against a matplotlib figure per picture (issue 21, item 3)",
        "",
        (f"Written by `{command}`. Median wall-clock ms of {args.runs} rounds per signal, each picture alone, "
         "one call at a time; `all four` is a round's four pictures one after another. Old: "
         "`bench/pictures_matplotlib.py` (the module before, a `Figure` per picture); new: "
         "`genrelens/web/pictures.py`."),
        "",
        f"- **Date:** {started}; load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}",
        f"- **Machine:** {mach['cpu']}, {mach['nproc']} cores, {mach['ram']}, {mach['os']}",
        f"- **Software:** {versions()}; math threads: {threads}",
        f"- **Code:** {git_state()}; sample rate {sr} Hz, MFCC picture of {args.n_mfcc} coefficients",
        "",
        table(["signal", "picture", "matplotlib (ms)", "arrays + Pillow (ms)", "new / old"], rows),
        "",
    ]
    text = "\n".join(out)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
        progress(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
