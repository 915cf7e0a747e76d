"""Electronic music in detail: the 7 top-level styles, and the nearest genres of Ishkur's guide.

Both come with the genre decision at next to no cost per upload, from musicnn's pooled features
(or, from the distilled student, its own estimate of the two quantities below, per segment):

- ``styles``: a linear head (``genrelens.models.heads``) on musicnn's pooled features, averaged over the
  segments: Trance, House, Breakbeat, Downtempo, Techno, Jungle, Hardcore, summing to 1;
- ``nearest``: the guide's genres whose reference clips are closest to the upload: the cosine
  similarity of the upload's mean pooled features, standardised and projected (PCA), to each
  reference clip's; per guide genre its best clip, best genres first.

``models/electronic_reference.npz`` holds the projection and one vector per reference clip;
``models/electronic_reference.json`` the clips' guide genre, artist, title and year and the guide's
facts about each genre (name, aka, style, decade). Neither holds audio.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrelens.models.heads import LinearHead

REFERENCE_VECTORS_FILE = "electronic_reference.npz"
REFERENCE_FACTS_FILE = "electronic_reference.json"
NEAREST_COUNT = 5


@dataclass
class ElectronicReference:
    """Reference clips as unit vectors in a small space, with what the guide says about their genres."""

    mean: np.ndarray  # (d,) standardisation of the pooled features
    scale: np.ndarray  # (d,)
    projection: np.ndarray  # (d, m) PCA directions
    vectors: np.ndarray  # (clips, m) unit length
    clips: list[dict]  # per clip: genre (the guide's key), artist, title, year
    genres: dict[str, dict]  # guide genre key -> name, aka, style, decade

    def project(self, pooled: np.ndarray) -> np.ndarray:
        """Pooled feature rows (n, d) in the index's space (n, m), before normalising."""
        return ((np.asarray(pooled, np.float64) - self.mean) / self.scale) @ self.projection

    def embed(self, pooled: np.ndarray) -> np.ndarray:
        """Unit vectors (n, m) for pooled feature rows (n, d)."""
        v = self.project(pooled)
        return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)

    def nearest(self, projected: np.ndarray, count: int = NEAREST_COUNT) -> list[dict]:
        """The ``count`` guide genres closest to one track's mean projection (``project``), best first.

        The projection is linear, so the mean of a track's segment projections is the projection of
        its mean pooled features.
        """
        v = np.asarray(projected, np.float64)
        similarity = self.vectors @ (v / max(float(np.linalg.norm(v)), 1e-12))
        best: dict[str, int] = {}
        for i in np.argsort(-similarity):
            best.setdefault(self.clips[i]["genre"], int(i))
            if len(best) == count:
                break
        return [self._entry(i, float(similarity[i])) for i in best.values()]

    def _entry(self, clip_index: int, similarity: float) -> dict:
        clip = self.clips[clip_index]
        facts = self.genres.get(clip["genre"], {})
        return {"genre": clip["genre"], "name": facts.get("name", clip["genre"]), "aka": facts.get("aka", ""),
                "decade": facts.get("decade", ""), "style": facts.get("style", ""), "artist": clip["artist"],
                "title": clip["title"], "year": clip.get("year"), "similarity": round(similarity, 4)}

    def save(self, model_dir: Path) -> None:
        np.savez(Path(model_dir) / REFERENCE_VECTORS_FILE, mean=self.mean.astype(np.float32),
                 scale=self.scale.astype(np.float32), projection=self.projection.astype(np.float32),
                 vectors=self.vectors.astype(np.float16))
        facts = {"clips": self.clips, "genres": self.genres}
        (Path(model_dir) / REFERENCE_FACTS_FILE).write_text(json.dumps(facts, indent=0, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, model_dir: Path) -> "ElectronicReference":
        facts = json.loads((Path(model_dir) / REFERENCE_FACTS_FILE).read_text())
        with np.load(Path(model_dir) / REFERENCE_VECTORS_FILE) as arrays:
            return cls(*(np.asarray(arrays[k], np.float64) for k in ("mean", "scale", "projection", "vectors")),
                       facts["clips"], facts["genres"])


@dataclass
class ElectronicDetail:
    """The ``electronic`` block of an analysis."""

    styles: tuple[str, ...]
    style_head: LinearHead
    reference: ElectronicReference

    def from_pooled(self, pooled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per segment: style probabilities (n, 7) and the nearest-genre projection (n, m), from musicnn's pooled features."""
        return self.style_head.predict(pooled), self.reference.project(pooled)

    def describe(self, style_probabilities: np.ndarray, projections: np.ndarray) -> dict:
        """``{"styles": [...], "nearest": [...]}`` from one track's per-segment styles and projections."""
        probabilities = np.asarray(style_probabilities, np.float64).mean(axis=0)
        probabilities = probabilities / probabilities.sum()
        order = np.argsort(-probabilities)
        return {
            "styles": [{"style": self.styles[i], "probability": round(float(probabilities[i]), 4)} for i in order],
            "nearest": self.reference.nearest(np.asarray(projections, np.float64).mean(axis=0)),
        }
