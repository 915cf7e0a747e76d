"""Train the genre head on frozen musicnn embeddings; score it and its average with the MFCC CNN.

    python -m training.musicnn_head --data-dir ../shared/data/gtzan --mfcc-valid-dir .cache/mfcc_train_only

Two fits with the same settings: one on TRAIN, scored on VALID (with the MFCC CNN fitted on train
alone from ``--mfcc-valid-dir``, for the ensemble), which picks the served default; then one on
TRAIN+VALID, scored on TEST together with the shipped MFCC CNN in ``--model-dir``. Writes
``musicnn_head.keras``, ``musicnn_head.tflite`` and ``musicnn_card.json`` into ``--model-dir``.
The head: standardise, dropout, (optionally a hidden ReLU layer,) softmax; one row per audible
3-s segment. On VALID the pooled features (mean and max over time of the mid-end, 1506 values)
did as well as or better than the 200-unit penultimate layer (docs/experiments.md).
"""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from genrelens.models import (HEAD_KERAS_FILE, HEAD_TFLITE_FILE, MUSICNN_CARD_FILE, MUSICNN_FILE, KerasPredictor, ModelCard,
                         load_predictor)
from genrelens.pipeline import FeatureSettings
from training.dataset import AudioFile, default_split_dir, scan
from training.evaluate import Predictions, collect, score
from training.feature_cache import load_segments
from training.musicnn_embeddings import Embeddings, load_embeddings

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
MODELS = ("mfcc_cnn", "musicnn", "ensemble")


