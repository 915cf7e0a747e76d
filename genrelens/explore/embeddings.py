"""A track's vector for "more like this": which one, and how stored vectors become one matrix.

The vector is the nearest-genre index's 64-d space (``models/electronic_reference.npz``: musicnn's
pooled features, standardised, then a PCA fitted at training time), averaged over the track's
segments and scaled to unit length (``genrelens.analysis.pipeline.track_vector``), so cosine
similarity is a dot product. musicnn gives it exactly; the student gives its own estimate of it
(it was trained to), and so do analyses by the MFCC CNN, whose tags and electronic details are the
student's: every model's analyses share one space. ``bench/similar_quality.py`` chose this space over
musicnn's tags, its other layers and the MFCC summary (docs/performance.md).
"""
from __future__ import annotations

import numpy as np

from genrelens.jobs.store import VECTOR_DTYPE


def unit(rows: np.ndarray) -> np.ndarray:
    """Rows (or one vector) scaled to unit length; a zero row stays zero."""
    rows = np.asarray(rows, np.float64)
    return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)


def from_bytes(data: bytes) -> np.ndarray:
    """One stored vector (little-endian float32, as ``AnalysisStore`` writes it)."""
    return np.frombuffer(data, VECTOR_DTYPE)


def matrix(blobs: list[bytes], dims: int) -> np.ndarray:
    """Stored vectors as one (n, dims) float32 matrix, in a single copy."""
    if not blobs:
        return np.zeros((0, dims), np.float32)
    return np.frombuffer(b"".join(blobs), VECTOR_DTYPE).reshape(len(blobs), dims)
