"""MFCC segments per audio file, cached on disk so a second run skips decoding.

The cache key holds the feature settings, the file's path relative to the data dir, its size and
its modification time: change any and the file is decoded again.
"""
from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

from audio import decode
from music_genre_classifier import AnalysisError, FeatureSettings, mfcc_segments

log = logging.getLogger(__name__)

MAX_TRAINING_CLIP_S = 600.0


def settings_key(settings: FeatureSettings) -> str:
    return hashlib.sha1(json.dumps(asdict(settings), sort_keys=True).encode()).hexdigest()[:12]


def _entry(cache_dir: Path, settings: FeatureSettings, path: Path) -> Path:
    stat = path.stat()
    ident = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return cache_dir / settings_key(settings) / (hashlib.sha1(ident.encode()).hexdigest() + ".npz")


def _compute(args: tuple[str, FeatureSettings, str]) -> str:
    path, settings, entry = args
    audio = decode(path, settings.sample_rate, MAX_TRAINING_CLIP_S)
    try:
        segments = mfcc_segments(audio.samples, settings)
        mfcc, silent = segments.mfcc, segments.silent
    except AnalysisError as exc:  # too short to use: cached as "no segments"
        log.warning("%s: %s", path, exc.message)
        mfcc = np.zeros((0, settings.frames_per_segment, settings.n_mfcc), np.float32)
        silent = np.zeros(0, dtype=bool)
    Path(entry).parent.mkdir(parents=True, exist_ok=True)
    tmp = entry + ".tmp.npz"
    np.savez(tmp, mfcc=mfcc, silent=silent)
    Path(tmp).replace(entry)
    return entry


def load_segments(
    paths: list[Path], settings: FeatureSettings, cache_dir: Path, workers: int = 2
) -> list[np.ndarray]:
    """Audible MFCC segments, (n, frames, n_mfcc), for each path (computing missing entries)."""
    entries = [_entry(Path(cache_dir), settings, Path(p)) for p in paths]
    missing = [(str(p), settings, str(e)) for p, e in zip(paths, entries) if not e.exists()]
    if missing:
        log.info("computing MFCC segments for %d of %d files", len(missing), len(paths))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for done, _ in enumerate(pool.map(_compute, missing, chunksize=4), 1):
                if done % 100 == 0:
                    log.info("  %d/%d", done, len(missing))
    result = []
    for entry in entries:
        with np.load(entry) as data:
            result.append(data["mfcc"][~data["silent"]])
    return result
