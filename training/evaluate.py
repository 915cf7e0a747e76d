"""Score the served model on a split at TRACK level (and segment level beside it); draw the report card.

Track level: the probabilities of all audible segments of all pieces of a track are averaged,
exactly as the server averages the segments of an upload. Writes the metrics into
``models/model_card.json`` and the pictures into ``static/images/metrics/``.

    python -m training.evaluate --data-dir ../shared/data/gtzan
"""
from __future__ import annotations

import argparse
import json
import logging
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from genrelens.analysis.pipeline import FeatureSettings
from genrelens.models.mfcc_cnn import CARD_FILE, ModelCard, load_predictor
from genrelens.models.musicnn import MUSICNN_CARD_FILE
from training import outside_collection
from training.dataset import default_split_dir, load_files
from training.feature_cache import load_segments
from training.files import AudioFile
from training.predictions import Predictions, collect, predict, score

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent


def evaluate(
    model_dir: Path,
    data_dir: Path,
    split_dir: Path | None,
    cache_dir: Path,
    metrics_dir: Path | None,
    splits: tuple[str, ...] = ("valid", "test"),
    robustness: bool = False,
    electronic_dir: Path | None = None,
) -> dict:
    """Score ``splits`` with the served predictor; update the card; draw the pictures for test."""
    card = ModelCard.load(model_dir)
    settings = FeatureSettings.from_dict(card.features)
    predictor = load_predictor(model_dir, card)
    files = load_files(data_dir, split_dir, electronic_dir)
    metrics: dict = {"backend": predictor.backend}
    predictions: dict[str, Predictions] = {}
    for split in splits:
        chosen = [f for f in files if f.split == split and f.genre in card.genres]
        if not chosen:
            continue
        predictions[split] = predict(predictor, card.genres, chosen, load_segments([f.path for f in chosen], settings, cache_dir))
        metrics[split] = score(predictions[split])
        log.info("%s: track accuracy %.3f (%d tracks), segment accuracy %.3f, macro-F1 %.3f", split,
                 metrics[split]["track_accuracy"], metrics[split]["tracks"],
                 metrics[split]["segment_accuracy"], metrics[split]["macro_f1"])
    if robustness and "test" in predictions:
        from training.robustness import robustness as score_robustness

        def predict_files(variant_files: list[AudioFile], cache: Path) -> dict[str, Predictions]:
            segments = load_segments([f.path for f in variant_files], settings, cache / "segments")
            return {"model": predict(predictor, card.genres, variant_files, segments)}

        chosen = [f for f in files if f.split == "test" and f.genre in card.genres]
        metrics["robustness"] = score_robustness({"model": predictions["test"]}, predict_files, chosen)["model"]
    raw = dict(card.raw)
    raw["metrics"] = metrics
    (model_dir / CARD_FILE).write_text(json.dumps(raw, indent=2) + "\n")
    if metrics_dir is not None and "test" in predictions:
        from training.report_card import draw_report_card, training_history_png

        history_file = model_dir / "training_history.json"
        history = json.loads(history_file.read_text()) if history_file.exists() else None
        default = served_default(model_dir)
        if default == "mfcc_cnn":
            draw_report_card(predictions["test"], metrics["test"], history, Path(metrics_dir))
        else:  # the test pictures show the served default; training.musicnn_head draws them
            log.info("the served default is %s: only the MFCC CNN's own pictures are redrawn", default)
            if history:
                Path(metrics_dir).mkdir(parents=True, exist_ok=True)
                training_history_png(history, Path(metrics_dir) / "training_history.png")
        draw_mfcc_pictures(files, card.genres, settings, cache_dir, Path(metrics_dir))
    return metrics


def rescore_served_musicnn(model_dir: Path, files: list[AudioFile], settings: FeatureSettings,
                           embedding_cache: Path, outside: list[AudioFile] = ()) -> dict:
    """The musicnn model from its served files (as the server loads them) on TEST and on the outside
    collection, beside the card's figures.

    A check that what ships is what was scored: ``training.musicnn_head`` scores its heads in memory
    before writing them (as float32) into ``musicnn_heads.npz``.
    """
    from genrelens.models.musicnn import MUSICNN_FILE, MusicnnModels
    from training.musicnn_embeddings import load_embeddings
    from training.musicnn_head import outside_figures

    card = ModelCard.load(model_dir)
    served = MusicnnModels.load(model_dir, card.genres)
    chosen = [f for f in files if f.split == "test" and f.genre in card.genres]
    outside = [f for f in outside if f.genre in card.genres]
    rows = load_embeddings([f.path for f in chosen + outside], settings, embedding_cache, model_dir / MUSICNN_FILE,
                           n_pseudo=served.card["training"]["options"]["pseudo_excerpts"],
                           level_dbfs=served.card["input_level_dbfs"])
    empty = np.zeros((0, len(card.genres)), np.float32)
    probabilities = [served.head.predict({"pooled": e.pooled, "tags": e.tags}) if len(e.pooled) else empty for e in rows]
    test = score(collect(card.genres, chosen, probabilities[: len(chosen)]))
    heard = {"test_track_accuracy": test["track_accuracy"], "test_macro_f1": test["macro_f1"], "tracks": test["tracks"]}
    on_card = {k: served.card["metrics"]["musicnn"]["test"][k] for k in ("track_accuracy", "macro_f1", "tracks")}
    if outside:
        figures = outside_figures(probabilities[len(chosen):], [SimpleNamespace(file=f) for f in outside], card.genres)
        heard["outside_dev"] = {g: f"{v['right']}/{v['tracks']}" for g, v in figures.items()}
        on_card["outside_dev"] = {g: f"{v['right']}/{v['tracks']}"
                                  for g, v in served.card["metrics"]["musicnn"].get("outside_dev", {}).items()}
    return heard | {"card": on_card}


