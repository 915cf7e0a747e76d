"""The in-process decoder (PyAV) against the ffmpeg command line it replaced: samples, features, time.

    .venv/bin/python bench/decode_parity.py                 # from the repo root; about 1-2 minutes
    .venv/bin/python bench/decode_parity.py --files 10 --repeat 3

1. Parity on real files: ``--files`` clips of each collection (GTZAN and Ishkur's guide, every
   genre or style in turn, from ``--data-dir`` / ``--electronic-dir``), each as it is (22,050 Hz
   mono MP3: the decoder alone) and re-encoded as a user's upload would be (44.1 kHz stereo 192k
   MP3: decoder, downmix and resampler), plus the bench's synthetic stereo songs (30 s and 5 min,
   different left and right), and the 30-s song in seven other formats (AAC, Vorbis, Opus, FLAC,
   AC-3, WMA, 8-kHz WAV). Both decoders run at the served rate; the table gives the sample
   difference, the length difference, the difference of the MFCC CNN's input
   (``pipeline.mfcc_segments``) and of musicnn's 50 tags (``models.MusicnnNetwork`` on
   ``musicnn_features.patches`` of up to ten audible segments spread over the file), and how often the
   top tag differs.
2. Decode time of a 30-s and a 5-min 192k stereo MP3 (``bench/bench_upload.py``'s songs), the
   command line and PyAV interleaved, median of ``--repeat`` runs each.
3. Issue 13, 3.8: a phone recording as .amr and as .3gp (``phone_copies``).

The command line is the one ``genrelens.analysis.audio.decode`` ran until PyAV replaced it, with the
system ffmpeg (or ``FFMPEG_BINARY``).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from harness import ROOT, BenchRun, interleaved, one_of_each, synth_music
from genrelens.analysis import audio, musicnn_features  # the harness put the repository on sys.path
from genrelens.models import DEFAULT_MODEL_DIR  # noqa: E402
from genrelens.analysis.pipeline import FeatureSettings, mfcc_segments  # noqa: E402


MAX_PATCHES = 10  # musicnn patches compared per file (evenly spread over its audible segments)


def cli_decode(path: Path, sample_rate: int, max_seconds: float = 600.0) -> np.ndarray:
    """The old decoder: one ffmpeg process, mono float32 on a pipe (the same command, without the bounds)."""
    command = [audio.ffmpeg_binary(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error",
               "-t", f"{max_seconds:.3f}", "-i", str(path), "-map", "0:a:0", "-vn", "-sn", "-dn",
               "-ac", "1", "-rematrix_maxval", "1.0", "-ar", str(sample_rate), "-f", "f32le", "pipe:1"]
    done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=120, check=True)
    samples = np.frombuffer(done.stdout, dtype="<f4").copy()
    np.nan_to_num(samples, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(samples, -1.0, 1.0, out=samples)


def av_decode(path: Path, sample_rate: int, max_seconds: float = 600.0) -> np.ndarray:
    return audio.decode(str(path), sample_rate, max_seconds).samples


def pick(index: Path, per_group: int, group_column: str) -> list[Path]:
    """``per_group`` files in all, taking the groups (genres, styles) in turn, the first rows of each."""
    rows: dict[str, list[str]] = {}
    with open(index, newline="") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(row[group_column], []).append(row["file"])
    chosen, turn = [], 0
    while len(chosen) < per_group and any(turn < len(files) for files in rows.values()):
        chosen += [files[turn] for files in rows.values() if turn < len(files)]
        turn += 1
    return [index.parent / name for name in chosen[:per_group]]


def user_copy(path: Path, folder: Path) -> Path:
    """The clip as a user's upload: 44.1 kHz stereo 192k MP3 (ffmpeg's soxr-free default resampler)."""
    out = folder / f"{path.parent.name}-{path.stem}-44k-stereo.mp3"
    subprocess.run([audio.ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-y", "-i", str(path), "-ar", "44100",
                    "-ac", "2", "-c:a", "libmp3lame", "-b:a", "192k", str(out)], check=True, timeout=120)
    return out


FORMATS = {  # name -> ffmpeg output arguments
    "m4a": ["-c:a", "aac", "-b:a", "128k"], "ogg": ["-c:a", "libvorbis"], "webm": ["-c:a", "libopus", "-f", "webm"],
    "flac": ["-c:a", "flac"], "ac3": ["-c:a", "ac3"], "wma": ["-c:a", "wmav2"], "wav": ["-ar", "8000"],
}


def other_format(path: Path, name: str, args: list[str], folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    out = folder / f"{path.stem}.{name}"
    subprocess.run([audio.ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-y", "-i", str(path), *args, str(out)],
                   check=True, timeout=120)
    return out


class Compare:
    """The MFCC CNN's input and musicnn's tags of two decodes of the same file."""

    def __init__(self, model_dir: Path):
        from genrelens.models.musicnn import MUSICNN_CARD_FILE, MUSICNN_FILE, MusicnnNetwork
        from genrelens.models.mfcc_cnn import ModelCard

        self.settings = FeatureSettings.from_dict(ModelCard.load(model_dir).features)
        self.level = json.loads((model_dir / MUSICNN_CARD_FILE).read_text()).get("input_level_dbfs")
        self.network = MusicnnNetwork(model_dir / MUSICNN_FILE)

    def tags(self, samples: np.ndarray, starts_s: np.ndarray) -> np.ndarray:
        patches = musicnn_features.patches(samples, self.settings.sample_rate, starts_s, self.level)
        return self.network.run(patches)["tags"]

    def row(self, old: np.ndarray, new: np.ndarray) -> dict:
        n = min(len(old), len(new))
        diff = np.abs(old[:n] - new[:n])
        row = {"length_diff": len(new) - len(old), "max_abs": float(diff.max()), "mean_abs": float(diff.mean()),
               "rms_dB": 20 * np.log10(max(audio.rms(new), 1e-12) / max(audio.rms(old), 1e-12))}
        segments_old, segments_new = mfcc_segments(old, self.settings), mfcc_segments(new, self.settings)
        k = min(len(segments_old.features), len(segments_new.features))
        features = np.abs(segments_old.features[:k] - segments_new.features[:k])
        spread = float(segments_old.features[:k].std()) or 1.0
        row |= {"mfcc_max_abs": float(features.max()), "mfcc_mean_abs": float(features.mean()),
                "mfcc_mean_rel": float(features.mean()) / spread}
        audible = segments_old.start_s[:k][~segments_old.silent[:k]]
        heard = audible[np.unique(np.linspace(0, len(audible) - 1, min(len(audible), MAX_PATCHES)).round().astype(int))]
        tags_old, tags_new = self.tags(old, heard), self.tags(new, heard)
        row |= {"tags_max_abs": float(np.abs(tags_old - tags_new).max()),
                "top_tag_same": bool(np.argmax(tags_old.mean(0)) == np.argmax(tags_new.mean(0)))}
        return row


def summarise(label: str, rows: list[dict]) -> None:
    def stat(key: str, how) -> str:
        return f"{how([r[key] for r in rows]):.3g}"

    lengths = sorted({r["length_diff"] for r in rows})
    print(f"| {label} | {len(rows)} | {stat('max_abs', max)} | {stat('mean_abs', statistics.mean)} | "
          f"{lengths} | {stat('rms_dB', lambda v: max(abs(x) for x in v))} | {stat('mfcc_max_abs', max)} | "
          f"{stat('mfcc_mean_rel', max)} | {stat('tags_max_abs', max)} | "
          f"{sum(r['top_tag_same'] for r in rows)}/{len(rows)} |")


def timing(files: dict[str, Path], sample_rate: int, repeat: int) -> None:
    print(f"\n## Decode time, ms (median of {repeat}, the two decoders interleaved; load average "
          f"{os.getloadavg()[0]:.2f})\n")
    print("| file | ffmpeg CLI (old) | PyAV in-process (new) | new / old |")
    print("|---|---|---|---|")
    for label, path in files.items():
        # one untimed call each first: first-call effects (page cache, imports)
        times = interleaved({"old": lambda: cli_decode(path, sample_rate),  # noqa: B023 -- called at once
                             "new": lambda: av_decode(path, sample_rate)}, repeat)  # noqa: B023
        old, new = times["old"].ms(50), times["new"].ms(50)
        print(f"| {label} | {old:.1f} | {new:.1f} | {new / old:.2f} |")


def phone_copies(folder: Path, sample_rate: int, seed: int) -> None:
    """Issue 13, 3.8: one phone recording as .amr and as .3gp. The same AMR-NB packets in either container,
    and the recording encoded twice (as `ffmpeg -i rec.wav rec.amr` and `rec.3gp` do): decoded length,
    level, time offset against the .amr, and the served model's top genres; then the .3gp's samples
    delayed by that offset, to see how much of the difference the offset alone explains."""
    import av
    import soundfile
    from scipy.signal import butter, correlate, sosfilt

    from genrelens.analysis.pipeline import GenreClassifier

    folder.mkdir(exist_ok=True)
    music = synth_music(25, sr=8000, seed=seed).mean(axis=1)
    band = sosfilt(butter(4, [300, 3400], btype="band", fs=8000, output="sos"), music)
    pcm = (0.5 * band / np.abs(band).max() * 32767).astype(np.int16)

    def encode(path: Path, container: str) -> Path:
        with av.open(str(path), "w", format=container) as out:
            stream = out.add_stream("libopencore_amrnb", rate=8000, layout="mono")
            stream.bit_rate = 12200
            frame = av.AudioFrame.from_ndarray(pcm[np.newaxis, :], format="s16", layout="mono")
            frame.sample_rate = 8000
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                out.mux(packet)
        return path

    def remux(source: Path, target: Path) -> Path:
        with av.open(str(source)) as inp, av.open(str(target), "w", format="3gp") as out:
            stream = out.add_stream_from_template(inp.streams.audio[0])
            for packet in inp.demux(inp.streams.audio[0]):
                if packet.dts is not None:
                    packet.stream = stream
                    out.mux(packet)
        return target

    import imageio_ffmpeg

    source = folder / "rec.wav"
    soundfile.write(source, pcm, 8000, subtype="PCM_16")

    def cli(target: Path) -> Path:  # imageio-ffmpeg's build: Debian's ffmpeg has no AMR encoder
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(source),
                        "-c:a", "libopencore_amrnb", "-b:a", "12.2k", str(target)], check=True, timeout=120)
        return target

    amr = encode(folder / "rec.amr", "amr")
    files = {"rec.wav (the recording, 16-bit PCM)": source, "rec.amr (AMR-NB 12.2k, PyAV)": amr,
             "rec.3gp, the same packets": remux(amr, folder / "rec-same.3gp"),
             "rec.3gp, encoded again (PyAV)": encode(folder / "rec.3gp", "3gp"),
             "rec.amr by `ffmpeg -i rec.wav rec.amr`": cli(folder / "cli.amr"),
             "rec.3gp by `ffmpeg -i rec.wav rec.3gp`": cli(folder / "cli.3gp")}
    reference = audio.decode(str(source), sample_rate, 600).samples
    classifier = GenreClassifier()

    def top(path: Path) -> str:
        genres = classifier.analyze_file(str(path))[0].genres[:3]
        return ", ".join(f"{g['genre']} {g['probability']:.2f}" for g in genres)

    print(f"\n## One phone recording as .amr and .3gp (synthetic song {seed}, 300-3400 Hz, 8 kHz, 25 s)\n")
    print("| file | decoded samples | level dBFS | offset vs the recording (samples at 22.05 kHz) | "
          "top genres (served model) |")
    print("|---|---|---|---|---|")
    window = slice(2 * sample_rate, 7 * sample_rate)

    def offset(samples: np.ndarray, against: np.ndarray) -> int:
        """Samples by which ``samples`` lag ``against`` (cross-correlation over 5 s from 2 s in)."""
        return int(np.argmax(correlate(samples[window], against[window], mode="full", method="fft"))) - (
            5 * sample_rate - 1)

    decoded = {}
    for label, path in files.items():
        samples = decoded[label] = audio.decode(str(path), sample_rate, 600).samples
        lag = offset(samples, reference)
        print(f"| {label} | {len(samples)} | {20 * np.log10(audio.rms(samples)):.2f} | {lag} | {top(path)} |")
    # the ffmpeg-written .3gp moved to where the ffmpeg-written .amr has its samples
    amr_cli = decoded["rec.amr by `ffmpeg -i rec.wav rec.amr`"]
    gp_cli = decoded["rec.3gp by `ffmpeg -i rec.wav rec.3gp`"]
    lag = offset(gp_cli, amr_cli)
    moved = np.concatenate([np.zeros(-lag, np.float32), gp_cli]) if lag < 0 else gp_cli[lag:]
    shifted = folder / "cli-3gp-moved.wav"
    soundfile.write(shifted, moved, sample_rate, subtype="FLOAT")
    print(f"| the ffmpeg .3gp's samples moved {-lag} later, as in the ffmpeg .amr | {len(moved)} | "
          f"{20 * np.log10(audio.rms(moved)):.2f} | | {top(shifted)} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "gtzan")
    parser.add_argument("--electronic-dir", type=Path, default=ROOT.parent / "shared" / "data" / "ishkur")
    parser.add_argument("--files", type=int, default=15, help="clips of each collection")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each decoder per file")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--phone-seeds", type=int, nargs="*", default=[5, 7, 11],
                        help="songs for the .amr/.3gp comparison (issue 13, 3.8)")
    args = parser.parse_args()
    import av

    with BenchRun("bench/decode_parity.py", sys.argv[1:]) as bench:
        tmp = bench.tmp
        print(f"# Decoder parity ({time.strftime('%Y-%m-%d %H:%M:%S')}): ffmpeg CLI "
              f"{subprocess.run([audio.ffmpeg_binary(), '-version'], capture_output=True, text=True).stdout.split()[2]}"
              f" vs PyAV {av.__version__} (libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}, "
              f"libswresample {'.'.join(map(str, av.library_versions['libswresample']))})\n")
        compare = Compare(args.model_dir)
        sr = compare.settings.sample_rate
        songs = one_of_each(tmp / "songs")
        groups = {
            "GTZAN as is (22.05 kHz mono MP3)": pick(args.data_dir / "INDEX.csv", args.files, "genre"),
            "Ishkur as is (22.05 kHz mono MP3)": pick(args.electronic_dir / "INDEX.csv", args.files, "type"),
        }
        copies = tmp / "copies"
        copies.mkdir()
        groups["the same clips as 44.1 kHz stereo 192k MP3"] = [user_copy(p, copies) for p in
                                                                 groups["GTZAN as is (22.05 kHz mono MP3)"] +
                                                                 groups["Ishkur as is (22.05 kHz mono MP3)"]]
        groups["synthetic stereo songs, 30 s and 5 min (192k MP3)"] = [songs["mp3_30"], songs["mp3_300"]]
        groups["the 30-s song as " + ", ".join(FORMATS)] = [other_format(songs["mp3_30"], name, args, tmp / "formats")
                                                           for name, args in FORMATS.items()]
        print("| files | n | max abs sample diff | mean abs sample diff | length diff (samples, new - old) | "
              "max level diff (dB) | max abs MFCC-input diff | max mean MFCC-input diff / its std | "
              "max abs tag diff | same top tag |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for label, paths in groups.items():
            summarise(label, [compare.row(cli_decode(p, sr), av_decode(p, sr)) for p in paths])
        timing({"30-s 192k stereo MP3": songs["mp3_30"], "5-min 192k stereo MP3": songs["mp3_300"]}, sr, args.repeat)
        for seed in args.phone_seeds:
            phone_copies(tmp / f"phone-{seed}", sr, seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
