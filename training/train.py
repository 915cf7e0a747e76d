"""Train the genre model from a GTZAN-style data dir and export what the server runs.

    python -m training.train --data-dir ../shared/data/gtzan

Writes models/genre_cnn.keras, models/genre_cnn.tflite, models/model_card.json,
models/training_history.json, genre_mapping.txt and the report-card pictures. The defaults are the
settings chosen on the validation side (docs/experiments.md); every option is recorded in the card.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict
from datetime import date
from pathlib import Path

import numpy as np

from genrelens.analysis.pipeline import FeatureSettings
from genrelens.models.mfcc_cnn import CARD_FILE, KERAS_FILE, TFLITE_FILE
from training.dataset import default_split_dir, load_files, with_codec_copies
from training.extract_genre_mapping import write_mapping
from training.feature_cache import TrainingItem, load_training_items
from training.files import AudioFile

log = logging.getLogger("training")
ROOT = Path(__file__).resolve().parent.parent


def stack(files: list[AudioFile], segments: list[np.ndarray], genres: list[str], splits: tuple[str, ...]):
    """Served segments of the files on ``splits``: x (n, frames, features, 1), y (n,), track of each."""
    index = {g: i for i, g in enumerate(genres)}
    chosen = [(f, s) for f, s in zip(files, segments) if f.split in splits and len(s)]
    if not chosen:
        return None, None, None
    x = np.concatenate([s for _, s in chosen])[..., np.newaxis]
    y = np.concatenate([np.full(len(s), index[f.genre]) for f, s in chosen])
    tracks = np.concatenate([np.full(len(s), f.track, dtype=object) for f, s in chosen])
    return x, y, tracks


def data_summary(files: list[AudioFile], segments: list[np.ndarray]) -> dict:
    """Per genre and split: tracks, files and audible segments."""
    summary: dict = defaultdict(lambda: defaultdict(lambda: {"tracks": set(), "files": 0, "segments": 0}))
    for f, s in zip(files, segments):
        cell = summary[f.genre][f.split]
        cell["tracks"].add(f.track)
        cell["files"] += 1
        cell["segments"] += int(len(s))
    return {
        genre: {split: {**cell, "tracks": len(cell["tracks"])} for split, cell in sorted(splits.items())}
        for genre, splits in sorted(summary.items())
    }


def export_tflite(model, path: Path) -> None:
    """Export to LiteRT with a free batch dimension (the server fixes it to its block size)."""
    model.export(str(path), format="litert", verbose=False)


def make_sampler(items: list[TrainingItem], labels: np.ndarray, n_genres: int, settings: FeatureSettings,
                 args: argparse.Namespace, seed: int):
    """A Keras PyDataset that draws a fresh, genre-balanced set of training segments every epoch.

    Per whole clip: as many random-offset 3-s crops as the server would cut (time-shift
    augmentation) plus ``--pseudo-per-epoch`` simulated looped excerpts; per real excerpt its one
    looped segment. Optional gain change (a shift of MFCC 0, which is what a gain change does to
    log-mel MFCCs) and within-batch mixup. Sample weights balance the genres.
    """
    import keras

    frames = settings.frames_per_segment
    gain_scale = math.sqrt(settings.n_mels)  # +g dB on every mel band moves MFCC 0 (ortho DCT) by g*sqrt(n_mels)

    class Sampler(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.on_epoch_end()

        def on_epoch_end(self):
            rng = self.rng
            blocks, ys = [], []
            for item, label in zip(items, labels):
                if args.random_crops and not item.excerpt and len(item.full) > frames and len(item.segments):
                    starts = rng.integers(0, len(item.full) - frames + 1, size=len(item.segments))
                    chosen = np.stack([item.full[s : s + frames] for s in starts])
                else:
                    chosen = item.segments
                if args.pseudo_per_epoch and len(item.pseudo):
                    pick = rng.choice(len(item.pseudo), size=min(args.pseudo_per_epoch, len(item.pseudo)), replace=False)
                    chosen = np.concatenate([chosen, item.pseudo[pick]]) if len(chosen) else item.pseudo[pick]
                if len(chosen):
                    blocks.append(chosen)
                    ys.append(np.full(len(chosen), label))
            x = np.concatenate(blocks)
            y = np.concatenate(ys)
            counts = np.bincount(y, minlength=n_genres).astype(np.float64)
            w = (len(y) / ((counts > 0).sum() * np.maximum(counts, 1)))[y]
            order = rng.permutation(len(y))
            self.x, self.y, self.w = x[order], y[order], w[order].astype(np.float32)

        def __len__(self):
            return math.ceil(len(self.y) / args.batch_size)

        def __getitem__(self, i):
            sl = slice(i * args.batch_size, (i + 1) * args.batch_size)
            x = self.x[sl].astype(np.float32).copy()
            y = np.eye(n_genres, dtype=np.float32)[self.y[sl]]
            w = self.w[sl]
            rng = self.rng
            if args.gain_db:
                x[:, :, 0] += (rng.uniform(-args.gain_db, args.gain_db, size=(len(x), 1)) * gain_scale).astype(np.float32)
            if args.mixup:
                lam = rng.beta(args.mixup, args.mixup, size=(len(x), 1)).astype(np.float32)
                lam = np.maximum(lam, 1 - lam)
                perm = rng.permutation(len(x))
                x = lam[:, :, None] * x + (1 - lam[:, :, None]) * x[perm]
                y = lam * y + (1 - lam) * y[perm]
                w = lam[:, 0] * w + (1 - lam[:, 0]) * w[perm]
            return x[..., np.newaxis], y, w

    return Sampler()


def make_track_callback(valid_x: np.ndarray, valid_y: np.ndarray, valid_tracks: np.ndarray, monitor: str):
    """Adds ``val_track_acc`` (track-level valid accuracy) to the logs; keeps the best weights by ``monitor``."""
    import keras

    names, inverse = np.unique(valid_tracks.astype(str), return_inverse=True)
    track_y = np.zeros(len(names), dtype=int)
    track_y[inverse] = valid_y

    class TrackScore(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best, self.best_epoch, self.best_weights = None, 0, None

        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            probs = self.model.predict(valid_x, batch_size=512, verbose=0)
            summed = np.zeros((len(names), probs.shape[1]))
            np.add.at(summed, inverse, probs)
            logs["val_track_acc"] = float(np.mean(summed.argmax(1) == track_y))
            value = logs[monitor]
            better = self.best is None or (value > self.best if monitor.endswith("acc") else value < self.best)
            if better:
                self.best, self.best_epoch, self.best_weights = value, epoch + 1, self.model.get_weights()

        def on_train_end(self, logs=None):
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    return TrackScore()


def fit_member(arch: str, seed: int, items, labels, genres, settings, args, valid, norm_x):
    """Train one network; returns it (best weights on valid, or the last epoch without valid) and its history."""
    import keras

    from training.model import build_network, compile_network

    keras.utils.set_random_seed(seed)
    model = build_network(arch, norm_x.shape[1:], len(genres), norm_x, dropout=args.dropout, l2=args.l2,
                          hidden=args.hidden, drop_c0=args.drop_c0, stats_max=args.stats_max, name=f"{arch}_{seed}")
    compile_network(model, args.learning_rate, args.label_smoothing)
    sampler = make_sampler(items, labels, len(genres), settings, args, seed)
    callbacks = []
    best_epoch = None
    valid_x, valid_y, valid_tracks = valid
    if valid_x is not None:
        scorer = make_track_callback(valid_x, valid_y, valid_tracks, args.monitor)
        mode = "max" if args.monitor.endswith("acc") else "min"
        callbacks = [
            scorer,
            keras.callbacks.EarlyStopping(monitor=args.monitor, mode=mode, patience=args.patience),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3, min_lr=1e-5),
        ]
        validation_data = (valid_x, np.eye(len(genres), dtype=np.float32)[valid_y])
    else:
        validation_data = None
    history = model.fit(sampler, validation_data=validation_data, epochs=args.epochs, callbacks=callbacks, verbose=2)
    if valid_x is not None:
        best_epoch = callbacks[0].best_epoch
    return model, history.history, best_epoch


def train(args: argparse.Namespace) -> dict:
    import keras
    import tensorflow as tf

    from training.model import average_models

    settings = FeatureSettings(n_mfcc=args.n_mfcc, deltas=args.deltas, contrast_bands=args.contrast_bands)
    split_dir = args.split_dir or default_split_dir(args.data_dir)
    fit_splits = ("train", "valid") if args.fit_on == "train+valid" else ("train",)
    files = load_files(args.data_dir, split_dir, args.electronic_dir)
    if args.electronic_dir and args.codec_copies:
        files = with_codec_copies(files, fit_splits, args.reencoded_dir)
    genres = sorted({f.genre for f in files})
    log.info("%d files, %d genres, split lists: %s", len(files), len(genres), split_dir or "none (hash split)")

    items = load_training_items([f.path for f in files], settings, args.cache_dir, args.pseudo_excerpts)
    segments = [item.segments for item in items]
    index = {g: i for i, g in enumerate(genres)}
    chosen = [(f, it) for f, it in zip(files, items) if f.split in fit_splits]
    fit_items = [it for _, it in chosen]
    fit_labels = np.array([index[f.genre] for f, _ in chosen])
    norm_x, _, _ = stack(files, segments, genres, fit_splits)
    valid = stack(files, segments, genres, ("valid",)) if args.fit_on == "train" else (None, None, None)
    log.info("served segments: fit %d, valid %d", len(norm_x), 0 if valid[0] is None else len(valid[0]))

    started = time.time()
    members, histories, best_epochs = [], [], []
    for k in range(args.ensemble):
        for arch in args.arch.split("+"):  # e.g. "cnn_small+stats": every seed trains one of each
            model, history, best_epoch = fit_member(arch, args.seed + k, fit_items, fit_labels, genres, settings, args,
                                                    valid, norm_x)
            members.append(model)
            histories.append(history)
            best_epochs.append(best_epoch)
            log.info("member %d (%s): best epoch %s of %d", len(members), arch, best_epoch, len(history["loss"]))
    seconds = time.time() - started

    args.out_dir.mkdir(parents=True, exist_ok=True)
    keras_path = args.out_dir / KERAS_FILE
    model = average_models(members, name="genre_cnn")
    with tempfile.TemporaryDirectory(dir=args.out_dir) as tmp:  # the server never sees a half-written model
        staged = Path(tmp) / KERAS_FILE
        model.save(staged)  # uncompiled: no optimizer state in the file
        model = keras.models.load_model(staged, compile=False)
        export_tflite(model, Path(tmp) / TFLITE_FILE)
        staged.replace(keras_path)
        (Path(tmp) / TFLITE_FILE).replace(args.out_dir / TFLITE_FILE)
    history = {k: [round(float(v), 5) for v in vs] for k, vs in histories[0].items()}
    (args.out_dir / "training_history.json").write_text(json.dumps(history) + "\n")

    options = {name: getattr(args, name) for name in (
        "arch", "ensemble", "fit_on", "random_crops", "pseudo_excerpts", "pseudo_per_epoch", "gain_db", "mixup",
        "label_smoothing", "dropout", "l2", "hidden", "drop_c0", "stats_max", "monitor", "patience", "batch_size", "learning_rate")}
    card = {
        "name": "genre_cnn",
        "version": args.version,
        "genres": genres,
        "features": asdict(settings) | {"frames_per_segment": settings.frames_per_segment, "n_features": settings.n_features},
        "input_shape": list(norm_x.shape[1:]),
        "data": {
            "source": " + ".join(d.name for d in (args.data_dir, args.electronic_dir) if d),
            "codec_copies": bool(args.electronic_dir and args.codec_copies),
            "split": "split lists in " + split_dir.name if split_dir else "hash of track id, 70/15/15 per genre",
            "fit_on": args.fit_on,
            "per_genre": data_summary(*zip(*[(f, s) for f, s in zip(files, segments) if "+" not in f.source])),
        },
        "training": {
            "command": "python -m training.train " + " ".join(shlex.quote(a) for a in args.argv),
            "epochs_run": [len(h["loss"]) for h in histories],
            "best_epoch": best_epochs if valid[0] is not None else None,
            "train_seconds": round(seconds, 1),
            "seed": args.seed,
            "options": options,
            "parameters": int(model.count_params()),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "metrics": {},
    }
    if args.fit_on != "train":
        card["training"]["note"] = "valid was part of the training data: its metrics are not held out"
    (args.out_dir / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    if args.mapping:
        write_mapping(genres, args.mapping)

    from training.evaluate import evaluate

    card["metrics"] = evaluate(args.out_dir, args.data_dir, split_dir, args.cache_dir, args.metrics_dir,
                               robustness=args.robustness, electronic_dir=args.electronic_dir)
    return card


def _architectures(value: str) -> str:
    from training.model import ARCHITECTURES

    unknown = [a for a in value.split("+") if a not in ARCHITECTURES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown architecture(s) {unknown}; choose from {ARCHITECTURES}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the genre model (defaults: the settings chosen on valid).")
    parser.add_argument("--data-dir", type=Path, required=True, help="<data-dir>/<genre>/<clip>.<ext>")
    parser.add_argument("--split-dir", type=Path, help="train/valid/test lists (default: <data-dir>/splits if present)")
    parser.add_argument("--electronic-dir", type=Path,
                        help="the electronic clips (Ishkur's guide: <dir>/INDEX.csv): adds the 'electronic' genre")
    parser.add_argument("--codec-copies", action=argparse.BooleanOptionalAction, default=True,
                        help="with --electronic-dir: also train on the GTZAN files re-encoded like the electronic clips")
    parser.add_argument("--reencoded-dir", type=Path, default=ROOT / ".cache" / "reencoded")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "features")
    parser.add_argument("--metrics-dir", type=Path, default=ROOT / "static" / "images" / "metrics",
                        help="where the report-card pictures go")
    parser.add_argument("--mapping", type=Path, default=ROOT / "genre_mapping.txt")
    parser.add_argument("--epochs", type=int, default=None,
                        help="at most this many with early stopping on valid (default 50); exactly this many with --fit-on train+valid (default 18)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    # features (written into the model card; the server computes the same)
    parser.add_argument("--n-mfcc", type=int, default=FeatureSettings.n_mfcc)
    parser.add_argument("--deltas", type=int, default=FeatureSettings.deltas, choices=(0, 1, 2))
    parser.add_argument("--contrast-bands", type=int, default=FeatureSettings.contrast_bands, help="spectral contrast bands (0: none)")
    # model and regularisation
    parser.add_argument("--arch", default="cnn_small", type=_architectures,
                        help="one of cnn, cnn_small, conv1d, stats, or several joined by '+' (averaged into one model)")
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--stats-max", action=argparse.BooleanOptionalAction, default=False,
                        help="stats model: the maximum of each feature over the segment as well")
    parser.add_argument("--drop-c0", action=argparse.BooleanOptionalAction, default=True,
                        help="the model ignores MFCC 0, the overall level (chosen on valid: docs/experiments.md e20)")
    parser.add_argument("--l2", type=float, default=1e-4)
    parser.add_argument("--hidden", type=int, default=0, help="dense units before the output (conv1d, stats; 0: none)")
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--mixup", type=float, default=0.0, help="mixup Beta(a, a) parameter (0: off)")
    parser.add_argument("--ensemble", type=int, default=1, help="seeds averaged into one exported model")
    # data use and augmentation
    parser.add_argument("--random-crops", action=argparse.BooleanOptionalAction, default=True,
                        help="random-offset 3-s crops of whole clips, fresh every epoch")
    parser.add_argument("--pseudo-excerpts", type=int, default=10, help="simulated looped 2-3 s excerpts cached per clip")
    parser.add_argument("--pseudo-per-epoch", type=int, default=3, help="of those, drawn per clip per epoch")
    parser.add_argument("--gain-db", type=float, default=12.0, help="random gain change of +-this many dB")
    parser.add_argument("--fit-on", default="train+valid", choices=("train", "train+valid"),
                        help="train+valid: fixed --epochs, no early stopping, valid no longer held out")
    parser.add_argument("--monitor", default="val_loss", choices=("val_loss", "val_track_acc"))
    parser.add_argument("--patience", type=int, default=6)
    parser.add_argument("--robustness", action=argparse.BooleanOptionalAction, default=True,
                        help="re-encode the test files (64 kbit/s MP3, -12 dB, 44.1 kHz stereo) and score stability")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--version", default=date.today().strftime("%Y.%m.%d"))
    args = parser.parse_args(argv)
    if args.epochs is None:
        # train+valid has no valid side to stop on: the best epoch of the same settings fit on train
        args.epochs = 18 if args.fit_on == "train+valid" else 50
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    card = train(parse_args(argv))
    for split in ("valid", "test"):
        m = card["metrics"].get(split, {})
        print(f"{split}: track accuracy {m.get('track_accuracy')}, segment accuracy {m.get('segment_accuracy')}, "
              f"macro-F1 {m.get('macro_f1')} ({m.get('tracks')} tracks)")
    if "robustness" in card["metrics"]:
        print("robustness:", json.dumps(card["metrics"]["robustness"]))
    print(f"train seconds: {card['training']['train_seconds']}")


if __name__ == "__main__":
    main()
