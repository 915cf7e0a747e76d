"""Linear heads on musicnn's outputs, served with numpy: the genre decision and the electronic styles.

Each head is one standardisation and one linear softmax layer (a few thousand numbers), so numpy is
all it needs. The genre decision (``GenreHead``) trusts each of musicnn's outputs for what it knows:

- musicnn's 50 tags were learnt from ~200k songs and name eight of our genres ("rock", "indie",
  "alternative rock", ... name rock). Among those ``tagged`` genres the tag head decides, from
  ``TagFeatures``: for each tagged genre, the log-odds that any of its tags applies, one weight per
  genre. Tags that describe a voice, an era, a mood or an instrument do not vote (a small collection
  ties them to genres by accident: its pop is sung by women, its rock is loud and from the seventies);
  a card may list ``free_tags`` that do (the shipped decision lists none).
- the tags name no classical, disco or reggae: for those the pooled head (musicnn's 1506 pooled
  features, its sense of sound) decides, and it also says how much of the answer the tagged genres
  share: ``p(g) = p_pooled(g)`` for an untagged genre, ``p_pooled(tagged) * p_tags(g | tagged)`` for a
  tagged one.

With every genre tagged the pooled head is not used (the decision served until issue 20). The arrays
live in ``models/musicnn_heads.npz``, the tag map and the tag lists in the heads' card.
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


@dataclass(frozen=True)
class TagFeatures:
    """musicnn's 50 tag likelihoods -> the tag head's input.

    ``log_odds``: every tag's log-odds. ``evidence``: per genre of ``genre_tags`` the log-odds that any of
    its tags applies (noisy-OR: a genre named by nine tags is not diluted by the eight that do not fit
    a song), then the log-odds of each of ``free_tags``; every other tag is left out.
    """

    kind: str  # "log_odds" or "evidence"
    tag_names: tuple[str, ...]  # musicnn's tags in output order
    genre_tags: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (genre, its tags), in the tag head's genre order
    free_tags: tuple[str, ...] = ()

    def __call__(self, tags: np.ndarray) -> np.ndarray:
        if self.kind == "log_odds":
            return tag_log_odds(tags)
        p = np.clip(np.asarray(tags, np.float64), 1e-4, 1 - 1e-4)
        columns = []
        for _, names in self.genre_tags:
            none = np.exp(np.log1p(-p[:, [self.tag_names.index(n) for n in names]]).sum(axis=1))
            columns.append(tag_log_odds(1.0 - none))
        free = tag_log_odds(p[:, [self.tag_names.index(n) for n in self.free_tags]])
        return np.column_stack([*columns, free])

    @classmethod
    def from_card(cls, decision: dict, tag_names: tuple[str, ...]) -> "TagFeatures":
        genre_tags = tuple((g, tuple(decision["genre_tags"][g])) for g in decision["tagged_genres"]
                           if decision["tag_features"] == "evidence")
        return cls(decision["tag_features"], tuple(tag_names), genre_tags, tuple(decision.get("free_tags", ())))

    @property
    def width(self) -> int:
        return len(self.tag_names) if self.kind == "log_odds" else len(self.genre_tags) + len(self.free_tags)


@dataclass
class GenreHead:
    """The genre decision from musicnn's outputs: the tag head among the ``tagged`` genres, the pooled head
    for the others and for the tagged genres' share (see the module's docstring)."""

    pooled: LinearHead | None  # every genre; None when every genre is tagged
    tags: LinearHead  # TagFeatures -> the tagged genres, in ``tagged`` order
    features: TagFeatures
    tagged: tuple[int, ...]  # indices of the tagged genres among all genres
    n_genres: int

    def predict(self, outputs: dict[str, np.ndarray]) -> np.ndarray:
        """Genre probabilities per row of ``outputs`` (``MusicnnNetwork.run``: ``pooled`` and ``tags``)."""
        within = softmax(self.tags.logits(self.features(outputs["tags"])))
        if self.pooled is None:
            return within
        sound = softmax(self.pooled.logits(outputs["pooled"]))
        tagged = list(self.tagged)
        result = sound.copy()
        result[:, tagged] = sound[:, tagged].sum(axis=1, keepdims=True) * within
        return result

    @classmethod
    def from_card(cls, decision: dict, genres: list[str], heads: dict[str, LinearHead],
                  tag_names: tuple[str, ...]) -> "GenreHead":
        """The decision a heads card describes (its ``genre_decision``), with the fitted ``heads``."""
        tagged = [genres.index(g) for g in decision["tagged_genres"]]
        if tagged != sorted(tagged):
            raise ValueError("genre_decision.tagged_genres must keep the genres' order")
        features = TagFeatures.from_card(decision, tag_names)
        every_genre = len(tagged) == len(genres)
        return cls(None if every_genre else heads["pooled"], heads["tags"], features, tuple(tagged), len(genres))


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
