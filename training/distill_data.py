"""Distillation material per file: the student's input and musicnn's outputs for the same 3-s pieces.

Two kinds of piece per file, each a row with the student's input (``genrelens.models.student.student_input``
of the pipeline's mel spectrogram, sliced like the server slices it) and musicnn's ``tags`` and ``pooled`` outputs for the
very same audio (``genrelens.analysis.musicnn_features.patch``, levelled like the server levels it):

- ``grid``: the audible segments as the server cuts them (every 3 s from the start);
- ``pseudo``: looped 2-3 s excerpts of longer files, like the short excerpts some genres come as;
- ``crop`` (``load_crops``, for the files the student learns from): as many 3-s windows again at random
  hop-aligned offsets, so it also hears the music from where the grid never starts (musicnn can label
  any window; the data set cannot).

musicnn's answers for the grid and the excerpts are those ``training.musicnn_embeddings`` caches for
the heads (the same pieces, the same patches); the crops get fresh ones.

Cached in ``.cache/distill`` (one ``.npz`` per file, keyed by the file, the network and the recipe).
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrelens.analysis import musicnn_features
from genrelens.analysis.audio import decode, rms
from genrelens.analysis.pipeline import AnalysisError, FeatureSettings, extract_features, fit_to_segment
from genrelens.models.student import student_input
from training.feature_cache import MAX_TRAINING_CLIP_S, _compute_all, random_excerpt
from training.musicnn_embeddings import _entry as embedding_entry
from training.musicnn_embeddings import load_embeddings

log = logging.getLogger(__name__)

CACHE_VERSION = "v2"
KINDS = ("grid", "pseudo", "crop")

@dataclass
class Pieces:
    """One file's rows: ``kind`` (n,) in KINDS, the student's ``inputs`` (n, frames, n_mels) float16,
    musicnn's ``tags`` (n, 50) and ``pooled`` (n, 1506)."""

    kind: np.ndarray
    inputs: np.ndarray
    tags: np.ndarray
    pooled: np.ndarray

    def joined(self, other: "Pieces") -> "Pieces":
        return Pieces(*(np.concatenate([getattr(self, f), getattr(other, f)]) for f in ("kind", "inputs", "tags", "pooled")))

    def of(self, kinds: tuple[str, ...]) -> "Pieces":
        keep = np.isin(self.kind, kinds)
        return Pieces(self.kind[keep], self.inputs[keep], self.tags[keep], self.pooled[keep])


def _entry(cache_dir: Path, path: Path, model_path: Path, level_dbfs: float, n_pseudo: int) -> Path:
    stat, model = path.stat(), model_path.stat()
    ident = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{model.st_size}|{level_dbfs}|{n_pseudo}|{CACHE_VERSION}"
    return cache_dir / (hashlib.sha1(ident.encode()).hexdigest() + ".npz")


def _compute(args: tuple[str, str, str, FeatureSettings, float, int]) -> str:
    """One file's rows, with musicnn's cached answers for the same pieces."""
    path, entry, teacher_entry, settings, level_dbfs, n_pseudo = args
    with np.load(teacher_entry) as cached:  # training.musicnn_embeddings: the same segments and excerpts
        tags = [cached["tags"], cached["pseudo_tags"]]
        pooled = [cached["pooled"], cached["pseudo_pooled"]]
    audio = decode(path, settings.sample_rate, MAX_TRAINING_CLIP_S)
    seed = int(hashlib.sha1(Path(path).name.encode()).hexdigest()[:8], 16)
    kinds, mels, levels = [], [], []
    try:
        _, _, segments = extract_features(audio.samples, settings, model_rows=False)
        audible = np.flatnonzero(~segments.silent)
        kinds += ["grid"] * len(audible)
        mels += [segments.mel[i] for i in audible]
        levels += [segments.rms[i] for i in audible]
        if len(audio.samples) >= 4 * settings.sample_rate:  # musicnn_embeddings.pseudo_patches' excerpts, in order
            rng = np.random.default_rng(seed)
            for _ in range(n_pseudo):
                _, _, looped = extract_features(fit_to_segment(random_excerpt(audio.samples, settings, rng), settings),
                                                settings, model_rows=False)
                kinds.append("pseudo")
                mels.append(looped.mel[0])
                levels.append(looped.rms[0])
    except AnalysisError as exc:
        log.warning("%s: %s", path, exc.message)
    if len(kinds) != len(tags[0]) + len(tags[1]):
        raise RuntimeError(f"{path}: {len(kinds)} pieces but {len(tags[0]) + len(tags[1])} cached musicnn answers")
    inputs = (student_input(np.stack(mels), np.array(levels), level_dbfs) if mels
              else np.zeros((0, settings.frames_per_segment, settings.n_mels), np.float32))
    tmp = entry + ".tmp.npz"
    np.savez(tmp, kind=np.array(kinds, dtype="U6"), inputs=inputs.astype(np.float16),
             tags=np.concatenate(tags), pooled=np.concatenate(pooled))
    Path(tmp).replace(entry)
    return entry


