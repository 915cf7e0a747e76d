"""The files the student learns from and is scored on, with musicnn's answers as its targets.

- labelled files: GTZAN and the guide's clips the genre model knows (``training.dataset.load_files``);
- the GTZAN files re-encoded like the guide's clips (``with_codec_copies``): learnt from on TRAIN,
  scored on TEST for false "electronic" calls;
- unlabelled guide clips of TRAIN (R&B, new age, ...: ``ishkur.NOT_OURS``): the student needs no label
  to learn what musicnn says about them. The rock-family clips are never learnt from: they are a
  cross-source check;
- the outside collection (``--outside-dir``): scored only, to choose with.

The targets come from the shipped musicnn heads (``models/musicnn_heads.npz``) on musicnn's outputs:
genre probabilities, style probabilities, and the nearest-genre index's 64-d projection.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrelens.analysis.pipeline import FeatureSettings
from genrelens.models.electronic import ElectronicReference
from genrelens.models.heads import HEADS_FILE, GenreHead, load_heads
from genrelens.models.musicnn import MSD_TAGS
from training import ishkur, outside_collection
from training.dataset import default_split_dir, load_files, with_codec_copies
from training.distill_data import Pieces, load_pieces
from training.files import AudioFile


@dataclass
class Item:
    file: AudioFile
    pieces: Pieces

    @property
    def labelled(self) -> bool:
        return bool(self.file.genre) and "+" not in self.file.source


@dataclass
class Teacher:
    """musicnn's heads as shipped: the targets of every piece."""

    head: GenreHead
    styles: object
    reference: ElectronicReference

    @classmethod
    def load(cls, model_dir: Path, card: dict) -> "Teacher":
        heads = load_heads(model_dir / HEADS_FILE)
        head = GenreHead.from_card(card["genre_decision"], list(card["genres"]), heads, MSD_TAGS)
        return cls(head, heads["styles"], ElectronicReference.load(model_dir))

    def targets(self, pieces: Pieces) -> dict[str, np.ndarray]:
        outputs = {"tags": pieces.tags, "pooled": pieces.pooled}
        r = self.reference
        return {"genres": self.head.predict(outputs).astype(np.float32),
                "tags": pieces.tags.astype(np.float32),
                "styles": self.styles.predict(pieces.pooled).astype(np.float32),
                "embedding": (((pieces.pooled - r.mean) / r.scale) @ r.projection).astype(np.float32)}


def load_items(data_dir: Path, electronic_dir: Path, genres: list[str], settings: FeatureSettings, cache_dir: Path,
               teacher_cache: Path, reencoded_dir: Path, model_path: Path, level_dbfs: float,
               split_dir: Path | None = None, outside_dir: Path | None = None) -> list[Item]:
    files = [f for f in load_files(data_dir, split_dir or default_split_dir(data_dir), electronic_dir) if f.genre in genres]
    files = with_codec_copies(files, ("train", "test"), reencoded_dir)  # copies: fitted on, and a TEST check
    known = {f.path for f in files}
    unlabelled = [f for f in ishkur.scan(electronic_dir)
                  if f.path not in known and f.split == "train" and f.subgenre not in ishkur.ROCK_FAMILY]
    rock_family = [f for f in ishkur.scan(electronic_dir) if f.subgenre in ishkur.ROCK_FAMILY]
    outside = [f for f in outside_collection.scan(outside_dir) if f.genre in genres] if outside_dir else []
    chosen = files + unlabelled + rock_family + outside  # the outside collection is only scored (split "dev")
    pieces = load_pieces([f.path for f in chosen], settings, cache_dir, teacher_cache, model_path, level_dbfs)
    return [Item(f, p) for f, p in zip(chosen, pieces)]
