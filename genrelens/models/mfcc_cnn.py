"""The MFCC CNN as the server runs it: its card (which also names the genres and the feature settings
of every model), and a predictor (TFLite, else Keras).

TFLite through ``ai-edge-litert`` starts in well under a second and needs no TensorFlow, which
also keeps gunicorn's ``--preload`` safe. Keras is the fallback where no ``.tflite`` file or no
LiteRT runtime is present, or when ``GENRE_BACKEND=keras`` asks for it.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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


class TFLitePredictor(Predictor):
    """LiteRT with one fixed batch shape: segments go through in blocks of ``BATCH`` (the last padded).

    Resizing the input for every upload's segment count re-plans the interpreter's buffers each
    time, and a worker's memory then creeps up; a fixed shape allocates once.
    """

    backend = "tflite"
    BATCH = 16

    def __init__(self, path: Path):
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(path), num_threads=1)
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        shape = [self.BATCH, *self._input["shape"][1:]]
        self._interpreter.resize_tensor_input(self._input["index"], shape)
        self._interpreter.allocate_tensors()
        self._block = np.zeros(shape, dtype=np.float32)
        self._lock = threading.Lock()  # one interpreter, and threaded servers exist

    def predict(self, batch: np.ndarray) -> np.ndarray:
        results = []
        with self._lock:
            for first in range(0, len(batch), self.BATCH):
                part = batch[first : first + self.BATCH]
                self._block[: len(part)] = part.reshape(len(part), *self._block.shape[1:])
                self._block[len(part) :] = 0.0
                self._interpreter.set_tensor(self._input["index"], self._block)
                self._interpreter.invoke()
                results.append(self._interpreter.get_tensor(self._output["index"])[: len(part)].copy())
        return np.concatenate(results) if results else np.zeros((0, self._output["shape"][-1]), np.float32)


class KerasPredictor(Predictor):
    backend = "keras"

    def __init__(self, path: Path):
        import keras

        self._model = keras.models.load_model(path, compile=False)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        batch = batch.reshape(len(batch), *self._model.input_shape[1:]).astype(np.float32)
        return np.asarray(self._model(batch, training=False))


def load_predictor(model_dir: Path, card: ModelCard, backend: str | None = None) -> Predictor:
    backend = backend or os.environ.get("GENRE_BACKEND", "auto")
    if backend not in BACKENDS:
        raise ValueError(f"GENRE_BACKEND={backend!r} is not one of {', '.join(BACKENDS)}")
    tflite = model_dir / TFLITE_FILE
    if backend in ("auto", "tflite") and tflite.exists():
        try:
            return TFLitePredictor(tflite)
        except ImportError:
            if backend == "tflite":
                raise
            log.warning("ai-edge-litert is not installed; falling back to Keras")
    return KerasPredictor(model_dir / KERAS_FILE)