def load_pieces(paths: list[Path], settings: FeatureSettings, cache_dir: Path, teacher_cache: Path, model_path: Path,
                level_dbfs: float, n_pseudo: int = 3, workers: int = 2) -> list[Pieces]:
    """Every file's rows (computing the missing cache entries on ``workers`` processes).

    musicnn's answers come from ``training.musicnn_embeddings``' cache (``teacher_cache``, filled first where missing).
    """
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    load_embeddings(paths, settings, teacher_cache, model_path, n_pseudo=n_pseudo, level_dbfs=level_dbfs, workers=workers)
    teacher = [embedding_entry(Path(teacher_cache), Path(p), n_pseudo, Path(model_path), level_dbfs) for p in paths]
    entries = [_entry(Path(cache_dir), Path(p), Path(model_path), level_dbfs, n_pseudo) for p in paths]
    missing = [(str(p), str(e), str(t), settings, level_dbfs, n_pseudo)
               for p, e, t in zip(paths, entries, teacher) if not e.exists()]
    _compute_all(_compute, missing, len(paths), workers, "distillation pieces")
    return [_read(entry) for entry in entries]


def _read(entry: Path) -> Pieces:
    with np.load(entry) as data:
        return Pieces(data["kind"], data["inputs"], data["tags"], data["pooled"])


# --- crops: 3-s windows at random offsets, with fresh musicnn answers (for the files the student learns from)

_network = None  # one LiteRT interpreter per worker process


def _network_for(model_path: str):
    global _network
    if _network is None:
        from genrelens.models.musicnn import MusicnnNetwork

        _network = MusicnnNetwork(Path(model_path))
    return _network


def _compute_crops(args: tuple[str, str, str, FeatureSettings, float]) -> str:
    """As many audible 3-s windows as the file has segments, at random hop-aligned offsets, with musicnn's answers."""
    path, entry, model_path, settings, level_dbfs = args
    audio = decode(path, settings.sample_rate, MAX_TRAINING_CLIP_S)
    rng = np.random.default_rng(int(hashlib.sha1(Path(path).name.encode()).hexdigest()[:8], 16) + 1)
    frames, hop, step = settings.frames_per_segment, settings.hop_length, settings.segment_samples
    mels, levels, patches = [], [], []
    try:
        signal, spectral, segments = extract_features(audio.samples, settings, model_rows=False)
        last_frame = min((len(signal) - step) // hop, spectral.mel_power.shape[1] - frames)
        for _ in range(int((~segments.silent).sum()) if last_frame > 0 else 0):
            first = int(rng.integers(0, last_frame + 1))
            level = rms(signal[first * hop : first * hop + step])
            if level < 10 ** (settings.silence_dbfs / 20):
                continue
            mels.append(spectral.mel_power[:, first : first + frames].T)
            levels.append(level)
            patches.append(musicnn_features.patch(signal, settings.sample_rate, first * hop / settings.sample_rate,
                                                  level_dbfs))
    except AnalysisError as exc:
        log.warning("%s: %s", path, exc.message)
    outputs = _network_for(model_path).run(np.stack(patches) if patches else np.zeros((0, 187, 96), np.float32))
    inputs = (student_input(np.stack(mels), np.array(levels), level_dbfs) if mels
              else np.zeros((0, frames, settings.n_mels), np.float32))
    tmp = entry + ".tmp.npz"
    np.savez(tmp, kind=np.array(["crop"] * len(mels), dtype="U6"), inputs=inputs.astype(np.float16),
             tags=outputs["tags"], pooled=outputs["pooled"])
    Path(tmp).replace(entry)
    return entry


def load_crops(paths: list[Path], settings: FeatureSettings, cache_dir: Path, model_path: Path, level_dbfs: float,
               workers: int = 2) -> list[Pieces]:
    """Each file's random crops (``kind`` "crop"), computing the missing cache entries."""
    entries = [_entry(Path(cache_dir), Path(p), Path(model_path), level_dbfs, -1) for p in paths]  # -1: the crop recipe
    missing = [(str(p), str(e), str(model_path), settings, level_dbfs) for p, e in zip(paths, entries) if not e.exists()]
    _compute_all(_compute_crops, missing, len(paths), workers, "random crops")
    return [_read(entry) for entry in entries]
