"""The model's report-card pictures (static/images/metrics/): drawn from test-split predictions."""
from __future__ import annotations

import logging
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

log = logging.getLogger(__name__)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    log.info("wrote %s", path)


def confusion_matrix_png(pred, out: Path, label: str = "") -> None:
    from sklearn.metrics import confusion_matrix

    labels = list(range(len(pred.genres)))
    matrix = confusion_matrix(pred.track_true, pred.track_prob.argmax(axis=1), labels=labels)
    fig, ax = plt.subplots(figsize=(8, 6.5))
    sns.heatmap(matrix, annot=True, fmt="d", cmap="Blues", xticklabels=pred.genres, yticklabels=pred.genres, ax=ax, cbar=False)
    ax.set_xlabel("predicted genre")
    ax.set_ylabel("true genre")
    ax.set_title(f"{label}Confusion matrix, test split, track level ({len(pred.tracks)} tracks)")
    _save(fig, out)


def classification_report_png(metrics: dict, out: Path, label: str = "") -> None:
    per_genre = metrics["per_genre"]
    genres = list(per_genre)
    table = np.array([[per_genre[g]["precision"], per_genre[g]["recall"], per_genre[g]["f1"]] for g in genres])
    fig, ax = plt.subplots(figsize=(7, 6.5))
    sns.heatmap(table, annot=True, fmt=".2f", cmap="RdYlGn", vmin=0, vmax=1, cbar=False, ax=ax,
                xticklabels=["precision", "recall", "F1"],
                yticklabels=[f"{g} (n={per_genre[g]['support']})" for g in genres])
    ax.set_title(f"{label}Test split, track level: accuracy {metrics['track_accuracy']:.1%}, macro-F1 {metrics['macro_f1']:.2f}")
    _save(fig, out)


def roc_curves_png(pred, out: Path, label: str = "") -> None:
    from sklearn.metrics import auc, roc_curve

    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    palette = sns.color_palette("tab20", len(pred.genres))
    for i, genre in enumerate(pred.genres):
        positives = pred.track_true == i
        if positives.all() or not positives.any():
            continue  # no ROC without both classes
        fpr, tpr, _ = roc_curve(positives, pred.track_prob[:, i])
        ax.plot(fpr, tpr, color=palette[i], label=f"{genre} (AUC {auc(fpr, tpr):.2f}, n={int(positives.sum())})")
    ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"{label}ROC one-vs-rest, test split, track level")
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, out)


def training_history_png(history: dict, out: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    left.plot(epochs, history["accuracy"], label="train (augmented segments)")
    if "val_accuracy" in history:
        left.plot(epochs, history["val_accuracy"], label="valid segments")
    if "val_track_acc" in history:
        left.plot(epochs, history["val_track_acc"], label="valid tracks")
    left.set_title("accuracy")
    right.plot(epochs, history["loss"], label="train")
    if "val_loss" in history:
        right.plot(epochs, history["val_loss"], label="valid")
    right.set_title("loss")
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.legend()
    _save(fig, out)


def draw_report_card(pred, metrics: dict, history: dict | None, out_dir: Path, model: str | None = None) -> None:
    """The test-split pictures; ``model`` names the model in their titles."""
    out_dir.mkdir(parents=True, exist_ok=True)
    label = f"{model}: " if model else ""
    confusion_matrix_png(pred, out_dir / "confusion_matrix.png", label)
    classification_report_png(metrics, out_dir / "classification_report.png", label)
    roc_curves_png(pred, out_dir / "roc_curves.png", label)
    if history:
        training_history_png(history, out_dir / "training_history.png")


def style_confusion_png(scores: dict, styles: list[str], out: Path) -> None:
    """The 7 electronic styles on the artist-disjoint test clips: a confusion matrix."""
    fig, ax = plt.subplots(figsize=(7, 5.5))
    sns.heatmap(np.array(scores["confusion"]), annot=True, fmt="d", cmap="Purples", xticklabels=styles,
                yticklabels=styles, ax=ax, cbar=False)
    ax.set_xlabel("predicted style")
    ax.set_ylabel("true style")
    ax.set_title(f"musicnn: electronic styles, test clips (artist-disjoint): accuracy {scores['track_accuracy']:.1%}, "
                 f"n={scores['tracks']}", fontsize=10)
    _save(fig, out)


def outside_confusion_png(figures: dict, genres: list[str], out: Path, model: str = "musicnn") -> None:
    """Each genre of the outside collection (rows) against what the model called its clips (columns)."""
    rows = list(figures)
    matrix = np.array([[figures[g]["calls"].get(called, 0) for called in genres] for g in rows])
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(rows) + 1.8))
    sns.heatmap(matrix, annot=True, fmt="d", cmap="Oranges", xticklabels=genres, ax=ax, cbar=False,
                yticklabels=[f"{g} ({figures[g]['right']}/{figures[g]['tracks']})" for g in rows])
    ax.set_xlabel("called")
    ax.set_ylabel("true genre (right/clips)")
    ax.set_title(f"{model}: another collection (outside_dev, chosen with, never fitted on), one answer per clip",
                 fontsize=10)
    _save(fig, out)


