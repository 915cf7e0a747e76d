"""MFCC segments per audio file, cached on disk so a second run skips decoding.

The cache key holds the feature settings, the file's path relative to the data dir, its size and
its modification time: change any and the file is decoded again.
"""
from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from genrelens.analysis.audio import decode
from genrelens.analysis.pipeline import AnalysisError, FeatureSettings, extract_features, mfcc_segments

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
        mfcc, silent = segments.features, segments.silent
    except AnalysisError as exc:  # too short to use: cached as "no segments"
        log.warning("%s: %s", path, exc.message)
        mfcc = np.zeros((0, settings.frames_per_segment, settings.n_features), np.float32)
        silent = np.zeros(0, dtype=bool)
    Path(entry).parent.mkdir(parents=True, exist_ok=True)
    tmp = entry + ".tmp.npz"
    np.savez(tmp, mfcc=mfcc, silent=silent)
    Path(tmp).replace(entry)
    return entry


def _compute_all(function, jobs: list, total: int, workers: int, what: str) -> None:
    """Run ``function`` over the cache entries still missing, on ``workers`` processes."""
    if not jobs:
        return
    log.info("computing %s for %d of %d files", what, len(jobs), total)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, _ in enumerate(pool.map(function, jobs, chunksize=4), 1):
            if done % 100 == 0:
                log.info("  %d/%d", done, len(jobs))


def load_segments(
    paths: list[Path], settings: FeatureSettings, cache_dir: Path, workers: int = 2
) -> list[np.ndarray]:
    """Audible feature segments, (n, frames, n_features), for each path (computing missing entries)."""
    entries = [_entry(Path(cache_dir), settings, Path(p)) for p in paths]
    missing = [(str(p), settings, str(e)) for p, e in zip(paths, entries) if not e.exists()]
    _compute_all(_compute, missing, len(paths), workers, "feature segments")
    result = []
    for entry in entries:
        with np.load(entry) as data:
            result.append(data["mfcc"][~data["silent"]])
    return result


# --- training material: the whole feature matrix and simulated excerpts ------------------------

TRAINING_CACHE_VERSION = "v1"


def _training_entry(cache_dir: Path, settings: FeatureSettings, path: Path, n_pseudo: int) -> Path:
    stat = path.stat()
    ident = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{n_pseudo}|{TRAINING_CACHE_VERSION}"
    return cache_dir / (settings_key(settings) + "-train") / (hashlib.sha1(ident.encode()).hexdigest() + ".npz")


def random_excerpt(samples: np.ndarray, settings: FeatureSettings, rng: np.random.Generator) -> np.ndarray:
    """A 2-3 s piece cut at random from a longer decoded clip (a simulated GTZAN excerpt)."""
    length = int(rng.uniform(settings.min_clip_seconds, settings.segment_seconds) * settings.sample_rate)
    start = int(rng.integers(0, len(samples) - length))
    return samples[start : start + length]


def pseudo_excerpts(samples: np.ndarray, settings: FeatureSettings, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` features of 2-3 s excerpts cut at random from a longer clip, looped like the real ones.

    GTZAN's pieces here are whole clips for some genres and 2-3 s excerpts (looped to 3 s by
    ``fit_to_segment``) for others; without looped material of every genre the model learns
    "looped means disco". Each excerpt goes through the served feature functions unchanged.
    """
    sr = settings.sample_rate
    out = np.zeros((0, settings.frames_per_segment, settings.n_features), np.float32)
    if count <= 0 or len(samples) < 4 * sr:
        return out
    blocks = []
    for _ in range(count):
        segments = mfcc_segments(random_excerpt(samples, settings, rng), settings)
        if len(segments.features) and not segments.silent[0]:
            blocks.append(segments.features[0])
    return np.stack(blocks).astype(np.float32) if blocks else out


def _compute_training(args: tuple[str, FeatureSettings, str, str, int]) -> str:
    path, settings, entry, segment_entry, n_pseudo = args
    audio = decode(path, settings.sample_rate, MAX_TRAINING_CLIP_S)
    empty = np.zeros((0, settings.frames_per_segment, settings.n_features), np.float32)
    try:
        signal, spectral, segments = extract_features(audio.samples, settings)
        full = spectral.features.T.astype(np.float32)  # (frames, n_features)
        mfcc, silent = segments.features, segments.silent
        seed = int(hashlib.sha1(Path(path).name.encode()).hexdigest()[:8], 16)
        pseudo = pseudo_excerpts(audio.samples, settings, n_pseudo, np.random.default_rng(seed))
        excerpt = len(audio.samples) < settings.segment_samples
    except AnalysisError as exc:
        log.warning("%s: %s", path, exc.message)
        full = np.zeros((0, settings.n_features), np.float32)
        mfcc, silent, pseudo, excerpt = empty, np.zeros(0, dtype=bool), empty, True
    for target, arrays in ((entry, {"full": full, "pseudo": pseudo, "excerpt": np.array(excerpt)}),
                           (segment_entry, {"mfcc": mfcc, "silent": silent})):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        tmp = target + ".tmp.npz"
        np.savez(tmp, **arrays)
        Path(tmp).replace(target)
    return entry


@dataclass
class TrainingItem:
    segments: np.ndarray  # (n, frames, n_features): audible segments as the server cuts them
    full: np.ndarray  # (frames, n_features): the whole (looped if short) clip, for random crops
    pseudo: np.ndarray  # (k, frames, n_features): simulated looped 2-3 s excerpts of the clip
    excerpt: bool  # the file itself is shorter than one segment (looped)


def load_training_items(
    paths: list[Path], settings: FeatureSettings, cache_dir: Path, n_pseudo: int = 0, workers: int = 2
) -> list[TrainingItem]:
    """Per file: its served segments, its whole feature matrix and ``n_pseudo`` simulated excerpts.

    Fills the segment cache of ``load_segments`` on the way (one decode per file).
    """
    entries = [_training_entry(Path(cache_dir), settings, Path(p), n_pseudo) for p in paths]
    segment_entries = [_entry(Path(cache_dir), settings, Path(p)) for p in paths]
    missing = [(str(p), settings, str(e), str(s), n_pseudo)
               for p, e, s in zip(paths, entries, segment_entries) if not (e.exists() and s.exists())]
    _compute_all(_compute_training, missing, len(paths), workers, "training features")
    items = []
    for entry, segment_entry in zip(entries, segment_entries):
        with np.load(entry) as data, np.load(segment_entry) as segs:
            items.append(TrainingItem(segs["mfcc"][~segs["silent"]], data["full"], data["pseudo"], bool(data["excerpt"])))
    return items
