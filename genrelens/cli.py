"""The batch command line: classify files without the server (``python music_genre_classifier.py``).

Each file gets one line. With ``--json`` the line is the API's answer with ``filename`` (the path as
given) first, or for a file that cannot be classified ``{"filename": ..., "error": {"code", "message"}}``
with the API's code and words for the same file (an empty file, a text file, a silent one, ...).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from decimal import ROUND_HALF_UP, Decimal

from genrelens.analysis.pipeline import DEFAULT_MAX_ANALYSIS_SECONDS, MODEL_NAMES, GenreClassifier
from genrelens.models import DEFAULT_MODEL_DIR
from genrelens.problems import FileProblem, classify
from genrelens.settings import model_runtime


def pct(probability: float, digits: int = 0) -> str:
    """The page's rounding rule (static/js/format.js): half away from zero on the stored decimal digits."""
    value = Decimal(repr(float(probability))).scaleb(2).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{value + 0} %"  # + 0: no "-0"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classify the genre of audio files.")
    parser.add_argument("files", nargs="+", help="audio files (anything ffmpeg reads)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.add_argument("--model-dir", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_ANALYSIS_SECONDS)
    parser.add_argument("--model", choices=MODEL_NAMES, help="default: the one chosen on VALID (models/musicnn_card.json)")
    args = parser.parse_args(argv)
    try:
        runtime = model_runtime()
    except ValueError as exc:  # a bad MODEL_RUNTIME: said in one line, before any work
        parser.error(str(exc))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    classifier = GenreClassifier(args.model_dir, args.max_seconds, default_model=args.model, runtime=runtime)
    failures = 0
    for path in args.files:
        try:
            analysis = classify(classifier, path, args.model)
        except FileProblem as problem:
            failures += 1
            if args.json:
                print(json.dumps({"filename": path, "error": {"code": problem.code, "message": problem.message}}))
            else:
                print(f"{path}: error: {problem.message}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps({"filename": path, **analysis.to_dict()}))
        else:
            top = ", ".join(f"{g['genre']} {pct(g['probability'])}" for g in analysis.genres[:3])
            tags = ", ".join(t["tag"] for t in analysis.tags[:5])
            print(f"{path}: {analysis.genre} ({pct(analysis.confidence)}); {top}; "
                  f"{len(analysis.segments)} segments over {analysis.analyzed_s:.1f} s" + (f"; tags: {tags}" if tags else ""))
    return 1 if failures else 0
