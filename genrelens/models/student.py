"""The distilled model: a small CNN taught to answer like musicnn + its heads, on every 3-s segment, in ~1 ms.

musicnn costs ~24 ms of CPU per 3-s segment, so hearing every segment of a long song takes seconds.
The student (``training/distill.py``) was trained to reproduce, segment by segment, what musicnn and
the shipped heads say: the genre probabilities, the 50 style tags, the
electronic styles and the 64-d embedding of the nearest-genre index. Its input is the mel spectrogram
the pipeline already computes for the MFCCs (22,050 Hz, 128 bands, 130 frames per segment), levelled
and compressed the way musicnn's input is, so it costs no extra transform. It is right less often than
musicnn (``models/student_card.json``), so it serves the default only if its card says so.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrelens.models.runtimes import LITERT, Network, NetworkSpec, choose

log = logging.getLogger(__name__)

STUDENT_FILE = "student.tflite"
STUDENT_CARD_FILE = "student_card.json"
MAX_GAIN = 10 ** (24 / 20)  # as musicnn_features: a near-silent segment is not blown up past +24 dB
# Output widths tell LiteRT's unnamed outputs apart (and name the Keras model's).
OUTPUT_WIDTHS = {"genres": 11, "tags": 50, "styles": 7, "embedding": 64}


def student_input(mel: np.ndarray, levels: np.ndarray, level_dbfs: float) -> np.ndarray:
    """(n, frames, n_mels) mel power and each segment's RMS -> the student's (n, frames, n_mels) input.

    Each segment is scaled to ``level_dbfs`` RMS (at most +24 dB), then ``log10(1 + 10000 * power)``,
    musicnn's compression, so a quieter copy of a song gets the same input.
    """
    gain = np.minimum(10 ** (level_dbfs / 20) / np.maximum(np.asarray(levels, np.float64), 1e-9), MAX_GAIN)
    scale = (10000.0 * gain**2).astype(np.float32)[:, np.newaxis, np.newaxis]
    return np.log10(1.0 + scale * mel).astype(np.float32)


@dataclass(frozen=True)
class StudentCard:
    """``models/student_card.json``: what the student needs at serving time, and its figures."""

    level_dbfs: float
    n_mels: int
    frames: int
    raw: dict

    @classmethod
    def load(cls, model_dir: Path) -> "StudentCard":
        raw = json.loads((Path(model_dir) / STUDENT_CARD_FILE).read_text())
        return cls(float(raw["input"]["level_dbfs"]), int(raw["input"]["n_mels"]), int(raw["input"]["frames"]), raw)


class StudentNetwork:
    """The student on the engine ``runtime`` names, with one fixed batch shape (no re-planning per
    upload, flat memory)."""

    BATCH = 8
    SPEC = NetworkSpec("student", STUDENT_FILE, OUTPUT_WIDTHS, BATCH)

    def __init__(self, path: Path, threads: int = 1, runtime: str = LITERT):
        """``path``: the ``.tflite`` file; the ``.onnx`` beside it serves when ``runtime`` is ONNX Runtime."""
        self.network = Network(self.SPEC, Path(path).parent, runtime, threads)

    @property
    def label(self) -> str:
        return self.network.label

    def release(self) -> None:
        """Free the engine (gunicorn's master before forking; the next ``run`` makes a new one)."""
        self.network.release()

    def run(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        """``genres``, ``tags``, ``styles`` (probabilities) and ``embedding`` for (n, frames, n_mels) inputs."""
        return self.network.run(inputs)


@dataclass
class StudentModel:
    network: StudentNetwork
    card: StudentCard

    @classmethod
    def load(cls, model_dir: Path, genres: list[str], threads: int = 1, runtime: str = "auto") -> "StudentModel | None":
        """None when the student's files or LiteRT are missing (musicnn then answers for it)."""
        model_dir = Path(model_dir)
        missing = [name for name in (STUDENT_FILE, STUDENT_CARD_FILE) if not (model_dir / name).exists()]
        if missing:
            log.warning("the distilled student is off: %s missing in %s", ", ".join(missing), model_dir)
            return None
        try:
            import ai_edge_litert.interpreter  # noqa: F401
        except ImportError:
            log.warning("the distilled student is off: ai-edge-litert is not installed")
            return None
        card = StudentCard.load(model_dir)
        if list(card.raw["genres"]) != list(genres):
            raise ValueError(f"{STUDENT_CARD_FILE}: genres {card.raw['genres']} differ from the MFCC CNN's {genres}")
        return cls(StudentNetwork(model_dir / STUDENT_FILE, threads, choose(StudentNetwork.SPEC, model_dir, runtime)), card)