def generalisation_png(metrics: dict, out: Path) -> None:
    """Electronic found, false alarms and the cross-source checks of the musicnn model, as bars."""
    m = metrics["musicnn"]
    rows = [("electronic test clips\ncalled electronic", m["electronic"]["recall_test"], m["electronic"]["tracks_test"]),
            ("non-electronic test tracks\ncalled electronic", m["electronic"]["false_positive_rate_test"],
             m["electronic"]["non_electronic_tracks_test"]),
            ("GTZAN test re-encoded like\nthe electronic clips: electronic", m["electronic"]["reencoded_gtzan_called_electronic"],
             m["electronic"]["reencoded_gtzan_tracks"]),
            ("the 10 GTZAN genres:\ntest track accuracy", m["test_gtzan10"]["track_accuracy"], m["test_gtzan10"]["tracks"])]
    for genre, figures in m.get("outside_dev", {}).items():
        if figures.get("tracks"):
            rows.append((f"{genre} from another collection\n(outside_dev): {genre}", figures["share"], figures["tracks"]))
    checks = m.get("cross_source", {})
    for key, label in (("hiphop_other_source", "hip hop from the guide\n(left out of the fit): hip hop"),
                       ("disco_other_source", "disco from the guide\n(left out of the fit): disco"),
                       ("rock_family_other_source", "goth / industrial / psych rock\nfrom the guide: rock or metal")):
        if checks.get(key, {}).get("tracks"):
            rows.append((label, checks[key]["share"], checks[key]["tracks"]))
    styles = [v for k, v in checks.items() if k.startswith("unseen_style_") and isinstance(v, dict) and v.get("tracks")]
    if styles:
        rows.append(("electronic styles left out of\ntraining: electronic (mean of 7)", checks["unseen_style_called_electronic"],
                     -sum(v["tracks"] for v in styles)))  # a mean of shares: n < 0 marks it
    fig, ax = plt.subplots(figsize=(8, 0.62 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    ax.barh(y, [r[1] for r in rows], color=sns.color_palette("crest", len(rows)))
    for yi, (_, value, n) in zip(y, rows):
        if n > 0:  # a share of n tracks: print the exact share, not a rounding of the card's 4 decimals
            value = round(value * n) / n
        n = abs(n)
        inside = value > 0.7  # on the bar, in white; else after it
        ax.text(value - 0.01 if inside else value + 0.01, yi, f"{value:.1%} (n={n})", va="center", fontsize=9,
                ha="right" if inside else "left", color="white" if inside else "black")
    ax.set_yticks(y, [r[0] for r in rows], fontsize=8.5)
    ax.set_xlim(0, 1)
    ax.set_title("musicnn: electronic music and music from other sources, test split", fontsize=10)
    _save(fig, out)


def _mfcc_rows(segments: np.ndarray, n_mfcc: int) -> np.ndarray:
    """The MFCC rows only (not deltas or contrast) of (n, frames, n_features) segments."""
    return segments[:, :, :n_mfcc]


def mfcc_examples_png(examples: dict[str, tuple[str, np.ndarray]], n_mfcc: int, hop_s: float, out: Path) -> None:
    """One 3-s segment's MFCCs per genre (coefficients 1.. share a colour scale; 0, the loudness, is left out)."""
    genres = list(examples)
    cols = 5
    rows = math.ceil(len(genres) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False, layout="constrained")
    # MFCC 1 (spectral tilt) is far larger than the rest: the scale follows 2.., MFCC 1 saturates
    limit = max(float(np.percentile(np.abs(seg[:, 2:n_mfcc]), 98)) for _, seg in examples.values()) or 1.0
    image = None
    for ax, genre in zip(axes.flat, genres):
        name, segment = examples[genre]
        mfcc = segment[:, 1:n_mfcc].T
        image = ax.imshow(mfcc, aspect="auto", origin="lower", cmap="coolwarm", vmin=-limit, vmax=limit,
                          extent=(0, mfcc.shape[1] * hop_s, 0.5, n_mfcc - 0.5))
        ax.set_title(f"{genre}\n{name}", fontsize=9)
        ax.set_xlabel("s", fontsize=8)
        ax.set_ylabel("MFCC", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(genres):]:
        ax.axis("off")
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label="coefficient value")
    fig.suptitle("MFCC 1-%d of one 3-s segment per genre (training split; MFCC 0, the level, left out)" % (n_mfcc - 1))
    fig.savefig(out, dpi=80)
    plt.close(fig)
    log.info("wrote %s", out)


def _genre_table_png(table: np.ndarray, genres: list[str], counts: dict[str, int], title: str, colour_label: str,
                     out: Path, log_colour: bool = False) -> None:
    """Genres x coefficients; colour is the per-coefficient z-score across genres, the numbers are raw."""
    colour = np.log10(np.maximum(table, 1e-6)) if log_colour else table
    z = (colour - colour.mean(axis=0)) / (colour.std(axis=0) + 1e-9)
    fig, ax = plt.subplots(figsize=(max(8, 0.6 * table.shape[1] + 2), 0.5 * len(genres) + 1.8))
    annot = table.shape[1] <= 20
    sns.heatmap(z, annot=table if annot else False, fmt=".0f", annot_kws={"fontsize": 7}, cmap="vlag", center=0,
                xticklabels=[str(i) for i in range(table.shape[1])],
                yticklabels=[f"{g} (n={counts.get(g, 0)})" for g in genres], ax=ax,
                cbar_kws={"label": colour_label})
    ax.set_xlabel("MFCC coefficient")
    ax.set_title(title)
    _save(fig, out)


def mfcc_statistics_png(by_genre: dict[str, np.ndarray], n_mfcc: int, tracks: dict[str, int], out_dir: Path) -> None:
    """mfcc_mean.png and mfcc_variance.png: per genre, the mean MFCC and the variance of each coefficient over time."""
    genres = list(by_genre)
    means = np.stack([_mfcc_rows(by_genre[g], n_mfcc).mean(axis=(0, 1)) for g in genres])
    variances = np.stack([_mfcc_rows(by_genre[g], n_mfcc).var(axis=1).mean(axis=0) for g in genres])
    _genre_table_png(means, genres, tracks, "Mean MFCC per genre (training split; numbers: mean value)",
                     "z-score across genres", out_dir / "mfcc_mean.png")
    _genre_table_png(variances, genres, tracks,
                     "MFCC variance within 3-s segments, per genre (training split; numbers: variance)",
                     "z-score of log variance across genres", out_dir / "mfcc_variance.png", log_colour=True)
