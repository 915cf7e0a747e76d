"""Download musicnn 0.1.0 from PyPI, port its MSD_musicnn checkpoint to Keras 3, export to LiteRT.

    python -m training.convert_musicnn            # -> models/musicnn_msd.tflite

The source distribution is pinned by its SHA-256 and cached in ``.cache/musicnn``. The port is
checked against the original network's outputs in ``tests/data/musicnn_reference.npz`` (written by
``training/musicnn_reference.py``) before anything is written; the exported LiteRT model is checked
again. Serving loads only the ``.tflite`` file and needs no TensorFlow.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from genrelens.models.musicnn import MUSICNN_FILE, MusicnnNetwork
from training.musicnn import build_musicnn, load_checkpoint_weights

ROOT = Path(__file__).resolve().parent.parent
SDIST = "musicnn-0.1.0.tar.gz"
SDIST_SHA256 = "674ccc1fb638e6894f99197cfc2794b90d96444292ea28cedee96de0f74c4abd"
CHECKPOINT_FILES = (".index", ".data-00000-of-00001")
REFERENCE = ROOT / "tests" / "data" / "musicnn_reference.npz"
TOLERANCE = 1e-4
NOTICE_FILE = "musicnn_msd.LICENSE"


def fetch_checkpoint(cache: Path) -> str:
    """The MSD_musicnn checkpoint prefix inside ``cache`` (its files are ``.index`` and ``.data-*``)."""
    prefix = f"{cache / 'MSD_musicnn'}/"
    if all((cache / "MSD_musicnn" / name).exists() for name in CHECKPOINT_FILES) and (cache / "LICENSE.md").exists():
        return prefix
    cache.mkdir(parents=True, exist_ok=True)
    sdist = cache / SDIST
    if not sdist.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "musicnn==0.1.0", "--no-deps",
                        "--no-binary", ":all:", "--quiet", "-d", str(cache)], check=True)
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise RuntimeError(f"{sdist} has SHA-256 {digest}, expected {SDIST_SHA256}")
    wanted = {f"musicnn-0.1.0/musicnn/MSD_musicnn/{name}": cache / "MSD_musicnn" / name for name in CHECKPOINT_FILES}
    wanted["musicnn-0.1.0/LICENSE.md"] = cache / "LICENSE.md"
    (cache / "MSD_musicnn").mkdir(exist_ok=True)
    with tarfile.open(sdist) as archive:
        for member, target in wanted.items():
            with archive.extractfile(member) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
    return prefix


def load_ported_model(cache: Path):
    """Our Keras MSD_musicnn with the checkpoint's weights."""
    import tensorflow as tf

    reader = tf.compat.v1.train.NewCheckpointReader(fetch_checkpoint(cache))
    model = build_musicnn()
    load_checkpoint_weights(model, reader.get_tensor)
    return model


def reference_errors(outputs: dict, reference=None) -> dict[str, float]:
    """Largest absolute difference per output against the original network's outputs."""
    reference = reference if reference is not None else np.load(REFERENCE)
    pooled = np.concatenate([reference["mean_pool"], reference["max_pool"]], axis=1)
    expected = {"tags": reference["tags"], "penultimate": reference["penultimate"], "pooled": pooled}
    return {name: float(np.abs(np.asarray(outputs[name]) - expected[name]).max()) for name in expected}


def convert(cache: Path, out_dir: Path) -> dict[str, dict[str, float]]:
    """Port, check, export; returns the measured errors of the Keras port and of the LiteRT file."""
    reference = np.load(REFERENCE)
    model = load_ported_model(cache)
    keras_errors = reference_errors(model(reference["inputs"], training=False), reference)
    if keras_errors["tags"] > TOLERANCE:
        raise RuntimeError(f"the Keras port differs from the original: {keras_errors}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        exported = Path(tmp) / MUSICNN_FILE
        model.export(str(exported), format="litert", verbose=False)
        tflite_errors = reference_errors(MusicnnNetwork(exported).run(reference["inputs"]), reference)
        if tflite_errors["tags"] > TOLERANCE:
            raise RuntimeError(f"the LiteRT export differs from the original: {tflite_errors}")
        shutil.copyfile(exported, out_dir / MUSICNN_FILE)
    notice = (cache / "LICENSE.md").read_text()
    (out_dir / NOTICE_FILE).write_text(
        f"{MUSICNN_FILE} holds the weights of MSD_musicnn from musicnn 0.1.0 (PyPI), converted by\n"
        "training/convert_musicnn.py. Their licence (ISC), as shipped with the package:\n\n" + notice)
    return {"keras": keras_errors, "tflite": tflite_errors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "musicnn")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "models")
    args = parser.parse_args(argv)
    errors = convert(args.cache, args.out_dir)
    for stage, values in errors.items():
        print(f"{stage:6s} max |difference| vs the original: " + ", ".join(f"{k} {v:.1e}" for k, v in values.items()))
    print(f"wrote {args.out_dir / MUSICNN_FILE} and {args.out_dir / NOTICE_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
