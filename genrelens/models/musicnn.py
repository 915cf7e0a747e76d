"""The pretrained musicnn (MSD) as the server runs it: the LiteRT network, and the network with its
heads, nearest-genre index and card (``models/musicnn_card.json``)."""
from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrelens.models.electronic import (REFERENCE_FACTS_FILE, REFERENCE_VECTORS_FILE, ElectronicDetail,
                                         ElectronicReference)
from genrelens.models.heads import HEADS_FILE, GenreHead, load_heads

log = logging.getLogger(__name__)

MUSICNN_FILE = "musicnn_msd.tflite"
MUSICNN_CARD_FILE = "musicnn_card.json"

# The 50 Million Song Dataset tags in the network's output order (musicnn/configuration.py).
MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock",
    "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental",
    "punk", "oldies", "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist",
    "guitar", "Hip-Hop", "70s", "party", "country", "easy listening", "sexy", "catchy", "funk",
    "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy",
)


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
        head = GenreHead.from_card(card["genre_decision"], list(genres), heads, MSD_TAGS)
        electronic = ElectronicDetail(tuple(card["styles"]), heads["styles"], ElectronicReference.load(model_dir))
        return cls(MusicnnNetwork(files[0], threads), head, electronic, card, MSD_TAGS)
