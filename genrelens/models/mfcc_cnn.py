"""The MFCC CNN as the server runs it: its card (which also names the genres and the feature settings
of every model), and a predictor (the ``.tflite`` on LiteRT or its ONNX twin, else Keras).

TFLite through ``ai-edge-litert`` starts in well under a second and needs no TensorFlow, which
also keeps gunicorn's ``--preload`` safe. Keras is the fallback where no ``.tflite`` file or no
LiteRT runtime is present, or when ``GENRE_BACKEND=keras`` asks for it.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genrelens.models.runtimes import LITERT, Network, NetworkSpec, choose, installed

log = logging.getLogger(__name__)

KERAS_FILE = "genre_cnn.keras"
TFLITE_FILE = "genre_cnn.tflite"
CARD_FILE = "model_card.json"
BACKENDS = ("auto", "tflite", "keras")


@dataclass
class ModelCard:
    """``models/model_card.json``: the genres in output order, feature settings, data and metrics."""

    name: str
    version: str
    genres: list[str]
    features: dict
    raw: dict = field(repr=False, default_factory=dict)

    @classmethod
    def load(cls, model_dir: Path) -> "ModelCard":
        raw = json.loads((model_dir / CARD_FILE).read_text())
        return cls(raw["name"], raw["version"], list(raw["genres"]), dict(raw["features"]), raw)


class Predictor:
    backend = "none"

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Softmax probabilities, shape (len(batch), n_genres), for a batch of MFCC segments (n, frames, n_features)."""
        raise NotImplementedError


class NetworkPredictor(Predictor):
    """The ``.tflite`` file on LiteRT, or its ONNX twin on ONNX Runtime, with one fixed batch shape:
    segments go through in blocks of ``BATCH`` (the last padded).

    Resizing the input for every upload's segment count re-plans the interpreter's buffers each
    time, and a worker's memory then creeps up; a fixed shape allocates once.
    """

    BATCH = 16
    SPEC = NetworkSpec("mfcc_cnn", TFLITE_FILE, {"genres": 11}, BATCH)

    def __init__(self, model_dir: Path, runtime: str = LITERT, n_genres: int = 11):
        spec = NetworkSpec(self.SPEC.name, TFLITE_FILE, {"genres": n_genres}, self.BATCH)
        self._network = Network(spec, model_dir, runtime, threads=1)
        self._network.connect()  # a missing engine or a broken file fails here, at start
        self.backend = self._network.label

    def release(self) -> None:
        self._network.release()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self._network.run(batch)["genres"]


class KerasPredictor(Predictor):
    backend = "keras"

    def __init__(self, path: Path):
        import keras

        self._model = keras.models.load_model(path, compile=False)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        batch = batch.reshape(len(batch), *self._model.input_shape[1:]).astype(np.float32)
        return np.asarray(self._model(batch, training=False))


def load_predictor(model_dir: Path, card: ModelCard, backend: str | None = None, runtime: str = "auto") -> Predictor:
    """``backend`` (``GENRE_BACKEND``): ``tflite`` runs the network on LiteRT, ``keras`` on Keras, ``auto`` on
    the engine ``runtime`` (``MODEL_RUNTIME``) chooses, falling back to Keras where LiteRT is missing."""
    backend = backend or os.environ.get("GENRE_BACKEND", "auto")
    if backend not in BACKENDS:
        raise ValueError(f"GENRE_BACKEND={backend!r} is not one of {', '.join(BACKENDS)}")
    model_dir = Path(model_dir)
    # LiteRT is the reference engine and the fallback: without it the network runs on Keras, as before
    if backend in ("auto", "tflite") and (model_dir / TFLITE_FILE).exists() and (backend == "tflite" or installed(LITERT)):
        try:
            engine = LITERT if backend == "tflite" else choose(NetworkPredictor.SPEC, model_dir, runtime)
            return NetworkPredictor(model_dir, engine, len(card.genres))
        except ImportError:
            if backend == "tflite":
                raise
            log.warning("ai-edge-litert is not installed; falling back to Keras")
    return KerasPredictor(model_dir / KERAS_FILE)
