"""The model's report-card pictures (static/images/metrics/): drawn from test-split predictions."""
from __future__ import annotations

import logging
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


def confusion_matrix_png(pred, out: Path) -> None:
    from sklearn.metrics import confusion_matrix

    labels = list(range(len(pred.genres)))
    matrix = confusion_matrix(pred.track_true, pred.track_prob.argmax(axis=1), labels=labels)
    fig, ax = plt.subplots(figsize=(8, 6.5))
    sns.heatmap(matrix, annot=True, fmt="d", cmap="Blues", xticklabels=pred.genres, yticklabels=pred.genres, ax=ax, cbar=False)
    ax.set_xlabel("predicted genre")
    ax.set_ylabel("true genre")
    ax.set_title(f"Confusion matrix, test split, track level ({len(pred.tracks)} tracks)")
    _save(fig, out)


def classification_report_png(metrics: dict, out: Path) -> None:
    per_genre = metrics["per_genre"]
    genres = list(per_genre)
    table = np.array([[per_genre[g]["precision"], per_genre[g]["recall"], per_genre[g]["f1"]] for g in genres])
    fig, ax = plt.subplots(figsize=(7, 6.5))
    sns.heatmap(table, annot=True, fmt=".2f", cmap="RdYlGn", vmin=0, vmax=1, cbar=False, ax=ax,
                xticklabels=["precision", "recall", "F1"],
                yticklabels=[f"{g} (n={per_genre[g]['support']})" for g in genres])
    ax.set_title(f"Test split, track level: accuracy {metrics['track_accuracy']:.1%}, macro-F1 {metrics['macro_f1']:.2f}")
    _save(fig, out)


def roc_curves_png(pred, out: Path) -> None:
    from sklearn.metrics import auc, roc_curve

    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    palette = sns.color_palette("tab10", len(pred.genres))
    for i, genre in enumerate(pred.genres):
        positives = pred.track_true == i
        if positives.all() or not positives.any():
            continue  # no ROC without both classes
        fpr, tpr, _ = roc_curve(positives, pred.track_prob[:, i])
        ax.plot(fpr, tpr, color=palette[i], label=f"{genre} (AUC {auc(fpr, tpr):.2f}, n={int(positives.sum())})")
    ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC one-vs-rest, test split, track level")
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, out)


def training_history_png(history: dict, out: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    left.plot(epochs, history["accuracy"], label="train")
    left.plot(epochs, history["val_accuracy"], label="valid")
    left.set_title("segment accuracy")
    right.plot(epochs, history["loss"], label="train")
    right.plot(epochs, history["val_loss"], label="valid")
    right.set_title("loss")
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.legend()
    _save(fig, out)


def draw_report_card(pred, metrics: dict, history: dict | None, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    confusion_matrix_png(pred, out_dir / "confusion_matrix.png")
    classification_report_png(metrics, out_dir / "classification_report.png")
    roc_curves_png(pred, out_dir / "roc_curves.png")
    if history:
        training_history_png(history, out_dir / "training_history.png")
