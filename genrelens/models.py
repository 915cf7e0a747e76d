"""The trained model as the server runs it: its card, and a predictor (TFLite, else Keras).

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

from genrelens.electronic import REFERENCE_FACTS_FILE, REFERENCE_VECTORS_FILE, ElectronicDetail, ElectronicReference
from genrelens.heads import HEADS_FILE, GenreHead, load_heads
from genrelens.musicnn_features import MSD_TAGS

log = logging.getLogger(__name__)

KERAS_FILE = "genre_cnn.keras"
TFLITE_FILE = "genre_cnn.tflite"
CARD_FILE = "model_card.json"
MUSICNN_FILE = "musicnn_msd.tflite"
MUSICNN_CARD_FILE = "musicnn_card.json"
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


_INHERITED_INTERPRETERS: list = []


class MusicnnNetwork:
    """The converted MSD_musicnn (``musicnn_msd.tflite``): log-mel patches -> tags and embeddings.

    One patch per ``invoke``: the network's cost is per patch (about 24 ms on one core, measured on
    2026-11-30; batches of 5 or 10 were no cheaper per patch), so a fixed batch larger than one would
    only add padded patches to compute.
    """

    OUTPUT_WIDTHS = {"tags": 50, "penultimate": 200, "pooled": 1506}

    def __init__(self, path: Path, threads: int = 1):
        self._path, self._threads = path, threads
        self._lock = threading.Lock()
        self._pid = None
        self._interpreter = None
        self._connect()

    def release(self) -> None:
        """Free the interpreter (the next ``run`` makes a new one): gunicorn's master calls this before forking."""
        with self._lock:
            self._interpreter, self._pid = None, None

    def _connect(self) -> None:
        """A fresh interpreter for this process.

        XNNPACK's worker threads do not survive a fork: an interpreter made in gunicorn's master
        and used with two threads in a worker ran ~2x slower than a fresh one, so a forked worker
        makes its own on first use. The inherited one is kept, never freed: its destructor would
        wait forever for the master's threads.
        """
        from ai_edge_litert.interpreter import Interpreter

        if self._interpreter is not None:
            _INHERITED_INTERPRETERS.append(self._interpreter)

        self._interpreter = Interpreter(model_path=str(self._path), num_threads=self._threads)
        self._input = self._interpreter.get_input_details()[0]
        self._interpreter.resize_tensor_input(self._input["index"], [1, *self._input["shape"][1:]])
        self._interpreter.allocate_tensors()
        # LiteRT names outputs by graph position only; the three widths tell them apart
        by_width = {int(d["shape"][-1]): d["index"] for d in self._interpreter.get_output_details()}
        self._outputs = {name: by_width[width] for name, width in self.OUTPUT_WIDTHS.items()}
        self._pid = os.getpid()

    def run(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        """``tags``, ``penultimate`` and ``pooled`` for (n, 187, 96) patches."""
        out = {name: np.zeros((len(patches), width), np.float32) for name, width in self.OUTPUT_WIDTHS.items()}
        with self._lock:
            if self._interpreter is None or self._pid != os.getpid():
                self._connect()
            for i, patch in enumerate(patches):
                self._interpreter.set_tensor(self._input["index"], patch[np.newaxis].astype(np.float32))
                self._interpreter.invoke()
                for name, index in self._outputs.items():
                    out[name][i] = self._interpreter.get_tensor(index)[0]
        return out


@dataclass
class MusicnnModels:
    """The pretrained musicnn, the genre and style heads on its outputs, the nearest-genre index, their card."""

    network: MusicnnNetwork
    head: GenreHead
    electronic: ElectronicDetail
    card: dict
    tags: tuple[str, ...]

    @classmethod
    def load(cls, model_dir: Path, genres: list[str], threads: int = 1) -> "MusicnnModels | None":
        """None when the musicnn files are not installed (the MFCC CNN then serves alone)."""
        files = [model_dir / name for name in (MUSICNN_FILE, HEADS_FILE, MUSICNN_CARD_FILE, REFERENCE_VECTORS_FILE,
                                               REFERENCE_FACTS_FILE)]
        missing = [f.name for f in files if not f.exists()]
        if missing:
            log.warning("musicnn is off: %s missing in %s", ", ".join(missing), model_dir)
            return None
        try:  # the network has no Keras twin: without LiteRT the MFCC CNN serves alone
            import ai_edge_litert.interpreter  # noqa: F401
        except ImportError:
            log.warning("musicnn is off: ai-edge-litert is not installed")
            return None
        card = json.loads((model_dir / MUSICNN_CARD_FILE).read_text())
        if list(card["genres"]) != list(genres):
            raise ValueError(f"{MUSICNN_CARD_FILE}: genres {card['genres']} differ from the MFCC CNN's {genres}")
        heads = load_heads(model_dir / HEADS_FILE)
        head = GenreHead(heads["pooled"], heads["tags"], float(card["tag_share"]))
        electronic = ElectronicDetail(tuple(card["styles"]), heads["styles"], ElectronicReference.load(model_dir))
        return cls(MusicnnNetwork(files[0], threads), head, electronic, card, MSD_TAGS)
