"""The batch command line: classify files without the server (``python music_genre_classifier.py``)."""
from __future__ import annotations

import argparse
import json
import logging
import sys

from genrelens.audio import DecodeError
from genrelens.pipeline import (DEFAULT_MAX_ANALYSIS_SECONDS, DEFAULT_MODEL_DIR, DEFAULT_MUSICNN_WINDOWS, MODEL_NAMES,
                                AnalysisError, GenreClassifier)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classify the genre of audio files.")
    parser.add_argument("files", nargs="+", help="audio files (anything ffmpeg reads)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.add_argument("--model-dir", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_ANALYSIS_SECONDS)
    parser.add_argument("--model", choices=MODEL_NAMES, help="default: the one chosen on VALID (models/musicnn_card.json)")
    parser.add_argument("--musicnn-windows", type=int, default=DEFAULT_MUSICNN_WINDOWS,
                        help="3-s segments musicnn hears per file (0: musicnn off, no tags)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    classifier = GenreClassifier(args.model_dir, args.max_seconds, musicnn_windows=args.musicnn_windows,
                                 default_model=args.model)
    failures = 0
    for path in args.files:
        try:
            analysis, _ = classifier.analyze_file(path, args.model)
        except (DecodeError, AnalysisError, OSError) as exc:
            failures += 1
            message = getattr(exc, "message", None) or str(exc)
            if args.json:
                print(json.dumps({"file": path, "error": message}))
            else:
                print(f"{path}: error: {message}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps({"file": path, **analysis.to_dict()}))
        else:
            top = ", ".join(f"{g['genre']} {g['probability']:.0%}" for g in analysis.genres[:3])
            tags = ", ".join(t["tag"] for t in analysis.tags[:5])
            print(f"{path}: {analysis.genre} ({analysis.confidence:.0%}); {top}; "
                  f"{len(analysis.segments)} segments over {analysis.analyzed_s:.1f} s" + (f"; tags: {tags}" if tags else ""))
    return 1 if failures else 0
