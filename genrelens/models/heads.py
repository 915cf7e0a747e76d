"""Linear heads on musicnn's outputs, served with numpy: the genre decision and the electronic styles.

Each head is one standardisation and one linear softmax layer (a few thousand numbers), so numpy is
all it needs. The genre decision mixes two heads in log space:

- ``pooled``: on musicnn's 1506 pooled features (mean and max over time of its mid end);
- ``tags``: on the log-odds of musicnn's 50 style tags, fitted close to a hand-made tag -> genre map
  (``training/musicnn_head.py``), so it keeps what musicnn learned from ~200k songs instead of the
  quirks of one small data set.

``log p = (1 - tag_share) log p_pooled + tag_share log p_tags``, renormalised; ``tag_share`` is chosen on
VALID and on the cross-source checks. The arrays live in ``models/musicnn_heads.npz``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

HEADS_FILE = "musicnn_heads.npz"
_FIELDS = ("mean", "scale", "weights", "bias")


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def tag_log_odds(tags: np.ndarray) -> np.ndarray:
    """musicnn's tag likelihoods (sigmoid outputs) as log-odds, clipped to +-9.2 (1e-4)."""
    p = np.clip(np.asarray(tags, dtype=np.float64), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


@dataclass
class LinearHead:
    """``softmax(((x - mean) / scale) @ weights + bias)``."""

    mean: np.ndarray  # (d,)
    scale: np.ndarray  # (d,)
    weights: np.ndarray  # (d, k)
    bias: np.ndarray  # (k,)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, np.float64) - self.mean) / self.scale) @ self.weights + self.bias

    def predict(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.logits(x))

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        return {f"{name}.{f}": getattr(self, f) for f in _FIELDS}

    @classmethod
    def from_arrays(cls, arrays, name: str) -> "LinearHead":
        return cls(*(np.asarray(arrays[f"{name}.{f}"], np.float64) for f in _FIELDS))


@dataclass
class GenreHead:
    """The genre decision from musicnn's outputs: the pooled-feature head and the tag head, mixed."""

    pooled: LinearHead
    tags: LinearHead
    tag_share: float

    def predict(self, outputs: dict[str, np.ndarray]) -> np.ndarray:
        """Genre probabilities per row of ``outputs`` (``MusicnnNetwork.run``: ``pooled`` and ``tags``)."""
        mixed = 0.0
        if self.tag_share < 1:
            mixed = mixed + (1 - self.tag_share) * log_softmax(self.pooled.logits(outputs["pooled"]))
        if self.tag_share > 0:
            mixed = mixed + self.tag_share * log_softmax(self.tags.logits(tag_log_odds(outputs["tags"])))
        return softmax(mixed)


def save_heads(path: Path, heads: dict[str, LinearHead]) -> None:
    arrays: dict[str, np.ndarray] = {}
    for name, head in heads.items():
        arrays |= head.arrays(name)
    tmp = Path(path).with_name(".tmp-" + Path(path).name)
    with open(tmp, "wb") as handle:
        np.savez(handle, **{k: v.astype(np.float32) for k, v in arrays.items()})
    tmp.replace(path)


def load_heads(path: Path) -> dict[str, LinearHead]:
    with np.load(path) as arrays:
        names = sorted({key.split(".")[0] for key in arrays.files})
        return {name: LinearHead.from_arrays(arrays, name) for name in names}


def ensemble_average(musicnn: np.ndarray, mfcc_cnn: np.ndarray, weight: float) -> np.ndarray:
    """The ``ensemble`` model: per segment, ``weight`` of the musicnn heads' answer and the rest the MFCC CNN's."""
    return weight * musicnn + (1 - weight) * mfcc_cnn
