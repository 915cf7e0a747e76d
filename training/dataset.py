"""Find the audio of a GTZAN-style data dir (``<data-dir>/<genre>/<clip>.<ext>``) and split it by TRACK.

Several files may be pieces of one track (``blues.00012.mp3`` and ``blues.00012.excerpt.mp3``):
the track id is the ``<genre>.<number>`` prefix, and every piece of a track lands on the same side.
With split lists (``*train*.txt``, ``*valid*.txt``, ``*test*.txt``, lines like
``blues/blues.00012.wav``) those decide, and tracks on no list are left out (GTZAN's faulty clips).
Without lists a deterministic hash of the track id splits each genre 70/15/15.
"""
from __future__ import annotations

import hashlib
import logging
import re
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from training.files import AudioFile

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = {".mp3", ".wav", ".au", ".flac", ".ogg", ".opus", ".m4a"}
SPLITS = ("train", "valid", "test")
_TRACK_ID = re.compile(r"^([^.]+\.\d+)")


def track_id(filename: str) -> str:
    """``classical.00012.first15s.mp3`` -> ``classical.00012``; other names -> their stem."""
    match = _TRACK_ID.match(filename)
    return match.group(1) if match else Path(filename).stem


def find_split_lists(split_dir: Path) -> dict[str, set[str]]:
    lists: dict[str, set[str]] = {}
    for split in SPLITS:
        files = sorted(split_dir.glob(f"*{split}*.txt"))
        if len(files) != 1:
            raise ValueError(f"{split_dir}: expected one *{split}*.txt list, found {len(files)}")
        lines = files[0].read_text().split()
        lists[split] = {track_id(Path(line).name) for line in lines}
    return lists


def hash_split(index_in_genre: int, tracks_in_genre: int) -> str:
    """70/15/15 by rank of a stable hash, so every genre with >= 3 tracks has each side."""
    n_test = max(1, round(0.15 * tracks_in_genre)) if tracks_in_genre >= 3 else 0
    n_valid = max(1, round(0.15 * tracks_in_genre)) if tracks_in_genre >= 3 else 0
    if index_in_genre < n_test:
        return "test"
    if index_in_genre < n_test + n_valid:
        return "valid"
    return "train"


def scan(data_dir: Path, split_dir: Path | None = None) -> list[AudioFile]:
    """Every audio file under ``data_dir`` with its genre, track and split side."""
    data_dir = Path(data_dir)
    found: list[tuple[Path, str, str]] = []
    for genre_dir in sorted(p for p in data_dir.iterdir() if p.is_dir() and p.name != "splits"):
        for path in sorted(genre_dir.iterdir()):
            if path.suffix.lower() in AUDIO_EXTENSIONS:
                found.append((path, genre_dir.name, track_id(path.name)))
    if not found:
        raise ValueError(f"{data_dir}: no audio files in <genre>/ folders")

    if split_dir is not None:
        lists = find_split_lists(Path(split_dir))
        side_of = {track: split for split, tracks in lists.items() for track in tracks}
    else:
        side_of = {}
        by_genre: dict[str, list[str]] = defaultdict(list)
        for _, genre, track in found:
            if track not in by_genre[genre]:
                by_genre[genre].append(track)
        for tracks in by_genre.values():
            ranked = sorted(tracks, key=lambda t: hashlib.sha1(t.encode()).hexdigest())
            for rank, track in enumerate(ranked):
                side_of[track] = hash_split(rank, len(ranked))

    files = [AudioFile(path, genre, track, side_of[track]) for path, genre, track in found if track in side_of]
    left_out = len(found) - len(files)
    if left_out:
        log.info("%d files belong to tracks on no split list and are left out", left_out)
    return files


def default_split_dir(data_dir: Path) -> Path | None:
    candidate = Path(data_dir) / "splits"
    return candidate if candidate.is_dir() else None


def load_files(data_dir: Path, split_dir: Path | None = None, electronic_dir: Path | None = None) -> list[AudioFile]:
    """The GTZAN-style files, plus the electronic clips of ``electronic_dir`` that the genre model learns.

    Clips the genre model does not learn (``training.ishkur``: R&B, rock, new age, ...) are left out.
    """
    files = scan(data_dir, split_dir)
    if electronic_dir is not None:
        from training import ishkur

        files += [f for f in ishkur.scan(electronic_dir) if f.genre]
    return files


CODEC_COPY = "ishkur_mp3"


def with_codec_copies(files: list[AudioFile], splits: tuple[str, ...], cache_dir: Path) -> list[AudioFile]:
    """``files`` plus, for the GTZAN files on ``splits``, copies encoded exactly like the electronic clips.

    Every genre then comes in the electronic clips' codec too, so "48 kbit/s" cannot mean "electronic".
    A copy keeps its original's track id and split (it never crosses a split) and has source
    ``gtzan+ishkur_mp3``; evaluation scores originals only.
    """
    from training.reencode import variant_files

    originals = [f for f in files if f.source == "gtzan" and f.split in splits]
    copies = [replace(f, source=f"gtzan+{CODEC_COPY}") for f in variant_files(originals, CODEC_COPY, cache_dir)]
    return files + copies