def training_rows(files: list[AudioFile], embeddings: list[Embeddings], genres: list[str], splits: tuple[str, ...],
                  kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (segments and simulated excerpts) of the files on ``splits``, labels, genre-balancing weights."""
    index = {g: i for i, g in enumerate(genres)}
    xs, ys = [], []
    for f, e in zip(files, embeddings):
        if f.split in splits and f.genre in index:
            rows = np.concatenate([e.rows(kind), e.pseudo[kind]])
            xs.append(rows)
            ys.extend([index[f.genre]] * len(rows))
    x, y = np.concatenate(xs).astype(np.float32), np.array(ys)
    counts = np.bincount(y, minlength=len(genres)).astype(np.float64)
    weights = (len(y) / (len(genres) * np.maximum(counts, 1)))[y]
    return x, y, weights.astype(np.float32)


def build_head(train_x: np.ndarray, n_genres: int, hidden: int, dropout: float, l2: float):
    import keras
    from keras import layers, regularizers

    inputs = keras.Input((train_x.shape[1],), name="embedding")
    normalize = layers.Normalization(name="standardize")
    normalize.adapt(train_x)
    x = layers.Dropout(dropout)(normalize(inputs))
    if hidden:
        x = layers.Dense(hidden, activation="relu", kernel_regularizer=regularizers.l2(l2))(x)
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(n_genres, activation="softmax", kernel_regularizer=regularizers.l2(l2))(x)
    return keras.Model(inputs, outputs, name="musicnn_head")


def fit_head(x: np.ndarray, y: np.ndarray, w: np.ndarray, n_genres: int, args: argparse.Namespace):
    import keras

    keras.utils.set_random_seed(args.seed)
    model = build_head(x, n_genres, args.hidden, args.dropout, args.l2)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing))
    model.fit(x, np.eye(n_genres, dtype=np.float32)[y], sample_weight=w, epochs=args.epochs,
              batch_size=args.batch_size, shuffle=True, verbose=0)
    return model


def model_predictions(head, mfcc_predictor, files: list[AudioFile], embeddings: list[Embeddings],
                      mfcc_segments: list[np.ndarray], genres: list[str], kind: str, weight: float) -> dict[str, Predictions]:
    """Predictions of the MFCC CNN, the head and their segment-wise average on ``files``."""
    empty = np.zeros((0, len(genres)), np.float32)
    per_file_head = [head.predict(e.rows(kind)) if len(e.rows(kind)) else empty for e in embeddings]
    per_file_mfcc = [mfcc_predictor.predict(s) if len(s) else empty for s in mfcc_segments]
    for f, a, b in zip(files, per_file_head, per_file_mfcc):
        if len(a) != len(b):
            raise RuntimeError(f"{f.path}: {len(a)} musicnn rows but {len(b)} MFCC segments")
    return {
        "mfcc_cnn": collect(genres, files, per_file_mfcc),
        "musicnn": collect(genres, files, per_file_head),
        "ensemble": collect(genres, files, [weight * a + (1 - weight) * b for a, b in zip(per_file_head, per_file_mfcc)]),
    }


def segments_heard(head, files: list[AudioFile], embeddings: list[Embeddings], genres: list[str], kind: str,
                   budgets: tuple[int, ...] = (1, 2, 3, 4, 6, 10)) -> dict[str, float]:
    """Track accuracy when musicnn hears at most ``budget`` segments per file, as the server does it."""
    from genrelens.musicnn_features import nearest, spread

    full = [head.predict(e.rows(kind)) if len(e.rows(kind)) else np.zeros((0, len(genres)), np.float32)
            for e in embeddings]
    result = {}
    for budget in budgets:
        heard = [spread(len(p), budget) for p in full]
        probabilities = [p[h][nearest(len(p), h)] if len(p) else p for p, h in zip(full, heard)]
        result[str(budget)] = score(collect(genres, files, probabilities))["track_accuracy"]
    return result


def _summary(scores: dict) -> str:
    return "; ".join(f"{name} track {s['track_accuracy']:.3f} F1 {s['macro_f1']:.3f} segment {s['segment_accuracy']:.3f}"
                     for name, s in scores.items())


def export(model, out_dir: Path) -> None:
    """Save ``musicnn_head.keras`` and its LiteRT twin, swapped in only once both are written."""
    import keras

    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        staged = Path(tmp) / HEAD_KERAS_FILE
        model.save(staged)
        model = keras.models.load_model(staged, compile=False)
        model.export(str(Path(tmp) / HEAD_TFLITE_FILE), format="litert", verbose=False)
        staged.replace(out_dir / HEAD_KERAS_FILE)
        (Path(tmp) / HEAD_TFLITE_FILE).replace(out_dir / HEAD_TFLITE_FILE)


def run(args: argparse.Namespace) -> dict:
    split_dir = args.split_dir or default_split_dir(args.data_dir)
    mfcc_card = ModelCard.load(args.model_dir)
    genres, settings = mfcc_card.genres, FeatureSettings.from_dict(mfcc_card.features)
    files = [f for f in scan(args.data_dir, split_dir) if f.genre in genres]
    started = time.time()
    embeddings = load_embeddings([f.path for f in files], settings, args.embedding_cache, args.model_dir / MUSICNN_FILE,
                                 n_pseudo=args.pseudo_excerpts, level_dbfs=args.level_dbfs)
    embedding_seconds = time.time() - started
    segments = load_segments([f.path for f in files], settings, args.cache_dir)

    def part(split: str):
        keep = [i for i, f in enumerate(files) if f.split == split]
        return [files[i] for i in keep], [embeddings[i] for i in keep], [segments[i] for i in keep]

    metrics: dict = {name: {} for name in MODELS}
    if args.mfcc_valid_dir:  # selection: head fitted on train, MFCC CNN fitted on train
        x, y, w = training_rows(files, embeddings, genres, ("train",), args.embedding)
        head = KerasPredictor(model=fit_head(x, y, w, len(genres), args))
        mfcc_valid = load_predictor(args.mfcc_valid_dir, ModelCard.load(args.mfcc_valid_dir))
        valid = model_predictions(head, mfcc_valid, *part("valid"), genres, args.embedding, args.weight)
        for name in MODELS:
            metrics[name]["valid"] = score(valid[name])
        log.info("VALID (fit on train): %s", _summary({name: metrics[name]["valid"] for name in MODELS}))
        metrics["musicnn"]["valid_by_segments_heard"] = segments_heard(head, *part("valid")[:2], genres, args.embedding)
        log.info("VALID track accuracy by segments heard: %s", metrics["musicnn"]["valid_by_segments_heard"])
    started = time.time()
    fit_splits = tuple(args.fit_on.split("+"))
    x, y, w = training_rows(files, embeddings, genres, fit_splits, args.embedding)
    model = fit_head(x, y, w, len(genres), args)
    fit_seconds = time.time() - started
    head, shipped_mfcc = KerasPredictor(model=model), load_predictor(args.model_dir, mfcc_card)
    test = model_predictions(head, shipped_mfcc, *part("test"), genres, args.embedding, args.weight)
    for name in MODELS:
        metrics[name]["test"] = score(test[name])
    log.info("TEST (fit on %s): %s", args.fit_on, _summary({name: metrics[name]["test"] for name in MODELS}))
    if args.robustness:
        def predict_files(variant_files, cache):
            paths = [f.path for f in variant_files]
            rows = load_embeddings(paths, settings, cache / "embeddings", args.model_dir / MUSICNN_FILE,
                                   level_dbfs=args.level_dbfs)
            return model_predictions(head, shipped_mfcc, variant_files, rows, load_segments(paths, settings, cache / "segments"),
                                     genres, args.embedding, args.weight)

        from training.robustness import robustness

        for name, figures in robustness(test, predict_files, part("test")[0]).items():
            metrics[name]["robustness"] = figures
    selectable = [name for name in MODELS if "valid" in metrics[name]]
    default = max(selectable, key=lambda n: (metrics[n]["valid"]["track_accuracy"], metrics[n]["valid"]["macro_f1"])) \
        if selectable else "ensemble"
    card = {
        "name": "musicnn_head",
        "version": args.version,
        "genres": genres,
        "embedding": args.embedding,
        "input_level_dbfs": args.level_dbfs,
        "ensemble_weight": args.weight,
        "default_model": default,
        "data": {"source": args.data_dir.name, "split": "split lists in " + split_dir.name if split_dir else "hash split",
                 "fit_on": args.fit_on, "rows": int(len(x))},
        "training": {
            "command": "python -m training.musicnn_head " + " ".join(shlex.quote(a) for a in args.argv),
            "options": {k: getattr(args, k) for k in ("embedding", "level_dbfs", "hidden", "dropout", "l2", "epochs", "batch_size",
                                                       "learning_rate", "label_smoothing", "pseudo_excerpts", "seed", "weight")},
            "parameters": int(model.count_params()),
            "fit_seconds": round(fit_seconds, 1),
            "embedding_seconds": round(embedding_seconds, 1),  # near 0 when cached
        },
        "metrics": metrics,
        "selection": f"default = best VALID track accuracy (then macro-F1) among {selectable}, all fitted on train only"
        if selectable else "no VALID comparison was run",
    }
    if args.write:
        export(model, args.model_dir)
        (args.model_dir / MUSICNN_CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
        if args.metrics_dir is not None and default != "mfcc_cnn":  # the MFCC CNN's own are drawn by evaluate
            from training.report_card import draw_report_card

            draw_report_card(test[default], metrics[default]["test"], None, args.metrics_dir, model=default)
    return card


def _level(value: str) -> float | None:
    return None if value.lower() == "none" else float(value)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--split-dir", type=Path)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models",
                        help="holds the shipped MFCC CNN and musicnn_msd.tflite; the head is written here")
    parser.add_argument("--mfcc-valid-dir", type=Path,
                        help="an MFCC CNN fitted on train only (python -m training.train --fit-on train --out-dir DIR): "
                             "without it there is no VALID comparison")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "features")
    parser.add_argument("--embedding-cache", type=Path, default=ROOT / ".cache" / "musicnn_embeddings")
    parser.add_argument("--metrics-dir", type=Path, default=ROOT / "static" / "images" / "metrics",
                        help="where the served default's report-card pictures go (none: --metrics-dir '')")
    parser.add_argument("--embedding", default="pooled", choices=("penultimate", "pooled", "tags"))
    parser.add_argument("--level-dbfs", type=_level, default=-20.0,
                        help="scale each 3-s piece to this RMS level before musicnn (the median of the data; "
                             "makes the answer gain-invariant); 'none': as decoded")
    parser.add_argument("--hidden", type=int, default=0, help="hidden ReLU units (0: a linear softmax classifier)")
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--l2", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--pseudo-excerpts", type=int, default=3, help="simulated looped 2-3 s excerpts per whole clip")
    parser.add_argument("--weight", type=float, default=0.5, help="the head's share in the ensemble average")
    parser.add_argument("--fit-on", default="train+valid", choices=("train", "train+valid"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--version", default=date.today().strftime("%Y.%m.%d"))
    parser.add_argument("--robustness", action=argparse.BooleanOptionalAction, default=True,
                        help="re-encode the test files (64 kbit/s MP3, -12 dB, 44.1 kHz stereo) and score stability")
    parser.add_argument("--write", action=argparse.BooleanOptionalAction, default=True,
                        help="write the head and its card into --model-dir")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.metrics_dir = args.metrics_dir if str(args.metrics_dir) not in ("", ".") else None
    return args


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    card = run(parse_args(argv))
    print(json.dumps({"default_model": card["default_model"], "metrics": {
        name: {split: {k: v for k, v in s.items() if k != "per_genre"} for split, s in by_split.items()}
        for name, by_split in card["metrics"].items()}}, indent=2))


if __name__ == "__main__":
    main()
