"""Explore what separates the genres: per-file summary features, their distributions and correlations.

    python -m training.explore --data-dir ../shared/data/gtzan

Per audio file (every piece on a split list; 2-3 s excerpts as they are): spectral centroid,
bandwidth, contrast and roll-off, tempo, chroma, RMS, zero-crossing rate and MFCC means (cached in
``.cache/explore/features.csv``, one row per file; not part of the repository), and seaborn
pictures into ``docs/explore/``:
``feature_distributions.png`` (box plots per genre), ``mfcc_means.png``, ``feature_correlation.png``
and ``genre_profiles.png`` (per-genre median of each feature, z-scored), and prints the features
ranked by how well they separate the genres (Kruskal-Wallis H over tracks).
"""
from __future__ import annotations

import argparse
import logging
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from genrelens.analysis.audio import decode
from training.dataset import default_split_dir, scan

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
SR = 22050
N_MFCC = 13
SUMMARY = ["centroid_hz", "bandwidth_hz", "contrast_db", "rolloff_hz", "tempo_bpm", "chroma_mean", "chroma_std",
           "rms", "zcr"]


def file_features(path: str) -> dict:
    import librosa

    y = decode(path, SR, 600.0).samples
    S = np.abs(librosa.stft(y, n_fft=2048, hop_length=512))
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=S**2, sr=SR))
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=N_MFCC)
    onset = librosa.onset.onset_strength(S=mel_db, sr=SR)
    chroma = librosa.feature.chroma_stft(S=S**2, sr=SR)
    row = {
        "centroid_hz": float(librosa.feature.spectral_centroid(S=S, sr=SR).mean()),
        "bandwidth_hz": float(librosa.feature.spectral_bandwidth(S=S, sr=SR).mean()),
        "contrast_db": float(librosa.feature.spectral_contrast(S=S, sr=SR).mean()),
        "rolloff_hz": float(librosa.feature.spectral_rolloff(S=S, sr=SR).mean()),
        "tempo_bpm": float(librosa.feature.tempo(onset_envelope=onset, sr=SR)[0]),
        "chroma_mean": float(chroma.mean()),
        "chroma_std": float(chroma.std()),
        "rms": float(librosa.feature.rms(S=S).mean()),
        "zcr": float(librosa.feature.zero_crossing_rate(y).mean()),
        "duration_s": len(y) / SR,
    }
    row.update({f"mfcc{i}": float(v) for i, v in enumerate(mfcc.mean(axis=1))})
    return row


def collect(data_dir: Path, out_csv: Path, workers: int = 2):
    import pandas as pd

    files = scan(data_dir, default_split_dir(data_dir))
    if out_csv.exists():
        table = pd.read_csv(out_csv)
        if len(table) == len(files):
            return table
    log.info("summary features of %d files", len(files))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        rows = list(pool.map(file_features, [str(f.path) for f in files], chunksize=4))
    table = pd.DataFrame([{"file": f.path.name, "genre": f.genre, "track": f.track, "split": f.split,
                           "kind": "excerpt" if r["duration_s"] < 4 else "long", **r} for f, r in zip(files, rows)])
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False)
    return table


def draw(table, out_dir: Path) -> list[tuple[str, float]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns
    from scipy.stats import kruskal

    sns.set_theme(style="whitegrid", font_scale=0.8)
    genres = sorted(table["genre"].unique())
    palette = dict(zip(genres, sns.color_palette("tab10", len(genres))))

    fig, axes = plt.subplots(3, 3, figsize=(15, 11))
    for ax, feature in zip(axes.flat, SUMMARY):
        sns.boxplot(data=table, x="genre", y=feature, hue="genre", order=genres, palette=palette, ax=ax,
                    fliersize=1.5, legend=False)
        ax.set_xlabel("")
        ax.tick_params(axis="x", rotation=45)
    fig.suptitle(f"Summary features per genre ({len(table)} files: whole clips, 15-s pieces and 2-3 s excerpts)")
    fig.tight_layout()
    fig.savefig(out_dir / "feature_distributions.png", dpi=100)
    plt.close(fig)

    mfcc_cols = [f"mfcc{i}" for i in range(1, N_MFCC)]
    long_form = table.melt(id_vars=["genre"], value_vars=mfcc_cols, var_name="coefficient", value_name="mean")
    fig, ax = plt.subplots(figsize=(15, 5.5))
    sns.boxplot(data=long_form, x="coefficient", y="mean", hue="genre", hue_order=genres, palette=palette, ax=ax,
                fliersize=0.8, linewidth=0.6)
    ax.set_title("MFCC 1-12 means per file, per genre (MFCC 0, the loudness, in feature_distributions via RMS)")
    ax.legend(ncol=5, fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "mfcc_means.png", dpi=100)
    plt.close(fig)

    columns = SUMMARY + [f"mfcc{i}" for i in range(N_MFCC)]
    fig, ax = plt.subplots(figsize=(13, 11))
    sns.heatmap(table[columns].corr(method="spearman"), cmap="vlag", center=0, vmin=-1, vmax=1, annot=True,
                fmt=".1f", annot_kws={"fontsize": 6}, ax=ax)
    ax.set_title("Spearman correlation between the summary features (all files)")
    fig.tight_layout()
    fig.savefig(out_dir / "feature_correlation.png", dpi=100)
    plt.close(fig)

    medians = table.groupby("genre")[columns].median()
    z = (medians - table[columns].median()) / table[columns].std()
    fig, ax = plt.subplots(figsize=(14, 5))
    sns.heatmap(z, cmap="vlag", center=0, vmin=-2, vmax=2, annot=True, fmt=".1f", annot_kws={"fontsize": 6}, ax=ax)
    ax.set_title("Genre profile: median of each feature per genre, in standard deviations from the overall median")
    fig.tight_layout()
    fig.savefig(out_dir / "genre_profiles.png", dpi=100)
    plt.close(fig)

    # one value per track (mean over its pieces), so a genre with many pieces per track does not count twice
    per_track = table.groupby(["genre", "track"])[columns].mean().reset_index()
    ranking = []
    for feature in columns:
        groups = [per_track.loc[per_track["genre"] == g, feature].to_numpy() for g in genres]
        ranking.append((feature, float(kruskal(*groups).statistic)))
    return sorted(ranking, key=lambda r: -r[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Feature distributions per genre and their correlations.")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "explore")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "explore")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    table = collect(args.data_dir, args.cache_dir / "features.csv")
    ranking = draw(table, args.out_dir)
    print("features ranked by Kruskal-Wallis H across genres (per track):")
    for feature, h in ranking:
        print(f"  {feature:14s} {h:7.1f}")
    print(table.groupby("genre")[SUMMARY].median().round(3).to_string())


if __name__ == "__main__":
    main()
