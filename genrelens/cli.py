"""The batch command line: classify files without the server (``python music_genre_classifier.py``).

Each file gets one line. With ``--json`` the line is the API's answer with ``filename`` (the path as
given) first, or for a file that cannot be classified ``{"filename": ..., "error": {"code", "message"}}``
with the API's code and words for the same file (an empty file, a text file, a silent one, ...).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from decimal import ROUND_HALF_UP, Decimal

from genrelens.audio import DecodeError, DecoderUnavailable
from genrelens.pipeline import DEFAULT_MAX_ANALYSIS_SECONDS, DEFAULT_MODEL_DIR, MODEL_NAMES, AnalysisError, GenreClassifier
from genrelens.problems import file_problem


def pct(probability: float, digits: int = 0) -> str:
    """The page's rounding rule (static/js/format.js): half away from zero on the stored decimal digits."""
    value = Decimal(repr(float(probability))).scaleb(2).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{value + 0} %"  # + 0: no "-0"


class FileProblem(Exception):
    """A file the command cannot classify: ``code`` and ``message`` as the API would answer."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def check_readable(path: str) -> None:
    """The checks the API makes before decoding (it receives a file, so it never sees the OS errors)."""
    if not os.path.exists(path):
        raise FileProblem("not_found", "There is no such file.")
    if os.path.isdir(path):
        raise FileProblem("not_a_file", "This is a folder, not a file.")
    if not os.access(path, os.R_OK):
        raise FileProblem("unreadable", "This file cannot be read (permission denied).")
    if os.path.getsize(path) == 0:
        raise FileProblem("empty_file", "The file is empty.")  # the API's words (app.py, file_upload)


def classify(classifier: GenreClassifier, path: str, model: str | None):
    """The analysis of one file, or FileProblem with the API's code and message."""
    check_readable(path)
    try:
        analysis, _ = classifier.analyze_file(path, model)
    except DecoderUnavailable as exc:  # this machine's decoder, not a server's
        raise FileProblem("decoder_unavailable", f"The audio decoder (PyAV) is not working: {exc}") from exc
    except (DecodeError, AnalysisError) as exc:  # the API's 415 and 422: its code and words
        _, code, message = file_problem(exc)
        raise FileProblem(code, message) from exc
    except OSError as exc:  # vanished or became unreadable while decoding
        raise FileProblem("unreadable", f"This file cannot be read ({exc.strerror or exc}).") from exc
    return analysis


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classify the genre of audio files.")
    parser.add_argument("files", nargs="+", help="audio files (anything ffmpeg reads)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.add_argument("--model-dir", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_ANALYSIS_SECONDS)
    parser.add_argument("--model", choices=MODEL_NAMES, help="default: the one chosen on VALID (models/musicnn_card.json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    classifier = GenreClassifier(args.model_dir, args.max_seconds, default_model=args.model)
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
