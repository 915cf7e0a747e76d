"""Train the genre CNN from a GTZAN-style data dir and export what the server runs.

    python -m training.train --data-dir ../shared/data/gtzan

Writes models/genre_cnn.keras, models/genre_cnn.tflite, models/model_card.json,
models/training_history.json, genre_mapping.txt and the report-card pictures.
"""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from collections import defaultdict
from dataclasses import asdict
from datetime import date
from pathlib import Path

import numpy as np

from genre_model import CARD_FILE, KERAS_FILE, TFLITE_FILE
from music_genre_classifier import FeatureSettings
from training.dataset import AudioFile, default_split_dir, scan
from training.extract_genre_mapping import write_mapping
from training.feature_cache import load_segments

log = logging.getLogger("training")
ROOT = Path(__file__).resolve().parent.parent


def stack(files: list[AudioFile], segments: list[np.ndarray], genres: list[str], split: str):
    index = {g: i for i, g in enumerate(genres)}
    chosen = [(f, s) for f, s in zip(files, segments) if f.split == split and len(s)]
    x = np.concatenate([s for _, s in chosen])[..., np.newaxis]
    y = np.concatenate([np.full(len(s), index[f.genre]) for f, s in chosen])
    return x, y


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
    """Export with a free batch dimension so the server sends all segments in one call."""
    model.export(str(path), format="litert", verbose=False)


def train(args: argparse.Namespace) -> dict:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(args.seed)
    settings = FeatureSettings(n_mfcc=args.n_mfcc)
    split_dir = args.split_dir or default_split_dir(args.data_dir)
    files = scan(args.data_dir, split_dir)
    genres = sorted({f.genre for f in files})
    log.info("%d files, %d genres, split lists: %s", len(files), len(genres), split_dir or "none (hash split)")

    segments = load_segments([f.path for f in files], settings, args.cache_dir)
    train_x, train_y = stack(files, segments, genres, "train")
    valid_x, valid_y = stack(files, segments, genres, "valid")
    log.info("segments: train %d, valid %d", len(train_x), len(valid_x))

    from training.model import balanced_class_weights, build_cnn

    model = build_cnn(train_x.shape[1:], len(genres), train_x, args.learning_rate)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    keras_path = args.out_dir / KERAS_FILE
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(str(keras_path), monitor="val_loss", save_best_only=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3, min_lr=1e-5),
    ]
    started = time.time()
    history = model.fit(
        train_x, train_y,
        validation_data=(valid_x, valid_y),
        epochs=args.epochs,
        batch_size=args.batch_size,
        class_weight=balanced_class_weights(train_y, len(genres)),
        callbacks=callbacks,
        verbose=2,
    )
    seconds = time.time() - started
    model = keras.models.load_model(keras_path, compile=False)  # the checkpoint: best on valid
    model.save(keras_path)  # again, without the optimizer's state: a third of the size
    export_tflite(model, args.out_dir / TFLITE_FILE)
    (args.out_dir / "training_history.json").write_text(
        json.dumps({k: [round(float(v), 5) for v in vs] for k, vs in history.history.items()}) + "\n"
    )

    card = {
        "name": "genre_cnn",
        "version": args.version,
        "genres": genres,
        "features": asdict(settings) | {"frames_per_segment": settings.frames_per_segment},
        "input_shape": list(train_x.shape[1:]),
        "data": {
            "source": str(args.data_dir.name),
            "split": "split lists in " + split_dir.name if split_dir else "hash of track id, 70/15/15 per genre",
            "per_genre": data_summary(files, segments),
        },
        "training": {
            "command": "python -m training.train " + " ".join(shlex.quote(a) for a in args.argv),
            "epochs_run": len(history.history["loss"]),
            "best_epoch": int(np.argmin(history.history["val_loss"])) + 1,
            "train_seconds": round(seconds, 1),
            "seed": args.seed,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "metrics": {},
    }
    (args.out_dir / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    if args.mapping:
        write_mapping(genres, args.mapping)

    from training.evaluate import evaluate

    card["metrics"] = evaluate(args.out_dir, args.data_dir, split_dir, args.cache_dir, args.metrics_dir)
    return card


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the MFCC genre CNN.")
    parser.add_argument("--data-dir", type=Path, required=True, help="<data-dir>/<genre>/<clip>.<ext>")
    parser.add_argument("--split-dir", type=Path, help="train/valid/test lists (default: <data-dir>/splits if present)")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "features")
    parser.add_argument("--metrics-dir", type=Path, default=ROOT / "static" / "images" / "metrics",
                        help="where the report-card pictures go")
    parser.add_argument("--mapping", type=Path, default=ROOT / "genre_mapping.txt")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--n-mfcc", type=int, default=13)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--version", default=date.today().strftime("%Y.%m.%d"))
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    card = train(parse_args(argv))
    test = card["metrics"].get("test", {})
    print(f"test: track accuracy {test.get('track_accuracy')}, segment accuracy {test.get('segment_accuracy')}, "
          f"macro-F1 {test.get('macro_f1')} ({test.get('tracks')} tracks)")


if __name__ == "__main__":
    main()
