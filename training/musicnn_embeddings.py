"""musicnn outputs per audible 3-s segment of every file, cached on disk (``.cache/musicnn_embeddings``).

Per file: the served pipeline's audible segments (``extract_features``, the same silence rule),
one musicnn patch per segment (``musicnn_features``), and what the converted network says for it:
``tags`` (50), ``penultimate`` (200) and ``pooled`` (1506). Rows line up with the MFCC segments of
``training.feature_cache.load_segments``, so the two models can be averaged segment by segment.
Whole clips also get ``pseudo`` rows: looped 2-3 s excerpts cut at random, as for the MFCC CNN.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrelens.analysis import musicnn_features
from genrelens.analysis.audio import decode
from genrelens.analysis.pipeline import AnalysisError, FeatureSettings, extract_features, fit_to_segment
from training.feature_cache import MAX_TRAINING_CLIP_S, _compute_all, random_excerpt

log = logging.getLogger(__name__)

CACHE_VERSION = "v2"
OUTPUTS = ("tags", "penultimate", "pooled")

_network = None  # one LiteRT interpreter per worker process


@dataclass
class Embeddings:
    tags: np.ndarray  # (n, 50)
    penultimate: np.ndarray  # (n, 200)
    pooled: np.ndarray  # (n, 1506)
    pseudo: dict  # the same three, for simulated excerpts: name -> (k, width)


def _network_for(model_path: str):
    global _network
    if _network is None:
        from genrelens.models.musicnn import MusicnnNetwork

        _network = MusicnnNetwork(Path(model_path))
    return _network


def _entry(cache_dir: Path, path: Path, n_pseudo: int, model_path: Path, level_dbfs: float | None) -> Path:
    stat, model = path.stat(), model_path.stat()
    ident = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{n_pseudo}|{model.st_size}|{level_dbfs}|{CACHE_VERSION}"
    return cache_dir / (hashlib.sha1(ident.encode()).hexdigest() + ".npz")


def pseudo_patches(samples: np.ndarray, settings: FeatureSettings, count: int, rng: np.random.Generator,
                   level_dbfs: float | None) -> np.ndarray:
    """``count`` musicnn patches of 2-3 s excerpts cut at random from a whole clip, looped."""
    if count <= 0 or len(samples) < 4 * settings.sample_rate:
        return np.zeros((0, musicnn_features.PATCH_FRAMES, musicnn_features.N_MELS), np.float32)
    looped = [fit_to_segment(random_excerpt(samples, settings, rng), settings) for _ in range(count)]
    return np.stack([musicnn_features.patch(piece, settings.sample_rate, 0.0, level_dbfs) for piece in looped])


def _compute(args: tuple[str, str, str, int, FeatureSettings, float | None]) -> str:
    path, entry, model_path, n_pseudo, settings, level_dbfs = args
    network = _network_for(model_path)
    audio = decode(path, settings.sample_rate, MAX_TRAINING_CLIP_S)
    empty = {name: np.zeros((0, width), np.float32) for name, width in network.OUTPUT_WIDTHS.items()}
    try:  # the segment times and silence flags, as the server cuts them (the MFCC rows are not needed)
        signal, _, segments = extract_features(audio.samples, settings, model_rows=False)
        starts = segments.start_s[~segments.silent]
        patches = musicnn_features.patches(signal, settings.sample_rate, starts, level_dbfs)
        outputs = network.run(patches) if len(starts) else empty
        seed = int(hashlib.sha1(Path(path).name.encode()).hexdigest()[:8], 16)
        pseudo = pseudo_patches(audio.samples, settings, n_pseudo, np.random.default_rng(seed), level_dbfs)
        pseudo_outputs = network.run(pseudo) if len(pseudo) else empty
    except AnalysisError as exc:
        log.warning("%s: %s", path, exc.message)
        outputs, pseudo_outputs = empty, empty
    arrays = {name: outputs[name] for name in OUTPUTS}
    arrays.update({f"pseudo_{name}": pseudo_outputs[name] for name in OUTPUTS})
    Path(entry).parent.mkdir(parents=True, exist_ok=True)
    tmp = entry + ".tmp.npz"
    np.savez(tmp, **arrays)
    Path(tmp).replace(entry)
    return entry


def load_embeddings(paths: list[Path], settings: FeatureSettings, cache_dir: Path, model_path: Path,
                    n_pseudo: int = 0, level_dbfs: float | None = None, workers: int = 2) -> list[Embeddings]:
    """musicnn outputs for the audible segments (and ``n_pseudo`` simulated excerpts) of each file."""
    entries = [_entry(Path(cache_dir), Path(p), n_pseudo, Path(model_path), level_dbfs) for p in paths]
    missing = [(str(p), str(e), str(model_path), n_pseudo, settings, level_dbfs)
               for p, e in zip(paths, entries) if not e.exists()]
    _compute_all(_compute, missing, len(paths), workers, "musicnn embeddings")
    result = []
    for entry in entries:
        with np.load(entry) as data:
            result.append(Embeddings(*(data[name] for name in OUTPUTS),
                                     pseudo={name: data[f"pseudo_{name}"] for name in OUTPUTS}))
    return result
