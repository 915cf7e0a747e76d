"""The pipeline's entry point (design card): decode -> segments -> models -> Analysis, and the batch CLI.

The code lives in the ``genrelens`` package (``genrelens.analysis.pipeline``, ``genrelens.cli``); this file
re-exports the pipeline for ``import music_genre_classifier`` and runs the CLI:

    python music_genre_classifier.py song.mp3 [--json] [--model musicnn]
"""
import sys

from genrelens.cli import main
from genrelens.analysis.pipeline import *  # noqa: F401,F403  (the pipeline's public names)

if __name__ == "__main__":
    sys.exit(main())
