"""Make the ONNX twin of each served LiteRT network, and prove it answers the same.

    .venv/bin/python -m training.export_onnx                      # all three, from the repo root
    .venv/bin/python -m training.export_onnx --audio some.mp3 ... # also check on these files

For each committed ``.tflite`` (musicnn, the student, the MFCC CNN) tf2onnx converts the graph (opset
17) to ``models/<name>.onnx``. Both engines then run the network on what the service would feed it for
music-like audio made here (and for ``--audio`` files, decoded as uploads are); the largest difference
per output must stay under ``TOLERANCE`` or nothing is written. ``models/onnx_sources.json`` records, per
``.onnx``, the SHA-256 of the ``.tflite`` it came from and the differences seen: ``tests/test_runtimes.py``
refuses a ``.onnx`` whose source has since changed (re-run this after retraining a network).

tf2onnx and onnx are training dependencies (training/requirements.txt); serving needs only onnxruntime.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

from genrelens.analysis.pipeline import GenreClassifier
from genrelens.models import DEFAULT_MODEL_DIR
from genrelens.models.musicnn import MusicnnNetwork
from genrelens.models.runtimes import LITERT, ONNXRUNTIME, Network, NetworkSpec
from genrelens.models.student import StudentNetwork

log = logging.getLogger("export_onnx")

SOURCES_FILE = "onnx_sources.json"
OPSET = 17
# Largest |ONNX Runtime - LiteRT| allowed per output, relative to the output's largest magnitude (at least 1):
# both compute in float32, in different orders, so the rounding grows with the values (musicnn's pooled
# features reach the tens; its tags and every probability stay within 0..1).
TOLERANCE = 1e-4


def specs(classifier: GenreClassifier) -> list[NetworkSpec]:
    from genrelens.models.mfcc_cnn import NetworkPredictor

    cnn = NetworkPredictor.SPEC
    return [MusicnnNetwork.SPEC, StudentNetwork.SPEC,
            NetworkSpec(cnn.name, cnn.tflite, {"genres": len(classifier.genres)}, cnn.batch)]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def music_like(seconds: float, seed: int, sr: int = 22050) -> np.ndarray:
    """Chords changing every bar over a bass line and drum-like bursts: varied enough that the networks'
    outputs differ from segment to segment (a check on near-identical inputs would prove little)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    out = np.zeros_like(t)
    for bar in range(int(seconds / 2) + 1):
        on = (t >= 2 * bar) & (t < 2 * bar + 2)
        root = 110 * 2 ** (rng.integers(0, 12) / 12)
        for ratio in (1, 1.26, 1.5, 2):
            out[on] += 0.12 * np.sin(2 * np.pi * root * ratio * t[on] + rng.uniform(0, 6))
        out[on] += 0.2 * np.sign(np.sin(2 * np.pi * root / 2 * t[on]))  # a square bass
    beat = int(sr * 60 / rng.uniform(80, 150))
    burst = rng.standard_normal(int(0.06 * sr)) * np.exp(-np.linspace(0, 7, int(0.06 * sr)))
    for start in range(0, len(out) - len(burst), beat):
        out[start : start + len(burst)] += 0.5 * burst
    return (out * rng.uniform(0.2, 1.0)).clip(-1, 1).astype(np.float32)


def check_inputs(classifier: GenreClassifier, audio: list[str]) -> dict[str, np.ndarray]:
    """Every network's inputs for four generated pieces and the ``--audio`` files, stacked per network."""
    pieces = [classifier.network_inputs(music_like(12.0, seed)) for seed in range(4)]
    pieces += [classifier.network_inputs(classifier.decode(path).samples) for path in audio]
    return {name: np.concatenate([p[name] for p in pieces]) for name in pieces[0]}


def convert(tflite: Path, onnx: Path) -> None:
    import tf2onnx

    tf2onnx.convert.from_tflite(str(tflite), opset=OPSET, output_path=str(onnx))


def differences(spec: NetworkSpec, model_dir: Path, onnx_dir: Path, inputs: np.ndarray) -> tuple[dict, float]:
    """Largest |ONNX Runtime - LiteRT| per output (relative: see TOLERANCE), and the share of inputs whose strongest first output
    (tag, genre) is not the same on both."""
    lite = Network(spec, model_dir, LITERT).run(inputs)
    ort = Network(spec, onnx_dir, ONNXRUNTIME).run(inputs)
    found = {name: float(np.abs(lite[name] - ort[name]).max() / max(1.0, np.abs(lite[name]).max()))
             for name in spec.outputs}
    first = next(iter(spec.outputs))
    return found, float(np.mean(lite[first].argmax(axis=1) != ort[first].argmax(axis=1)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--audio", nargs="*", default=[], help="audio files to check on as well")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    classifier = GenreClassifier(args.model_dir, runtime=LITERT)
    inputs = check_inputs(classifier, args.audio)
    record, ok = {}, True
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        for spec in specs(classifier):
            tflite = args.model_dir / spec.tflite
            (staging / spec.tflite).symlink_to(tflite.resolve())
            convert(tflite, staging / spec.onnx)
            found, top_changed = differences(spec, args.model_dir, staging, inputs[spec.name])
            worst = max(found.values())
            log.info("%s: %d inputs, largest difference %.2e, top output changed on %.1f %%", spec.name,
                     len(inputs[spec.name]), worst, 100 * top_changed)
            if worst > TOLERANCE:
                log.error("%s: ONNX Runtime differs from LiteRT by %.2e > %.0e; not written", spec.name, worst, TOLERANCE)
                ok = False
                continue
            record[spec.onnx] = {"source": spec.tflite, "source_sha256": sha256(tflite), "opset": OPSET,
                                 "tf2onnx": importlib.metadata.version("tf2onnx"),
                                 "checked_inputs": len(inputs[spec.name]),
                                 "max_relative_difference": {k: float(f"{v:.3g}") for k, v in found.items()},
                                 "top_output_changed_share": top_changed}
        if not ok:
            return 1
        for name in record:
            (args.model_dir / name).write_bytes((staging / name).read_bytes())
            log.info("wrote %s", args.model_dir / name)
    (args.model_dir / SOURCES_FILE).write_text(json.dumps(record, indent=2) + "\n")
    log.info("wrote %s", args.model_dir / SOURCES_FILE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
