"""One audio file of the training data: its label, its track and split side, its source."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AudioFile:
    path: Path
    genre: str  # the label the genre model learns ("" for a clip kept out of the genre model)
    track: str
    split: str
    source: str = "gtzan"
    style: str = ""  # electronic clips: one of the 7 top-level styles (training.ishkur)
    subgenre: str = ""  # electronic clips: the guide's genre key
    artist: str = ""  # electronic clips: the reference track, as the guide names it
    title: str = ""
    year: str = ""