def served_default(model_dir: Path) -> str:
    """The model the server answers with by default (``musicnn_card.json`` decides when present)."""
    head_card = model_dir / MUSICNN_CARD_FILE
    return json.loads(head_card.read_text()).get("default_model", "mfcc_cnn") if head_card.exists() else "mfcc_cnn"


def draw_mfcc_pictures(files: list[AudioFile], genres: list[str], settings: FeatureSettings, cache_dir: Path,
                       out_dir: Path) -> None:
    """mfcc_examples.png, mfcc_mean.png, mfcc_variance.png from the training split's served segments."""
    from training.report_card import mfcc_examples_png, mfcc_statistics_png

    chosen = [f for f in files if f.split == "train" and f.genre in genres]
    segments = load_segments([f.path for f in chosen], settings, cache_dir)
    by_genre: dict[str, list[np.ndarray]] = defaultdict(list)
    tracks: dict[str, set] = defaultdict(set)
    examples: dict[str, tuple[str, np.ndarray]] = {}
    for f, segs in zip(chosen, segments):
        if not len(segs):
            continue
        by_genre[f.genre].append(segs)
        tracks[f.genre].add(f.track)
        # the example: the first whole clip of the genre (several segments), its middle segment
        if f.genre not in examples or (len(examples[f.genre][1]) == 1 and len(segs) > 1):
            examples[f.genre] = (f.path.name, segs)
    ordered = [g for g in genres if g in by_genre]
    out_dir.mkdir(parents=True, exist_ok=True)
    hop_s = settings.hop_length / settings.sample_rate
    mfcc_examples_png({g: (examples[g][0], examples[g][1][len(examples[g][1]) // 2]) for g in ordered},
                      settings.n_mfcc, hop_s, out_dir / "mfcc_examples.png")
    mfcc_statistics_png({g: np.concatenate(by_genre[g]) for g in ordered}, settings.n_mfcc,
                        {g: len(tracks[g]) for g in ordered}, out_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Track-level evaluation of the served model.")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--split-dir", type=Path, help="train/valid/test lists (default: <data-dir>/splits if present)")
    parser.add_argument("--electronic-dir", type=Path, help="the electronic clips (Ishkur's guide), for the 'electronic' genre")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "features")
    parser.add_argument("--embedding-cache", type=Path, default=ROOT / ".cache" / "musicnn_embeddings",
                        help="musicnn outputs (training.musicnn_embeddings), for re-scoring the served musicnn model")
    parser.add_argument("--metrics-dir", type=Path, default=ROOT / "static" / "images" / "metrics")
    parser.add_argument("--outside-dir", type=Path,
                        help="music of another collection (rock/, classical/, INDEX.csv): the served musicnn on it")
    parser.add_argument("--robustness", action=argparse.BooleanOptionalAction, default=True,
                        help="re-encode the test files (64 kbit/s MP3, -12 dB, 44.1 kHz stereo) and score stability")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    split_dir = args.split_dir or default_split_dir(args.data_dir)
    metrics = evaluate(args.model_dir, args.data_dir, split_dir, args.cache_dir, args.metrics_dir, robustness=args.robustness,
                       electronic_dir=args.electronic_dir)
    print(json.dumps({k: {m: v for m, v in s.items() if m != "per_genre"} if isinstance(s, dict) else s
                      for k, s in metrics.items()}, indent=2))
    if args.electronic_dir and (args.model_dir / MUSICNN_CARD_FILE).exists():
        card = ModelCard.load(args.model_dir)
        files = load_files(args.data_dir, split_dir, args.electronic_dir)
        outside = outside_collection.scan(args.outside_dir) if args.outside_dir else []
        check = rescore_served_musicnn(args.model_dir, files, FeatureSettings.from_dict(card.features), args.embedding_cache,
                                       outside)
        print("served musicnn model, re-scored from its files:", json.dumps(check))


if __name__ == "__main__":
    main()
