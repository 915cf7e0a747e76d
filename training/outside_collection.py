"""Music from another collection (``--outside-dir``): labelled clips to CHOOSE with and report, never to fit.

Layout: ``<dir>/<genre>/<file>`` with ``INDEX.csv`` (file, genre, artist, title, ...). Each clip is its own
track, on a split of its own (``dev``), so no fit and no TRAIN/VALID/TEST figure ever includes it.
"""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from training.files import AudioFile

SPLIT = "dev"


def scan(data_dir: Path) -> list[AudioFile]:
    data_dir = Path(data_dir)
    with open(data_dir / "INDEX.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [AudioFile(path=data_dir / row["file"], genre=row["genre"], track=f"outside/{row['file']}", split=SPLIT,
                      source="outside", artist=row.get("artist", ""), title=row.get("title", "")) for row in rows]


def describe(examples: list) -> dict:
    """Clips and artists per genre (the card says what the outside figures stand on)."""
    files = [ex.file for ex in examples]
    return {genre: {"clips": n, "artists": len({f.artist for f in files if f.genre == genre})}
            for genre, n in sorted(Counter(f.genre for f in files).items())}
