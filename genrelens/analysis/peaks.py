"""Waveform peaks of an analysed signal, for the page's player: a long file is drawn from these
instead of being decoded whole in the browser (which for 3 hours took ~700 MB of its memory).

The signal the store keeps (mono, at most ``MAX_ANALYSIS_SECONDS``) is cut into at most ``MAX_BINS``
equal runs of samples; each bin is the largest absolute sample in its run. The page hands them to
wavesurfer.js (its ``peaks`` + ``duration``) and draws its own waveform in the shared-link view.
"""
from __future__ import annotations

import numpy as np

MAX_BINS = 4000  # ~1,300 bars of 3 px: more than any screen is wide; ~30 KB of JSON


def peaks(signal: np.ndarray, max_bins: int = MAX_BINS) -> np.ndarray:
    """Max |sample| of each of up to ``max_bins`` equal runs of ``signal`` (float32, in [0, 1])."""
    samples = np.abs(np.ravel(signal))
    if samples.size == 0:
        return np.zeros(0, np.float32)
    step = -(-samples.size // max_bins)  # ceil: never more than max_bins bins
    padded = np.zeros(-(-samples.size // step) * step, samples.dtype)
    padded[: samples.size] = samples
    return padded.reshape(-1, step).max(axis=1).astype(np.float32)


def peaks_json(signal: np.ndarray, sample_rate: int, max_bins: int = MAX_BINS) -> dict:
    """``GET /analyses/<id>/peaks.json``: the bins over ``duration_s``, the length of the analysed signal."""
    values = peaks(signal, max_bins)
    return {
        "duration_s": round(len(signal) / sample_rate, 3),
        "bins": int(values.size),
        "peaks": [round(float(v), 4) for v in values],
    }
