"""The pretrained musicnn (MSD) as the server runs it: the network (on LiteRT or ONNX Runtime), and the
network with its heads, nearest-genre index and card (``models/musicnn_card.json``)."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrelens.models.electronic import (REFERENCE_FACTS_FILE, REFERENCE_VECTORS_FILE, ElectronicDetail,
                                         ElectronicReference)
from genrelens.models.heads import HEADS_FILE, GenreHead, load_heads
from genrelens.models.runtimes import LITERT, Network, NetworkSpec, choose

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


class MusicnnNetwork:
    """The converted MSD_musicnn (``musicnn_msd.tflite``, or its ONNX twin): log-mel patches -> tags and
    embeddings, on the engine ``runtime`` names (``genrelens.models.runtimes``).

    One patch per call: the network's cost is per patch (about 24 ms on one core, measured on
    2026-11-30; batches of 5 or 10 were no cheaper per patch on LiteRT, nor 8 on ONNX Runtime), so a
    fixed batch larger than one would only add padded patches to compute.
    """

    OUTPUT_WIDTHS = {"tags": 50, "penultimate": 200, "pooled": 1506}
    SPEC = NetworkSpec("musicnn", MUSICNN_FILE, OUTPUT_WIDTHS, batch=1)

    def __init__(self, path: Path, threads: int = 1, runtime: str = LITERT):
        """``path``: the ``.tflite`` file; the ``.onnx`` beside it serves when ``runtime`` is ONNX Runtime."""
        self.network = Network(self.SPEC, Path(path).parent, runtime, threads)
        self.network.connect()  # a broken file fails at start

    @property
    def label(self) -> str:
        return self.network.label

    def release(self) -> None:
        """Free the engine (the next ``run`` makes a new one): gunicorn's master calls this before forking."""
        self.network.release()

    def run(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        """``tags``, ``penultimate`` and ``pooled`` for (n, 187, 96) patches."""
        return self.network.run(np.asarray(patches, np.float32))


@dataclass
class MusicnnModels:
    """The pretrained musicnn, the genre and style heads on its outputs, the nearest-genre index, their card."""

    network: MusicnnNetwork
    head: GenreHead
    electronic: ElectronicDetail
    card: dict
    tags: tuple[str, ...]

    @classmethod
    def load(cls, model_dir: Path, genres: list[str], threads: int = 1,
             runtime: str = "auto") -> "MusicnnModels | None":
        """None when the musicnn files are not installed (the MFCC CNN then serves alone). ``runtime``: a
        ``MODEL_RUNTIME`` value (``genrelens.models.runtimes.choose``)."""
        files = [model_dir / name for name in (MUSICNN_FILE, HEADS_FILE, MUSICNN_CARD_FILE, REFERENCE_VECTORS_FILE,
                                               REFERENCE_FACTS_FILE)]
        missing = [f.name for f in files if not f.exists()]
        if missing:
            log.warning("musicnn is off: %s missing in %s", ", ".join(missing), model_dir)
            return None
        try:  # LiteRT is the reference engine and the fallback: without it the MFCC CNN serves alone
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
        network = MusicnnNetwork(files[0], threads, choose(MusicnnNetwork.SPEC, model_dir, runtime))
        return cls(network, head, electronic, card, MSD_TAGS)
